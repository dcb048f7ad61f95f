package sqlstore

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mycelia-kernel/storage"
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
