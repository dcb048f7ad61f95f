package schema

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"io/fs"
	"strings"
	"syscall"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// Error is the error of Up and of the Migrator's methods (a
// *MigrationError aside): it wraps exactly one storage sentinel (see the
// package documentation, "Errors") and the cause, which errors.As still
// finds (a *pgconn.PgError, a *sqlite.Error, goose's errors); its message
// carries no driver text.
type Error struct {
	Sentinel error  // the storage sentinel (driver.ErrUnavailable, ...)
	Reason   string // what failed, for a person
	Err      error  // the cause
}

func (e *Error) Error() string { return e.Sentinel.Error() + ": " + e.Reason }

func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Sentinel}
	}
	return []error{e.Sentinel, e.Err}
}

// sentinels are the storage sentinels an error of this package may
// already wrap.
var sentinels = []error{
	driver.ErrUnavailable, driver.ErrCorrupt, driver.ErrUnsupported, driver.ErrStorageFull,
	driver.ErrInvalidOption, driver.ErrValueTooLarge,
}

// wrapsSentinel reports whether err wraps one of sentinels.
func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// classify returns err, an error of a migration run on d, wrapping the
// storage sentinel it means: an error that wraps a sentinel already
// stays as it is; the caller's context's error is a *contextError, whose
// message is the context's alone; a database that cannot
// be reached, that refused the statement by its configuration or its
// administrator (a missing privilege, a statement timeout), a lock held
// by another migrator past the timeout, a file that cannot be opened is
// ErrUnavailable; a full disk ErrStorageFull; a corrupt database, a
// statement of a migration the database refused (another application's
// table by one of the engine's names, a schema changed outside the
// engine) ErrCorrupt; versions goose does not know among the applied ones
// (another program's) ErrUnsupported.
func classify(d Dialect, err error) error {
	var own *Error
	if errors.As(err, &own) {
		return own // this package's (a lock's), without goose's words around it
	}
	if err == nil || wrapsSentinel(err) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &contextError{err}
	}
	c := dialect.ClassOther
	if dd, derr := dialect.ForName(dialect.Name(d)); derr == nil {
		c = dd.Classify(err)
	}
	var pe *goose.PartialError
	var errno syscall.Errno
	var pathErr *fs.PathError
	switch {
	case c == dialect.ClassConnection || c == dialect.ClassBusy || c == dialect.ClassRefused:
		return &Error{driver.ErrUnavailable, "the database cannot be reached, is locked, or refused the migration by its configuration or its administrator (a missing privilege, a timeout)", err}
	case c == dialect.ClassFull:
		return &Error{driver.ErrStorageFull, "no space left for the database", err}
	case errors.As(err, &pe) && pe.Failed != nil && pe.Failed.Source != nil || c == dialect.ClassCorrupt:
		return &Error{driver.ErrCorrupt, "the database refused a migration: it holds objects the engine's schema conflicts with (another application's table by one of the engine's names, or a schema changed outside the engine), or it is corrupt", err}
	case errors.As(err, &errno) || errors.As(err, &pathErr) || errors.Is(err, sql.ErrConnDone):
		return &Error{driver.ErrUnavailable, "a file of the database or its migration lock cannot be opened, read or written", err}
	case c == dialect.ClassOther && isGooseVersions(err):
		return &Error{driver.ErrUnsupported, "the database's version table holds versions this build does not know (another program's, or a newer build's)", err}
	}
	return &Error{driver.ErrCorrupt, "the database is not in a state the migrations can run on", err}
}

// isGooseVersions reports whether err is goose refusing the applied
// versions: a version it does not know, or migrations missing below the
// latest applied one ("detected N missing (out-of-order) migrations"),
// for which goose has no error value.
func isGooseVersions(err error) bool {
	return errors.Is(err, goose.ErrVersionNotFound) || errors.Is(err, goose.ErrNotApplied) ||
		errors.Is(err, goose.ErrAlreadyApplied) || strings.Contains(err.Error(), "missing (out-of-order)")
}

// classifyIn is classify for a run whose context is ctx: a context error
// the driver wraps while ctx is alive (its own connect_timeout, a deadline
// of its own) is not the caller's, and is ErrUnavailable: the database did
// not answer in time.
func classifyIn(ctx context.Context, d Dialect, err error) error {
	c := classify(d, err)
	var ce *contextError
	if errors.As(c, &ce) && ctx.Err() == nil {
		return &Error{driver.ErrUnavailable, "the database did not answer in time (a connection that could not be made, a timeout of the driver's)", err}
	}
	return c
}

// contextError is the error of a run whose context ended: its message is
// the context's error alone, not goose's and the driver's words around it
// (a partial migration, a transaction already rolled back, a connection
// already closed); errors.Is finds the context's error and errors.As the
// driver's, as before.
type contextError struct{ err error }

func (e *contextError) Error() string {
	if errors.Is(e.err, context.Canceled) {
		return context.Canceled.Error()
	}
	return context.DeadlineExceeded.Error()
}

func (e *contextError) Unwrap() error { return e.err }

// sentinelLocker is goose's PostgreSQL session locker whose "failed to
// acquire lock", once its retries are spent, is ErrUnavailable. A lock or
// unlock that fails closes the connection instead of giving it back to
// the pool (goose's cleanup would): the server may have granted the lock
// whose answer the caller did not read (its context ended as it came
// back), or kept the one it failed to release, and a pooled connection
// holding the session's lock would make every other migrator wait for it
// until its lock timeout. Closing the session releases its locks.
type sentinelLocker struct {
	lock.SessionLocker
}

func (l sentinelLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	err := l.SessionLocker.SessionLock(ctx, conn)
	if err != nil {
		discard(conn)
	}
	if err != nil && ctx.Err() == nil && strings.Contains(err.Error(), "failed to acquire lock") {
		return &Error{driver.ErrUnavailable, "the migration lock (a PostgreSQL advisory lock) is still held by another migrator", err}
	}
	return err
}

func (l sentinelLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	err := l.SessionLocker.SessionUnlock(ctx, conn)
	if err != nil {
		discard(conn)
	}
	return err
}

// discard closes conn's connection to the database rather than return it
// to the pool; conn is unusable afterwards (its Close says so, which
// goose's cleanup ignores beside the error it has).
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return sqldriver.ErrBadConn })
}

// sentinelOf returns the sentinel err (an error of classify) wraps; the
// caller's context's error when it is one.
func sentinelOf(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.Sentinel
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	return context.DeadlineExceeded
}
