package dump_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// bigN is the size of the large round trip: go test ./dump -run RoundTrip -dump.n=100000
var bigN = flag.Int("dump.n", 0, "entries of the round-trip test (default 3000; 2000 with -race, 600 with -short)")

func roundTripN() int {
	if *bigN > 0 {
		return *bigN
	}
	switch {
	case testing.Short():
		return 600
	case raceEnabled:
		return 2000
	}
	return 3000
}

// backends are the databases the tests run on: a SQLite file and a
// PostgreSQL schema.
var backends = []testdb.Config{
	{Name: "sqlite", DSN: testdb.SQLiteFile},
	{Name: "postgres", DSN: func(t testing.TB) string { return testdb.Postgres(t, "dump", "pool_max_conns", "4") }},
}

// fakeClock advances a microsecond-and-a-bit on every call, so that every
// write has its own timestamp.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(1013 * time.Microsecond)
	return c.t
}

func openClocked(t testing.TB, dsn string) *sqlstore.Store {
	c := &fakeClock{t: time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC)}
	return teststore.Open(t, dsn, sqlstore.WithClock(c.now))
}

var seedNamespaces = []struct {
	name string
	md   map[string]any
}{
	{"alpha", map[string]any{"team": "a", "tags": []any{"x", "<y>"}}},
	{"beta", map[string]any{"ratio": 1.5, "nested": map[string]any{"deep": true}}},
	{"principal://pkr-123/namespace/docs", nil},
	{"zeta.empty", map[string]any{"empty": "yes"}},
}

// seed fills s with n entries spread over the default namespace and the
// seedNamespaces, with metadata, audit actors, several versions and values
// of every JSON kind.
func seed(t testing.TB, s *sqlstore.Store, n int) {
	t.Helper()
	ctx := context.Background()
	for _, ns := range seedNamespaces {
		var opts []storage.NamespaceOption
		if ns.md != nil {
			opts = append(opts, storage.WithNamespaceMetadata(ns.md))
		}
		if err := s.CreateNamespace(ctx, ns.name, opts...); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"default", "alpha", "beta", "principal://pkr-123/namespace/docs"}
	alice := storage.ContextWithActor(ctx, "alice")
	bob := storage.ContextWithActor(ctx, "bob")
	const batch = 500
	for ni, ns := range names {
		cnt := n / len(names)
		if ni == 0 {
			cnt += n % len(names)
		}
		for from := 0; from < cnt; from += batch {
			items := make([]storage.Item, 0, batch)
			for i := from; i < min(from+batch, cnt); i++ {
				it := storage.Item{Key: fmt.Sprintf("k/%06d", i), Value: value(i)}
				if i%3 == 0 {
					it.Metadata = map[string]any{"i": i, "kind": "third", "s": "é\u2028"}
				}
				items = append(items, it)
			}
			wctx := ctx
			if from%(2*batch) == 0 {
				wctx = alice
			}
			res, err := s.SetMany(wctx, items, storage.InNamespace(ns), storage.Atomic())
			if err != nil || !res.OK() {
				t.Fatalf("seed: %v %v", err, res.Err())
			}
			// A second write to every 7th key: version 2, updated by bob.
			var again []storage.Item
			for i, it := range items {
				if (from+i)%7 == 0 {
					again = append(again, storage.Item{Key: it.Key, Value: map[string]any{"v2": from + i}})
				}
			}
			if len(again) > 0 {
				if res, err := s.SetMany(bob, again, storage.InNamespace(ns)); err != nil || !res.OK() {
					t.Fatalf("seed again: %v %v", err, res.Err())
				}
			}
		}
	}
}

