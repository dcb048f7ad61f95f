package sqlstore

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestSQLiteWriteAllocs: on a SQLite file, a single Set and the
// read-modify-write transaction (Begin, Get, Set, Commit) allocate at most
// what they do with their statements run on the driver statements the
// writer connection keeps (sqlitewrite.go). Through database/sql's
// statements they took 45 and 156 allocations.
func TestSQLiteWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := t.Context()
	st := openTest(t, testdb.SQLiteFile(t), WithSweepInterval(-1))
	in := storage.InNamespace("bench")
	if err := st.CreateNamespace(ctx, "bench"); err != nil {
		t.Fatal(err)
	}
	const n = 100
	val := []byte(`{"n":1,"c":0,"s":"0123456789"}`)
	for i := range n {
		if err := st.Set(ctx, fmt.Sprintf("k%03d", i), val, in); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	ops := []struct {
		name string
		max  float64
		op   func() error
	}{
		{"set", 41, func() error { i++; return st.Set(ctx, fmt.Sprintf("k%03d", i%n), val, in) }},
		{"tx/read-modify-write", 110, func() error { i++; return readModifyWrite(ctx, st, fmt.Sprintf("k%03d", i%n), in) }},
	}
	for _, o := range ops {
		least := math.Inf(1)
		for range 3 { // the store's goroutines allocate now and then
			least = min(least, testing.AllocsPerRun(200, func() {
				if err := o.op(); err != nil {
					t.Fatalf("%s: %v", o.name, err)
				}
			}))
		}
		t.Logf("%s: %.0f allocs/op", o.name, least)
		if least > o.max {
			t.Errorf("%s: %.0f allocations per call, want at most %.0f", o.name, least, o.max)
		}
	}
}

// readModifyWrite is bench/peers' read-modify-write transaction: Begin,
// Get key, Set it to the value read, Commit.
func readModifyWrite(ctx context.Context, st *Store, key string, opts ...storage.Option) error {
	tx, err := st.Begin(ctx, storage.TxOptions{})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	e, err := tx.Get(ctx, key, opts...)
	if err != nil {
		return err
	}
	if err := tx.Set(ctx, key, e.Value, opts...); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
