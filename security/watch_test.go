package security_test

import (
	"context"
	"errors"
	"iter"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// TestWatchACL: a principal's watch shows only what it may read, under the
// rules of Get and List: namespaces it may read, and no other principal's
// data keys; a watch of a namespace it may not read is denied, as are
// History and Get at a revision of a key it may not read.
func TestWatchACL(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner := teststore.Open(t, c.DSN(t))
			pol := security.NewPolicy()
			alice, bob := mustPKR(t, "alice-pk"), mustPKR(t, "bob-pk")
			mustApply(t, pol, alice, map[string]string{"storage://namespace/shared": "rw"})
			mustApply(t, pol, bob, map[string]string{"storage://namespace/*": "rw"})
			s := security.NewStore(inner, pol)
			ctx := context.Background()
			actx, bctx := security.WithPrincipal(ctx, alice), security.WithPrincipal(ctx, bob)

			st, err := inner.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			from := storage.FromRevision(st.Revision)
			for _, err := range s.Watch(actx, storage.InNamespace("secret"), from) {
				if !errors.Is(err, storage.ErrPermissionDenied) {
					t.Fatalf("watch of a namespace alice may not read: %v", err)
				}
				break
			}
			for _, err := range s.Watch(ctx, from) {
				if !errors.Is(err, storage.ErrUnauthenticated) {
					t.Fatalf("watch without a principal: %v", err)
				}
				break
			}

			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			got := make(chan []string, 1)
			go func() {
				var keys []string
				for ev, err := range s.Watch(security.WithPrincipal(wctx, alice), from) {
					if err != nil {
						t.Errorf("alice's watch: %v", err)
						break
					}
					keys = append(keys, string(ev.Type)+" "+ev.Namespace+"/"+ev.Key)
					if ev.Key == "end" {
						break
					}
				}
				got <- keys
			}()
			time.Sleep(50 * time.Millisecond)
			set := func(ctx context.Context, ns, key string) {
				t.Helper()
				if err := s.Set(ctx, key, 1, storage.InNamespace(ns)); err != nil {
					t.Fatalf("set %s/%s: %v", ns, key, err)
				}
			}
			set(bctx, "secret", "s1")
			set(bctx, "shared", "k1")
			set(bctx, "shared", "principal://bob-pk/data/x") // bob's data: hidden from alice
			set(actx, "shared", "principal://alice-pk/data/y")
			set(bctx, "principal://bob-pk", "mine") // bob's namespace
			if err := s.Delete(bctx, "k1", storage.InNamespace("shared")); err != nil {
				t.Fatal(err)
			}
			set(bctx, "shared", "end")
			keys := <-got
			want := []string{"put shared/k1", "put shared/principal://alice-pk/data/y", "delete shared/k1", "put shared/end"}
			// The shared namespace's creation comes first.
			if len(keys) > 0 && keys[0] == "namespace_create shared/" {
				keys = keys[1:]
			}
			if !slices.Equal(keys, want) {
				t.Fatalf("alice saw %q, want %q", keys, want)
			}

			// History and Get at a revision follow Get's rule.
			if _, err := s.History(actx, "principal://bob-pk/data/x", storage.InNamespace("shared")); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Fatalf("alice's History of bob's data key: %v", err)
			}
			if _, err := s.History(actx, "s1", storage.InNamespace("secret")); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Fatalf("alice's History in secret: %v", err)
			}
			if _, err := s.Get(actx, "s1", storage.InNamespace("secret"), storage.AtRevision(st.Revision+1)); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Fatalf("alice's Get at a revision in secret: %v", err)
			}
			evs, err := s.History(actx, "end", storage.InNamespace("shared"))
			if err != nil || len(evs) != 1 {
				t.Fatalf("alice's History of shared/end: %v, %v", evs, err)
			}
		})
	}
}

// countingWatcher passes everything to its store and counts the events
// the store's watches yield: the changes the engine read for them.
type countingWatcher struct {
	storage.Store
	events atomic.Int64
}

func (c *countingWatcher) Watch(ctx context.Context, opts ...storage.Option) iter.Seq2[storage.Event, error] {
	return func(yield func(storage.Event, error) bool) {
		for ev, err := range c.Store.(storage.Watcher).Watch(ctx, opts...) {
			if err == nil {
				c.events.Add(1)
			}
			if !yield(ev, err) {
				return
			}
		}
	}
}

