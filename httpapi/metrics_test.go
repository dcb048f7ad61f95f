package httpapi

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/routes"
)

// promLine is a sample line of the text format: a name, optional labels
// with quoted (escaped) values, a value.
var promLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (\S+)$`)

// scrape reads m's text and returns its samples by "name{labels}", checking
// every line's syntax and that each sample's family was declared first.
func scrape(t *testing.T, m *Metrics) (map[string]float64, http.Header) {
	t.Helper()
	rr := httptest.NewRecorder()
	m.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, MetricsPath, nil))
	if rr.Code != http.StatusOK {
		t.Fatalf("scrape: %d", rr.Code)
	}
	out := map[string]float64{}
	typed := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(rr.Body.String()))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			if _, dup := typed[name]; dup {
				t.Errorf("family %s declared twice", name)
			}
			typed[name] = typ
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		mm := promLine.FindStringSubmatch(line)
		if mm == nil {
			t.Errorf("not a sample line: %q", line)
			continue
		}
		family := mm[1]
		if typed[family] == "" {
			family = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(family, "_bucket"), "_sum"), "_count")
		}
		if typed[family] == "" {
			t.Errorf("sample %q before its # TYPE", line)
		}
		v, err := strconv.ParseFloat(mm[5], 64)
		if err != nil {
			t.Errorf("value of %q: %v", line, err)
		}
		out[strings.TrimSuffix(line, " "+mm[5])] = v
	}
	return out, rr.Header()
}

func TestMetrics(t *testing.T) {
	m := NewMetrics()
	f := &fakeCaller{resp: func(_ context.Context, route string, _ []byte) ([]byte, error) {
		if route == "storage://get" {
			return routes.ErrorEnvelope(routes.CodeNotFound, "not found"), nil
		}
		if route == "storage://nosuch" {
			return routes.ErrorEnvelope(routes.CodeUnknownRoute, "no route"), nil
		}
		return []byte(`{"success":true}`), nil
	}}
	h := NewHandler(listingCaller{f}, Config{Auth: testTokens(t), Logger: discardLogger(), Metrics: m})
	auth := map[string]string{"Authorization": "Bearer " + aliceToken, "Content-Type": "application/json"}
	for range 3 {
		do(t, h, http.MethodPost, "/v1/storage/set", auth, strings.NewReader(`{}`))
	}
	do(t, h, http.MethodPost, "/v1/storage/get", auth, strings.NewReader(`{}`))
	do(t, h, http.MethodPost, "/v1/storage/set", nil, strings.NewReader(`{}`)) // no token
	for i := range 5 {                                                         // made-up operations make no series of their own
		do(t, h, http.MethodPost, "/v1/storage/nosuch", auth, strings.NewReader(`{}`))
		do(t, h, http.MethodGet, "/x"+strconv.Itoa(i), nil, nil)
		do(t, h, http.MethodPost, "/v1/storage/made"+strconv.Itoa(i), nil, strings.NewReader(`{}`)) // no token
	}
	do(t, h, http.MethodGet, HealthPath, nil, nil)

	got, hdr := scrape(t, m)
	if ct := hdr.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for k, want := range map[string]float64{
		`storage_http_requests_total{route="set",code="ok"}`:                                 3,
		`storage_http_requests_total{route="get",code="not_found"}`:                          1,
		`storage_http_requests_total{route="set",code="unauthenticated"}`:                    1,
		`storage_http_requests_total{route="other",code="unknown_route"}`:                    10,
		`storage_http_requests_total{route="other",code="unauthenticated"}`:                  5,
		`storage_http_requests_total{route="healthz",code="ok"}`:                             1,
		`storage_http_request_duration_seconds_count{route="set",code="ok"}`:                 3,
		`storage_http_request_duration_seconds_bucket{route="set",code="ok",le="+Inf"}`:      3,
		`storage_http_request_duration_seconds_bucket{route="get",code="not_found",le="10"}`: 1,
		`storage_http_requests_in_flight`:                                                    0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	// Buckets are cumulative and end at the count.
	prev := -1.0
	for _, le := range append(DurationBuckets, 0) {
		l := "+Inf"
		if le != 0 {
			l = formatFloat(le)
		}
		v := got[`storage_http_request_duration_seconds_bucket{route="set",code="ok",le="`+l+`"}`]
		if v < prev {
			t.Errorf("bucket le=%s = %v, below the previous %v", l, v, prev)
		}
		prev = v
	}
	n := 0
	for k := range got {
		if strings.HasPrefix(k, "storage_http_requests_total{") {
			n++
		}
	}
	if n != 6 {
		t.Errorf("%d request series, want 6: %v", n, got)
	}
}

// TestMetricsCollectors: registered families are written, label values
// escaped.
func TestMetricsCollectors(t *testing.T) {
	m := NewMetrics()
	m.Register(func() []Family {
		return []Family{{Name: "storage_open_transactions", Help: "Open transactions.", Type: "gauge",
			Samples: []Sample{{Value: 2}}},
			{Name: "storage_pool_connections", Help: "Pool connections\nby state.", Type: "gauge",
				Samples: []Sample{{Labels: [][2]string{{"state", `id"le\`}}, Value: 1.5}}}}
	})
	got, _ := scrape(t, m)
	if got["storage_open_transactions"] != 2 || got[`storage_pool_connections{state="id\"le\\"}`] != 1.5 {
		t.Errorf("collected: %v", got)
	}
	rr := httptest.NewRecorder()
	m.ServeHTTP(rr, httptest.NewRequest(http.MethodPost, MetricsPath, nil))
	if rr.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", rr.Code)
	}
}

// listingCaller is a Caller that lists its routes, as *routes.Mux does.
type listingCaller struct{ *fakeCaller }

func (listingCaller) Routes() []string { return []string{"storage://get", "storage://set"} }

// TestMetricsAdmission: a handler's Metrics show the requests in the
// store and those waiting for their turn.
func TestMetricsAdmission(t *testing.T) {
	tokens, err := ParseAuthFile([]byte(`{"principals":[{"token":"` + aliceToken + `","pkr":"alice-pk"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	c := &stepCaller{step: make(chan struct{}), arrived: make(chan string, 10)}
	h := NewHandler(c, Config{Auth: tokens, MaxRequestsPerPrincipal: 1, Metrics: m, Logger: discardLogger()})
	a, b := send(h, aliceToken, `{}`), send(h, aliceToken, `{}`)
	<-c.arrived
	for h.running.Stats().Waiting < 1 {
		time.Sleep(time.Millisecond)
	}
	got, _ := scrape(t, m)
	if got["storage_http_requests_running"] != 1 || got[`storage_http_requests_waiting{for="store"}`] != 1 ||
		got[`storage_http_requests_waiting{for="bytes"}`] != 0 {
		t.Errorf("samples %v: want 1 running, 1 waiting for the store", got)
	}
	close(c.step)
	<-a
	<-b
	if got, _ = scrape(t, m); got["storage_http_requests_running"] != 0 || got[`storage_http_requests_waiting{for="store"}`] != 0 {
		t.Errorf("samples %v: want none running or waiting", got)
	}
}
