package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestSetManyPrevRevision: each put a SetMany logs carries the revision it
// overwrote (a watch event's PrevRevision), whatever wrote the entry last
// (a Set, a batch, a metadata change, a compare-and-swap), and 0 for a new
// key and for a key whose entry had expired; through both batch statements
// on PostgreSQL (items with metadata, and without: the stored metadata
// kept), with the items' own and kept expiries, and through COPY. On every
// configuration, with an injected clock.
func TestSetManyPrevRevision(t *testing.T) {
	type side struct {
		name  string
		s     *Store
		clock *storetest.Clock
	}
	var sides []side
	for _, c := range watchConfigs() {
		clock := storetest.NewClock(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
		s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1))
		t.Cleanup(func() { _ = s.Close() })
		sides = append(sides, side{c.name, s, clock})
		if c.name == "postgres" {
			clock := storetest.NewClock(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1), withCopyMin(1))
			t.Cleanup(func() { _ = s.Close() })
			sides = append(sides, side{"postgres-copy", s, clock})
		}
	}
	variants := []struct {
		name string
		item func(key string, v int) storage.Item
	}{
		{"metadata", func(key string, v int) storage.Item {
			return storage.Item{Key: key, Value: v, Metadata: map[string]any{"m": v}}
		}},
		{"keep-metadata", func(key string, v int) storage.Item { return storage.Item{Key: key, Value: v} }},
		{"keep-ttl", func(key string, v int) storage.Item { return storage.Item{Key: key, Value: v, KeepTTL: true} }},
		{"ttl", func(key string, v int) storage.Item { return storage.Item{Key: key, Value: v, TTL: time.Hour} }},
	}
	for _, sd := range sides {
		t.Run(sd.name, func(t *testing.T) {
			s := sd.s
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			must(t, s.Set(ctx, "seed", 0))
			ch := pull(ctx, s, storage.FromRevision(head(t, s)))
			for _, v := range variants {
				k := func(name string) string { return v.name + "/" + name }
				must(t, s.Set(ctx, k("set"), 1))
				must(t, s.Set(ctx, k("expired"), 1, storage.WithTTL(time.Minute)))
				must(t, s.Set(ctx, k("ttl"), 1, storage.WithTTL(time.Hour)))
				if _, err := s.SetMany(ctx, []storage.Item{{Key: k("batch"), Value: 1}}); err != nil {
					t.Fatal(err)
				}
				must(t, s.Set(ctx, k("meta"), 1))
				if err := s.SetMetadata(ctx, k("meta"), map[string]any{"x": 1}); err != nil {
					t.Fatal(err)
				}
				must(t, s.Set(ctx, k("cas"), 1))
				e, err := s.Get(ctx, k("cas"))
				if err != nil {
					t.Fatal(err)
				}
				must(t, s.Set(ctx, k("cas"), 2, storage.IfRevision(e.Revision)))
				last := map[string]int64{}
				for range 8 { // set, expired, ttl, batch, meta (put, metadata), cas (put, put)
					ev := next(t, ch)
					last[ev.Key] = ev.Revision
				}
				sd.clock.Advance(2 * time.Minute)
				keys := []string{k("set"), k("new"), k("expired"), k("ttl"), k("batch"), k("meta"), k("cas")}
				items := make([]storage.Item, len(keys))
				for i, key := range keys {
					items[i] = v.item(key, 3)
				}
				if _, err := s.SetMany(ctx, items); err != nil {
					t.Fatal(err)
				}
				for range keys {
					ev := next(t, ch)
					want := last[ev.Key]
					if ev.Key == k("expired") || ev.Key == k("new") {
						want = 0
					}
					if ev.Type != storage.EventPut || ev.PrevRevision != want {
						t.Errorf("%s: %+v, want a put with PrevRevision %d", ev.Key, ev, want)
					}
				}
				// And again over what the batch wrote.
				for i, key := range keys {
					items[i] = v.item(key, 4)
				}
				prev := map[string]int64{}
				for _, key := range keys {
					e, err := s.Get(ctx, key)
					if err != nil {
						t.Fatal(err)
					}
					prev[key] = e.Revision
				}
				if _, err := s.SetMany(ctx, items); err != nil {
					t.Fatal(err)
				}
				for range keys {
					if ev := next(t, ch); ev.PrevRevision != prev[ev.Key] {
						t.Errorf("%s, second batch: %+v, want PrevRevision %d", ev.Key, ev, prev[ev.Key])
					}
				}
			}
		})
	}
}