// TestWatchScopeReads: a principal that may read one namespace, watching
// without a namespace, made the engine read (and decode, values and all)
// every change of every tenant for this layer to drop: its watch's cost
// grew with the others' traffic. The engine now reads only the changes of
// the namespaces the principal may read, and the principal sees what it
// saw before: its namespace's events, in order, and those of a namespace
// granted while it watches, from the grant on.
func TestWatchScopeReads(t *testing.T) {
	const n = 200
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner := &countingWatcher{Store: teststore.Open(t, c.DSN(t))}
			pol := security.NewPolicy()
			alice, bob := mustPKR(t, "alice-pk"), mustPKR(t, "bob-pk")
			mustApply(t, pol, alice, map[string]string{"storage://namespace/shared": "r"})
			mustApply(t, pol, bob, map[string]string{"storage://namespace/*": "rw", "principal://*": "rw"})
			s := security.NewStore(inner, pol)
			ctx := context.Background()
			bctx := security.WithPrincipal(ctx, bob)
			st, err := inner.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			got := make(chan []string, 1)
			end := make(chan struct{})
			go func() {
				var keys []string
				for ev, err := range s.Watch(security.WithPrincipal(wctx, alice), storage.FromRevision(st.Revision)) {
					if err != nil {
						t.Errorf("alice's watch: %v", err)
						break
					}
					keys = append(keys, string(ev.Type)+" "+ev.Namespace+"/"+ev.Key)
					if ev.Key == "end" {
						close(end)
					}
					if ev.Key == "late" {
						break
					}
				}
				got <- keys
			}()
			for i := range n {
				ns := "tenant" + strconv.Itoa(i%4)
				if i%10 == 0 {
					ns = "principal://carol-pk/namespace/n"
				}
				if err := s.Set(bctx, "k"+strconv.Itoa(i), map[string]int{"i": i}, storage.InNamespace(ns)); err != nil {
					t.Fatal(err)
				}
			}
			for _, k := range []string{"a", "end"} {
				if err := s.Set(bctx, k, 1, storage.InNamespace("shared")); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-end:
			case <-wctx.Done():
				t.Fatal("alice's watch did not see shared/end")
			}
			read := inner.events.Load()
			mustApply(t, pol, alice, map[string]string{"storage://namespace/tenant1": "r"})
			if err := s.Set(bctx, "late", 1, storage.InNamespace("tenant1")); err != nil {
				t.Fatal(err)
			}
			keys := <-got
			want := []string{"namespace_create shared/", "put shared/a", "put shared/end", "put tenant1/late"}
			if !slices.Equal(keys, want) {
				t.Fatalf("alice saw %q, want %q", keys, want)
			}
			t.Logf("%d writes to other tenants, 3 to alice's namespace: the engine read %d changes for alice's watch", n, read)
			if read > 3 {
				t.Fatalf("the engine read %d changes for a watch that may see 3", read)
			}
		})
	}
}

// laggingWatcher's watches start at revision start (told through OnStart,
// as a store does) and, before any event, fail as a consumer that fell
// behind after delivering nothing.
type laggingWatcher struct {
	storage.Store
	start int64
}

func (l laggingWatcher) Watch(ctx context.Context, opts ...storage.Option) iter.Seq2[storage.Event, error] {
	return func(yield func(storage.Event, error) bool) {
		co, err := driver.ResolveOptions("watch", driver.KindOnStart|driver.KindNamespace|driver.KindRevision, opts)
		if err != nil {
			yield(storage.Event{}, err)
			return
		}
		if co.OnStart != nil {
			co.OnStart(l.start)
		}
		yield(storage.Event{}, &storage.LaggedError{Last: l.start})
	}
}

