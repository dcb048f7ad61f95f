package sqlstore

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestIndexedSharedPrefixOrder compares Query with the reference evaluator
// for sorts on a declared field whose strings share PostgreSQL's indexed
// prefix (256 characters) in groups, with keys in another order than the
// strings, equal strings among them, and values of other types: both
// directions, every page size from 1 to past the groups, page by page
// with cursors, and with an offset. PostgreSQL's statement orders by the
// index's columns only and queryPage orders each group of strings that
// share a prefix (settle), reading the group cut by a page's end again.
func TestIndexedSharedPrefixOrder(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			in := storage.InNamespace("sp")
			if err := s.CreateNamespace(ctx, "sp", storage.WithIndexes("name")); err != nil {
				t.Fatal(err)
			}
			x, y := strings.Repeat("x", 256), strings.Repeat("y", 255)+"é"
			tails := []string{"", "", "a", "b", "b", "c", "é", "ab", "\U0001F600", "zz"}
			rng := rand.New(rand.NewPCG(13, 256))
			var items []storage.Item
			add := func(v any) {
				// Keys in random order against the values.
				items = append(items, storage.Item{Key: fmt.Sprintf("k%03d-%d", rng.IntN(1000), len(items)), Value: map[string]any{"name": v}})
			}
			for _, t := range tails {
				for range 1 + rng.IntN(3) {
					add(x + t)
					add(y + t)
				}
			}
			for _, v := range []any{"a", "x", strings.Repeat("x", 255), strings.Repeat("x", 255) + "é", strings.Repeat("x", 257), "z", 1, 2.5, true, nil} {
				add(v)
			}
			add(map[string]any{"o": 1})
			if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			all, err := s.Query(ctx, storage.All(), in)
			if err != nil {
				t.Fatal(err)
			}
			filters := []storage.Filter{
				storage.All(),
				storage.StartsWith("name", "x"),
				storage.StartsWith("name", x),
				storage.StartsWith("name", x+"b"),
				storage.Gte("name", x+"a"),
				storage.And(storage.Gt("name", strings.Repeat("x", 255)), storage.Lt("name", y)),
				storage.Exists("name", true),
			}
			for _, f := range filters {
				x, err := f.Compile()
				if err != nil {
					t.Fatal(err)
				}
				for _, desc := range []bool{false, true} {
					sort := storage.Asc("name")
					if desc {
						sort = storage.Desc("name")
					}
					want := refKeys(t, all.Entries, x, []storage.SortField{sort})
					what := fmt.Sprintf("%v sorted %v", f, sort)
					res, err := s.Query(ctx, f, in, storage.SortBy(sort))
					if err != nil {
						t.Fatal(err)
					}
					if got := entryKeys(res.Entries); !slices.Equal(got, want) {
						t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
					}
					checkPages(t, s, what, f, []storage.Option{in, storage.SortBy(sort)}, want, []int{1, 2, 3, 4, 5, 7, 11, 40, len(want)}, []int{1, 3})
				}
			}
		})
	}
}

// checkPages checks that Query of f with opts returns want page by page
// with cursors for each limit of limits, and each page of a limit with an
// offset of offsets; what names the case.
func checkPages(t *testing.T, s *Store, what string, f storage.Filter, opts []storage.Option, want []string, limits, offsets []int) {
	t.Helper()
	ctx := t.Context()
	for _, limit := range limits {
		var got []string
		for cur, pages := "", 0; ; pages++ {
			o := append(slices.Clone(opts), storage.Limit(limit))
			if cur != "" {
				o = append(o, storage.After(cur))
			}
			res, err := s.Query(ctx, f, o...)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, entryKeys(res.Entries)...)
			if cur = res.Cursor; cur == "" || pages > len(want) {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s, pages of %d:\n got %v\nwant %v", what, limit, got, want)
		}
		for _, off := range offsets {
			res, err := s.Query(ctx, f, append(slices.Clone(opts), storage.Limit(limit), storage.Offset(off))...)
			if err != nil {
				t.Fatal(err)
			}
			w := want[min(off, len(want)):]
			w = w[:min(limit, len(w))]
			if got := entryKeys(res.Entries); !slices.Equal(got, w) {
				t.Fatalf("%s, limit %d offset %d:\n got %v\nwant %v", what, limit, off, got, w)
			}
		}
	}
}

func entryKeys(es []storage.Entry) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.Key)
	}
	return out
}
