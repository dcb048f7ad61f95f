package client_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/internal/testutil/watchtest"
	"github.com/mycelia-kernel/storage/routes"
)

// TestWatchStreamLimitRefusal: a watch whose first stream the server
// refuses because the principal holds as many streams open as it may
// (httpapi.Config.MaxStreamsPerPrincipal) fails at once with
// routes.ErrTooManyStreams (and storage.ErrUnavailable): the server
// answered 503 unavailable, and Watch took it for an outage and tried
// again for WatchRetryFor (30 s) before failing. A resumed stream refused
// so is still tried again: the server may count the stream that just
// broke until it sees it end.
func TestWatchStreamLimitRefusal(t *testing.T) {
	t.Run("first", func(t *testing.T) {
		mux := routes.NewMux()
		routes.Register(mux, teststore.Open(t, configs[0].DSN(t)))
		srv := httptest.NewServer(httpapi.NewHandler(mux, httpapi.Config{AllowAnonymous: true, MaxStreamsPerPrincipal: 1,
			Logger: slog.New(slog.DiscardHandler)}))
		t.Cleanup(srv.Close)
		tr, err := httpapi.NewTransport(srv.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.CloseIdleConnections)
		cl, err := client.New(t.Context(), tr)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		watchtest.Started(t, ctx, cl) // the one stream the principal may hold
		watchtest.FailsTooManyStreams(t, ctx, cl)
	})
	t.Run("resume", func(t *testing.T) {
		st := teststore.Open(t, configs[0].DSN(t))
		mux := routes.NewMux()
		routes.Register(mux, st)
		// The first stream breaks after its head; the next two are
		// refused too_many_streams (the server still counts the broken
		// one); the fourth runs.
		tr := &refuseResumes{headThenBreak: headThenBreak{Mux: mux, meanwhile: func() {}}, refusals: 2}
		cl, err := client.New(t.Context(), tr)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		go func() {
			for tr.refused.Load() < 2 {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			_ = st.Set(ctx, "after", 1, storage.InNamespace("w"))
		}()
		for ev, err := range cl.Watch(ctx, storage.InNamespace("w")) {
			if err != nil {
				t.Fatalf("watch after %d refused resumes: %v; want it resumed", tr.refused.Load(), err)
			}
			if ev.Type == storage.EventPut {
				if ev.Key != "after" {
					t.Fatalf("event %s %s; want the put of after", ev.Type, ev.Key)
				}
				break
			}
		}
	})
}

// refuseResumes is headThenBreak whose next refusals streams are refused
// as the server refuses a stream beyond its principal's bound.
type refuseResumes struct {
	headThenBreak
	refusals int32
	refused  atomic.Int32
}

func (r *refuseResumes) Stream(ctx context.Context, route string, body []byte, emit func([]byte) error) ([]byte, error) {
	if r.broke.Load() && r.refused.Add(1) <= r.refusals {
		return routes.ErrorEnvelope(routes.CodeTooManyStreams, "this principal holds 1 streams open, as many as it may; end one first"), nil
	}
	return r.headThenBreak.Stream(ctx, route, body, emit)
}
