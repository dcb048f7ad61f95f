package txmanager

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mycelia-kernel/storage"
)

// Beginner begins transactions; every storage.Store is one.
type Beginner interface {
	Begin(ctx context.Context, opts storage.TxOptions) (storage.Tx, error)
}

// RetryPolicy bounds RunInTx's retries. The zero value takes the defaults.
type RetryPolicy struct {
	// MaxAttempts is the most times fn runs (default 10).
	MaxAttempts int
	// BaseDelay is the first backoff (default 5ms); each retry doubles it,
	// up to MaxDelay (default 500ms). The actual wait is drawn uniformly
	// from [0, backoff] ("full jitter").
	BaseDelay, MaxDelay time.Duration
}

// DefaultRetryPolicy is used by RunInTx.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 10, BaseDelay: 5 * time.Millisecond, MaxDelay: 500 * time.Millisecond}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	if p.MaxAttempts > 0 {
		d.MaxAttempts = p.MaxAttempts
	}
	if p.BaseDelay > 0 {
		d.BaseDelay = p.BaseDelay
	}
	if p.MaxDelay > 0 {
		d.MaxDelay = p.MaxDelay
	}
	return d
}

// backoff returns the wait before retry number attempt (1-based).
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	if d > p.MaxDelay {
		d = p.MaxDelay
	}
	return rand.N(d + 1)
}

// RetryError is returned by RunInTx when every attempt failed with a
// retryable conflict. It wraps the last attempt's error.
type RetryError struct {
	Attempts int
	Err      error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("storage: transaction failed after %d attempts: %v", e.Attempts, e.Err)
}

func (e *RetryError) Unwrap() error { return e.Err }

// RunInTx runs fn in a transaction of b with DefaultRetryPolicy. See
// RunInTxPolicy.
func RunInTx(ctx context.Context, b Beginner, opts storage.TxOptions, fn func(tx storage.Tx) error) error {
	return RunInTxPolicy(ctx, b, opts, DefaultRetryPolicy, fn)
}

// RunInTxPolicy runs fn in a transaction: it commits when fn returns nil and
// rolls back when fn returns an error or panics (the panic goes on after the
// rollback). When Begin, an operation, fn's own result or the commit is
// Retryable (storage.ErrTxConflict, storage.ErrUnavailable), it runs fn again in a new transaction after a
// jittered backoff, at most p.MaxAttempts times in all and never past ctx:
// when ctx ends while it waits to try again, the error is ctx's (the last
// attempt's error is in its message, not wrapped).
// A storage.ErrCommitUnknown is returned as it is, never retried.
func RunInTxPolicy(ctx context.Context, b Beginner, opts storage.TxOptions, p RetryPolicy, fn func(tx storage.Tx) error) error {
	p = p.withDefaults()
	var err error
	for attempt := 1; ; attempt++ {
		err = runOnce(ctx, b, opts, fn)
		if err == nil || !Retryable(err) {
			return err
		}
		if attempt >= p.MaxAttempts {
			return &RetryError{Attempts: attempt, Err: err}
		}
		t := time.NewTimer(p.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			// The context's error alone: the caller gave up. The last
			// attempt's error is told, not wrapped: its sentinel
			// (ErrUnavailable, ErrTxConflict) would make the caller's
			// own cancellation read as an outage or a conflict, and
			// Retryable.
			return fmt.Errorf("%w (after %d attempts, the last: %s)", ctx.Err(), attempt, err.Error())
		case <-t.C:
		}
	}
}

// Retryable reports whether RunInTx runs a transaction again after err:
// storage.ErrTxConflict or storage.ErrUnavailable, and never
// storage.ErrCommitUnknown.
func Retryable(err error) bool {
	return (errors.Is(err, storage.ErrTxConflict) || errors.Is(err, storage.ErrUnavailable)) &&
		!errors.Is(err, storage.ErrCommitUnknown)
}

func runOnce(ctx context.Context, b Beginner, opts storage.TxOptions, fn func(tx storage.Tx) error) (err error) {
	tx, err := b.Begin(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(r)
		}
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return tx.Commit(ctx)
}
