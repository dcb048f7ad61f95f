package client_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

func ExampleNew() {
	ctx := context.Background()
	engine, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		panic(err)
	}
	defer engine.Close()
	mux := routes.NewMux()
	routes.Register(mux, engine)

	st, err := client.New(ctx, mux) // any Transport: in process here, HTTP elsewhere
	if err != nil {
		panic(err)
	}
	defer st.Close()
	users := storage.InNamespace("users")
	if err := st.Set(ctx, "user:1", map[string]any{"name": "Ann"}, users); err != nil {
		panic(err)
	}
	e, err := st.Get(ctx, "user:1", users)
	fmt.Println(string(e.Value), e.Version, err)
	err = st.Set(ctx, "user:1", 2, users, storage.NoOverwrite())
	fmt.Println(errors.Is(err, storage.ErrAlreadyExists))
	fmt.Println(err)
	// Output:
	// {"name":"Ann"} 1 <nil>
	// true
	// storage: set namespace "users" key "user:1": already exists
}
