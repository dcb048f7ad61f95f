package sqlstore

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/schema"
)

// rowidVersion is the SQLite schema version at which entries has a stable
// rowid (entry_id) that index_entries carries (ix_entry).
const rowidVersion = 21

// TestMigrationEntriesRowid takes a populated SQLite store (two
// namespaces, one declaring two indexes; deletes, an expiry, metadata,
// hence a change log and change_ends) down below version 21 and up again.
// Down gives the schema of a store migrated only that far (tables,
// columns, indexes, foreign keys and trigger texts) and keeps every row
// and rowid; plain SQL writes at that version go through its triggers; Up
// gives the schema of a new store, keeps every row, gives each entry its
// old rowid as entry_id, and fills ix_entry, so that Query and Count
// answer as the reference evaluator does.
func TestMigrationEntriesRowid(t *testing.T) {
	ctx := t.Context()
	dsn := testdb.SQLiteFile(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	fillIndexedAndPlain(t, s, 30)
	in := storage.InNamespace("ix")
	for _, k := range []string{"k03", "k10", "k17"} {
		must(t, s.Delete(ctx, k, in))
		must(t, s.Delete(ctx, k, storage.InNamespace("plain")))
	}
	must(t, s.Set(ctx, "k04", map[string]any{"age": 9}, in, storage.ExpiresAt(time.Now().Add(time.Hour))))
	must(t, s.SetMetadata(ctx, "k05", map[string]any{"team": "t9"}, in))
	must(t, s.Set(ctx, "k30", map[string]any{"age": 1}, in)) // a rowid after the deleted ones
	must(t, s.Close())

	path := strings.TrimPrefix(dsn, "sqlite:")
	db, m := sqliteMigrator(t, path)
	latest := downChecked(t, db, m, rowidVersion-1)
	// Plain SQL writes at the lower version, through its triggers.
	next := "(SELECT current + 1 FROM revision_counter WHERE id = 1)"
	for _, q := range []string{
		`INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, revision, create_revision)
		 SELECT id, 'k40', jsonb('{"age": 3}'), jsonb('{"team": "t1"}'), 1, 0, 0, ` + next + `, ` + next + ` FROM namespaces WHERE name = 'ix'`,
		`UPDATE entries SET value = jsonb('{"age": 4, "other": 0}'), revision = ` + next + ` WHERE key = 'k00' AND namespace_id = (SELECT id FROM namespaces WHERE name = 'ix')`,
		`UPDATE entries SET metadata = jsonb('{"team": "t2"}') WHERE key = 'k01' AND namespace_id = (SELECT id FROM namespaces WHERE name = 'ix')`,
		`DELETE FROM entries WHERE key = 'k02' AND namespace_id = (SELECT id FROM namespaces WHERE name = 'ix')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rowids := sqliteEntryIDs(t, db, "rowid")
	upChecked(t, db, m, latest)
	if got := sqliteEntryIDs(t, db, "entry_id"); !slices.Equal(got, rowids) {
		t.Errorf("entry ids after Up: %v, want the rowids %v", got, rowids)
	}
	checkIndexEntryIDs(t, db, "after Up")
	must(t, db.Close())

	s = openTest(t, dsn, WithSweepInterval(-1))
	defer s.Close()
	for _, ns := range []string{"ix", "plain"} {
		checkDeclaredIndexes(ctx, t, s, nil, "after Up", ns, []string{"age", "$metadata.team"})
	}
	// And the triggers of the new version keep ix_entry.
	must(t, s.Set(ctx, "k41", map[string]any{"age": 2}, in))
	must(t, s.Set(ctx, "k05", map[string]any{"age": 0}, in))
	must(t, s.SetMetadata(ctx, "k06", map[string]any{"team": "t0"}, in))
	must(t, s.Delete(ctx, "k07", in))
	checkIndexEntryIDs(t, s.Backend().Writer, "after writes")
	checkDeclaredIndexes(ctx, t, s, nil, "after writes", "ix", []string{"age", "$metadata.team"})
}

// TestVacuumKeepsEntryIDs: VACUUM of a SQLite store whose entries have
// gaps in their rowids (deleted keys) leaves every entry's entry_id, and
// so the index rows that carry it, as they were: queries driven by a
// declared index answer the same after it.
func TestVacuumKeepsEntryIDs(t *testing.T) {
	ctx := t.Context()
	dsn := testdb.SQLiteFile(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	fillIndexedAndPlain(t, s, 90)
	for i := 0; i < 90; i += 2 {
		must(t, s.Delete(ctx, fmt.Sprintf("k%02d", i), storage.InNamespace("ix")))
		if i%3 == 0 {
			must(t, s.Delete(ctx, fmt.Sprintf("k%02d", i), storage.InNamespace("plain")))
		}
	}
	answers := func() string {
		var b strings.Builder
		for _, f := range []storage.Filter{storage.Eq("age", 3), storage.Eq("$metadata.team", "t1"), storage.Gte("age", 2)} {
			res, err := s.Query(ctx, f, storage.InNamespace("ix"), storage.SortBy(storage.Desc("age")), storage.Limit(50))
			must(t, err)
			for _, e := range res.Entries {
				fmt.Fprintf(&b, "%s %s %s|", e.Key, e.Value, e.Metadata)
			}
			n, err := s.Count(ctx, storage.InNamespace("ix"), storage.Where(f))
			must(t, err)
			fmt.Fprintf(&b, "count %d\n", n)
		}
		return b.String()
	}
	want := answers()
	ids := sqliteEntryIDs(t, s.Backend().Writer, "entry_id")
	must(t, s.Close())

	path := strings.TrimPrefix(dsn, "sqlite:")
	db, err := sql.Open("sqlite", path)
	must(t, err)
	if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
		t.Fatal(err)
	}
	if got := sqliteEntryIDs(t, db, "entry_id"); !slices.Equal(got, ids) {
		t.Errorf("VACUUM changed the entry ids: %v, want %v", got, ids)
	}
	checkIndexEntryIDs(t, db, "after VACUUM")
	must(t, db.Close())

	s = openTest(t, dsn, WithSweepInterval(-1))
	defer s.Close()
	if got := answers(); got != want {
		t.Errorf("after VACUUM the queries answer:\n%s\nwant:\n%s", got, want)
	}
	checkDeclaredIndexes(ctx, t, s, nil, "after VACUUM", "ix", []string{"age", "$metadata.team"})
}

// downChecked migrates db down to version below and checks that its schema
// is that of a store migrated only that far and that its rows are as they
// were (sqliteRows); it returns the schema it started from.
func downChecked(t *testing.T, db *sql.DB, m *schema.Migrator, below int64) string {
	t.Helper()
	latest := sqliteShape(t, db)
	before := sqliteRows(t, db)
	if _, err := m.DownTo(t.Context(), below); err != nil {
		t.Fatal(err)
	}
	if got, want := sqliteShape(t, db), freshShape(t, below); got != want {
		t.Errorf("the schema after Down differs from that of a store at %d:\n%s", below, lineDiff(got, want))
	}
	if got := sqliteRows(t, db); got != before {
		t.Errorf("Down changed the rows:\n%s", lineDiff(got, before))
	}
	return latest
}

// upChecked migrates db up to the latest version and checks that its
// schema is latest (a new store's) and that its rows are as they were.
func upChecked(t *testing.T, db *sql.DB, m *schema.Migrator, latest string) {
	t.Helper()
	before := sqliteRows(t, db)
	if _, err := m.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := sqliteShape(t, db); got != latest {
		t.Errorf("the schema after Up differs from that of a new store:\n%s", lineDiff(got, latest))
	}
	if got := sqliteRows(t, db); got != before {
		t.Errorf("Up changed the rows:\n%s", lineDiff(got, before))
	}
}

// sqliteMigrator opens the SQLite file at path and a migrator over it.
func sqliteMigrator(t *testing.T, path string) (*sql.DB, *schema.Migrator) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	must(t, err)
	t.Cleanup(func() { _ = db.Close() })
	m, err := schema.NewMigrator(schema.SQLite, db, schema.WithSQLiteFile(path))
	must(t, err)
	return db, m
}

// freshShape is the sqliteShape of a new SQLite store migrated to version v.
func freshShape(t *testing.T, v int64) string {
	t.Helper()
	db, m := sqliteMigrator(t, strings.TrimPrefix(testdb.SQLiteFile(t), "sqlite:"))
	if _, err := m.UpTo(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	return sqliteShape(t, db)
}

// sqliteShape describes the schema of a SQLite database, one line per
// object, column, index column and foreign key: what a statement sees,
// not the spelling of the CREATE TABLE (a rebuilt table's is rewritten).
// Triggers, views and explicit indexes are their SQL text.
func sqliteShape(t *testing.T, db *sql.DB) string {
	t.Helper()
	return sqliteLines(t, db, `
SELECT 'object ' || type || ' ' || name || ' on ' || tbl_name || ': ' || CASE WHEN type = 'table' THEN '' ELSE coalesce(sql, '') END
FROM sqlite_schema WHERE name NOT LIKE 'sqlite_stat%'
UNION ALL
SELECT 'table ' || l.name || ' without rowid ' || l.wr || ' strict ' || l.strict FROM pragma_table_list l WHERE l.schema = 'main'
UNION ALL
SELECT 'column ' || m.name || ' ' || c.cid || ' ' || c.name || ' ' || c.type || ' notnull ' || c."notnull" ||
       ' default ' || coalesce(c.dflt_value, 'none') || ' pk ' || c.pk || ' hidden ' || c.hidden
FROM sqlite_schema m, pragma_table_xinfo(m.name) c WHERE m.type = 'table'
UNION ALL
SELECT 'index ' || m.name || ' ' || il.name || ' unique ' || il."unique" || ' origin ' || il.origin || ' partial ' || il.partial ||
       ' ' || ii.seqno || ' ' || coalesce(ii.name, '<rowid or expr>') || ' desc ' || ii.desc || ' key ' || ii.key
FROM sqlite_schema m, pragma_index_list(m.name) il, pragma_index_xinfo(il.name) ii WHERE m.type = 'table'
UNION ALL
SELECT 'fk ' || m.name || ' ' || f.id || ' ' || f.seq || ' ' || f."table" || ' ' || f."from" || ' ' || coalesce(f."to", '') ||
       ' ' || f.on_update || ' ' || f.on_delete
FROM sqlite_schema m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'
ORDER BY 1`)
}

// sqliteRows lists the rows of the tables the migration touches or that
// its triggers write, each with the entries' rowid, and index_entries
// without ix_entry. A namespace's entry count is the exact one: from
// version 23 (namespace_counts) entry_count leaves out the change log's
// entries not folded into it yet.
func sqliteRows(t *testing.T, db *sql.DB) string {
	t.Helper()
	var views int
	must(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM sqlite_schema WHERE name = 'namespace_counts'`).Scan(&views))
	count := "entry_count"
	if views > 0 {
		count = "(SELECT c.entry_count FROM namespace_counts c WHERE c.id = namespaces.id)"
	}
	return sqliteLines(t, db, `
SELECT 'entry ' || rowid || ' ' || namespace_id || ' ' || key || ' ' || json(value) || ' ' || json(metadata) || ' ' || version ||
       ' ' || created_at || ' ' || updated_at || ' ' || coalesce(created_by, '-') || ' ' || coalesce(updated_by, '-') ||
       ' ' || coalesce(expires_at, '-') || ' ' || revision || ' ' || create_revision FROM entries
UNION ALL
SELECT 'index ' || ix_ns || ' ' || ix_field || ' ' || ix_rank || ' ' || ix_num || ' ' || ix_str || ' ' || ix_key || ' ' || coalesce(ix_exp, '-')
FROM index_entries
UNION ALL
SELECT 'change ' || revision || ' ' || kind || ' ' || namespace || ' ' || coalesce(key, '-') || ' ' || coalesce(json(value), '-') ||
       ' ' || coalesce(json(metadata), '-') || ' ' || coalesce(version, '-') || ' ' || coalesce(prev_revision, '-') FROM changes
UNION ALL
SELECT 'end ' || namespace || ' ' || key || ' ' || revision FROM change_ends
UNION ALL
SELECT 'namespace ' || id || ' ' || name || ' ' || `+count+` || ' ' || indexes || ' ' || revision FROM namespaces
UNION ALL
SELECT 'field ' || namespace_id || ' ' || field_id || ' ' || field || ' ' || col || ' ' || path FROM index_fields
ORDER BY 1`)
}

