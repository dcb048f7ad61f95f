package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// Declared indexes (storage.WithIndexes, Store.CreateIndex). Each declared
// field of a namespace has one B-tree index of its own, partial on the
// namespace (WHERE namespace_id = <id>), over the field's type rank,
// number key (0 for other types), string key (the string, or on PostgreSQL
// its first 256 characters; the empty string for other types) and the key, led on SQLite
// by namespace_id: see dialect/index.go, which writes the index,
// the WHERE terms and the ORDER BY from the same code. The index serves
// eq, in, ranges, startsWith and sorts on the field; it holds no row of
// another namespace, so it never changes another namespace's writes; and
// since a PostgreSQL entry holds a bounded prefix, no value makes a write
// fail.
//
// An index is named entries_ns<id>_<hash>, the hash of its definition
// (indexName), so a namespace's indexes are found by the prefix of its id
// and an index whose definition changed in a later version (a new index
// format) is told apart: Open (reconcileIndexes) drops the indexes of the
// old format and builds the current ones, so no migration is needed for a
// format change.
//
// PostgreSQL builds with CREATE INDEX CONCURRENTLY (outside a
// transaction), so writes go on while it builds. A build that fails or is
// cancelled (its context ends) leaves an INVALID index behind, which the
// engine drops at once; one left by a crash is dropped and rebuilt by the
// next build of the same index (CreateIndex, or the reconciliation at
// Open). SQLite builds inside the transaction that records the index, so
// a failed build changes nothing.
//
// SQLite without statistics (no ANALYZE yet) prefers the primary key, which
// returns rows in the key order Query wants, over an expression index, and
// then reads a whole namespace to find one value. So the engine seeds
// sqlite_stat1 for the indexes it creates (and the primary key) with the
// estimates of a large namespace and a selective field, unless statistics
// already exist; a real ANALYZE replaces them. The seeds are written before
// the CREATE INDEX, whose schema change makes the other connections reload
// the statistics; ANALYZE sqlite_schema makes the writer reload them.

// indexName names the index of field f in namespace nsID: the hash is of
// the index's whole definition (columns and predicate, without its name
// and namespace), so a definition that changes in a later version (an
// index format) gets a new name, and Open replaces the old index.
func indexName(c *dialect.Compiler, nsID int64, f storage.Field) string {
	sum := sha256.Sum256([]byte(c.CreateIndex("", 0, f, false)))
	return nsIndexPrefix(nsID) + hex.EncodeToString(sum[:10])
}

// nsIndexPrefix is the prefix of the names of namespace nsID's indexes.
func nsIndexPrefix(nsID int64) string { return "entries_ns" + strconv.FormatInt(nsID, 10) + "_" }

// seededStat is the sqlite_stat1 estimate seeded for the primary key: a
// million entries, a thousand per namespace.
const seededStat = "1000000 1000 1"

// seededIndexStat is the estimate seeded for a declared index
// (namespace_id, rank, number key, string key, key) of a namespace of a thousand entries: a few types,
// one entry per value.
const seededIndexStat = "1000 1000 500 1 1 1"

// sqliteCreateIndexes creates the indexes of fields on namespace nsID with
// q, the writer or its transaction (see the statistics above). The caller
// runs ANALYZE sqlite_schema on the writer after the transaction.
func (x *ops) sqliteCreateIndexes(ctx context.Context, q querier, nsID int64, fields []storage.Field) error {
	c := x.compiler()
	if _, err := q.exec(ctx, "ANALYZE sqlite_schema"); err != nil { // creates sqlite_stat1
		return err
	}
	seed := func(name, stat string) error {
		_, err := q.exec(ctx, `INSERT INTO sqlite_stat1 (tbl, idx, stat) SELECT 'entries', ?, ? `+
			`WHERE NOT EXISTS (SELECT 1 FROM sqlite_stat1 WHERE tbl = 'entries' AND idx = ?)`, name, stat, name)
		return err
	}
	if err := seed("sqlite_autoindex_entries_1", seededStat); err != nil {
		return err
	}
	for _, f := range fields {
		name := indexName(c, nsID, f)
		if err := seed(name, seededIndexStat); err != nil {
			return err
		}
		if _, err := q.exec(ctx, c.CreateIndex(name, nsID, f, false)); err != nil {
			return err
		}
	}
	return nil
}

