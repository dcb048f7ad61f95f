package sqlstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// dbError is a driver error translated into a storage sentinel. Its message
// is the sentinel's with a short reason, never the driver's text (which can
// name the server, the user and SQLSTATEs); errors.As still finds the
// driver's error (a *pgconn.PgError, a *sqlite.Error) for a caller who
// wants the detail.
type dbError struct {
	sentinel error
	reason   string
	err      error
}

func (e *dbError) Error() string   { return e.sentinel.Error() + ": " + e.reason }
func (e *dbError) Unwrap() []error { return []error{e.sentinel, e.err} }

// writeOps are the operations that change data outside a transaction in one
// statement or one transaction of their own: a connection lost after one
// was sent leaves its outcome unknown.
var writeOps = map[string]bool{
	"set": true, "delete": true, "setMany": true, "deleteMany": true, "setMetadata": true,
	"clear": true, "createNamespace": true, "deleteNamespace": true, "restore": true,
	"restoreNamespace": true,
}

// classify translates a driver error of operation op into the storage
// sentinel it means (see the package documentation, "Errors"):
//
//   - serialization failures, deadlocks, SQLite busy: ErrTxConflict;
//   - a foreign key violation (a write raced a recursive DeleteNamespace or
//     a Clear that removed its namespace; on PostgreSQL the insert trigger
//     of entries raises it, migration 00020) and a PostgreSQL transaction
//     already aborted by such an error: ErrTxConflict, so that RunInTx
//     runs the transaction again (which recreates the namespace);
//   - a full disk: ErrStorageFull;
//   - a database that cannot be reached: ErrUnavailable, or, for a write
//     outside a transaction whose statement may have reached the server,
//     ErrCommitUnknown;
//   - anything else stays as it is (an internal error on the wire).
//
// Context errors pass through: the caller's deadline or cancellation is
// the cause, and routes map them to their own codes.
func (s *Store) classify(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if s.degraded != "" {
		// Every statement runs on a read-only connection: a write that
		// got past writable is refused by SQLite, and means the same.
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_READONLY {
			return &dbError{storage.ErrStorageFull, s.degraded, err}
		}
	}
	switch c := s.eng.dialect().Classify(err); c {
	case dialect.ClassSerialization:
		return &dbError{storage.ErrTxConflict, "a concurrent transaction changed what this one read (serialization failure)", err}
	case dialect.ClassDeadlock:
		return &dbError{storage.ErrTxConflict, "deadlock with a concurrent transaction", err}
	case dialect.ClassBusy:
		return &dbError{storage.ErrTxConflict, "the database is locked by another writer (busy)", err}
	case dialect.ClassForeignKey:
		return &dbError{storage.ErrTxConflict, "the namespace was deleted meanwhile", err}
	case dialect.ClassTxAborted:
		return &dbError{storage.ErrTxConflict, "an earlier error aborted the transaction; roll it back", err}
	case dialect.ClassFull:
		return &dbError{storage.ErrStorageFull, "no space left for the database", err}
	case dialect.ClassConnection:
		if writeOps[op] && s.Dialect() == dialect.Postgres && inDoubt(err) {
			return &dbError{storage.ErrCommitUnknown, "the connection failed after the write was sent", err}
		}
		return &dbError{storage.ErrUnavailable, "the database cannot be reached", err}
	}
	return err
}

// inDoubt reports whether a PostgreSQL connection error may have come
// after the server committed a statement: not when nothing was sent
// (SafeToRetry), not when no connection was made, and not when the server
// itself answered with an error (it terminated the statement, which rolled
// back); only when the connection broke while the answer was awaited.
func inDoubt(err error) bool {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	// pgx's "conn closed" claims nothing was sent, but it is also what
	// pgx returns when the connection closed while it read the answer
	// (see pgCommitError): unknown.
	safe := pgconn.SafeToRetry(err) && !errors.Is(err, pgconn.ErrConnClosed)
	return !safe && !errors.As(err, &pe) && !errors.As(err, &ce)
}

// inTxError is classify for an operation inside a transaction: a lost
// connection ends the transaction without committing it, so a write's
// outcome is known (nothing), and the error is ErrUnavailable. It rewrites
// the *storage.OpError err holds in place.
func inTxError(err error) {
	var oe *storage.OpError
	var de *dbError
	if errors.As(err, &oe) && errors.As(oe.Err, &de) && errors.Is(de.sentinel, storage.ErrCommitUnknown) {
		oe.Err = &dbError{storage.ErrUnavailable, "the connection failed; the transaction did not commit", de.err}
	}
}

// commitRolledBack reports whether a COMMIT answered that the transaction
// was rolled back (an earlier statement had aborted it): its outcome is
// known.
func commitRolledBack(err error) bool {
	return errors.Is(err, pgx.ErrTxCommitRollback)
}
