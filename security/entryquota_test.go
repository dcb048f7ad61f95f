package security_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestEntryQuota: the namespaces a principal owns hold at most
// MaxEntriesPerPrincipal entries together, counted by the engine's
// CountEntries or, through a store without it, by listing and counting.
// A Set or SetMany beyond is ErrCapacityExceeded and writes nothing, also
// in a transaction, whose uncommitted entries count; at the quota an
// overwrite, a MustExist write and a delete go on, and a delete makes
// room. Another principal's namespaces and plain namespaces do not count,
// and an operator (principal://* rw) is not bound. Before, alice filled
// the store's capacity (sqlstore.WithCapacity) and bob's first set was
// refused.
func TestEntryQuota(t *testing.T) {
	const quota = 5
	for _, c := range configs {
		for _, wrap := range []string{"counter", "listing"} {
			if wrap == "listing" && c.Name != "sqlite-memory" {
				continue // the count does not depend on the database
			}
			t.Run(c.Name+"/"+wrap, func(t *testing.T) {
				inner := teststore.Open(t, c.DSN(t))
				var under storage.Store = inner
				if wrap == "listing" {
					under = hidden{inner}
				}
				pol := security.NewPolicy()
				alice, bob, admin := mustPKR(t, pkAlice), mustPKR(t, pkBob), mustPKR(t, "admin-pk")
				mustApply(t, pol, alice, map[string]string{"storage://namespace/*": "rw", "storage://transactions": "rw"})
				mustApply(t, pol, bob, map[string]string{"storage://namespace/*": "rw"})
				mustApply(t, pol, admin, map[string]string{"principal://*": "rw"})
				st := security.NewStore(under, pol, security.MaxEntriesPerPrincipal(quota))
				actx := security.WithPrincipal(t.Context(), alice)
				bctx := security.WithPrincipal(t.Context(), bob)
				a1, a2, b1 := alice.SubNamespace("q1-"+wrap), alice.SubNamespace("q2-"+wrap), bob.SubNamespace("q-"+wrap)
				for _, ns := range []string{a1, a2} {
					if err := st.CreateNamespace(actx, ns); err != nil {
						t.Fatal(err)
					}
				}
				if err := st.CreateNamespace(bctx, b1); err != nil {
					t.Fatal(err)
				}
				over := func(what string, err error) {
					t.Helper()
					if !errors.Is(err, storage.ErrCapacityExceeded) {
						t.Fatalf("%s beyond alice's quota: %v, want ErrCapacityExceeded", what, err)
					}
				}
				must := func(what string, err error) {
					t.Helper()
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
				}
				// Plain namespaces are no principal's.
				for i := range quota + 1 {
					must("plain set", st.Set(actx, fmt.Sprintf("p%d", i), i, storage.InNamespace("plain-"+wrap)))
				}
				must("set", st.Set(actx, "k0", 0, storage.InNamespace(a1)))
				must("set again", st.Set(actx, "k0", 0, storage.InNamespace(a1)))
				res, err := st.SetMany(actx, []storage.Item{{Key: "k1", Value: 1}, {Key: "k2", Value: 2}}, storage.InNamespace(a2))
				must("setMany", errors.Join(err, res.Err()))
				// Three entries: a batch of three new keys does not fit,
				// and none of it is written.
				res, err = st.SetMany(actx, []storage.Item{{Key: "k3", Value: 3}, {Key: "k4", Value: 4}, {Key: "k5", Value: 5}}, storage.InNamespace(a1))
				over("setMany", err)
				if len(res.Results) != 3 || !errors.Is(res.Results[0].Err, storage.ErrCapacityExceeded) {
					t.Errorf("refused batch's results: %+v", res.Results)
				}
				if n, _ := inner.Count(t.Context(), storage.InNamespace(a1)); n != 1 {
					t.Errorf("%s holds %d entries after the refused batch, want 1", a1, n)
				}
				// A transaction's uncommitted entries count.
				tx, err := st.Begin(actx, storage.TxOptions{})
				must("begin", err)
				must("set in tx", tx.Set(actx, "t1", 1, storage.InNamespace(a1)))
				res, err = tx.SetMany(actx, []storage.Item{{Key: "t2", Value: 2}, {Key: "t3", Value: 3}}, storage.InNamespace(a2))
				over("setMany in a transaction", err)
				must("rollback", tx.Rollback(actx))
				tx, err = st.Begin(actx, storage.TxOptions{})
				must("begin", err)
				must("set in tx", tx.Set(actx, "t1", 1, storage.InNamespace(a1)))
				must("set in tx", tx.Set(actx, "t2", 2, storage.InNamespace(a1)))
				over("set beside a transaction", st.Set(actx, "k6", 6, storage.InNamespace(a2)))
				must("commit", tx.Commit(actx))
				// Five: at the quota.
				over("set", st.Set(actx, "k7", 7, storage.InNamespace(a1)))
				must("overwrite at the quota", st.Set(actx, "k0", "new", storage.InNamespace(a1)))
				res, err = st.SetMany(actx, []storage.Item{{Key: "k1", Value: "new"}, {Key: "k2", Value: "new"}}, storage.InNamespace(a2))
				must("overwriting setMany at the quota", errors.Join(err, res.Err()))
				must("MustExist set at the quota", st.Set(actx, "t1", "new", storage.InNamespace(a1), storage.MustExist()))
				must("bob's set", st.Set(bctx, "b", 1, storage.InNamespace(b1)))
				must("an operator's set", st.Set(security.WithPrincipal(t.Context(), admin), "adm", 1, storage.InNamespace(a1)))
				// Six now (the operator's): a delete of two makes room for one.
				must("delete", st.Delete(actx, "adm", storage.InNamespace(a1)))
				must("delete", st.Delete(actx, "k0", storage.InNamespace(a1)))
				must("set after deletes", st.Set(actx, "k8", 8, storage.InNamespace(a1)))
				over("set", st.Set(actx, "k9", 9, storage.InNamespace(a2)))
			})
		}
	}
}

