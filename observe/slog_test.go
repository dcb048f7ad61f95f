package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/observe"
)

func TestErrorTypeAndSeverity(t *testing.T) {
	tests := []struct {
		name string
		err  error
		typ  string
		sev  observe.Severity
	}{
		{"nil", nil, "", observe.SeverityOK},
		{"not found", &storage.OpError{Op: "get", Err: storage.ErrNotFound}, "not_found", observe.SeverityOK},
		{"invalid key", &storage.OpError{Op: "set", Err: driver.Invalidf(storage.ErrInvalidKey, "empty")}, "invalid_key", observe.SeverityRefused},
		{"conflict", fmt.Errorf("x: %w", storage.ErrConflict), "conflict", observe.SeverityRefused},
		{"denied", storage.ErrPermissionDenied, "permission_denied", observe.SeverityRefused},
		{"canceled", fmt.Errorf("q: %w", context.Canceled), "canceled", observe.SeverityRefused},
		{"commit unknown", storage.ErrCommitUnknown, "commit_unknown", observe.SeverityFailed},
		{"driver", errors.New("disk I/O error"), "other", observe.SeverityFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := observe.ErrorType(tc.err); got != tc.typ {
				t.Errorf("ErrorType = %q, want %q", got, tc.typ)
			}
			if got := observe.SeverityOf(tc.err); got != tc.sev {
				t.Errorf("SeverityOf = %v, want %v", got, tc.sev)
			}
		})
	}
}

// records decodes the JSON lines a slog.JSONHandler wrote.
func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad record %q: %v", line, err)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func TestSlog(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	inner := teststore.Open(t, testdb.SQLiteMemory(t))
	ctx := t.Context()

	s := observe.Wrap(inner, observe.Slog(l))
	if err := s.Set(ctx, "k", 1, storage.InNamespace("ns")); err != nil {
		t.Fatal(err)
	}
	_, _ = s.Get(ctx, "missing")
	_ = s.Set(ctx, "", 1)
	_, _ = s.GetMany(ctx, []string{"k", "j"}, storage.InNamespace("ns"))
	got := records(t, &buf)
	want := []map[string]any{
		{"level": "DEBUG", "msg": "storage set", "op": "set", "namespace": "ns", "key": "k", "rows": 1.0},
		{"level": "DEBUG", "msg": "storage get", "op": "get", "namespace": "default", "key": "missing", "rows": 0.0, "error_type": "not_found"},
		{"level": "WARN", "msg": "storage set", "op": "set", "namespace": "default", "rows": 0.0, "error_type": "invalid_key"},
		{"level": "DEBUG", "msg": "storage getMany", "op": "getMany", "namespace": "ns", "keys": 2.0, "rows": 1.0},
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		for k, v := range w {
			if got[i][k] != v {
				t.Errorf("record %d: %s = %v, want %v (record %v)", i, k, got[i][k], v, got[i])
			}
		}
		if _, ok := got[i]["duration"]; !ok {
			t.Errorf("record %d has no duration", i)
		}
		_, hasErr := got[i]["error"]
		if _, wantErr := w["error_type"]; hasErr != wantErr {
			t.Errorf("record %d: error attribute present %v, want %v", i, hasErr, wantErr)
		}
	}

	// SlogOmitKey and SlogLevels.
	s = observe.Wrap(inner, observe.Slog(l, observe.SlogOmitKey(), observe.SlogLevels(slog.LevelInfo, slog.LevelError, slog.LevelError)))
	_, _ = s.Get(ctx, "secret")
	_ = s.Set(ctx, "", 1)
	got = records(t, &buf)
	if len(got) != 2 || got[0]["level"] != "INFO" || got[1]["level"] != "ERROR" {
		t.Fatalf("records %v: want an INFO and an ERROR", got)
	}
	if _, ok := got[0]["key"]; ok {
		t.Errorf("SlogOmitKey: record has a key: %v", got[0])
	}

	// Transactions carry their ID.
	s = observe.Wrap(inner, observe.Slog(l))
	tx, err := s.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(ctx)
	for _, r := range records(t, &buf) {
		if r["tx"] != tx.ID() {
			t.Errorf("record %v: tx = %v, want %s", r, r["tx"], tx.ID())
		}
	}
}

// TestSlogFilteredCostsNothing: neither the wrapper nor a record below the
// logger's level allocates: a Get through them allocates exactly what the
// bare store's Get does.
func TestSlogFilteredCostsNothing(t *testing.T) {
	ctx := context.Background()
	in := storage.InNamespace("ns")
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	allocs := func(s storage.Store) float64 {
		return testing.AllocsPerRun(100, func() {
			if _, err := s.Get(ctx, "k", in); err != nil {
				t.Fatal(err)
			}
		})
	}
	raw := allocs(getOnly{})
	for _, tc := range []struct {
		name string
		hook observe.Hook
	}{
		{"noop", observe.EndFunc(func(context.Context, observe.Event) {})},
		{"slog filtered", observe.Slog(quiet)},
	} {
		if got := allocs(observe.Wrap(getOnly{}, tc.hook)); got != raw {
			t.Errorf("%s: %v allocations per Get, want %v as without the wrapper", tc.name, got, raw)
		}
	}
}

// TestErrorTypeEverySentinel: every documented sentinel (storage.Sentinels)
// has a name of its own, never "other": an operator's metrics and logs
// must not count a refused call (CreateIndex of a declared field,
// ErrIndexExists) as a store failure, nor two sentinels under one label.
func TestErrorTypeEverySentinel(t *testing.T) {
	seen := map[string]error{}
	for _, s := range storage.Sentinels() {
		err := &storage.OpError{Op: "createIndex", Namespace: "ns", Err: fmt.Errorf("x: %w", s)}
		typ := observe.ErrorType(err)
		if typ == "other" || typ == "" {
			t.Errorf("ErrorType(%v) = %q", s, typ)
			continue
		}
		if prev, ok := seen[typ]; ok {
			t.Errorf("ErrorType(%v) = %q, the name of %v too", s, typ, prev)
		}
		seen[typ] = s
	}
	for _, tc := range []struct {
		err error
		typ string
		sev observe.Severity
	}{
		{storage.ErrIndexExists, "index_exists", observe.SeverityRefused},
		{storage.ErrIndexNotFound, "index_not_found", observe.SeverityRefused},
	} {
		if got := observe.ErrorType(tc.err); got != tc.typ {
			t.Errorf("ErrorType(%v) = %q, want %q", tc.err, got, tc.typ)
		}
		if got := observe.SeverityOf(tc.err); got != tc.sev {
			t.Errorf("SeverityOf(%v) = %v, want %v", tc.err, got, tc.sev)
		}
	}
}
