package sqlstore

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestFilterDriveTiming measures, in one process in alternating rounds,
// the wall time of Query calls that filter one declared field and sort by
// another (drive.go), limit 20, first page, under two rules:
//
//   - old: the probe with K fixed at 1000 (the rule before K followed the
//     namespace's size);
//   - new: the probe with the store's own K (driveRows: 1414 at 100k
//     entries, 4000 at 1M).
//
// A SQLite file and, when STORAGE_TEST_POSTGRES_DSN is set, PostgreSQL
// (STORAGE_EQSORT_DIALECT=sqlite or postgres runs one of them), each with
// n entries (STORAGE_EQSORT_N, default 100000) declaring city, age and
// score: city "rare" on n/1000 entries, "mid" on about n/101, "c2k" on
// about n/500 (2,000 at 1M), "c3k" on about n/287 (3,500 at 1M), "big0"
// and "big1" on the rest, "none" on none; age uncorrelated with them;
// score = i. It logs the median time of each rule and the median of the
// per-round ratios new/old; it asserts nothing. Run it with
//
//	STORAGE_EQSORT=1 go test -run TestFilterDriveTiming -v -timeout 1h ./sqlstore
func TestFilterDriveTiming(t *testing.T) {
	if os.Getenv("STORAGE_EQSORT") == "" {
		t.Skip("a measurement: set STORAGE_EQSORT=1 to run it")
	}
	defer func(old int) { filterDriveRows = old }(filterDriveRows)
	n, rounds := 100000, 5
	if v, err := strconv.Atoi(os.Getenv("STORAGE_EQSORT_N")); err == nil && v >= 1000 {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv("STORAGE_EQSORT_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	var dsns []string
	only := os.Getenv("STORAGE_EQSORT_DIALECT")
	if only == "" || only == "sqlite" {
		dsns = append(dsns, "sqlite:"+filepath.Join(t.TempDir(), "eqsort.db"))
	}
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") != "" && (only == "" || only == "postgres") {
		dsns = append(dsns, newPGSchema(t))
	}
	pad := strings.Repeat("x", 200)
	for _, dsn := range dsns {
		ctx := t.Context()
		s := openTest(t, dsn, WithSweepInterval(-1))
		t.Cleanup(func() { _ = s.Close() })
		in := storage.InNamespace("eq")
		must(t, s.CreateNamespace(ctx, "eq", storage.WithIndexes("city", "age", "score")))
		items := make([]storage.Item, 0, 5000)
		for i := range n {
			city := fmt.Sprintf("big%d", i%2)
			switch {
			case i%1000 == 0:
				city = "rare"
			case i%101 == 1:
				city = "mid"
			case i%500 == 7:
				city = "c2k"
			case i%287 == 3:
				city = "c3k"
			}
			items = append(items, storage.Item{Key: fmt.Sprintf("k%07d", i),
				Value: map[string]any{"city": city, "age": (i * 7919) % n, "score": i, "pad": pad}})
			if len(items) == cap(items) || i == n-1 {
				if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
					t.Fatalf("SetMany: %v %v", err, res.Err())
				}
				items = items[:0]
			}
		}
		stmt := "ANALYZE"
		if s.Dialect() == "postgres" {
			stmt = "VACUUM ANALYZE entries, index_entries"
		}
		if _, err := s.eng.writer().exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			f    storage.Filter
		}{
			{"eq none (0)", storage.Eq("city", "none")},
			{fmt.Sprintf("eq rare (%d)", n/1000), storage.Eq("city", "rare")},
			{fmt.Sprintf("eq c2k (~%d)", n/500), storage.Eq("city", "c2k")},
			{fmt.Sprintf("eq c3k (~%d)", n/287), storage.Eq("city", "c3k")},
			{fmt.Sprintf("eq mid (~%d)", n/101), storage.Eq("city", "mid")},
			{fmt.Sprintf("eq big0 (~%d)", n*49/100), storage.Eq("city", "big0")},
			{"range score (50)", storage.And(storage.Gte("score", n/2), storage.Lt("score", n/2+50))},
			{"range score (3000)", storage.And(storage.Gte("score", n/3), storage.Lt("score", n/3+3000))},
			{fmt.Sprintf("range score (%d)", n/2), storage.And(storage.Gte("score", 0), storage.Lt("score", n/2))},
		}
		// The rules' K, and each case's count of index rows.
		nsi, err := s.readNamespace(ctx, "eq")
		if err != nil {
			t.Fatal(err)
		}
		filterDriveRows = 0
		kNew, err := s.driveRows(ctx, nsi)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s n=%d: old K 1000, new K %d", s.Dialect(), n, kNew)
		for _, tc := range cases {
			c, err := s.Count(ctx, in, storage.Where(tc.f))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("  %s: %d matches", tc.name, c)
		}
		call := func(f storage.Filter, k int) time.Duration {
			filterDriveRows = k
			start := time.Now()
			if _, err := s.Query(ctx, f, in, storage.SortBy(storage.Asc("age")), storage.Limit(20)); err != nil {
				t.Fatal(err)
			}
			return time.Since(start)
		}
		for _, tc := range cases {
			call(tc.f, 1000)
			call(tc.f, 0)
			var olds, news, ratios []float64
			for r := range rounds {
				// Three calls each, the order alternating by round; the
				// round's time is the median of its three.
				var o, w []float64
				for range 3 {
					if r%2 == 0 {
						o = append(o, float64(call(tc.f, 1000)))
						w = append(w, float64(call(tc.f, 0)))
					} else {
						w = append(w, float64(call(tc.f, 0)))
						o = append(o, float64(call(tc.f, 1000)))
					}
				}
				mo, mw := median(o), median(w)
				olds, news, ratios = append(olds, mo), append(news, mw), append(ratios, mw/mo)
			}
			t.Logf("%s n=%d %-22s old %10.3f ms  new %8.3f ms  new/old %.4f", s.Dialect(), n, tc.name,
				median(olds)/1e6, median(news)/1e6, median(ratios))
		}
	}
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
