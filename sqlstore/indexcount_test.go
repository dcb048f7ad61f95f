package sqlstore

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/schema"
	"github.com/mycelia-kernel/storage/storetest"
)

var fileConfigs = []testConfig{{name: "sqlite-file", dsn: testdb.SQLiteFile}, {name: "postgres", dsn: newPGSchema}}

// TestCountFromIndexAlone checks that a Count whose filter a declared
// index answers exactly reads index_entries alone (no lookup of each
// matching entry), that one with a residual still reads entries, and that
// both count right.
func TestCountFromIndexAlone(t *testing.T) {
	for _, c := range fileConfigs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			if err := s.CreateNamespace(ctx, "cx", storage.WithIndexes("n", "s")); err != nil {
				t.Fatal(err)
			}
			var items []storage.Item
			for i := range 2000 {
				items = append(items, storage.Item{Key: fmt.Sprintf("k%04d", i), Value: map[string]any{"n": i % 100, "s": fmt.Sprintf("s%03d", i%50)}})
			}
			if res, err := s.SetMany(ctx, items, storage.InNamespace("cx")); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			pgStmt := "EXPLAIN (COSTS OFF) "
			for _, tc := range []struct {
				name  string
				f     storage.Filter
				want  int64
				alone bool
			}{
				{"eq", storage.Eq("n", 7), 20, true},
				{"in", storage.In("n", 1, 2, 3), 60, true},
				{"range", storage.And(storage.Gte("n", 10), storage.Lt("n", 20)), 200, true},
				{"startsWith", storage.StartsWith("s", "s01"), 400, true},
				{"eq and a residual", storage.And(storage.Eq("n", 7), storage.Contains("s", "0")), 20, false},
			} {
				n, err := s.Count(ctx, storage.InNamespace("cx"), storage.Where(tc.f))
				if err != nil || n != tc.want {
					t.Errorf("%s: Count = %d, %v; want %d", tc.name, n, err, tc.want)
				}
				o, err := driver.ResolveOptions("count", driver.KindNamespace|driver.KindFilter,
					[]driver.Option{storage.InNamespace("cx"), storage.Where(tc.f)})
				if err != nil {
					t.Fatal(err)
				}
				err = s.withNamespaceID(ctx, "cx", func(nsi nsInfo) (bool, error) {
					q, args, err := s.countStatement(o, nsi, s.now())
					if err != nil {
						return false, err
					}
					plan := explainPlan(t, s, pgStmt, q, args)
					readsEntries := strings.Contains(strings.ReplaceAll(plan, "index_entries", ""), "entries")
					if readsEntries == tc.alone {
						t.Errorf("%s: reads entries %v, want %v:\n%s\n%s", tc.name, readsEntries, !tc.alone, q, plan)
					}
					return true, nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestMigrationIndexExpiry takes a store with declared indexes and
// expiring entries down to schema version 13 (index_entries without
// ix_exp), changes expiries there, and opens it again: migration 00014
// copies every entry's expiry into index_entries, and Counts answered
// from the index agree with the entries.
func TestMigrationIndexExpiry(t *testing.T) {
	for _, c := range fileConfigs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := c.dsn(t)
			clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
			t0 := clock.Now()
			open := func() *Store { return openTest(t, dsn, WithClock(clock.Now), WithSweepInterval(-1)) }
			s := open()
			if err := s.CreateNamespace(ctx, "mx", storage.WithIndexes("n")); err != nil {
				t.Fatal(err)
			}
			expiry := map[int]time.Time{}
			for i := range 40 {
				var opts []storage.Option
				if i%5 != 0 {
					expiry[i] = t0.Add(time.Duration(i%5) * 10 * time.Second)
					opts = append(opts, storage.ExpiresAt(expiry[i]))
				}
				if err := s.Set(ctx, fmt.Sprintf("k%02d", i), map[string]any{"n": i % 4}, append(opts, storage.InNamespace("mx"))...); err != nil {
					t.Fatal(err)
				}
			}
			var db *sql.DB
			var d schema.Dialect
			var mopts []schema.Option
			if b := s.Backend(); b.Pool != nil {
				db, d = stdlib.OpenDBFromPool(b.Pool), schema.Postgres
				defer db.Close()
			} else {
				path, _ := strings.CutPrefix(dsn, "sqlite:")
				db, d, mopts = b.Writer, schema.SQLite, []schema.Option{schema.WithSQLiteFile(path)}
			}
			m, err := schema.NewMigrator(d, db, mopts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.DownTo(ctx, 13); err != nil {
				t.Fatal(err)
			}
			// At version 13: expiries cleared by hand, which the
			// index rows of 13 do not hold.
			if _, err := db.ExecContext(ctx, `UPDATE entries SET expires_at = NULL WHERE key < 'k10'`); err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				delete(expiry, i)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open()
			t.Cleanup(func() { _ = s.Close() })
			var stale int
			q := `SELECT count(*) FROM index_entries i JOIN entries e ON e.namespace_id = i.ix_ns AND e.key = i.ix_key
WHERE i.ix_exp IS NOT e.expires_at OR (i.ix_exp IS NULL) <> (e.expires_at IS NULL)`
			if s.Dialect() == "postgres" {
				q = `SELECT count(*) FROM index_entries i JOIN entries e ON e.namespace_id = i.ix_ns AND e.key = i.ix_key
WHERE i.ix_exp IS DISTINCT FROM e.expires_at`
			}
			if err := s.eng.reader().queryRows(ctx, q, nil, func(r rowScanner) error { return r.Scan(&stale) }); err != nil || stale != 0 {
				t.Errorf("after the migration, %d index rows carry another expiry than their entry (%v)", stale, err)
			}
			clock.Set(t0.Add(25 * time.Second))
			for v := range 4 {
				want := 0
				for i := v; i < 40; i += 4 {
					if e, ok := expiry[i]; !ok || e.After(clock.Now()) {
						want++
					}
				}
				n, err := s.Count(ctx, storage.InNamespace("mx"), storage.Where(storage.Eq("n", v)))
				if err != nil || n != int64(want) {
					t.Errorf("Count(n = %d) = %d, %v; want %d", v, n, err, want)
				}
			}
		})
	}
}
