package client_test

import (
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// harness runs the suite through client → Mux → routes → sqlstore.
func harness(c testConfig) storetest.Harness {
	return storetest.Harness{
		Name: c.name + "+client",
		New: func(t *testing.T, cfg storetest.Config) storage.Store {
			opts := []sqlstore.Option{sqlstore.WithCapacity(cfg.Capacity)}
			if cfg.MaxValueSize > 0 {
				opts = append(opts, sqlstore.WithMaxValueSize(cfg.MaxValueSize))
			}
			_, cl := serve(t, openEngine(t, c.dsn(t), opts...))
			return cl
		},
		Supports: storetest.Supports{Capacity: true, MaxValueSize: true},
	}
}

func TestConformance(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) { storetest.Run(t, harness(c)) })
	}
}

// TestConformanceInTx runs the suite with every data operation inside a
// transaction driven by messages.
func TestConformanceInTx(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
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
	storetest.Run(t, storetest.Harness{
		Name: c.name + "+security+client",
		New: func(t *testing.T, cfg storetest.Config) storage.Store {
			opts := []sqlstore.Option{sqlstore.WithCapacity(cfg.Capacity)}
			if cfg.MaxValueSize > 0 {
				opts = append(opts, sqlstore.WithMaxValueSize(cfg.MaxValueSize))
			}
			pol := security.NewPolicy()
			if err := pol.ApplyAnonymous(security.Profile{Name: "all", Scopes: map[string]string{
				"storage://namespace/*": "rw",
				"principal://*":         "rw",
			}}); err != nil {
				t.Fatal(err)
			}
			_, cl := serve(t, security.NewStore(openEngine(t, c.dsn(t), opts...), pol, security.AllowAnonymous()))
			return cl
		},
		Supports: storetest.Supports{Capacity: true, MaxValueSize: true},
	})
}
