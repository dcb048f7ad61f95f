package otelobserve_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/observe"
	"github.com/mycelia-kernel/storage/observe/otelobserve"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// telemetry is an SDK tracer provider exporting to memory and an SDK meter
// provider read by hand.
type telemetry struct {
	spans  *tracetest.InMemoryExporter
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t testing.TB) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(tel.spans))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = tel.mp.Shutdown(context.Background())
	})
	return tel
}

// metrics collects the metrics: histogram counts and counter sums by
// metric name and attribute set.
func (tel *telemetry) metrics(t *testing.T) (counts map[string]map[attribute.Distinct]uint64, sums map[string]map[attribute.Distinct]int64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts, sums = map[string]map[attribute.Distinct]uint64{}, map[string]map[attribute.Distinct]int64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelobserve.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelobserve.ScopeName)
		}
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				if m.Unit != "s" {
					t.Errorf("%s: unit %q, want s", m.Name, m.Unit)
				}
				counts[m.Name] = map[attribute.Distinct]uint64{}
				for _, dp := range d.DataPoints {
					counts[m.Name][dp.Attributes.Equivalent()] = dp.Count
				}
			case metricdata.Sum[int64]:
				sums[m.Name] = map[attribute.Distinct]int64{}
				for _, dp := range d.DataPoints {
					sums[m.Name][dp.Attributes.Equivalent()] = dp.Value
				}
			default:
				t.Errorf("%s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return counts, sums
}

func set(kvs ...attribute.KeyValue) attribute.Distinct {
	s := attribute.NewSet(kvs...)
	return s.Equivalent()
}

func openSQLite(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// spanCtx records the span context the wrapped store's Get runs in.
type spanCtx struct {
	storage.Store
	saw trace.SpanContext
}

func (s *spanCtx) Get(ctx context.Context, key string, opts ...storage.Option) (storage.Entry, error) {
	s.saw = trace.SpanFromContext(ctx).SpanContext()
	return s.Store.Get(ctx, key, opts...)
}

func attrMap(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestSpansAndMetrics(t *testing.T) {
	tel := newTelemetry(t)
	spy := &spanCtx{Store: openSQLite(t)}
	s := observe.Wrap(spy, otelobserve.New(tel.tp, tel.mp, otelobserve.WithDialect("sqlite")))

	ctx, parent := tel.tp.Tracer("test").Start(t.Context(), "parent")
	in := storage.InNamespace("users")
	if err := s.Set(ctx, "k", 1, in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "missing", in); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get: %v", err)
	}
	getSpan := spy.saw
	badErr := s.Set(ctx, "", 1)
	if !errors.Is(badErr, storage.ErrInvalidKey) {
		t.Fatalf("Set: %v", badErr)
	}
	if _, err := s.GetMany(ctx, []string{"k", "j"}, in); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Set(ctx, "t", 1); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	parent.End()

	spans := tel.spans.GetSpans()
	wantNames := []string{"storage.set", "storage.get", "storage.set", "storage.getMany", "storage.begin", "storage.set", "storage.commit", "parent"}
	if len(spans) != len(wantNames) {
		t.Fatalf("%d spans, want %d: %v", len(spans), len(wantNames), spans)
	}
	for i, sp := range spans[:len(spans)-1] {
		if sp.Name != wantNames[i] {
			t.Errorf("span %d: name %q, want %q", i, sp.Name, wantNames[i])
		}
		if sp.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s: parent %v, want the caller's span", sp.Name, sp.Parent.SpanID())
		}
		if sp.SpanKind != trace.SpanKindClient {
			t.Errorf("%s: kind %v, want client", sp.Name, sp.SpanKind)
		}
		if !sp.EndTime.After(sp.StartTime) {
			t.Errorf("%s: start %v end %v", sp.Name, sp.StartTime, sp.EndTime)
		}
		a := attrMap(sp.Attributes)
		if a["db.system.name"].AsString() != "sqlite" || a["db.operation.name"].AsString() != sp.Name[len("storage."):] {
			t.Errorf("%s: attributes %v", sp.Name, sp.Attributes)
		}
		if _, ok := a[otelobserve.KeyKey]; ok {
			t.Errorf("%s: storage.key recorded without WithKeys", sp.Name)
		}
		if _, ok := a[otelobserve.RowsKey]; !ok {
			t.Errorf("%s: no storage.rows", sp.Name)
		}
	}
	if spans[1].SpanContext.SpanID() != getSpan.SpanID() {
		t.Errorf("the store's Get ran in span %v, want the storage.get span %v", getSpan.SpanID(), spans[1].SpanContext.SpanID())
	}
	check := func(i int, key attribute.Key, want any) {
		t.Helper()
		if got := attrMap(spans[i].Attributes)[key].AsInterface(); got != want {
			t.Errorf("%s: %s = %v, want %v", spans[i].Name, key, got, want)
		}
	}
	check(0, otelobserve.NamespaceKey, "users")
	check(0, otelobserve.RowsKey, int64(1))
	check(1, otelobserve.RowsKey, int64(0))
	check(1, "error.type", "not_found")
	check(2, "error.type", "invalid_key")
	check(2, otelobserve.NamespaceKey, "default")
	check(3, "db.operation.batch.size", int64(2))
	check(3, otelobserve.RowsKey, int64(1))
	txID := attrMap(spans[4].Attributes)[otelobserve.TxIDKey].AsString()
	if txID == "" || txID != tx.ID() {
		t.Errorf("begin span tx id %q, want %q", txID, tx.ID())
	}
	check(5, otelobserve.TxIDKey, tx.ID())
	check(6, otelobserve.TxIDKey, tx.ID())
	// Not found is an answer: no error status. An invalid key is an error.
	if spans[1].Status.Code != codes.Unset || len(spans[1].Events) != 0 {
		t.Errorf("get of a missing key: status %v, events %v; want unset, none", spans[1].Status, spans[1].Events)
	}
	if spans[2].Status.Code != codes.Error || spans[2].Status.Description != badErr.Error() {
		t.Errorf("invalid set: status %v, want error %q", spans[2].Status, badErr)
	}
	if len(spans[2].Events) != 1 || spans[2].Events[0].Name != "exception" {
		t.Errorf("invalid set: events %v, want one exception", spans[2].Events)
	}

	counts, sums := tel.metrics(t)
	sys := attribute.String("db.system.name", "sqlite")
	op := func(name string) attribute.KeyValue { return attribute.String("db.operation.name", name) }
	et := func(name string) attribute.KeyValue { return attribute.String("error.type", name) }
	wantCounts := map[attribute.Distinct]uint64{
		set(sys, op("set")):                    2, // one outside the transaction, one in it
		set(sys, op("get"), et("not_found")):   1,
		set(sys, op("set"), et("invalid_key")): 1,
		set(sys, op("getMany")):                1,
		set(sys, op("begin")):                  1,
		set(sys, op("commit")):                 1,
	}
	sameSeries(t, otelobserve.DurationMetric, counts[otelobserve.DurationMetric], wantCounts)
	sameSeries(t, otelobserve.RowsMetric, sums[otelobserve.RowsMetric], map[attribute.Distinct]int64{
		set(sys, op("set")):     2,
		set(sys, op("getMany")): 1,
	})
}

