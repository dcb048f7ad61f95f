package sqlstore

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestGetAtRevisionCreateRevision: Get with AtRevision reports the
// CreateRevision (and Revision) the entry had at that revision: the
// revision of the put that started the key's life then. Lives start at a
// create, a re-create after a delete, a write over an entry whose expiry
// passed (not yet swept), and an import over a live entry.
func TestGetAtRevisionCreateRevision(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			clock := storetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			// Compaction only by hand, at the end.
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1), WithRetention(Retention{Changes: 4}))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			ns := storage.InNamespace("cr")
			type at struct{ rev, create int64 } // create 0: not found
			var want []at
			step := func(create int64) int64 {
				t.Helper()
				r := head(t, s)
				if create < 0 {
					create = r
				}
				want = append(want, at{r, create})
				clock.Advance(time.Minute)
				return r
			}

			must(t, s.Set(ctx, "k", 1, ns)) // create
			r1 := step(-1)
			must(t, s.Set(ctx, "k", 2, ns)) // overwrite
			step(r1)
			must(t, s.Set(ctx, "k", 3, ns)) // overwrite
			step(r1)
			must(t, s.Delete(ctx, "k", ns))
			step(0)                         // not found
			must(t, s.Set(ctx, "k", 4, ns)) // re-create
			r5 := step(-1)
			must(t, s.Set(ctx, "k", 5, ns)) // overwrite
			step(r5)
			must(t, s.SetMetadata(ctx, "k", map[string]any{"m": 1}, ns))
			step(r5)
			must(t, s.Set(ctx, "k", 6, ns, storage.WithTTL(time.Minute)))
			step(r5)
			clock.Advance(time.Hour)        // expired, not swept
			must(t, s.Set(ctx, "k", 7, ns)) // a new life
			r9 := step(-1)
			must(t, s.Set(ctx, "k", 8, ns))
			step(r9)
			// An import over the live entry starts a new life.
			rec := Record{Namespace: "cr", Key: "k", Value: json.RawMessage(`9`), Metadata: json.RawMessage(`{}`), Version: 3,
				CreatedAt: clock.Now(), UpdatedAt: clock.Now()}
			if _, err := s.Restore(ctx, []Record{rec}, ConflictOverwrite); err != nil {
				t.Fatal(err)
			}
			r11 := step(-1)
			must(t, s.Set(ctx, "k", 10, ns))
			step(r11)

			check := func(w at, lastChange int64) {
				t.Helper()
				e, err := s.Get(ctx, "k", ns, storage.AtRevision(w.rev))
				switch {
				case w.create == 0:
					if !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("Get at %d: %+v, %v; want ErrNotFound", w.rev, e, err)
					}
				case err != nil:
					t.Errorf("Get at %d: %v", w.rev, err)
				case e.CreateRevision != w.create || e.Revision != lastChange:
					t.Errorf("Get at %d: CreateRevision %d, Revision %d; want %d, %d", w.rev, e.CreateRevision, e.Revision, w.create, lastChange)
				}
			}
			for _, w := range want {
				check(w, w.rev)
			}
			cur, err := s.Get(ctx, "k", ns)
			if err != nil || cur.CreateRevision != r11 {
				t.Fatalf("Get: %+v, %v; want CreateRevision %d", cur, err, r11)
			}
			// A revision between two changes reports the earlier one's.
			must(t, s.Set(ctx, "other", 1, ns))
			check(at{head(t, s), r11}, want[len(want)-1].rev)

			if t.Failed() {
				return
			}
			// Compaction removes the import's put: what is reported is the
			// live entry's CreateRevision, in its life, else 0 (unknown).
			s2 := s
			for i := range 4 {
				must(t, s2.Set(ctx, "other", i, ns))
			}
			if _, err := s2.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			last := want[len(want)-1].rev
			if e, err := s2.Get(ctx, "k", ns, storage.AtRevision(last)); err != nil || e.CreateRevision != r11 || e.Revision != last {
				t.Errorf("Get at %d after compaction: %+v, %v; want CreateRevision %d (the live entry's)", last, e, err, r11)
			}
			must(t, s2.Set(ctx, "k", 11, ns))
			must(t, s2.Set(ctx, "other", 3, ns))
			must(t, s2.Delete(ctx, "k", ns))
			must(t, s2.Set(ctx, "k", 12, ns))
			if _, err := s2.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			before := head(t, s2) - 2 // k = 11, before its delete; its creation compacted, the live entry a later life
			if e, err := s2.Get(ctx, "k", ns, storage.AtRevision(before)); err != nil || e.CreateRevision != 0 || e.Revision != before-1 || string(e.Value) != "11" {
				t.Errorf("Get at %d after compaction: %+v, %v; want 11 with CreateRevision 0 (unknown)", before, e, err)
			}
		})
	}
}

