package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestWatchCloseEndsWatches: Close ends the store's open watches with
// ErrClosed, whatever each is doing: an idle watch of the whole store, an
// idle one of a namespace, and one whose consumer had stopped taking
// events (its buffer full) and takes them again after Close: it gets what
// was buffered, then ErrClosed, not another error of the closed database
// nor a wait for its patience.
func TestWatchCloseEndsWatches(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithWatchBuffer(2), withWatchPatience(time.Minute))
			closed := false
			t.Cleanup(func() {
				if !closed {
					_ = s.Close()
				}
			})
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			ns := storage.InNamespace("wclose")
			type result struct {
				name string
				n    int
				err  error
			}
			out := make(chan result, 3)
			stalled := make(chan struct{})
			resume := make(chan struct{})
			startedAll := make(chan struct{}, 3)
			run := func(name string, stall bool, opts ...storage.Option) {
				n := 0
				opts = append(opts, storage.OnStart(func(int64) { startedAll <- struct{}{} }))
				for _, err := range s.Watch(ctx, opts...) {
					if err != nil {
						out <- result{name, n, err}
						return
					}
					n++
					if stall && n == 1 {
						close(stalled)
						<-resume
					}
				}
				out <- result{name, n, nil}
			}
			go run("whole store", false)
			go run("namespace", false, storage.InNamespace("elsewhere"))
			go run("stalled", true, ns)
			for range 3 {
				<-startedAll
			}
			for i := range 8 {
				if err := s.Set(ctx, fmt.Sprint("k", i), i, ns); err != nil {
					t.Fatal(err)
				}
			}
			<-stalled
			time.Sleep(200 * time.Millisecond) // the stalled watch fills its buffer
			began := time.Now()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			closed = true
			close(resume)
			for range 3 {
				select {
				case r := <-out:
					if !errors.Is(r.err, storage.ErrClosed) {
						t.Errorf("%s watch after Close (%d events): %v, want ErrClosed", r.name, r.n, r.err)
					} else {
						t.Logf("%s watch: %d events, then %v after %v", r.name, r.n, r.err, time.Since(began).Round(time.Millisecond))
					}
				case <-ctx.Done():
					t.Fatalf("a watch goes on after Close")
				}
			}
		})
	}
}
