package httpapi

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MetricsPath is where storeserver serves Metrics.
const MetricsPath = "/metrics"

// DurationBuckets are the upper bounds, in seconds, of the request
// duration histogram's buckets.
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Metrics counts a Handler's requests (Config.Metrics) and serves them, with
// the families of any registered collectors, in the Prometheus text
// exposition format (version 0.0.4), written by hand so that no metrics
// library enters the module's dependencies. Every request is counted by
// route and code:
//
//   - storage_http_requests_total{route,code}: a counter;
//   - storage_http_request_duration_seconds{route,code}: a histogram
//     (DurationBuckets);
//   - storage_http_requests_in_flight: a gauge.
//
// A Handler given a Metrics adds two gauges of its admission: the
// requests in the store under its bounds on requests
// (storage_http_requests_running) and those waiting for their turn
// (storage_http_requests_waiting{for="store"}) or for room for their body
// (storage_http_requests_waiting{for="bytes"}).
//
// route is the storage operation ("get", "setMany", …) for
// /v1/storage/{op}, "healthz" or "readyz", and "other" for every other path
// and for operations that name no route, so a client cannot make new
// series at will; code is "ok" for a success, else the error code of the
// envelope (routes' codes, such as "not_found"). The label sets are bounded
// by the routes and the codes. A Metrics is safe for concurrent use; its
// zero value is not ready, use NewMetrics.
type Metrics struct {
	inFlight atomic.Int64

	mu         sync.Mutex // protects the fields below
	series     map[seriesKey]*histogram
	collectors []func() []Family
}

type seriesKey struct{ route, code string }

type histogram struct {
	buckets []uint64 // counts per bucket, not cumulative; the last is +Inf
	sum     float64
	count   uint64
}

// Family is one metric family a collector reports: its name, help text,
// type ("counter" or "gauge") and samples.
type Family struct {
	Name, Help, Type string
	Samples          []Sample
}

// Sample is one sample of a Family: its labels, as name and value pairs,
// and its value.
type Sample struct {
	Labels [][2]string
	Value  float64
}

// NewMetrics returns an empty Metrics.
func NewMetrics() *Metrics { return &Metrics{series: make(map[seriesKey]*histogram)} }

// Register adds a collector, called at every scrape, whose families are
// written after the request metrics (open transactions and pool figures,
// in storeserver).
func (m *Metrics) Register(collect func() []Family) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.collectors = append(m.collectors, collect)
}

// observe counts one request.
func (m *Metrics) observe(route, code string, d time.Duration) {
	if code == "" {
		code = "ok"
	}
	sec := d.Seconds()
	i, _ := slices.BinarySearch(DurationBuckets, sec)
	m.mu.Lock()
	defer m.mu.Unlock()
	k := seriesKey{route, code}
	h := m.series[k]
	if h == nil {
		h = &histogram{buckets: make([]uint64, len(DurationBuckets)+1)}
		m.series[k] = h
	}
	h.buckets[i]++
	h.sum += sec
	h.count++
}

// routeLabel is the metrics' route label of a request to path: the
// operation when the request names a route the Caller serves (it answered
// with a code other than unknown_route, or it listed the route when the
// handler was made), so that no request creates a series of its own.
func (h *Handler) routeLabel(path string, rec *record) string {
	switch {
	case path == HealthPath:
		return "healthz"
	case path == ReadyPath:
		return "readyz"
	case rec.route == "" || rec.code == "unknown_route":
		return "other"
	case h.known[rec.route] || rec.routed:
		return strings.TrimPrefix(rec.route, RoutePrefix)
	}
	return "other"
}

// ServeHTTP writes the metrics in the Prometheus text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriter(w)
	m.write(bw)
	_ = bw.Flush() // the scraper went away: nothing to do
}

// write writes every family.
func (m *Metrics) write(w *bufio.Writer) {
	m.mu.Lock()
	keys := make([]seriesKey, 0, len(m.series))
	for k := range m.series {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b seriesKey) int {
		if c := strings.Compare(a.route, b.route); c != 0 {
			return c
		}
		return strings.Compare(a.code, b.code)
	})
	snap := make([]histogram, len(keys))
	for i, k := range keys {
		h := m.series[k]
		snap[i] = histogram{buckets: slices.Clone(h.buckets), sum: h.sum, count: h.count}
	}
	collectors := slices.Clone(m.collectors)
	m.mu.Unlock()

	header(w, "storage_http_requests_total", "HTTP requests served, by route and code (ok or the error code).", "counter")
	for i, k := range keys {
		sample(w, "storage_http_requests_total", [][2]string{{"route", k.route}, {"code", k.code}}, float64(snap[i].count))
	}
	header(w, "storage_http_request_duration_seconds", "Time to serve an HTTP request, by route and code.", "histogram")
	for i, k := range keys {
		h := snap[i]
		var cum uint64
		for b, le := range DurationBuckets {
			cum += h.buckets[b]
			sample(w, "storage_http_request_duration_seconds_bucket",
				[][2]string{{"route", k.route}, {"code", k.code}, {"le", formatFloat(le)}}, float64(cum))
		}
		sample(w, "storage_http_request_duration_seconds_bucket",
			[][2]string{{"route", k.route}, {"code", k.code}, {"le", "+Inf"}}, float64(h.count))
		sample(w, "storage_http_request_duration_seconds_sum", [][2]string{{"route", k.route}, {"code", k.code}}, h.sum)
		sample(w, "storage_http_request_duration_seconds_count", [][2]string{{"route", k.route}, {"code", k.code}}, float64(h.count))
	}
	header(w, "storage_http_requests_in_flight", "HTTP requests being served.", "gauge")
	sample(w, "storage_http_requests_in_flight", nil, float64(m.inFlight.Load()))
	for _, c := range collectors {
		for _, f := range c() {
			header(w, f.Name, f.Help, f.Type)
			for _, s := range f.Samples {
				sample(w, f.Name, s.Labels, s.Value)
			}
		}
	}
}

func header(w *bufio.Writer, name, help, typ string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

// sample writes one sample line. A bufio.Writer's errors are sticky: the
// Flush at the end reports them.
func sample(w *bufio.Writer, name string, labels [][2]string, v float64) {
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l[0])
			b.WriteString(`="`)
			b.WriteString(escapeLabel(l[1]))
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
	_, _ = w.WriteString(b.String())
}

// formatFloat writes v as the text format wants: shortest round-trip
// form, +Inf, -Inf, NaN.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
