package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// errNoRow is what a querier returns when a statement that returns one row
// returned none. The engine decides what that means for the operation.
var errNoRow = errors.New("sqlstore: no row")

// errReadBudget stops a read whose MaxBytes budget is reached (see
// storage.MaxBytes); the reader answers what it read, cut short.
var errReadBudget = errors.New("sqlstore: read budget reached")

// readBudget is the budget of a read with options o: nil without MaxBytes,
// so that a read without one allocates nothing for it.
func readBudget(o driver.CallOptions) *driver.ReadBudget {
	if o.MaxBytes <= 0 {
		return nil
	}
	return &driver.ReadBudget{Max: o.MaxBytes}
}

// spend counts a row of n bytes against b (nil: no budget).
func spend(b *driver.ReadBudget, n int) {
	if b != nil {
		b.Add(n)
	}
}

// over answers errReadBudget for a row that follows the one that reached
// b (nil: no budget): the read stops before it, and is cut short (a row
// follows the last one read: a page gets a cursor, GetMany unread keys).
// The row is the driver's already (SQLite stepped to it, PostgreSQL
// received it), but it is neither scanned nor held.
func over(b *driver.ReadBudget) error {
	if b != nil && b.Reached() {
		return errReadBudget
	}
	return nil
}

// row is one entry as read from the database.
type row struct {
	Key            string
	Value          []byte
	Metadata       []byte
	Version        int64
	Revision       int64
	CreateRevision int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ExpiresAt      time.Time // zero: none
}

// metaRow is an entry's metadata and system fields.
type metaRow struct {
	Metadata       []byte
	Version        int64
	Revision       int64
	CreateRevision int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	CreatedBy      *string
	UpdatedBy      *string
	ExpiresAt      time.Time // zero: none
}

// expiry is what a write does with the expiry of the entry: set At (the
// zero time: none), or with Keep keep what is stored (none for a new or
// expired entry).
type expiry struct {
	At   time.Time
	Keep bool
}

// nsRow is one namespace.
type nsRow struct {
	ID         int64
	EntryCount int64
}

// batchItem is one write of a batch statement. Metadata nil means "keep what
// is stored" (upsert) or "{}" (insert).
type batchItem struct {
	Key      string
	Value    []byte
	Metadata []byte
	Expiry   expiry
	// IfRevision is the item's expected revision (0: none); checked
	// before the batch statement (ops.checkItems).
	IfRevision int64
}

// keyVersion is a key written (or deleted) by a batch statement: its new
// version and revision (deleted: the version it had, and the revision of
// the delete).
type keyVersion struct {
	Key            string
	Version        int64
	Revision       int64
	CreateRevision int64
}

// wrote is what a single write wrote: the entry's version and revisions
// after it (a delete: the version the key had, and the delete's revision).
type wrote struct {
	Version        int64
	Revision       int64
	CreateRevision int64
}

// cond is the condition of a conditional write: the key must be live and,
// where they are not 0, at this version and this revision.
type cond struct {
	Version  int64
	Revision int64
}

// state is a live key's version and revision.
type state struct {
	Version  int64
	Revision int64
}

// change is a row of the change log written by the engine (puts are
// logged by their statements, see queries/).
type change struct {
	Revision  int64
	Kind      string
	Namespace string
	Key       string // "" for a namespace event
	Version   int64  // 0: none
	Prev      int64  // 0: none
	Metadata  []byte // nil: none
	// Created and Expires are the entry's created_at and expires_at after
	// a metadata change (zero: none).
	Created, Expires time.Time
}

