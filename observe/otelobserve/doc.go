// Package otelobserve is an observe.Hook for OpenTelemetry: a span for
// every storage operation and two metrics. It lives in a module of its own
// (github.com/mycelia-kernel/storage/observe/otelobserve) so that the
// storage module does not depend on OpenTelemetry.
//
//	st, err := s.Status(ctx)
//	...
//	s = observe.Wrap(s, otelobserve.New(tracerProvider, meterProvider,
//		otelobserve.WithDialect(st.Dialect)))
//
// # Spans
//
// Each operation is a span of kind client named "storage.<op>" (for
// example "storage.get", "storage.commit"), a child of the span in the
// caller's context; the wrapped store runs with the span in its context,
// so spans the store makes itself nest under it. Its start and end are
// the observe.Event's. Attributes:
//
//	db.operation.name        the operation ("get", "setMany", ...)
//	db.system.name           "sqlite" or "postgresql", with WithDialect
//	storage.namespace        the namespace, when there is one
//	storage.key              the key, only with WithKeys (keys may be
//	                         personal data, so they are off by default)
//	db.operation.batch.size  the batch size of getMany, setMany, deleteMany
//	storage.tx.id            the transaction, inside one (and on begin)
//	storage.rows             observe.Event.Rows (-1: unknown)
//	error.type               observe.ErrorType of the error, on error
//
// An error sets the span's status to Error and records it as an
// exception event, except storage.ErrNotFound: a get of a missing key is
// an answer, not a failure, and carries only error.type "not_found".
//
// # Metrics
//
//	db.client.operation.duration  histogram, seconds: one measurement per
//	                              operation (buckets: DurationBuckets,
//	                              from 10 µs to 10 s)
//	storage.operation.rows        counter, {row}: Event.Rows, when positive
//
// Both carry db.operation.name, db.system.name (with WithDialect) and, on
// error, error.type: a bounded set of series, about twenty operations
// times thirty error types at most. The namespace is left out unless
// WithMetricNamespace is given, since principal-scoped namespaces (one per
// user) would make series without bound; keys never appear in metrics.
//
// # Cost
//
// With OpenTelemetry's no-op providers the hook costs a few allocations
// per operation (the span's context); the namespace is resolved only for
// a span that records. See BenchmarkGet here and in package observe.
package otelobserve
