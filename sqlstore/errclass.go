package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"

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

func (e *dbError) Error() string { return e.sentinel.Error() + ": " + e.reason }
func (e *dbError) Unwrap() []error {
	if e.err == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.err}
}

// corruptRow is the error of a row the engine read but cannot decode: a
// value of another type than it writes, changed outside the engine.
func corruptRow(what string) error {
	return &dbError{storage.ErrCorrupt, what + " (changed outside the engine)", nil}
}

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
//   - what the database holds but the engine cannot read (a corrupt
//     file, a row or a schema object changed outside the engine, a
//     constraint the engine's own writes keep failing) and stored JSON
//     that does not decode as the engine wrote it: ErrCorrupt;
//   - a statement the server refused by its configuration or its
//     administrator (statement_timeout, pg_cancel_backend, a privilege
//     revoked, out of memory, temp_file_limit; SQLITE_NOMEM):
//     ErrUnavailable, as a database that refuses to serve; the statement
//     did not take effect;
//   - a value or statement over the database's own limits: ErrValueTooLarge;
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
	case dialect.ClassCorrupt:
		return &dbError{storage.ErrCorrupt, "the database holds what the engine cannot read (a corrupt file, or a row or table changed outside the engine)", err}
	case dialect.ClassUniqueViolation, dialect.ClassNotNull:
		// The engine's statements keep these constraints, and handle the
		// violations they expect (NoOverwrite, CreateNamespace) before
		// classify: one that reaches here is a row changed outside it.
		// No race causes one: every insert a concurrent writer can
		// collide with is ON CONFLICT (PostgreSQL's arbiters wait for
		// the other transaction; at repeatable read and above its
		// commit is a serialization failure, ErrTxConflict), the index
		// declarations and their rows change under the namespace's row
		// lock (SQLite: its one writer), and a write whose namespace
		// went meanwhile creates it again (setOne) or fails on the
		// foreign key, ErrTxConflict (TestRaceEveryErrorTyped).
		return &dbError{storage.ErrCorrupt, "a constraint failed on rows the engine did not write (changed outside the engine)", err}
	case dialect.ClassRefused:
		return &dbError{storage.ErrUnavailable, "the database refused the statement (a timeout, a cancel, a privilege or a resource limit set by its administrator)", err}
	case dialect.ClassTooLarge:
		return &dbError{storage.ErrValueTooLarge, "over the database's own size limits", err}
	case dialect.ClassConnection:
		if writeOps[op] && s.Dialect() == dialect.Postgres && inDoubt(err) {
			return &dbError{storage.ErrCommitUnknown, "the connection failed after the write was sent", err}
		}
		return &dbError{storage.ErrUnavailable, "the database cannot be reached", err}
	}
	if storedJSON(err) {
		return &dbError{storage.ErrCorrupt, "a stored JSON document does not read as the engine wrote it (changed outside the engine)", err}
	}
	return err
}

// storedJSON reports whether err is encoding/json's refusal of what the
// database returned: the engine validates every document it is given
// before it writes (a *storage.ValidationError), so a decoding error that
// reaches classify is of a stored one.
func storedJSON(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te)
}

// openError is err of Open, made to wrap exactly one sentinel (see the
// package documentation, "Errors"): the caller's context's error and an
// error that wraps a sentinel already (a DSN or an option refused,
// ErrInvalidOption; a schema version this build does not serve,
// ErrUnsupported) stay as they are; a database the engine cannot read (a
// file that is not a database, a corrupt one, a schema changed outside
// the engine) is ErrCorrupt; a full disk ErrStorageFull; anything else
// (a server that cannot be reached or refuses the connection, a file that
// cannot be opened, read or written, a database another process keeps
// locked) ErrUnavailable; package schema's errors (a migration the
// database refused) wrap their sentinel already. None carries
// the driver's text; errors.As still finds the driver's error.
func openError(name dialect.Name, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || wrapsSentinel(err) {
		return err
	}
	c := dialect.ClassOther
	if d, derr := dialect.ForName(name); derr == nil {
		c = d.Classify(err)
	}
	var ce *pgconn.ConnectError
	if c == dialect.ClassOther && errors.As(err, &ce) {
		c = dialect.ClassConnection // the server refused the connection (login, database)
	}
	m, ok := openClasses[c]
	if !ok {
		m = openClasses[dialect.ClassOther]
	}
	return &dbError{m.sentinel, m.reason, err}
}

