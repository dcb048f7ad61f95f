package storage

import (
	"fmt"

	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// Sentinel errors. Every error returned by a Store wraps exactly one of these
// (test with errors.Is), usually inside an *OpError or *ValidationError that
// adds the operation, namespace and key. They are defined in package driver,
// which backends build on, and are the same values there (storage.ErrNotFound
// == driver.ErrNotFound).
var (
	// ErrNotFound is returned by Get, GetMetadata, SetMetadata and Delete when
	// the key does not exist, and per key by GetMany and DeleteMany. It wraps
	// sql.ErrNoRows so code written against database/sql can test for either;
	// its message does not repeat database/sql's text. Package schema's
	// Migrator.Redo returns it when no migration is applied.
	ErrNotFound = driver.ErrNotFound

	// ErrAlreadyExists is returned by Set and SetMany with NoOverwrite when the
	// key already exists.
	ErrAlreadyExists = driver.ErrAlreadyExists

	// ErrNamespaceNotFound is returned by DeleteNamespace for a namespace that
	// does not exist.
	ErrNamespaceNotFound = driver.ErrNamespaceNotFound

	// ErrNamespaceExists is returned by CreateNamespace for a duplicate name.
	ErrNamespaceExists = driver.ErrNamespaceExists

	// ErrNamespaceNotEmpty is returned by DeleteNamespace, without Recursive,
	// for a namespace that still holds entries.
	ErrNamespaceNotEmpty = driver.ErrNamespaceNotEmpty

	// ErrIndexExists is returned by Indexer.CreateIndex when the namespace
	// already declares the field.
	ErrIndexExists = driver.ErrIndexExists

	// ErrIndexNotFound is returned by Indexer.DropIndex when the namespace
	// does not declare the field.
	ErrIndexNotFound = driver.ErrIndexNotFound

	// ErrInvalidKey is returned for an empty key, a key that is not valid
	// UTF-8, contains NUL, or is longer than MaxKeyLen bytes.
	ErrInvalidKey = driver.ErrInvalidKey

	// ErrInvalidNamespace is returned for a namespace name that matches neither
	// the plain form nor the principal-scoped form (see ParseNamespace).
	ErrInvalidNamespace = driver.ErrInvalidNamespace

	// ErrInvalidValue is returned for a value that is not storable JSON:
	// invalid JSON or UTF-8, NaN or infinities, \u0000 or unpaired surrogates
	// in a string, duplicate object keys, or nesting deeper than MaxDepth.
	// Metadata that is not a JSON object is also ErrInvalidValue.
	ErrInvalidValue = driver.ErrInvalidValue

	// ErrValueTooLarge is returned for a value (or metadata) whose JSON
	// encoding is larger than the store's configured maximum, or than the
	// database itself accepts (SQLITE_TOOBIG, PostgreSQL's class 54).
	ErrValueTooLarge = driver.ErrValueTooLarge

	// ErrInvalidOption is returned when an option is malformed or means
	// nothing for the operation it was given to.
	ErrInvalidOption = driver.ErrInvalidOption

	// ErrConflict is returned when a compare-and-swap write (IfVersion,
	// IfRevision) finds the key at another version or revision; for Set,
	// also when the key is missing (Delete and SetMetadata report a missing
	// key as ErrNotFound, and so does Set with MustExist).
	ErrConflict = driver.ErrConflict

	// ErrCapacityExceeded is returned by a write that would make the store hold
	// more entries than its configured capacity, and by an authorizing
	// store's CreateNamespace (package security) that would make a principal
	// own more namespaces than its quota. Nothing is written.
	ErrCapacityExceeded = driver.ErrCapacityExceeded

	// ErrInvalidFilter is returned by Query and Count (and ParseFilter) for
	// a filter or sort that is not valid: an unknown operator, a malformed
	// field path, a value of the wrong type for its operator or field. A
	// sort's error reads "storage: invalid sort: …" (ValidationError.Input).
	ErrInvalidFilter = driver.ErrInvalidFilter

	// ErrUnsupported is returned for an operation the backend does not
	// provide; Capabilities tells in advance.
	ErrUnsupported = driver.ErrUnsupported

	// ErrAborted is returned per key by an Atomic batch for the keys that
	// were valid but not written because another key of the batch failed.
	ErrAborted = driver.ErrAborted

	// ErrTxDone is returned by an operation on a transaction that has
	// committed or rolled back (by the caller, its idle timeout, or Close).
	ErrTxDone = driver.ErrTxDone

	// ErrTxNotFound is returned by LookupTx for an unknown or finished ID.
	ErrTxNotFound = driver.ErrTxNotFound

	// ErrTooManyTx is returned by Begin when the store already has its
	// maximum number of open transactions.
	ErrTooManyTx = driver.ErrTooManyTx

	// ErrTxConflict is returned when the database aborted a transaction to
	// keep it isolated (a serialization failure, a deadlock, a busy SQLite
	// database). Running the whole transaction again may succeed; RunInTx
	// does so. A Query or Count (sqlstore) whose namespace changed
	// (cleared, deleted, an index created or dropped) under each of its
	// runs fails with it too, rather than answer on stale ids: running it
	// again may succeed.
	ErrTxConflict = driver.ErrTxConflict

	// ErrCommitUnknown is returned by Commit when the connection failed
	// while committing and the outcome could not be learned (a store may
	// ask the server afterwards: sqlstore on PostgreSQL does), and by a
	// single write outside a transaction whose connection failed after the
	// write was sent, or whose context ended while it was being committed
	// (together with other writes, sqlstore's group commit, or alone) and
	// the database did not answer within a grace: it may or may not have
	// taken effect. A Set or Delete outside a transaction that fails with
	// its context's error did not take effect. It is never retried
	// automatically.
	ErrCommitUnknown = driver.ErrCommitUnknown

	// ErrReadOnly is returned by a write in a read-only transaction.
	ErrReadOnly = driver.ErrReadOnly

	// ErrUnauthenticated is returned by an authorizing store (package
	// security) for a call whose context carries no principal, unless the
	// store was built with an anonymous profile.
	ErrUnauthenticated = driver.ErrUnauthenticated

	// ErrPermissionDenied is returned by an authorizing store (package
	// security) for a call the principal may not make, and per key by its
	// batches. It never tells whether the thing denied exists.
	ErrPermissionDenied = driver.ErrPermissionDenied

	// ErrClosed is returned by every operation on a closed store.
	ErrClosed = driver.ErrClosed

	// ErrUnavailable is returned when the database cannot be reached or
	// refused to serve: the server is down, restarting or shutting down,
	// the connection failed, the server refuses writes (a PostgreSQL
	// standby, or a primary being demoted by a failover), the server
	// refused the statement by its configuration or its administrator (a
	// statement_timeout or idle_in_transaction_session_timeout set on the
	// role or database, a pg_cancel_backend, a revoked privilege, out of
	// memory, a temp_file_limit; the caller's own deadline is its
	// context's error instead), or (SQLite) the file could not be read or
	// written, or (package schema) the migration lock stayed held by
	// another migrator past its timeout. The operation did not take effect,
	// so running it again later is safe; RunInTx retries a transaction that
	// failed with it. A write whose connection failed after the write was
	// sent is ErrCommitUnknown instead. Its message carries no connection
	// details.
	ErrUnavailable = driver.ErrUnavailable

	// ErrStorageFull is returned by a write when the database has no room
	// left (a full disk, SQLITE_FULL, PostgreSQL's disk_full). Nothing was
	// written; reads go on working, and writes succeed again once space is
	// freed, without reopening the store.
	ErrStorageFull = driver.ErrStorageFull

	// ErrCorrupt is returned when the database holds what the engine
	// cannot read: a corrupt file or page (SQLITE_CORRUPT, a file that is
	// not a database, PostgreSQL's data_corrupted), a row changed outside
	// the engine to a value of another type or shape than it writes, a
	// table, column or function of its schema dropped or altered outside
	// it, or (Open, package schema's migrations) a database whose objects
	// the engine's migrations conflict with: another application's table
	// by one of the engine's names. It is not retryable: the same call fails the same way until the
	// data is repaired or restored from a backup.
	ErrCorrupt = driver.ErrCorrupt

	// ErrCompacted is returned by Watch and History for a FromRevision,
	// and by Get for an AtRevision, older than the change log retains
	// (compaction removed it). The error is a *CompactedError, which
	// carries the oldest retained revision.
	ErrCompacted = driver.ErrCompacted

	// ErrWatchLagged ends a watch whose consumer fell behind by more than
	// the watch's buffer: writers never wait for a watcher. The error is a
	// *LaggedError, which carries the revision to resume from.
	ErrWatchLagged = driver.ErrWatchLagged
)

// Sentinels returns every sentinel error above, in a stable order: what
// "wraps exactly one documented sentinel" is checked against.
func Sentinels() []error {
	return []error{
		ErrNotFound, ErrAlreadyExists, ErrNamespaceNotFound, ErrNamespaceExists, ErrNamespaceNotEmpty,
		ErrIndexExists, ErrIndexNotFound, ErrInvalidKey, ErrInvalidNamespace, ErrInvalidValue, ErrValueTooLarge, ErrInvalidOption,
		ErrConflict, ErrCapacityExceeded, ErrInvalidFilter, ErrUnsupported, ErrAborted, ErrTxDone,
		ErrTxNotFound, ErrTooManyTx, ErrTxConflict, ErrCommitUnknown, ErrReadOnly, ErrUnauthenticated,
		ErrPermissionDenied, ErrClosed, ErrUnavailable, ErrStorageFull, ErrCompacted, ErrWatchLagged,
		ErrCorrupt,
	}
}

// OpError describes a failed operation: which operation, on which namespace
// and key. It wraps the cause, which wraps one of the sentinel errors above.
type OpError struct {
	Op        string // "get", "set", "delete", ...
	Namespace string // may be empty for store-wide operations
	Key       string // may be empty
	Err       error
}

// Error names the operation, namespace and key, and the cause. A
// namespace or key longer than MaxKeyLen (an invalid one) is named by its
// first bytes and "…", so that the message of a refused megabyte of key
// is not megabytes.
func (e *OpError) Error() string {
	msg := "storage: " + e.Op
	if e.Namespace != "" {
		msg += fmt.Sprintf(" namespace %q", jsonx.ClipLong(e.Namespace))
	}
	if e.Key != "" {
		msg += fmt.Sprintf(" key %q", jsonx.ClipLong(e.Key))
	}
	return msg + ": " + trimPrefix(e.Err.Error())
}

func (e *OpError) Unwrap() error { return e.Err }

// ValidationError explains why an input was refused. Err is one of
// ErrInvalidKey, ErrInvalidNamespace, ErrInvalidValue, ErrValueTooLarge,
// ErrInvalidOption or ErrInvalidFilter; Reason says what is wrong, for a
// person.
type ValidationError = driver.ValidationError

// invalid builds a *ValidationError.
func invalid(sentinel error, format string, args ...any) error {
	return driver.Invalidf(sentinel, format, args...)
}

func trimPrefix(s string) string {
	const p = "storage: "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
