package txmanager

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/mycelia-kernel/storage"
)

// Managed is what the registry needs of a transaction.
type Managed interface {
	ID() string
	// IdleSince is when the transaction last finished an operation, or the
	// zero time while one is running.
	IdleSince() time.Time
	// Rollback ends the transaction; it must be safe to call at any time and
	// more than once.
	Rollback(ctx context.Context) error
}

// Options configure a Registry. Zero values take the defaults.
type Options struct {
	// MaxOpen caps the number of open transactions (default 128).
	MaxOpen int
	// IdleTimeout rolls back a transaction that has run no operation for
	// this long (default 1 minute; negative disables the reaper).
	IdleTimeout time.Duration
	// now is the clock (tests).
	now func() time.Time
}

// Defaults of Options.
const (
	DefaultMaxOpen     = 128
	DefaultIdleTimeout = time.Minute
)

// Registry tracks open transactions by ID. It is safe for concurrent use.
type Registry struct {
	maxOpen int
	idle    time.Duration
	now     func() time.Time

	mu       sync.Mutex // protects the fields below
	open     map[string]Managed
	reserved int // slots claimed by Reserve for transactions still beginning
	closed   bool

	stop chan struct{}
	done chan struct{}
}

// NewRegistry returns a registry and starts its idle reaper; Close stops it.
func NewRegistry(o Options) *Registry {
	if o.MaxOpen <= 0 {
		o.MaxOpen = DefaultMaxOpen
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.now == nil {
		o.now = time.Now
	}
	r := &Registry{
		maxOpen: o.MaxOpen,
		idle:    o.IdleTimeout,
		now:     o.now,
		open:    map[string]Managed{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if r.idle > 0 {
		go r.reap()
	} else {
		close(r.done)
	}
	return r
}

// NewID returns a new random transaction ID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "tx_" + hex.EncodeToString(b[:])
}

// Reserve claims a slot for a transaction about to begin, so that the cap
// holds while BEGIN runs. Call Add with the transaction, or Release if BEGIN
// failed.
func (r *Registry) Reserve() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return storage.ErrClosed
	}
	if n := len(r.open) + r.reserved; n >= r.maxOpen {
		return fmt.Errorf("%w: %d of %d are open", storage.ErrTooManyTx, n, r.maxOpen)
	}
	r.reserved++
	return nil
}

// release drops one reservation. r.mu must be held.
func (r *Registry) release() {
	if r.reserved > 0 {
		r.reserved--
	}
}

// Release gives back a reservation whose BEGIN failed.
func (r *Registry) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release()
}

// Add registers a begun transaction in place of a reservation. If the
// registry was closed meanwhile, the transaction is rolled back and Add
// returns ErrClosed.
func (r *Registry) Add(ctx context.Context, t Managed) error {
	r.mu.Lock()
	r.release()
	if r.closed {
		r.mu.Unlock()
		_ = t.Rollback(ctx)
		return storage.ErrClosed
	}
	r.open[t.ID()] = t
	r.mu.Unlock()
	return nil
}

// Remove forgets a finished transaction.
func (r *Registry) Remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.open, id)
}

// Lookup returns the open transaction with this ID.
func (r *Registry) Lookup(id string) (Managed, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.open[id]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("%w: %q", storage.ErrTxNotFound, id)
}

// Len reports how many transactions are open (reservations included).
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.open) + r.reserved
}

// Close stops the reaper and rolls back every open transaction. Later
// Reserve calls fail with ErrClosed.
func (r *Registry) Close(ctx context.Context) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	open := r.snapshot()
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	for _, t := range open {
		_ = t.Rollback(ctx)
	}
}

// snapshot lists the registered transactions. r.mu must be held.
func (r *Registry) snapshot() []Managed {
	out := make([]Managed, 0, len(r.open))
	for _, t := range r.open {
		out = append(out, t)
	}
	return out
}

func (r *Registry) reap() {
	defer close(r.done)
	tick := r.idle / 4
	if tick < 10*time.Millisecond {
		tick = 10 * time.Millisecond
	}
	if tick > 5*time.Second {
		tick = 5 * time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.ReapIdle(context.Background())
		}
	}
}

// ReapIdle rolls back every transaction idle for longer than the idle
// timeout, and reports how many it rolled back. The reaper calls it
// periodically.
func (r *Registry) ReapIdle(ctx context.Context) int {
	r.mu.Lock()
	open := r.snapshot()
	r.mu.Unlock()
	now := r.now()
	n := 0
	for _, t := range open {
		since := t.IdleSince()
		if !since.IsZero() && now.Sub(since) > r.idle {
			_ = t.Rollback(ctx)
			n++
		}
	}
	return n
}
