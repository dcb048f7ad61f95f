package sqlstore

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// lockError is shaped like pgconn's connLockError: safe to retry by its
// own account, and "conn closed" underneath.
type lockError struct{ status error }

func (e lockError) Error() string     { return e.status.Error() }
func (e lockError) SafeToRetry() bool { return true }
func (e lockError) Unwrap() error     { return e.status }

// TestPgCommitError: a COMMIT that failed with "conn closed" may have
// committed (pgx returns it when the connection closes while it reads
// COMMIT's answer; seen for real in integration/failover when a primary
// shut down during a synchronous-replication wait), so it is
// ErrCommitUnknown; an error before anything was sent is not.
func TestPgCommitError(t *testing.T) {
	for _, c := range []struct {
		name    string
		err     error
		unknown bool
	}{
		{"conn closed", lockError{pgconn.ErrConnClosed}, true},
		{"conn closed, wrapped", fmt.Errorf("commit: %w", lockError{pgconn.ErrConnClosed}), true},
		{"conn busy (never sent)", lockError{errors.New("conn busy")}, false},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"network", &net.OpError{Op: "read", Err: errors.New("reset")}, true},
	} {
		got := errors.Is(pgCommitError(c.err), storage.ErrCommitUnknown)
		if got != c.unknown {
			t.Errorf("%s: ErrCommitUnknown = %v, want %v", c.name, got, c.unknown)
		}
	}
}

// TestPgServerErrorsTyped: the errors PostgreSQL answers when its disk or
// its system fails, or it crashes, are the documented sentinels without
// the server's text. A PANIC (the WAL's disk full: "could not write to
// file pg_wal/xlogtemp…", 53100; most others XX000) crashes the server,
// which restarts every backend: the statement in flight may have
// committed (its commit record written before the PANIC), so a write or
// COMMIT is ErrCommitUnknown and a read ErrUnavailable. It was
// ErrStorageFull (53100), claiming a failure the server may not have had,
// or the raw text as an internal error (XX000); an I/O error (58030) was
// the raw text too.
func TestPgServerErrorsTyped(t *testing.T) {
	s := builderStore(t, dialect.Postgres, 0)
	panicked := func(code string) error {
		return &pgconn.PgError{Severity: "PANIC", SeverityUnlocalized: "PANIC", Code: code, Message: "could not write to file \"pg_wal/xlogtemp.1\": No space left on device"}
	}
	errorOf := func(code string) error {
		return &pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: "could not read block 3 in file \"base/5/16405\": Input/output error"}
	}
	for _, c := range []struct {
		name, op string
		err      error
		want     error
	}{
		{"full disk", "set", errorOf("53100"), storage.ErrStorageFull},
		{"I/O error, write", "set", errorOf("58030"), storage.ErrUnavailable},
		{"I/O error, read", "get", errorOf("58030"), storage.ErrUnavailable},
		{"out of memory", "set", errorOf("53200"), storage.ErrUnavailable},
		{"too many connections", "get", errorOf("53300"), storage.ErrUnavailable},
		{"admin shutdown", "get", errorOf("57P01"), storage.ErrUnavailable},
		{"crash shutdown", "get", errorOf("57P02"), storage.ErrUnavailable},
		{"cannot connect now", "set", errorOf("57P03"), storage.ErrUnavailable},
		{"PANIC on a full WAL disk, write", "set", panicked("53100"), storage.ErrCommitUnknown},
		{"PANIC on a full WAL disk, read", "get", panicked("53100"), storage.ErrUnavailable},
		{"PANIC, internal, write", "setMany", panicked("XX000"), storage.ErrCommitUnknown},
		{"PANIC, internal, read", "list", panicked("XX000"), storage.ErrUnavailable},
	} {
		err := s.fail(c.op, "ns", "k", fmt.Errorf("query: %w", c.err))
		var wrapped []error
		for _, sentinel := range storage.Sentinels() {
			if errors.Is(err, sentinel) {
				wrapped = append(wrapped, sentinel)
			}
		}
		if len(wrapped) != 1 || !errors.Is(err, c.want) {
			t.Errorf("%s: %v wraps %v, want %v", c.name, err, wrapped, c.want)
		}
		for _, leak := range []string{"No space", "Input/output", "PANIC", "SQLSTATE", "could not"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("%s: %q carries the server's text %q", c.name, err, leak)
			}
		}
	}
	// A COMMIT answered with a PANIC may have committed.
	if err := pgCommitError(panicked("53100")); !errors.Is(err, storage.ErrCommitUnknown) {
		t.Errorf("COMMIT answered with a PANIC: %v, want ErrCommitUnknown", err)
	}
}
