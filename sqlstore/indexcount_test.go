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
				{"in strings", storage.In("s", "s001", "s002"), 80, true},
				{"in numbers and strings", storage.In("n", 1, "s001", 2, nil), 40, true},
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
					// On SQLite the statement asks once whether any row of
					// the store has expired (entries_expires_at): not a
					// lookup of the matching entries.
					var lookups []string
					for _, l := range strings.Split(plan, "\n") {
						if !strings.Contains(l, "entries_expires_at") {
							lookups = append(lookups, l)
						}
					}
					readsEntries := strings.Contains(strings.ReplaceAll(strings.Join(lookups, "\n"), "index_entries", ""), "entries")
					if readsEntries == tc.alone {
						t.Errorf("%s: reads entries %v, want %v:\n%s\n%s", tc.name, readsEntries, !tc.alone, q, plan)
					}
					seek := "SEARCH ix USING PRIMARY KEY (ix_ns=? AND ix_field=? AND ix_rank=?"
					if s.Dialect() == "postgres" {
						seek = "Index Cond: ((ix_ns = "
					}
					// In seeks the index at each value (an IN list on the
					// number or string column), not the field's rows. (A
					// list of several types is an OR of such seeks, which
					// SQLite reads as a scan of the field's rows: known,
					// not checked here.)
					if tc.alone && (s.Dialect() == "postgres" || tc.name != "in numbers and strings") && !strings.Contains(plan, seek) {
						t.Errorf("%s: the plan does not seek the index:\n%s\n%s", tc.name, q, plan)
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

// TestCountFromIndexAloneExpired: a Count that index_entries answers
// alone leaves out the entries that have expired and wait for the sweeper,
// in its own namespace and while other namespaces hold expired entries, on
// every configuration (on SQLite, the statement's two branches: no row of
// the store expired, and some).
func TestCountFromIndexAloneExpired(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s, advance := openUnswept(t, c.dsn(t), "other")
			if err := s.CreateNamespace(ctx, "cx", storage.WithIndexes("n")); err != nil {
				t.Fatal(err)
			}
			cx := storage.InNamespace("cx")
			var keep, short, long []storage.Item
			for i := range 300 {
				it := storage.Item{Key: fmt.Sprintf("k%04d", i), Value: map[string]any{"n": i % 10}}
				switch i % 3 {
				case 0:
					keep = append(keep, it)
				case 1:
					short = append(short, it)
				default:
					long = append(long, it)
				}
			}
			for _, w := range []struct {
				items []storage.Item
				opts  []storage.Option
			}{{keep, nil}, {short, []storage.Option{storage.WithTTL(time.Minute)}}, {long, []storage.Option{storage.WithTTL(time.Hour)}}} {
				if res, err := s.SetMany(ctx, w.items, append(w.opts, cx)...); err != nil || !res.OK() {
					t.Fatal(res, err)
				}
			}
			if err := s.Set(ctx, "x", map[string]any{"n": 1}, storage.InNamespace("other"), storage.WithTTL(time.Second)); err != nil {
				t.Fatal(err)
			}
			f := storage.And(storage.Gte("n", 2), storage.Lt("n", 5)) // 90 entries, a third of each kind
			check := func(when string, want int64) {
				t.Helper()
				if n, err := s.Count(ctx, cx, storage.Where(f)); err != nil || n != want {
					t.Errorf("%s: Count = %d, %v; want %d", when, n, err, want)
				}
				if n, err := s.Count(ctx, cx, storage.Where(storage.Eq("n", 3))); err != nil || n != want/3 {
					t.Errorf("%s: Count(eq) = %d, %v; want %d", when, n, err, want/3)
				}
			}
			check("nothing expired", 90)
			advance(2 * time.Second)
			check("one entry of another namespace expired", 90)
			advance(2 * time.Minute)
			check("a third expired", 60)
			advance(2 * time.Hour)
			check("two thirds expired", 30)
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

// TestCountStaleIDs: namespace and field ids are never reused (migration
// 00028), so a Count or Query statement built with the namespace and field
// ids of an earlier read (nsInfo, cached) selects nothing once the field
// was declared again or the namespace created again, and Count and Query
// themselves, which then read the ids afresh, answer right. Dropping the
// largest field id and the namespace with the largest id used to let the
// next declaration or namespace take that id again (the statements then
// checked each cached id against its name; they no longer do).
func TestCountStaleIDs(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			// Every entry of a namespace has n = 1 and m = 1.
			fill := func(ns string, n int) {
				t.Helper()
				if err := s.CreateNamespace(ctx, ns, storage.WithIndexes("n")); err != nil {
					t.Fatal(err)
				}
				var items []storage.Item
				for i := range n {
					items = append(items, storage.Item{Key: fmt.Sprintf("k%d", i), Value: map[string]any{"n": 1, "m": 1}})
				}
				if res, err := s.SetMany(ctx, items, storage.InNamespace(ns)); err != nil || !res.OK() {
					t.Fatalf("SetMany: %v %v", err, res.Err())
				}
			}
			fill("st", 5)
			where := storage.Where(storage.Eq("n", 1))
			o, err := driver.ResolveOptions("count", driver.KindNamespace|driver.KindFilter, []driver.Option{storage.InNamespace("st"), where})
			if err != nil {
				t.Fatal(err)
			}
			qo, err := driver.ResolveOptions("query", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindCursor, []driver.Option{storage.InNamespace("st")})
			if err != nil {
				t.Fatal(err)
			}
			old, err := s.readNamespace(ctx, "st")
			if err != nil {
				t.Fatal(err)
			}
			countWith := func(nsi nsInfo) int64 {
				t.Helper()
				q, args, err := s.countStatement(o, nsi, s.now())
				if err != nil {
					t.Fatal(err)
				}
				var n int64
				if err := s.eng.reader().queryRows(ctx, q, args, func(r rowScanner) error { return r.Scan(&n) }); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return n
			}
			queryWith := func(nsi nsInfo) int {
				t.Helper()
				p, err := prepareQuery(storage.Eq("n", 1), qo)
				if err != nil {
					t.Fatal(err)
				}
				q, args, _, err := s.buildQuery(ctx, &p, qo, nsi, s.now())
				if err != nil {
					t.Fatal(err)
				}
				rows := 0
				if err := s.eng.reader().queryRows(ctx, q, args, func(rowScanner) error { rows++; return nil }); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return rows
			}
			check := func(when string) {
				t.Helper()
				if n := countWith(old); n != 0 {
					t.Errorf("%s: the Count statement of the old ids counts %d, want 0", when, n)
				}
				if n := queryWith(old); n != 0 {
					t.Errorf("%s: the Query statement of the old ids selects %d rows, want 0", when, n)
				}
				if n, err := s.Count(ctx, storage.InNamespace("st"), where); err != nil || n != 5 {
					t.Errorf("%s: Count = %d, %v; want 5", when, n, err)
				}
				if es, err := s.Query(ctx, storage.Eq("n", 1), storage.InNamespace("st")); err != nil || len(es.Entries) != 5 {
					t.Errorf("%s: Query = %d entries, %v; want 5", when, len(es.Entries), err)
				}
			}
			if n, m := countWith(old), queryWith(old); n != 5 || m != 5 {
				t.Fatalf("Count statement = %d, Query statement %d rows, want 5", n, m)
			}
			// n's index dropped (the largest field id) and declared again,
			// after m's: neither takes n's old id.
			if err := s.DropIndex(ctx, "st", "n"); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateIndex(ctx, "st", "m"); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateIndex(ctx, "st", "n"); err != nil {
				t.Fatal(err)
			}
			fresh, err := s.readNamespace(ctx, "st")
			if err != nil || fresh.fields["m"] <= old.fields["n"] || fresh.fields["n"] <= fresh.fields["m"] {
				t.Fatalf("field ids %v after %v (%v): want each new id above every earlier one", fresh.fields, old.fields, err)
			}
			check("field declared again")
			// st (the largest namespace id) deleted; other and st created
			// again: neither takes st's old id.
			if err := s.DeleteNamespace(ctx, "st", storage.Recursive()); err != nil {
				t.Fatal(err)
			}
			fill("other", 7)
			fill("st", 5)
			other, err1 := s.readNamespace(ctx, "other")
			fresh, err2 := s.readNamespace(ctx, "st")
			if err1 != nil || err2 != nil || other.id <= old.id || fresh.id <= other.id {
				t.Fatalf("namespace ids: other %d, st %d, old st %d (%v, %v): want each new id above every earlier one", other.id, fresh.id, old.id, err1, err2)
			}
			check("namespace created again")
		})
	}
}

