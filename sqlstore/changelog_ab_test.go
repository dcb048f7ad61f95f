package sqlstore

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestChangeLogCostSQLite compares, in one process and in alternating
// rounds, the SQLite write path with the change log and without it (a
// second store whose change-log triggers are dropped: its puts write no
// change rows), and logs the throughput ratios. It measures; it asserts
// nothing about them. Run it with STORAGE_CHANGELOG_AB=1:
//
//	STORAGE_CHANGELOG_AB=1 go test -run TestChangeLogCostSQLite -v ./sqlstore
func TestChangeLogCostSQLite(t *testing.T) {
	if os.Getenv("STORAGE_CHANGELOG_AB") == "" {
		t.Skip("a measurement: set STORAGE_CHANGELOG_AB=1 to run it")
	}
	ctx := t.Context()
	dir := t.TempDir()
	with := openTest(t, "sqlite:"+filepath.Join(dir, "with.db"), WithSweepInterval(-1))
	defer with.Close()
	without := openTest(t, "sqlite:"+filepath.Join(dir, "without.db"), WithSweepInterval(-1))
	defer without.Close()
	for _, trg := range []string{"changes_put_insert", "changes_put_update", "changes_counter"} {
		if _, err := without.Backend().Writer.ExecContext(ctx, "DROP TRIGGER "+trg); err != nil {
			t.Fatal(err)
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
	set := func(s *Store, n int) time.Duration {
		start := time.Now()
		for i := range n {
			if err := s.Set(ctx, items[i%len(items)].Key, items[i%len(items)].Value, in); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start) / time.Duration(n)
	}
	setMany := func(s *Store, n int) time.Duration {
		start := time.Now()
		for i := range n {
			b := items[(i*100)%len(items) : (i*100)%len(items)+100]
			if _, err := s.SetMany(ctx, b, in); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start) / time.Duration(n)
	}
	for _, m := range []struct {
		name string
		fn   func(*Store, int) time.Duration
		n    int
	}{{"set", set, 2000}, {"setMany100", setMany, 40}} {
		var ratios []float64
		var wo, wi []time.Duration
		for range 9 {
			a := m.fn(without, m.n)
			b := m.fn(with, m.n)
			wo, wi = append(wo, a), append(wi, b)
			ratios = append(ratios, float64(a)/float64(b))
		}
		slices.Sort(ratios)
		slices.Sort(wo)
		slices.Sort(wi)
		t.Logf("sqlite %s: without %v/op, with %v/op (medians of 9 rounds), paired ratio (with/without throughput) median %.2f, range %.2f-%.2f",
			m.name, wo[4], wi[4], ratios[4], ratios[0], ratios[8])
	}
}
