package sqlstore

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// TestTieGroupCursorSeeks: the cursor page of a descending sort on a
// declared string field, whose cursor sits deep in a big group of ties,
// reads the rest of that group (buildTieQuery) from the cursor's key, not
// from the group's start. The cursor's key bound sat inside the keyset's
// OR, beside the comparison of the whole string that orders strings
// sharing the index's 256-character prefix: on PostgreSQL a filter after
// the join to entries, so the statement joined every tie before the
// cursor (issue 13, bench/results/2026-12-02-idx1m.md section 3). Pages
// of every size still list the sort's order, the group of long strings
// that share a prefix included.
func TestTieGroupCursorSeeks(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			if err := s.CreateNamespace(ctx, "ties", storage.WithIndexes("name")); err != nil {
				t.Fatal(err)
			}
			const group = 600 // ties of "same"
			type row struct{ key, name string }
			var want []row
			var items []storage.Item
			add := func(key, name string) {
				want = append(want, row{key, name})
				items = append(items, storage.Item{Key: key, Value: map[string]any{"name": name}})
			}
			for i := range group {
				add(fmt.Sprintf("t%04d", i), "same")
			}
			for i := range 40 {
				add(fmt.Sprintf("z%04d", i), fmt.Sprintf("z%03d", i%25))
			}
			// Strings longer than PostgreSQL's indexed prefix, sharing it.
			long := strings.Repeat("m", 300)
			for i := range 30 {
				add(fmt.Sprintf("m%04d", i), long+fmt.Sprintf("%02d", (i*7)%11))
			}
			res, err := s.SetMany(ctx, items, storage.InNamespace("ties"))
			if err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			slices.SortFunc(want, func(a, b row) int {
				if d := strings.Compare(b.name, a.name); d != 0 {
					return d
				}
				return strings.Compare(a.key, b.key)
			})
			sort := storage.SortBy(storage.Desc("name"))
			for _, limit := range []int{1, 7, 250, 1000} {
				var got []string
				cur := ""
				for {
					opts := []storage.Option{storage.InNamespace("ties"), storage.Limit(limit), sort}
					if cur != "" {
						opts = append(opts, storage.After(cur))
					}
					page, err := s.Query(ctx, storage.All(), opts...)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range page.Entries {
						got = append(got, e.Key)
					}
					if cur = page.Cursor; cur == "" || len(got) > len(want) {
						break
					}
				}
				wantKeys := make([]string, len(want))
				for i, r := range want {
					wantKeys[i] = r.key
				}
				if !slices.Equal(got, wantKeys) {
					t.Errorf("limit %d: pages list %d keys\n%v\nwant %d\n%v", limit, len(got), got, len(wantKeys), wantKeys)
				}
			}

			// A cursor after 400 of the group's 600 ties, then a page of 2.
			first, err := s.Query(ctx, storage.All(), storage.InNamespace("ties"), storage.Limit(40+400), sort)
			if err != nil {
				t.Fatal(err)
			}
			if last := first.Entries[len(first.Entries)-1]; last.Key != "t0399" {
				t.Fatalf("the first page ends at %q, want t0399", last.Key)
			}
			st := pageStatement(t, s, "ties", []storage.Option{storage.InNamespace("ties"), storage.Limit(2), sort, storage.After(first.Cursor)})
			o, p, nsi, now, q, args, sorts := st.o, st.p, st.nsi, st.now, st.q, st.args, st.sorts
			rows, _, err := s.queryRows(ctx, q, args, sorts, "ties", 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 3 || !reversedTies(o) {
				t.Fatalf("the cursor page's statement read %d rows, want 3 (reversedTies %v)", len(rows), reversedTies(o))
			}
			q, args, err = s.buildTieQuery(p, o, nsi, now, rows[o.Limit].sortValues(sorts), 3)
			if err != nil {
				t.Fatal(err)
			}
			if s.Dialect() == "postgres" {
				plan := explainPlan(t, s, "EXPLAIN (ANALYZE, BUFFERS) ", q, args)
				t.Logf("the statement of the last group of ties:\n%s\nSQL: %s", plan, q)
				checkPGSeek(t, s, "cursor page (last group of ties)", plan, 3, 1)
				if !strings.Contains(plan, "(ix_key > ") {
					t.Errorf("the key bound is not an index condition:\n%s\nSQL: %s", plan, q)
				}
			} else {
				plan := explainPlan(t, s, "", q, args)
				t.Logf("the statement of the last group of ties:\n%s\nSQL: %s", plan, q)
				if !strings.Contains(plan, "SEARCH ix USING PRIMARY KEY (ix_ns=? AND ix_field=? AND ix_rank=? AND ix_num=? AND ix_str=? AND ix_key>?)") {
					t.Errorf("the statement does not seek the group from the cursor's key:\n%s\nSQL: %s", plan, q)
				}
			}
			ties, _, err := s.queryRows(ctx, q, args, sorts, "ties", 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range ties {
				keys = append(keys, r.en.Key)
			}
			if !slices.Equal(keys, []string{"t0400", "t0401", "t0402"}) {
				t.Errorf("the statement of the last group of ties read %v, want [t0400 t0401 t0402]", keys)
			}
		})
	}
}

