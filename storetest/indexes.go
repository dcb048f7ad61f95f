package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// indexTests cover storage.Indexer, run where the store has it.
var indexTests = []test{
	{"CreateDrop", testIndexCreateDrop},
	{"AnyValue", testIndexAnyValue},
	{"Shapes", testIndexShapes},
}

func indexer(t *testing.T, st storage.Store) storage.Indexer {
	t.Helper()
	under := st
	if tx, ok := st.(*TxStore); ok {
		under = tx.Store // TxStore forwards index declarations to it
	}
	ix, ok := st.(storage.Indexer)
	if _, ok2 := under.(storage.Indexer); !ok || !ok2 {
		t.Skip("the store is not a storage.Indexer")
	}
	return ix
}

func declared(t *testing.T, st storage.Store, name string) []string {
	t.Helper()
	for _, n := range mustNamespaces(t, st) {
		if n.Name == name {
			return n.Indexes
		}
	}
	t.Fatalf("namespace %q not listed", name)
	return nil
}

// testIndexCreateDrop: CreateIndex on a namespace with data declares the
// field (Namespace.Indexes) and changes no answer; a duplicate, a missing
// namespace, a reserved root are typed errors; DropIndex withdraws it, and
// a second drop is ErrIndexNotFound.
func testIndexCreateDrop(t *testing.T, s *suite) {
	st := s.newStore(t)
	ix := indexer(t, st)
	ctx := t.Context()
	for i := range 40 {
		mustSet(t, st, fmt.Sprintf("k%02d", i), map[string]any{"age": i % 7, "name": fmt.Sprint("n", i%5)}, ns("p"))
	}
	f := storage.And(storage.Gte("age", 2), storage.Lt("age", 4))
	bySort := []storage.Option{ns("p"), storage.SortBy(storage.Desc("age"), storage.Asc("name")), storage.Limit(7)}
	before, beforeSorted := queryKeys(t, st, f, ns("p")), queryKeys(t, st, f, bySort...)
	noErr(t, ix.CreateIndex(ctx, "p", "age"), "CreateIndex")
	noErr(t, ix.CreateIndex(ctx, "p", "name"), "CreateIndex")
	if got := declared(t, st, "p"); !slices.Equal(got, []string{"age", "name"}) {
		t.Errorf("Indexes = %q, want [age name]", got)
	}
	if got := queryKeys(t, st, f, ns("p")); !slices.Equal(got, before) {
		t.Errorf("with the index: %v, want %v", got, before)
	}
	if got := queryKeys(t, st, f, bySort...); !slices.Equal(got, beforeSorted) {
		t.Errorf("sorted with the index: %v, want %v", got, beforeSorted)
	}
	wantErr(t, ix.CreateIndex(ctx, "p", "age"), storage.ErrIndexExists, "CreateIndex twice")
	wantErr(t, ix.CreateIndex(ctx, "nope", "age"), storage.ErrNamespaceNotFound, "CreateIndex on a missing namespace")
	wantErr(t, ix.CreateIndex(ctx, "p", "$key"), storage.ErrInvalidOption, "CreateIndex($key)")
	wantErr(t, ix.DropIndex(ctx, "p", "other"), storage.ErrIndexNotFound, "DropIndex of an undeclared field")
	if got := declared(t, st, "p"); !slices.Equal(got, []string{"age", "name"}) {
		t.Errorf("after refused calls: Indexes = %q, want [age name]", got)
	}
	noErr(t, ix.DropIndex(ctx, "p", "age"), "DropIndex")
	if got := declared(t, st, "p"); !slices.Equal(got, []string{"name"}) {
		t.Errorf("after DropIndex: Indexes = %q, want [name]", got)
	}
	wantErr(t, ix.DropIndex(ctx, "p", "age"), storage.ErrIndexNotFound, "DropIndex twice")
	if got := queryKeys(t, st, f, bySort...); !slices.Equal(got, beforeSorted) {
		t.Errorf("sorted after DropIndex: %v, want %v", got, beforeSorted)
	}
}

// testIndexAnyValue: a long string in an indexed field writes and is found,
// and an index in one namespace changes nothing for another's writes.
func testIndexAnyValue(t *testing.T, s *suite) {
	st := s.newStore(t)
	ix := indexer(t, st)
	noErr(t, st.CreateNamespace(t.Context(), "a"), "CreateNamespace")
	noErr(t, ix.CreateIndex(t.Context(), "a", "name"), "CreateIndex")
	long := strings.Repeat("é", 20000) // 40 kB
	for _, n := range []string{"a", "b"} {
		mustSet(t, st, "long", map[string]any{"name": long}, ns(n))
		mustSet(t, st, "short", map[string]any{"name": "x"}, ns(n))
		if got := queryKeys(t, st, storage.Eq("name", long), ns(n)); !slices.Equal(got, []string{"long"}) {
			t.Errorf("%s: eq on the long string: %v", n, got)
		}
		if got := queryKeys(t, st, storage.StartsWith("name", long[:600]), ns(n)); !slices.Equal(got, []string{"long"}) {
			t.Errorf("%s: startsWith a long prefix: %v", n, got)
		}
	}
}

