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
)

// failFirst is a Mux whose first stream fails before anything arrives, as
// a connection refused does; meanwhile runs before it fails.
type failFirst struct {
	*routes.Mux
	failed    atomic.Bool
	meanwhile func()
}

func (f *failFirst) Stream(ctx context.Context, route string, body []byte, emit func([]byte) error) ([]byte, error) {
	if f.failed.Swap(true) {
		return f.Mux.Stream(ctx, route, body, emit)
	}
	f.meanwhile()
	return nil, errors.New("connection refused")
}

// TestWatchFromNowFirstStreamFails: a watch without FromRevision whose
// first stream fails before its head does not miss the changes committed
// after the call. It retried, and its next stream started from the
// server's revision then, past the change committed in between, which
// it never delivered; now the failure ends the watch before it started
// (OnStart not called), and the caller calls again.
func TestWatchFromNowFirstStreamFails(t *testing.T) {
	ctx := t.Context()
	st := teststore.Open(t, configs[0].DSN(t))
	mux := routes.NewMux()
	routes.Register(mux, st)
	ns := storage.InNamespace("now")
	tr := &failFirst{Mux: mux, meanwhile: func() {
		if err := st.Set(ctx, "between", 1, ns); err != nil {
			t.Error(err)
		}
	}}
	cl, err := client.New(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	started := false
	go func() {
		// Once the watch is past its first stream, a change it gets.
		for !tr.failed.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		_ = st.Set(ctx, "after", 1, ns)
	}()
	for ev, err := range cl.Watch(wctx, ns, storage.OnStart(func(int64) { started = true })) {
		switch {
		case err != nil:
			if started {
				t.Fatalf("watch: %v after OnStart", err)
			}
			t.Logf("the first stream failed: the watch did not start: %v", err)
		case ev.Key != "between":
			t.Fatalf("watch from the call delivered %s %q first: the change committed after the call, while its first stream failed, was missed", ev.Type, ev.Key)
		}
		break
	}
}
