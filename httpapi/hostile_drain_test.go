package httpapi_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
)

// TestHostileWatchDrain: a server that drains (a graceful shutdown, a
// load balancer's grace period before it) ends its watch streams, and
// the Go client's Watch opens its stream again and again, as the
// package documentation says, until the server is gone or back: it does
// not end. Every stream asked for after Drain is refused 503
// unavailable. Before, the stream the client opened again was cancelled
// at once by the drained handler and answered 499 canceled (or a head
// and an empty stream): the client took canceled as its caller's and the
// watch ended with "storage: watch: context canceled", the caller's
// context alive.
func TestHostileWatchDrain(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			// Counts the watch requests answered, and those answered 503.
			var watches, refused atomic.Int64
			count := func(srv *http.Server) {
				h := srv.Handler
				srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					sw := &statusWriter{ResponseWriter: w}
					h.ServeHTTP(sw, r)
					if r.URL.Path == httpapi.StoragePrefix+"watch" {
						if sw.status == http.StatusServiceUnavailable {
							refused.Add(1)
						}
						watches.Add(1)
					}
				})
			}
			s := newServerWith(t, c.DSN(t), hostileAuth, httpapi.Config{}, nil, count)
			s.must(t, "set", hAlice, `{"key":"a","value":1,"options":{"namespace":"shared"}}`)
			cl := newClient(t, s, hAlice)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			started := make(chan int64, 1)
			ended := make(chan error, 1)
			go func() {
				var last error
				for _, err := range cl.Watch(ctx, storage.InNamespace("shared"), storage.OnStart(func(r int64) { started <- r })) {
					if err != nil {
						last = err
						break
					}
				}
				ended <- last
			}()
			select {
			case <-started:
			case err := <-ended:
				t.Fatalf("the watch ended before it started: %v", err)
			case <-time.After(20 * time.Second):
				t.Fatal("the watch did not start")
			}
			s.h.Drain()
			// The client opens the watch again (pauses of 20 ms, 40 ms,
			// …): three refusals show it kept at it.
			deadline := time.After(20 * time.Second)
			for refused.Load() < 3 {
				select {
				case err := <-ended:
					t.Fatalf("the watch ended at Drain, after %d watch requests (%d refused): %v", watches.Load(), refused.Load(), err)
				case <-deadline:
					t.Fatalf("%d watch requests after 20 s, %d refused", watches.Load(), refused.Load())
				case <-time.After(10 * time.Millisecond):
				}
			}
			cancel()
			select {
			case err := <-ended:
				if err != nil {
					t.Errorf("the watch ended with %v; want no error (its context ended)", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the watch did not end with its context")
			}
			s.wantRaw(t, "watch", hAlice, `{"options":{"namespace":"shared"}}`, 503, routes.CodeUnavailable)
		})
	}
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
