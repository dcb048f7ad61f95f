package routes_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/routes"
)

// sentinels maps every contract sentinel (errors.go) to its code.
var sentinels = map[error]string{
	storage.ErrNotFound:          "not_found",
	storage.ErrAlreadyExists:     "already_exists",
	storage.ErrNamespaceNotFound: "namespace_not_found",
	storage.ErrNamespaceExists:   "namespace_exists",
	storage.ErrNamespaceNotEmpty: "namespace_not_empty",
	storage.ErrIndexExists:       "index_exists",
	storage.ErrIndexNotFound:     "index_not_found",
	storage.ErrInvalidKey:        "invalid_key",
	storage.ErrInvalidNamespace:  "invalid_namespace",
	storage.ErrInvalidValue:      "invalid_value",
	storage.ErrValueTooLarge:     "value_too_large",
	storage.ErrInvalidOption:     "invalid_option",
	storage.ErrConflict:          "conflict",
	storage.ErrCapacityExceeded:  "capacity_exceeded",
	storage.ErrInvalidFilter:     "invalid_filter",
	storage.ErrUnsupported:       "unsupported",
	storage.ErrAborted:           "aborted",
	storage.ErrTxDone:            "tx_done",
	storage.ErrTxNotFound:        "tx_not_found",
	storage.ErrTooManyTx:         "too_many_tx",
	storage.ErrTxConflict:        "tx_conflict",
	storage.ErrCommitUnknown:     "commit_unknown",
	storage.ErrReadOnly:          "read_only",
	storage.ErrUnauthenticated:   "unauthenticated",
	storage.ErrPermissionDenied:  "permission_denied",
	storage.ErrClosed:            "closed",
	storage.ErrUnavailable:       "unavailable",
	storage.ErrStorageFull:       "storage_full",
	storage.ErrCompacted:         "compacted",
	storage.ErrWatchLagged:       "watch_lagged",
	storage.ErrCorrupt:           "corrupt",
	context.Canceled:             "canceled",
	context.DeadlineExceeded:     "deadline_exceeded",
	routes.ErrInvalidRequest:     "invalid_request",
	routes.ErrUnknownRoute:       "unknown_route",
	routes.ErrTooLarge:           "too_large",
	routes.ErrTooManyStreams:     "too_many_streams",
	routes.ErrInternal:           "internal",
}

func TestCodeOfEverySentinel(t *testing.T) {
	if len(routes.Codes()) != len(sentinels) {
		t.Errorf("Codes() has %d codes, the test knows %d", len(routes.Codes()), len(sentinels))
	}
	for err, code := range sentinels {
		if got := routes.CodeOf(err); got != code {
			t.Errorf("CodeOf(%v) = %q, want %q", err, got, code)
		}
		wrapped := &storage.OpError{Op: "get", Namespace: "n", Key: "k", Err: fmt.Errorf("context: %w", err)}
		if got := routes.CodeOf(wrapped); got != code {
			t.Errorf("CodeOf(wrapped %v) = %q, want %q", err, got, code)
		}
	}
	if got := routes.CodeOf(nil); got != "" {
		t.Errorf("CodeOf(nil) = %q", got)
	}
	if got := routes.CodeOf(errors.New("disk on fire")); got != routes.CodeInternal {
		t.Errorf("CodeOf(unknown) = %q", got)
	}
	// A contract sentinel says more than the context error beside it.
	both := fmt.Errorf("%w: %w", storage.ErrTxConflict, context.Canceled)
	if got := routes.CodeOf(both); got != routes.CodeTxConflict {
		t.Errorf("CodeOf(tx conflict + canceled) = %q", got)
	}
}

