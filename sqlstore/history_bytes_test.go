package sqlstore

import (
	"runtime"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestHistoryPageBytes: a History page holds at most historyPageBytes of
// values (plus the event that crosses it), so one call cannot make the
// store read, hold and send Limit large values at once. Paging on with
// FromRevision from each page's last change until an empty page returns
// every change once, in order. Get AtRevision reads back through the same
// bound. Before the bound, one History call over 20 changes of a 512 KiB
// value returned all 20 (10 MiB of values) and allocated several times
// that.
func TestHistoryPageBytes(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			raceSkipsMemory(t, c)
			ctx := t.Context()
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			const n = 20
			big := strings.Repeat("x", 512<<10)
			var revs []int64
			for i := range n {
				var w storage.WriteResult
				must(t, s.Set(ctx, "k", map[string]any{"i": i, "pad": big}, storage.Written(&w)))
				revs = append(revs, w.Revision)
				must(t, s.Set(ctx, "small", i))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			page, err := s.History(ctx, "k", storage.Limit(1000))
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			var size int64
			for _, ev := range page {
				size += int64(len(ev.Value))
			}
			if len(page) == 0 || size > historyPageBytes+(1<<20) {
				t.Fatalf("History with Limit(1000): %d changes, %d bytes of values; want at least one and at most %d bytes", len(page), size, historyPageBytes+(1<<20))
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
				t.Fatalf("History allocated %d MiB for a page of %d bytes of values", alloc>>20, size)
			}
			// Paging until an empty page returns every change, once, in order.
			var got []int64
			from := int64(0)
			for pages := 0; ; pages++ {
				if pages > n {
					t.Fatalf("more than %d pages", n)
				}
				opts := []storage.Option{storage.Limit(1000)}
				if pages > 0 {
					opts = append(opts, storage.FromRevision(from))
				}
				p, err := s.History(ctx, "k", opts...)
				if err != nil {
					t.Fatal(err)
				}
				if len(p) == 0 {
					break
				}
				for _, ev := range p {
					got = append(got, ev.Revision)
				}
				from = p[len(p)-1].Revision
			}
			if len(got) != n {
				t.Fatalf("paged %d changes, want %d: %v", len(got), n, got)
			}
			for i := range got {
				if got[i] != revs[i] {
					t.Fatalf("change %d: revision %d, want %d", i, got[i], revs[i])
				}
			}
			// Small values still come in one page of Limit.
			if p, err := s.History(ctx, "small", storage.Limit(n)); err != nil || len(p) != n {
				t.Fatalf("History of small values, Limit(%d): %d changes, %v", n, len(p), err)
			}
			if p, err := s.History(ctx, "small", storage.Limit(7)); err != nil || len(p) != 7 {
				t.Fatalf("History of small values, Limit(7): %d changes, %v", len(p), err)
			}
			// Get at each revision still finds its value.
			for i, r := range []int64{revs[0], revs[n/2], revs[n-1]} {
				e, err := s.Get(ctx, "k", storage.AtRevision(r))
				if err != nil || e.Revision != r {
					t.Fatalf("Get AtRevision(%d) (%d): revision %d, %v", r, i, e.Revision, err)
				}
			}
		})
	}
}
