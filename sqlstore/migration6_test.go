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
	"github.com/mycelia-kernel/storage/internal/testdb"
	"github.com/mycelia-kernel/storage/schema"
)

// TestMigration6 converts a store populated at schema version 5 (a
// namespace that declared "age", its entries, and one of the shared
// entries_ix_* indexes of that version): Open migrates it, drops the shared
// index and builds the namespace's own from namespaces.indexes; queries
// answer the same; Down to 5 drops the per-namespace indexes on PostgreSQL
// (SQLite keeps them: its Down is a marker), and opening again converts it
// again.
func TestMigration6(t *testing.T) {
	for _, c := range []testConfig{{name: "sqlite-file", dsn: testdb.SQLiteFile}, {name: "postgres", dsn: newPGSchema}} {
		t.Run(c.name, func(t *testing.T) {
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
			if _, err := m.UpTo(ctx, 5); err != nil {
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
			for i := range 50 {
				exec(fmt.Sprintf(`INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at) `+
					`SELECT id, 'k%02d', jsonb('{"age": %d}'), jsonb('{}'), 1, UNIX, UNIX FROM namespaces WHERE name = 'people'`, i, i%10))
			}
			exec(`CREATE INDEX entries_ix_00112233445566778899 ON entries (namespace_id, created_at)`)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			check := func() *Store {
				t.Helper()
				s := openTest(t, dsn)
				v, err := s.eng.schemaVersion(ctx)
				if err != nil || v < 6 {
					t.Fatalf("schema version %d, %v", v, err)
				}
				if got := physicalIndexes(t, s); !slices.Equal(got, wantIndexes(t, s, "people", "age")) {
					t.Errorf("indexes after the migration: %v", got)
				}
				if legacy, err := s.physicalIndexes(ctx, s.eng.reader(), "entries_ix_"); err != nil || len(legacy) != 0 {
					t.Errorf("shared indexes left: %v, %v", legacy, err)
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
			if _, err := m.DownTo(ctx, 5); err != nil {
				t.Fatal(err)
			}
			left := physicalIndexes(t, s)
			if d == schema.Postgres && len(left) != 0 {
				t.Errorf("Down to 5 left %v", left)
			}
			if d == schema.Postgres {
				var n int
				if err := down.QueryRowContext(ctx, `SELECT count(*) FROM pg_statistic_ext WHERE stxnamespace = current_schema()::regnamespace AND starts_with(stxname, 'entries_ns')`).Scan(&n); err != nil || n != 0 {
					t.Errorf("Down to 5 left %d statistics objects, %v", n, err)
				}
			}
			if b := s.Backend(); b.Pool != nil {
				_ = down.Close()
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			check().Close()
		})
	}
}
