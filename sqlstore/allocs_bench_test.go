package sqlstore

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// BenchmarkOpAllocs reports the allocations of the engine's common calls
// (-benchmem): Get, Has, Set (overwrite), GetMany of 100 keys, List of a
// prefix's 100 keys, a Query of 10 rows on a declared index and one of a
// range sorted descending, limit 20 (21 rows read), on a SQLite file and on PostgreSQL (when
// STORAGE_TEST_POSTGRES_DSN is set), over 1000 entries of ~256 bytes:
//
//	go test -run '^$' -bench BenchmarkOpAllocs -benchmem ./sqlstore
func BenchmarkOpAllocs(b *testing.B) {
	for _, c := range configs {
		if c.name == "sqlite-memory" || c.name == "postgres" && os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			ctx := b.Context()
			s := openTest(b, c.dsn(b))
			defer s.Close()
			in := storage.InNamespace("bench")
			if err := s.CreateNamespace(ctx, "bench", storage.WithIndexes("n")); err != nil {
				b.Fatal(err)
			}
			const size = 1000
			pad := fmt.Sprintf("%0200d", 0)
			val := func(i int) json.RawMessage {
				return json.RawMessage(fmt.Sprintf(`{"n":%d,"s":"%s"}`, i/10, pad))
			}
			items := make([]storage.Item, size)
			keys := make([]string, 100)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("key:%06d", i), Value: val(i)}
			}
			for i := range keys {
				keys[i] = items[i*7].Key
			}
			if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
				b.Fatalf("SetMany: %v %v", err, res.Err())
			}
			b.Run("get", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, err := s.Get(ctx, items[i%size].Key, in); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("has", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if ok, err := s.Has(ctx, items[i%size].Key, in); err != nil || !ok {
						b.Fatal(ok, err)
					}
				}
			})
			b.Run("set", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if err := s.Set(ctx, items[i%size].Key, items[i%size].Value, in); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("getMany100", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if r, err := s.GetMany(ctx, keys, in); err != nil || len(r.Entries) != 100 {
						b.Fatal(len(r.Entries), err)
					}
				}
			})
			b.Run("list100", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					p := fmt.Sprintf("key:%04d*", i%(size/100))
					if r, err := s.List(ctx, in, storage.Pattern(p), storage.Limit(100)); err != nil || len(r.Keys) != 100 {
						b.Fatal(len(r.Keys), err)
					}
				}
			})
			b.Run("query20sorted", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					lo := i % (size/10 - 10)
					f := storage.And(storage.Gte("n", lo), storage.Lt("n", lo+10))
					if r, err := s.Query(ctx, f, in, storage.SortBy(storage.Desc("n")), storage.Limit(20)); err != nil || len(r.Entries) != 20 {
						b.Fatal(len(r.Entries), err)
					}
				}
			})
			b.Run("query10", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if r, err := s.Query(ctx, storage.Eq("n", i%(size/10)), in); err != nil || len(r.Entries) != 10 {
						b.Fatal(len(r.Entries), err)
					}
				}
			})
		})
	}
}
