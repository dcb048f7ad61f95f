// Package watchtest holds checks of watches shared by the tests of
// several packages.
package watchtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
)

// Started starts a watch of w that runs until ctx ends, and returns once
// its first stream started (OnStart), holding one of the principal's
// streams.
func Started(t testing.TB, ctx context.Context, w storage.Watcher, opts ...storage.Option) {
	t.Helper()
	started := make(chan struct{})
	go func() {
		for _, err := range w.Watch(ctx, append(slices.Clip(opts), storage.OnStart(func(int64) { close(started) }))...) {
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the first watch did not start")
	}
}

// FailsTooManyStreams checks that a watch of w, its principal holding as
// many streams open as the server allows, fails at once (within five
// seconds, far less than client.WatchRetryFor) with
// routes.ErrTooManyStreams, which is also storage.ErrUnavailable.
func FailsTooManyStreams(t testing.TB, ctx context.Context, w storage.Watcher, opts ...storage.Option) {
	t.Helper()
	start := time.Now()
	var werr error
	for _, err := range w.Watch(ctx, opts...) {
		werr = err
		break
	}
	took := time.Since(start)
	if werr == nil {
		t.Fatalf("the watch beyond the bound yielded no error in %v (its context ended: %v); want ErrTooManyStreams at once", took, ctx.Err())
	}
	if !errors.Is(werr, routes.ErrTooManyStreams) || !errors.Is(werr, storage.ErrUnavailable) {
		t.Fatalf("the watch beyond the bound: %v; want routes.ErrTooManyStreams and storage.ErrUnavailable", werr)
	}
	if took > 5*time.Second {
		t.Fatalf("the watch beyond the bound failed after %v; want at once", took)
	}
	t.Logf("refused in %v: %v", took.Round(time.Millisecond), werr)
}
