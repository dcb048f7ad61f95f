package otelobserve

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/mycelia-kernel/storage/observe"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/mycelia-kernel/storage/observe/otelobserve"

// The names of the instruments.
const (
	// DurationMetric is a histogram of operation durations, in seconds:
	// the OpenTelemetry semantic convention's database client metric.
	DurationMetric = "db.client.operation.duration"
	// RowsMetric counts the rows operations touched (Event.Rows, when
	// positive).
	RowsMetric = "storage.operation.rows"
)

// The attribute keys of this package's own attributes; the others are the
// semantic conventions' (db.system.name, db.operation.name,
// db.operation.batch.size, error.type).
const (
	NamespaceKey = attribute.Key("storage.namespace")
	KeyKey       = attribute.Key("storage.key")
	RowsKey      = attribute.Key("storage.rows")
	TxIDKey      = attribute.Key("storage.tx.id")
)

// DurationBuckets are the bucket boundaries of DurationMetric, in seconds:
// finer than the semantic convention's, which start at 1 ms, as an
// embedded SQLite answers in tens of microseconds.
var DurationBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Option configures New.
type Option func(*hook)

// WithDialect names the database behind the store with its storage
// spelling, storage.Status.Dialect ("sqlite" or "postgres"), which becomes
// the db.system.name attribute of spans and metrics ("sqlite",
// "postgresql"; any other value is used as it is). Without it the
// attribute is left out, as a wrapper cannot know what it wraps:
//
//	st, err := s.Status(ctx)
//	...
//	hook := otelobserve.New(tp, mp, otelobserve.WithDialect(st.Dialect))
func WithDialect(dialect string) Option {
	return func(h *hook) {
		switch dialect {
		case "":
			h.system = attribute.KeyValue{}
		case "sqlite":
			h.system = semconv.DBSystemNameSQLite
		case "postgres":
			h.system = semconv.DBSystemNamePostgreSQL
		default:
			h.system = semconv.DBSystemNameKey.String(dialect)
		}
	}
}

// WithKeys records the key of single-key operations on spans
// (storage.key). It is off by default: keys may be personal data (user
// identifiers, e-mail addresses) that should not leave the process.
func WithKeys() Option { return func(h *hook) { h.keys = true } }

// WithMetricNamespace adds the namespace (storage.namespace) to the
// metrics' attributes. It is off by default: every distinct namespace
// makes new time series, and principal-scoped namespaces (one per user)
// have no bound. Spans always carry the namespace.
func WithMetricNamespace() Option { return func(h *hook) { h.metricNS = true } }

// hook is the observe.Hook New returns. It is safe for concurrent use.
type hook struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	rows     metric.Int64Counter
	system   attribute.KeyValue // db.system.name; the zero KeyValue when unknown
	keys     bool
	metricNS bool

	// measure caches the measurement option of each (op, error type) when
	// metrics carry no namespace: a bounded set.
	measure sync.Map // measureKey -> metric.MeasurementOption
}

type measureKey struct{ op, errType string }

// spanKey is the context key under which Start leaves its span for End:
// one per hook, so that two hooks in observe.Hooks each end their own.
type spanKey struct{ h *hook }

// clientKind is the kind of every span, made once.
var clientKind = trace.WithSpanKind(trace.SpanKindClient)

// spanNames are the span names by operation, built once.
var spanNames = func() map[string]string {
	m := make(map[string]string)
	for _, op := range observe.Ops() {
		m[op] = "storage." + op
	}
	return m
}()