// sameSeries compares the values of a metric's series, by attribute set.
func sameSeries[V comparable](t *testing.T, metric string, got, want map[attribute.Distinct]V) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d series, want %d: %v", metric, len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s %v: %v, want %v", metric, k, got[k], v)
		}
	}
}

func TestOptions(t *testing.T) {
	tel := newTelemetry(t)
	s := observe.Wrap(openSQLite(t), otelobserve.New(tel.tp, tel.mp, otelobserve.WithKeys(), otelobserve.WithMetricNamespace()))
	ctx := t.Context()
	if err := s.Set(ctx, "secret", 1, storage.InNamespace("n1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "secret", 1, storage.InNamespace("n2")); err != nil {
		t.Fatal(err)
	}
	spans := tel.spans.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	a := attrMap(spans[0].Attributes)
	if a[otelobserve.KeyKey].AsString() != "secret" {
		t.Errorf("WithKeys: attributes %v", spans[0].Attributes)
	}
	if _, ok := a["db.system.name"]; ok {
		t.Errorf("db.system.name recorded without WithDialect: %v", spans[0].Attributes)
	}
	counts, _ := tel.metrics(t)
	op := attribute.String("db.operation.name", "set")
	for _, ns := range []string{"n1", "n2"} {
		if n := counts[otelobserve.DurationMetric][set(op, otelobserve.NamespaceKey.String(ns))]; n != 1 {
			t.Errorf("WithMetricNamespace: %s count %d, want 1 (%v)", ns, n, counts)
		}
	}
}

// TestTwoHooks: two OpenTelemetry hooks in one observe.Hooks each end
// their own span, the second nested in the first.
func TestTwoHooks(t *testing.T) {
	tel := newTelemetry(t)
	s := observe.Wrap(openSQLite(t), observe.Hooks(otelobserve.New(tel.tp, tel.mp), otelobserve.New(tel.tp, tel.mp)))
	if _, err := s.Has(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	spans := tel.spans.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	inner, outer := spans[0], spans[1]
	if inner.Parent.SpanID() != outer.SpanContext.SpanID() || outer.Parent.IsValid() {
		t.Errorf("spans not nested: inner parent %v, outer %v (parent %v)", inner.Parent.SpanID(), outer.SpanContext.SpanID(), outer.Parent)
	}
	if d := outer.EndTime.Sub(outer.StartTime); d <= 0 || d > time.Minute {
		t.Errorf("outer span lasted %v", d)
	}
}

// driverFailure is a store whose Count fails like a broken connection.
type driverFailure struct{ storage.Store }

var errDriver = errors.New("connection reset by peer")

func (driverFailure) Count(context.Context, ...storage.Option) (int64, error) { return 0, errDriver }

func TestDriverFailure(t *testing.T) {
	tel := newTelemetry(t)
	s := observe.Wrap(driverFailure{}, otelobserve.New(tel.tp, tel.mp, otelobserve.WithDialect("postgres")))
	if _, err := s.Count(t.Context()); err != errDriver { //nolint:errorlint // identity: the error passes through unchanged
		t.Fatalf("Count: %v, want errDriver itself", err)
	}
	sp := tel.spans.GetSpans()[0]
	a := attrMap(sp.Attributes)
	if sp.Status.Code != codes.Error || a["error.type"].AsString() != "other" || a["db.system.name"].AsString() != "postgresql" {
		t.Errorf("span %v %v", sp.Status, sp.Attributes)
	}
}