func TestErrorOfRoundTrip(t *testing.T) {
	for _, code := range routes.Codes() {
		for _, msg := range []string{"", "storage: something", "no prefix"} {
			err := routes.ErrorOf(code, msg)
			if got := routes.CodeOf(err); got != code {
				t.Errorf("CodeOf(ErrorOf(%q, %q)) = %q", code, msg, got)
			}
			if !strings.HasPrefix(err.Error(), "storage: ") {
				t.Errorf("ErrorOf(%q, %q).Error() = %q", code, msg, err)
			}
		}
	}
	for sentinel, code := range sentinels {
		if err := routes.ErrorOf(code, ""); !errors.Is(err, sentinel) {
			t.Errorf("ErrorOf(%q) does not satisfy errors.Is(%v)", code, sentinel)
		}
	}
	if !errors.Is(routes.ErrorOf(routes.CodeTooLarge, ""), storage.ErrValueTooLarge) {
		t.Error("too_large does not satisfy errors.Is(storage.ErrValueTooLarge)")
	}
	if !errors.Is(routes.ErrorOf(routes.CodeTooManyStreams, ""), storage.ErrUnavailable) {
		t.Error("too_many_streams does not satisfy errors.Is(storage.ErrUnavailable)")
	}
	unknown := routes.ErrorOf("no_such_code", "storage: x")
	if !errors.Is(unknown, routes.ErrInternal) || routes.CodeOf(unknown) != routes.CodeInternal {
		t.Errorf("unknown code: %v", unknown)
	}
}

// TestErrorFromBody checks that an OpError crosses the wire whole: its
// message, operation, namespace, key and sentinel.
func TestErrorFromBody(t *testing.T) {
	orig := &storage.OpError{Op: "set", Namespace: "users", Key: "u:1",
		Err: driver.Invalidf(storage.ErrInvalidValue, "duplicate key %q", "a")}
	b := &routes.ErrorBody{Code: routes.CodeOf(orig), Message: orig.Error(), Op: orig.Op, Namespace: orig.Namespace, Key: orig.Key}
	got := routes.ErrorFromBody(b)
	var oe *storage.OpError
	if !errors.As(got, &oe) || oe.Op != "set" || oe.Namespace != "users" || oe.Key != "u:1" {
		t.Fatalf("ErrorFromBody = %#v", got)
	}
	if got.Error() != orig.Error() {
		t.Errorf("message %q, want %q", got, orig)
	}
	if !errors.Is(got, storage.ErrInvalidValue) || errors.Is(got, storage.ErrInvalidKey) {
		t.Errorf("sentinel lost: %v", got)
	}
	if routes.ErrorFromBody(nil) != nil {
		t.Error("ErrorFromBody(nil) != nil")
	}
	plain := routes.ErrorFromBody(&routes.ErrorBody{Code: "closed", Message: "storage: store is closed"})
	if !errors.Is(plain, storage.ErrClosed) || plain.Error() != "storage: store is closed" {
		t.Errorf("plain = %v", plain)
	}
}

func TestHTTPStatus(t *testing.T) {
	want := map[string]int{
		"":                    http.StatusOK,
		"not_found":           404,
		"namespace_not_found": 404,
		"tx_not_found":        404,
		"unknown_route":       404,
		"already_exists":      409,
		"namespace_exists":    409,
		"namespace_not_empty": 409,
		"index_exists":        409,
		"index_not_found":     404,
		"conflict":            409,
		"aborted":             409,
		"tx_done":             409,
		"tx_conflict":         409,
		"read_only":           409,
		"invalid_key":         400,
		"invalid_namespace":   400,
		"invalid_value":       400,
		"invalid_option":      400,
		"invalid_filter":      400,
		"invalid_request":     400,
		"value_too_large":     413,
		"too_large":           413,
		"unauthenticated":     401,
		"permission_denied":   403,
		"too_many_tx":         429,
		"too_many_streams":    429,
		"capacity_exceeded":   507,
		"unsupported":         501,
		"commit_unknown":      502,
		"closed":              503,
		"unavailable":         503,
		"storage_full":        507,
		"compacted":           410,
		"watch_lagged":        409,
		"corrupt":             500,
		"canceled":            499,
		"deadline_exceeded":   504,
		"internal":            500,
		"what":                500,
	}
	for code, status := range want {
		if got := routes.HTTPStatus(code); got != status {
			t.Errorf("HTTPStatus(%q) = %d, want %d", code, got, status)
		}
	}
	for _, code := range routes.Codes() {
		if _, ok := want[code]; !ok {
			t.Errorf("code %q has no expected status in this test", code)
		}
	}
}