// OpenFailed is err, a failure to reach or open the database dsn names, in
// the words Open reports it with: one line, "open DIALECT at WHERE:
// SENTINEL: REASON[: WHY]", naming the database by its file or by the
// server's host, port and database (never the user or the password),
// wrapping exactly one sentinel (ErrUnavailable, ErrCorrupt,
// ErrStorageFull; the caller's context's error stays as it is), with no
// driver text; errors.As still finds the driver's error. It is for
// programs that connect to a store's database by other means than Open
// (cmd/migrate), so that they report a failure as Open does.
func OpenFailed(dsn string, err error) error {
	dc, perr := dialect.ParseDSN(dsn)
	if perr != nil {
		return fmt.Errorf("open: %w", openError(dialect.Name(""), err))
	}
	return openFailed(dc, err)
}

// openFailed is OpenFailed of the parsed DSN dc.
// A failure to reach the standby of WithReplica names the standby.
func openFailed(dc dialect.Config, err error) error {
	what := string(dc.Dialect)
	var se *standbyError
	if errors.As(err, &se) {
		if sdc, perr := dialect.ParseDSN(se.dsn); perr == nil {
			dc, what = sdc, string(sdc.Dialect)+" standby"
		}
	}
	where, why := openDetail(dc, err)
	if why != "" {
		return fmt.Errorf("open %s%s: %w: %s", what, where, openError(dc.Dialect, err), why)
	}
	return fmt.Errorf("open %s%s: %w", what, where, openError(dc.Dialect, err))
}

// openDetail says, for an operator, where Open failed (" at" the file, or
// the server's host, port and database; never a user or password) and,
// when the system or the server gave one, why in words that are not the
// driver's: the system's error ("connection refused", "no such file or
// directory", "permission denied") or the server's error code.
func openDetail(dc dialect.Config, err error) (where, why string) {
	switch {
	case dc.Memory:
	case dc.Path != "":
		where = " at " + dc.Path
	case dc.URL != "":
		if u, perr := url.Parse(dc.URL); perr == nil && u.Host != "" {
			where = " at " + u.Host + u.Path
		}
	}
	var errno syscall.Errno
	var pe *pgconn.PgError
	var se *sqlite.Error
	var de *net.DNSError
	switch {
	case errors.As(err, &errno):
		why = errno.Error()
	case errors.As(err, &de):
		why = "the host name does not resolve"
		if de.IsTimeout {
			why = "the host name did not resolve in time"
		}
	case errors.As(err, &pe):
		why = "the server's error " + pe.Code
		if w, ok := pgOpenCodes[pe.Code]; ok {
			why += ": " + w
		}
	case errors.As(err, &se):
		why = sqliteOpenCodes[se.Code()&0xff]
	}
	return where, why
}

// pgOpenCodes say what the codes a server answers a connection with mean.
var pgOpenCodes = map[string]string{
	"28000": "the server refused the login (no such role, or pg_hba.conf)",
	"28P01": "the server refused the password",
	"3D000": "no such database",
	"53300": "the server has too many connections",
	"57P03": "the server is starting up or shutting down",
	"42501": "the role lacks a privilege the store needs",
}

// sqliteOpenCodes say what SQLite's primary result codes mean at Open.
var sqliteOpenCodes = map[int]string{
	sqlite3.SQLITE_CANTOPEN: "the file cannot be opened (a missing directory, or no permission)",
	sqlite3.SQLITE_READONLY: "the file is read-only",
	sqlite3.SQLITE_PERM:     "no permission",
	sqlite3.SQLITE_IOERR:    "an input/output error",
	sqlite3.SQLITE_NOTADB:   "the file is not a database",
	sqlite3.SQLITE_CORRUPT:  "the file is corrupt",
	sqlite3.SQLITE_FULL:     "the disk is full",
}

// openClasses are the sentinels and reasons of openError by class.
var openClasses = map[dialect.ErrorClass]struct {
	sentinel error
	reason   string
}{
	dialect.ClassCorrupt:    {storage.ErrCorrupt, "the database is corrupt, or not a database, or its schema was changed outside the engine"},
	dialect.ClassFull:       {storage.ErrStorageFull, "no space left for the database"},
	dialect.ClassConnection: {storage.ErrUnavailable, "the database cannot be reached, or its file cannot be opened, read or written"},
	dialect.ClassBusy:       {storage.ErrUnavailable, "the database is locked by another process"},
	dialect.ClassOther:      {storage.ErrUnavailable, "the database refused to open the store (a migration or a check of its schema failed)"},
}

