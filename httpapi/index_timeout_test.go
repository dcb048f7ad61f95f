package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/routes"
)

// timedTransport serves h with the timeouts cmd/storeserver sets for a
// request timeout d: ReadTimeout d and a WriteTimeout, here five times d
// (storeserver's is three times d plus 10 s), so that an ordinary
// request's answer at d is written, even late on a loaded machine, and
// one written well past it is cut;
// with h2, over HTTP/2 (TLS), whose streams are reset when WriteTimeout
// passes, written to or not. It returns a Transport to it as alice.
func timedTransport(t *testing.T, h http.Handler, d time.Duration, h2 bool) *Transport {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = d, 5*d
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	tr, err := NewTransport(srv.URL, aliceToken, WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// slowIndexCaller answers createIndex and dropIndex after build, every
// other route never: each answers its context's end, as the routes do.
func slowIndexCaller(build time.Duration) *fakeCaller {
	return &fakeCaller{resp: func(ctx context.Context, route string, _ []byte) ([]byte, error) {
		d := time.Hour
		if route == routes.RouteCreateIndex || route == routes.RouteDropIndex {
			d = build
		}
		select {
		case <-time.After(d):
			return []byte(`{"success":true}`), nil
		case <-ctx.Done():
			return routes.ErrorEnvelope(routes.CodeOf(ctx.Err()), ctx.Err().Error()), nil
		}
	}}
}

// TestIndexTimeoutRoutes (an index build of a large namespace outlasts
// Config.Timeout): createIndex and dropIndex run for up to
// Config.IndexTimeout, and their answer outlives the server's
// WriteTimeout; every other route still ends at Timeout. A build of
// eight times Timeout (past WriteTimeout) answers 200 through the
// Transport; before, its context ended at Timeout and it answered 504
// deadline_exceeded after 200 ms (and, had the route gone on, the
// server's WriteTimeout would have cut its answer: the client got EOF).
// A get that never answers is still 504 at Timeout, on the connection the
// index operations used. Over HTTP/1.1 and HTTP/2: HTTP/2 resets a
// stream at WriteTimeout even while nothing is written, so the deadline
// moves before the route runs (http.ResponseController does not extend
// a deadline once passed).
func TestIndexTimeoutRoutes(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) { testIndexTimeoutRoutes(t, proto == "HTTP/2") })
	}
}

func testIndexTimeoutRoutes(t *testing.T, h2 bool) {
	const timeout = 200 * time.Millisecond
	const build = 8 * timeout
	f := slowIndexCaller(build)
	h := NewHandler(f, Config{Auth: testTokens(t), Timeout: timeout, IndexTimeout: time.Minute, Logger: discardLogger()})
	tr := timedTransport(t, h, timeout, h2)
	ctx := t.Context()
	for _, op := range []string{"createIndex", "dropIndex"} {
		start := time.Now()
		resp, err := tr.Call(ctx, RoutePrefix+op, []byte(`{"name":"big","field":"n"}`))
		d := time.Since(start)
		if err != nil {
			t.Fatalf("%s (a build of %v, Timeout %v): %v after %v", op, build, timeout, err, d)
		}
		if code := routes.EnvelopeCode(resp); code != "" || d < build {
			t.Fatalf("%s (a build of %v, Timeout %v) = %s %q after %v, want success after the build", op, build, timeout, code, resp, d)
		}
		t.Logf("%s: a build of %v answered after %v (Timeout %v, WriteTimeout %v)", op, build, d.Round(time.Millisecond), timeout, 5*timeout)
	}
	start := time.Now()
	resp, err := tr.Call(ctx, RoutePrefix+"get", []byte(`{"key":"k"}`))
	d := time.Since(start)
	if err != nil || routes.EnvelopeCode(resp) != routes.CodeDeadlineExceeded || d < timeout || d > timeout+5*time.Second {
		t.Fatalf("a get that never ends = %q, %v after %v; want deadline_exceeded after %v", resp, err, d, timeout)
	}
	for _, c := range f.taken() {
		switch c.route {
		case routes.RouteCreateIndex, routes.RouteDropIndex:
			if c.deadline < 50*time.Second || c.deadline > time.Minute {
				t.Errorf("%s ran with a deadline %v away, want IndexTimeout (1m)", c.route, c.deadline)
			}
		default:
			if c.deadline > timeout {
				t.Errorf("%s ran with a deadline %v away, want Timeout (%v)", c.route, c.deadline, timeout)
			}
		}
	}
}

// TestIndexWriteDeadlineCleared: on a server without a WriteTimeout,
// the write deadline an index operation moved goes with its answer: a
// later request on the same connection, past that deadline, is answered.
func TestIndexWriteDeadlineCleared(t *testing.T) {
	const timeout = 100 * time.Millisecond
	h := NewHandler(slowIndexCaller(0), Config{Auth: testTokens(t), Timeout: timeout, IndexTimeout: timeout, Logger: discardLogger()})
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr, err := NewTransport(srv.URL, aliceToken)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	if resp, err := tr.Call(t.Context(), RoutePrefix+"createIndex", []byte(`{"name":"big","field":"n"}`)); err != nil || routes.EnvelopeCode(resp) != "" {
		t.Fatalf("createIndex = %q, %v", resp, err)
	}
	time.Sleep(4 * timeout) // past IndexTimeout and Timeout
	resp, err := tr.Call(t.Context(), RoutePrefix+"get", []byte(`{"key":"k"}`))
	if err != nil || routes.EnvelopeCode(resp) != routes.CodeDeadlineExceeded {
		t.Fatalf("a get on the connection after createIndex = %q, %v; want its deadline_exceeded answer", resp, err)
	}
}

// TestIndexDrain (a build in flight at shutdown): Drain cancels the
// index operations in flight, which answer 503 unavailable at once,
// so that a graceful shutdown (shorter than IndexTimeout) need not wait
// for them; the engine cleans a cancelled build up before it returns.
func TestIndexDrain(t *testing.T) {
	const timeout = 200 * time.Millisecond
	f := slowIndexCaller(time.Hour)
	h := NewHandler(f, Config{Auth: testTokens(t), Timeout: timeout, IndexTimeout: time.Hour, Logger: discardLogger()})
	tr := timedTransport(t, h, timeout, false)
	type answer struct {
		resp []byte
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := tr.Call(t.Context(), RoutePrefix+"createIndex", []byte(`{"name":"big","field":"n"}`))
		got <- answer{resp, err}
	}()
	for len(f.taken()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(2 * timeout) // past Timeout: the build goes on
	start := time.Now()
	h.Drain()
	select {
	case a := <-got:
		if a.err != nil || routes.EnvelopeCode(a.resp) != CodeUnavailable {
			t.Fatalf("createIndex at Drain = %q, %v; want unavailable", a.resp, a.err)
		}
		t.Logf("createIndex answered %v after Drain: %s", time.Since(start).Round(time.Millisecond), a.resp)
	case <-time.After(10 * time.Second):
		t.Fatal("createIndex still runs 10 s after Drain")
	}
}