// New returns a hook that traces each operation with a span and measures
// it with metrics (see the package documentation). A nil tp or mp means
// the global provider (otel.GetTracerProvider, otel.GetMeterProvider).
func New(tp trace.TracerProvider, mp metric.MeterProvider, opts ...Option) observe.Hook {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	h := &hook{tracer: tp.Tracer(ScopeName)}
	for _, o := range opts {
		o(h)
	}
	// A meter reports an invalid instrument with an error and, usually,
	// an instrument that still works: the error goes to OpenTelemetry's
	// error handler, and only a missing instrument is replaced.
	meter := mp.Meter(ScopeName)
	var err error
	h.duration, err = meter.Float64Histogram(DurationMetric,
		metric.WithDescription("Duration of storage operations."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	if err != nil {
		otel.Handle(err)
	}
	if h.duration == nil {
		h.duration = metricnoop.Float64Histogram{}
	}
	h.rows, err = meter.Int64Counter(RowsMetric,
		metric.WithDescription("Rows touched by storage operations."),
		metric.WithUnit("{row}"))
	if err != nil {
		otel.Handle(err)
	}
	if h.rows == nil {
		h.rows = metricnoop.Int64Counter{}
	}
	return h
}

// Start implements observe.Hook: it starts the operation's span, a child
// of ctx's span, and returns ctx carrying it.
func (h *hook) Start(ctx context.Context, ev observe.Event) context.Context {
	name, ok := spanNames[ev.Op]
	if !ok {
		name = "storage." + ev.Op
	}
	ctx, span := h.tracer.Start(ctx, name, clientKind, trace.WithTimestamp(ev.Start))
	if span.IsRecording() {
		var buf [6]attribute.KeyValue
		attrs := append(buf[:0], semconv.DBOperationName(ev.Op))
		if h.system.Valid() {
			attrs = append(attrs, h.system)
		}
		if ns := ev.Namespace(); ns != "" {
			attrs = append(attrs, NamespaceKey.String(ns))
		}
		if h.keys && ev.Key != "" {
			attrs = append(attrs, KeyKey.String(ev.Key))
		}
		if ev.Keys != 0 {
			attrs = append(attrs, semconv.DBOperationBatchSize(ev.Keys))
		}
		if ev.TxID != "" {
			attrs = append(attrs, TxIDKey.String(ev.TxID))
		}
		span.SetAttributes(attrs...)
	}
	return context.WithValue(ctx, spanKey{h}, span)
}

// End implements observe.Hook: it ends the span Start began and records
// the metrics.
func (h *hook) End(ctx context.Context, ev observe.Event) {
	errType := observe.ErrorType(ev.Err)
	if span, ok := ctx.Value(spanKey{h}).(trace.Span); ok {
		if !span.IsRecording() {
			span.End()
		} else {
			span.SetAttributes(RowsKey.Int64(ev.Rows))
			if ev.Op == observe.OpBegin && ev.TxID != "" {
				span.SetAttributes(TxIDKey.String(ev.TxID))
			}
			if ev.Err != nil {
				span.SetAttributes(semconv.ErrorTypeKey.String(errType))
				if observe.SeverityOf(ev.Err) != observe.SeverityOK {
					span.RecordError(ev.Err)
					span.SetStatus(codes.Error, ev.Err.Error())
				}
			}
			span.End(trace.WithTimestamp(ev.Start.Add(ev.Duration)))
		}
	}
	recordRows := ev.Rows > 0 && h.rows.Enabled(ctx)
	if !recordRows && !h.duration.Enabled(ctx) {
		return
	}
	m := h.measurement(ev, errType)
	h.duration.Record(ctx, ev.Duration.Seconds(), m)
	if recordRows {
		h.rows.Add(ctx, ev.Rows, m)
	}
}

// measurement returns the attributes of ev's measurements: operation,
// system, error type, and namespace with WithMetricNamespace.
func (h *hook) measurement(ev observe.Event, errType string) metric.MeasurementOption {
	k := measureKey{ev.Op, errType}
	if !h.metricNS {
		if m, ok := h.measure.Load(k); ok {
			return m.(metric.MeasurementOption)
		}
	}
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, semconv.DBOperationName(ev.Op))
	if h.system.Valid() {
		attrs = append(attrs, h.system)
	}
	if errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
	}
	if !h.metricNS {
		m := metric.WithAttributeSet(attribute.NewSet(attrs...))
		h.measure.Store(k, m)
		return m
	}
	if ns := ev.Namespace(); ns != "" {
		attrs = append(attrs, NamespaceKey.String(ns))
	}
	return metric.WithAttributeSet(attribute.NewSet(attrs...))
}
