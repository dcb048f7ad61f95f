package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
)

// TestWatchACLEverything: a principal watching every namespace over HTTP
// (from now, and from revision 0) is shown only the events it may read:
// alice, who reads "shared" alone, sees shared's creation, clear and
// puts, and nothing of "secret", of bob's principal namespaces, of bob's
// data key inside shared, nor of their clears and deletes; nobody, who
// holds no grant, sees nothing at all.
func TestWatchACLEverything(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			ctx := t.Context()
			alice, admin, bob := newClient(t, s, hAlice), newClient(t, s, hAdmin), newClient(t, s, hBob)
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			type seen struct {
				who string
				ev  storage.Event
				err error
			}
			ch := make(chan seen, 1000)
			for _, w := range []struct {
				who  string
				cl   storage.Watcher
				from bool
			}{{"alice", alice, false}, {"alice from 0", alice, true}, {"nobody", newClient(t, s, hNobody), false}} {
				started := make(chan struct{})
				opts := []storage.Option{storage.OnStart(func(int64) { close(started) })}
				if w.from {
					opts = append(opts, storage.FromRevision(0))
				}
				go func() {
					for ev, err := range w.cl.Watch(wctx, opts...) {
						ch <- seen{w.who, ev, err}
						if err != nil {
							return
						}
					}
				}()
				<-started
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(admin.Set(ctx, "s", 1, storage.InNamespace("secret")))
			must(bob.Set(ctx, "b", 1, storage.InNamespace("principal://bob-pk")))
			must(bob.Set(ctx, "b", 1, storage.InNamespace("principal://bob-pk/namespace/x")))
			must(admin.Set(ctx, "principal://bob-pk/data/k", 1, storage.InNamespace("shared")))
			must(admin.Set(ctx, "a", 1, storage.InNamespace("shared")))
			must(admin.Clear(ctx))
			must(admin.DeleteNamespace(ctx, "secret"))
			must(admin.DeleteNamespace(ctx, "principal://bob-pk/namespace/x"))
			must(alice.Set(ctx, "end", 1, storage.InNamespace("shared")))
			// The last write is alice's own: once both her watches have
			// it, every earlier event has been shown or hidden.
			ended := map[string]bool{}
			shown := map[string][]string{}
			for len(ended) < 2 {
				select {
				case g := <-ch:
					if g.err != nil {
						t.Fatalf("%s: %v", g.who, g.err)
					}
					shown[g.who] = append(shown[g.who], string(g.ev.Type)+" "+g.ev.Namespace+" "+g.ev.Key)
					if g.ev.Namespace != "shared" || g.ev.Key == "principal://bob-pk/data/k" {
						t.Errorf("%s was shown %s %q %q", g.who, g.ev.Type, g.ev.Namespace, g.ev.Key)
					}
					if g.ev.Key == "end" {
						ended[g.who] = true
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("alice's watches did not reach her last write: %v", shown)
				}
			}
			for _, who := range []string{"alice", "alice from 0"} {
				want := []string{"namespace_create shared ", "put shared a", "clear shared ", "put shared end"}
				if got := shown[who]; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
					t.Errorf("%s was shown %q, want %q", who, got, want)
				}
			}
			select {
			case g := <-ch:
				t.Errorf("%s was shown %+v %v", g.who, g.ev, g.err)
			case <-time.After(300 * time.Millisecond):
			}
		})
	}
}
