package routes

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// The error codes of the wire format. Each storage sentinel has one code;
// the last five are the transport's own. They are stable: a code is never
// renamed or given another meaning.
const (
	CodeNotFound          = "not_found"
	CodeAlreadyExists     = "already_exists"
	CodeNamespaceNotFound = "namespace_not_found"
	CodeNamespaceExists   = "namespace_exists"
	CodeNamespaceNotEmpty = "namespace_not_empty"
	CodeIndexExists       = "index_exists"
	CodeIndexNotFound     = "index_not_found"
	CodeInvalidKey        = "invalid_key"
	CodeInvalidNamespace  = "invalid_namespace"
	CodeInvalidValue      = "invalid_value"
	CodeValueTooLarge     = "value_too_large"
	CodeInvalidOption     = "invalid_option"
	CodeConflict          = "conflict"
	CodeCapacityExceeded  = "capacity_exceeded"
	CodeInvalidFilter     = "invalid_filter"
	CodeUnsupported       = "unsupported"
	CodeAborted           = "aborted"
	CodeTxDone            = "tx_done"
	CodeTxNotFound        = "tx_not_found"
	CodeTooManyTx         = "too_many_tx"
	CodeTxConflict        = "tx_conflict"
	CodeCommitUnknown     = "commit_unknown"
	CodeReadOnly          = "read_only"
	CodeUnauthenticated   = "unauthenticated"
	CodePermissionDenied  = "permission_denied"
	CodeClosed            = "closed"
	CodeCanceled          = "canceled"
	CodeDeadlineExceeded  = "deadline_exceeded"
	CodeUnavailable       = "unavailable"
	CodeStorageFull       = "storage_full"
	CodeCompacted         = "compacted"
	CodeWatchLagged       = "watch_lagged"
	CodeCorrupt           = "corrupt"

	CodeInvalidRequest = "invalid_request"
	CodeUnknownRoute   = "unknown_route"
	CodeTooLarge       = "too_large"
	CodeTooManyStreams = "too_many_streams"
	CodeInternal       = "internal"
)

// The errors of the transport-level codes. The storage sentinels stand for
// the other codes.
var (
	// ErrInvalidRequest is a request body that is not what the route
	// takes: malformed JSON, not UTF-8, trailing data, an unknown member,
	// a member of the wrong type, a missing required member.
	ErrInvalidRequest = errors.New("storage: invalid request")
	// ErrUnknownRoute is a route no handler is registered for.
	ErrUnknownRoute = errors.New("storage: unknown route")
	// ErrTooLarge is a request larger than the transport accepts. It also
	// satisfies errors.Is(err, storage.ErrValueTooLarge).
	ErrTooLarge error = tooLargeError{}
	// ErrTooManyStreams is a stream (storage://watch) refused because its
	// principal already holds as many streams open as the server allows
	// (httpapi.Config.MaxStreamsPerPrincipal). It also satisfies
	// errors.Is(err, storage.ErrUnavailable), but retrying it at once
	// does not help: one of the principal's streams must end first.
	ErrTooManyStreams error = tooManyStreamsError{}
	// ErrInternal is a failure that maps to no other code.
	ErrInternal = errors.New("storage: internal error")
)

type tooLargeError struct{}

func (tooLargeError) Error() string { return "storage: request too large" }
func (tooLargeError) Unwrap() error { return storage.ErrValueTooLarge }

type tooManyStreamsError struct{}

func (tooManyStreamsError) Error() string {
	return "storage: too many streams open for this principal"
}
func (tooManyStreamsError) Unwrap() error { return storage.ErrUnavailable }

