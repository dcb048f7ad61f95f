package otlp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/otlp"
	"github.com/mycelia-kernel/storage/internal/testutil/logbuf"
	"github.com/mycelia-kernel/storage/observe"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// span is a decoded OTLP JSON span.
type span struct {
	TraceID           string `json:"traceId"`
	SpanID            string `json:"spanId"`
	ParentSpanID      string `json:"parentSpanId"`
	Name              string `json:"name"`
	Kind              int    `json:"kind"`
	StartTimeUnixNano string `json:"startTimeUnixNano"`
	EndTimeUnixNano   string `json:"endTimeUnixNano"`
	Attributes        []struct {
		Key   string                     `json:"key"`
		Value map[string]json.RawMessage `json:"value"`
	} `json:"attributes"`
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
}

// attr returns the JSON of attribute k's value, typed ("stringValue":…),
// or "".
func (s span) attr(k string) string {
	for _, a := range s.Attributes {
		if a.Key == k {
			for typ, v := range a.Value {
				return typ + "=" + string(v)
			}
		}
	}
	return ""
}

type request struct {
	ResourceSpans []struct {
		Resource struct {
			Attributes []struct {
				Key   string            `json:"key"`
				Value map[string]string `json:"value"`
			} `json:"attributes"`
		} `json:"resource"`
		ScopeSpans []struct {
			Scope struct {
				Name string `json:"name"`
			} `json:"scope"`
			Spans []span `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

// collector is an OTLP/HTTP JSON trace receiver.
type collector struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	spans    []span
	bodies   [][]byte
	headers  []http.Header
	requests int
	status   int           // answer with this status (0: 200)
	block    chan struct{} // when set, requests wait until it is closed
	arrived  chan struct{} // gets a value as each request arrives
}

func newCollector(t *testing.T) *collector {
	c := &collector{t: t, arrived: make(chan struct{}, 100)}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		block, status := c.block, c.status
		c.requests++
		c.mu.Unlock()
		c.arrived <- struct{}{}
		if block != nil {
			<-block
		}
		if r.Method != http.MethodPost || r.URL.Path != otlp.TracesPath || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("collector got %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		var req request
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("collector: %v in %s", err, body)
		}
		c.mu.Lock()
		c.bodies = append(c.bodies, body)
		c.headers = append(c.headers, r.Header.Clone())
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				c.spans = append(c.spans, ss.Spans...)
			}
		}
		c.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) url() string { return c.srv.URL + otlp.TracesPath }

func (c *collector) got() []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]span(nil), c.spans...)
}

func (c *collector) byName(name string) []span {
	var out []span
	for _, s := range c.got() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func newExporter(t *testing.T, cfg otlp.Config) *otlp.Exporter {
	t.Helper()
	if cfg.ServiceName == "" {
		cfg.ServiceName = "test"
	}
	if cfg.SampleRatio == 0 {
		cfg.SampleRatio = 1
	}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Hour // only Flush and Shutdown send
	}
	e, err := otlp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e
}

func shutdown(t *testing.T, e *otlp.Exporter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestParseTraceparent(t *testing.T) {
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		in      string
		ok      bool
		sampled bool
	}{
		{"00-" + tid + "-" + sid + "-01", true, true},
		{"00-" + tid + "-" + sid + "-00", true, false},
		{"01-" + tid + "-" + sid + "-09-later-data", true, true}, // a later version: its 00 prefix
		{"01-" + tid + "-" + sid + "-01", true, true},
		{"00-" + tid + "-" + sid + "-01-extra", false, false}, // version 00 has nothing after
		{"01-" + tid + "-" + sid + "-01x", false, false},
		{"ff-" + tid + "-" + sid + "-01", false, false},
		{"00-" + strings.ToUpper(tid) + "-" + sid + "-01", false, false},
		{"00-00000000000000000000000000000000-" + sid + "-01", false, false},
		{"00-" + tid + "-0000000000000000-01", false, false},
		{"00-" + tid[:31] + "g-" + sid + "-01", false, false},
		{"00_" + tid + "-" + sid + "-01", false, false},
		{"00-" + tid + "-" + sid + "-0", false, false},
		{"", false, false},
	} {
		sc, ok := otlp.ParseTraceparent(tc.in)
		if ok != tc.ok || (ok && sc.Sampled != tc.sampled) {
			t.Errorf("ParseTraceparent(%q) = %+v, %v; want ok %v sampled %v", tc.in, sc, ok, tc.ok, tc.sampled)
		}
		if ok && !strings.HasPrefix(tc.in[3:], sc.Traceparent()[3:52]) {
			t.Errorf("ParseTraceparent(%q) ids: %s", tc.in, sc.Traceparent())
		}
	}
}

// TestExport: the request is OTLP JSON with the resource, the scope, hex
// ids, the parent link, decimal nanosecond times, typed attributes, the
// status, and the configured headers.
func TestExport(t *testing.T) {
	c := newCollector(t)
	e := newExporter(t, otlp.Config{URL: c.url(), ServiceName: "svc", ServiceVersion: "v1.2.3",
		Headers: map[string]string{"Authorization": "Bearer secret"}})
	start := time.Unix(1700000000, 123456789)
	ctx, root := e.Start(context.Background(), otlp.SpanContext{}, "root", otlp.KindServer, start,
		otlp.String("s", "x"), otlp.Int("i", 42), otlp.Bool("b", true))
	_, child := e.Start(ctx, otlp.SpanContext{}, "child", otlp.KindClient, start.Add(time.Millisecond))
	child.SetStatus(otlp.StatusError, "not_found")
	child.End(start.Add(2 * time.Millisecond))
	root.End(start.Add(3 * time.Millisecond))
	root.End(start.Add(time.Hour)) // a second End does nothing
	shutdown(t, e)

	if len(c.bodies) != 1 {
		t.Fatalf("%d requests, want 1", len(c.bodies))
	}
	if got := c.headers[0].Get("Authorization"); got != "Bearer secret" {
		t.Errorf("Authorization %q", got)
	}
	var req request
	if err := json.Unmarshal(c.bodies[0], &req); err != nil {
		t.Fatal(err)
	}
	res := map[string]string{}
	for _, a := range req.ResourceSpans[0].Resource.Attributes {
		res[a.Key] = a.Value["stringValue"]
	}
	if res["service.name"] != "svc" || res["service.version"] != "v1.2.3" {
		t.Errorf("resource %v", res)
	}
	if got := req.ResourceSpans[0].ScopeSpans[0].Scope.Name; got != otlp.ScopeName {
		t.Errorf("scope %q", got)
	}
	spans := c.got()
	if len(spans) != 2 || spans[0].Name != "child" || spans[1].Name != "root" {
		t.Fatalf("spans %+v", spans)
	}
	ch, r := spans[0], spans[1]
	if len(r.TraceID) != 32 || len(r.SpanID) != 16 || r.ParentSpanID != "" {
		t.Errorf("root ids %q %q %q", r.TraceID, r.SpanID, r.ParentSpanID)
	}
	if ch.TraceID != r.TraceID || ch.ParentSpanID != r.SpanID || ch.SpanID == r.SpanID {
		t.Errorf("child %s/%s parent %s, root %s/%s", ch.TraceID, ch.SpanID, ch.ParentSpanID, r.TraceID, r.SpanID)
	}
	if r.Kind != 2 || ch.Kind != 3 {
		t.Errorf("kinds %d %d", r.Kind, ch.Kind)
	}
	if r.StartTimeUnixNano != "1700000000123456789" || r.EndTimeUnixNano != "1700000000126456789" {
		t.Errorf("root times %s %s", r.StartTimeUnixNano, r.EndTimeUnixNano)
	}
	if r.attr("s") != `stringValue="x"` || r.attr("i") != `intValue="42"` || r.attr("b") != "boolValue=true" {
		t.Errorf("attributes %+v", r.Attributes)
	}
	if ch.Status.Code != 2 || ch.Status.Message != "not_found" || r.Status.Code != 0 {
		t.Errorf("status child %+v root %+v", ch.Status, r.Status)
	}
	// The raw JSON spells the enums as numbers and the times as strings.
	for _, want := range []string{`"kind":2`, `"startTimeUnixNano":"1700000000123456789"`, `"status":{"code":2,"message":"not_found"}`} {
		if !bytes.Contains(c.bodies[0], []byte(want)) {
			t.Errorf("body lacks %s: %s", want, c.bodies[0])
		}
	}
}

// TestRemoteParentAndSampling: a caller's span context gives the trace
// and parent and its sampled flag decides; new traces follow the ratio.
func TestRemoteParentAndSampling(t *testing.T) {
	c := newCollector(t)
	e := newExporter(t, otlp.Config{URL: c.url()})
	remote, ok := otlp.ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if !ok {
		t.Fatal("traceparent")
	}
	_, s := e.Start(context.Background(), remote, "joined", otlp.KindServer, time.Now())
	s.End(time.Now())
	unsampled := remote
	unsampled.Sampled = false
	ctx, s2 := e.Start(context.Background(), unsampled, "unsampled", otlp.KindServer, time.Now())
	_, s3 := e.Start(ctx, otlp.SpanContext{}, "unsampled-child", otlp.KindClient, time.Now())
	s3.End(time.Now())
	s2.End(time.Now())
	shutdown(t, e)
	spans := c.got()
	if len(spans) != 1 || spans[0].TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || spans[0].ParentSpanID != "00f067aa0ba902b7" {
		t.Fatalf("spans %+v", spans)
	}

	none := newExporter(t, otlp.Config{URL: c.url(), SampleRatio: 1e-300})
	for range 100 {
		_, s := none.Start(context.Background(), otlp.SpanContext{}, "rare", otlp.KindServer, time.Now())
		s.End(time.Now())
	}
	shutdown(t, none)
	half := newExporter(t, otlp.Config{URL: c.url(), SampleRatio: 0.5})
	for range 1000 {
		_, s := half.Start(context.Background(), otlp.SpanContext{}, "half", otlp.KindServer, time.Now())
		s.End(time.Now())
	}
	shutdown(t, half)
	if n := len(c.byName("rare")); n != 0 {
		t.Errorf("ratio ~0: %d spans", n)
	}
	if n := len(c.byName("half")); n < 350 || n > 650 {
		t.Errorf("ratio 0.5: %d spans of 1000", n)
	}
}

// TestQueueFull: while the collector stalls, spans beyond the queue are
// dropped and counted, ending a span never blocks, and the queued ones
// are sent once the collector answers.
func TestQueueFull(t *testing.T) {
	c := newCollector(t)
	release := make(chan struct{})
	c.block = release
	e := newExporter(t, otlp.Config{URL: c.url(), QueueSize: 4, BatchSize: 1})
	end := func(name string) {
		_, s := e.Start(context.Background(), otlp.SpanContext{}, name, otlp.KindInternal, time.Now())
		s.End(time.Now())
	}
	end("first")
	<-c.arrived // the first span is in flight; the queue is empty
	begin := time.Now()
	for range 4 + 3 {
		end("queued")
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("ending spans with a full queue took %v", d)
	}
	if st := e.Stats(); st.DroppedQueueFull != 3 || st.Exported != 0 {
		t.Errorf("stats with the collector stalled: %+v, want 3 dropped", st)
	}
	close(release)
	shutdown(t, e)
	if st := e.Stats(); st.Exported != 5 || st.DroppedQueueFull != 3 || st.ExportErrors != 0 {
		t.Errorf("stats after shutdown: %+v", st)
	}
	if n := len(c.byName("queued")); n != 4 {
		t.Errorf("%d queued spans exported, want 4", n)
	}
	end("late") // after Shutdown: dropped, no panic
	if st := e.Stats(); st.DroppedQueueFull != 4 {
		t.Errorf("a span after shutdown: %+v", st)
	}
}

// TestFlushAtShutdownAndInterval: spans are sent at each flush interval,
// and those queued at Shutdown are sent before it returns.
func TestFlushAtShutdownAndInterval(t *testing.T) {
	c := newCollector(t)
	e := newExporter(t, otlp.Config{URL: c.url(), FlushInterval: 20 * time.Millisecond})
	_, s := e.Start(context.Background(), otlp.SpanContext{}, "ticked", otlp.KindInternal, time.Now())
	s.End(time.Now())
	select {
	case <-c.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no export at the flush interval")
	}
	lazy := newExporter(t, otlp.Config{URL: c.url()}) // an hour's interval
	for range 10 {
		_, s := lazy.Start(context.Background(), otlp.SpanContext{}, "at-shutdown", otlp.KindInternal, time.Now())
		s.End(time.Now())
	}
	if n := len(c.byName("at-shutdown")); n != 0 {
		t.Fatalf("%d spans sent before shutdown", n)
	}
	shutdown(t, lazy)
	if n := len(c.byName("at-shutdown")); n != 10 {
		t.Errorf("%d spans sent at shutdown, want 10", n)
	}
}

// TestShutdownDeadline: a collector that never answers does not hold
// Shutdown past its context.
func TestShutdownDeadline(t *testing.T) {
	c := newCollector(t)
	release := make(chan struct{})
	defer close(release)
	c.block = release
	e := newExporter(t, otlp.Config{URL: c.url()})
	_, s := e.Start(context.Background(), otlp.SpanContext{}, "stuck", otlp.KindInternal, time.Now())
	s.End(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want deadline exceeded", err)
	}
}

// TestExportErrors: a refused export is counted, its spans dropped, and
// logged once however many fail in a row; the headers never reach the log.
func TestExportErrors(t *testing.T) {
	c := newCollector(t)
	c.status = http.StatusServiceUnavailable
	var logs logbuf.Buffer
	e := newExporter(t, otlp.Config{URL: c.url(), BatchSize: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Headers: map[string]string{"Authorization": "Bearer hidden-token"}})
	for range 3 {
		_, s := e.Start(context.Background(), otlp.SpanContext{}, "failing", otlp.KindInternal, time.Now())
		s.End(time.Now())
		if err := e.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	st := e.Stats()
	if st.ExportErrors != 3 || st.DroppedExportFailed != 3 || st.Exported != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := strings.Count(logs.String(), "trace export failed"); n != 1 {
		t.Errorf("%d error records, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "503") || strings.Contains(logs.String(), "hidden-token") {
		t.Errorf("log:\n%s", logs.String())
	}

	// An unreachable collector is an error too.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	e2 := newExporter(t, otlp.Config{URL: dead.URL + otlp.TracesPath})
	_, s := e2.Start(context.Background(), otlp.SpanContext{}, "lost", otlp.KindInternal, time.Now())
	s.End(time.Now())
	shutdown(t, e2)
	if st := e2.Stats(); st.ExportErrors != 1 || st.DroppedExportFailed != 1 {
		t.Errorf("unreachable: %+v", st)
	}
}

// TestHandler: a request is a server span named by its route, joining a
// valid traceparent's trace, ignoring an invalid one; the storage
// operations under it are its children; a 5xx is an error; the
// untraced paths make no span; ResponseController still reaches Flush.
func TestHandler(t *testing.T) {
	c := newCollector(t)
	e := newExporter(t, otlp.Config{URL: c.url()})
	st, err := sqlstore.Open(context.Background(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	store := observe.Wrap(st, e.Hook("sqlite"))
	mux := http.NewServeMux()
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		_, err := store.Get(r.Context(), "secret-key-name", storage.InNamespace("users"))
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("get: %v", err)
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the span's writer: %v", err)
		}
	})
	mux.HandleFunc("/bad", func(w http.ResponseWriter, r *http.Request) {
		_, err := store.Get(r.Context(), "", storage.InNamespace("users"))
		if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("get: %v", err)
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	h := e.Handler(mux, func(r *http.Request) (string, bool) {
		switch r.URL.Path {
		case "/skip":
			return "", false
		case "/get", "/bad":
			return r.URL.Path, true
		}
		return "", true
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(method, path string, traceparent ...string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for _, tp := range traceparent {
			req.Header.Add("traceparent", tp)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	const tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	do("GET", "/get", "00-"+tid+"-"+sid+"-01")
	do("GET", "/get", "00-"+strings.ToUpper(tid)+"-"+sid+"-01") // invalid: a new trace
	do("GET", "/get", "00-"+tid+"-"+sid+"-01", "00-"+tid+"-"+sid+"-01")
	do("POST", "/bad")
	do("GET", "/skip")
	do("BREW", "/other")
	srv.Close() // the handlers end their spans after the responses are sent
	shutdown(t, e)

	// Spans arrive in the order they end, which need not be the
	// requests' (a handler ends its span after the response is sent), so
	// they are matched by their ids.
	gets := c.byName("GET /get")
	ops := c.byName("storage.get")
	bad := c.byName("POST /bad")
	if len(gets) != 3 || len(ops) != 4 || len(bad) != 1 {
		t.Fatalf("%d GET /get spans, %d storage.get spans, %d POST /bad: %+v", len(gets), len(ops), len(bad), c.got())
	}
	joined := 0
	for _, g := range gets {
		if g.TraceID == tid {
			joined++
			if g.ParentSpanID != sid || g.Kind != 2 {
				t.Errorf("the traceparent's request: %+v", g)
			}
		} else if g.ParentSpanID != "" {
			t.Errorf("an invalid traceparent was followed: %+v", g)
		}
		if g.attr("http.route") != `stringValue="/get"` || g.attr("http.request.method") != `stringValue="GET"` ||
			g.attr("http.response.status_code") != `intValue="200"` || g.Status.Code != 0 {
			t.Errorf("request span: %+v", g)
		}
	}
	if joined != 1 {
		t.Errorf("%d requests joined the caller's trace, want 1 (the others' traceparents are invalid)", joined)
	}
	if bad[0].Status.Code != 2 || bad[0].attr("http.response.status_code") != `intValue="500"` {
		t.Errorf("a 500: %+v", bad)
	}
	parents := map[string]span{bad[0].SpanID: bad[0]}
	for _, g := range gets {
		parents[g.SpanID] = g
	}
	children := map[string]int{}
	for _, op := range ops {
		p, ok := parents[op.ParentSpanID]
		if !ok || op.TraceID != p.TraceID || op.Kind != 3 {
			t.Errorf("storage span %+v is not a child of a request span", op)
			continue
		}
		children[p.SpanID]++
		if op.attr("storage.namespace") != `stringValue="users"` || op.attr("db.system.name") != `stringValue="sqlite"` ||
			op.attr("db.operation.name") != `stringValue="get"` {
			t.Errorf("storage span attributes: %+v", op)
		}
		if p.Name == "POST /bad" {
			if op.Status.Code != 2 || op.Status.Message != "invalid_key" || op.attr("error.type") != `stringValue="invalid_key"` {
				t.Errorf("a refused get: %+v", op)
			}
		} else if op.Status.Code != 0 || op.attr("error.type") != `stringValue="not_found"` {
			t.Errorf("a get of a missing key: %+v", op)
		}
	}
	if len(children) != 4 {
		t.Errorf("storage spans per request: %v, want one under each of the 4", children)
	}
	if other := c.byName("HTTP"); len(other) != 1 || other[0].attr("http.request.method") != `stringValue="_OTHER"` {
		t.Errorf("an unknown method: %+v", other)
	}
	if len(c.got()) != 3+4+1+1 {
		t.Errorf("%d spans, want 9 (none for /skip)", len(c.got()))
	}
	for _, b := range c.bodies {
		if bytes.Contains(b, []byte("secret-key-name")) {
			t.Errorf("a key was exported: %s", b)
		}
	}
}

func TestTracesURLAndHeaders(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		flag string
		env  func(string) string
		want string
		err  bool
	}{
		{"", env(), "", false},
		{"http://c:4318", env(), "http://c:4318/v1/traces", false},
		{"http://c:4318/", env(), "http://c:4318/v1/traces", false},
		{"https://c/otlp", env(), "https://c/otlp/v1/traces", false},
		{"http://c:4318/v1/traces", env(), "http://c:4318/v1/traces", false},
		{"", env(otlp.EnvEndpoint, "http://base:4318"), "http://base:4318/v1/traces", false},
		{"", env(otlp.EnvEndpoint, "http://base:4318", otlp.EnvTracesEndpoint, "http://t:1/custom"), "http://t:1/custom", false},
		{"http://flag:1", env(otlp.EnvTracesEndpoint, "http://t:1/custom"), "http://flag:1/v1/traces", false},
		{"c:4318", env(), "", true},
		{"ftp://c", env(), "", true},
		{"http://user:pw@c", env(), "", true},
	} {
		got, err := otlp.TracesURL(tc.flag, tc.env)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("TracesURL(%q) = %q, %v; want %q, error %v", tc.flag, got, err, tc.want, tc.err)
		}
	}
	h := map[string]string{}
	if err := otlp.ParseHeaders(h, "Authorization=Bearer%20abc, x-tenant = t1 ,"); err != nil {
		t.Fatal(err)
	}
	if h["Authorization"] != "Bearer abc" || h["x-tenant"] != "t1" || len(h) != 2 {
		t.Errorf("headers %v", h)
	}
	for _, bad := range []string{"novalue", "=v", "a b=c", "k=%zz", "k=a%0Ab"} {
		err := otlp.ParseHeaders(map[string]string{}, bad)
		if err == nil {
			t.Errorf("ParseHeaders(%q): no error", bad)
		} else if strings.Contains(err.Error(), "zz") || strings.Contains(err.Error(), "a%0Ab") {
			t.Errorf("ParseHeaders(%q) quotes the value: %v", bad, err)
		}
	}
}