func value(i int) any {
	switch i % 6 {
	case 0:
		return map[string]any{"n": i, "name": fmt.Sprintf("item %d", i), "tags": []any{"a", i % 10}, "ok": i%2 == 0}
	case 1:
		return fmt.Sprintf("string <%d> & \"quoted\" ✓", i)
	case 2:
		return json.RawMessage(fmt.Sprintf(`{"f": 1.50, "big": 12345678901234567890, "e": 1e2, "i": %d}`, i))
	case 3:
		return []any{i, nil, true, "x"}
	case 4:
		return nil
	}
	return float64(i) + 0.25
}

// snapshot is everything a store holds, as Export reads it.
type snapshot struct {
	namespaces []sqlstore.NamespaceRecord
	entries    []sqlstore.Record
}

func take(t testing.TB, s *sqlstore.Store) snapshot {
	t.Helper()
	var sn snapshot
	err := s.Export(context.Background(), sqlstore.ExportOptions{},
		func(n sqlstore.NamespaceRecord) error { sn.namespaces = append(sn.namespaces, n); return nil },
		func(r sqlstore.Record) error { sn.entries = append(sn.entries, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// sameSnapshot fails the test unless a and b hold the same namespaces and
// entries: values and metadata by meaning, every other field exactly.
func sameSnapshot(t testing.TB, what string, a, b snapshot) {
	t.Helper()
	if len(a.namespaces) != len(b.namespaces) {
		t.Fatalf("%s: %d namespaces, want %d", what, len(b.namespaces), len(a.namespaces))
	}
	for i, x := range a.namespaces {
		y := b.namespaces[i]
		if x.Name != y.Name || !x.CreatedAt.Equal(y.CreatedAt) || x.Entries != y.Entries || !sqlstore.JSONEqual(x.Metadata, y.Metadata) {
			t.Fatalf("%s: namespace %d differs:\n%+v\n%+v", what, i, x, y)
		}
	}
	if len(a.entries) != len(b.entries) {
		t.Fatalf("%s: %d entries, want %d", what, len(b.entries), len(a.entries))
	}
	for i, x := range a.entries {
		y := b.entries[i]
		if x.Namespace != y.Namespace || x.Key != y.Key || x.Version != y.Version ||
			!x.CreatedAt.Equal(y.CreatedAt) || !x.UpdatedAt.Equal(y.UpdatedAt) ||
			x.CreatedBy != y.CreatedBy || x.UpdatedBy != y.UpdatedBy ||
			!sqlstore.JSONEqual(x.Value, y.Value) || !sqlstore.JSONEqual(x.Metadata, y.Metadata) {
			t.Fatalf("%s: entry %d differs:\n%+v\n%+v", what, i, x, y)
		}
	}
}

// checkCounts fails the test unless every namespace's trigger-kept entry
// count matches its rows.
func checkCounts(t testing.TB, s *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	// On SQLite the exact count is namespace_counts' (entry_count and the
	// change log's entries not folded into it yet, migration 00022).
	q := `SELECT n.name, n.entry_count, (SELECT count(*) FROM entries e WHERE e.namespace_id = n.id) FROM namespaces n`
	type row struct {
		name          string
		kept, counted int64
	}
	var (
		r interface {
			Next() bool
			Scan(dest ...any) error
		}
		closeRows func()
	)
	b := s.Backend()
	if b.Pool != nil {
		pr, err := b.Pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		r, closeRows = pr, pr.Close
	} else {
		q = strings.Replace(q, "FROM namespaces n", "FROM namespace_counts n", 1)
		sr, err := b.Reader.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		r, closeRows = sr, func() { _ = sr.Close() }
	}
	var rows []row
	for r.Next() {
		var x row
		if err := r.Scan(&x.name, &x.kept, &x.counted); err != nil {
			closeRows()
			t.Fatal(err)
		}
		rows = append(rows, x)
	}
	closeRows()
	for _, x := range rows {
		if x.kept != x.counted {
			t.Errorf("namespace %q: entry_count %d, rows %d", x.name, x.kept, x.counted)
		}
	}
}

func exportBytes(t testing.TB, s *sqlstore.Store, o dump.ExportOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := dump.Export(context.Background(), s, &buf, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
