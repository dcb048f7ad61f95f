package sqlstore

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestStaleFieldDuringDropIndex: a Store whose cache holds the id of a
// declared field answers Query and Count on it, while another Store on
// the same database (or the Store itself) drops that index, as it did
// before: declaring an index changes no answer, so neither does dropping
// one. On SQLite DropIndex drops the declaration in one short transaction
// and then the field's index rows a chunk at a time (dropIndexRows): a
// statement run with the cached field id read the rows left, found some,
// and kept its partial answer (the cache is read again only when a
// statement finds nothing). PostgreSQL drops the rows with the
// declaration.
func TestStaleFieldDuringDropIndex(t *testing.T) {
	for _, c := range configs[1:] { // two stores on one database
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			a, b := twoStores(t, c)
			in := storage.InNamespace("x")
			must(t, a.CreateNamespace(ctx, "x", storage.WithIndexes("n", "s")))
			const n = 100
			items := make([]storage.Item, n)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("k%03d", i), Value: map[string]any{"n": i, "s": fmt.Sprintf("s%03d", i)}}
			}
			if res, err := a.SetMany(ctx, items, in); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			all := func(from, to int) []string {
				var out []string
				for i := from; i < to; i++ {
					out = append(out, fmt.Sprintf("k%03d", i))
				}
				return out
			}
			answers := func(s *Store, who, when string) {
				t.Helper()
				type q struct {
					f    storage.Filter
					sort []storage.SortField
					want []string
				}
				for _, c := range []q{
					{storage.Gte("n", 0), nil, all(0, n)},
					{storage.Gte("n", 0), []storage.SortField{{Field: "n", Desc: true}}, rev(all(0, n))},
					{storage.Eq("n", 90), nil, all(90, 91)},
					{storage.In("n", 3, 97), nil, []string{"k003", "k097"}},
					{storage.StartsWith("s", "s0"), []storage.SortField{{Field: "n"}}, all(0, n)},
					{storage.All(), []storage.SortField{{Field: "n"}}, all(0, n)},
				} {
					opts := []storage.Option{in}
					if c.sort != nil {
						opts = append(opts, storage.SortBy(c.sort...))
					}
					res, err := s.Query(ctx, c.f, opts...)
					var got []string
					for _, e := range res.Entries {
						got = append(got, e.Key)
					}
					if err != nil || !slices.Equal(got, c.want) {
						t.Errorf("%s, %s: Query(%v, sort %v) = %d entries %v, %v; want %d", when, who, c.f, c.sort, len(got), firstKeys(got), err, len(c.want))
					}
					if cnt, err := s.Count(ctx, in, storage.Where(c.f)); err != nil || cnt != int64(len(c.want)) {
						t.Errorf("%s, %s: Count(%v) = %d, %v; want %d", when, who, c.f, cnt, err, len(c.want))
					}
				}
			}
			answers(a, "a", "before")
			answers(b, "b", "before") // both cache n's id
			defer func(c int) { indexBuildChunk = c }(indexBuildChunk)
			indexBuildChunk = 16
			chunks := 0
			dropIndexChunkHook = func() {
				chunks++
				answers(b, "another store", fmt.Sprintf("after chunk %d of the drop", chunks))
				answers(a, "the dropping store", fmt.Sprintf("after chunk %d of the drop", chunks))
			}
			defer func() { dropIndexChunkHook = nil }()
			must(t, a.DropIndex(ctx, "x", "n"))
			dropIndexChunkHook = nil
			t.Logf("%d chunks", chunks)
			answers(b, "b", "after")
			answers(a, "a", "after")
		})
	}
}

func firstKeys(keys []string) []string {
	if len(keys) > 4 {
		return append(keys[:4:4], "…")
	}
	return keys
}

func rev(keys []string) []string {
	out := slices.Clone(keys)
	slices.Reverse(out)
	return out
}
