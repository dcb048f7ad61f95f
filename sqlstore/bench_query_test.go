package sqlstore

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// BenchmarkQueryScale measures how the query engine's costs grow with the
// size of a namespace: the same operations on 10k entries and, with
// STORAGE_BENCH_LARGE=1, on 1M entries, on SQLite (file) and PostgreSQL
// (when STORAGE_TEST_POSTGRES_DSN is set):
//
//   - QueryIndexedEq: Query(Eq("n", v)) on a declared index (one match);
//   - QueryIndexedRange: Query(n in [v, v+10)) (10 matches);
//   - QueryRangeSortLimit20: Query(n in [v, v+100), SortBy(n), Limit(20));
//   - CountFilter: Count(Where(n in [v, v+100))) (100 matches);
//   - ListPrefix: List(Pattern("key:00012*")) (100 keys);
//   - FirstPage and DeepPage: Query(All, Limit(100)) from the start, and
//     After a cursor at depth 100k (size/2 for the small namespace).
//
// The ones that report allocations report the query cache's misses per
// operation too (qcache-misses/op, from Store.QueryCacheStats). Compare
// the ns/op of the two sizes. Building 1M entries takes a minute or two
// per dialect:
//
//	STORAGE_BENCH_LARGE=1 go test -run '^$' -bench BenchmarkQueryScale -benchtime 2000x ./sqlstore
func BenchmarkQueryScale(b *testing.B) {
	sizes := []int{10_000}
	if os.Getenv("STORAGE_BENCH_LARGE") == "1" {
		sizes = append(sizes, 1_000_000)
	}
	for _, c := range configs {
		if c.name == "sqlite-memory" {
			continue
		}
		if c.name == "postgres" && os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
			continue
		}
		for _, size := range sizes {
			ctx := b.Context()
			dsn := c.dsn(b)
			s := openTest(b, dsn)
			if err := s.CreateNamespace(ctx, "bench", storage.WithIndexes("n")); err != nil {
				b.Fatal(err)
			}
			const batch = 10_000
			items := make([]storage.Item, 0, batch)
			for i := range size {
				items = append(items, storage.Item{Key: fmt.Sprintf("key:%07d", i),
					Value: map[string]any{"n": i, "s": fmt.Sprintf("name %d", i), "tags": []string{"a", "b"}}})
				if len(items) == batch || i == size-1 {
					res, err := s.SetMany(ctx, items, storage.InNamespace("bench"))
					if err != nil || !res.OK() {
						b.Fatalf("SetMany: %v %v", err, res.Err())
					}
					items = items[:0]
				}
			}
			// Statistics, and on PostgreSQL the visibility map that
			// autovacuum would build (index-only scans for List).
			analyze := "ANALYZE"
			if s.Dialect() == "postgres" {
				analyze = "VACUUM ANALYZE entries"
			}
			if _, err := s.eng.writer().exec(ctx, analyze); err != nil {
				b.Fatal(err)
			}
			_ = s.Close()
			s = openTest(b, dsn) // SQLite connections read statistics when they open
			depth := min(100_000, size/2)
			deep, err := s.Query(ctx, storage.All(), storage.InNamespace("bench"), storage.Offset(depth-100), storage.Limit(100))
			if err != nil || deep.Cursor == "" {
				b.Fatalf("deep cursor: %v", err)
			}
			in := storage.InNamespace("bench")
			name := fmt.Sprintf("%s/%d", c.name, size)
			rng := rand.New(rand.NewPCG(1, 2))
			b.Run(name+"/QueryIndexedEq", func(b *testing.B) {
				b.ReportAllocs()
				defer reportQueryCache(b, s)()
				for b.Loop() {
					res, err := s.Query(ctx, storage.Eq("n", rng.IntN(size)), in)
					if err != nil || len(res.Entries) != 1 {
						b.Fatalf("%d entries, %v", len(res.Entries), err)
					}
				}
			})
			b.Run(name+"/QueryIndexedRange", func(b *testing.B) {
				for b.Loop() {
					v := rng.IntN(size - 10)
					res, err := s.Query(ctx, storage.And(storage.Gte("n", v), storage.Lt("n", v+10)), in)
					if err != nil || len(res.Entries) != 10 {
						b.Fatalf("%d entries, %v", len(res.Entries), err)
					}
				}
			})
			b.Run(name+"/QueryRangeSortLimit20", func(b *testing.B) {
				b.ReportAllocs()
				defer reportQueryCache(b, s)()
				for b.Loop() {
					v := rng.IntN(size - 100)
					res, err := s.Query(ctx, storage.And(storage.Gte("n", v), storage.Lt("n", v+100)), in,
						storage.SortBy(storage.Asc("n")), storage.Limit(20))
					if err != nil || len(res.Entries) != 20 {
						b.Fatalf("%d entries, %v", len(res.Entries), err)
					}
				}
			})
			b.Run(name+"/CountFilter", func(b *testing.B) {
				b.ReportAllocs()
				defer reportQueryCache(b, s)()
				for b.Loop() {
					v := rng.IntN(size - 100)
					n, err := s.Count(ctx, in, storage.Where(storage.And(storage.Gte("n", v), storage.Lt("n", v+100))))
					if err != nil || n != 100 {
						b.Fatalf("count %d, %v", n, err)
					}
				}
			})
			b.Run(name+"/ListPrefix", func(b *testing.B) {
				for b.Loop() {
					p := fmt.Sprintf("key:%05d*", rng.IntN(size/100))
					res, err := s.List(ctx, in, storage.Pattern(p))
					if err != nil || len(res.Keys) != 100 {
						b.Fatalf("%d keys, %v", len(res.Keys), err)
					}
				}
			})
			b.Run(name+"/FirstPage", func(b *testing.B) {
				for b.Loop() {
					res, err := s.Query(ctx, storage.All(), in, storage.Limit(100))
					if err != nil || len(res.Entries) != 100 {
						b.Fatalf("%d entries, %v", len(res.Entries), err)
					}
				}
			})
			b.Run(name+"/DeepPage", func(b *testing.B) {
				for b.Loop() {
					res, err := s.Query(ctx, storage.All(), in, storage.Limit(100), storage.After(deep.Cursor))
					if err != nil || len(res.Entries) != 100 {
						b.Fatalf("%d entries, %v", len(res.Entries), err)
					}
				}
			})
			_ = s.Close()
		}
	}
}

// reportQueryCache reports, when the returned function runs at the end of
// a benchmark, the query cache's misses per operation (0: every call's
// statement came from the cache).
func reportQueryCache(b *testing.B, s *Store) func() {
	before := s.QueryCacheStats()
	return func() {
		after := s.QueryCacheStats()
		b.ReportMetric(float64(after.Misses-before.Misses)/float64(b.N), "qcache-misses/op")
	}
}
