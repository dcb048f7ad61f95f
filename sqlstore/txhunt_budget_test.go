package sqlstore

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	storage "github.com/mycelia-kernel/storage"
)

// TestPGMaxBytesInTxStopsTheServer is TestPGMaxBytesStopsTheServer in a
// caller's transaction, whose connection cannot be closed (that would end
// the transaction): a Query or GetMany cut by its MaxBytes budget, or a
// History page cut by its bytes, receives a small part of what the same
// read without a budget does (before, the rest of the statement's rows
// were received and dropped: the whole read), the transaction goes on,
// reads again, writes and commits.
func TestPGMaxBytesInTxStopsTheServer(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	s, p := openProxied(t)
	defer func() { _ = s.Close() }()
	ctx := t.Context()
	const small, large, size = 8, 96, 256 << 10
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
		if res, err := s.SetMany(ctx, items); err != nil || !res.OK() {
			t.Fatal(err, res.Err())
		}
	}
	const budget = 1 << 20
	tx, err := s.Begin(ctx, storage.TxOptions{})
	must(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	sent := func(f func() error) int64 {
		t.Helper()
		before := p.down.Load()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		return p.down.Load() - before
	}
	reads := []struct {
		name string
		read func(opts ...storage.Option) (int, error)
	}{
		{"query", func(opts ...storage.Option) (int, error) {
			res, err := tx.Query(ctx, storage.All(), append(opts, storage.Limit(10000))...)
			return len(res.Entries), err
		}},
		{"query sorted", func(opts ...storage.Option) (int, error) {
			res, err := tx.Query(ctx, storage.All(), append(opts, storage.SortBy(storage.Asc("n")))...)
			return len(res.Entries), err
		}},
		{"getMany", func(opts ...storage.Option) (int, error) {
			res, err := tx.GetMany(ctx, keys, opts...)
			return len(res.Entries), err
		}},
	}
	for _, r := range reads {
		var n int
		whole := sent(func() (err error) { n, err = r.read(); return err })
		if n < large {
			t.Fatalf("%s: %d entries", r.name, n)
		}
		for range 2 {
			cut := sent(func() (err error) { n, err = r.read(storage.MaxBytes(budget)); return err })
			if n == 0 || n > small+budget/size+1 {
				t.Errorf("%s MaxBytes(%d): %d entries", r.name, budget, n)
			}
			t.Logf("%s MaxBytes(%d) in a transaction: %d entries, the server sent %d bytes, the whole read %d", r.name, budget, n, cut, whole)
			if cut > whole/3 {
				t.Errorf("%s MaxBytes(%d) in a transaction: the server sent %d bytes, the whole read %d", r.name, budget, cut, whole)
			}
		}
	}
	// Reads through the cursor that take several FETCHes, of statements of
	// every shape in turn, answer what reads without a budget do.
	var sm []string
	var items []storage.Item
	for i := range 100 {
		k := fmt.Sprintf("s%03d", i)
		sm = append(sm, k)
		items = append(items, storage.Item{Key: k, Value: map[string]any{"n": i, "s": k, "f": float64(i) / 3}, Metadata: map[string]any{"m": i}})
	}
	if res, err := s.SetMany(ctx, items, storage.InNamespace("sm")); err != nil || !res.OK() {
		t.Fatal(err, res.Err())
	}
	for i := range 5 {
		must(t, s.Set(ctx, "h", map[string]any{"i": i}, storage.InNamespace("sm")))
	}
	for round := range 2 {
		for _, sort := range [][]storage.SortField{nil, {storage.Desc("f")}} {
			opts := []storage.Option{storage.InNamespace("sm"), storage.Limit(1000)}
			if sort != nil {
				opts = append(opts, storage.SortBy(sort...))
			}
			want, err := tx.Query(ctx, storage.Exists("n", true), opts...)
			must(t, err)
			got, err := tx.Query(ctx, storage.Exists("n", true), append(opts, storage.MaxBytes(1<<30))...)
			must(t, err)
			if fmt.Sprint(got.Entries) != fmt.Sprint(want.Entries) || len(got.Entries) != 100 {
				t.Errorf("round %d, sort %v: Query with MaxBytes = %d entries %.200v; want %d %.200v", round, sort, len(got.Entries), got.Entries, len(want.Entries), want.Entries)
			}
		}
		want, err := tx.GetMany(ctx, sm, storage.InNamespace("sm"))
		must(t, err)
		got, err := tx.GetMany(ctx, sm, storage.InNamespace("sm"), storage.MaxBytes(1<<30))
		must(t, err)
		if len(got.Entries) != 100 || fmt.Sprint(got.Entries) != fmt.Sprint(want.Entries) {
			t.Errorf("round %d: GetMany with MaxBytes = %d entries; want %d, the same", round, len(got.Entries), len(want.Entries))
		}
		hw, err := s.History(ctx, "h", storage.InNamespace("sm"))
		must(t, err)
		hg, err := tx.(storage.Historian).History(ctx, "h", storage.InNamespace("sm"))
		must(t, err)
		if len(hg) != 5 || fmt.Sprint(hg) != fmt.Sprint(hw) {
			t.Errorf("round %d: History in the transaction = %v; want %v", round, hg, hw)
		}
	}

	must(t, tx.Set(ctx, "after", map[string]any{"n": -1}))
	if _, err := tx.Get(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	must(t, tx.Commit(ctx))
	if _, err := s.Get(context.Background(), "after"); err != nil {
		t.Fatal(err)
	}
}
