package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// A server for two principals and a client for each: alice may write
// users, bob may only read them.
func Example() {
	ctx := context.Background()
	tokens, err := httpapi.ParseAuthFile([]byte(`{"principals":[
		{"token":"alice-token-0123456789","pkr":"alice-pk",
		 "profiles":[{"name":"users-rw","scopes":{"storage://namespace/users":"rw"}}]},
		{"tokenSHA256":"` + httpapi.HashToken("bob-token-0123456789") + `","pkr":"bob-pk",
		 "profiles":[{"name":"users-r","scopes":{"storage://namespace/users":"r"}}]}]}`))
	if err != nil {
		panic(err)
	}
	inner, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		panic(err)
	}
	defer inner.Close()
	mux := routes.NewMux()
	routes.Register(mux, security.NewStore(inner, tokens.Policy()))
	srv := httptest.NewServer(httpapi.NewHandler(mux, httpapi.Config{
		Auth: tokens, Ready: inner, Logger: slog.New(slog.DiscardHandler),
	}))
	defer srv.Close()

	connect := func(token string) storage.Store {
		tr, err := httpapi.NewTransport(srv.URL, token)
		if err != nil {
			panic(err)
		}
		st, err := client.New(ctx, tr)
		if err != nil {
			panic(err)
		}
		return st
	}
	alice, bob := connect("alice-token-0123456789"), connect("bob-token-0123456789")
	users := storage.InNamespace("users")

	fmt.Println("alice writes:", alice.Set(ctx, "u1", map[string]string{"name": "Ada"}, users))
	e, err := bob.Get(ctx, "u1", users)
	fmt.Println("bob reads:", string(e.Value), err)
	err = bob.Set(ctx, "u1", "x", users)
	fmt.Println("bob writes, denied:", errors.Is(err, storage.ErrPermissionDenied))
	md, _ := alice.GetMetadata(ctx, "u1", users)
	fmt.Println("written by:", md.CreatedBy)
	// Output:
	// alice writes: <nil>
	// bob reads: {"name":"Ada"} <nil>
	// bob writes, denied: true
	// written by: alice-pk
}
