package security_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
)

// racingInner writes another principal's key into a namespace just before
// the namespace is deleted: a concurrent writer in the worst moment.
type racingInner struct {
	storage.Store
	race func(ctx context.Context, name string)
}

func (r racingInner) DeleteNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	r.race(ctx, name)
	return r.Store.DeleteNamespace(ctx, name, opts...)
}

// TestRecursiveDeleteNeverTakesOthersKeys: bob may write the shared
// namespace but not alice's keys in it. A recursive delete by bob that races
// with alice writing her key must fail (ErrNamespaceNotEmpty), never delete
// her key with the namespace.
func TestRecursiveDeleteNeverTakesOthersKeys(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			const pkAlice, pkBob = "alice-key", "bob-key"
			inner := teststore.Open(t, c.DSN(t))
			aliceKey := "principal://" + pkAlice + "/data/doc"
			in := storage.InNamespace("shared")
			bg := context.Background()
			if err := inner.Set(bg, "plain", 1, in); err != nil {
				t.Fatal(err)
			}
			pol := security.NewPolicy()
			mustApply(t, pol, mustPKR(t, pkAlice), map[string]string{"storage://namespace/*": "rw"})
			mustApply(t, pol, mustPKR(t, pkBob), map[string]string{"storage://namespace/*": "rw"})
			raced := false
			st := security.NewStore(racingInner{Store: inner, race: func(ctx context.Context, name string) {
				if name == "shared" && !raced {
					raced = true
					if err := inner.Set(bg, aliceKey, "hers", in); err != nil {
						t.Errorf("alice's write: %v", err)
					}
				}
			}}, pol)

			ctx := security.WithPrincipal(bg, mustPKR(t, pkBob))
			err := st.DeleteNamespace(ctx, "shared", storage.Recursive())
			if !raced {
				t.Fatal("the race never ran")
			}
			if !errors.Is(err, storage.ErrNamespaceNotEmpty) {
				t.Errorf("DeleteNamespace racing alice's write: %v, want ErrNamespaceNotEmpty", err)
			}
			if e, err := inner.Get(bg, aliceKey, in); err != nil || string(e.Value) != `"hers"` {
				t.Errorf("alice's key after bob's delete: %s, %v", e.Value, err)
			}
		})
	}
}

// conflictingInner fails the Commit of its first conflicts transactions
// with ErrTxConflict, as PostgreSQL fails a serializable transaction that
// a concurrent write touched.
type conflictingInner struct {
	storage.Store
	conflicts *int
}

func (c conflictingInner) Begin(ctx context.Context, opts storage.TxOptions) (storage.Tx, error) {
	tx, err := c.Store.Begin(ctx, opts)
	if err != nil {
		return nil, err
	}
	return conflictingTx{Tx: tx, conflicts: c.conflicts}, nil
}

type conflictingTx struct {
	storage.Tx
	conflicts *int
}

func (c conflictingTx) Commit(ctx context.Context) error {
	if *c.conflicts > 0 {
		*c.conflicts--
		_ = c.Rollback(ctx)
		return &storage.OpError{Op: "commit", Err: storage.ErrTxConflict}
	}
	return c.Tx.Commit(ctx)
}

// TestRecursiveDeleteRetriesConflict: a principal's recursive delete of
// its own namespace runs the guard's check-and-clear in a serializable
// transaction of the guard's own; when that transaction fails with
// ErrTxConflict (on PostgreSQL, 18 of 168 such deletes under the soak's
// load), the guard runs it again instead of handing the caller a conflict
// for work it did not do. It gives up after a few conflicts in a row.
func TestRecursiveDeleteRetriesConflict(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner := teststore.Open(t, c.DSN(t))
			alice := mustPKR(t, "alice-key")
			ns := alice.SubNamespace("s")
			bg := context.Background()
			ctx := security.WithPrincipal(bg, alice)
			conflicts := 2
			st := security.NewStore(conflictingInner{Store: inner, conflicts: &conflicts}, security.NewPolicy())
			if err := st.Set(ctx, "k", 1, storage.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			if err := st.DeleteNamespace(ctx, ns, storage.Recursive()); err != nil {
				t.Fatalf("DeleteNamespace after 2 conflicts: %v", err)
			}
			if _, err := inner.Get(bg, "k", storage.InNamespace(ns)); !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrNamespaceNotFound) {
				t.Errorf("the key after the delete: %v, want it gone", err)
			}
			conflicts = 100
			if err := st.Set(ctx, "k", 1, storage.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			if err := st.DeleteNamespace(ctx, ns, storage.Recursive()); !errors.Is(err, storage.ErrTxConflict) {
				t.Errorf("DeleteNamespace with every commit conflicting: %v, want ErrTxConflict", err)
			}
			if conflicts != 95 {
				t.Errorf("tries with every commit conflicting: %d, want 5", 100-conflicts)
			}
		})
	}
}
