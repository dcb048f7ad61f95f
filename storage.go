package storage

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ListResult is a page of List.
type ListResult struct {
	Keys []string
	// Cursor, when not empty, continues the listing after the last key:
	// pass it to After. It is empty when the page is the last one.
	Cursor string
}

// QueryResult is a page of Query.
type QueryResult struct {
	Entries []Entry
	// Cursor, when not empty, continues the query after the last entry:
	// pass it to After with the same filter and sort. It is empty when the
	// page is the last one.
	Cursor string
}

// Store is a transactional, namespaced JSON key/value store. Implementations
// are safe for concurrent use by multiple goroutines.
type Store interface {
	Ops

	// CreateNamespace creates a namespace, or fails with ErrNamespaceExists.
	// Options: WithNamespaceMetadata.
	CreateNamespace(ctx context.Context, name string, opts ...NamespaceOption) error

	// DeleteNamespace deletes a namespace. One that holds entries needs
	// Recursive, else ErrNamespaceNotEmpty. The default namespace can be
	// deleted; it is recreated by the next write to it.
	DeleteNamespace(ctx context.Context, name string, opts ...NamespaceOption) error

	// ListNamespaces returns the namespaces sorted by name (byte order):
	// without options, every namespace. Options page the listing:
	// Limit(n) returns at most n namespaces, fewer only when no more
	// remain; After(name) starts after that name (byte order: pass the
	// last name of the previous page; any valid UTF-8 without NUL of at
	// most driver.MaxNamespaceAfter bytes is a position); OmitValues
	// leaves every namespace's Metadata nil, so that a page costs its
	// names and indexes only. Paging is keyset paging on the name: a
	// namespace that exists from the first page to the last is listed
	// exactly once, whatever is created or deleted meanwhile. Any other
	// option, or a bad value, is ErrInvalidOption.
	ListNamespaces(ctx context.Context, opts ...Option) ([]Namespace, error)

	// Begin starts a transaction (see Tx). Backends without transactions
	// return ErrUnsupported and say so in Capabilities.
	Begin(ctx context.Context, opts TxOptions) (Tx, error)

	// LookupTx returns the open transaction with this ID (Tx.ID), for
	// callers that pass transactions by ID; ErrTxNotFound when there is
	// none.
	LookupTx(id string) (Tx, error)

	// Status reports health and size. It is cheap: it does not count rows.
	Status(ctx context.Context) (Status, error)

	// Capabilities reports what the backend supports.
	Capabilities() Capabilities

	// Close releases the store's connections. Operations after Close fail
	// with ErrClosed. Close is safe to call more than once.
	Close() error
}

// Entry is a stored value with its metadata and system fields.
type Entry struct {
	Namespace string
	Key       string
	// Value is the stored JSON. The database may normalize its spelling
	// (whitespace, object key order, number formatting) but never its meaning.
	Value json.RawMessage
	// Metadata is the user metadata, a JSON object ("{}" when none).
	Metadata json.RawMessage
	// Version counts the writes of the key since its creation, from 1. It
	// starts again at 1 when the key is deleted and created again, so it
	// can repeat: Revision is the compare-and-swap token that never does.
	Version int64
	// Revision is the store-wide revision of the entry's last change
	// (IfRevision). No two changes of a store share a revision, and a
	// key never gets a revision it had before, even across delete and
	// re-create.
	Revision int64
	// CreateRevision is the revision of the change that created the entry
	// (the last time it was created, after a delete or an expiry).
	CreateRevision int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// ExpiresAt is when the entry expires (UTC); the zero time when it
	// does not.
	ExpiresAt time.Time
}

// Decode unmarshals the entry's value into v.
func (e Entry) Decode(v any) error { return json.Unmarshal(e.Value, v) }

// Item is one write of a SetMany batch.
type Item struct {
	Key   string
	Value any
	// Metadata, when not nil, is the item's user metadata, given as for
	// WithMetadata (a map, a struct, or json.RawMessage) and a JSON object;
	// nil (or a nil map, slice or pointer) means the batch's WithMetadata,
	// if any, else keep what is stored.
	Metadata any
	// TTL, ExpiresAt and KeepTTL are the item's expiry, as the options
	// WithTTL, ExpiresAt and KeepTTL: at most one may be set. When none is,
	// the batch's expiry option applies, if any, else the item has no
	// expiry (an overwrite clears the stored one).
	TTL       time.Duration
	ExpiresAt time.Time
	KeepTTL   bool
	// IfRevision, when not 0, makes the item a compare-and-swap of its
	// own: it is written only if the key exists and its last change has
	// this revision (see the IfRevision option), else the item's result is
	// ErrConflict. It cannot be combined with NoOverwrite.
	IfRevision int64
}

