package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/mycelia-kernel/storage"
)

// Record is one entry with every field the store keeps for it: what Export
// yields and Restore writes back unchanged. Unlike storage.Entry it carries
// the audit fields, and Restore writes its version and times as they are
// instead of bumping and stamping them.
type Record struct {
	Namespace string
	Key       string
	// Value is the stored JSON; Metadata the user metadata, a JSON object.
	// Each database may respell them (whitespace, object key order) but never
	// changes their meaning.
	Value    json.RawMessage
	Metadata json.RawMessage
	// Version is at least 1.
	Version int64
	// CreatedAt and UpdatedAt are UTC, microsecond precision.
	CreatedAt time.Time
	UpdatedAt time.Time
	// CreatedBy and UpdatedBy are the audit actors; "" for none.
	CreatedBy string
	UpdatedBy string
	// ExpiresAt is when the entry expires (UTC, microsecond precision);
	// the zero time for never. Export skips the entries already expired at
	// its snapshot; Restore skips the records already expired by the
	// store's clock.
	ExpiresAt time.Time
}

// NamespaceRecord is one namespace as Export yields it and RestoreNamespace
// writes it. Its owner follows from its name (storage.ParseNamespace).
type NamespaceRecord struct {
	Name      string
	Metadata  json.RawMessage // a JSON object
	CreatedAt time.Time
	// Indexes are the fields the namespace declared with storage.WithIndexes,
	// spelled as declared; nil for none.
	Indexes []string
	// Entries is the namespace's entry count at export time. Restore ignores
	// it: counts are kept by the database.
	Entries int64
}

// ExportOptions are the options of Export. The zero value exports every
// namespace in pages of DefaultExportPageSize entries.
type ExportOptions struct {
	// Namespace, when not empty, exports that namespace only; a namespace
	// that does not exist is storage.ErrNamespaceNotFound.
	Namespace string
	// PageSize is the number of entries read per statement (0 =
	// DefaultExportPageSize).
	PageSize int
}

// DefaultExportPageSize is the number of entries Export reads per page.
const DefaultExportPageSize = 2000

// nsPageSize is the number of namespaces Export reads per page.
const nsPageSize = 500

// pageBytes bounds the JSON bytes of a page. The page statement
// (DumpEntries in queries/) sums the sizes of the rows in key order with a
// window function and returns the rows whose preceding total is below
// pageBytes: so a page holds at most pageBytes of JSON plus its last entry,
// however large the values, and always at least one entry. The sizes are
// the stored sizes: the JSON text on PostgreSQL, the JSONB blob on SQLite
// (about the same).
const pageBytes = 4 << 20

// dumpQuerier is the part of querier that Export and Restore use; each
// dialect implements it over its sqlc-generated statements (queries/*/dump.sql).
type dumpQuerier interface {
	// dumpNamespaces returns up to limit namespaces named after after, in
	// name order.
	dumpNamespaces(ctx context.Context, after string, limit int) ([]nsDump, error)
	// dumpNamespace returns one namespace. errNoRow: missing.
	dumpNamespace(ctx context.Context, name string) (nsDump, error)
	// dumpEntries returns a page of the entries of namespace nsID after key
	// after, in key order: at most limit entries, cut once the rows before
	// hold maxBytes of JSON (see pageBytes), and the running size of the page
	// at its last row. Entries expired at now are skipped. The records'
	// Namespace is left empty.
	dumpEntries(ctx context.Context, nsID int64, after string, limit int, maxBytes int64, now time.Time) (page []Record, size int64, err error)
	// restoreNamespaceIDs maps the ids of the named namespaces to their names.
	restoreNamespaceIDs(ctx context.Context, names []string) (map[int64]string, error)
	// restoreExisting returns the stored records of the (Namespace, Key)
	// pairs of recs that exist, in any order.
	restoreExisting(ctx context.Context, recs []Record) ([]Record, error)
	// restoreInsert writes recs as they are into their (existing)
	// namespaces, skipping the keys that exist, and returns the keys written.
	restoreInsert(ctx context.Context, recs []*Record, now time.Time) ([]idKey, error)
	// restoreUpdateNamespace replaces a namespace's metadata and creation
	// time.
	restoreUpdateNamespace(ctx context.Context, id int64, md []byte, created time.Time) error
	// restoreNamespaceIndexes replaces a namespace's declared indexes (a
	// JSON array of field paths).
	restoreNamespaceIndexes(ctx context.Context, id int64, indexes []byte) error
	// restorePlans makes the rest of the transaction plan each statement
	// for its parameters (PostgreSQL): a generic plan cached while entries
	// was small joins a batch to it by a nested loop over a sequential scan,
	// which makes a large restore quadratic.
	restorePlans(ctx context.Context) error
}

