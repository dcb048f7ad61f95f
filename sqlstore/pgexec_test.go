package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// withRevViaBatch runs fn with revDB's writes sent through pgx's batch
// (viaBatch) or through pgconn.
func withRevViaBatch(viaBatch bool, fn func()) {
	old := revViaBatch.Load()
	revViaBatch.Store(viaBatch)
	defer revViaBatch.Store(old)
	fn()
}

// TestPGDirectWriteAllocs: a Set (outside a transaction and in one) sent
// through pgconn allocates at least minDirectSaving times less than
// through pgx's pipelined batch (bench/results/2026-12-03-pgsetcpu.md:
// 13-15 fewer for a Set, 22-27 in a transaction, -race or not; without
// the pgconn path the two are the same).
func TestPGDirectWriteAllocs(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testdb.Postgres(t, "t", "pool_max_conns", "2"))
	defer s.Close()
	set := func() {
		if err := s.Set(ctx, "k", 1); err != nil {
			t.Fatal(err)
		}
	}
	txSet := func() {
		tx, err := s.Begin(ctx, storage.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Set(ctx, "k", 1); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The margin the measures keep: a Set saved 13-15 allocations in
	// runs on a quiet machine, 11 once in CI (-race, a loaded machine:
	// 28 against 39), where 12 failed.
	const minDirectSaving = 8
	for _, op := range []struct {
		name string
		fn   func()
	}{{"set", set}, {"tx set", txSet}} {
		// The fewest of five measures: AllocsPerRun counts the
		// allocations of every goroutine (the store's own, the race
		// detector's), which only add to the Set's; one measure each
		// varied by one or two under -race and failed the margin.
		var allocs [2]float64
		for i, viaBatch := range []bool{true, false} {
			withRevViaBatch(viaBatch, func() {
				op.fn() // statements prepared
				allocs[i] = testing.AllocsPerRun(50, op.fn)
				for range 4 {
					allocs[i] = min(allocs[i], testing.AllocsPerRun(50, op.fn))
				}
			})
		}
		t.Logf("%s: %.0f allocations through pgx's batch, %.0f through pgconn", op.name, allocs[0], allocs[1])
		if allocs[1] > allocs[0]-minDirectSaving {
			t.Errorf("%s: %.0f allocations through pgconn, want at most %.0f (pgx's batch: %.0f)", op.name, allocs[1], allocs[0]-minDirectSaving, allocs[0])
		}
	}
}

// TestPGDirectWriteStaleStatement: when the server no longer has a
// statement revDB prepared on a connection (DEALLOCATE ALL; a schema
// change that alters its result type is the same case), the write fails,
// and the next write on that connection prepares it again and succeeds,
// outside a transaction and in one (whose failed statement aborted it),
// as with pgx's statement cache.
func TestPGDirectWriteStaleStatement(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, testdb.Postgres(t, "t", "pool_max_conns", "1"))
	defer s.Close()
	e := s.eng.(*pgEngine)
	forget := func(c *pgxpool.Conn) {
		if _, err := c.Exec(ctx, "DEALLOCATE ALL", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	for _, viaBatch := range []bool{true, false} {
		withRevViaBatch(viaBatch, func() {
			must(t, s.Set(ctx, "k", 1)) // prepared, on the writes' lane's one connection so far
			c, err := e.writes.pool.Acquire(ctx)
			must(t, err)
			forget(c)
			c.Release()
			err = s.Set(ctx, "k", 2)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "26000" {
				t.Fatalf("via batch %v: Set after DEALLOCATE ALL: %v, want 26000", viaBatch, err)
			}
			if err := s.Set(ctx, "k", 3); err != nil {
				t.Fatalf("via batch %v: the next Set: %v", viaBatch, err)
			}

			// Prepared on the pool's connection (transactions run there).
			tx, err := s.Begin(ctx, storage.TxOptions{})
			must(t, err)
			must(t, tx.Set(ctx, "k", 3))
			must(t, tx.Commit(ctx))
			e.txAcquired = forget
			tx, err = s.Begin(ctx, storage.TxOptions{})
			e.txAcquired = nil
			must(t, err)
			if err := tx.Set(ctx, "k", 4); !errors.As(err, &pe) || pe.Code != "26000" {
				t.Fatalf("via batch %v: tx.Set after DEALLOCATE ALL: %v, want 26000", viaBatch, err)
			}
			_ = tx.Rollback(ctx)
			tx, err = s.Begin(ctx, storage.TxOptions{})
			must(t, err)
			if err := tx.Set(ctx, "k", 5); err != nil {
				t.Fatalf("via batch %v: the next tx.Set: %v", viaBatch, err)
			}
			must(t, tx.Commit(ctx))
			_, _ = s.Get(ctx, "k") // pgx's cached GetEntry was forgotten too: it fails once
			if got, err := s.Get(ctx, "k"); err != nil || string(got.Value) != "5" {
				t.Fatalf("via batch %v: Get: %s, %v; want 5", viaBatch, got.Value, err)
			}
		})
	}
}

// TestPGDirectWriteCost is the A/B of revDB's writes through pgconn
// against pgx's batch: client CPU (getrusage) and allocations per
// operation, and throughput, in interleaved rounds in one process; it
// prints the medians of the per-round ratios batch/pgconn with their
// quartiles, and the machine's load. A measurement: run it with
// STORAGE_PGDIRECT=1 (STORAGE_PGDIRECT_ROUNDS, default 11;
// STORAGE_PGDIRECT_N, operations per round, default 300).
func TestPGDirectWriteCost(t *testing.T) {
	if os.Getenv("STORAGE_PGDIRECT") == "" {
		t.Skip("a measurement: set STORAGE_PGDIRECT=1 to run it")
	}
	rounds, n := envInt("STORAGE_PGDIRECT_ROUNDS", 11), envInt("STORAGE_PGDIRECT_N", 300)
	ctx := context.Background()
	s := openTest(t, testdb.Postgres(t, "t", "pool_max_conns", "4"))
	defer s.Close()
	const keys = 2000
	items := make([]storage.Item, keys)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("k%05d", i), Value: map[string]any{"n": i, "s": strings.Repeat("x", 200)}}
	}
	if _, err := s.SetMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	val := map[string]any{"n": 1, "s": strings.Repeat("y", 200)}
	seq := 0
	ops := []struct {
		name string
		fn   func(i int) error
	}{
		{"set/overwrite", func(i int) error { return s.Set(ctx, items[i%keys].Key, val) }},
		{"set/insert", func(int) error { seq++; return s.Set(ctx, fmt.Sprintf("n%08d", seq), val) }},
		{"rmw-tx", func(i int) error {
			tx, err := s.Begin(ctx, storage.TxOptions{})
			if err != nil {
				return err
			}
			if _, err := tx.Get(ctx, items[i%keys].Key); err != nil {
				_ = tx.Rollback(ctx)
				return err
			}
			if err := tx.Set(ctx, items[i%keys].Key, val); err != nil {
				_ = tx.Rollback(ctx)
				return err
			}
			return tx.Commit(ctx)
		}},
	}
	type res struct{ cpu, allocs, opsPerSec float64 }
	// got[op][mode][round]; mode 0: pgx's batch, 1: pgconn.
	got := make([][2][]res, len(ops))
	load0, _ := os.ReadFile("/proc/loadavg")
	for r := range rounds {
		for j, op := range ops {
			modes := []int{0, 1}
			if r%2 == 1 {
				modes = []int{1, 0}
			}
			for _, m := range modes {
				withRevViaBatch(m == 0, func() {
					for i := range 20 { // warm
						must(t, op.fn(i))
					}
					runtime.GC()
					var ms0, ms1 runtime.MemStats
					runtime.ReadMemStats(&ms0)
					c0, w0 := cpuTime(), time.Now()
					for i := range n {
						if err := op.fn(r*n + i); err != nil {
							t.Fatal(err)
						}
					}
					wall, cpu := time.Since(w0), cpuTime()-c0
					runtime.ReadMemStats(&ms1)
					got[j][m] = append(got[j][m], res{
						cpu:       float64(cpu.Microseconds()) / float64(n),
						allocs:    float64(ms1.Mallocs-ms0.Mallocs) / float64(n),
						opsPerSec: float64(n) / wall.Seconds(),
					})
				})
			}
		}
	}
	load1, _ := os.ReadFile("/proc/loadavg")
	var b strings.Builder
	fmt.Fprintf(&b, "rounds %d × %d ops; load at start: %s", rounds, n, load0)
	fmt.Fprintf(&b, "%-14s %-28s %-28s %-28s %s\n", "op", "cpu-µs/op batch→pgconn", "allocs/op batch→pgconn", "ops/s batch→pgconn", "ratios batch/pgconn: cpu, allocs, pgconn/batch ops/s (median [q1-q3])")
	for j, op := range ops {
		col := func(f func(res) float64) ([2]float64, []float64) {
			var med [2]float64
			for m := range 2 {
				v := make([]float64, rounds)
				for r := range rounds {
					v[r] = f(got[j][m][r])
				}
				med[m] = median(v)
			}
			ratios := make([]float64, rounds)
			for r := range rounds {
				ratios[r] = f(got[j][0][r]) / f(got[j][1][r])
			}
			slices.Sort(ratios)
			return med, ratios
		}
		cm, cr := col(func(x res) float64 { return x.cpu })
		am, ar := col(func(x res) float64 { return x.allocs })
		om, or := col(func(x res) float64 { return 1 / x.opsPerSec })
		q := func(r []float64) string {
			return fmt.Sprintf("%.2f [%.2f-%.2f]", r[len(r)/2], r[len(r)/4], r[3*len(r)/4])
		}
		fmt.Fprintf(&b, "%-14s %8.1f → %-17.1f %8.1f → %-17.1f %8.0f → %-17.0f cpu %s, allocs %s, ops/s %s\n",
			op.name, cm[0], cm[1], am[0], am[1], 1/om[0], 1/om[1], q(cr), q(ar), q(or))
	}
	fmt.Fprintf(&b, "load at end: %s", load1)
	t.Log("\n" + b.String())
}

func BenchmarkPGDirectSet(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, testdb.Postgres(b, "t", "pool_max_conns", "2"))
	defer s.Close()
	withRevViaBatch(os.Getenv("VIA_BATCH") != "", func() {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Set(ctx, "k", 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
