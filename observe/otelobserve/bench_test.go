package otelobserve_test

import (
	"context"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/observe"
	"github.com/mycelia-kernel/storage/observe/otelobserve"
)

// BenchmarkGet reads one existing key of an in-memory SQLite store: bare,
// through the hook with OpenTelemetry's no-op providers, and with the SDK
// (every span sampled and dropped at its end, metrics aggregated by a
// reader never collected).
func BenchmarkGet(b *testing.B) {
	inner := openSQLite(b)
	if err := inner.Set(context.Background(), "k", map[string]any{"n": 1}, storage.InNamespace("bench")); err != nil {
		b.Fatal(err)
	}
	benchGet(b, inner)
}

// BenchmarkOverhead measures the hook alone, over a store whose Get
// returns at once.
func BenchmarkOverhead(b *testing.B) { benchGet(b, getOnly{}) }

// getOnly is a store whose Get answers at once; its other methods are the
// embedded nil interface's (they panic).
type getOnly struct{ storage.Store }

func (getOnly) Get(_ context.Context, key string, _ ...storage.Option) (storage.Entry, error) {
	return storage.Entry{Key: key}, nil
}

func benchGet(b *testing.B, inner storage.Store) {
	ctx := context.Background()
	in := storage.InNamespace("bench")
	tp := sdktrace.NewTracerProvider()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	for _, c := range []struct {
		name string
		s    storage.Store
	}{
		{"raw", inner},
		{"otel-noop", observe.Wrap(inner, otelobserve.New(tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()))},
		{"otel-sdk", observe.Wrap(inner, otelobserve.New(tp, mp, otelobserve.WithDialect("sqlite")))},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.s.Get(ctx, "k", in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
