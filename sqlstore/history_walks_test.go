package sqlstore

import (
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// TestHistoryWalksOnce: on SQLite a key's changes are found by walking
// its prev_revision chains (keyChain), about one step per change of the
// key, once per statement. A History page reads in one statement, and a
// Get at a revision behind a run of metadata changes in O(log n) of them:
// before, a page of 300 changes ran 5 statements (batches of 64; 1000, the
// default limit, 16), each
// walking up to all the key's changes, so paging through a key of 20,000
// changes took 6 s and one of 30,000 13 s; a Get behind n metadata
// changes ran n/64. PostgreSQL reads by the index changes_key and is
// checked for the same answers.
func TestHistoryWalksOnce(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			raceSkipsMemory(t, c)
			var rt atomic.Int64
			s := openTest(t, c.dsn(t), withRoundTripCounter(&rt), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			ns := storage.InNamespace("walk")
			const n, page = 400, 300
			var revs []int64
			for i := 0; i < n; i++ {
				must(t, s.Set(ctx, "k", i, ns))
				revs = append(revs, head(t, s))
				if i%100 == 0 {
					must(t, s.Set(ctx, "other", i, ns)) // another key's change between
				}
			}
			sqlite := s.Dialect() == dialect.SQLite

			rt.Store(0)
			evs, err := s.History(ctx, "k", ns, storage.FromRevision(0), storage.Limit(page))
			must(t, err)
			stmts := rt.Load()
			if len(evs) != page {
				t.Fatalf("History: %d changes, want %d", len(evs), page)
			}
			for i, ev := range evs {
				if ev.Revision != revs[i] {
					t.Fatalf("History[%d]: revision %d, want %d", i, ev.Revision, revs[i])
				}
			}
			if sqlite && stmts > 3 {
				t.Errorf("History of a page of %d changes ran %d statements, want at most 3 (one walk of the key's chains)", len(evs), stmts)
			}
			// The rest, from the page's last change.
			rest, err := s.History(ctx, "k", ns, storage.FromRevision(evs[len(evs)-1].Revision))
			must(t, err)
			if len(rest) != n-len(evs) || rest[0].Revision != revs[len(evs)] {
				t.Fatalf("History from %d: %d changes, want %d", evs[len(evs)-1].Revision, len(rest), n-len(evs))
			}

			// Get behind a run of metadata changes.
			must(t, s.Set(ctx, "m", "v", ns))
			at := head(t, s)
			for i := 0; i < 400; i++ {
				must(t, s.SetMetadata(ctx, "m", map[string]any{"i": i}, ns))
			}
			h := head(t, s)
			rt.Store(0)
			e, err := s.Get(ctx, "m", ns, storage.AtRevision(h))
			must(t, err)
			stmts = rt.Load()
			if string(e.Value) != `"v"` || e.CreateRevision != at {
				t.Fatalf("Get at head: value %s created %d, want \"v\" created %d", e.Value, e.CreateRevision, at)
			}
			if sqlite && stmts > 5 {
				t.Errorf("Get behind 400 metadata changes ran %d statements, want at most 5", stmts)
			}
		})
	}
}
