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
