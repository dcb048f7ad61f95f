package client_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestWatchModelMux is the model check of Watch through the client over a
// Mux, in process.
func TestWatchModelMux(t *testing.T) {
	c := configs[0]
	_, cl := serve(t, teststore.Open(t, c.DSN(t)))
	storetest.WatchModel(t, cl, storetest.WatchModelConfig{Duration: time.Second})
}

// callOnly is a Transport without streams.
type callOnly struct{ mux *routes.Mux }

func (c callOnly) Call(ctx context.Context, route string, body []byte) ([]byte, error) {
	return c.mux.Call(ctx, route, body)
}

// TestWatchNeedsStreams: over a transport that cannot stream, Watch is
// ErrUnsupported; calling the watch route as a plain route is refused.
func TestWatchNeedsStreams(t *testing.T) {
	mux := routes.NewMux()
	routes.Register(mux, teststore.Open(t, configs[0].DSN(t)))
	cl, err := client.New(t.Context(), callOnly{mux})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range cl.Watch(t.Context()) {
		if !errors.Is(err, storage.ErrUnsupported) {
			t.Fatalf("watch over a transport without streams: %v", err)
		}
		break
	}
	resp, err := mux.Call(t.Context(), routes.RouteWatch, []byte(`{}`))
	if err != nil || routes.EnvelopeCode(resp) != routes.CodeInvalidRequest {
		t.Fatalf("Call of the watch route: %s, %v", resp, err)
	}
}

// TestWatchEndsAtClose: closing the client ends its running watches with
// ErrClosed.
func TestWatchEndsAtClose(t *testing.T) {
	_, cl := serve(t, teststore.Open(t, configs[0].DSN(t)))
	done := make(chan error, 1)
	go func() {
		for _, err := range cl.Watch(context.Background()) {
			done <- err
			return
		}
		done <- nil
	}()
	time.Sleep(100 * time.Millisecond)
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, storage.ErrClosed) {
			t.Fatalf("watch after Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch goes on after Close")
	}
}

// headThenBreak is a Mux whose first stream breaks right after its head
// line, as a connection that fails does; between, it calls meanwhile.
type headThenBreak struct {
	*routes.Mux
	broke     atomic.Bool
	meanwhile func()
}

func (b *headThenBreak) Stream(ctx context.Context, route string, body []byte, emit func([]byte) error) ([]byte, error) {
	if b.broke.Swap(true) {
		return b.Mux.Stream(ctx, route, body, emit)
	}
	errBroke := errors.New("connection reset by peer")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := b.Mux.Stream(ctx, route, body, func(line []byte) error {
		if ctx.Err() != nil {
			return errBroke
		}
		cancel() // the head passes; the connection breaks
		return emit(line)
	})
	if resp != nil || err != nil {
		return resp, err
	}
	b.meanwhile()
	return nil, errBroke
}

// TestWatchResumeFromZeroCompacted: a watch FromRevision(0) whose stream
// breaks after its head, before any event, resumes from the revision the
// head named, not from 0 again: the changes compacted meanwhile are
// ErrCompacted, not skipped.
func TestWatchResumeFromZeroCompacted(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			ctx := t.Context()
			st := teststore.Open(t, c.DSN(t), sqlstore.WithRetention(sqlstore.Retention{Changes: 2}), sqlstore.WithSweepInterval(-1))
			users := storage.InNamespace("users")
			if err := st.Set(ctx, "a", 0, users); err != nil {
				t.Fatal(err)
			}
			for i := range 4 {
				if err := st.Set(ctx, "x", i, storage.InNamespace("other")); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			mux := routes.NewMux()
			routes.Register(mux, st)
			tr := &headThenBreak{Mux: mux, meanwhile: func() {
				// Changes of users while the stream is down, then
				// compacted away.
				for i := range 3 {
					if err := st.Set(ctx, "u", i, users); err != nil {
						t.Error(err)
					}
				}
				for i := range 4 {
					if err := st.Set(ctx, "x", i, storage.InNamespace("other")); err != nil {
						t.Error(err)
					}
				}
				n, err := st.Compact(ctx)
				if err != nil {
					t.Error(err)
				}
				s, _ := st.Status(ctx)
				t.Logf("meanwhile: compacted %d, status %d..%d", n, s.OldestRevision, s.Revision)
			}}
			cl, err := client.New(ctx, tr)
			if err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			var start int64 = -1
			go func() {
				// Once the watch resumed, a change it must get or be
				// told it cannot.
				for !tr.broke.Load() {
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(300 * time.Millisecond)
				_ = st.Set(ctx, "end", 1, users)
			}()
			for ev, err := range cl.Watch(wctx, users, storage.FromRevision(0), storage.OnStart(func(r int64) { start = r })) {
				var ce *storage.CompactedError
				switch {
				case errors.As(err, &ce):
					if ce.Requested != start {
						t.Errorf("compacted: requested %d, want the head's %d", ce.Requested, start)
					}
					t.Logf("resumed from the head's revision %d: %v", start, err)
				case err != nil:
					t.Fatalf("watch: %v", err)
				default:
					t.Fatalf("watch from the head's revision %d resumed past the changes compacted while it was down, silently: %d %s %s", start, ev.Revision, ev.Type, ev.Key)
				}
				break
			}
		})
	}
}

// TestWatchAtRevisionInvalidOption: Watch with AtRevision (which it does
// not take) fails as the engine's does, with ErrInvalidOption and no
// other sentinel. The client took AtRevision(r) for FromRevision(r) and
// sent both, which the server refused as an invalid request ("fromRevision
// and atRevision exclude each other"), an error that wraps no sentinel.
func TestWatchAtRevisionInvalidOption(t *testing.T) {
	st := teststore.Open(t, configs[0].DSN(t))
	_, cl := serve(t, st)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for name, w := range map[string]storage.Watcher{"engine": st, "client": cl} {
		var got error
		for _, err := range w.Watch(ctx, storage.AtRevision(1)) {
			got = err
			break
		}
		var n []error
		for _, s := range storage.Sentinels() {
			if errors.Is(got, s) {
				n = append(n, s)
			}
		}
		if len(n) != 1 || !errors.Is(got, storage.ErrInvalidOption) {
			t.Errorf("%s: Watch(AtRevision(1)) = %v, wrapping %v; want ErrInvalidOption alone", name, got, n)
		}
	}
}
