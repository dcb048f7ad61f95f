package sqlstore

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestExpiryInOneTx: inside one transaction the store's clock decides
// expiry at each operation, for the transaction's own writes as for the
// entries it found: its own write is visible until its expiry and absent
// from it on (Has, Get, GetMany, List, Count), a create-only write over it
// succeeds as over a missing key (version 1, a new life), a
// compare-and-swap on it conflicts, Delete and SetMetadata of it are
// ErrNotFound, and KeepTTL over an expired entry keeps nothing. After the
// commit the change log says the same on both dialects: the re-creations
// are puts with PrevRevision 0, and the sweeper's one expire event for
// the key left expired names its put.
func TestExpiryInOneTx(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			clock := storetest.NewClock(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			o := storage.InNamespace("p")
			var out storage.WriteResult
			must(t, s.Set(ctx, "out", 1, o, storage.WithTTL(3*time.Second), storage.Written(&out)))
			tx, err := s.Begin(ctx, storage.TxOptions{})
			must(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			var f1, g1, f2, out2 storage.WriteResult
			must(t, tx.Set(ctx, "f", 1, o, storage.WithTTL(5*time.Second), storage.Written(&f1)))
			must(t, tx.Set(ctx, "g", 1, o, storage.WithTTL(5*time.Second), storage.Written(&g1)))
			has := func(k string, want bool, when string) {
				t.Helper()
				if ok, err := tx.Has(ctx, k, o); err != nil || ok != want {
					t.Errorf("%s: tx.Has(%q) = %v, %v; want %v", when, k, ok, err, want)
				}
			}
			has("f", true, "before the expiry")
			has("out", true, "before the expiry")
			clock.Advance(5 * time.Second)
			for _, k := range []string{"f", "g", "out"} {
				has(k, false, "at the expiry")
				if _, err := tx.Get(ctx, k, o); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("tx.Get(%q) at its expiry: %v, want ErrNotFound", k, err)
				}
			}
			must(t, tx.Set(ctx, "f", 2, o, storage.NoOverwrite(), storage.Written(&f2)))
			if f2.Version != 1 || f2.CreateRevision != f2.Revision || f2.Revision <= g1.Revision {
				t.Errorf("create-only over the tx's own expired write: %+v; want version 1, a new life", f2)
			}
			if err := tx.Set(ctx, "g", 2, o, storage.IfVersion(1)); !errors.Is(err, storage.ErrConflict) {
				t.Errorf("IfVersion(1) on the tx's own expired write: %v, want ErrConflict", err)
			}
			if err := tx.Set(ctx, "g", 2, o, storage.IfRevision(g1.Revision)); !errors.Is(err, storage.ErrConflict) {
				t.Errorf("IfRevision on the tx's own expired write: %v, want ErrConflict", err)
			}
			if err := tx.Delete(ctx, "g", o); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Delete of the tx's own expired write: %v, want ErrNotFound", err)
			}
			if err := tx.SetMetadata(ctx, "g", map[string]any{"a": 1}, o); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("SetMetadata of the tx's own expired write: %v, want ErrNotFound", err)
			}
			must(t, tx.Set(ctx, "out", 2, o, storage.KeepTTL(), storage.Written(&out2)))
			if e, err := tx.Get(ctx, "out", o); err != nil || e.Version != 1 || !e.ExpiresAt.IsZero() {
				t.Errorf("KeepTTL over an expired entry: %+v, %v; want version 1, no expiry", e, err)
			}
			gm, err := tx.GetMany(ctx, []string{"f", "g", "out"}, o)
			must(t, err)
			if len(gm.Entries) != 2 || !errors.Is(gm.Errors["g"], storage.ErrNotFound) {
				t.Errorf("tx.GetMany: %d entries, errors %v; want f and out, g ErrNotFound", len(gm.Entries), gm.Errors)
			}
			l, err := tx.List(ctx, o)
			must(t, err)
			if !slices.Equal(l.Keys, []string{"f", "out"}) {
				t.Errorf("tx.List = %q, want [f out]", l.Keys)
			}
			if n, err := tx.Count(ctx, o); err != nil || n != 2 {
				t.Errorf("tx.Count = %d, %v; want 2", n, err)
			}
			must(t, tx.Commit(ctx))
			st, err := s.Status(ctx)
			must(t, err)
			if n, err := s.Sweep(ctx); err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v; want 1 (g)", n, err)
			}
			type ev struct {
				typ        storage.EventType
				key        string
				prev, vers int64
			}
			var got []ev
			for e, err := range s.Watch(ctx, o, storage.FromRevision(out.Revision-1)) {
				must(t, err)
				got = append(got, ev{e.Type, e.Key, e.PrevRevision, e.Version})
				if e.Revision >= st.Revision+1 {
					break
				}
			}
			want := []ev{
				{storage.EventPut, "out", 0, 1},
				{storage.EventPut, "f", 0, 1}, {storage.EventPut, "g", 0, 1},
				{storage.EventPut, "f", 0, 1}, {storage.EventPut, "out", 0, 1},
				{storage.EventExpire, "g", g1.Revision, 1},
			}
			if !slices.Equal(got, want) {
				t.Errorf("events = %+v\nwant %+v", got, want)
			}
		})
	}
}
