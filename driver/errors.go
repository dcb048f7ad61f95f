package driver

import (
	"database/sql"
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by a Store wraps exactly one of these
// (test with errors.Is), usually inside a *storage.OpError or a
// *ValidationError that adds the operation, namespace and key. Package
// storage re-exports each one under the same name (storage.ErrNotFound is
// driver.ErrNotFound, the same value), so a backend may wrap either.
var (
	// ErrNotFound is returned by Get, GetMetadata, SetMetadata and Delete when
	// the key does not exist, and per key by GetMany and DeleteMany. It wraps
	// sql.ErrNoRows so code written against database/sql can test for either;
	// its message does not repeat database/sql's text.
	ErrNotFound error = notFoundError{}

	// ErrAlreadyExists is returned by Set and SetMany with NoOverwrite when the
	// key already exists.
	ErrAlreadyExists = errors.New("storage: already exists")

	// ErrNamespaceNotFound is returned by DeleteNamespace for a namespace that
	// does not exist.
	ErrNamespaceNotFound = errors.New("storage: namespace not found")

	// ErrNamespaceExists is returned by CreateNamespace for a duplicate name.
	ErrNamespaceExists = errors.New("storage: namespace already exists")

	// ErrNamespaceNotEmpty is returned by DeleteNamespace, without Recursive,
	// for a namespace that still holds entries.
	ErrNamespaceNotEmpty = errors.New("storage: namespace not empty")

	// ErrIndexExists is returned by Indexer.CreateIndex when the namespace
	// already declares the field.
	ErrIndexExists = errors.New("storage: index already exists")

	// ErrIndexNotFound is returned by Indexer.DropIndex when the namespace
	// does not declare the field.
	ErrIndexNotFound = errors.New("storage: index not found")

	// ErrInvalidKey is returned for an empty key, a key that is not valid
	// UTF-8, contains NUL, or is longer than MaxKeyLen bytes.
	ErrInvalidKey = errors.New("storage: invalid key")

	// ErrInvalidNamespace is returned for a namespace name that matches neither
	// the plain form nor the principal-scoped form (see ParseNamespace).
	ErrInvalidNamespace = errors.New("storage: invalid namespace")

	// ErrInvalidValue is returned for a value that is not storable JSON:
	// invalid JSON or UTF-8, NaN or infinities, \u0000 or unpaired surrogates
	// in a string, duplicate object keys, or nesting deeper than MaxDepth.
	// Metadata that is not a JSON object is also ErrInvalidValue.
	ErrInvalidValue = errors.New("storage: invalid value")

	// ErrValueTooLarge is returned for a value (or metadata) whose JSON
	// encoding is larger than the store's configured maximum, or than the
	// database itself accepts (SQLITE_TOOBIG, PostgreSQL's class 54).
	ErrValueTooLarge = errors.New("storage: value too large")

	// ErrInvalidOption is returned when an option is malformed or means
	// nothing for the operation it was given to.
	ErrInvalidOption = errors.New("storage: invalid option")

	// ErrConflict is returned when a compare-and-swap write (IfVersion,
	// IfRevision) finds the key at another version or revision; for Set,
	// also when the key is missing (Delete and SetMetadata report a missing
	// key as ErrNotFound, and so does Set with MustExist).
	ErrConflict = errors.New("storage: version conflict")

	// ErrCapacityExceeded is returned by a write that would make the store hold
	// more entries than its configured capacity, and by an authorizing
	// store's CreateNamespace (package security) that would make a principal
	// own more namespaces than its quota. Nothing is written.
	ErrCapacityExceeded = errors.New("storage: capacity exceeded")

	// ErrInvalidFilter is returned by Query and Count (and ParseFilter) for
	// a filter or sort that is not valid: an unknown operator, a malformed
	// field path, a value of the wrong type for its operator or field. A
	// sort's error reads "storage: invalid sort: …" (ValidationError.Input).
	ErrInvalidFilter = errors.New("storage: invalid filter")

	// ErrUnsupported is returned for an operation the backend does not
	// provide; Capabilities tells in advance.
	ErrUnsupported = errors.New("storage: unsupported")

	// ErrAborted is returned per key by an Atomic batch for the keys that
	// were valid but not written because another key of the batch failed.
	ErrAborted = errors.New("storage: batch aborted")

	// ErrTxDone is returned by an operation on a transaction that has
	// committed or rolled back (by the caller, its idle timeout, or Close).
	ErrTxDone = errors.New("storage: transaction has already been committed or rolled back")

	// ErrTxNotFound is returned by LookupTx for an unknown or finished ID.
	ErrTxNotFound = errors.New("storage: transaction not found")

	// ErrTooManyTx is returned by Begin when the store already has its
	// maximum number of open transactions.
	ErrTooManyTx = errors.New("storage: too many open transactions")

	// ErrTxConflict is returned when the database aborted a transaction to
	// keep it isolated (a serialization failure, a deadlock, a busy SQLite
	// database). Running the whole transaction again may succeed; RunInTx
	// does so.
	ErrTxConflict = errors.New("storage: transaction conflict, retry")

	// ErrCommitUnknown is returned by Commit when the connection failed
	// while committing, and by a single write outside a transaction whose
	// connection failed after the write was sent: it may or may not have
	// taken effect. It is never retried automatically.
	ErrCommitUnknown = errors.New("storage: commit outcome unknown")

	// ErrReadOnly is returned by a write in a read-only transaction.
	ErrReadOnly = errors.New("storage: read-only transaction")

	// ErrUnauthenticated is returned by an authorizing store (package
	// security) for a call whose context carries no principal, unless the
	// store was built with an anonymous profile.
	ErrUnauthenticated = errors.New("storage: unauthenticated")

	// ErrPermissionDenied is returned by an authorizing store (package
	// security) for a call the principal may not make, and per key by its
	// batches. It never tells whether the thing denied exists.
	ErrPermissionDenied = errors.New("storage: permission denied")

	// ErrClosed is returned by every operation on a closed store.
	ErrClosed = errors.New("storage: store is closed")

	// ErrUnavailable is returned when the database cannot be reached or
	// refused to serve: the server is down, restarting or shutting down,
	// the connection failed, the server refuses writes (a PostgreSQL
	// standby, or a primary being demoted by a failover), the server
	// refused the statement by its configuration or its administrator (a
	// statement_timeout or idle_in_transaction_session_timeout set on the
	// role or database, a pg_cancel_backend, a revoked privilege, out of
	// memory, a temp_file_limit; the caller's own deadline is its
	// context's error instead), or (SQLite) the file could not be read or
	// written. The operation did not take effect,
	// so running it again later is safe; RunInTx retries a transaction that
	// failed with it. A write whose connection failed after the write was
	// sent is ErrCommitUnknown instead. Its message carries no connection
	// details.
	ErrUnavailable = errors.New("storage: database unavailable")

	// ErrStorageFull is returned by a write when the database has no room
	// left (a full disk, SQLITE_FULL, PostgreSQL's disk_full). Nothing was
	// written; reads go on working, and writes succeed again once space is
	// freed, without reopening the store.
	ErrStorageFull = errors.New("storage: storage full")

	// ErrCorrupt is returned when the database holds what the engine
	// cannot read: a corrupt file or page (SQLITE_CORRUPT, a file that is
	// not a database, PostgreSQL's data_corrupted), a row changed outside
	// the engine to a value of another type or shape than it writes, or a
	// table, column or function of its schema dropped or altered outside
	// it. It is not retryable: the same call fails the same way until the
	// data is repaired or restored from a backup.
	ErrCorrupt = errors.New("storage: corrupt data")

	// ErrCompacted is returned by Watch and History for a FromRevision,
	// and by Get for an AtRevision, older than the change log retains
	// (compaction removed it). The error is a *CompactedError, which
	// carries the oldest retained revision.
	ErrCompacted = errors.New("storage: revision compacted")

	// ErrWatchLagged ends a watch whose consumer fell behind by more than
	// the watch's buffer: writers never wait for a watcher. The error is a
	// *LaggedError, which carries the revision to resume from.
	ErrWatchLagged = errors.New("storage: watch lagged")
)

// notFoundError is ErrNotFound: "storage: not found", which also satisfies
// errors.Is(err, sql.ErrNoRows).
type notFoundError struct{}

func (notFoundError) Error() string { return "storage: not found" }
func (notFoundError) Unwrap() error { return sql.ErrNoRows }

// ValidationError explains why an input was refused. Err is one of
// ErrInvalidKey, ErrInvalidNamespace, ErrInvalidValue, ErrValueTooLarge,
// ErrInvalidOption or ErrInvalidFilter.
type ValidationError struct {
	Err    error  // the sentinel
	Reason string // what is wrong, for a person
	// Input names the input refused when the sentinel's text does not:
	// "sort" for a sort field, refused with ErrInvalidFilter, reads
	// "storage: invalid sort: …". "" means the sentinel's text.
	Input string
}

func (e *ValidationError) Error() string {
	if e.Input != "" {
		return "storage: invalid " + e.Input + ": " + e.Reason
	}
	return e.Err.Error() + ": " + e.Reason
}

// InvalidSort marks a refused sort field: err, a *ValidationError, then
// says "invalid sort" rather than its sentinel's "invalid filter" (it
// still wraps ErrInvalidFilter). Any other error is returned as it is.
func InvalidSort(err error) error {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	c := *ve
	c.Input = "sort"
	return &c
}

func (e *ValidationError) Unwrap() error { return e.Err }

// invalid builds a *ValidationError.
func invalid(sentinel error, format string, args ...any) error {
	return &ValidationError{Err: sentinel, Reason: fmt.Sprintf(format, args...)}
}

// Invalidf returns a *ValidationError wrapping sentinel, for backends that
// validate inputs the contract cannot see.
func Invalidf(sentinel error, format string, args ...any) error {
	return invalid(sentinel, format, args...)
}
