package sqlstore

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestMaxBytesBoundsRead: with storage.MaxBytes a Query or GetMany stops
// reading rows at the budget, on both dialects: a page of up to 10,000
// entries after small ones holds the budget and one entry, not every large
// value its statement would give. On SQLite the rows after the budget are
// never read (but the one after the last, stepped to, not held, to learn
// that the read is cut): the call allocates well under half of what the
// same call without the budget does. PostgreSQL streams the rows, so the ones after
// the budget are received one at a time and dropped (never held together),
// up to pgDrainBytes of them (pgEndRows): their buffers are allocated,
// a large share of this small read under -race (whose sync.Pool drops
// buffers), so the allocation is not checked there;
// TestPGMaxBytesStopsTheServer counts what crosses the connection.
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

// TestPGMaxBytesStopsTheServer: on PostgreSQL a read cut by its MaxBytes
// budget stops the server sending the rows after it. Through a proxy that
// counts the bytes the server sends, a Query page of up to 10,000 entries
// or a GetMany of every key, after small entries then 40 MiB of large
// ones, with a budget of 1 MiB, receives a small part of what the same
// read without a budget does (before pgEndRows, all of it: the rest of the
// statement's rows were received and dropped). The store goes on working
// after (the pool replaces the connection closed), and a budgeted read in
// a transaction leaves the transaction usable (its connection is drained,
// not closed).
func TestPGMaxBytesStopsTheServer(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	s, p := openProxied(t)
	defer func() { _ = s.Close() }()
	old := pgCloses
	pgCloses = &closeBudget{per: 1000}
	t.Cleanup(func() { pgCloses = old })
	ctx := t.Context()
	const small, large, size = 8, 160, 256 << 10
	keys := setSmallThenLarge(t, s, small, large, size)
	const budget = 1 << 20
	sent := proxySent(t, p)
	reads := []struct {
		name string
		read func(opts ...storage.Option) (int, error)
	}{
		{"query", func(opts ...storage.Option) (int, error) {
			first, err := s.Query(ctx, storage.All(), storage.Limit(small))
			if err != nil {
				return 0, err
			}
			res, err := s.Query(ctx, storage.All(), append(opts, storage.Limit(10000), storage.After(first.Cursor))...)
			return len(res.Entries), err
		}},
		{"query sorted", func(opts ...storage.Option) (int, error) {
			res, err := s.Query(ctx, storage.All(), append(opts, storage.SortBy(storage.Asc("n")))...)
			return len(res.Entries), err
		}},
		{"getMany", func(opts ...storage.Option) (int, error) {
			res, err := s.GetMany(ctx, keys, opts...)
			return len(res.Entries), err
		}},
	}
	for _, r := range reads {
		var n int
		whole := sent(func() (err error) { n, err = r.read(); return err })
		if n < large {
			t.Fatalf("%s: %d entries", r.name, n)
		}
		for range 3 { // the connection closed is replaced each time
			cut := sent(func() (err error) { n, err = r.read(storage.MaxBytes(budget)); return err })
			if n == 0 || n > small+budget/size+1 {
				t.Errorf("%s MaxBytes(%d): %d entries", r.name, budget, n)
			}
			t.Logf("%s MaxBytes(%d): %d entries, the server sent %d bytes, the whole read %d", r.name, budget, n, cut, whole)
			if cut > whole/3 { // the rest is what socket buffers held
				t.Errorf("%s MaxBytes(%d): the server sent %d bytes, the whole read %d", r.name, budget, cut, whole)
			}
		}
	}
	if _, err := s.Get(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	// No close left this second (pgCloses): the connection is drained and
	// kept, as in a transaction.
	pgCloses = &closeBudget{per: 0}
	var n int
	whole := sent(func() (err error) { n, err = reads[0].read(); return err })
	cut := sent(func() (err error) { n, err = reads[0].read(storage.MaxBytes(budget)); return err })
	if n == 0 || cut < whole*9/10 {
		t.Errorf("query MaxBytes(%d) with no close left: %d entries, the server sent %d bytes of %d; want all (drained)", budget, n, cut, whole)
	}
	// In a transaction: cut, drained, and the transaction goes on.
	tx, err := s.Begin(ctx, storage.TxOptions{})
	must(t, err)
	res, err := tx.Query(ctx, storage.All(), storage.MaxBytes(budget))
	if err != nil || len(res.Entries) == 0 || res.Cursor == "" {
		t.Fatalf("query in a transaction: %v, %d entries, cursor %q", err, len(res.Entries), res.Cursor)
	}
	must(t, tx.Set(ctx, "after", map[string]any{"n": -1}))
	must(t, tx.Commit(ctx))
	if _, err := s.Get(context.Background(), "after"); err != nil {
		t.Fatal(err)
	}
}

// TestPGHistoryPageStopsTheServer is TestPGMaxBytesStopsTheServer for
// History, whose pages stop at 4 MiB (historyPageBytes) of at most 64
// changes: of a key's 64 puts of 1 MiB, a page holds four or five, and the
// server sends a small part of the other 60 (before pgEndRows, all of
// them: 64 MiB).
func TestPGHistoryPageStopsTheServer(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	s, p := openProxied(t)
	defer func() { _ = s.Close() }()
	ctx := t.Context()
	const puts, size = 64, 1 << 20
	for i := range puts {
		must(t, s.Set(ctx, "k", map[string]any{"n": i, "pad": strings.Repeat("x", size)}))
	}
	for range 3 {
		before := p.down.Load()
		evs, err := s.History(ctx, "k", storage.Limit(puts))
		must(t, err)
		sent := p.down.Load() - before
		t.Logf("history: %d changes, the server sent %d bytes", len(evs), sent)
		if len(evs) == 0 || len(evs) > historyPageBytes/size+1 {
			t.Errorf("history: %d changes", len(evs))
		}
		if sent > puts*size/3 {
			t.Errorf("history: the server sent %d bytes for a page of %d changes of %d bytes", sent, len(evs), size)
		}
	}
}

// TestCloseBudget: pgEndRows closes at most per connections a second.
func TestCloseBudget(t *testing.T) {
	b := &closeBudget{per: 2}
	at := time.Unix(1000, 0)
	for i, want := range []bool{true, true, false, false} {
		if got := b.take(at.Add(time.Duration(i) * 100 * time.Millisecond)); got != want {
			t.Errorf("take %d in the first second: %v, want %v", i, got, want)
		}
	}
	if !b.take(at.Add(time.Second)) || !b.take(at.Add(1500*time.Millisecond)) || b.take(at.Add(1900*time.Millisecond)) {
		t.Error("the next second: want two takes, then none")
	}
}

// setSmallThenLarge writes small entries of a few bytes then large ones of
// size bytes ("k000", "k001", ...), 8 to a SetMany, and returns their keys.
func setSmallThenLarge(t *testing.T, s *Store, small, large, size int) []string {
	t.Helper()
	var keys []string
	for i := 0; i < small+large; i += 8 {
		var items []storage.Item
		for j := i; j < i+8; j++ {
			pad := ""
			if j >= small {
				pad = strings.Repeat("x", size)
			}
			k := fmt.Sprintf("k%03d", j)
			keys = append(keys, k)
			items = append(items, storage.Item{Key: k, Value: map[string]any{"n": j, "pad": pad}})
		}
		if res, err := s.SetMany(t.Context(), items); err != nil || !res.OK() {
			t.Fatal(err, res.Err())
		}
	}
	return keys
}

// proxySent returns a function that runs f and answers how many bytes the
// server sent through p meanwhile.
func proxySent(t *testing.T, p *cutProxy) func(f func() error) int64 {
	return func(f func() error) int64 {
		t.Helper()
		before := p.down.Load()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		return p.down.Load() - before
	}
}