// sqliteReloadStats makes the writer reload the statistics after a schema
// change.
func (x *ops) sqliteReloadStats(ctx context.Context) error {
	_, err := x.s.eng.writer().exec(ctx, "ANALYZE sqlite_schema")
	return err
}

// pgCreateIndexes builds the indexes of fields on namespace nsID, one after
// the other, each with CREATE INDEX CONCURRENTLY on the pool (never in a
// transaction). An INVALID index of the same name (a build interrupted by
// a crash) is dropped first. When a build fails, its index is dropped
// before the error is returned, so no build outlives the call.
//
// Builds and drops of one index name run one at a time in the store (see
// indexMutex), and each first reads the declarations: a build of a field
// no longer declared (a DropIndex or DeleteNamespace came first) builds
// nothing, and a drop of a field declared again keeps the index.
func (x *ops) pgCreateIndexes(ctx context.Context, nsID int64, fields []storage.Field) error {
	c := x.compiler()
	for _, f := range fields {
		name := indexName(c, nsID, f)
		unlock, err := x.s.indexMutex(ctx, name)
		if err != nil {
			return err
		}
		err = x.pgCreateIndex(ctx, nsID, f, name)
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// pgCreateIndex builds the index name of field f on namespace nsID if the
// field is still declared, under indexMutex.
func (x *ops) pgCreateIndex(ctx context.Context, nsID int64, f storage.Field, name string) error {
	c := x.compiler()
	q := x.s.eng.writer()
	{
		if declared, err := x.declaresIndex(ctx, name); err != nil || !declared {
			return err
		}
		invalid := false
		err := q.queryRows(ctx, `SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid `+
			`WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`, []any{name},
			func(r rowScanner) error { return r.Scan(&invalid) })
		if err != nil {
			return err
		}
		if invalid {
			if _, err := q.exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+name); err != nil {
				return err
			}
		}
		if _, err := q.exec(ctx, c.CreateIndex(name, nsID, f, true)); err != nil {
			// A cancelled or failed build leaves an INVALID index,
			// which writes still maintain: drop it. DROP INDEX
			// CONCURRENTLY waits for the transactions that held the
			// build back, so it runs in the background, not in the call.
			x.s.dropInvalidLater(name)
			return err
		}
		if err := x.pgCreateStatistics(ctx, name, f); err != nil {
			return err
		}
	}
	return nil
}

// declaresIndex reports whether the namespace whose id the index name
// carries exists and declares the field the index serves.
func (x *ops) declaresIndex(ctx context.Context, name string) (bool, error) {
	rest, ok := strings.CutPrefix(name, "entries_ns")
	if !ok {
		return false, nil
	}
	idText, _, ok := strings.Cut(rest, "_")
	if !ok {
		return false, nil
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return false, nil //nolint:nilerr // not a name of ours: not declared
	}
	var text string
	found := false
	err = x.s.eng.writer().queryRows(ctx, "SELECT CAST(indexes AS TEXT) FROM namespaces WHERE id = $1", []any{id},
		func(r rowScanner) error { found = true; return r.Scan(&text) })
	if err != nil || !found {
		return false, err
	}
	texts, err := decodeIndexes([]byte(text))
	if err != nil {
		return false, err
	}
	fields, err := parseIndexes(texts)
	if err != nil {
		return false, err
	}
	c := x.compiler()
	for _, f := range fields {
		if indexName(c, id, f) == name {
			return true, nil
		}
	}
	return false, nil
}

// indexMutex runs the index builds and drops of this store one at a
// time. PostgreSQL builds and drops outside transactions, after the
// declaration's transaction: without it a drop could run before a build of
// the same name and leave the built index undeclared, or a late drop
// remove an index declared again; and two concurrent builds or drops on
// entries (of any names) deadlock, each waiting for the other's
// transaction. It does not reach other processes on the same database: a
// deadlock there is ErrTxConflict, and Open reconciles what such races
// leave. name documents which index the caller means.
func (s *Store) indexMutex(ctx context.Context, _ string) (unlock func(), err error) {
	ch := s.indexLock
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pgCreateStatistics creates the extended statistics of the expressions
// of index name (on field f): PostgreSQL's planner ignores the statistics
// of a partial index's expressions, and without any it estimates a range
// on the field at a row or two, and then prefers sorting to reading the
// index in order. ANALYZE (autovacuum's included) fills them; they cover
// the whole table, which is the right order of magnitude.
func (x *ops) pgCreateStatistics(ctx context.Context, name string, f storage.Field) error {
	exprs := x.compiler().IndexExprs(f)
	for i, e := range exprs {
		exprs[i] = "(" + e + ")"
	}
	_, err := x.s.eng.writer().exec(ctx, "CREATE STATISTICS IF NOT EXISTS "+name+"_st ON "+strings.Join(exprs, ", ")+" FROM entries")
	return err
}

// dropIndexesLater drops the named indexes concurrently in the background
// (PostgreSQL), each within two minutes; Close cancels what is left, which
// the next Open drops.
func (s *Store) dropIndexesLater(names []string) {
	if len(names) == 0 {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(s.bgCtx, 2*time.Minute)
		defer cancel()
		_ = s.pgDropIndexes(ctx, names) // left over: dropped at the next Open or build
	}()
}

// dropInvalidLater drops, in the background, the INVALID index a failed
// build left, whatever the declarations say by then (the caller withdraws
// the declaration; the next build of the field would drop it anyway).
func (s *Store) dropInvalidLater(name string) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(s.bgCtx, 2*time.Minute)
		defer cancel()
		unlock, err := s.indexMutex(ctx, name)
		if err != nil {
			return
		}
		defer unlock()
		_ = s.pgDropIndex(ctx, name, true) // left over: dropped at the next Open or build
	}()
}