// querier is every statement the engine runs, bound to one database handle:
// a pool, a connection or a transaction. Each dialect implements it over its
// sqlc-generated code. A method whose statement returns one row returns
// errNoRow when it returns none. Times are UTC with microsecond precision.
//
// now is the engine's clock at the operation: every statement sees only the
// entries that have not expired at now (expires_at NULL or after it), and a
// write to an expired row treats the key as missing.
type querier interface {
	getEntry(ctx context.Context, ns, key string, now time.Time) (row, error)
	hasEntry(ctx context.Context, ns, key string, now time.Time) (bool, error)
	entryState(ctx context.Context, ns, key string, now time.Time) (state, error)
	// Every write below gives each change it makes the next revision and
	// logs it in the change log, in the same transaction. On SQLite the
	// methods that take several statements (deletes, metadata, clears and
	// batches) must run inside a transaction (see ops.logged).
	//
	// upsertEntry writes value; md nil keeps the stored metadata. errNoRow:
	// the namespace is missing.
	upsertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error)
	// insertEntry writes value only if key is absent (or expired).
	// errNoRow: the namespace is missing or the key exists.
	insertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error)
	// updateEntryIf writes value only over a live key that meets c.
	// errNoRow: missing, or c not met.
	updateEntryIf(ctx context.Context, ns, key string, value, md []byte, exp expiry, c cond, now time.Time, actor *string) (wrote, error)
	// deleteEntry deletes a live key that meets c. errNoRow: missing, or c
	// not met.
	deleteEntry(ctx context.Context, ns, key string, c cond, now time.Time) (wrote, error)
	getMetadata(ctx context.Context, ns, key string, now time.Time) (metaRow, error)
	// replaceMetadata replaces the metadata of a live key that meets c.
	// errNoRow: missing, or c not met.
	replaceMetadata(ctx context.Context, ns, key string, md []byte, c cond, now time.Time, actor *string) (wrote, error)
	// clearNamespace and clearAll unlink the entries of the namespace, or
	// of every namespace, that has any (unlink.go) and log one clear change
	// per namespace that had any.
	clearNamespace(ctx context.Context, ns string, now time.Time) (int64, error)
	clearAll(ctx context.Context, now time.Time) (int64, error)

	// getEntries reads the live entries of keys; with a budget b (nil:
	// none) it stops after the row that reaches it, and cut says so.
	getEntries(ctx context.Context, ns string, keys []string, now time.Time, b *driver.ReadBudget) (rows []row, cut bool, err error)
	// upsertEntries writes every item (distinct keys). With keepMetadata,
	// items' Metadata is ignored: new keys get {} and existing keys keep
	// theirs.
	upsertEntries(ctx context.Context, ns string, items []batchItem, keepMetadata bool, now time.Time, actor *string) ([]keyVersion, error)
	// insertEntries writes the items whose key is absent and returns them.
	insertEntries(ctx context.Context, ns string, items []batchItem, now time.Time, actor *string) ([]keyVersion, error)
	// deleteEntries deletes the live keys among keys and returns them with
	// their delete's revision, in key order.
	deleteEntries(ctx context.Context, ns string, keys []string, now time.Time) ([]keyVersion, error)
	// logExpired logs the rows the sweeper (or a restore) deleted as expire
	// changes, in the order given.
	logExpired(ctx context.Context, rows []SweptRow, now time.Time) error
	// lockRevisions takes the revision lock until the end of the
	// transaction (PostgreSQL, revlock.go), before a dynamic statement
	// that writes. Every write takes it before it locks a row, so that no
	// two writers wait for each other in opposite orders.
	lockRevisions(ctx context.Context) error
	// revision returns the store's current revision and the oldest one in
	// the change log (current+1 when it is empty).
	revision(ctx context.Context) (current, oldest int64, err error)

	ensureNamespace(ctx context.Context, ns storage.NamespaceName, now time.Time) error
	// createNamespace returns false when the name is taken.
	// indexes is the JSON array of its declared fields (see nsindexes.go).
	createNamespace(ctx context.Context, ns storage.NamespaceName, md, indexes []byte, now time.Time) (bool, error)
	// lockNamespace reads a namespace and, where the dialect needs it, locks
	// it until the end of the transaction. errNoRow: missing.
	lockNamespace(ctx context.Context, name string) (nsRow, error)
	deleteNamespaceEntries(ctx context.Context, id int64) (int64, error)
	deleteNamespace(ctx context.Context, id int64) (int64, error)
	// stats counts the live entries (at now) and the namespaces.
	stats(ctx context.Context, now time.Time) (entries, namespaces int64, err error)
	// expiredIn counts the rows of namespace id that have expired at now
	// and are not yet swept.
	expiredIn(ctx context.Context, id int64, now time.Time) (int64, error)
	// queryRows runs a dynamic statement (built with squirrel and dialect,
	// placeholders in the dialect's style) and calls scan for each row.
	queryRows(ctx context.Context, sql string, args []any, scan func(r rowScanner) error) error
	// boundedRows is queryRows for a read that scan may stop before its
	// end (a MaxBytes budget, errReadBudget; a History page's bytes,
	// errPageFull): on PostgreSQL in a transaction it reads through a
	// cursor, so that the rows after the stop are not sent
	// (pgLazyTx.cursorQuery).
	boundedRows(ctx context.Context, sql string, args []any, scan func(r rowScanner) error) error
	// queryRowsLocked is queryRows after the write lock: on PostgreSQL
	// the statement is sent after the revision lock (revlock.go), so in
	// read committed its snapshot sees every committed write and no write
	// commits before the transaction ends; on SQLite, queryRows (the
	// caller is in a write transaction, under the single writer).
	queryRowsLocked(ctx context.Context, sql string, args []any, scan func(r rowScanner) error) error
	// exec runs a dynamic statement that returns no rows.
	exec(ctx context.Context, sql string, args ...any) (int64, error)

	// capacityLock serializes writes that may add entries until the end of
	// the transaction (a no-op where there is a single writer).
	capacityLock(ctx context.Context) error

	// dumpQuerier is the statements of Export and Restore (export.go).
	dumpQuerier
}