// Metadata is what GetMetadata returns: the user's metadata and, beside it,
// the system fields. The two are never mixed.
type Metadata struct {
	User    map[string]any
	Version int64
	// Revision and CreateRevision are the entry's (see Entry).
	Revision       int64
	CreateRevision int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// CreatedBy and UpdatedBy are the actors (see ContextWithActor) of the
	// write that created the entry and of the latest write; "" when the
	// write named none.
	CreatedBy string
	UpdatedBy string
	// ExpiresAt is when the entry expires (UTC); the zero time when it
	// does not.
	ExpiresAt time.Time
}

// GetManyResult is the outcome of GetMany. Every distinct requested key is in
// exactly one of the two maps, or, when MaxBytes cut the call short, in
// Unread.
type GetManyResult struct {
	Entries map[string]Entry
	// Errors holds per-key failures: ErrNotFound for a missing key,
	// ErrInvalidKey for an invalid one.
	Errors map[string]error
	// Unread are the distinct requested keys the call did not read because
	// its MaxBytes budget was reached (in the order first requested): ask
	// for them again. A missing key may be among them, rather than in
	// Errors. Empty without MaxBytes.
	Unread []string
}

// KeyResult is the outcome of one key of a batch write.
type KeyResult struct {
	Key     string
	Err     error // nil on success
	Version int64 // the version written by SetMany; 0 otherwise
	// Revision is the revision of the key's change: the revision written
	// by SetMany, or the revision of the delete by DeleteMany; 0 when the
	// key failed.
	Revision int64
}

// BatchResult is the outcome of SetMany or DeleteMany: one result per
// distinct key, in the order of each key's first occurrence in the input.
type BatchResult struct {
	Results []KeyResult
}

// OK reports whether every key succeeded.
func (r BatchResult) OK() bool { return r.Err() == nil }

// Err joins the per-key errors, or returns nil when every key succeeded.
func (r BatchResult) Err() error {
	var errs []error
	for _, kr := range r.Results {
		if kr.Err != nil {
			errs = append(errs, kr.Err)
		}
	}
	return errors.Join(errs...)
}

// Failed returns the results that carry an error.
func (r BatchResult) Failed() []KeyResult {
	var out []KeyResult
	for _, kr := range r.Results {
		if kr.Err != nil {
			out = append(out, kr)
		}
	}
	return out
}

// Namespace describes one namespace.
type Namespace struct {
	Name string
	// Owner is the principal's PKR for a principal-scoped namespace, else "".
	Owner     string
	Metadata  map[string]any
	CreatedAt time.Time
	// Indexes are the fields declared with WithIndexes when the namespace
	// was created (or merged in by an import), spelled as declared; nil for
	// none.
	Indexes []string
}

// Status is a store's health and size.
type Status struct {
	Healthy       bool   // a real round trip to the database succeeded
	Size          int64  // entries in all namespaces
	Capacity      int64  // configured maximum number of entries, 0 = none
	Namespaces    int64  // number of namespaces
	Dialect       string // "sqlite" or "postgres"
	SchemaVersion int64  // the applied migration version
	// Revision is the store's current revision: that of the latest
	// committed change (0 for a store that never changed).
	Revision int64
	// OldestRevision is the oldest revision still in the change log;
	// Revision+1 when the log is empty.
	OldestRevision int64
	// ReadOnly says the store refuses every write, and Degraded why (""
	// when the store works normally): a SQLite store whose disk was full
	// when it opened serves reads and answers writes with ErrStorageFull
	// until it is reopened with space.
	ReadOnly bool
	Degraded string
}

// Capabilities are the seed's supportsX flags, and a little more.
type Capabilities struct {
	Transactions bool
	Query        bool
	Metadata     bool
	Batches      bool // GetMany/SetMany/DeleteMany cost a constant number of round trips
	Capacity     bool
}
