package otelobserve_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/observe"
	"github.com/mycelia-kernel/storage/observe/otelobserve"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// Trace and measure a store's operations. Here the spans go to memory and
// the metrics are read by hand; a program would use its exporters.
func Example() {
	ctx := context.Background()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	inner, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		panic(err)
	}
	defer inner.Close()
	st, err := inner.Status(ctx)
	if err != nil {
		panic(err)
	}
	s := observe.Wrap(inner, otelobserve.New(tp, mp, otelobserve.WithDialect(st.Dialect)))

	ctx, span := tp.Tracer("app").Start(ctx, "handle request")
	_ = s.Set(ctx, "user:1", map[string]any{"name": "Ada"}, storage.InNamespace("users"))
	_, _ = s.Get(ctx, "user:1", storage.InNamespace("users"))
	span.End()

	for _, sp := range spans.GetSpans() {
		fmt.Println(sp.Name, "parent:", sp.Parent.IsValid())
	}
	var rm metricdata.ResourceMetrics
	_ = reader.Collect(ctx, &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		fmt.Println(m.Name, m.Unit)
	}
	// Output:
	// storage.set parent: true
	// storage.get parent: true
	// handle request parent: false
	// db.client.operation.duration s
	// storage.operation.rows {row}
}
