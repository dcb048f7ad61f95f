package sqlstore

import (
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestNamespaceDeleteClock: a namespace's deletion (and an import's
// change of its metadata) is logged at the store's clock (WithClock), as every other change, not at the database's
// own: its event's At, and the expiries a read at its revision decides
// by it. Before, a database trigger stamped it with its clock
// (clock_timestamp(), unixepoch): with a clock a year ahead the delete
// came a year before the changes around it, and Get AtRevision of that
// revision showed an entry whose expiry had passed.
func TestNamespaceDeleteClock(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			at := time.Now().UTC().Add(365 * 24 * time.Hour).Truncate(time.Second)
			clock := storetest.NewClock(at)
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			must(t, s.Set(ctx, "k", 1, storage.InNamespace("b"), storage.WithTTL(time.Second)))
			must(t, s.Set(ctx, "x", 1, storage.InNamespace("full")))
			must(t, s.CreateNamespace(ctx, "empty"))
			clock.Advance(time.Minute)
			must(t, s.DeleteNamespace(ctx, "full", storage.Recursive()))
			r := head(t, s)
			must(t, s.DeleteNamespace(ctx, "empty"))
			// An import over an existing namespace with other metadata
			// logs a namespace_metadata change, by the same trigger.
			must(t, s.CreateNamespace(ctx, "imported"))
			if _, err := s.RestoreNamespace(ctx, NamespaceRecord{Name: "imported", Metadata: []byte(`{"m":1}`), CreatedAt: at}, ConflictOverwrite); err != nil {
				t.Fatal(err)
			}
			if e, err := s.Get(ctx, "k", storage.InNamespace("b"), storage.AtRevision(r)); err == nil {
				t.Errorf("get b/k at %d, a minute after its expiry: %s", r, e.Value)
			}
			h := head(t, s)
			for ev, err := range s.Watch(ctx, storage.FromRevision(0)) {
				if err != nil {
					t.Fatal(err)
				}
				if (ev.Type == storage.EventNamespaceDelete || ev.Type == storage.EventNamespaceMetadata) && !ev.At.Equal(clock.Now()) {
					t.Errorf("%s of %s at %v, want the store's clock %v", ev.Type, ev.Namespace, ev.At, clock.Now())
				}
				if ev.Revision == h {
					break
				}
			}
		})
	}
}
