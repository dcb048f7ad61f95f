package security_test

import (
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestConformance runs the storetest suite through an authorizing store
// whose caller (anonymous, as the suite's contexts carry no principal) is
// granted everything: the wrapper must be transparent.
func TestConformance(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, storetest.Harness{
				Name: c.name + "+security",
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
					return security.NewStore(openInner(t, c, opts...), pol, security.AllowAnonymous())
				},
				Supports: storetest.Supports{Capacity: true, MaxValueSize: true},
			})
		})
	}
}
