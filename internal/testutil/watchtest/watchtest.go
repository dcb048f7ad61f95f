// Package watchtest holds checks of watches shared by the tests of
// several packages.
package watchtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
)

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