// TestIDsNeverReusedAcrossStores: a Store whose cache holds the ids of a
// namespace and its declared field answers Count and Query right after
// another Store on the same database deleted that namespace (the one with
// the largest id) and created it again, with the same field declared, and
// after it dropped and declared the field again; and the ids the other
// Store gives, after a reopen too, are above every id given before.
func TestIDsNeverReusedAcrossStores(t *testing.T) {
	for _, c := range configs {
		if c.name == "sqlite-memory" { // one handle per memory database
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := c.dsn(t)
			a := openTest(t, dsn)
			t.Cleanup(func() { _ = a.Close() })
			b := openTest(t, dsn)
			in := storage.InNamespace("x")
			fill := func(s *Store, n int) {
				t.Helper()
				must(t, s.CreateNamespace(ctx, "x", storage.WithIndexes("n")))
				for i := range n {
					must(t, s.Set(ctx, fmt.Sprintf("k%d", i), map[string]any{"n": 1}, in))
				}
			}
			answers := func(when string, want int) {
				t.Helper()
				if n, err := a.Count(ctx, in, storage.Where(storage.Eq("n", 1))); err != nil || n != int64(want) {
					t.Errorf("%s: Count = %d, %v; want %d", when, n, err, want)
				}
				if es, err := a.Query(ctx, storage.Eq("n", 1), in); err != nil || len(es.Entries) != want {
					t.Errorf("%s: Query = %d entries, %v; want %d", when, len(es.Entries), err, want)
				}
			}
			ids := func(s *Store) nsInfo {
				t.Helper()
				n, err := s.readNamespace(ctx, "x")
				must(t, err)
				return n
			}
			// recreate deletes x with b and creates it again; redeclare
			// drops n's index with b and declares it again.
			recreate := func(n int) {
				t.Helper()
				before := ids(b)
				must(t, b.DeleteNamespace(ctx, "x", storage.Recursive()))
				fill(b, n)
				if after := ids(b); after.id <= before.id {
					t.Errorf("namespace id %d after %d: reused", after.id, before.id)
				}
			}
			redeclare := func() {
				t.Helper()
				before := ids(b)
				must(t, b.DropIndex(ctx, "x", "n"))
				must(t, b.CreateIndex(ctx, "x", "n"))
				if after := ids(b); after.fields["n"] <= before.fields["n"] {
					t.Errorf("field id %d after %d: reused", after.fields["n"], before.fields["n"])
				}
			}
			fill(a, 3)
			answers("first", 3) // a caches x's ids
			recreate(4)
			answers("namespace created again by another store", 4)
			redeclare()
			answers("field declared again by another store", 4)
			// The bounds survive a reopen: they are in the database.
			must(t, b.Close())
			b = openTest(t, dsn)
			t.Cleanup(func() { _ = b.Close() })
			redeclare()
			answers("field declared again after a reopen", 4)
			recreate(2)
			answers("namespace created again after a reopen", 2)
		})
	}
}
