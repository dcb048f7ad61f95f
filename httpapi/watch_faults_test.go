package httpapi_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/watchtest"
	"github.com/mycelia-kernel/storage/routes"
)

// TestWatchResumesAfterDarkConnection: a watch whose connection goes dark
// (nothing arrives any more, not even the server's keep-alives, and no
// error either) is taken for broken after the transport's silence bound
// and resumes on a new connection, missing nothing. It used to wait on
// the dark connection for ever.
func TestWatchResumesAfterDarkConnection(t *testing.T) {
	defer httpapi.SetKeepAliveEvery(50 * time.Millisecond)()
	s := newServer(t, configs[0], httpapi.Config{})
	p := newTCPProxy(t, strings.TrimPrefix(s.URL, "http://"))
	tr, err := httpapi.NewTransport("http://"+p.addr, adminToken, httpapi.WithStreamSilence(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cl := newClientOn(t, tr)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	started := make(chan struct{})
	puts := make(chan string, 100) // the keys put, then the error if any
	go func() {
		for ev, err := range cl.Watch(ctx, storage.InNamespace("w"), storage.OnStart(func(int64) { close(started) })) {
			switch {
			case err != nil:
				puts <- "error: " + err.Error()
				return
			case ev.Type == storage.EventPut:
				puts <- ev.Key
			}
		}
	}()
	<-started
	next := func(key string) {
		t.Helper()
		select {
		case got := <-puts:
			if got != key {
				t.Fatalf("watch: %s, want a put of %s", got, key)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("no event for %s within 15s: the watch waits on its dark connection", key)
		}
	}
	if err := s.inner.Set(ctx, "a", 1, storage.InNamespace("w")); err != nil {
		t.Fatal(err)
	}
	next("a")
	p.goDark()
	for _, k := range []string{"b", "c"} {
		if err := s.inner.Set(ctx, k, 1, storage.InNamespace("w")); err != nil {
			t.Fatal(err)
		}
	}
	next("b")
	next("c")
}

// TestWatchEventLargerThanResponseLimit: an event larger than the client's
// response limit breaks every stream that reaches it, so the watch ends
// with ErrUnavailable (wrapping routes.ErrLineTooLarge) instead of opening
// the stream again, and again, until its context ends: it used to spin
// (a new request every 20 ms, never an error) until then.
func TestWatchEventLargerThanResponseLimit(t *testing.T) {
	s := newServer(t, configs[0], httpapi.Config{})
	tr, err := httpapi.NewTransport(s.URL, adminToken, httpapi.WithMaxResponseBytes(1000))
	if err != nil {
		t.Fatal(err)
	}
	cl := newClientOn(t, tr)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.inner.Set(ctx, "small", 1, storage.InNamespace("w")); err != nil {
		t.Fatal(err)
	}
	if err := s.inner.Set(ctx, "big", strings.Repeat("x", 2000), storage.InNamespace("w")); err != nil {
		t.Fatal(err)
	}
	var got []string
	var werr error
	for ev, err := range cl.Watch(ctx, storage.FromRevision(0), storage.InNamespace("w")) {
		if err != nil {
			werr = err
			break
		}
		got = append(got, string(ev.Type)+":"+ev.Key)
	}
	if ctx.Err() != nil {
		t.Fatalf("the watch ran until its context ended (%v), after %v, with no error", ctx.Err(), got)
	}
	if !errors.Is(werr, storage.ErrUnavailable) || !errors.Is(werr, routes.ErrLineTooLarge) {
		t.Fatalf("watch error %v; want ErrUnavailable and routes.ErrLineTooLarge", werr)
	}
	if want := "namespace_create:,put:small"; strings.Join(got, ",") != want {
		t.Fatalf("events before the error %v; want %s", got, want)
	}
}

// TestWatchSlowConsumerKeepsItsStream: the transport's silence bound
// counts the time the stream sends nothing, not the time the consumer
// takes over an event: a consumer slower than the bound keeps its stream
// (no new connection is dialed), and misses nothing.
func TestWatchSlowConsumerKeepsItsStream(t *testing.T) {
	defer httpapi.SetKeepAliveEvery(50 * time.Millisecond)()
	s := newServer(t, configs[0], httpapi.Config{})
	var dials atomic.Int32
	var d net.Dialer
	ht := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(ht.CloseIdleConnections)
	tr, err := httpapi.NewTransport(s.URL, adminToken, httpapi.WithHTTPClient(&http.Client{Transport: ht}),
		httpapi.WithStreamSilence(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	cl := newClientOn(t, tr)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var before int32
	var keys []string
	for ev, err := range cl.Watch(ctx, storage.InNamespace("w"), storage.OnStart(func(int64) {
		before = dials.Load()
		for _, k := range []string{"a", "b", "c"} {
			if err := s.inner.Set(ctx, k, 1, storage.InNamespace("w")); err != nil {
				t.Error(err)
			}
		}
	})) {
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if ev.Type != storage.EventPut {
			continue
		}
		keys = append(keys, ev.Key)
		if len(keys) == 3 {
			break
		}
		time.Sleep(time.Second) // over three times the silence bound
	}
	if strings.Join(keys, ",") != "a,b,c" {
		t.Fatalf("puts %v; want a,b,c", keys)
	}
	if n := dials.Load() - before; n != 0 {
		t.Fatalf("the watch dialed %d new connections while its consumer was slow; want its stream kept", n)
	}
}

// TestWatchBeyondStreamLimitFailsAtOnce: a watch beyond the principal's
// bound on open streams (Config.MaxStreamsPerPrincipal) is refused 429
// too_many_streams, and client.Store.Watch fails at once with
// routes.ErrTooManyStreams (still storage.ErrUnavailable). The refusal
// was 503 unavailable: the client took it for an outage and tried again
// for client.WatchRetryFor (30 s) before failing, and any other client
// was told to retry, which could not help while the principal's other
// streams stayed open.
func TestWatchBeyondStreamLimitFailsAtOnce(t *testing.T) {
	s := newServer(t, configs[0], httpapi.Config{MaxStreamsPerPrincipal: 1})
	tr, err := httpapi.NewTransport(s.URL, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	cl := newClientOn(t, tr)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	watchtest.Started(t, ctx, cl, storage.InNamespace("w")) // the one stream the principal may hold
	if st, env, _ := s.openWatch(t, adminToken, `{"options":{"namespace":"w"}}`); st != http.StatusTooManyRequests || env.code() != routes.CodeTooManyStreams {
		t.Errorf("a second stream of one principal allowed one = %d %+v; want 429 %s", st, env.Error, routes.CodeTooManyStreams)
	}
	watchtest.FailsTooManyStreams(t, ctx, cl, storage.InNamespace("w"))
}
