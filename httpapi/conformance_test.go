package httpapi_test

import (
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestConformance runs the storetest suite over the whole network path:
// client.Store → Transport → HTTP on loopback → Handler → routes →
// security.Store (as a principal granted everything) → sqlstore.
func TestConformance(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, storetest.Harness{
				Name: c.name + "+http",
				New: func(t *testing.T, cfg storetest.Config) storage.Store {
					opts := []sqlstore.Option{sqlstore.WithCapacity(cfg.Capacity)}
					if cfg.MaxValueSize > 0 {
						opts = append(opts, sqlstore.WithMaxValueSize(cfg.MaxValueSize))
					}
					return newClient(t, newServer(t, c, httpapi.Config{}, opts...), adminToken)
				},
				Supports: storetest.Supports{Capacity: true, MaxValueSize: true},
			})
		})
	}
}

// newClient returns a client.Store talking to s with token.
func newClient(t testing.TB, s *testServer, token string) *client.Store {
	t.Helper()
	tr, err := httpapi.NewTransport(s.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	st, err := client.New(t.Context(), tr)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return st
}
