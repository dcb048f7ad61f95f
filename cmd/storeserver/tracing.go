package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/otlp"
)

// headerFlags collects repeated --otlp-header KEY=VALUE flags.
type headerFlags []string

func (h *headerFlags) String() string { return "" } // never print values: they may be secrets

func (h *headerFlags) Set(v string) error {
	if err := otlp.AddHeader(map[string]string{}, v, false); err != nil {
		return err
	}
	*h = append(*h, v)
	return nil
}

// tracing is the resolved trace export configuration; a zero URL means
// tracing is off.
type tracing struct {
	url         string
	headers     map[string]string
	serviceName string
}

// resolveTracing reads the --otlp-* flags and the OTEL_* environment.
func (o *options) resolveTracing(getenv func(string) string) (tracing, error) {
	var tr tracing
	var err error
	if tr.url, err = otlp.TracesURL(o.otlpEndpoint, getenv); err != nil || tr.url == "" {
		return tracing{}, err
	}
	if o.otlpRatio < 0 || o.otlpRatio > 1 {
		return tracing{}, fmt.Errorf("--otlp-sample-ratio %v: want 0 to 1", o.otlpRatio)
	}
	tr.headers = map[string]string{}
	for _, env := range []string{otlp.EnvHeaders, otlp.EnvTracesHeaders} {
		if err := otlp.ParseHeaders(tr.headers, getenv(env)); err != nil {
			return tracing{}, fmt.Errorf("$%s: %w", env, err)
		}
	}
	for _, h := range o.otlpHeaders {
		if err := otlp.AddHeader(tr.headers, h, false); err != nil {
			return tracing{}, err
		}
	}
	tr.serviceName = getenv(otlp.EnvServiceName)
	if tr.serviceName == "" {
		tr.serviceName = "storeserver"
	}
	return tr, nil
}

// startTracing starts the exporter, nil when tracing is off.
func startTracing(o options, log *slog.Logger) (*otlp.Exporter, error) {
	if o.tracing.url == "" {
		return nil, nil
	}
	version := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
	}
	exp, err := otlp.New(otlp.Config{
		URL: o.tracing.url, Headers: o.tracing.headers,
		ServiceName: o.tracing.serviceName, ServiceVersion: version,
		SampleRatio: o.otlpRatio, FlushInterval: o.otlpFlush, QueueSize: o.otlpQueue,
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	log.Info("exporting traces", "url", o.tracing.url, "sampleRatio", o.otlpRatio) // never the headers
	return exp, nil
}

// stopTracing sends the spans still queued, within the shutdown timeout.
func stopTracing(exp *otlp.Exporter, o options, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := exp.Shutdown(ctx); err != nil {
		log.Error("trace export cut off at shutdown", "error", err)
	}
	st := exp.Stats()
	log.Info("trace exporter stopped", "exported", st.Exported,
		"dropped", st.DroppedQueueFull+st.DroppedExportFailed, "exportErrors", st.ExportErrors)
}

// traceRoute names a request's route for its span, and leaves the
// probes and scrapes untraced: the storage operations the server serves
// (/v1/storage/get, …), the console, or no route.
func traceRoute(routes []string) func(*http.Request) (string, bool) {
	known := make(map[string]bool, len(routes))
	for _, r := range routes {
		known[r] = true
	}
	return func(r *http.Request) (string, bool) {
		switch p := r.URL.Path; {
		case p == httpapi.MetricsPath || p == httpapi.HealthPath || p == httpapi.ReadyPath:
			return "", false
		case strings.HasPrefix(p, httpapi.StoragePrefix) && known[httpapi.RoutePrefix+p[len(httpapi.StoragePrefix):]]:
			return p, true
		case strings.HasPrefix(p, console.Prefix):
			return console.Prefix + "*", true
		}
		return "", true
	}
}

// traceMetrics reports the exporter's counters at each scrape of /metrics.
func traceMetrics(exp *otlp.Exporter) func() []httpapi.Family {
	return func() []httpapi.Family {
		st := exp.Stats()
		return []httpapi.Family{
			{Name: "storage_otlp_spans_exported_total", Help: "Spans a trace collector accepted.", Type: "counter",
				Samples: []httpapi.Sample{{Value: float64(st.Exported)}}},
			{Name: "storage_otlp_spans_dropped_total", Help: "Spans dropped, by reason: the export queue was full, or the export failed.", Type: "counter",
				Samples: []httpapi.Sample{
					{Labels: [][2]string{{"reason", "queue_full"}}, Value: float64(st.DroppedQueueFull)},
					{Labels: [][2]string{{"reason", "export_failed"}}, Value: float64(st.DroppedExportFailed)},
				}},
			{Name: "storage_otlp_export_errors_total", Help: "Trace export requests that failed.", Type: "counter",
				Samples: []httpapi.Sample{{Value: float64(st.ExportErrors)}}},
		}
	}
}
