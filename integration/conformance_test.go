package integration

import (
	"context"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestConformance runs the conformance suite on sqlstore against a
// PostgreSQL container, each test in a fresh schema.
func TestConformance(t *testing.T) {
	pg := startPostgres(t, pgOptions{})
	storetest.Run(t, storetest.Harness{
		Name: "postgres-container",
		New: func(t *testing.T, cfg storetest.Config) storage.Store {
			dsn, _ := pg.newSchema(t)
			dsn = withParams(t, dsn, map[string]string{"pool_max_conns": "8"})
			opts := []sqlstore.Option{sqlstore.WithCapacity(cfg.Capacity)}
			if cfg.MaxValueSize > 0 {
				opts = append(opts, sqlstore.WithMaxValueSize(cfg.MaxValueSize))
			}
			if cfg.Clock != nil {
				opts = append(opts, sqlstore.WithClock(cfg.Clock))
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s, err := sqlstore.Open(ctx, dsn, opts...)
			if err != nil {
				t.Fatalf("sqlstore.Open: %v", err)
			}
			return s
		},
		Supports: storetest.Supports{Capacity: true, MaxValueSize: true, Transactions: true, Expiry: true, Revisions: true},
	})
}