// pgDropIndexes drops the named indexes concurrently, each under
// indexMutex, unless its field is declared again by then.
func (x *ops) pgDropIndexes(ctx context.Context, names []string) error {
	for _, name := range names {
		unlock, err := x.s.indexMutex(ctx, name)
		if err != nil {
			return err
		}
		err = x.pgDropIndex(ctx, name, false)
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// pgDropIndex drops index name unless its field is declared (force: in
// any case, for the INVALID index of a failed build).
func (x *ops) pgDropIndex(ctx context.Context, name string, force bool) error {
	if !force {
		if declared, err := x.declaresIndex(ctx, name); err != nil || declared {
			return err
		}
	}
	if _, err := x.s.eng.writer().exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+name); err != nil {
		return fmt.Errorf("drop index %s: %w", name, err)
	}
	if _, err := x.s.eng.writer().exec(ctx, "DROP STATISTICS IF EXISTS "+name+"_st"); err != nil {
		return fmt.Errorf("drop statistics %s_st: %w", name, err)
	}
	return nil
}

// physicalIndexes returns the names of the indexes on entries whose name
// starts with prefix, read with q.
func (x *ops) physicalIndexes(ctx context.Context, q querier, prefix string) ([]string, error) {
	stmt := `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'entries' AND substr(name, 1, length(?)) = ?`
	if x.s.eng.dialect().Name() == dialect.Postgres {
		stmt = `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'entries' AND starts_with(indexname, $1) AND $2 <> ''`
	}
	var names []string
	err := q.queryRows(ctx, stmt, []any{prefix, prefix}, func(r rowScanner) error {
		var n string
		if err := r.Scan(&n); err != nil {
			return err
		}
		names = append(names, n)
		return nil
	})
	return names, err
}

// buildIndexes builds the indexes of fields on namespace ns, outside a
// transaction of the caller's: idempotent.
func (x *ops) buildIndexes(ctx context.Context, ns string, fields []storage.Field) error {
	id, err := x.readNamespaceID(ctx, ns)
	if err != nil {
		return err
	}
	if id == 0 {
		return storage.ErrNamespaceNotFound
	}
	if x.s.eng.dialect().Name() == dialect.Postgres {
		return x.pgCreateIndexes(ctx, id, fields)
	}
	err = x.s.eng.inTx(ctx, func(q querier) error { return x.sqliteCreateIndexes(ctx, q, id, fields) })
	if err == nil {
		err = x.sqliteReloadStats(ctx)
	}
	return err
}

// reconcileIndexes makes the physical indexes match the namespaces'
// declarations, at Open: it drops the shared indexes of schema versions
// before 6 (entries_ix_*), and indexes of namespaces that are gone or no
// longer declare the field (or of an older definition); and it builds the
// declared indexes that are missing or INVALID (a PostgreSQL build
// interrupted by a crash). After migration 00006 this builds every
// namespace's indexes from namespaces.indexes.
func (x *ops) reconcileIndexes(ctx context.Context) error {
	c := x.compiler()
	q := x.s.eng.writer()
	type nsDecl struct {
		id     int64
		fields []storage.Field
	}
	var decls []nsDecl
	err := q.queryRows(ctx, "SELECT id, CAST(indexes AS TEXT) FROM namespaces", nil, func(r rowScanner) error {
		var d nsDecl
		var text string
		if err := r.Scan(&d.id, &text); err != nil {
			return err
		}
		texts, err := decodeIndexes([]byte(text))
		if err != nil {
			return err
		}
		if d.fields, err = parseIndexes(texts); err != nil {
			return fmt.Errorf("namespaces.indexes of namespace %d: %w", d.id, err)
		}
		if len(d.fields) > 0 {
			decls = append(decls, d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, d := range decls {
		for _, f := range d.fields {
			want[indexName(c, d.id, f)] = true
		}
	}
	legacy, err := x.physicalIndexes(ctx, q, "entries_ix_")
	if err != nil {
		return err
	}
	have, err := x.physicalIndexes(ctx, q, "entries_ns")
	if err != nil {
		return err
	}
	present := map[string]bool{}
	drop := legacy
	for _, n := range have {
		present[n] = true
		if !want[n] {
			drop = append(drop, n)
		}
	}
	invalid := map[string]bool{}
	if x.s.eng.dialect().Name() == dialect.Postgres {
		if err := x.pgDropIndexes(ctx, drop); err != nil {
			return err
		}
		err := q.queryRows(ctx, `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid `+
			`WHERE NOT i.indisvalid AND c.relnamespace = current_schema()::regnamespace AND starts_with(c.relname, 'entries_ns')`, nil,
			func(r rowScanner) error {
				var n string
				err := r.Scan(&n)
				invalid[n] = true
				return err
			})
		if err != nil {
			return err
		}
	} else {
		for _, n := range drop {
			if _, err := q.exec(ctx, "DROP INDEX IF EXISTS "+n); err != nil {
				return err
			}
		}
	}
	for _, d := range decls {
		var missing []storage.Field
		for _, f := range d.fields {
			n := indexName(c, d.id, f)
			if !present[n] || invalid[n] {
				missing = append(missing, f)
			} else if x.s.eng.dialect().Name() == dialect.Postgres {
				if err := x.pgCreateStatistics(ctx, n, f); err != nil {
					return err
				}
			}
		}
		if len(missing) == 0 {
			continue
		}
		if x.s.eng.dialect().Name() == dialect.Postgres {
			err = x.pgCreateIndexes(ctx, d.id, missing)
		} else {
			err = x.s.eng.inTx(ctx, func(q querier) error { return x.sqliteCreateIndexes(ctx, q, d.id, missing) })
			if err == nil {
				err = x.sqliteReloadStats(ctx)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