// rowScanner is a row of a dynamic statement: *sql.Rows and pgx.Rows both
// satisfy it.
type rowScanner interface {
	Scan(dest ...any) error
}

// engine is how a dialect reaches its database.
type engine interface {
	dialect() dialect.Dialect
	// reader returns a querier for reads outside a transaction.
	reader() querier
	// writer returns a querier for single-statement writes outside a
	// transaction.
	writer() querier
	// inTx runs fn in one write transaction: committed when fn returns nil,
	// rolled back otherwise.
	inTx(ctx context.Context, fn func(q querier) error) error
	// begin starts a transaction for Store.Begin.
	begin(ctx context.Context, opts storage.TxOptions) (txConn, error)
	// txCapacity is how many transactions, and read-only ones among them,
	// may be open at once so that calls outside transactions still find a
	// connection (0: no limit of the engine's own). On PostgreSQL readOnly
	// is the standby's (WithReplica), whose transactions do not count in
	// total.
	txCapacity() (total, readOnly int)
	// ping, schemaVersion and quickReader serve the short reads of a fixed
	// number of rows the engine makes for itself: Status (and so the HTTP
	// server's /readyz), and a write's look at the change log's state or
	// at the purge's backlog (compactAssist, purgeAssist). On SQLite they
	// run on the point reads' lane, which the reads that last (scans,
	// watches, read-only transactions) cannot hold: a store whose readers
	// are all busy with those still answers that it is healthy, and its
	// writes do not wait for a reader.
	ping(ctx context.Context) error
	schemaVersion(ctx context.Context) (int64, error)
	quickReader() querier
	close() error
}

// txConn is one open database transaction.
type txConn interface {
	// q is the querier bound to the transaction.
	q() querier
	// savepoint runs fn under a savepoint: its writes are undone if it
	// fails, and the transaction goes on.
	savepoint(ctx context.Context, fn func(q querier) error) error
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
}

// noRow maps database/sql's "no rows" to errNoRow.
func noRow(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errNoRow
	}
	return err
}

// owner is shared by both engines.
func owner(ns storage.NamespaceName) *string {
	if ns.Owner == "" {
		return nil
	}
	o := ns.Owner
	return &o
}
