package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRunTiny runs every workload on every system once at a tiny size (and
// PostgreSQL when STORAGE_TEST_POSTGRES_DSN is set), and checks the report
// names each of them.
func TestRunTiny(t *testing.T) {
	cfg := Config{Sizes: []int{2000}, ValueSize: 256, Rounds: 1, RoundTime: time.Millisecond, Dir: t.TempDir(),
		PG: os.Getenv("STORAGE_TEST_POSTGRES_DSN"), Log: t.Logf}
	ctx := context.Background()
	r, err := Run(ctx, cfg, 2000)
	if err != nil {
		t.Fatal(err)
	}
	want := len(workloads(2000, 256))
	if len(r.Rows) != want {
		t.Fatalf("%d rows, want %d", len(r.Rows), want)
	}
	for _, row := range r.Rows {
		for _, res := range row.Results {
			if res.OpsPerSec <= 0 {
				t.Errorf("%s on %s: %v ops/s", row.Workload, res.System, res.OpsPerSec)
			}
		}
		if _, ok := row.Ratios[sEngine+"/"+sModernc]; !ok && row.Group != GroupFull {
			t.Errorf("%s: no engine/modernc ratio", row.Workload)
		}
	}
	md := Markdown(ctx, cfg, []*Report{r}, "before", "after", time.Second)
	for _, s := range []string{sEngine, sModernc, sMattn, sBolt, sBoltNoSync, "tx/read-modify-write", "mixed/4-readers-1-writer"} {
		if !strings.Contains(md, s) {
			t.Errorf("the report lacks %q", s)
		}
	}
}

// TestBoltIndexOrder: the hand-kept index orders numbers as numbers,
// negative ones included.
func TestBoltIndexOrder(t *testing.T) {
	prev := numKey(-1e9, nil)
	for _, n := range []float64{-5, -0.5, 0, 0.25, 1, 2, 10, 1e9} {
		k := numKey(n, nil)
		if string(k) <= string(prev) {
			t.Errorf("numKey(%v) sorts before the previous number", n)
		}
		prev = k
	}
}
