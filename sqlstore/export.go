package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
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
}

// NamespaceRecord is one namespace as Export yields it and RestoreNamespace
// writes it. Its owner follows from its name (storage.ParseNamespace).
type NamespaceRecord struct {
	Name      string
	Metadata  json.RawMessage // a JSON object
	CreatedAt time.Time
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

// pageBytes bounds the JSON bytes of a page: a page ends early when its
// values and metadata reach it, so that large values do not make a page of
// PageSize entries large.
const pageBytes = 4 << 20

// errPageFull stops reading a page that reached pageBytes.
var errPageFull = errors.New("sqlstore: page full")

// dumpSQL is the SQL text of Export and Restore for one dialect. The
// statements are fixed; they live here rather than in queries/ because they
// bind arrays (PostgreSQL) and JSON documents (SQLite) of whole batches.
type dumpSQL struct {
	// namespaces: name > $1 ORDER BY name LIMIT $2 -> id, name, metadata, created_at, entry_count
	namespaces string
	// namespace: name = $1 -> id, name, metadata, created_at, entry_count
	namespace string
	// entries: namespace_id = $1 AND key > $2 ORDER BY key LIMIT $3
	// -> key, value, metadata, version, created_at, updated_at, created_by, updated_by
	entries string
	// existing: the stored rows of a batch of (namespace, key) pairs
	// -> name, key, value, metadata, version, created_at, updated_at, created_by, updated_by
	existing string
	// insert: a batch of records into existing namespaces
	insert string
	// insertNew: insert, skipping keys that exist -> namespace_id, key of
	// the rows inserted
	insertNew string
	// namespaceIDs: the namespaces of a list of names -> id, name
	namespaceIDs string
	// deleteOne: namespace name $1, key $2
	deleteOne string
	// updateNamespace: metadata $1, created_at $2, id $3
	updateNamespace string
}

var sqliteDump = dumpSQL{
	namespaces: `SELECT id, name, CAST(json(metadata) AS TEXT), created_at, entry_count
FROM namespaces WHERE name > ? ORDER BY name LIMIT ?`,
	namespace: `SELECT id, name, CAST(json(metadata) AS TEXT), created_at, entry_count
FROM namespaces WHERE name = ?`,
	entries: `SELECT key, CAST(json(value) AS TEXT), CAST(json(metadata) AS TEXT), version,
       created_at, updated_at, created_by, updated_by
FROM entries WHERE namespace_id = ? AND key > ? ORDER BY key LIMIT ?`,
	existing: `SELECT n.name, e.key, CAST(json(e.value) AS TEXT), CAST(json(e.metadata) AS TEXT), e.version,
       e.created_at, e.updated_at, e.created_by, e.updated_by
FROM json_each(?) j
JOIN namespaces n ON n.name = j.value ->> 0
JOIN entries e ON e.namespace_id = n.id AND e.key = j.value ->> 1`,
	insert: `INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, j.value ->> '$.k', jsonb(j.value -> '$.v'), jsonb(j.value -> '$.m'), j.value ->> '$.ver',
       j.value ->> '$.c', j.value ->> '$.u', j.value ->> '$.cb', j.value ->> '$.ub'
FROM json_each(?) j
JOIN namespaces n ON n.name = j.value ->> '$.n'`,
	// WHERE true: without it SQLite would read ON CONFLICT as a join's ON.
	insertNew: `INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, j.value ->> '$.k', jsonb(j.value -> '$.v'), jsonb(j.value -> '$.m'), j.value ->> '$.ver',
       j.value ->> '$.c', j.value ->> '$.u', j.value ->> '$.cb', j.value ->> '$.ub'
FROM json_each(?) j
JOIN namespaces n ON n.name = j.value ->> '$.n'
WHERE true
ON CONFLICT (namespace_id, key) DO NOTHING
RETURNING namespace_id, key`,
	namespaceIDs: `SELECT id, name FROM namespaces WHERE name IN (SELECT value FROM json_each(?))`,
	deleteOne: `DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = ?) AND key = ?`,
	updateNamespace: `UPDATE namespaces SET metadata = jsonb(?), created_at = ? WHERE id = ?`,
}

var pgDump = dumpSQL{
	namespaces: `SELECT id, name, metadata::text, created_at, entry_count
FROM namespaces WHERE name > $1 ORDER BY name LIMIT $2`,
	namespace: `SELECT id, name, metadata::text, created_at, entry_count
FROM namespaces WHERE name = $1`,
	entries: `SELECT key, value::text, metadata::text, version, created_at, updated_at, created_by, updated_by
FROM entries WHERE namespace_id = $1 AND key > $2 ORDER BY key LIMIT $3`,
	existing: `SELECT n.name, e.key, e.value::text, e.metadata::text, e.version,
       e.created_at, e.updated_at, e.created_by, e.updated_by
FROM unnest($1::text[], $2::text[]) AS j(ns, key)
JOIN namespaces n ON n.name = j.ns
JOIN entries e ON e.namespace_id = n.id AND e.key = j.key`,
	insert: `INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, j.key, j.value::jsonb, j.md::jsonb, j.ver, j.c, j.u, j.cb, j.ub
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[],
            $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[])
     AS j(ns, key, value, md, ver, c, u, cb, ub)
JOIN namespaces n ON n.name = j.ns`,
	insertNew: `INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, created_by, updated_by)
SELECT n.id, j.key, j.value::jsonb, j.md::jsonb, j.ver, j.c, j.u, j.cb, j.ub
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[],
            $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[])
     AS j(ns, key, value, md, ver, c, u, cb, ub)
JOIN namespaces n ON n.name = j.ns
ON CONFLICT (namespace_id, key) DO NOTHING
RETURNING namespace_id, key`,
	namespaceIDs: `SELECT id, name FROM namespaces WHERE name = ANY($1::text[])`,
	deleteOne: `DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = $1) AND key = $2`,
	updateNamespace: `UPDATE namespaces SET metadata = $1::jsonb, created_at = $2 WHERE id = $3`,
}

func (s *Store) dumpSQL() dumpSQL {
	if s.Dialect() == dialect.Postgres {
		return pgDump
	}
	return sqliteDump
}

// timeArg is a timestamp as the dialect binds it.
func (s *Store) timeArg(t time.Time) any {
	if s.Dialect() == dialect.Postgres {
		return t.UTC()
	}
	return micros(t)
}

// scanTime reads a timestamp column: unix microseconds on SQLite,
// timestamptz on PostgreSQL.
type scanTime struct {
	pg bool
	us int64
	t  time.Time
}

func (st *scanTime) dest() any {
	if st.pg {
		return &st.t
	}
	return &st.us
}

func (st *scanTime) time() time.Time {
	if st.pg {
		return st.t.UTC()
	}
	return fromMicros(st.us)
}

// nsScan reads a row of dumpSQL.namespaces.
type nsScan struct {
	id   int64
	rec  NamespaceRecord
	md   string
	crea scanTime
}

func (n *nsScan) dests() []any {
	return []any{&n.id, &n.rec.Name, &n.md, n.crea.dest(), &n.rec.Entries}
}

func (n *nsScan) record() NamespaceRecord {
	r := n.rec
	r.Metadata = json.RawMessage(n.md)
	r.CreatedAt = n.crea.time()
	return r
}

// recScan reads an entry row: the columns of dumpSQL.entries, optionally
// preceded by the namespace name (dumpSQL.existing).
type recScan struct {
	rec        Record
	value, md  string
	c, u       scanTime
	cb, ub     *string
	withNSName bool
}

func newRecScan(pg, withNS bool) *recScan {
	return &recScan{c: scanTime{pg: pg}, u: scanTime{pg: pg}, withNSName: withNS}
}

func (r *recScan) dests() []any {
	d := []any{&r.rec.Key, &r.value, &r.md, &r.rec.Version, r.c.dest(), r.u.dest(), &r.cb, &r.ub}
	if r.withNSName {
		d = append([]any{&r.rec.Namespace}, d...)
	}
	return d
}

func (r *recScan) record() Record {
	rec := r.rec
	rec.Value = json.RawMessage(r.value)
	rec.Metadata = json.RawMessage(r.md)
	rec.CreatedAt, rec.UpdatedAt = r.c.time(), r.u.time()
	rec.CreatedBy, rec.UpdatedBy = deref(r.cb), deref(r.ub)
	return rec
}

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
// returned as it is. The callbacks must not use the store: on an in-memory
// SQLite database the snapshot holds its only connection.
func (s *Store) Export(ctx context.Context, o ExportOptions, onNamespace func(NamespaceRecord) error, onEntry func(Record) error) error {
	const op = "export"
	if _, err := s.start(ctx, op, 0, nil); err != nil {
		return err
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultExportPageSize
	}
	if o.Namespace != "" {
		if _, err := storage.ParseNamespace(o.Namespace); err != nil {
			return s.fail(op, o.Namespace, "", err)
		}
	}
	tx, err := s.eng.begin(ctx, storage.TxOptions{ReadOnly: true, Isolation: storage.LevelRepeatableRead})
	if err != nil {
		return s.fail(op, o.Namespace, "", err)
	}
	defer func() { _ = tx.rollback(ctx) }()
	x := exporter{s: s, q: tx.q(), sql: s.dumpSQL(), pg: s.Dialect() == dialect.Postgres, o: o,
		onNS: onNamespace, onEntry: onEntry}
	if err := x.run(ctx); err != nil {
		var ce callbackError
		if errors.As(err, &ce) {
			return ce.err
		}
		return s.fail(op, o.Namespace, "", err)
	}
	return nil
}

// callbackError carries an error of an Export callback out unwrapped.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

type exporter struct {
	s       *Store
	q       querier
	sql     dumpSQL
	pg      bool
	o       ExportOptions
	onNS    func(NamespaceRecord) error
	onEntry func(Record) error
}

func (x *exporter) run(ctx context.Context) error {
	if x.o.Namespace != "" {
		var found []nsScan
		err := x.q.queryRows(ctx, x.sql.namespace, []any{x.o.Namespace}, x.scanNS(&found))
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return storage.ErrNamespaceNotFound
		}
		return x.namespace(ctx, &found[0])
	}
	after := ""
	for {
		var page []nsScan
		if err := x.q.queryRows(ctx, x.sql.namespaces, []any{after, nsPageSize}, x.scanNS(&page)); err != nil {
			return err
		}
		for i := range page {
			if err := x.namespace(ctx, &page[i]); err != nil {
				return err
			}
		}
		if len(page) < nsPageSize {
			return nil
		}
		after = page[len(page)-1].rec.Name
	}
}

