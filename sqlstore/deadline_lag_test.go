package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// laggingCtx is a context whose deadline has passed but which ends only
// when end is closed: what a caller's context looks like while the
// goroutine of its timer has not run yet on a loaded machine.
type laggingCtx struct {
	context.Context
	deadline time.Time
	end      chan struct{}
}

func (c *laggingCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *laggingCtx) Done() <-chan struct{}       { return c.end }
func (c *laggingCtx) Err() error {
	select {
	case <-c.end:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// TestDeadlineErrorWaitsForTheCallersContext: an operation that fails
// with a deadline error of the engine's own context (wireContext's, which
// runs out a grace after the caller's deadline) once the caller's deadline
// has passed returns only when the caller's context reads as ended, so that
// the caller never sees a deadline error with a live context (a bare
// context error, no sentinel: TestChaosServerTimeouts, 1 run in 60 at load
// 45). A deadline error before the caller's deadline is left as it is.
func TestDeadlineErrorWaitsForTheCallersContext(t *testing.T) {
	s := openTest(t, "sqlite::memory:")
	defer s.Close()
	wire := fmt.Errorf("timeout: %w", context.DeadlineExceeded) // as pgx wraps it
	ctx := &laggingCtx{Context: context.Background(), deadline: time.Now().Add(-time.Second), end: make(chan struct{})}
	go func() {
		time.Sleep(50 * time.Millisecond)
		close(ctx.end)
	}()
	err := s.failCtx(ctx, "set", "ns", "k", wire)
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() == nil {
		t.Errorf("failCtx after the caller's deadline: %v with the caller's context %v; want the deadline error once it ended", err, ctx.Err())
	}
	var oe *storage.OpError
	if !errors.As(err, &oe) {
		t.Errorf("failCtx: %T %v, want a *storage.OpError", err, err)
	}

	live := &laggingCtx{Context: context.Background(), deadline: time.Now().Add(time.Hour), end: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- s.failCtx(live, "set", "ns", "k", wire) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("failCtx before the caller's deadline: %v, want the error as it is", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("failCtx before the caller's deadline waited for the caller's context")
	}
}

// TestEndedCallDropsTheDriversWords: a call whose context ended and whose
// error is that context's error as the driver wrapped it (pgconn's
// "timeout: context deadline exceeded" for a statement its deadline cut,
// seen on SetMany and DeleteNamespace by TestPGWritePathsCancelledInFlight)
// answers the context's own error, with no driver text; an outcome left
// unknown stays ErrCommitUnknown.
func TestEndedCallDropsTheDriversWords(t *testing.T) {
	s := openTest(t, "sqlite::memory:")
	defer s.Close()
	deadline, cancelD := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelD()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		ctx  context.Context
		wire error
	}{
		{deadline, fmt.Errorf("timeout: %w", context.DeadlineExceeded)},
		{cancelled, fmt.Errorf("context already done: %w", context.Canceled)},
	} {
		err := s.failCtx(c.ctx, "setMany", "ns", "", c.wire)
		want := `storage: setMany namespace "ns": ` + c.ctx.Err().Error()
		if !errors.Is(err, c.ctx.Err()) || err.Error() != want {
			t.Errorf("failCtx(%v): %q, want %q", c.wire, err, want)
		}
	}
	unknown := &dbError{storage.ErrCommitUnknown, "the call's context ended", fmt.Errorf("timeout: %w", context.DeadlineExceeded)}
	if err := s.failCtx(deadline, "set", "ns", "k", unknown); !errors.Is(err, storage.ErrCommitUnknown) {
		t.Errorf("failCtx(ErrCommitUnknown): %v, want it to stay ErrCommitUnknown", err)
	}
}
