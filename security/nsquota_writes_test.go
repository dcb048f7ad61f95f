package security_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// TestNamespaceQuotaByWrites: a write into a missing namespace creates
// it, so it counts under MaxNamespacesPerPrincipal as CreateNamespace
// does. Before, only CreateNamespace was checked: with a quota of 3 a Set
// into each of principal://alice/namespace/w0…w4 made alice own 5
// namespaces, and a SetMany, a write in a transaction and a batch of
// keys all invalid (which creates nothing) opened the same way round.
// Now the write that would create a namespace beyond the quota is
// ErrCapacityExceeded and writes nothing; writes into namespaces that
// exist go on, and the other operations create nothing.
func TestNamespaceQuotaByWrites(t *testing.T) {
	const quota = 3
	for _, c := range testdb.Except(configs, "sqlite-file") {
		t.Run(c.Name, func(t *testing.T) {
			inner := teststore.Open(t, c.DSN(t))
			pol := security.NewPolicy()
			alice := mustPKR(t, pkAlice)
			mustApply(t, pol, alice, map[string]string{"storage://transactions": "rw"})
			st := security.NewStore(inner, pol, security.MaxNamespacesPerPrincipal(quota))
			ctx := security.WithPrincipal(t.Context(), alice)
			owned := func() int {
				list, err := inner.ListNamespaces(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, ns := range list {
					if ns.Owner == alice.PublicKey {
						n++
					}
				}
				return n
			}
			in := func(i int) storage.Option { return storage.InNamespace(alice.SubNamespace(fmt.Sprint("w", i))) }
			over := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, storage.ErrCapacityExceeded) {
					t.Errorf("%s creating a namespace beyond alice's quota: %v, want ErrCapacityExceeded", what, err)
				}
			}
			// Operations that create nothing, on missing namespaces.
			_ = st.Delete(ctx, "k", in(10))
			_ = st.SetMetadata(ctx, "k", map[string]any{"a": 1}, in(11))
			_ = st.Clear(ctx, in(12))
			_, _ = st.DeleteMany(ctx, []string{"k"}, in(13))
			_ = st.Set(ctx, "k", 1, in(14), storage.MustExist())
			// A batch of invalid keys creates nothing and is not taken
			// for a namespace that exists.
			_, _ = st.SetMany(ctx, []storage.Item{{Key: "", Value: 1}}, in(15))
			for i := range quota {
				if err := st.Set(ctx, "k", i, in(i)); err != nil {
					t.Fatal(err)
				}
			}
			over("Set", st.Set(ctx, "k", 1, in(15)))
			res, err := st.SetMany(ctx, []storage.Item{{Key: "a", Value: 1}, {Key: "b", Value: 2}}, in(16))
			over("SetMany", err)
			if len(res.Results) != 2 || !errors.Is(res.Results[1].Err, storage.ErrCapacityExceeded) {
				t.Errorf("the refused batch's results: %+v", res.Results)
			}
			tx, err := st.Begin(ctx, storage.TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			over("Set in a transaction", tx.Set(ctx, "k", 1, in(17)))
			if err := tx.Set(ctx, "k2", 1, in(0)); err != nil {
				t.Errorf("a transaction's write into an existing namespace: %v", err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := st.Set(ctx, "k2", 2, in(1)); err != nil {
				t.Errorf("a write into an existing namespace: %v", err)
			}
			if n := owned(); n != quota {
				t.Errorf("alice owns %d namespaces under a quota of %d", n, quota)
			}
			// A namespace deleted makes room for a write's.
			if err := st.DeleteNamespace(ctx, alice.SubNamespace("w0"), storage.Recursive()); err != nil {
				t.Fatal(err)
			}
			if err := st.Set(ctx, "k", 1, in(18)); err != nil {
				t.Errorf("a write creating a namespace after a delete: %v", err)
			}
			over("Set", st.Set(ctx, "k", 1, in(0)))
			if n := owned(); n != quota {
				t.Errorf("alice owns %d namespaces under a quota of %d", n, quota)
			}
		})
	}
}
