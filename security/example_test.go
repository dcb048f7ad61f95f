package security_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

func Example() {
	ctx := context.Background()
	inner, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		panic(err)
	}
	defer inner.Close()

	pol := security.NewPolicy()
	alice, _ := security.NewPKR("alice-pk", map[string]string{"name": "Alice"})
	bob, _ := security.NewPKR("bob-pk", nil)
	_ = pol.Apply(alice, security.Profile{Name: "users-rw",
		Scopes: map[string]string{"storage://namespace/users": "rw"}})
	_ = pol.Apply(bob, security.Profile{Name: "users-r",
		Scopes: map[string]string{"storage://namespace/users": "r"}})
	st := security.NewStore(inner, pol)

	actx := security.WithPrincipal(ctx, alice)
	bctx := security.WithPrincipal(ctx, bob)
	users := storage.InNamespace("users")

	fmt.Println("alice writes:", st.Set(actx, "u1", map[string]any{"name": "Ann"}, users))
	err = st.Set(bctx, "u1", 1, users)
	fmt.Println("bob writes:", errors.Is(err, storage.ErrPermissionDenied))
	e, err := st.Get(bctx, "u1", users)
	fmt.Println("bob reads:", string(e.Value), err)

	// Alice's own namespace is hers alone.
	fmt.Println("alice private:", st.Set(actx, "note", "hi", storage.InNamespace(alice.Namespace())))
	_, err = st.Get(bctx, "note", storage.InNamespace(alice.Namespace()))
	fmt.Println("bob private:", errors.Is(err, storage.ErrPermissionDenied))

	_, err = st.Get(ctx, "u1", users)
	fmt.Println("nobody:", errors.Is(err, storage.ErrUnauthenticated))
	// Output:
	// alice writes: <nil>
	// bob writes: true
	// bob reads: {"name":"Ann"} <nil>
	// alice private: <nil>
	// bob private: true
	// nobody: true
}
