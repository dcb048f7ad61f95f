package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestExpiryRatios measures what expiry costs (issue 18), and prints a
// table of medians and ratios. It runs only when STORAGE_BENCH_EXPIRY is
// set (not in CI):
//
//	STORAGE_BENCH_EXPIRY=1 go test -run TestExpiryRatios -v ./bench
//
// Writes: Set of a 256-byte value without an expiry, and with WithTTL.
// Reads: namespace "none" holds N live entries; namespace "half" holds the
// same N live entries and N more that have expired but are not swept
// (interleaved keys), so both give the same answers. The ratio is
// none-time / half-time (>= 0.8 is the target): what unswept rows cost.
func TestExpiryRatios(t *testing.T) {
	if os.Getenv("STORAGE_BENCH_EXPIRY") == "" {
		t.Skip("set STORAGE_BENCH_EXPIRY=1 to run")
	}
	n := 20000
	if s := os.Getenv("STORAGE_BENCH_EXPIRY_N"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	for _, d := range dialects(t) {
		dsn := "sqlite:" + filepath.Join(t.TempDir(), "expiry.db")
		if d == "postgres" {
			dsn = os.Getenv("STORAGE_TEST_POSTGRES_DSN")
		}
		lines = append(lines, expiryRatios(t, d, dsn, n)...)
	}
	t.Logf("\n| dialect | workload | A | B | A/B |\n|---|---|---|---|---|\n%s", strings.Join(lines, "\n"))
}

func expiryRatios(t *testing.T, d, dsn string, n int) []string {
	ctx := context.Background()
	clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
	s, err := sqlstore.Open(ctx, dsn, sqlstore.WithClock(clock.Now), sqlstore.WithSweepInterval(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.Clear(ctx)

	// Load: "none" with n live entries; "half" with the same n live ones
	// and n that expire.
	for start := 0; start < n; start += 1000 {
		var live, mixed []storage.Item
		for i := start; i < min(start+1000, n); i++ {
			v := Value(i, 256)
			live = append(live, storage.Item{Key: fmt.Sprintf("k%07d-a", i), Value: v})
			mixed = append(mixed, storage.Item{Key: fmt.Sprintf("k%07d-a", i), Value: v},
				storage.Item{Key: fmt.Sprintf("k%07d-b", i), Value: v, TTL: time.Second})
		}
		for ns, items := range map[string][]storage.Item{"none": live, "half": mixed} {
			if res, err := s.SetMany(ctx, items, storage.InNamespace(ns)); err != nil || !res.OK() {
				t.Fatalf("load: %v %v", err, res.Err())
			}
		}
	}
	clock.Advance(time.Minute) // the "-b" entries of "half" have expired
	if d == "postgres" {
		_, _ = s.Backend().Pool.Exec(ctx, "ANALYZE entries")
	} else {
		_, _ = s.Backend().Writer.ExecContext(ctx, "ANALYZE")
	}

	var out []string
	row := func(name, a, b string, ta, tb time.Duration) {
		out = append(out, fmt.Sprintf("| %s | %s | %s %v | %s %v | %.2f |", d, name, a, ta, b, tb, float64(ta)/float64(tb)))
	}
	// Writes.
	i := 0
	setNone := func(ns string) func() error {
		return func() error {
			i++
			return s.Set(ctx, fmt.Sprintf("w%07d", i%5000), Value(i, 256), storage.InNamespace("w"+ns))
		}
	}
	setTTL := func() error {
		i++
		return s.Set(ctx, fmt.Sprintf("w%07d", i%5000), Value(i, 256), storage.InNamespace("wttl"), storage.WithTTL(time.Hour))
	}
	ta, tb := compare(t, setNone("none"), setTTL)
	row("set", "no expiry", "WithTTL", ta, tb)

	// Reads: the same answers from "none" and "half".
	j := 0
	reads := []struct {
		name string
		op   func(ns string) error
	}{
		{"get", func(ns string) error {
			j++
			_, err := s.Get(ctx, fmt.Sprintf("k%07d-a", j%n), storage.InNamespace(ns))
			return err
		}},
		{"getMany/100", func(ns string) error {
			j++
			keys := make([]string, 100)
			for k := range keys {
				keys[k] = fmt.Sprintf("k%07d-a", (j*100+k)%n)
			}
			res, err := s.GetMany(ctx, keys, storage.InNamespace(ns))
			if err == nil && len(res.Entries) != 100 {
				err = fmt.Errorf("getMany found %d", len(res.Entries))
			}
			return err
		}},
		{"list/100", func(ns string) error {
			res, err := s.List(ctx, storage.InNamespace(ns), storage.Limit(100), storage.Pattern("k*"))
			if err == nil && len(res.Keys) != min(100, n) {
				err = fmt.Errorf("list found %d", len(res.Keys))
			}
			return err
		}},
		{"query/eq", func(ns string) error {
			j++
			res, err := s.Query(ctx, storage.Eq("$key", fmt.Sprintf("k%07d-a", j%n)), storage.InNamespace(ns))
			if err == nil && len(res.Entries) != 1 {
				err = fmt.Errorf("query found %d", len(res.Entries))
			}
			return err
		}},
		{"query/page-100", func(ns string) error {
			_, err := s.Query(ctx, storage.Filter{}, storage.InNamespace(ns), storage.Limit(100))
			return err
		}},
		{"count", func(ns string) error {
			c, err := s.Count(ctx, storage.InNamespace(ns))
			if err == nil && c != int64(n) {
				err = fmt.Errorf("count %d, want %d", c, n)
			}
			return err
		}},
		{"status", func(string) error {
			_, err := s.Status(ctx)
			return err
		}},
	}
	for _, r := range reads {
		ta, tb := compare(t, func() error { return r.op("none") }, func() error { return r.op("half") })
		row(r.name, "none expired", "half expired", ta, tb)
	}
	// What a sweep of the n expired rows takes.
	start := time.Now()
	swept, err := s.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, fmt.Sprintf("| %s | sweep | %d rows in %v | | |", d, swept, time.Since(start).Round(time.Millisecond)))
	return out
}

// compare runs a and b alternately (which goes first alternates too) for 7
// rounds of about 200ms each, and returns the median time per operation of
// each.
func compare(t *testing.T, a, b func() error) (time.Duration, time.Duration) {
	t.Helper()
	const rounds = 7
	const round = 200 * time.Millisecond
	per := func(f func() error) time.Duration {
		ops := 0
		start := time.Now()
		for time.Since(start) < round {
			if err := f(); err != nil {
				t.Fatal(err)
			}
			ops++
		}
		return time.Since(start) / time.Duration(ops)
	}
	var da, db []time.Duration
	for r := 0; r < rounds; r++ {
		if r%2 == 0 {
			da = append(da, per(a))
			db = append(db, per(b))
		} else {
			db = append(db, per(b))
			da = append(da, per(a))
		}
	}
	slices.Sort(da)
	slices.Sort(db)
	return da[rounds/2], db[rounds/2]
}
