package security_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
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
