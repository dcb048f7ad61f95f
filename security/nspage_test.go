package security_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// scopeBlind is a store whose ListNamespaces ignores
// driver.WithNamespaceScope (as the HTTP client does): it lists every
// namespace, and counts its calls.
type scopeBlind struct {
	storage.Store
	calls atomic.Int64
}

func (b *scopeBlind) ListNamespaces(ctx context.Context, opts ...storage.Option) ([]storage.Namespace, error) {
	b.calls.Add(1)
	return b.Store.ListNamespaces(context.WithoutCancel(context.Background()), opts...)
}

// TestListNamespacesPagesFiltered: a principal's pages hold only the
// namespaces it may read, are full until the last (a page shorter than
// Limit is the last), and, paged After the last name, list each readable
// namespace once, in order: with a store that honours the scope, and with
// one that lists everything and leaves the filtering to this layer, where
// a page of the store's may hold nothing the caller may read.
func TestListNamespacesPagesFiltered(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			raw := teststore.Open(t, c.DSN(t))
			pol := security.NewPolicy()
			alice, carol := mustPKR(t, "alice-pk"), mustPKR(t, "carol-pk")
			ctx := context.Background()
			// carol's namespaces, and plain ones: alice may read one in
			// three of each, named one by one, and her own.
			var want, carols, plain []string
			scopes := map[string]string{}
			for i := range 30 {
				c, p := fmt.Sprintf("principal://carol-pk/namespace/n%02d", i), fmt.Sprintf("plain%02d", i)
				carols, plain = append(carols, c), append(plain, p)
				if i%3 == 0 {
					scopes[c], scopes["storage://namespace/"+p] = "r", "r"
					want = append(want, c, p)
				}
			}
			mustApply(t, pol, alice, scopes)
			admin := security.NewStore(raw, teststore.GrantAll(t))
			for _, n := range carols {
				if err := admin.CreateNamespace(security.WithPrincipal(ctx, carol), n); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range append(plain, "principal://alice-pk/namespace/mine") {
				if err := raw.CreateNamespace(ctx, n); err != nil {
					t.Fatal(err)
				}
			}
			want = append(want, "principal://alice-pk/namespace/mine")
			slices.Sort(want)
			blind := &scopeBlind{Store: raw}
			for name, inner := range map[string]storage.Store{"scoped": raw, "blind": blind} {
				s := security.NewStore(inner, pol)
				actx := security.WithPrincipal(ctx, alice)
				all, err := s.ListNamespaces(actx)
				if err != nil {
					t.Fatal(err)
				}
				if got := namesOf(all); !slices.Equal(got, want) {
					t.Fatalf("%s: alice lists %q,\nwant %q", name, got, want)
				}
				for _, limit := range []int{1, 4, 9} {
					var got []string
					after := ""
					for {
						opts := []storage.Option{storage.Limit(limit), storage.OmitValues()}
						if after != "" {
							opts = append(opts, storage.After(after))
						}
						page, err := s.ListNamespaces(actx, opts...)
						if err != nil {
							t.Fatal(err)
						}
						if len(page) > limit {
							t.Fatalf("%s Limit(%d): a page of %d", name, limit, len(page))
						}
						got = append(got, namesOf(page)...)
						if len(page) < limit {
							break
						}
						after = page[len(page)-1].Name
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s Limit(%d): alice's pages list %q,\nwant %q", name, limit, got, want)
					}
				}
			}
			if blind.calls.Load() == 0 {
				t.Fatal("the blind store was never asked")
			}
			// Bad options are refused before the store is asked.
			s := security.NewStore(blind, pol)
			blind.calls.Store(0)
			if _, err := s.ListNamespaces(security.WithPrincipal(ctx, alice), storage.Limit(-1)); !errors.Is(err, storage.ErrInvalidOption) {
				t.Errorf("Limit(-1): %v, want ErrInvalidOption", err)
			}
			if n := blind.calls.Load(); n != 0 {
				t.Errorf("Limit(-1): the store was asked %d times", n)
			}
		})
	}
}

func namesOf(list []storage.Namespace) []string {
	out := []string{}
	for _, n := range list {
		out = append(out, n.Name)
	}
	return out
}