// codeTable lists every code with its error, in the order CodeOf tests
// them: ErrTooLarge before storage.ErrValueTooLarge, ErrTooManyStreams
// before storage.ErrUnavailable, which they wrap.
var codeTable = []struct {
	code   string
	err    error
	status int
}{
	{CodeTooLarge, ErrTooLarge, http.StatusRequestEntityTooLarge},
	{CodeTooManyStreams, ErrTooManyStreams, http.StatusTooManyRequests},
	{CodeInvalidRequest, ErrInvalidRequest, http.StatusBadRequest},
	{CodeUnknownRoute, ErrUnknownRoute, http.StatusNotFound},
	{CodeInternal, ErrInternal, http.StatusInternalServerError},
	{CodeNotFound, storage.ErrNotFound, http.StatusNotFound},
	{CodeAlreadyExists, storage.ErrAlreadyExists, http.StatusConflict},
	{CodeNamespaceNotFound, storage.ErrNamespaceNotFound, http.StatusNotFound},
	{CodeNamespaceExists, storage.ErrNamespaceExists, http.StatusConflict},
	{CodeNamespaceNotEmpty, storage.ErrNamespaceNotEmpty, http.StatusConflict},
	{CodeIndexExists, storage.ErrIndexExists, http.StatusConflict},
	{CodeIndexNotFound, storage.ErrIndexNotFound, http.StatusNotFound},
	{CodeInvalidKey, storage.ErrInvalidKey, http.StatusBadRequest},
	{CodeInvalidNamespace, storage.ErrInvalidNamespace, http.StatusBadRequest},
	{CodeInvalidValue, storage.ErrInvalidValue, http.StatusBadRequest},
	{CodeValueTooLarge, storage.ErrValueTooLarge, http.StatusRequestEntityTooLarge},
	{CodeInvalidOption, storage.ErrInvalidOption, http.StatusBadRequest},
	{CodeConflict, storage.ErrConflict, http.StatusConflict},
	{CodeCapacityExceeded, storage.ErrCapacityExceeded, http.StatusInsufficientStorage},
	{CodeInvalidFilter, storage.ErrInvalidFilter, http.StatusBadRequest},
	{CodeUnsupported, storage.ErrUnsupported, http.StatusNotImplemented},
	{CodeAborted, storage.ErrAborted, http.StatusConflict},
	{CodeTxDone, storage.ErrTxDone, http.StatusConflict},
	{CodeTxNotFound, storage.ErrTxNotFound, http.StatusNotFound},
	{CodeTooManyTx, storage.ErrTooManyTx, http.StatusTooManyRequests},
	{CodeTxConflict, storage.ErrTxConflict, http.StatusConflict},
	{CodeCommitUnknown, storage.ErrCommitUnknown, http.StatusBadGateway},
	{CodeReadOnly, storage.ErrReadOnly, http.StatusConflict},
	{CodeUnauthenticated, storage.ErrUnauthenticated, http.StatusUnauthorized},
	{CodePermissionDenied, storage.ErrPermissionDenied, http.StatusForbidden},
	{CodeClosed, storage.ErrClosed, http.StatusServiceUnavailable},
	{CodeUnavailable, storage.ErrUnavailable, http.StatusServiceUnavailable},
	{CodeStorageFull, storage.ErrStorageFull, http.StatusInsufficientStorage},
	{CodeCompacted, storage.ErrCompacted, http.StatusGone},
	{CodeWatchLagged, storage.ErrWatchLagged, http.StatusConflict},
	{CodeCorrupt, storage.ErrCorrupt, http.StatusInternalServerError},
	{CodeCanceled, context.Canceled, StatusClientClosedRequest},
	{CodeDeadlineExceeded, context.DeadlineExceeded, http.StatusGatewayTimeout},
}

// StatusClientClosedRequest is the HTTP status of CodeCanceled (the
// de-facto 499 of nginx: the caller gave up).
const StatusClientClosedRequest = 499

// Codes returns every error code, in a stable order.
func Codes() []string {
	out := make([]string, len(codeTable))
	for i, c := range codeTable {
		out[i] = c.code
	}
	return out
}

// CodeOf returns the code of err: "" for nil, the code of the contract
// sentinel err wraps, else canceled or deadline_exceeded for a context's
// error, else internal. Storage sentinels are tested before the context
// errors, because a contract error says more.
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && known(e.Code) {
		return e.Code
	}
	for _, c := range codeTable {
		if c.code == CodeCanceled || c.code == CodeDeadlineExceeded {
			continue
		}
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	}
	return CodeInternal
}

func known(code string) bool {
	for _, c := range codeTable {
		if c.code == code {
			return true
		}
	}
	return false
}

// sentinelOf returns the error of code; ErrInternal for an unknown code.
func sentinelOf(code string) error {
	for _, c := range codeTable {
		if c.code == code {
			return c.err
		}
	}
	return ErrInternal
}

// Error is an error decoded from an envelope: its Code, and the Message the
// server wrote. It unwraps to the code's sentinel (a storage sentinel, a
// context error, or one of this package's ErrInvalidRequest, ErrUnknownRoute,
// ErrTooLarge, ErrTooManyStreams, ErrInternal), so errors.Is works as on the
// server.
type Error struct {
	Code    string
	Message string
	err     error
}

