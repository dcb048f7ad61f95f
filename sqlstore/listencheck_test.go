package sqlstore

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestPGListenServerStopsAnswering: a store whose LISTEN connection's
// server stops answering without closing it (a frozen primary, a path
// that drops everything) listens again on a new connection and its
// watchers see another process's writes, instead of waiting for the poll
// interval until the kernel's keepalive ends the connection minutes later.
// The LISTEN goes through a proxy (the direct DSN) that holds back the
// server's answers; the writes come from a second store, as from another
// process, so only a notification wakes the watcher (its poll interval is
// an hour).
func TestPGListenServerStopsAnswering(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	dsn := newPGSchema(t)
	u, err := url.Parse(dsn)
	must(t, err)
	p := newCutProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	s := openTest(t, dsn, WithDirectDSN(u.String()), WithWatchPollInterval(time.Hour),
		withListenCheck(500*time.Millisecond, time.Second))
	defer s.Close()
	w := openTest(t, dsn, WithWatchPollingOnly())
	defer w.Close()
	defer p.unstallAll()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := storage.InNamespace("listen")
	must(t, w.Set(ctx, "k0", 0, in))

	events := make(chan string, 16)
	go func() {
		for ev, err := range s.Watch(ctx, in) {
			if err != nil {
				close(events)
				return
			}
			events <- ev.Key
		}
	}()
	// next writes key k from the other store until the watcher reports it
	// (the watch may start after a first write), within d.
	next := func(k string, d time.Duration) {
		t.Helper()
		deadline := time.After(d)
		for i := 0; ; i++ {
			must(t, w.Set(ctx, k, i, in))
			select {
			case got, ok := <-events:
				if !ok {
					t.Fatalf("the watch ended")
				}
				if got != k {
					t.Fatalf("watch: %s, want %s", got, k)
				}
				for len(events) > 0 {
					<-events
				}
				return
			case <-time.After(500 * time.Millisecond):
			case <-deadline:
				t.Fatalf("no event for %s in %v", k, d)
			}
		}
	}
	next("k1", 30*time.Second)
	// The first event may come from the wake-up that follows LISTEN; the
	// second needs a notification. Then the LISTEN connection is the only
	// one through the proxy (Open's migration connections are closed).
	next("k2", 30*time.Second)
	for i := 0; ; i++ {
		p.mu.Lock()
		n := len(p.conns)
		p.mu.Unlock()
		if n == 1 {
			break
		}
		if i == 100 {
			t.Fatalf("%d connections through the proxy, want the LISTEN one", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !p.stall() {
		t.Fatalf("no LISTEN connection through the proxy")
	}
	next("k3", 15*time.Second)
}

// TestPGDirectDSNPoolSettings: a direct DSN may carry pgxpool's settings
// (pool_max_conns), as the DSN may. Open sent them to the server as
// parameters when it migrated through the direct DSN, and failed with
// ErrCorrupt (the server's 42704, unrecognized configuration parameter).
func TestPGDirectDSNPoolSettings(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	dsn := newPGSchema(t) // with pool_max_conns
	s := openTest(t, dsn, WithDirectDSN(dsn))
	defer s.Close()
	must(t, s.Set(context.Background(), "k", 1))
}