// inDoubt reports whether a PostgreSQL connection error may have come
// after the server committed a statement: not when nothing was sent
// (SafeToRetry), not when no connection was made, and not when the server
// itself answered with an error (it terminated the statement, which rolled
// back); only when the connection broke while the answer was awaited, or
// the server crashed (a PANIC) while it ran the statement, whose commit
// record may have been written before.
func inDoubt(err error) bool {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	if errors.As(err, &pe) {
		return serverPanicked(pe)
	}
	// pgx's "conn closed" claims nothing was sent, but it is also what
	// pgx returns when the connection closed while it read the answer
	// (see pgCommitError): unknown.
	safe := pgconn.SafeToRetry(err) && !errors.Is(err, pgconn.ErrConnClosed)
	return !safe && !errors.As(err, &ce)
}

// serverPanicked reports whether PostgreSQL answered with a PANIC: the
// server crashed (its WAL's disk is full, say) and restarts every backend.
func serverPanicked(pe *pgconn.PgError) bool {
	return pe.SeverityUnlocalized == "PANIC" || pe.SeverityUnlocalized == "" && pe.Severity == "PANIC"
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

// endedCall is for an operation whose context ended (cerr) before or while
// its connection failed (or the server cancelled its statement): the
// caller gave up, and the error is the context's, as for every operation
// whose caller's context ends, not ErrUnavailable (inside a transaction,
// the transaction is over: leave ends it). The context's error as the
// driver wrapped it (pgconn's "timeout: context deadline exceeded",
// "context already done: ...") is the context's own too, without the
// driver's words; an error that wraps a sentinel (ErrCommitUnknown with
// the context's error as its cause) stays. It rewrites the
// *storage.OpError err holds in place.
func endedCall(err, cerr error) {
	var oe *storage.OpError
	if !errors.As(err, &oe) {
		return
	}
	switch {
	case errors.Is(oe.Err, storage.ErrUnavailable):
		oe.Err = cerr
	case errors.Is(oe.Err, cerr) && !wrapsSentinel(oe.Err):
		oe.Err = cerr
	}
}

// commitRolledBack reports whether a COMMIT answered that the transaction
// was rolled back (an earlier statement had aborted it): its outcome is
// known.
func commitRolledBack(err error) bool {
	return errors.Is(err, pgx.ErrTxCommitRollback)
}

// failCtx is fail for an operation whose caller's context is ctx: when
// ctx ended before or while the operation failed, and the failure reads as
// ErrUnavailable (the connection failed or the server cancelled the
// statement), the error is the context's, as for every operation whose
// caller gave up. The driver reports whichever it saw first: pgx, its
// connection failed or cancelled as the context ended, may report the
// connection and not the context. A failure with a live context stays
// ErrUnavailable, and an outcome left unknown stays ErrCommitUnknown.
func (s *Store) failCtx(ctx context.Context, op, ns, key string, err error) error {
	err = s.fail(op, ns, key, err)
	// A lock wait that the lock_timeout set from ctx's remaining time ended
	// (PostgreSQL: the revision lock sets it for the rest of the
	// transaction) is the context's error, whatever statement waited.
	var oe *storage.OpError
	if errors.As(err, &oe) {
		oe.Err = lockErr(ctx, oe.Err)
	}
	cerr := ctx.Err()
	if cerr == nil && errors.Is(err, context.DeadlineExceeded) {
		cerr = deadlinePassed(ctx)
	}
	if cerr != nil {
		endedCall(err, cerr)
	}
	return err
}

// deadlinePassed waits for ctx to end when its deadline has passed and
// returns its error; nil when the deadline has not passed. A context of
// the engine's own that runs out after ctx's deadline (wireContext's, a
// grace after it) may be seen ending first: ctx is ended by a timer whose
// function runs on a goroutine of its own, which on a loaded machine may
// not have run yet. Its caller would get a deadline error while its
// context still reads as live (TestChaosServerTimeouts saw it once in 60
// runs at load 45).
func deadlinePassed(ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}
