package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// How long one operation a principal may start holds what another
// principal's writes need (SQLite's one writer, PostgreSQL's revision lock
// and row locks): TestWriterHold measures another namespace's single Set
// while each runs on a large namespace. Opt-in: STORAGE_WRITERHOLD=1
// (STORAGE_WRITERHOLD_N entries, default 100000; STORAGE_WRITERHOLD_ONLY a
// comma list of operations; STORAGE_WRITERHOLD_DIALECT sqlite or postgres).
// Figures: bench/results/2026-12-04-writer-holds.md.

// holdValue is an entry of about 256 bytes with two indexed fields.
func holdValue(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"city":"city-%03d","age":%d,"score":%d,"name":"user-%07d","pad":%q}`,
		i%500, i%90, (i*7919)%100000, i, strings.Repeat("x", 180)))
}

// holdFill writes n entries into namespace ns in batches.
func holdFill(t testing.TB, s *Store, ns string, n int) {
	t.Helper()
	ctx := context.Background()
	const batch = 5000
	for i := 0; i < n; i += batch {
		items := make([]storage.Item, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			items = append(items, storage.Item{Key: fmt.Sprintf("k%07d", j), Value: holdValue(j)})
		}
		if _, err := s.SetMany(ctx, items, storage.InNamespace(ns)); err != nil {
			t.Fatalf("fill %s at %d: %v", ns, i, err)
		}
	}
}

// holdProbe writes one key of namespace "other" after another, with a
// pause of gap between them, and records each Set's latency.
type holdProbe struct {
	mu   sync.Mutex
	lat  []time.Duration
	errs int
}

func (p *holdProbe) run(ctx context.Context, s *Store, gap time.Duration) {
	for i := 0; ctx.Err() == nil; i++ {
		t0 := time.Now()
		wctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err := s.Set(wctx, "p"+strconv.Itoa(i%1000), map[string]any{"i": i}, storage.InNamespace("other"))
		cancel()
		d := time.Since(t0)
		p.mu.Lock()
		p.lat = append(p.lat, d)
		if err != nil {
			p.errs++
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(gap):
		}
	}
}

// holdStats is what one measured operation did to the probe.
type holdStats struct {
	op                string
	took              time.Duration
	n, errs           int
	p50, p99, max     time.Duration
	opErr             error
	loadBefore, after string
}

func (h holdStats) String() string {
	e := ""
	if h.opErr != nil {
		e = " op error: " + h.opErr.Error()
	}
	return fmt.Sprintf("| %s | %s | %d | %s | %s | %s | %d |%s", h.op, h.took.Round(time.Millisecond), h.n,
		h.p50.Round(100*time.Microsecond), h.p99.Round(time.Millisecond), h.max.Round(time.Millisecond), h.errs, e)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// measureHold runs op while a probe writes to namespace "other" and
// returns the probe's latencies over op's run (and 200 ms after).
func measureHold(t testing.TB, s *Store, name string, op func(ctx context.Context) error) holdStats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &holdProbe{}
	done := make(chan struct{})
	go func() { p.run(ctx, s, 5*time.Millisecond); close(done) }()
	time.Sleep(200 * time.Millisecond)
	p.mu.Lock()
	p.lat, p.errs = nil, 0
	p.mu.Unlock()
	st := holdStats{op: name, loadBefore: loadavg()}
	t0 := time.Now()
	st.opErr = op(context.Background())
	st.took = time.Since(t0)
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	lat := slices.Clone(p.lat)
	slices.Sort(lat)
	st.n, st.errs = len(lat), p.errs
	if len(lat) > 0 {
		st.p50, st.p99, st.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	st.after = loadavg()
	return st
}

func TestWriterHold(t *testing.T) {
	if os.Getenv("STORAGE_WRITERHOLD") == "" {
		t.Skip("opt-in: STORAGE_WRITERHOLD=1")
	}
	n := 100000
	if v := os.Getenv("STORAGE_WRITERHOLD_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	only := map[string]bool{}
	for _, o := range strings.Split(os.Getenv("STORAGE_WRITERHOLD_ONLY"), ",") {
		if o != "" {
			only[o] = true
		}
	}
	want := func(op string) bool { return len(only) == 0 || only[op] }
	dialects := []struct {
		name string
		dsn  func(testing.TB) string
	}{{"sqlite", testdb.SQLiteFile}, {"postgres", newPGSchema}}
	for _, d := range dialects {
		if v := os.Getenv("STORAGE_WRITERHOLD_DIALECT"); v != "" && v != d.name {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			s := openTest(t, d.dsn(t), WithSweepInterval(-1), WithRetention(Retention{Changes: 1000}))
			defer s.Close()
			ctx := context.Background()
			big := func() {
				t0 := time.Now()
				_ = s.DeleteNamespace(ctx, "big", storage.Recursive())
				if err := s.CreateNamespace(ctx, "big", storage.WithIndexes("city", "age")); err != nil {
					t.Fatal(err)
				}
				holdFill(t, s, "big", n)
				t.Logf("filled big with %d entries in %s", n, time.Since(t0).Round(time.Millisecond))
			}
			big()
			var rows []holdStats
			report := func(st holdStats) {
				t.Logf("%s (load %s -> %s)", st, st.loadBefore, st.after)
				rows = append(rows, st)
			}
			if want("idle") {
				report(measureHold(t, s, "idle (2 s)", func(context.Context) error { time.Sleep(2 * time.Second); return nil }))
			}
			if want("createIndex") {
				report(measureHold(t, s, "CreateIndex", func(ctx context.Context) error { return s.CreateIndex(ctx, "big", "score") }))
			}
			if want("dropIndex") {
				if !want("createIndex") {
					_ = s.CreateIndex(ctx, "big", "score")
				}
				report(measureHold(t, s, "DropIndex", func(ctx context.Context) error { return s.DropIndex(ctx, "big", "score") }))
			}
			if want("export") {
				report(measureHold(t, s, "Export", func(ctx context.Context) error {
					return s.Export(ctx, ExportOptions{Namespace: "big"}, nil, func(Record) error { return nil })
				}))
			}
			if want("setMany") {
				// The largest SetMany the wire allows: a 32 MiB body
				// (httpapi.DefaultMaxBodyBytes) holds about 100k items of
				// this size.
				items := make([]storage.Item, 0, n)
				for j := 0; j < n; j++ {
					items = append(items, storage.Item{Key: fmt.Sprintf("m%07d", j), Value: holdValue(j)})
				}
				report(measureHold(t, s, fmt.Sprintf("SetMany %d items (new namespace)", n), func(ctx context.Context) error {
					_, err := s.SetMany(ctx, items, storage.InNamespace("bulk"))
					return err
				}))
				for j := range items {
					items[j].Value = holdValue(j + 1)
				}
				report(measureHold(t, s, fmt.Sprintf("SetMany %d items (overwrite, 2 indexes)", n), func(ctx context.Context) error {
					_, err := s.SetMany(ctx, items[:n], storage.InNamespace("big"))
					return err
				}))
				_ = s.DeleteNamespace(ctx, "bulk", storage.Recursive())
			}
			if want("compact") {
				report(measureHold(t, s, "Compact", func(ctx context.Context) error {
					_, err := s.Compact(ctx)
					return err
				}))
			}
			if want("tx") {
				report(measureHold(t, s, "write tx held open 3 s", func(ctx context.Context) error {
					tx, err := s.Begin(ctx, storage.TxOptions{})
					if err != nil {
						return err
					}
					if err := tx.Set(ctx, "k0000001", holdValue(2), storage.InNamespace("big")); err != nil {
						return err
					}
					time.Sleep(3 * time.Second)
					return tx.Commit(ctx)
				}))
			}
			if want("txBegun") {
				report(measureHold(t, s, "write tx begun, no operation, held 3 s", func(ctx context.Context) error {
					tx, err := s.Begin(ctx, storage.TxOptions{})
					if err != nil {
						return err
					}
					time.Sleep(3 * time.Second)
					return tx.Rollback(ctx)
				}))
			}
			if want("restore") {
				// dump.Import's shape: the namespace record, then batches
				// of dump.DefaultBatchSize (1000) records.
				var recs []Record
				err := s.Export(ctx, ExportOptions{Namespace: "big"}, nil, func(r Record) error {
					r.Namespace = "restored"
					recs = append(recs, r)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				report(measureHold(t, s, "Import (RestoreNamespace + Restore x1000)", func(ctx context.Context) error {
					if _, err := s.RestoreNamespace(ctx, NamespaceRecord{Name: "restored", Metadata: json.RawMessage("{}"),
						CreatedAt: time.Now().UTC(), Indexes: []string{"city", "age"}}, ConflictOverwrite); err != nil {
						return err
					}
					for i := 0; i < len(recs); i += 1000 {
						if _, err := s.Restore(ctx, recs[i:min(i+1000, len(recs))], ConflictOverwrite); err != nil {
							return err
						}
					}
					return nil
				}))
				report(measureHold(t, s, "RestoreNamespace adding an index to the full namespace", func(ctx context.Context) error {
					_, err := s.RestoreNamespace(ctx, NamespaceRecord{Name: "restored", Metadata: json.RawMessage("{}"),
						CreatedAt: time.Now().UTC(), Indexes: []string{"score"}}, ConflictOverwrite)
					return err
				}))
				_ = s.DeleteNamespace(ctx, "restored", storage.Recursive())
			}
			if want("clear") {
				// On SQLite the window runs to the end of the purge
				// (unlink.go).
				report(measureHold(t, s, "Clear (and its purge)", func(ctx context.Context) error {
					err := s.Clear(ctx, storage.InNamespace("big"))
					if err == nil && s.purger != nil {
						waitPurged(t, s)
					}
					return err
				}))
				big()
			}
			if want("deleteNamespace") {
				report(measureHold(t, s, "DeleteNamespace recursive (and its purge)", func(ctx context.Context) error {
					err := s.DeleteNamespace(ctx, "big", storage.Recursive())
					if err == nil && s.purger != nil {
						waitPurged(t, s)
					}
					return err
				}))
			}
			var b strings.Builder
			fmt.Fprintf(&b, "\n%s, %d entries\n| operation | took | probe Sets | p50 | p99 | max | errors |\n|---|---|---|---|---|---|---|\n", d.name, n)
			for _, r := range rows {
				b.WriteString(r.String() + "\n")
			}
			t.Log(b.String())
		})
	}
}
