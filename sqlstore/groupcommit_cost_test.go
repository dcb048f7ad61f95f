package sqlstore

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestPGGroupCommitCost measures concurrent Sets outside transactions on
// PostgreSQL: the engine with group commit (combine.go), without it
// (WithoutWriteCombining), and raw pgx's upsert into a table of its own,
// in interleaved rounds, for 1, 8 and 32 writers. A measurement, not a
// check: run it by hand on a server with fsync on (the CI's has fsync off,
// where a commit costs little):
//
//	STORAGE_GROUPCOMMIT=1 STORAGE_TEST_POSTGRES_DSN=… go test -run TestPGGroupCommitCost -v ./sqlstore
func TestPGGroupCommitCost(t *testing.T) {
	if os.Getenv("STORAGE_GROUPCOMMIT") == "" {
		t.Skip("a measurement: set STORAGE_GROUPCOMMIT=1")
	}
	ctx := t.Context()
	dsn := newPGSchema(t)
	grouped := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = grouped.Close() })
	alone := openTest(t, dsn, WithSweepInterval(-1), WithoutWriteCombining())
	t.Cleanup(func() { _ = alone.Close() })
	pool, err := pgxpool.New(ctx, dsn)
	must(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, "CREATE TABLE gc_raw (k text PRIMARY KEY, v jsonb NOT NULL, ver bigint NOT NULL)")
	must(t, err)
	rounds := 5
	if n, err := strconv.Atoi(os.Getenv("STORAGE_GROUPCOMMIT_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	val := map[string]any{"name": "abcdefghij", "n": 42, "pad": fmt.Sprintf("%0200d", 0)}
	run := func(writers int, d time.Duration, f func(i, j int) error) float64 {
		var ops atomic.Int64
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; time.Now().Before(stop); j++ {
					if err := f(i, j); err != nil {
						t.Error(err)
						return
					}
					ops.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(ops.Load()) / d.Seconds()
	}
	systems := []struct {
		name string
		f    func(i, j int) error
	}{
		{"grouped", func(i, j int) error { return grouped.Set(ctx, fmt.Sprintf("k%d-%d", i, j%1000), val) }},
		{"alone", func(i, j int) error { return alone.Set(ctx, fmt.Sprintf("k%d-%d", i, j%1000), val) }},
		{"raw", func(i, j int) error {
			_, err := pool.Exec(ctx, "INSERT INTO gc_raw (k, v, ver) VALUES ($1, $2, 1) ON CONFLICT (k) DO UPDATE SET v = excluded.v, ver = gc_raw.ver + 1",
				fmt.Sprintf("k%d-%d", i, j%1000), val)
			return err
		}},
	}
	for _, writers := range []int{1, 8, 32} {
		ratios := map[string][]float64{}
		for r := range rounds {
			got := map[string]float64{}
			for k := range systems {
				s := systems[(k+r)%len(systems)]
				got[s.name] = run(writers, 700*time.Millisecond, s.f)
			}
			ratios["grouped/raw"] = append(ratios["grouped/raw"], got["grouped"]/got["raw"])
			ratios["alone/raw"] = append(ratios["alone/raw"], got["alone"]/got["raw"])
			ratios["grouped/alone"] = append(ratios["grouped/alone"], got["grouped"]/got["alone"])
			t.Logf("%2d writers, round %d: grouped %.0f/s, alone %.0f/s, raw %.0f/s", writers, r, got["grouped"], got["alone"], got["raw"])
		}
		for _, k := range []string{"grouped/raw", "alone/raw", "grouped/alone"} {
			v := ratios[k]
			slices.Sort(v)
			t.Logf("%2d writers: %s median %.2f (%.2f-%.2f)", writers, k, v[len(v)/2], v[0], v[len(v)-1])
		}
	}
	t.Logf("group commit: %+v", grouped.CombineStats())
}
