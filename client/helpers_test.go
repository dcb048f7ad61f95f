package client_test

import (
	"context"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/routes"
)

// configs are the databases the engine-backed tests run on.
var configs = testdb.Configs("t", "pool_max_conns", "8")

// serve returns a Mux serving st, and a client over it.
func serve(t testing.TB, st storage.Store) (*routes.Mux, *client.Store) {
	t.Helper()
	mux := routes.NewMux()
	routes.Register(mux, st)
	c, err := client.New(context.Background(), mux)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return mux, c
}
