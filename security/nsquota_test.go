package security_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// hidden hides every method of the store it holds but storage.Store's:
// the layer then counts by listing (no driver.NamespaceCounter, no Unwrap).
type hidden struct{ storage.Store }

// TestNamespaceQuota: a principal owns at most MaxNamespacesPerPrincipal
// namespaces, principal://{pkr} included, counted by the engine's
// CountNamespaces or, through a store without it, by listing; a create
// beyond is ErrCapacityExceeded and creates nothing. Another principal's
// namespaces do not count, and an operator (principal://* rw) is not bound.
func TestNamespaceQuota(t *testing.T) {
	const quota = 3
	for _, c := range configs {
		for _, wrap := range []string{"counter", "listing"} {
			t.Run(c.Name+"/"+wrap, func(t *testing.T) {
				inner := teststore.Open(t, c.DSN(t))
				var under storage.Store = inner
				if wrap == "listing" {
					under = hidden{inner}
				}
				pol := security.NewPolicy()
				alice, bob, admin := mustPKR(t, pkAlice), mustPKR(t, pkBob), mustPKR(t, "admin-pk")
				mustApply(t, pol, alice, map[string]string{"storage://namespace/*": "rw"})
				mustApply(t, pol, admin, map[string]string{"principal://*": "rw"})
				st := security.NewStore(under, pol, security.MaxNamespacesPerPrincipal(quota))
				as := func(p security.PKR) func(string) error {
					ctx := security.WithPrincipal(t.Context(), p)
					return func(name string) error { return st.CreateNamespace(ctx, name) }
				}
				byAlice, byBob, byAdmin := as(alice), as(bob), as(admin)
				// Plain namespaces are not a principal's.
				for i := range quota + 1 {
					if err := byAlice(fmt.Sprintf("plain%d", i)); err != nil {
						t.Fatal(err)
					}
				}
				if err := byBob(bob.SubNamespace("b")); err != nil {
					t.Fatal(err)
				}
				if err := byAlice(alice.Namespace()); err != nil {
					t.Fatal(err)
				}
				for i := range quota - 1 {
					if err := byAlice(alice.SubNamespace(fmt.Sprint(i))); err != nil {
						t.Fatal(err)
					}
				}
				err := byAlice(alice.SubNamespace("over"))
				if !errors.Is(err, storage.ErrCapacityExceeded) {
					t.Fatalf("create beyond the quota: %v, want ErrCapacityExceeded", err)
				}
				names, _ := snapshot(t, inner)
				if slices.Contains(names, alice.SubNamespace("over")) {
					t.Errorf("the refused namespace was created")
				}
				if err := byAdmin(alice.SubNamespace("admin")); err != nil {
					t.Errorf("an operator's create beyond alice's quota: %v", err)
				}
				if err := byBob(bob.SubNamespace("b2")); err != nil {
					t.Errorf("bob's second namespace: %v", err)
				}
			})
		}
	}
}
