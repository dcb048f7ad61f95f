package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// TestChangeLogCost compares, in one process and in alternating rounds,
// the write path with the change log and without it, on a SQLite file and
// on PostgreSQL (when STORAGE_TEST_POSTGRES_DSN is set), and logs the
// throughput ratios: Set (an overwrite of one of 1000 keys) and SetMany of
// the 1000 keys, values of ~256 bytes. It measures; it asserts nothing
// about them. It also logs the bytes the process wrote per operation
// (Linux's /proc/self/io wchar: the WAL's frames and the checkpoints'
// pages on SQLite; on PostgreSQL the server writes, so about nothing).
// Run it with STORAGE_CHANGELOG_AB=1 (STORAGE_CHANGELOG_AB_ROUNDS
// rounds, default 9):
//
//	STORAGE_CHANGELOG_AB=1 go test -run TestChangeLogCost -v ./sqlstore
//
// "Without" is a second store on its own database (file or schema) whose
// puts write no change rows: on SQLite its put triggers are dropped; on
// PostgreSQL, where the entry statements insert the rows themselves, a
// BEFORE INSERT trigger on changes drops every row (so the rows are still
// computed, and the trigger's call is counted against "without": the
// ratio flatters the log a little) and the notify trigger is dropped.
func TestChangeLogCost(t *testing.T) {
	if os.Getenv("STORAGE_CHANGELOG_AB") == "" {
		t.Skip("a measurement: set STORAGE_CHANGELOG_AB=1 to run it")
	}
	rounds := 9
	if v, err := strconv.Atoi(os.Getenv("STORAGE_CHANGELOG_AB_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	for _, c := range configs {
		if c.name == "sqlite-memory" || c.name == "postgres" && os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) { changeLogCost(t, c, rounds) })
	}
}

func changeLogCost(t *testing.T, c testConfig, rounds int) {
	ctx := t.Context()
	dsn := func(name string) string {
		if c.name == "postgres" {
			return c.dsn(t)
		}
		return "sqlite:" + filepath.Join(t.TempDir(), name+".db")
	}
	with := openTest(t, dsn("with"), WithSweepInterval(-1))
	defer with.Close()
	without := openTest(t, dsn("without"), WithSweepInterval(-1))
	defer without.Close()
	noLog := []string{"DROP TRIGGER changes_put_insert", "DROP TRIGGER changes_put_update"}
	if without.Dialect() == dialect.Postgres {
		noLog = []string{
			`CREATE FUNCTION changes_skip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`,
			`CREATE TRIGGER changes_skip BEFORE INSERT ON changes FOR EACH ROW EXECUTE FUNCTION changes_skip()`,
			`DROP TRIGGER changes_notify ON changes`,
		}
	}
	for _, stmt := range noLog {
		if _, err := without.eng.writer().exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if extra := os.Getenv("STORAGE_CHANGELOG_AB_WITH"); extra != "" {
		// Experiments: statements (separated by ";;") run on the store
		// with the log before measuring.
		for _, stmt := range strings.Split(extra, ";;") {
			if _, err := with.eng.writer().exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
	}
	written := map[*Store]float64{} // bytes per op, summed over the rounds
	cpu := map[*Store][]float64{}   // process CPU time per op, per round
	wrote := func(s *Store, n int) func() {
		w0, c0 := wcharBytes(), cpuTime()
		return func() {
			written[s] += float64(wcharBytes()-w0) / float64(n)
			cpu[s] = append(cpu[s], float64(cpuTime()-c0)/float64(n))
		}
	}
	in := storage.InNamespace("bench")
	pad := fmt.Sprintf("%0200d", 0)
	items := make([]storage.Item, 1000)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("key:%06d", i), Value: json.RawMessage(fmt.Sprintf(`{"n":%d,"s":"%s"}`, i, pad))}
	}
	for _, s := range []*Store{with, without} {
		if _, err := s.SetMany(ctx, items, in); err != nil {
			t.Fatal(err)
		}
	}
	// Each side runs under the profiler label "side" (with, without), so
	// that a -cpuprofile of the test splits by it (pprof -tagfocus).
	side := func(s *Store, fn func(context.Context)) {
		label := "with"
		if s == without {
			label = "without"
		}
		pprof.Do(ctx, pprof.Labels("side", label), fn)
	}
	set := func(s *Store, n int) (d time.Duration) {
		defer wrote(s, n)()
		side(s, func(ctx context.Context) {
			start := time.Now()
			for i := range n {
				if err := s.Set(ctx, items[i%len(items)].Key, items[i%len(items)].Value, in); err != nil {
					t.Fatal(err)
				}
			}
			d = time.Since(start) / time.Duration(n)
		})
		return d
	}
	setMany := func(s *Store, n int) (d time.Duration) {
		defer wrote(s, n)()
		side(s, func(ctx context.Context) {
			start := time.Now()
			for range n {
				if _, err := s.SetMany(ctx, items, in); err != nil {
					t.Fatal(err)
				}
			}
			d = time.Since(start) / time.Duration(n)
		})
		return d
	}
	n := map[string]int{"set": 1000, "setMany1000": 5}
	if c.name == "postgres" {
		n["set"] = 300
	}
	for _, m := range []struct {
		name string
		fn   func(*Store, int) time.Duration
	}{{"set", set}, {"setMany1000", setMany}} {
		clear(written)
		clear(cpu)
		var ratios []float64
		var wo, wi []time.Duration
		for r := range rounds {
			// Alternate which side goes first, so that neither always
			// follows the other's checkpoint or vacuum.
			var a, b time.Duration
			if r%2 == 0 {
				a, b = m.fn(without, n[m.name]), m.fn(with, n[m.name])
			} else {
				b, a = m.fn(with, n[m.name]), m.fn(without, n[m.name])
			}
			wo, wi = append(wo, a), append(wi, b)
			ratios = append(ratios, float64(a)/float64(b))
		}
		slices.Sort(ratios)
		slices.Sort(wo)
		slices.Sort(wi)
		mid := rounds / 2
		// CPU time (user and system, every thread of the process: SQLite
		// runs in it) per op: on a loaded machine it moves less than the
		// wall time. Paired like the throughputs.
		var cpuRatios []float64
		for r := range rounds {
			cpuRatios = append(cpuRatios, cpu[without][r]/cpu[with][r])
		}
		slices.Sort(cpuRatios)
		t.Logf("%s %s: CPU per op paired ratio (without/with) median %.2f, range %.2f-%.2f",
			c.name, m.name, cpuRatios[mid], cpuRatios[0], cpuRatios[rounds-1])
		t.Logf("%s %s: without %v/op, with %v/op (medians of %d rounds), paired ratio (with/without throughput) median %.2f, range %.2f-%.2f; "+
			"written per op: without %.1f KB, with %.1f KB",
			c.name, m.name, wo[mid], wi[mid], rounds, ratios[mid], ratios[0], ratios[rounds-1],
			written[without]/float64(rounds)/1024, written[with]/float64(rounds)/1024)
	}
}

// wcharBytes is the bytes this process has written (/proc/self/io wchar),
// 0 where that is not available.
func wcharBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
