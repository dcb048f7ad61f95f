// Package otlp is storeserver's OpenTelemetry trace exporter, written on
// the standard library alone so that no telemetry library enters the
// module's dependencies (and `go install …/cmd/storeserver@latest` keeps
// working: the binaries stay in the root module).
//
// It records a server span per HTTP request (Exporter.Handler) and a
// client span per storage operation from package observe's hooks
// (Exporter.Hook), honours the W3C traceparent of incoming requests, and
// sends the spans in batches to an OTLP/HTTP collector in the JSON
// encoding (POST {endpoint}/v1/traces, Content-Type application/json,
// an ExportTraceServiceRequest in the protobuf JSON mapping). Ended spans
// wait in a bounded queue: when it is full they are dropped and counted,
// so a slow or absent collector never slows a request. The queue is sent
// when a batch is full, at every flush interval, and at Shutdown. Failed
// exports are counted and logged at most once a minute; nothing is
// retried.
package otlp