// TestCursorPageSkipsInIndex: the cursor page of a descending sort whose
// cursor ends a big group of ties skips the group's rows in the index.
// Its statement reads the index backwards from the group's top, where the
// rows before the cursor come first; on PostgreSQL the keyset compared
// the whole string too (read from the entry), so each skipped row was
// joined to entries (1,000 ties: thousands of buffers for a page of 20).
// A cursor whose string is shorter than the indexed prefix needs only the
// index's columns.
func TestCursorPageSkipsInIndex(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			if err := s.CreateNamespace(ctx, "skip", storage.WithIndexes("g")); err != nil {
				t.Fatal(err)
			}
			items := make([]storage.Item, 1500)
			for i := range items {
				g := "a"
				if i%3 == 0 {
					g = "b" // 500 ties, first in the descending order
				}
				items[i] = storage.Item{Key: fmt.Sprintf("k%04d", i), Value: map[string]any{"g": g}}
			}
			res, err := s.SetMany(ctx, items, storage.InNamespace("skip"))
			if err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			if s.Dialect() == "postgres" {
				// The index-only scan reads no heap page for a visible row.
				if _, err := s.eng.writer().exec(ctx, "VACUUM ANALYZE index_entries"); err != nil {
					t.Fatal(err)
				}
			}
			sort := storage.SortBy(storage.Desc("g"))
			first, err := s.Query(ctx, storage.All(), storage.InNamespace("skip"), storage.Limit(500), sort)
			if err != nil {
				t.Fatal(err)
			}
			opts := []storage.Option{storage.InNamespace("skip"), storage.Limit(20), sort, storage.After(first.Cursor)}
			page, err := s.Query(ctx, storage.All(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Entries) != 20 || page.Entries[0].Key != "k0001" || page.Entries[19].Key != "k0029" {
				t.Fatalf("the cursor page lists %d entries from %v", len(page.Entries), page.Entries[0].Key)
			}
			st := pageStatement(t, s, "skip", opts)
			q, args := st.q, st.args
			if s.Dialect() == "postgres" { // SQLite's index holds whole strings
				plan := explainPlan(t, s, "EXPLAIN (ANALYZE, BUFFERS) ", q, args)
				t.Logf("cursor page plan:\n%s\nSQL: %s", plan, q)
				checkPGSeek(t, s, "cursor page", plan, 21, 1)
			}
		})
	}
}

// pageStmt is the statement of a Query page in the namespace ns, and what
// buildTieQuery needs to write the page's statement of a group of ties.
type pageStmt struct {
	o     driver.CallOptions
	p     queryPrep
	nsi   nsInfo
	now   time.Time
	q     string
	args  []any
	sorts []sortCol
}

// pageStatement returns the statement of Query(All(), opts...) in ns.
func pageStatement(t *testing.T, s *Store, ns string, opts []storage.Option) pageStmt {
	t.Helper()
	var st pageStmt
	var err error
	if st.o, err = driver.ResolveOptions("query", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindCursor, opts); err != nil {
		t.Fatal(err)
	}
	if st.nsi, err = s.readNamespace(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	if st.p, err = prepareQuery(storage.All(), st.o); err != nil {
		t.Fatal(err)
	}
	st.now = s.now()
	if st.q, st.args, st.sorts, err = s.buildQuery(t.Context(), &st.p, st.o, st.nsi, st.now); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestCursorPageSeeksPosition: the statement of a cursor page deep in a
// sort on a declared field that the filter does not pin to a type starts
// its index scan at the cursor's position. On PostgreSQL its leading bound
// was the type rank alone (ix_rank <= 5), the rest of the keyset a filter:
// the page after 2,000 rows read all 2,000 (61-77 buffers for 3 rows;
// 507,113 buffers and 390 ms after 500,000 rows of 1M, growing with the
// depth). Now the keyset is a row comparison on the index's rank,
// number, string (and key, ascending), an index condition
// (dialect.indexRowKeyset): 16 buffers.
func TestCursorPageSeeksPosition(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			if err := s.CreateNamespace(ctx, "deep", storage.WithIndexes("name", "age")); err != nil {
				t.Fatal(err)
			}
			const n = 3000
			items := make([]storage.Item, n)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("k%04d", i), Value: map[string]any{"name": fmt.Sprintf("n%04d", i), "age": i}}
			}
			res, err := s.SetMany(ctx, items, storage.InNamespace("deep"))
			if err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			for _, sf := range []storage.SortField{storage.Desc("name"), storage.Asc("name"), storage.Desc("age"), storage.Asc("age")} {
				t.Run(fmt.Sprintf("%s-desc=%v", sf.Field, sf.Desc), func(t *testing.T) {
					sort := storage.SortBy(sf)
					first, err := s.Query(ctx, storage.All(), storage.InNamespace("deep"), storage.Limit(2000), sort)
					if err != nil {
						t.Fatal(err)
					}
					opts := []storage.Option{storage.InNamespace("deep"), storage.Limit(2), sort, storage.After(first.Cursor)}
					page, err := s.Query(ctx, storage.All(), opts...)
					if err != nil {
						t.Fatal(err)
					}
					want := []string{"k2000", "k2001"}
					if sf.Desc {
						want = []string{"k0999", "k0998"}
					}
					var got []string
					for _, e := range page.Entries {
						got = append(got, e.Key)
					}
					if !slices.Equal(got, want) {
						t.Errorf("the cursor page lists %v, want %v", got, want)
					}
					st := pageStatement(t, s, "deep", opts)
					q, args := st.q, st.args
					if s.Dialect() == "postgres" {
						plan := explainPlan(t, s, "EXPLAIN (ANALYZE, BUFFERS) ", q, args)
						t.Logf("cursor page plan:\n%s\nSQL: %s", plan, q)
						checkPGSeek(t, s, "cursor page", plan, 3, 1)
					} else {
						plan := explainPlan(t, s, "", q, args)
						t.Logf("cursor page plan:\n%s\nSQL: %s", plan, q)
						if !strings.Contains(plan, "SEARCH ix USING PRIMARY KEY (ix_ns=? AND ix_field=? AND (ix_rank,ix_num,ix_str") {
							t.Errorf("the plan does not start the search at the cursor's position:\n%s\nSQL: %s", plan, q)
						}
					}
				})
			}
		})
	}
}
