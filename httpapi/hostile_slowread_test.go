package httpapi_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
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
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.DialContext(t.Context(), "tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := fmt.Fprintf(conn, "POST /v1/storage/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", op, u.Host, token, len(body), body); err != nil {
		t.Fatal(err)
	}
}

// TestHostileSlowReaders (a principal reading its answers slowly cannot
// starve another): two principals each send their bound of gets
// (DefaultMaxRequestsPerPrincipal, 4) of an 8 MiB value and never read
// the answers. Bob's get of a small entry must still be served at once,
// as must their own gets of other principals; their own next request waits,
// as its principal's places are held by the answers the server is still
// writing (bounding the answers it holds for one principal). Before, a
// request kept its place in the store (Config.MaxRequestsInStore, 5)
// until its answer was written: the eight unread answers held all five,
// and every other principal's request waited Timeout and was refused 503
// (for storeserver up to its write timeout, 100 s by default).
func TestHostileSlowReaders(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			const timeout = 2 * time.Second
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
			// is in the store any more (before, five stayed).
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if running(t, m) == 0 {
					break
				}
			}
			if n := running(t, m); n != 0 {
				t.Errorf("%v requests are still in the store, their answers unread", n)
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
			if limit := 20*alone + 100*time.Millisecond; lat[2] > limit {
				t.Errorf("bob's get took %v (median) beside 8 unread answers, more than %v", lat[2], limit)
			}
			// A principal whose answers are all unread has no place left:
			// its next request waits for one, then is refused.
			st, env, d := s.timed(t, "get", manyToken(0), `{"key":"small","options":{"namespace":"shared"}}`)
			if st != 503 || env.code() != httpapi.CodeUnavailable || d < timeout/2 {
				t.Errorf("a get of the principal with 4 unread answers = %d %+v after %v; want 503 %s after about %v",
					st, env.Error, d, httpapi.CodeUnavailable, timeout)
			}
		})
	}
}

// running is storage_http_requests_running as m serves it.
func running(t *testing.T, m *httpapi.Metrics) float64 {
	t.Helper()
	rr := httptest.NewRecorder()
	m.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, httpapi.MetricsPath, nil))
	for line := range strings.SplitSeq(rr.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "storage_http_requests_running "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no storage_http_requests_running in /metrics")
	return 0
}
