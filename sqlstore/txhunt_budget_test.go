package sqlstore

import (
	"context"
	"fmt"
	"os"
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
	keys := setSmallThenLarge(t, s, small, large, size)
	const budget = 1 << 20
	tx, err := s.Begin(ctx, storage.TxOptions{})
	must(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	sent := proxySent(t, p)
	// check reads whole, then twice with the budget: each cut read gets
	// a small part of the whole read's bytes.
	check := func(name string, read func(opts ...storage.Option) int) {
		var n int
		whole := sent(func() error { n = read(); return nil })
		if n < large {
			t.Fatalf("%s: %d entries", name, n)
		}
		for range 2 {
			cut := sent(func() error { n = read(storage.MaxBytes(budget)); return nil })
			t.Logf("%s MaxBytes(%d) in a transaction: %d entries, the server sent %d bytes, the whole read %d", name, budget, n, cut, whole)
			if n == 0 || n > small+budget/size+1 || cut > whole/3 {
				t.Errorf("%s MaxBytes(%d) in a transaction: %d entries, the server sent %d bytes, the whole read %d", name, budget, n, cut, whole)
			}
		}
	}
	query := func(extra ...storage.Option) func(opts ...storage.Option) int {
		return func(opts ...storage.Option) int {
			res, err := tx.Query(ctx, storage.All(), append(opts, extra...)...)
			must(t, err)
			return len(res.Entries)
		}
	}
	check("query", query(storage.Limit(10000)))
	check("query sorted", query(storage.SortBy(storage.Asc("n"))))
	check("getMany", func(opts ...storage.Option) int {
		res, err := tx.GetMany(ctx, keys, opts...)
		must(t, err)
		return len(res.Entries)
	})
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
