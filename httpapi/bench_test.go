package httpapi_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
)

// BenchmarkHTTP measures single operations over the whole network path on
// loopback, from 8 goroutines per CPU sharing one client:
//
//	go test ./httpapi -run '^$' -bench HTTP -benchtime 3s
func BenchmarkHTTP(b *testing.B) {
	for _, c := range configs {
		b.Run(c.Name, func(b *testing.B) {
			s := newServer(b, c, httpapi.Config{})
			st := newClient(b, s, adminToken)
			ns := storage.InNamespace("bench")
			for i := range 1000 {
				if err := st.Set(b.Context(), fmt.Sprintf("k%04d", i), map[string]int{"i": i}, ns); err != nil {
					b.Fatal(err)
				}
			}
			var seq atomic.Int64
			for _, bc := range []struct {
				name string
				op   func(n int64) error
			}{
				{"get", func(n int64) error {
					_, err := st.Get(b.Context(), fmt.Sprintf("k%04d", n%1000), ns)
					return err
				}},
				{"set", func(n int64) error {
					return st.Set(b.Context(), fmt.Sprintf("w%06d", n), map[string]int64{"n": n}, ns)
				}},
				{"getMany10", func(n int64) error {
					keys := make([]string, 10)
					for j := range keys {
						keys[j] = fmt.Sprintf("k%04d", (n*10+int64(j))%1000)
					}
					_, err := st.GetMany(b.Context(), keys, ns)
					return err
				}},
				{"query", func(n int64) error {
					_, err := st.Query(b.Context(), storage.Eq("i", n%1000), ns)
					return err
				}},
			} {
				b.Run(bc.name, func(b *testing.B) {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := bc.op(seq.Add(1)); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
				})
			}
		})
	}
}
