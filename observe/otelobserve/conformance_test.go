package otelobserve_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/observe"
	"github.com/mycelia-kernel/storage/observe/otelobserve"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestConformance runs the storetest suite through the OpenTelemetry hook
// with the SDK: the hook must be transparent, and every operation must end
// exactly one span.
func TestConformance(t *testing.T) {
	var total atomic.Int64
	storetest.Run(t, storetest.Harness{
		Name: "sqlite-memory+otel",
		New: func(t *testing.T, cfg storetest.Config) storage.Store {
			opts := []sqlstore.Option{sqlstore.WithCapacity(cfg.Capacity)}
			if cfg.MaxValueSize > 0 {
				opts = append(opts, sqlstore.WithMaxValueSize(cfg.MaxValueSize))
			}
			if cfg.Clock != nil {
				opts = append(opts, sqlstore.WithClock(cfg.Clock))
			}
			tel := newTelemetry(t)
			var events atomic.Int64
			count := observe.EndFunc(func(context.Context, observe.Event) { events.Add(1); total.Add(1) })
			inner, err := sqlstore.Open(context.Background(), "sqlite::memory:", opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = inner.Close()
				if n := len(tel.spans.GetSpans()); int64(n) != events.Load() {
					t.Errorf("%d spans ended for %d operations", n, events.Load())
				}
			})
			return observe.Wrap(inner, observe.Hooks(otelobserve.New(tel.tp, tel.mp, otelobserve.WithDialect("sqlite")), count))
		},
		Supports: storetest.Supports{Capacity: true, MaxValueSize: true, Expiry: true, Revisions: true},
	})
	if total.Load() == 0 {
		t.Error("the suite made no observed operation")
	}
}
