package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestWatchExpiredOverwrite: a write over an entry whose expiry passed but
// that the sweeper has not removed is one put with PrevRevision 0 (a new
// life of the key: Version 1, CreatedAt the write's time), never preceded
// or followed by an expire event for the old entry, through each write
// path; a watcher that rebuilds the store from the events (hiding what
// its events' ExpiresAt says has expired) holds what the store holds, both
// before and after a sweep. On every configuration, with an injected clock.
func TestWatchExpiredOverwrite(t *testing.T) {
	paths := []struct {
		name  string
		write func(ctx context.Context, s *Store, key string) error
	}{
		{"set", func(ctx context.Context, s *Store, key string) error { return s.Set(ctx, key, 2) }},
		{"set-keepttl", func(ctx context.Context, s *Store, key string) error { return s.Set(ctx, key, 2, storage.KeepTTL()) }},
		{"set-nooverwrite", func(ctx context.Context, s *Store, key string) error {
			return s.Set(ctx, key, 2, storage.NoOverwrite())
		}},
		{"set-merge", func(ctx context.Context, s *Store, key string) error {
			return s.Set(ctx, key, map[string]any{"v": 2}, storage.Merge())
		}},
		{"setmany", func(ctx context.Context, s *Store, key string) error {
			_, err := s.SetMany(ctx, []storage.Item{{Key: key, Value: 2}})
			return err
		}},
		{"setmany-nooverwrite", func(ctx context.Context, s *Store, key string) error {
			_, err := s.SetMany(ctx, []storage.Item{{Key: key, Value: 2}}, storage.NoOverwrite())
			return err
		}},
		{"tx", func(ctx context.Context, s *Store, key string) error {
			tx, err := s.Begin(ctx, storage.TxOptions{})
			if err != nil {
				return err
			}
			if err := tx.Set(ctx, key, 2); err != nil {
				_ = tx.Rollback(ctx)
				return err
			}
			return tx.Commit(ctx)
		}},
	}
	for _, c := range watchConfigs() {
		t.Run(c.name, func(t *testing.T) {
			clock := storetest.NewClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			must(t, s.Set(ctx, "seed", 0))
			ch := pull(ctx, s, storage.FromRevision(head(t, s)))
			model := map[string]storage.Event{} // key -> its last put
			apply := func(ev storage.Event) {
				switch ev.Type {
				case storage.EventPut:
					model[ev.Key] = ev
				case storage.EventDelete, storage.EventExpire:
					delete(model, ev.Key)
				}
			}
			for _, p := range paths {
				key := "k-" + p.name
				must(t, s.Set(ctx, key, 1, storage.WithTTL(time.Minute)))
				first := next(t, ch)
				apply(first)
				clock.Advance(2 * time.Minute)
				now := clock.Now()
				if err := p.write(ctx, s, key); err != nil {
					t.Fatalf("%s: %v", p.name, err)
				}
				ev := next(t, ch)
				apply(ev)
				if ev.Type != storage.EventPut || ev.Key != key || ev.PrevRevision != 0 || ev.Version != 1 ||
					!ev.CreatedAt.Equal(now) || ev.Revision != head(t, s) {
					t.Errorf("%s over an expired entry: %+v, want one put with PrevRevision 0, version 1, created %s, at the head %d",
						p.name, ev, now, head(t, s))
				}
				e, err := s.Get(ctx, key)
				if err != nil || e.CreateRevision != ev.Revision || e.Version != 1 {
					t.Errorf("%s: the entry %+v, %v after the put %+v", p.name, e, err, ev)
				}
			}
			// An import over an expired entry replaces it as it replaces a
			// live one (a delete, then the put): the old entry's removal is
			// an expire event, then the put, PrevRevision 0.
			must(t, s.Set(ctx, "imported", 1, storage.WithTTL(time.Minute)))
			old := next(t, ch)
			apply(old)
			clock.Advance(2 * time.Minute)
			now := clock.Now()
			rec := Record{Namespace: storage.DefaultNamespace, Key: "imported", Value: []byte(`2`), Metadata: []byte(`{}`), Version: 3,
				CreatedAt: now, UpdatedAt: now}
			if _, err := s.Restore(ctx, []Record{rec}, ConflictFail); err != nil {
				t.Fatal(err)
			}
			exp, put := next(t, ch), next(t, ch)
			apply(exp)
			apply(put)
			if exp.Type != storage.EventExpire || exp.Key != "imported" || exp.PrevRevision != old.Revision ||
				put.Type != storage.EventPut || put.Key != "imported" || put.PrevRevision != 0 || put.Revision != exp.Revision+1 {
				t.Errorf("import over an expired entry: %+v then %+v; want expire (after %d), then put", exp, put, old.Revision)
			}

			// A key that expires and is not overwritten: the sweep is its
			// expire event, after the old put, and the only event.
			must(t, s.Set(ctx, "gone", 1, storage.WithTTL(time.Minute)))
			put = next(t, ch)
			apply(put)
			clock.Advance(2 * time.Minute)
			if _, err := s.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			ev := next(t, ch)
			apply(ev)
			if ev.Type != storage.EventExpire || ev.Key != "gone" || ev.PrevRevision != put.Revision {
				t.Errorf("sweep: %+v, want expire gone after %d", ev, put.Revision)
			}
			// The sweep removed nothing else: no expire for the overwritten
			// keys' old entries.
			must(t, s.Set(ctx, "mark", 1))
			if ev := next(t, ch); ev.Key != "mark" {
				t.Errorf("after the sweep: %+v, want the put of mark (no other event)", ev)
			}
			delete(model, "mark")

			// The watcher's state is the store's.
			live := map[string]string{}
			for k, ev := range model {
				if ev.ExpiresAt.IsZero() || ev.ExpiresAt.After(clock.Now()) {
					live[k] = string(ev.Value)
				}
			}
			res, err := s.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			store := map[string]string{}
			for _, k := range res.Keys {
				e, err := s.Get(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				if k != "mark" && k != "seed" {
					store[k] = string(e.Value)
				}
			}
			if fmt.Sprint(live) != fmt.Sprint(store) {
				t.Errorf("watcher %v, store %v", live, store)
			}
		})
	}
}
