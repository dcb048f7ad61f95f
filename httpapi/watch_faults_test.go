package httpapi_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
)

// darkProxy forwards connections to target; dark stops forwarding on the
// connections open so far, in both directions, without closing them: a
// connection gone dark (a stalled middlebox, a partition). Connections
// opened later are forwarded.
type darkProxy struct {
	addr     string
	mu       sync.Mutex
	accepted int
	dark     map[int]bool
	conns    []net.Conn
}

func newDarkProxy(t *testing.T, target string) *darkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &darkProxy{addr: ln.Addr().String(), dark: map[int]bool{}}
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			id := p.accepted
			p.accepted++
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(id, s, c)
			go p.pipe(id, c, s)
		}
	}()
	return p
}

// pipe copies src to dst, holding what it read while connection id is dark.
func (p *darkProxy) pipe(id int, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.isDark(id) {
			time.Sleep(20 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

func (p *darkProxy) isDark(id int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dark[id]
}

// goDark stops the connections open so far.
func (p *darkProxy) goDark() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id := range p.accepted {
		p.dark[id] = true
	}
}

// TestWatchResumesAfterDarkConnection: a watch whose connection goes dark
// (nothing arrives any more, not even the server's keep-alives, and no
// error either) is taken for broken after the transport's silence bound
// and resumes on a new connection, missing nothing. It used to wait on
// the dark connection for ever.
func TestWatchResumesAfterDarkConnection(t *testing.T) {
	defer httpapi.SetKeepAliveEvery(50 * time.Millisecond)()
	s := newServer(t, configs[0], httpapi.Config{})
	p := newDarkProxy(t, strings.TrimPrefix(s.URL, "http://"))
	tr, err := httpapi.NewTransport("http://"+p.addr, adminToken, httpapi.WithStreamSilence(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	cl := newClientOn(t, tr)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	started := make(chan struct{})
	type item struct {
		ev  storage.Event
		err error
	}
	ch := make(chan item, 100)
	go func() {
		for ev, err := range cl.Watch(ctx, storage.InNamespace("w"), storage.OnStart(func(int64) { close(started) })) {
			ch <- item{ev, err}
			if err != nil {
				return
			}
		}
	}()
	<-started
	next := func(key string) {
		t.Helper()
		for {
			select {
			case it := <-ch:
				if it.err != nil {
					t.Fatalf("watch: %v", it.err)
				}
				if it.ev.Type != storage.EventPut {
					continue
				}
				if it.ev.Key != key {
					t.Fatalf("event %+v, want a put of %s", it.ev, key)
				}
				return
			case <-time.After(15 * time.Second):
				t.Fatalf("no event for %s within 15s: the watch waits on its dark connection", key)
			}
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
