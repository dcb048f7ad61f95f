package security_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// TestIndexPermissions: CreateIndex and DropIndex need write on the
// namespace. A reader is denied and changes nothing; a writer may; a
// principal indexes its own namespace; and a store without the ability
// is ErrUnsupported, never a panic.
func TestIndexPermissions(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner := teststore.Open(t, c.DSN(t))
			bg := context.Background()
			if err := inner.Set(bg, "u1", map[string]any{"age": 3}, storage.InNamespace("users")); err != nil {
				t.Fatal(err)
			}
			pol := security.NewPolicy()
			reader, writer := mustPKR(t, "reader-pk"), mustPKR(t, "writer-pk")
			mustApply(t, pol, reader, map[string]string{"storage://namespace/users": "r"})
			mustApply(t, pol, writer, map[string]string{"storage://namespace/users": "rw"})
			st := security.NewStore(inner, pol)
			rctx, wctx := security.WithPrincipal(bg, reader), security.WithPrincipal(bg, writer)
			declared := func() []string {
				t.Helper()
				list, err := inner.ListNamespaces(bg)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range list {
					if n.Name == "users" {
						return n.Indexes
					}
				}
				return nil
			}
			if err := st.CreateIndex(rctx, "users", "age"); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Errorf("reader CreateIndex = %v, want ErrPermissionDenied", err)
			}
			if got := declared(); got != nil {
				t.Fatalf("a denied CreateIndex declared %v", got)
			}
			if err := st.CreateIndex(bg, "users", "age"); !errors.Is(err, storage.ErrUnauthenticated) {
				t.Errorf("anonymous CreateIndex = %v, want ErrUnauthenticated", err)
			}
			if err := st.CreateIndex(wctx, "users", "age"); err != nil {
				t.Fatalf("writer CreateIndex: %v", err)
			}
			if err := st.DropIndex(rctx, "users", "age"); !errors.Is(err, storage.ErrPermissionDenied) {
				t.Errorf("reader DropIndex = %v, want ErrPermissionDenied", err)
			}
			if got := declared(); !slices.Equal(got, []string{"age"}) {
				t.Fatalf("declared %v, want [age]", got)
			}
			// Its own namespace: the reader may index there.
			own := reader.Namespace()
			if err := st.CreateNamespace(rctx, own); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateIndex(rctx, own, "x"); err != nil {
				t.Errorf("CreateIndex in the principal's own namespace: %v", err)
			}
			if err := st.DropIndex(wctx, "users", "age"); err != nil {
				t.Errorf("writer DropIndex: %v", err)
			}
			// Over a store that cannot index.
			plain := security.NewStore(struct{ storage.Store }{inner}, pol)
			if err := plain.CreateIndex(wctx, "users", "age"); !errors.Is(err, storage.ErrUnsupported) {
				t.Errorf("CreateIndex over a store without Indexer = %v, want ErrUnsupported", err)
			}
		})
	}
}
