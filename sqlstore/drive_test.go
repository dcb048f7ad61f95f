package sqlstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestFilterDriveProbe compares Query with the reference evaluator for a
// filter on one declared field and a sort on another (drive.go), with the
// probe's K at 8 and the filter's field matching 0, K-1, K, K+1 and many
// index rows (some of them expired, which the probe counts and Query
// leaves out), with K at 1 and 1000 too (so that each count is seen from
// both decisions): eq, in, ranges, with a residual, sorts on a number
// field and on strings that share PostgreSQL's indexed prefix (ties and
// groups settle orders), both directions and two fields; every page size
// page by page with cursors (also with the decision alternating from
// page to page), offsets, and no limit. It checks which field
// drives each statement, also when the query cache already holds the
// statement of the same shape with the other decision.
func TestFilterDriveProbe(t *testing.T) {
	defer func(old int) { filterDriveRows = old }(filterDriveRows)
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			raceSkipsMemory(t, c)
			ctx := t.Context()
			clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1))
			defer s.Close()
			in := storage.InNamespace("fd")
			if err := s.CreateNamespace(ctx, "fd", storage.WithIndexes("city", "age", "name")); err != nil {
				t.Fatal(err)
			}
			// Cities of 7, 8 and 9 live entries, one of 8 index rows of
			// which 2 expire, and one of many.
			sizes := map[string]int{"k7": 7, "k8": 8, "k9": 9, "x8": 8, "big": 120}
			x := strings.Repeat("p", 256)
			names := []any{x, x + "a", x + "b", x + "b", x + "é", "a", "b", 3, nil, strings.Repeat("p", 255)}
			rng := rand.New(rand.NewPCG(13, 8))
			var items []storage.Item
			for _, city := range slices.Sorted(func(yield func(string) bool) {
				for k := range sizes {
					if !yield(k) {
						return
					}
				}
			}) {
				for i := range sizes[city] {
					v := map[string]any{"city": city, "age": rng.IntN(5), "name": names[rng.IntN(len(names))]}
					if rng.IntN(10) == 0 {
						delete(v, "age")
					} else if rng.IntN(10) == 0 {
						v["age"] = "old"
					}
					it := storage.Item{Key: fmt.Sprintf("k%03d-%s-%d", rng.IntN(1000), city, i), Value: v}
					if city == "x8" && i < 2 {
						it.TTL = time.Minute
					}
					items = append(items, it)
				}
			}
			if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			clock.Advance(time.Hour)
			all, err := s.Query(ctx, storage.All(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(all.Entries) != len(items)-2 {
				t.Fatalf("%d live entries, want %d", len(all.Entries), len(items)-2)
			}
			filters := []storage.Filter{
				storage.Eq("city", "none"), storage.Eq("city", "k7"), storage.Eq("city", "k8"), storage.Eq("city", "k9"),
				storage.Eq("city", "x8"), storage.Eq("city", "big"),
				storage.In("city", "k7", "none"), storage.In("city", "k7", "k9"),
				storage.And(storage.Eq("city", "k9"), storage.Gte("age", 2)),
				storage.And(storage.Gte("city", "k7"), storage.Lt("city", "k75")),
				storage.And(storage.Gte("city", "k7"), storage.Lte("city", "k9")),
				storage.And(storage.Gte("age", 1), storage.Lt("age", 2)),
			}
			sorts := [][]storage.SortField{
				{storage.Asc("age")}, {storage.Desc("age")}, {storage.Asc("name")}, {storage.Desc("name")},
				{storage.Asc("age"), storage.Desc("name")},
			}
			// K = 8 puts the counts of k7, k8, k9 on both sides of it; K = 1
			// sends every count but 0 to the sort's field; the pages with
			// alternating decisions (K = 1, then 1000) see the filter's
			// field drive every count.
			for _, k := range []int{8, 1} {
				filterDriveRows = k
				for _, f := range filters {
					ex, err := f.Compile()
					if err != nil {
						t.Fatal(err)
					}
					for _, sort := range sorts {
						want := refKeys(t, all.Entries, ex, sort)
						what := fmt.Sprintf("K=%d: %v sorted %v", k, f, sort)
						res, err := s.Query(ctx, f, in, storage.SortBy(sort...))
						if err != nil {
							t.Fatal(err)
						}
						if got := entryKeys(res.Entries); !slices.Equal(got, want) {
							t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
						}
						checkPages(t, s, what, f, []storage.Option{in, storage.SortBy(sort...)}, want, []int{2, 7, 40}, []int{3})
						if k == 8 {
							checkAlternatingPages(t, s, what, f, []storage.Option{in, storage.SortBy(sort...)}, want)
						}
					}
				}
			}
			// The decision: the filter's field drives when it selects
			// fewer than K index rows (expired ones count), or without a
			// limit; a warm cache holds both statements of one shape.
			filterDriveRows = 8
			nsi, err := s.readNamespace(ctx, "fd")
			if err != nil {
				t.Fatal(err)
			}
			cityDrives := "ix.ix_field = " + strconv.FormatInt(nsi.fields["city"], 10) + " "
			ageDrives := "ix.ix_field = " + strconv.FormatInt(nsi.fields["age"], 10) + " "
			for round := range 2 {
				for _, tc := range []struct {
					f      storage.Filter
					limit  int
					filter bool
				}{
					{storage.Eq("city", "none"), 5, true},
					{storage.Eq("city", "k7"), 5, true},
					{storage.Eq("city", "k8"), 5, false},
					{storage.Eq("city", "k9"), 5, false},
					{storage.Eq("city", "x8"), 5, false}, // 6 live, 8 index rows
					{storage.Eq("city", "big"), 5, false},
					{storage.Eq("city", "big"), -1, true},
					{storage.In("city", "k7", "none"), 5, true},
					{storage.In("city", "k7", "k9"), 5, false},
					{storage.And(storage.Gte("city", "k7"), storage.Lt("city", "k75")), 5, true},
					{storage.And(storage.Gte("city", "k7"), storage.Lte("city", "k9")), 5, false},
					{storage.And(storage.Eq("city", "k7"), storage.Eq("age", 1)), 5, false}, // the sort field is pinned
				} {
					opts := []storage.Option{in, storage.SortBy(storage.Desc("age"))}
					if tc.limit >= 0 {
						opts = append(opts, storage.Limit(tc.limit))
					}
					o, err := driver.ResolveOptions("query", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindCursor, opts)
					if err != nil {
						t.Fatal(err)
					}
					p, err := prepareQuery(tc.f, o)
					if err != nil {
						t.Fatal(err)
					}
					q, _, _, err := s.buildQuery(ctx, &p, o, nsi, s.now())
					if err != nil {
						t.Fatal(err)
					}
					drives := ageDrives
					if tc.filter {
						drives = cityDrives
					}
					if p.byFilter != tc.filter || !strings.Contains(q, drives) {
						t.Errorf("round %d: %v limit %d: byFilter %v, want %v; SQL %s", round, tc.f, tc.limit, p.byFilter, tc.filter, q)
					}
				}
			}
		})
	}
}

