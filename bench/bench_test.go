package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func dialects(t testing.TB) []string {
	ds := []string{"sqlite"}
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") != "" {
		ds = append(ds, "postgres")
	} else {
		t.Log("Postgres half skipped: STORAGE_TEST_POSTGRES_DSN is not set")
	}
	return ds
}

// TestRunTiny runs every workload, the mixed runs and the contention runs
// once on a tiny dataset, and renders the report: the benchmark program
// works end to end.
func TestRunTiny(t *testing.T) {
	var reps []*Report
	for _, d := range dialects(t) {
		t.Run(d, func(t *testing.T) {
			rep, err := Run(t.Context(), Config{Dialect: d, Dir: t.TempDir(), PostgresDSN: os.Getenv("STORAGE_TEST_POSTGRES_DSN"),
				Size: 300, ValueSize: 256, Rounds: 1, RoundTime: time.Millisecond,
				MixedTime: 150 * time.Millisecond, MixedGoroutines: []int{1, 4}, TxTime: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, r := range rep.Results {
				names[r.Workload] = true
				if r.Engine <= 0 || r.Raw <= 0 || r.N < 1 {
					t.Errorf("%s: engine %s raw %s n %d", r.Workload, r.Engine, r.Raw, r.N)
				}
			}
			for _, w := range append(PointWorkloads, WQueryIndexed, "count", WListCursor, fmt.Sprintf(WSetMany, 1000), fmt.Sprintf(WDeleteMany, 1000)) {
				if !names[w] {
					t.Errorf("workload %s did not run", w)
				}
			}
			if len(rep.Mixed) != 4 || len(rep.Tx) != 6 {
				t.Errorf("%d mixed results, %d tx results; want 4 and 6", len(rep.Mixed), len(rep.Tx))
			}
			for _, m := range rep.Mixed {
				if m.Ops == 0 || len(m.Errors) != 0 {
					t.Errorf("mixed %s x%d: %d ops, errors %v", m.Side, m.Goroutines, m.Ops, m.Errors)
				}
			}
			for _, x := range rep.Tx {
				if x.Commits == 0 {
					t.Errorf("rmw %s %s: no commit (failures %v)", x.Level, x.Side, x.Failures)
				}
			}
			reps = append(reps, rep)
		})
	}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, "tiny", "go test", DescribeMachine(), reps); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| sqlite | 300 | 256B | get/hit |", "## Targets", "setMany/1000 >= 0.8x"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestValueSize(t *testing.T) {
	for _, size := range []int{256, 4096} {
		b, err := jsonLen(Value(123, size))
		if err != nil || b < size-8 || b > size+8 {
			t.Errorf("Value(_, %d) is %d bytes (%v)", size, b, err)
		}
	}
}

// BenchmarkWorkloads runs each workload's engine and raw sides as Go
// benchmarks on 10k entries of 256 B (SQLite, and PostgreSQL when
// STORAGE_TEST_POSTGRES_DSN is set), for profiling one of them:
//
//	go test -run '^$' -bench 'Workloads/sqlite/set/overwrite' -cpuprofile cpu.out ./bench
func BenchmarkWorkloads(b *testing.B) {
	for _, d := range dialects(b) {
		ctx := context.Background()
		e, err := setup(ctx, Config{Dialect: d, Dir: b.TempDir(), PostgresDSN: os.Getenv("STORAGE_TEST_POSTGRES_DSN"),
			Size: 10_000, ValueSize: 256})
		if err != nil {
			b.Fatal(err)
		}
		for _, w := range e.workloads(ctx) {
			name := d + "/" + w.name
			if w.method != "" {
				name += "/" + w.method
			}
			for _, s := range []struct {
				name string
				side side
			}{{"engine", w.engine}, {"raw", w.raw}} {
				b.Run(name+"/"+s.name, func(b *testing.B) {
					b.ReportAllocs()
					if s.side.prep != nil {
						if err := s.side.prep(ctx, b.N); err != nil {
							b.Fatal(err)
						}
					}
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if err := s.side.op(ctx, i); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			if w.after != nil {
				if err := w.after(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		e.close()
	}
}

func jsonLen(v any) (int, error) {
	b, err := json.Marshal(v)
	return len(b), err
}

// TestRunIndexesTiny runs the declared-index comparison at a tiny size:
// every workload runs, and RunIndexes fails when the engine's answer and
// the baseline's differ (it compares them before measuring).
func TestRunIndexesTiny(t *testing.T) {
	for _, d := range dialects(t) {
		t.Run(d, func(t *testing.T) {
			rep, err := RunIndexes(t.Context(), Config{Dialect: d, Dir: t.TempDir(), PostgresDSN: os.Getenv("STORAGE_TEST_POSTGRES_DSN"),
				Size: 3000, Rounds: 1, RoundTime: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range rep.Results {
				names = append(names, r.Workload)
				if r.Engine <= 0 || r.Raw <= 0 || r.N < 1 {
					t.Errorf("%s: engine %s raw %s n %d", r.Workload, r.Engine, r.Raw, r.N)
				}
			}
			if !slices.Equal(names, IndexWorkloads) {
				t.Errorf("workloads %v, want %v", names, IndexWorkloads)
			}
			var b strings.Builder
			if err := WriteIndexMarkdown(&b, "t", "c", "load\n", DescribeMachine(), []*Report{rep}); err != nil || !strings.Contains(b.String(), "ix/sort-desc-20") {
				t.Errorf("WriteIndexMarkdown: %v\n%s", err, b.String())
			}
		})
	}
}
