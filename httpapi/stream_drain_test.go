package httpapi

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/routes"
)

// drainStreamer is a Caller with one streaming route whose stream, like
// storage://watch's, waits for its context before it starts and then
// answers as routes' watch does when its context ended first: canceled.
type drainStreamer struct {
	fakeCaller
	waiting chan struct{} // closed when the first stream waits
	once    sync.Once
	streams chan struct{} // one value per stream that reached the Caller
}

func (d *drainStreamer) IsStream(route string) bool { return route == routes.RouteWatch }

func (d *drainStreamer) Stream(ctx context.Context, _ string, _ []byte, _ func([]byte) error) ([]byte, error) {
	d.streams <- struct{}{}
	d.once.Do(func() { close(d.waiting) })
	<-ctx.Done()
	return routes.ErrorEnvelope(routes.CodeCanceled, "storage: watch: "+ctx.Err().Error()), nil
}

// TestStreamDrainUnavailable: a stream that Drain ends before it
// started, or that is asked for after Drain, is 503 unavailable, never
// 499 canceled (a client that gave up), which client.Store.Watch yields
// as the end of the watch instead of opening it again. Before, the
// stream Drain cut was answered 499 canceled, and one asked for after
// Drain either that or a head and an empty stream.
func TestStreamDrainUnavailable(t *testing.T) {
	d := &drainStreamer{waiting: make(chan struct{}), streams: make(chan struct{}, 4)}
	h := NewHandler(d, Config{Auth: testTokens(t), Logger: discardLogger()})
	type answer struct {
		status int
		env    envelope
	}
	got := make(chan answer, 1)
	go func() {
		st, env, _ := do(t, h, "POST", "/v1/storage/watch", authJSON, strings.NewReader(`{}`))
		got <- answer{st, env}
	}()
	select {
	case <-d.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not reach the Caller")
	}
	h.Drain()
	var a answer
	select {
	case a = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not end the stream")
	}
	if a.status != 503 || a.env.code() != CodeUnavailable {
		t.Errorf("a stream Drain ended before it started = %d %+v; want 503 %s", a.status, a.env.Error, CodeUnavailable)
	}
	st, env, _ := do(t, h, "POST", "/v1/storage/watch", authJSON, strings.NewReader(`{}`))
	if st != 503 || env.code() != CodeUnavailable {
		t.Errorf("a stream after Drain = %d %+v; want 503 %s", st, env.Error, CodeUnavailable)
	}
	if n := len(d.streams); n != 1 {
		t.Errorf("%d streams reached the Caller, want 1 (none after Drain)", n)
	}
	// Other requests are still served.
	if st, env, _ := do(t, h, "POST", "/v1/storage/get", authJSON, strings.NewReader(`{"key":"a"}`)); st != 200 || !env.Success {
		t.Errorf("get after Drain = %d %+v", st, env.Error)
	}
}
