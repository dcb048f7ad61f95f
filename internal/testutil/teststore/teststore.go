// Package teststore opens engine stores for the tests of the packages
// layered over sqlstore (client, security, observe, httpapi, dump, ...):
// a store closed when the test ends, the engine options a storetest Config
// asks for, and a conformance Harness built from them.
//
// sqlstore's own tests cannot import it (it imports sqlstore); they use
// package testdb for their configurations.
package teststore

import (
	"context"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/migratecache"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// Open opens a sqlstore on dsn, within a minute, and closes it when the
// test ends. A failure to open fails the test.
func Open(t testing.TB, dsn string, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A fresh SQLite database starts from a migrated copy (migratecache):
	// the same schema, without each store's half second of migrations
	// under the race detector.
	s, err := sqlstore.Open(migratecache.With(ctx), dsn, opts...)
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Options returns the engine options that give a store the capacity, value
// size limit and clock cfg asks for.
func Options(cfg storetest.Config) []sqlstore.Option {
	opts := []sqlstore.Option{sqlstore.WithCapacity(cfg.Capacity)}
	if cfg.MaxValueSize > 0 {
		opts = append(opts, sqlstore.WithMaxValueSize(cfg.MaxValueSize))
	}
	if cfg.Clock != nil {
		opts = append(opts, sqlstore.WithClock(cfg.Clock))
	}
	return opts
}

// Harness returns a conformance harness named name whose stores are made
// by newStore from the engine options of each storetest Config (see
// Options); it declares the engine's Capacity, MaxValueSize, Transactions
// and Expiry support (the layers over the engine carry expiry options and
// times).
func Harness(name string, newStore func(t *testing.T, opts ...sqlstore.Option) storage.Store) storetest.Harness {
	return storetest.Harness{
		Name: name,
		New: func(t *testing.T, cfg storetest.Config) storage.Store {
			return newStore(t, Options(cfg)...)
		},
		Supports: storetest.Supports{Capacity: true, MaxValueSize: true, Transactions: true, Expiry: true, Revisions: true},
	}
}

// GrantAll returns a policy granting anonymous callers read and write on
// every namespace and principal: a security.Store over it, made with
// security.AllowAnonymous, must be transparent to the conformance suite.
func GrantAll(t testing.TB) *security.Policy {
	t.Helper()
	pol := security.NewPolicy()
	if err := pol.ApplyAnonymous(security.Profile{Name: "all", Scopes: map[string]string{
		"storage://namespace/*": "rw",
		"principal://*":         "rw",
	}}); err != nil {
		t.Fatal(err)
	}
	return pol
}
