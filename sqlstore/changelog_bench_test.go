package sqlstore

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// BenchmarkWritePath measures the write path that the change log
// (revisions, issue 17) lengthens: Set (an overwrite of one of 1000 keys),
// Set from 8 goroutines at once, and SetMany of 100 keys, on a SQLite
// file and on PostgreSQL (when STORAGE_TEST_POSTGRES_DSN is set), values
// of ~256 bytes. It uses only the public API, so the same file runs on a
// tree from before the change log: bench/changelog.sh runs both, side by
// side, and prints the ratios.
//
//	go test -run '^$' -bench BenchmarkWritePath ./sqlstore
func BenchmarkWritePath(b *testing.B) {
	for _, c := range configs {
		if c.name == "sqlite-memory" || c.name == "postgres" && os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			ctx := b.Context()
			s := openTest(b, c.dsn(b), WithSweepInterval(-1))
			defer s.Close()
			in := storage.InNamespace("bench")
			const size = 1000
			pad := fmt.Sprintf("%0200d", 0)
			items := make([]storage.Item, size)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("key:%06d", i), Value: json.RawMessage(fmt.Sprintf(`{"n":%d,"s":"%s"}`, i, pad))}
			}
			if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
				b.Fatalf("SetMany: %v %v", err, res.Err())
			}
			b.Run("set", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if err := s.Set(ctx, items[i%size].Key, items[i%size].Value, in); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("set-parallel8", func(b *testing.B) {
				// 8 writers whatever GOMAXPROCS is (RunParallel runs
				// parallelism x GOMAXPROCS goroutines).
				b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						i++
						it := items[(i*7919)%size]
						if err := s.Set(ctx, it.Key, it.Value, in); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("setMany100", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					batch := items[(i*100)%size : (i*100)%size+100]
					if res, err := s.SetMany(ctx, batch, in); err != nil || !res.OK() {
						b.Fatalf("SetMany: %v %v", err, res.Err())
					}
				}
			})
		})
	}
}