// TestCreateRevisionAtPlan: the lookup of a key's creation in the log,
// History's read and Get AtRevision's read look up the key's changes
// (PostgreSQL: the per-key index changes_key; SQLite, which has no such
// index from migration 00015: along the key's chains, by revision), and
// never scan the whole log.
func TestCreateRevisionAtPlan(t *testing.T) {
	for _, c := range fileConfigs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			ctx := t.Context()
			var items []storage.Item
			for i := range 3000 {
				items = append(items, storage.Item{Key: "k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)), Value: i})
			}
			for range 3 {
				if res, err := s.SetMany(ctx, items); err != nil || !res.OK() {
					t.Fatalf("SetMany: %v %v", err, res.Err())
				}
			}
			stmt := "ANALYZE"
			if s.Dialect() == "postgres" {
				stmt = "ANALYZE changes"
			}
			if _, err := s.eng.writer().exec(ctx, stmt); err != nil {
				t.Fatal(err)
			}
			check := func(what, q string, args []any) {
				t.Helper()
				plan := explainPlan(t, s, "EXPLAIN (COSTS OFF) ", q, args)
				if s.Dialect() == "postgres" {
					if !strings.Contains(plan, "changes_key") {
						t.Errorf("%s does not use changes_key:\n%s", what, plan)
					}
					return
				}
				if strings.Contains(plan, "SCAN changes") || strings.Contains(plan, "rowid>") || strings.Contains(plan, "rowid<") || strings.Contains(plan, "SCAN c\n") || !strings.Contains(plan, "change_ends") {
					t.Errorf("%s scans the log or does not follow the key's chains:\n%s", what, plan)
				}
			}
			if s.Dialect() == "sqlite" {
				// Back along prev_revision from a change of the key, by
				// the log's primary key.
				plan := explainPlan(t, s, "EXPLAIN (COSTS OFF) ", createRevisionSQLite, []any{head(t, s)})
				if strings.Contains(plan, "SCAN c") || !strings.Contains(plan, "INTEGER PRIMARY KEY") {
					t.Errorf("the creation lookup does not follow prev_revision by the primary key:\n%s", plan)
				}
			} else {
				check("the creation lookup", s.placeholders(createRevisionSQL), []any{"default", "ka", head(t, s)})
			}
			key := "ka"
			lq, err := s.newLogQuery(driver.CallOptions{Set: driver.KindNamespace, Namespace: storage.NamespaceName{Name: "default"}}, &key)
			if err != nil {
				t.Fatal(err)
			}
			q, args, err := lq.statement(lq.inner(0, 0, 100, false), "c.revision")
			if err != nil {
				t.Fatal(err)
			}
			check("History", q, args)
			if lq, err = s.keyStateQuery("default", "ka"); err != nil {
				t.Fatal(err)
			}
			q, args, err = lq.statement(lq.inner(0, head(t, s), historyBatch, true), "c.revision DESC")
			if err != nil {
				t.Fatal(err)
			}
			check("Get AtRevision", q, args)
		})
	}
}
