package client_test

import (
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// harness runs the suite through client → Mux → routes → sqlstore.
func harness(c testdb.Config) storetest.Harness {
	return teststore.Harness(c.Name+"+client", func(t *testing.T, opts ...sqlstore.Option) storage.Store {
		_, cl := serve(t, teststore.Open(t, c.DSN(t), opts...))
		return cl
	})
}

func TestConformance(t *testing.T) {
	for _, c := range wireConfigs() {
		t.Run(c.Name, func(t *testing.T) { storetest.Run(t, harness(c)) })
	}
}

// wireConfigs are the configurations the suites through the client run
// on: all three, but under the race detector (CI) not sqlite-file, which
// sends the same messages as sqlite-memory (the engine's file runs in
// sqlstore's own suites). The client package took 807 s of a quiet CI
// rehearsal's race run, most of it in these suites.
func wireConfigs() []testdb.Config {
	if raceEnabled {
		return testdb.Except(configs, "sqlite-file")
	}
	return configs
}

// TestConformanceInTx runs the suite with every data operation inside a
// transaction driven by messages.
func TestConformanceInTx(t *testing.T) {
	for _, c := range wireConfigs() {
		t.Run(c.Name, func(t *testing.T) {
			h := harness(c)
			newStore := h.New
			h.New = func(t *testing.T, cfg storetest.Config) storage.Store {
				return storetest.InTx(newStore(t, cfg))
			}
			storetest.Run(t, h)
		})
	}
}

// TestConformanceSecurity runs the suite through client → routes →
// security.NewStore (anonymous callers granted everything) → sqlstore: the
// authorizing layer and the message boundary together stay transparent.
func TestConformanceSecurity(t *testing.T) {
	c := configs[0] // sqlite-memory: the other configurations add nothing here
	storetest.Run(t, teststore.Harness(c.Name+"+security+client", func(t *testing.T, opts ...sqlstore.Option) storage.Store {
		inner := teststore.Open(t, c.DSN(t), opts...)
		_, cl := serve(t, security.NewStore(inner, teststore.GrantAll(t), security.AllowAnonymous()))
		return cl
	}))
}

// TestConformanceAnswerParts runs the suite through the client with
// routes.AnswerBytes so small that every list, query and getMany answer holds one
// key or entry and a cursor (routes read the store in parts; the client
// reads on After each cursor): what the client returns, sorts, ties,
// offsets, limits, key ranges and cursors included, must be what the store
// would have returned in one answer.
func TestConformanceAnswerParts(t *testing.T) {
	saved := routes.AnswerBytes
	routes.AnswerBytes = 1
	t.Cleanup(func() { routes.AnswerBytes = saved })
	for _, c := range configs[:1] {
		t.Run(c.Name, func(t *testing.T) { storetest.Run(t, harness(c)) })
	}
}