// TestWatchLagBeforeAnyEvent: a watch that falls behind before it showed
// the caller anything tells it to resume from where the watch started.
// For FromRevision(0) that is the revision before the oldest retained
// change, not 0: before, this layer said 0, and a resume from 0 (every
// retained change) after a compaction silently skipped the changes
// compacted in between instead of failing with ErrCompacted.
func TestWatchLagBeforeAnyEvent(t *testing.T) {
	inner := laggingWatcher{Store: teststore.Open(t, configs[0].DSN(t)), start: 41}
	pol := security.NewPolicy()
	alice := mustPKR(t, "alice-pk")
	mustApply(t, pol, alice, map[string]string{"storage://namespace/*": "r"})
	s := security.NewStore(inner, pol)
	ctx := security.WithPrincipal(context.Background(), alice)
	froms := map[string][]storage.Option{"FromRevision(0)": {storage.FromRevision(0)}, "FromRevision(41)": {storage.FromRevision(41)}, "from now": nil}
	for from, fo := range froms {
		opts := append([]storage.Option{storage.InNamespace("shared")}, fo...)
		var started []int64
		opts = append(opts, storage.OnStart(func(r int64) { started = append(started, r) }))
		for _, err := range s.Watch(ctx, opts...) {
			var le *storage.LaggedError
			if !errors.As(err, &le) || le.Last != 41 {
				t.Errorf("watch %s: %v, want a LaggedError to resume from 41", from, err)
			}
		}
		if !slices.Equal(started, []int64{41}) {
			t.Errorf("watch %s: the caller's OnStart saw %v, want [41]", from, started)
		}
	}
}

// TestWatchGrantWhileIdle: the store wakes a principal's watch only for
// writes to the namespaces it may read (as last asked), so a grant given
// while the watch sleeps changes nothing the store hears of: the store
// asks the scope again at each of its scans of the log (every poll
// interval while the log grows), and a write to the namespace granted,
// or to one the principal owns, still reaches the watch; the namespaces
// it may still not read stay hidden.
func TestWatchGrantWhileIdle(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner := teststore.Open(t, c.DSN(t))
			pol := security.NewPolicy()
			alice, bob := mustPKR(t, "alice-pk"), mustPKR(t, "bob-pk")
			mustApply(t, pol, alice, map[string]string{"storage://namespace/shared": "r"})
			mustApply(t, pol, bob, map[string]string{"storage://namespace/*": "rw", "principal://*": "rw"})
			s := security.NewStore(inner, pol)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			bctx := security.WithPrincipal(ctx, bob)
			st, err := inner.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			evs := make(chan storage.Event, 1024)
			go func() {
				defer close(evs)
				for ev, err := range s.Watch(security.WithPrincipal(ctx, alice), storage.FromRevision(st.Revision)) {
					if err != nil {
						t.Errorf("alice's watch: %v", err)
						return
					}
					evs <- ev
				}
			}()
			set := func(ns, key string) {
				t.Helper()
				if err := s.Set(bctx, key, 1, storage.InNamespace(ns)); err != nil {
					t.Fatal(err)
				}
			}
			waitFor := func(ns, key string) {
				t.Helper()
				for {
					select {
					case ev, ok := <-evs:
						if !ok {
							t.Fatalf("alice's watch ended before %s/%s", ns, key)
						}
						if ev.Namespace != "shared" && ev.Namespace != "tenant1" && ev.Namespace != "principal://alice-pk" {
							t.Fatalf("alice saw %+v", ev)
						}
						if ev.Namespace == ns && ev.Key == key {
							return
						}
					case <-ctx.Done():
						t.Fatalf("alice's watch did not see %s/%s", ns, key)
					}
				}
			}
			set("shared", "a")
			waitFor("shared", "a")
			for i := range 20 {
				set("tenant"+strconv.Itoa(i%3), "k"+strconv.Itoa(i))
			}
			time.Sleep(300 * time.Millisecond) // alice's watch sleeps through the scans
			// The grant, as a server's reload gives it.
			next := security.NewPolicy()
			mustApply(t, next, alice, map[string]string{"storage://namespace/shared": "r", "storage://namespace/tenant1": "r"})
			mustApply(t, next, bob, map[string]string{"storage://namespace/*": "rw", "principal://*": "rw"})
			pol.Replace(next)
			set("tenant2", "hidden")
			set("tenant1", "late")
			waitFor("tenant1", "late")
			time.Sleep(300 * time.Millisecond)
			set("principal://alice-pk", "own")
			waitFor("principal://alice-pk", "own")
		})
	}
}