// testIndexShapes runs the filter-and-sort shapes an index serves (eq, in,
// ranges, startsWith, each alone, sorted by the field ascending and
// descending, and sorted by key) on a field of mixed types with many ties,
// with and without the index declared, paging by cursor with small pages
// (a page boundary falls inside groups of equal values), and checks every
// answer against the reference evaluator: the index never changes one.
func testIndexShapes(t *testing.T, s *suite) {
	st := s.newStore(t)
	ix := indexer(t, st)
	ctx := t.Context()
	noErr(t, st.CreateNamespace(ctx, "mix"), "CreateNamespace")
	for i := range 45 {
		var v any
		switch i % 9 {
		case 0, 1, 2:
			v = i % 4 // numbers, ties of 3 to 5
		case 3, 4:
			v = fmt.Sprintf("s%d", i%3) // strings, ties
		case 5:
			v = i%2 == 0
		case 6:
			v = nil
		case 7:
			v = []any{i % 2}
		default: // missing
		}
		doc := map[string]any{"w": i % 5}
		if i%9 != 8 {
			doc["v"] = v
		}
		mustSet(t, st, fmt.Sprintf("k%02d", (i*17)%45), doc, ns("mix"))
	}
	all, err := st.Query(ctx, storage.All(), ns("mix"))
	noErr(t, err, "Query(All)")
	type shape struct {
		f     storage.Filter
		sort  []storage.SortField
		paged bool
	}
	var shapes []shape
	// paged: the sorts on v are also read in pages of 3 (a page's end
	// inside a group of ties) for a filter of each kind (none, a range, a
	// prefix); the rest in one page, which keeps the test quick in the
	// harnesses that run each operation in a transaction over HTTP.
	filters := []struct {
		f     storage.Filter
		paged bool
	}{
		{storage.All(), true},
		{storage.Eq("v", 2), false}, {storage.Eq("v", "s1"), false},
		{storage.In("v", 1, 3), false},
		{storage.And(storage.Gte("v", 1), storage.Lt("v", 3)), true},
		{storage.StartsWith("v", "s"), true},
		{storage.And(storage.Gte("v", 1), storage.Eq("w", 2)), false},
	}
	sorts := [][]storage.SortField{
		nil,
		{storage.Asc("v")}, {storage.Desc("v")},
		{storage.Asc("$key")}, {storage.Desc("$key")},
		{storage.Desc("v"), storage.Desc("w")},
	}
	for _, f := range filters {
		for _, by := range sorts {
			shapes = append(shapes, shape{f.f, by, f.paged && len(by) > 0 && by[0].Field == "v"})
		}
	}
	check := func(when string) {
		t.Helper()
		for _, sh := range shapes {
			x, err := sh.f.Compile()
			noErr(t, err, "Compile")
			var want []storage.Entry
			for _, e := range all.Entries {
				if RefMatch(x, e) {
					want = append(want, e)
				}
			}
			noErr(t, RefSort(want, sh.sort), "RefSort")
			wantKeys := []string{}
			for _, e := range want {
				wantKeys = append(wantKeys, e.Key)
			}
			limits := []int{50}
			if sh.paged {
				limits = append(limits, 3)
			}
			for _, limit := range limits {
				opts := []storage.Option{ns("mix"), storage.Limit(limit)}
				if sh.sort != nil {
					opts = append(opts, storage.SortBy(sh.sort...))
				}
				got := []string{}
				cursor := ""
				for page := 0; page < 40; page++ {
					popts := opts
					if cursor != "" {
						popts = append(slices.Clone(opts), storage.After(cursor))
					}
					res, err := st.Query(ctx, sh.f, popts...)
					noErr(t, err, "Query")
					for _, e := range res.Entries {
						got = append(got, e.Key)
					}
					if len(res.Entries) > limit {
						t.Fatalf("%s: %s sort %v: a page of %d entries, limit %d", when, mustJSON(t, sh.f), sh.sort, len(res.Entries), limit)
					}
					if cursor = res.Cursor; cursor == "" {
						break
					}
				}
				if !slices.Equal(got, wantKeys) {
					t.Errorf("%s: %s sort %v, pages of %d:\n got %v\nwant %v", when, mustJSON(t, sh.f), sh.sort, limit, got, wantKeys)
				}
			}
		}
	}
	check("without an index")
	noErr(t, ix.CreateIndex(ctx, "mix", "v"), "CreateIndex")
	noErr(t, ix.CreateIndex(ctx, "mix", "w"), "CreateIndex")
	check("with indexes on v and w")
}
