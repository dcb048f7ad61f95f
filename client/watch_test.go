package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/routes"
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
