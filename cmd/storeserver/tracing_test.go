package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/internal/testutil/logbuf"
)

// otlpSpan is the part of an OTLP JSON span the test reads.
type otlpSpan struct {
	TraceID, SpanID, ParentSpanID, Name string
	Attributes                          []struct {
		Key   string
		Value map[string]any
	}
	Status struct {
		Code    int
		Message string
	}
}

func (s otlpSpan) attr(k string) any {
	for _, a := range s.Attributes {
		if a.Key == k {
			for _, v := range a.Value {
				return v
			}
		}
	}
	return nil
}

// TestTraces runs the server with an OTLP endpoint: each storage request
// is a server span joining the caller's traceparent, with the storage
// operations as its children; a refused operation is an error span; the
// probes make no span; /metrics counts the exporter; the spans queued at
// shutdown are sent; keys, values and the export header never appear.
func TestTraces(t *testing.T) {
	var (
		mu      sync.Mutex
		spans   []otlpSpan
		bodies  []string
		authHdr []string
	)
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ResourceSpans []struct {
				ScopeSpans []struct{ Spans []otlpSpan }
			}
		}
		if err := json.Unmarshal(body, &req); err != nil || r.URL.Path != "/v1/traces" {
			t.Errorf("collector: %s %v", r.URL.Path, err)
		}
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(body))
		authHdr = append(authHdr, r.Header.Get("Authorization"))
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
	}))
	defer col.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs logbuf.Buffer
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": col.URL, "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20export-secret"}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--insecure-anonymous", "--dsn", "sqlite::memory:", "--addr", "127.0.0.1:0",
			"--log-format", "json", "--otlp-flush-interval", "1h"}, &logs, func(k string) string { return env[k] })
	}()
	var base string
	for deadline := time.Now().Add(30 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no listening record:\n%s", logs.String())
		}
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var rec struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				base = rec.URL
			}
		}
	}
	post := func(op, body, traceparent string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/storage/"+op, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	const tid, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	if code := post("set", `{"key":"user-key-1","value":{"name":"value-secret"},"options":{"namespace":"users"}}`, "00-"+tid+"-"+parent+"-01"); code != 200 {
		t.Fatalf("set: %d", code)
	}
	if code := post("deleteNamespace", `{"name":"missing"}`, "00-"+tid+"-zzzz6b7169203331-01"); code != 404 {
		t.Fatalf("deleteNamespace of a missing namespace: %d", code)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"\nstorage_otlp_spans_exported_total 0\n",
		"\nstorage_otlp_spans_dropped_total{reason=\"queue_full\"} 0\n",
		"\nstorage_otlp_spans_dropped_total{reason=\"export_failed\"} 0\n",
		"\nstorage_otlp_export_errors_total 0\n",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	mu.Lock()
	early := len(spans)
	mu.Unlock()
	if early != 0 {
		t.Errorf("%d spans sent before the flush interval or shutdown", early)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d:\n%s", code, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no shutdown")
	}
	mu.Lock()
	defer mu.Unlock()
	byName := map[string][]otlpSpan{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	set, get := byName["POST /v1/storage/set"], byName["POST /v1/storage/deleteNamespace"]
	if len(set) != 1 || len(get) != 1 || len(spans) != 4 {
		t.Fatalf("spans at shutdown: %+v", spans)
	}
	if set[0].TraceID != tid || set[0].ParentSpanID != parent {
		t.Errorf("the set request did not join the caller's trace: %+v", set[0])
	}
	if get[0].TraceID == tid || get[0].ParentSpanID != "" {
		t.Errorf("an invalid traceparent was followed: %+v", get[0])
	}
	if s := byName["storage.set"]; len(s) != 1 || s[0].ParentSpanID != set[0].SpanID || s[0].TraceID != tid ||
		s[0].attr("storage.namespace") != "users" || s[0].attr("db.system.name") != "sqlite" || s[0].Status.Code != 0 {
		t.Errorf("storage.set span: %+v", s)
	}
	if s := byName["storage.deleteNamespace"]; len(s) != 1 || s[0].ParentSpanID != get[0].SpanID || s[0].Status.Code != 2 ||
		s[0].Status.Message != "namespace_not_found" || s[0].attr("error.type") != "namespace_not_found" {
		t.Errorf("storage.deleteNamespace span: %+v", s)
	}
	if get[0].attr("http.response.status_code") != "404" || get[0].Status.Code != 0 {
		t.Errorf("a 400 request span: %+v", get[0])
	}
	for i, b := range bodies {
		if strings.Contains(b, "user-key-1") || strings.Contains(b, "value-secret") || strings.Contains(b, "export-secret") {
			t.Errorf("export %d holds a key, a value or the header: %s", i, b)
		}
		if authHdr[i] != "Bearer export-secret" {
			t.Errorf("export %d: Authorization %q", i, authHdr[i])
		}
	}
	if strings.Contains(logs.String(), "export-secret") {
		t.Errorf("the log holds the export header:\n%s", logs.String())
	}
}
