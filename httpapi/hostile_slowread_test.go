package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/slowconn"
)

// slowReader sends one storage request on a connection of its own whose
// receive buffer is small, and never reads the answer: a client reading
// its answers slowly, so that writing a large one blocks the server.
func (s *testServer) slowReader(t *testing.T, op, token, body string) {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn := slowconn.Dial(t, u.Host)
	if _, err := fmt.Fprintf(conn, "POST /v1/storage/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", op, u.Host, token, len(body), body); err != nil {
		t.Fatal(err)
	}
}

// TestHostileSlowReaders (a principal reading its answers slowly cannot
// starve another): two principals each send their bound of gets
// (DefaultMaxRequestsPerPrincipal, 4) of an 8 MiB value and never read
// the answers. Bob's get of a small entry must still be served at once,
// while their own next request waits, as its principal's places are held
// by the answers the server is still writing (bounding the answers it
// holds for one principal). Before, a
// request kept its place in the store (Config.MaxRequestsInStore, 5)
// until its answer was written: the eight unread answers held all five,
// and every other principal's request waited Timeout and was refused 503
// (for storeserver up to its write timeout, 100 s by default).
func TestHostileSlowReaders(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			// Long enough for the eight 8 MiB gets to run, five at a time,
			// on a loaded machine, without one refused for waiting (under
			// the race detector one takes seconds).
			timeout := 10 * time.Second
			if raceEnabled {
				timeout = 40 * time.Second
			}
			m := httpapi.NewMetrics()
			s := newServerAuth(t, c.DSN(t), manyHostileAuth(), httpapi.Config{Timeout: timeout, Metrics: m})
			big := map[string]any{"s": strings.Repeat("x", 8<<20)}
			if err := s.inner.Set(t.Context(), "big", big, storage.InNamespace("shared")); err != nil {
				t.Fatal(err)
			}
			s.must(t, "set", hBob, `{"key":"small","value":1,"options":{"namespace":"shared"}}`)
			alone := s.median(t, 5, "get", hBob, `{"key":"small","options":{"namespace":"shared"}}`)
			for i := range 2 {
				for range httpapi.DefaultMaxRequestsPerPrincipal {
					s.slowReader(t, "get", manyToken(i), `{"key":"big","options":{"namespace":"shared"}}`)
				}
			}
			// Their gets have run and their answers are being written: none
			// is in the store or waits for it any more (before, five stayed
			// in the store and three waited).
			seen := false
			for deadline := time.Now().Add(3 * timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				r, w := admission(t, m)
				if r+w > 0 {
					seen = true
				} else if seen || time.Until(deadline) < 3*timeout-2*time.Second {
					break
				}
			}
			if r, w := admission(t, m); r+w != 0 {
				t.Errorf("%v requests are still in the store and %v wait for it, their answers unread", r, w)
			}
			var lat []time.Duration
			for range 5 {
				st, env, d := s.timed(t, "get", hBob, `{"key":"small","options":{"namespace":"shared"}}`)
				if st != 200 {
					t.Errorf("bob's get beside 8 unread answers = %d %+v after %v", st, env.Error, d)
				}
				lat = append(lat, d)
			}
			slices.Sort(lat)
			t.Logf("bob's get: alone %v; beside 8 unread 8 MiB answers: median %v (%v to %v)",
				alone.Round(time.Microsecond), lat[2].Round(time.Millisecond), lat[0].Round(time.Millisecond), lat[4].Round(time.Millisecond))
			limit := 20*alone + 250*time.Millisecond
			if raceEnabled {
				limit = timeout / 8 // before: the whole Timeout
			}
			if lat[2] > limit {
				t.Errorf("bob's get took %v (median) beside 8 unread answers, more than %v", lat[2], limit)
			}
			// A principal whose answers are all unread has no place left:
			// its next request waits for one.
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			if st, err := s.try(ctx, "get", manyToken(0), `{"key":"small","options":{"namespace":"shared"}}`); err == nil {
				t.Errorf("a get of the principal with 4 unread answers = %d at once; want it to wait for its place", st)
			}
		})
	}
}

// admission is storage_http_requests_running and
// storage_http_requests_waiting{for="store"} as m serves them.
func admission(t *testing.T, m *httpapi.Metrics) (running, waiting float64) {
	t.Helper()
	rr := httptest.NewRecorder()
	m.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, httpapi.MetricsPath, nil))
	found := 0
	for line := range strings.SplitSeq(rr.Body.String(), "\n") {
		for name, v := range map[string]*float64{"storage_http_requests_running ": &running,
			`storage_http_requests_waiting{for="store"} `: &waiting} {
			if s, ok := strings.CutPrefix(line, name); ok {
				n, err := strconv.ParseFloat(s, 64)
				if err != nil {
					t.Fatal(err)
				}
				*v = n
				found++
			}
		}
	}
	if found != 2 {
		t.Fatalf("/metrics: %d of the admission samples", found)
	}
	return running, waiting
}