func (x *exporter) scanNS(out *[]nsScan) func(r rowScanner) error {
	return func(r rowScanner) error {
		n := nsScan{crea: scanTime{pg: x.pg}}
		if err := r.Scan(n.dests()...); err != nil {
			return err
		}
		*out = append(*out, n)
		return nil
	}
}

func (x *exporter) namespace(ctx context.Context, n *nsScan) error {
	if x.onNS != nil {
		if err := x.onNS(n.record()); err != nil {
			return callbackError{err}
		}
	}
	if x.onEntry == nil {
		return nil
	}
	after := ""
	page := make([]Record, 0, min(x.o.PageSize, 4096))
	for {
		page = page[:0]
		size, full := 0, false
		rs := newRecScan(x.pg, false)
		err := x.q.queryRows(ctx, x.sql.entries, []any{n.id, after, x.o.PageSize}, func(r rowScanner) error {
			if err := r.Scan(rs.dests()...); err != nil {
				return err
			}
			rec := rs.record()
			rec.Namespace = n.rec.Name
			page = append(page, rec)
			size += len(rec.Key) + len(rec.Value) + len(rec.Metadata)
			if size >= pageBytes {
				full = true
				return errPageFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errPageFull) {
			return err
		}
		// The callbacks run after the page's rows are closed, so that a slow
		// consumer holds no cursor.
		for _, rec := range page {
			if err := x.onEntry(rec); err != nil {
				return callbackError{err}
			}
		}
		if !full && len(page) < x.o.PageSize {
			return nil
		}
		after = page[len(page)-1].Key
	}
}
