package client_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/internal/pgtest"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// testConfig is one database configuration, as in sqlstore's tests.
type testConfig struct {
	name string
	dsn  func(t testing.TB) string
}

var configs = []testConfig{
	{"sqlite-memory", func(testing.TB) string { return "sqlite::memory:" }},
	{"sqlite-file", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "store.db") }},
	{"postgres", func(t testing.TB) string { return pgtest.NewSchema(t, "t", "pool_max_conns", "8") }},
}

// openEngine opens a sqlstore, closed when the test ends.
func openEngine(t testing.TB, dsn string, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sqlstore.Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

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
