package sqlstore

import (
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
		{"tx/read-modify-write", 110, func() error {
			i++
			tx, err := st.Begin(ctx, storage.TxOptions{})
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback(ctx) }()
			k := fmt.Sprintf("k%03d", i%n)
			e, err := tx.Get(ctx, k, in)
			if err != nil {
				return err
			}
			if err := tx.Set(ctx, k, e.Value, in); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}},
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
