package security_test

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// countingLister counts the namespaces its store's ListNamespaces returns.
type countingLister struct {
	storage.Store
	listed atomic.Int64
}

func (c *countingLister) ListNamespaces(ctx context.Context, opts ...storage.Option) ([]storage.Namespace, error) {
	nss, err := c.Store.ListNamespaces(ctx, opts...)
	c.listed.Add(int64(len(nss)))
	return nss, err
}

// TestListNamespacesScope: a principal's listNamespaces made the engine
// read (and decode, metadata and all) every namespace of the store for
// this layer to drop, so another principal's many namespaces slowed every
// listing. The engine now reads only the namespaces the caller may read,
// and the caller sees what it saw before.
func TestListNamespacesScope(t *testing.T) {
	const many = 200
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner := &countingLister{Store: teststore.Open(t, c.DSN(t))}
			pol := security.NewPolicy()
			alice, bob, carol := mustPKR(t, "alice-pk"), mustPKR(t, "bob-pk"), mustPKR(t, "carol-pk")
			mustApply(t, pol, alice, map[string]string{"storage://namespace/shared": "r", "principal://bob-pk/namespace/*": "r"})
			mustApply(t, pol, bob, map[string]string{"storage://namespace/*": "rw"})
			s := security.NewStore(inner, pol)
			ctx := context.Background()
			create := func(p security.PKR, name string) {
				t.Helper()
				if err := s.CreateNamespace(security.WithPrincipal(ctx, p), name); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			for _, n := range []string{"shared", "shared2", "tenant"} {
				create(bob, n)
			}
			create(bob, "principal://bob-pk/namespace/x")
			create(alice, "principal://alice-pk/namespace/mine")
			for i := range many {
				create(carol, "principal://carol-pk/namespace/n"+strconv.Itoa(i))
			}
			names := func(p security.PKR) []string {
				t.Helper()
				nss, err := s.ListNamespaces(security.WithPrincipal(ctx, p))
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, n := range nss {
					out = append(out, n.Name)
				}
				return out
			}
			inner.listed.Store(0)
			got := names(alice)
			want := []string{"principal://alice-pk/namespace/mine", "principal://bob-pk/namespace/x", "shared"}
			if !slices.Equal(got, want) {
				t.Fatalf("alice's namespaces: %q, want %q", got, want)
			}
			if n := inner.listed.Load(); n > int64(len(want)) {
				t.Errorf("the store read %d namespaces for alice's listing of %d", n, len(want))
			}
			// bob may read every plain namespace: the store reads those
			// (default included), and his own, not carol's.
			inner.listed.Store(0)
			if got := names(bob); len(got) != 5 {
				t.Fatalf("bob's namespaces: %q", got)
			}
			if n := inner.listed.Load(); n > 5 {
				t.Errorf("the store read %d namespaces for bob's listing of 5", n)
			}
			// carol sees her own, all of them.
			if got := names(carol); len(got) != many {
				t.Fatalf("carol sees %d namespaces, want %d", len(got), many)
			}
		})
	}
}
