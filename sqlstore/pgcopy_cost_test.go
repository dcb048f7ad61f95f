package sqlstore

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestCopyCost measures a SetMany on PostgreSQL through the arrays and
// through COPY (pgcopy.go), in one process, in alternating rounds (the
// order flips each round): the wall time, this process's CPU time and the
// server backend's CPU time (/proc/<pid>/schedstat of the store's only
// connection, so the server must run on this machine) per SetMany of 1000
// and 10000 new keys and of overwrites of as many keys, values of ~256
// bytes, in a namespace with one declared index ("ix") or none ("plain",
// STORAGE_COPYCOST_NS). Each side is a store of its own on a schema of its
// own. It measures and asserts nothing. Run it with STORAGE_COPYCOST=1
// (STORAGE_COPYCOST_ROUNDS rounds, default 7; STORAGE_COPYCOST_SIZES,
// default "1000,10000"):
//
//	STORAGE_COPYCOST=1 go test -run TestCopyCost -v ./sqlstore
func TestCopyCost(t *testing.T) {
	if os.Getenv("STORAGE_COPYCOST") == "" || os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("a measurement: set STORAGE_COPYCOST=1 and STORAGE_TEST_POSTGRES_DSN to run it")
	}
	rounds := 7
	if v, err := strconv.Atoi(os.Getenv("STORAGE_COPYCOST_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	sizes := []int{1000, 10000}
	if v := os.Getenv("STORAGE_COPYCOST_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			must(t, err)
			sizes = append(sizes, n)
		}
	}
	nsName := "ix"
	if v := os.Getenv("STORAGE_COPYCOST_NS"); v != "" {
		nsName = v
	}
	ctx := t.Context()
	type side struct {
		name string
		s    *Store
		pid  int
	}
	var sides []*side
	for _, c := range []struct {
		name string
		min  int
		jit  string
	}{{"arrays", 0, "on"}, {"copy", 1, "on"}, {"arrays-nojit", 0, "off"}} {
		dsn := testdb.Postgres(t, "t", "pool_max_conns", "1", "jit", c.jit)
		s := openTest(t, dsn, WithSweepInterval(-1), withCopyMin(c.min))
		t.Cleanup(func() { _ = s.Close() })
		var pid int
		must(t, s.eng.(*pgEngine).pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
		if nsName == "ix" {
			must(t, s.CreateNamespace(ctx, "ix", storage.WithIndexes("age")))
		}
		sides = append(sides, &side{c.name, s, pid})
	}
	pad := strings.Repeat("x", 220)
	batch := func(prefix string, n, round int) []storage.Item {
		items := make([]storage.Item, n)
		for i := range items {
			items[i] = storage.Item{Key: fmt.Sprintf("%s%07d", prefix, i),
				Value: map[string]any{"age": (i + round) % 100, "n": i, "pad": pad}}
		}
		return items
	}
	in := storage.InNamespace(nsName)
	for _, n := range sizes {
		for _, sd := range sides { // the keys the overwrites overwrite
			if r, err := sd.s.SetMany(ctx, batch(fmt.Sprint("o", n, "-"), n, 0), in); err != nil || !r.OK() {
				t.Fatal(err, r.Err())
			}
		}
		for _, w := range []string{"new", "overwrite"} {
			type m struct{ wall, client, server []time.Duration }
			res := map[string]*m{}
			for _, sd := range sides {
				res[sd.name] = &m{}
			}
			for round := range rounds {
				order := slices.Clone(sides)
				if round%2 == 1 {
					slices.Reverse(order)
				}
				k := round / 2 % len(order)
				order = append(order[k:], order[:k]...)
				for _, sd := range order {
					var items []storage.Item
					if w == "new" {
						items = batch(fmt.Sprint("n", n, "-", round, "-"), n, round)
					} else {
						items = batch(fmt.Sprint("o", n, "-"), n, round+1)
					}
					s0, c0, w0 := schedTime(t, sd.pid), cpuTime(), time.Now()
					r, err := sd.s.SetMany(ctx, items, in)
					wall, client, server := time.Since(w0), cpuTime()-c0, schedTime(t, sd.pid)-s0
					if err != nil || !r.OK() {
						t.Fatal(err, r.Err())
					}
					x := res[sd.name]
					x.wall, x.client, x.server = append(x.wall, wall), append(x.client, client), append(x.server, server)
				}
			}
			med := func(d []time.Duration) time.Duration {
				d = slices.Clone(d)
				slices.Sort(d)
				return d[len(d)/2]
			}
			a := res["arrays"]
			for _, sd := range sides[1:] {
				c := res[sd.name]
				t.Logf("%s %s %d: median of %d rounds, arrays vs %s: server CPU %v vs %v (%.2f), wall %v vs %v (%.2f), client CPU %v vs %v; load %s",
					nsName, w, n, rounds, sd.name,
					med(a.server).Round(time.Microsecond), med(c.server).Round(time.Microsecond), float64(med(c.server))/float64(med(a.server)),
					med(a.wall).Round(time.Microsecond), med(c.wall).Round(time.Microsecond), float64(med(c.wall))/float64(med(a.wall)),
					med(a.client), med(c.client), loadAvg())
			}
			for _, sd := range sides {
				t.Logf("  server CPU per round, %-12s %v", sd.name, res[sd.name].server)
			}
		}
	}
}

// schedTime is the CPU time of process pid (/proc/<pid>/schedstat, its
// first field, in nanoseconds).
func schedTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		t.Fatalf("the server's CPU time: %v", err)
	}
	f := strings.Fields(string(b))
	ns, err := strconv.ParseInt(f[0], 10, 64)
	must(t, err)
	return time.Duration(ns)
}

// loadAvg is the first field of /proc/loadavg.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