// nsDump is a namespace as Export reads it.
type nsDump struct {
	ID int64
	NamespaceRecord
}

// idKey is a key written by restoreInsert.
type idKey struct {
	NamespaceID int64
	Key         string
}

// deref is an audit actor as Record holds it: "" for none.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Export reads the store, or one namespace of it, from one consistent
// snapshot (a read-only transaction, repeatable-read on PostgreSQL) and
// calls onNamespace for each namespace, in name order, then onEntry for each
// of its entries, in key order, before the next namespace. Either callback
// may be nil. Entries are read by keyset pages of o.PageSize entries and at
// most about 4 MiB of JSON (one entry more), so memory does not grow with
// the store. An error from a callback stops the export and is
// returned as it is. Entries expired at the time the export starts (by the
// store's clock) are skipped. The callbacks must not use the store.
func (s *Store) Export(ctx context.Context, o ExportOptions, onNamespace func(NamespaceRecord) error, onEntry func(Record) error) error {
	const op = "export"
	if _, err := s.start(ctx, op, "", 0, nil); err != nil {
		return err
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultExportPageSize
	}
	if o.Namespace != "" {
		if _, err := storage.ParseNamespace(o.Namespace); err != nil {
			return s.failCtx(ctx, op, o.Namespace, "", err)
		}
	}
	tx, err := s.eng.begin(ctx, storage.TxOptions{ReadOnly: true, Isolation: storage.LevelRepeatableRead})
	if err != nil {
		return s.failCtx(ctx, op, o.Namespace, "", err)
	}
	defer func() { _ = tx.rollback(ctx) }()
	x := exporter{s: s, q: tx.q(), o: o, onNS: onNamespace, onEntry: onEntry, now: s.now()}
	if err := x.run(ctx); err != nil {
		var ce callbackError
		if errors.As(err, &ce) {
			return ce.err
		}
		return s.failCtx(ctx, op, o.Namespace, "", err)
	}
	return nil
}

// callbackError carries an error of an Export callback out unwrapped.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

type exporter struct {
	s       *Store
	q       querier
	o       ExportOptions
	onNS    func(NamespaceRecord) error
	onEntry func(Record) error
	now     time.Time // the snapshot's time: entries expired at it are skipped
}

func (x *exporter) run(ctx context.Context) error {
	if x.o.Namespace != "" {
		n, err := x.q.dumpNamespace(ctx, x.o.Namespace)
		if errors.Is(err, errNoRow) {
			return storage.ErrNamespaceNotFound
		}
		if err != nil {
			return err
		}
		return x.namespace(ctx, n)
	}
	after := ""
	for {
		page, err := x.q.dumpNamespaces(ctx, after, nsPageSize)
		if err != nil {
			return err
		}
		for _, n := range page {
			if err := x.namespace(ctx, n); err != nil {
				return err
			}
		}
		if len(page) < nsPageSize {
			return nil
		}
		after = page[len(page)-1].Name
	}
}

// namespace exports one namespace and its entries. A page that the byte
// bound cut short makes the next page's limit twice its length (at most
// PageSize), so that a run of large values does not make the database size
// PageSize rows for each page it returns.
func (x *exporter) namespace(ctx context.Context, n nsDump) error {
	expired, err := x.q.expiredIn(ctx, n.ID, x.now)
	if err != nil {
		return err
	}
	n.Entries -= expired
	if x.onNS != nil {
		if err := x.onNS(n.NamespaceRecord); err != nil {
			return callbackError{err}
		}
	}
	if x.onEntry == nil {
		return nil
	}
	after, limit := "", x.o.PageSize
	for {
		page, size, err := x.q.dumpEntries(ctx, n.ID, after, limit, pageBytes, x.now)
		if err != nil {
			return err
		}
		// The callbacks run after the page's rows are closed, so that a slow
		// consumer holds no cursor.
		for _, rec := range page {
			rec.Namespace = n.Name
			if err := x.onEntry(rec); err != nil {
				return callbackError{err}
			}
		}
		full := size >= pageBytes
		if len(page) == 0 || (len(page) < limit && !full) {
			return nil
		}
		after = page[len(page)-1].Key
		limit = x.o.PageSize
		if full {
			limit = min(x.o.PageSize, 2*len(page))
		}
	}
}
