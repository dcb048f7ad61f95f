package security_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestWatchHidesOthersExpiriesAndNamespaces: a principal's watch of the
// whole store shows no event of what it may not read, of any type: the
// expire events of another principal's data keys and of a namespace it
// may not read, that namespace's create, clear and delete; it shows its
// own namespace's.
func TestWatchHidesOthersExpiriesAndNamespaces(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner := teststore.Open(t, c.DSN(t), sqlstore.WithSweepInterval(50*time.Millisecond))
			pol := security.NewPolicy()
			alice, bob := mustPKR(t, "alice-pk"), mustPKR(t, "bob-pk")
			mustApply(t, pol, alice, map[string]string{"storage://namespace/shared": "rw"})
			mustApply(t, pol, bob, map[string]string{"storage://namespace/*": "rw"})
			s := security.NewStore(inner, pol)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			actx, bctx := security.WithPrincipal(ctx, alice), security.WithPrincipal(ctx, bob)
			started := make(chan struct{})
			got := make(chan []string, 1)
			go func() {
				var evs []string
				for ev, err := range s.Watch(actx, storage.OnStart(func(int64) { close(started) })) {
					if err != nil {
						evs = append(evs, "error "+err.Error())
						break
					}
					evs = append(evs, string(ev.Type)+" "+ev.Namespace+"/"+ev.Key)
					if ev.Key == "end" {
						break
					}
				}
				got <- evs
			}()
			<-started
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			ttl := storage.WithTTL(100 * time.Millisecond)
			secret, shared := storage.InNamespace("hsecret"), storage.InNamespace("shared")
			must(s.Set(bctx, "s1", 1, secret, ttl))
			must(s.Set(bctx, "principal://bob-pk/data/x", 1, shared, ttl))
			must(s.Set(actx, "a1", 1, shared, ttl))
			// Let the sweeper remove the three.
			deadline := time.Now().Add(20 * time.Second)
			for {
				n, err := inner.Count(ctx, storage.InNamespace("hsecret"))
				must(err)
				m, err := inner.Count(ctx, shared)
				must(err)
				if n == 0 && m == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the sweeper left %d and %d", n, m)
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			must(s.Set(bctx, "s2", 1, secret))
			must(s.Clear(bctx, secret))
			must(s.DeleteNamespace(bctx, "hsecret", storage.Recursive()))
			must(s.Set(actx, "end", 1, shared))
			evs := <-got
			all := strings.Join(evs, "\n")
			if strings.Contains(all, "hsecret") || strings.Contains(all, "bob-pk") || !strings.Contains(all, "expire shared/a1") {
				t.Fatalf("alice's watch:\n%s", all)
			}
			t.Logf("alice's watch:\n%s", all)
		})
	}
}