// sqliteEntryIDs lists "namespace_id key id" for every entry, id being
// column col (rowid or entry_id).
func sqliteEntryIDs(t *testing.T, db *sql.DB, col string) []string {
	t.Helper()
	return strings.Split(sqliteLines(t, db, `SELECT namespace_id || ' ' || key || ' ' || `+col+` FROM entries ORDER BY 1`), "\n")
}

// checkIndexEntryIDs checks that every index row's ix_entry is the
// entry_id of the entry of its namespace and key.
func checkIndexEntryIDs(t *testing.T, db *sql.DB, step string) {
	t.Helper()
	var rows, bad int
	err := db.QueryRowContext(t.Context(), `SELECT count(*), count(*) FILTER (WHERE e.entry_id IS NOT x.ix_entry)
FROM index_entries x LEFT JOIN entries e ON e.namespace_id = x.ix_ns AND e.key = x.ix_key`).Scan(&rows, &bad)
	must(t, err)
	if rows == 0 || bad != 0 {
		t.Errorf("%s: %d of %d index rows do not carry their entry's entry_id", step, bad, rows)
	}
}

// sqliteLines runs q, whose rows are one text column, and joins them.
func sqliteLines(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q)
	must(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		must(t, rows.Scan(&s))
		out = append(out, s)
	}
	must(t, rows.Err())
	return strings.Join(out, "\n")
}

// lineDiff lists the lines only one of got and want holds.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for _, l := range g {
		if !slices.Contains(w, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	for _, l := range w {
		if !slices.Contains(g, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	return b.String()
}