// TestEntryQuotaSharesCapacity (the harm the quota bounds): on a store of
// a capacity (sqlstore.WithCapacity) alice's writes to her own namespace
// filled it and bob's first set was refused; under a quota below the
// capacity alice is refused at her quota and bob's set goes through.
func TestEntryQuotaSharesCapacity(t *testing.T) {
	const capacity = 8
	for _, c := range testdb.Except(configs, "sqlite-file") {
		t.Run(c.Name, func(t *testing.T) {
			inner := teststore.Open(t, c.DSN(t), sqlstore.WithCapacity(capacity))
			pol := security.NewPolicy()
			alice, bob := mustPKR(t, pkAlice), mustPKR(t, pkBob)
			st := security.NewStore(inner, pol, security.MaxEntriesPerPrincipal(capacity/2))
			actx := security.WithPrincipal(t.Context(), alice)
			bctx := security.WithPrincipal(t.Context(), bob)
			items := make([]storage.Item, capacity)
			for i := range items {
				items[i] = storage.Item{Key: fmt.Sprintf("k%d", i), Value: i}
			}
			if err := st.CreateNamespace(actx, alice.SubNamespace("fill")); err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				err := st.Set(actx, it.Key, it.Value, storage.InNamespace(alice.SubNamespace("fill")))
				if err != nil && !errors.Is(err, storage.ErrCapacityExceeded) {
					t.Fatalf("alice's set: %v", err)
				}
			}
			if err := st.CreateNamespace(bctx, bob.Namespace()); err != nil {
				t.Fatal(err)
			}
			if err := st.Set(bctx, "b", 1, storage.InNamespace(bob.Namespace())); err != nil {
				t.Fatalf("bob's set after alice's %d: %v", capacity, err)
			}
		})
	}
}