// Error returns the message, which always starts with "storage: ".
func (e *Error) Error() string {
	if e.Message == "" {
		if errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded) {
			return "storage: " + e.err.Error()
		}
		return e.err.Error()
	}
	if !strings.HasPrefix(e.Message, "storage: ") {
		return "storage: " + e.Message
	}
	return e.Message
}

// Unwrap returns the sentinel of the code.
func (e *Error) Unwrap() error { return e.err }

// ErrorOf maps a code back to an error that satisfies errors.Is for the
// code's sentinel; message is its text (the sentinel's when empty). An
// unknown code unwraps to ErrInternal, but keeps its Code. CodeOf(ErrorOf(c,
// m)) == c for every known code.
func ErrorOf(code, message string) error {
	return &Error{Code: code, Message: message, err: sentinelOf(code)}
}

// ErrorFromBody is ErrorOf for a decoded envelope error: when the body names
// an operation it returns a *storage.OpError with the body's Op, Namespace
// and Key that wraps ErrorOf, with the same message as on the server.
func ErrorFromBody(b *ErrorBody) error {
	if b == nil {
		return nil
	}
	if b.Op == "" {
		return errorOfBody(b, b.Message)
	}
	oe := &storage.OpError{Op: b.Op, Namespace: b.Namespace, Key: b.Key}
	prefix := (&storage.OpError{Op: b.Op, Namespace: b.Namespace, Key: b.Key, Err: errors.New("")}).Error()
	msg := b.Message
	if rest, ok := strings.CutPrefix(msg, prefix); ok {
		msg = rest
	}
	oe.Err = errorOfBody(b, msg)
	return oe
}

// errorOfBody is ErrorOf for b's code with message msg; the errors that
// carry a revision (compacted, watch_lagged, invalid_option of a future
// FromRevision) unwrap to their typed error (*storage.CompactedError,
// *storage.LaggedError, *storage.FutureRevisionError) when b has it, so
// errors.As finds it on the client as on the server.
func errorOfBody(b *ErrorBody, msg string) error {
	e := &Error{Code: b.Code, Message: msg, err: sentinelOf(b.Code)}
	if b.Revision != nil {
		switch b.Code {
		case CodeCompacted:
			e.err = &storage.CompactedError{Requested: b.Requested, Oldest: *b.Revision}
		case CodeWatchLagged:
			e.err = &storage.LaggedError{Last: *b.Revision}
		case CodeInvalidOption:
			e.err = &storage.FutureRevisionError{Requested: b.Requested, Current: *b.Revision}
		}
	}
	return e
}

// HTTPStatus returns the HTTP status of a code: 200 for "" (success), the
// table in the package documentation otherwise, 500 for an unknown code.
func HTTPStatus(code string) int {
	if code == "" {
		return http.StatusOK
	}
	for _, c := range codeTable {
		if c.code == code {
			return c.status
		}
	}
	return http.StatusInternalServerError
}

// MaxMessageBytes bounds the message of an error envelope: a longer one
// is cut there (on a rune boundary) and ends with "…". The key and
// namespace members name an invalid key or namespace longer than
// storage.MaxKeyLen by its first 64 bytes and "…", as the message does.
// So an error answers kilobytes, whatever the caller sent.
const MaxMessageBytes = 8 << 10

// bodyOf returns the envelope error of err.
func bodyOf(err error) *ErrorBody {
	b := &ErrorBody{Code: CodeOf(err), Message: jsonx.ClipAt(err.Error(), MaxMessageBytes)}
	var oe *storage.OpError
	if errors.As(err, &oe) {
		b.Op, b.Namespace, b.Key = oe.Op, jsonx.ClipLong(oe.Namespace), jsonx.ClipLong(oe.Key)
	}
	var ce *storage.CompactedError
	var le *storage.LaggedError
	var fe *storage.FutureRevisionError
	switch {
	case b.Code == CodeCompacted && errors.As(err, &ce):
		b.Revision, b.Requested = &ce.Oldest, ce.Requested
	case b.Code == CodeWatchLagged && errors.As(err, &le):
		b.Revision = &le.Last
	case b.Code == CodeInvalidOption && errors.As(err, &fe):
		b.Revision, b.Requested = &fe.Current, fe.Requested
	}
	return b
}
