package sqlstore

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/schema"
)

// TestMigrationIndexEntries converts stores populated at schema versions 5
// and 6 (a namespace that declared "age", its entries, and a physical index
// of that version: a shared entries_ix_* one, or the namespace's partial
// entries_ns<id>_* one): Open migrates it to index_entries (migration
// 00009), drops the old index and fills index_entries from
// namespaces.indexes; queries answer the same; Down to the old version
// drops the tables, and opening again converts it again.
func TestMigrationIndexEntries(t *testing.T) {
	for _, from := range []int64{5, 6, 7, 8} {
		for _, c := range []testConfig{{name: "sqlite-file", dsn: testdb.SQLiteFile}, {name: "postgres", dsn: newPGSchema}} {
			t.Run(fmt.Sprintf("from%d/%s", from, c.name), func(t *testing.T) { testMigrationIndexEntries(t, c, from) })
		}
	}
}

func testMigrationIndexEntries(t *testing.T, c testConfig, from int64) {
	{
		{
			ctx := t.Context()
			dsn := c.dsn(t)
			var db *sql.DB
			var d schema.Dialect
			var opts []schema.Option
			if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
				var err error
				if db, err = sql.Open("sqlite", path); err != nil {
					t.Fatal(err)
				}
				d, opts = schema.SQLite, []schema.Option{schema.WithSQLiteFile(path)}
			} else {
				pool, err := pgxpool.New(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer pool.Close()
				db, d = stdlib.OpenDBFromPool(pool), schema.Postgres
			}
			defer db.Close()
			m, err := schema.NewMigrator(d, db, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.UpTo(ctx, from); err != nil {
				t.Fatal(err)
			}
			exec := func(q string) {
				t.Helper()
				if d == schema.Postgres {
					q = strings.NewReplacer("jsonb(", "(", "UNIX", "now()").Replace(q)
				} else {
					q = strings.ReplaceAll(q, "UNIX", "0")
				}
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec(`INSERT INTO namespaces (name, metadata, indexes, created_at) VALUES ('people', jsonb('{}'), '["age"]', UNIX)`)
			// From version 7 an entry carries the revision of its change.
			revCols, revs, revFrom := "", "", ""
			if from >= 7 {
				next := "(SELECT current + 1 FROM revision_counter WHERE id = 1)"
				if d == schema.Postgres {
					next = "storage_next_revision()"
				}
				revCols, revs, revFrom = ", revision, create_revision", ", r.r, r.r", ", (SELECT "+next+" AS r) AS r"
			}
			for i := range 50 {
				exec(fmt.Sprintf(`INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at%s) `+
					`SELECT id, 'k%02d', jsonb('{"age": %d}'), jsonb('{}'), 1, UNIX, UNIX%s FROM namespaces%s WHERE name = 'people'`, revCols, i, i%10, revs, revFrom))
			}
			legacy := "entries_ix_00112233445566778899"
			if from >= 6 {
				legacy = "entries_ns1_00112233445566778899"
			}
			exec(`CREATE INDEX ` + legacy + ` ON entries (namespace_id, created_at) WHERE namespace_id > 0`)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			check := func() *Store {
				t.Helper()
				s := openTest(t, dsn)
				v, err := s.eng.schemaVersion(ctx)
				if err != nil || v < 9 {
					t.Fatalf("schema version %d, %v", v, err)
				}
				if got := physicalIndexes(t, s); !slices.Equal(got, wantIndexes(t, s, "people", "age")) {
					t.Errorf("indexes after the migration: %v", got)
				}
				if left := entriesIndexes(t, s); len(left) != 0 {
					t.Errorf("indexes of version %d left: %v", from, left)
				}
				if got := nsIndexes(t, s, "people"); !slices.Equal(got, []string{"age"}) {
					t.Errorf("declared: %v", got)
				}
				res, err := s.Query(ctx, storage.And(storage.Gte("age", 3), storage.Lt("age", 5)), storage.InNamespace("people"),
					storage.SortBy(storage.Desc("age")), storage.Limit(3))
				if err != nil {
					t.Fatal(err)
				}
				var keys []string
				for _, e := range res.Entries {
					keys = append(keys, e.Key)
				}
				if want := []string{"k04", "k14", "k24"}; !slices.Equal(keys, want) {
					t.Errorf("query after the migration: %v, want %v", keys, want)
				}
				return s
			}
			s := check()
			// Down to 5, with the migrator of a store at 5.
			var down *sql.DB
			if b := s.Backend(); b.Pool != nil {
				down = stdlib.OpenDBFromPool(b.Pool)
			} else {
				down = b.Writer
			}
			m, err = schema.NewMigrator(d, down, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.DownTo(ctx, from); err != nil {
				t.Fatal(err)
			}
			// Down drops the tables.
			var tables int
			stmt := `SELECT count(*) FROM sqlite_schema WHERE name IN ('index_fields', 'index_entries')`
			if d == schema.Postgres {
				stmt = `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename IN ('index_fields', 'index_entries')`
			}
			if err := down.QueryRowContext(ctx, stmt).Scan(&tables); err != nil || tables != 0 {
				t.Errorf("Down to %d left %d tables, %v", from, tables, err)
			}
			if b := s.Backend(); b.Pool != nil {
				_ = down.Close()
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			check().Close()
		}
	}
}

// entriesIndexes lists the indexes on entries other than those of the
// migrations (the primary key, entries_expires_at): the physical declared
// indexes of versions before 9.
func entriesIndexes(t *testing.T, s *Store) []string {
	t.Helper()
	stmt := `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'entries' AND name NOT LIKE 'sqlite_autoindex%' AND name <> 'entries_expires_at'`
	if s.Dialect() == "postgres" {
		stmt = `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'entries' AND indexname NOT IN ('entries_pkey', 'entries_expires_at')`
	}
	var names []string
	err := s.eng.reader().queryRows(t.Context(), stmt, nil, func(r rowScanner) error {
		var n string
		err := r.Scan(&n)
		names = append(names, n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
