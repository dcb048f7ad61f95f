package security_test

import (
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestConformance runs the storetest suite through an authorizing store
// whose caller (anonymous, as the suite's contexts carry no principal) is
// granted everything: the wrapper must be transparent.
func TestConformance(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			storetest.Run(t, teststore.Harness(c.Name+"+security", func(t *testing.T, opts ...sqlstore.Option) storage.Store {
				inner := teststore.Open(t, c.DSN(t), opts...)
				return security.NewStore(inner, teststore.GrantAll(t), security.AllowAnonymous())
			}))
		})
	}
}
