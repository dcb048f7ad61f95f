package sqlstore

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestMaxBytesBoundsRead: with storage.MaxBytes a Query or GetMany stops
// reading rows at the budget, on both dialects: a page of up to 10,000
// entries after small ones holds the budget and one entry, not every large
// value its statement would give. On SQLite the rows after the budget are
// never read (but the one after the last, stepped to, not held, to learn
// that the read is cut): the call allocates well under half of what the
// same call without the budget does. PostgreSQL streams the rows, so the ones after
// the budget are received one at a time and dropped as Close drains them
// (never held together), but they are received: their buffers are
// allocated (about half of the whole read here, under -race, whose
// sync.Pool drops buffers), so the allocation is not checked there.
func TestMaxBytesBoundsRead(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			raceSkipsMemory(t, c)
			s := openTest(t, c.dsn(t))
			defer func() { _ = s.Close() }()
			ctx := t.Context()
			const small, large, size = 8, 48, 256 << 10
			var items []storage.Item
			var keys []string
			for i := range small + large {
				pad := ""
				if i >= small {
					pad = strings.Repeat("x", size)
				}
				k := fmt.Sprintf("k%03d", i)
				keys = append(keys, k)
				items = append(items, storage.Item{Key: k, Value: map[string]any{"n": i, "g": i % 3, "pad": pad}})
			}
			for i := 0; i < len(items); i += 8 {
				if res, err := s.SetMany(ctx, items[i:i+8]); err != nil || !res.OK() {
					t.Fatal(err, res.Err())
				}
			}
			const budget = 1 << 20
			bound := int64(budget + size + 1024)
			alloc := func(f func()) uint64 {
				var a, b runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&a)
				f()
				runtime.ReadMemStats(&b)
				return b.TotalAlloc - a.TotalAlloc
			}
			bytesOf := func(es []storage.Entry) (n int64) {
				for _, e := range es {
					n += int64(len(e.Key) + len(e.Value) + len(e.Metadata))
				}
				return n
			}
			sorts := [][]storage.Option{nil, {storage.SortBy(storage.Asc("n"))}, {storage.SortBy(storage.Desc("g"))}}
			for _, sort := range sorts {
				// After the small entries, as the routes' second part reads.
				first, err := s.Query(ctx, storage.All(), append(sort, storage.Limit(small))...)
				if err != nil || first.Cursor == "" {
					t.Fatal(err, first.Cursor)
				}
				page := append(sort, storage.Limit(10000), storage.After(first.Cursor))
				var whole, cut storage.QueryResult
				all := alloc(func() { whole, err = s.Query(ctx, storage.All(), page...) })
				if err != nil || len(whole.Entries) != large {
					t.Fatalf("query %v: %v, %d entries", sort, err, len(whole.Entries))
				}
				part := alloc(func() { cut, err = s.Query(ctx, storage.All(), append(page, storage.MaxBytes(budget))...) })
				if err != nil {
					t.Fatal(err)
				}
				if n := bytesOf(cut.Entries); n > bound || len(cut.Entries) == 0 || cut.Cursor == "" {
					t.Errorf("query %v MaxBytes(%d): %d entries, %d bytes, cursor %q; want at most %d bytes and a cursor", sort, budget, len(cut.Entries), n, cut.Cursor, bound)
				}
				if part > all/2 && c.name != "postgres" {
					t.Errorf("query %v MaxBytes(%d) allocated %d bytes, the whole page %d", sort, budget, part, all)
				}
			}
			var whole, cut storage.GetManyResult
			var err error
			all := alloc(func() { whole, err = s.GetMany(ctx, keys) })
			if err != nil || len(whole.Entries) != len(keys) {
				t.Fatal(err, len(whole.Entries))
			}
			part := alloc(func() { cut, err = s.GetMany(ctx, keys, storage.MaxBytes(budget)) })
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			for k, e := range cut.Entries {
				n += int64(len(k) + len(e.Value) + len(e.Metadata))
			}
			if n > bound || len(cut.Unread) == 0 || len(cut.Entries)+len(cut.Unread) != len(keys) || len(cut.Errors) != 0 {
				t.Errorf("getMany MaxBytes(%d): %d entries (%d bytes), %d unread, %d errors", budget, len(cut.Entries), n, len(cut.Unread), len(cut.Errors))
			}
			if part > all/2 && c.name != "postgres" {
				t.Errorf("getMany MaxBytes(%d) allocated %d bytes, the whole read %d", budget, part, all)
			}
		})
	}
}