// refKeys is the reference evaluator's answer for filter ex sorted by
// sort over entries: the keys of the matches, in order.
func refKeys(t *testing.T, entries []storage.Entry, ex driver.Expr, sort []storage.SortField) []string {
	t.Helper()
	var m []storage.Entry
	for _, e := range entries {
		if storetest.RefMatch(ex, e) {
			m = append(m, e)
		}
	}
	if err := storetest.RefSort(m, sort); err != nil {
		t.Fatal(err)
	}
	return entryKeys(m)
}

// checkAlternatingPages checks that Query of f with opts returns want in
// pages of 2 with the probe's K alternating between 1 and 1000 from page
// to page: a cursor made under one decision continues under the other
// (each page decides for itself, as the data may change between pages;
// the cursor is a position in the sort's order). It leaves K as it found
// it (it left it at 1000, and TestFilterDriveProbe's later cases at K = 8
// ran at 1000).
func checkAlternatingPages(t *testing.T, s *Store, what string, f storage.Filter, opts []storage.Option, want []string) {
	t.Helper()
	defer func(old int) { filterDriveRows = old }(filterDriveRows)
	var got []string
	for cur, page := "", 0; page <= len(want); page++ {
		filterDriveRows = []int{1, 1000}[page%2]
		o := append(slices.Clone(opts), storage.Limit(2))
		if cur != "" {
			o = append(o, storage.After(cur))
		}
		res, err := s.Query(t.Context(), f, o...)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, entryKeys(res.Entries)...)
		if cur = res.Cursor; cur == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s, pages of 2 under alternating decisions:\n got %v\nwant %v", what, got, want)
	}
}

// TestDriveK: the probe's K follows sqrt(21·N) in steps of 1000·2^(j/2),
// within its floor and ceiling (drive.go).
func TestDriveK(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want int
	}{
		{-1, 1000}, {0, 1000}, {10_000, 1000}, {47_619, 1000}, {100_000, 1414}, {200_000, 2000},
		{1_000_000, 4000}, {2_000_000, 5657}, {10_000_000, 16000}, {1 << 40, 16000},
	} {
		if got := driveK(c.n); got != c.want {
			t.Errorf("driveK(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

// TestFilterDriveFollowsSize: with K left to the store (filterDriveRows
// 0), a filter on one declared field matching 1,500 entries, sorted by
// another, is driven by the sort's field in a namespace of 2,500 entries
// (K at its floor, 1000) and by the filter's field once the namespace
// counts 1M entries (K 4000), whose count the store reads again after
// nsRowsTTL only; answers equal the reference evaluator's either way.
func TestFilterDriveFollowsSize(t *testing.T) {
	defer func(old int) { filterDriveRows = old }(filterDriveRows)
	filterDriveRows = 0
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			raceSkipsMemory(t, c)
			ctx := t.Context()
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			defer s.Close()
			in := storage.InNamespace("sz")
			must(t, s.CreateNamespace(ctx, "sz", storage.WithIndexes("city", "age")))
			items := make([]storage.Item, 2500)
			for i := range items {
				city := "big"
				if i%5 < 3 {
					city = "mid"
				}
				items[i] = storage.Item{Key: fmt.Sprintf("k%05d", i), Value: map[string]any{"city": city, "age": (i * 7919) % 2500}}
			}
			if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			all, err := s.Query(ctx, storage.All(), in)
			if err != nil {
				t.Fatal(err)
			}
			f, sort := storage.Eq("city", "mid"), []storage.SortField{storage.Asc("age")}
			ex, err := f.Compile()
			if err != nil {
				t.Fatal(err)
			}
			want := refKeys(t, all.Entries, ex, sort)[:20]
			nsi, err := s.readNamespace(ctx, "sz")
			if err != nil {
				t.Fatal(err)
			}
			decide := func(what string, byFilter bool) {
				t.Helper()
				opts := []storage.Option{in, storage.SortBy(sort...), storage.Limit(20)}
				o, err := driver.ResolveOptions("query", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindCursor, opts)
				if err != nil {
					t.Fatal(err)
				}
				p, err := prepareQuery(f, o)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, _, err := s.buildQuery(ctx, &p, o, nsi, s.now()); err != nil {
					t.Fatal(err)
				}
				if p.byFilter != byFilter {
					t.Errorf("%s: byFilter %v, want %v", what, p.byFilter, byFilter)
				}
				res, err := s.Query(ctx, f, opts...)
				if err != nil {
					t.Fatal(err)
				}
				if got := entryKeys(res.Entries); !slices.Equal(got, want) {
					t.Errorf("%s:\n got %v\nwant %v", what, got, want)
				}
			}
			decide("2,500 entries", false)
			if _, err := s.eng.writer().exec(ctx, "UPDATE namespaces SET entry_count = 1000000 WHERE id = "+strconv.FormatInt(nsi.id, 10)); err != nil {
				t.Fatal(err)
			}
			decide("1M entries, the count of 2,500 still kept", false)
			r, ok := s.nsRows.get(nsi.id, nsRowsMax)
			if !ok {
				t.Fatal("the namespace's entry count was not kept")
			}
			r.at = r.at.Add(-nsRowsTTL)
			s.nsRows.put(nsi.id, r, nsRowsMax)
			decide("1M entries, read again", true)
		})
	}
}

// TestDriveRowsBounded: the counts driveRows keeps for the probe's K stay
// within nsRowsMax namespaces however many namespaces a store queries (a
// store that creates, queries and deletes namespaces for hours must not
// keep one count per namespace it ever queried: PostgreSQL never reuses
// an id), and a query after the counts were dropped still answers.
func TestDriveRowsBounded(t *testing.T) {
	defer func(old int) { filterDriveRows = old }(filterDriveRows)
	defer func(old int64) { nsRowsMax = old }(nsRowsMax)
	filterDriveRows, nsRowsMax = 0, 4
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			defer s.Close()
			kept := s.nsRows.len
			for i := range 11 {
				ns := fmt.Sprintf("b%02d", i)
				in := storage.InNamespace(ns)
				must(t, s.CreateNamespace(ctx, ns, storage.WithIndexes("city", "age")))
				items := []storage.Item{
					{Key: "a", Value: map[string]any{"city": "x", "age": 2}},
					{Key: "b", Value: map[string]any{"city": "x", "age": 1}},
					{Key: "c", Value: map[string]any{"city": "y", "age": 0}},
				}
				if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
					t.Fatalf("SetMany: %v %v", err, res.Err())
				}
				r, err := s.Query(ctx, storage.Eq("city", "x"), in, storage.SortBy(storage.Asc("age")), storage.Limit(20))
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Entries) != 2 || r.Entries[0].Key != "b" || r.Entries[1].Key != "a" {
					t.Fatalf("%s: got %v", ns, r.Entries)
				}
				if n := kept(); n == 0 || n > 2*int(nsRowsMax)+1 {
					t.Fatalf("after %d namespaces, %d counts kept (bound %d a generation)", i+1, n, nsRowsMax)
				}
				if i%2 == 1 {
					must(t, s.DeleteNamespace(ctx, ns, storage.Recursive()))
				}
			}
		})
	}
}
