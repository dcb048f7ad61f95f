package txmanager

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
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

// Blocker is what a Managed transaction also implements when it can hold
// what other writers wait for (SQLite's one writer, PostgreSQL's revision
// lock): Blocking reports whether it holds it now while another writer
// waits for it. The registry asks only about transactions idle for longer
// than Options.ContendedIdleTimeout.
type Blocker interface {
	Blocking(ctx context.Context) bool
}

// Holder is what a Managed transaction also implements when the registry
// can bound how long it holds what others wait for, busy or not
// (Options.ContendedMaxHold): a writer's lock another writer waits for,
// or a connection another Begin waits for.
type Holder interface {
	// ContendedSince reports since when it has held what another caller
	// waits for now (or, for a writer's lock, has waited for); the
	// earliest such time if it holds several; zero if it holds nothing
	// another waits for. Safe to call while an operation runs.
	ContendedSince(ctx context.Context) time.Time
}

// Interrupter is what a Holder also implements when its running operation
// can be ended: the registry interrupts it before the rollback for holding
// what others wait for too long (Options.ContendedMaxHold), which then
// need not wait for the operation to end.
type Interrupter interface {
	// Interrupt ends the operation running on the transaction, if one
	// runs: the operation fails, and the transaction is over. Safe to
	// call at any time.
	Interrupt()
}

// Options configure a Registry. Zero values take the defaults.
type Options struct {
	// MaxOpen caps the number of open transactions (default 128).
	MaxOpen int
	// MaxPerOwner caps the open transactions of one owner (0 or less: no
	// cap, the default). The owner is what the caller passes to ReserveFor,
	// the principal for an authorizing store; the empty owner, an
	// in-process caller that names none, is never capped.
	MaxPerOwner int
	// IdleTimeout rolls back a transaction that has run no operation for
	// this long (default 1 minute; negative disables it).
	IdleTimeout time.Duration
	// MaxLifetime rolls back a transaction this long after it began,
	// however busy it is (default 10 minutes; negative disables it).
	MaxLifetime time.Duration
	// ContendedIdleTimeout rolls back a transaction that has run no
	// operation for this long while it blocks another writer (Blocker);
	// 0 or less disables it (the default).
	ContendedIdleTimeout time.Duration
	// ContendedMaxHold rolls back a transaction that has held what others
	// wait for (Holder) for this long while another waits for it, however
	// busy it is (an Interrupter's running operation ends first, so
	// that the rollback need not wait for it); 0 or less disables it (the
	// default).
	ContendedMaxHold time.Duration
	// now is the clock (tests).
	now func() time.Time
}

// Defaults of Options.
const (
	DefaultMaxOpen     = 128
	DefaultIdleTimeout = time.Minute
	DefaultMaxLifetime = 10 * time.Minute
)

// Slot is a claim on a place for one transaction, from ReserveFor.
type Slot struct {
	owner string
}

// entry is one registered transaction.
type entry struct {
	t     Managed
	slot  Slot
	began time.Time
}

// Registry tracks open transactions by ID. It is safe for concurrent use.
type Registry struct {
	maxOpen, maxOwner int
	idle, lifetime    time.Duration
	contended         time.Duration
	maxHold           time.Duration
	now               func() time.Time

	mu       sync.Mutex // protects the fields below
	open     map[string]entry
	reserved int            // slots claimed for transactions still beginning
	owners   map[string]int // per non-empty owner, open or reserved
	closed   bool

	stop chan struct{}
	done chan struct{}
}

// NewRegistry returns a registry and starts its reaper; Close stops it.
func NewRegistry(o Options) *Registry {
	if o.MaxOpen <= 0 {
		o.MaxOpen = DefaultMaxOpen
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxLifetime == 0 {
		o.MaxLifetime = DefaultMaxLifetime
	}
	if o.now == nil {
		o.now = time.Now
	}
	r := &Registry{
		maxOpen:   o.MaxOpen,
		maxOwner:  o.MaxPerOwner,
		idle:      o.IdleTimeout,
		lifetime:  o.MaxLifetime,
		now:       o.now,
		contended: max(o.ContendedIdleTimeout, 0),
		maxHold:   max(o.ContendedMaxHold, 0),
		open:      map[string]entry{},
		owners:    map[string]int{},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if r.idle > 0 || r.lifetime > 0 || r.contended > 0 || r.maxHold > 0 {
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

// Reserve claims a slot for a transaction of no owner; see
// ReserveFor.
func (r *Registry) Reserve() error {
	_, err := r.ReserveFor("")
	return err
}

// ReserveFor claims a slot for a transaction about to begin, so that the
// caps hold while BEGIN runs: MaxOpen, and MaxPerOwner for a non-empty
// owner. Call AddSlot with the transaction, or
// ReleaseSlot if BEGIN failed. Beyond a cap it returns ErrTooManyTx.
func (r *Registry) ReserveFor(owner string) (Slot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Slot{}, storage.ErrClosed
	}
	if n := len(r.open) + r.reserved; n >= r.maxOpen {
		return Slot{}, fmt.Errorf("%w: %d of %d are open", storage.ErrTooManyTx, n, r.maxOpen)
	}
	if owner != "" && r.maxOwner > 0 && r.owners[owner] >= r.maxOwner {
		return Slot{}, fmt.Errorf("%w: the caller has %d of its %d open", storage.ErrTooManyTx, r.owners[owner], r.maxOwner)
	}
	r.reserved++
	sl := Slot{owner: owner}
	r.count(sl, 1)
	return sl, nil
}

// count adds d to the counters of sl. r.mu must be held.
func (r *Registry) count(sl Slot, d int) {
	if sl.owner != "" {
		if r.owners[sl.owner] += d; r.owners[sl.owner] <= 0 {
			delete(r.owners, sl.owner)
		}
	}
}

// release drops one reservation. r.mu must be held.
func (r *Registry) release() {
	if r.reserved > 0 {
		r.reserved--
	}
}

// Release gives back a reservation of Reserve whose BEGIN failed.
func (r *Registry) Release() { r.ReleaseSlot(Slot{}) }

// ReleaseSlot gives back a reservation of ReserveFor whose BEGIN failed.
func (r *Registry) ReleaseSlot(sl Slot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release()
	r.count(sl, -1)
}

// Add registers a transaction reserved with Reserve; see AddSlot.
func (r *Registry) Add(ctx context.Context, t Managed) error { return r.AddSlot(ctx, Slot{}, t) }

// AddSlot registers a begun transaction in place of its reservation; its
// lifetime starts now. If the registry was closed meanwhile, the
// transaction is rolled back and AddSlot returns ErrClosed.
func (r *Registry) AddSlot(ctx context.Context, sl Slot, t Managed) error {
	r.mu.Lock()
	r.release()
	if r.closed {
		r.count(sl, -1)
		r.mu.Unlock()
		_ = t.Rollback(ctx)
		return storage.ErrClosed
	}
	r.open[t.ID()] = entry{t: t, slot: sl, began: r.now()}
	r.mu.Unlock()
	return nil
}

// Remove forgets a finished transaction.
func (r *Registry) Remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.open[id]; ok {
		delete(r.open, id)
		r.count(e.slot, -1)
	}
}

// Lookup returns the open transaction with this ID.
func (r *Registry) Lookup(id string) (Managed, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.open[id]; ok {
		return e.t, nil
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
	for _, e := range open {
		_ = e.t.Rollback(ctx)
	}
}

// snapshot lists the registered transactions. r.mu must be held.
func (r *Registry) snapshot() []entry {
	out := make([]entry, 0, len(r.open))
	for _, e := range r.open {
		out = append(out, e)
	}
	return out
}

func (r *Registry) reap() {
	defer close(r.done)
	tick := time.Duration(0)
	for _, d := range []time.Duration{r.idle, r.lifetime, r.contended, r.maxHold} {
		if d > 0 && (tick == 0 || d/4 < tick) {
			tick = d / 4
		}
	}
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
// timeout, every one idle for longer than the contended idle timeout while
// it blocks another writer (Blocker), every one that has held what
// others wait for longer than the contended maximum hold while another
// waits for it (Holder), and every one older than the maximum lifetime,
// however busy (the rollback of a busy one waits for its running
// operation to end), and reports how many it rolled back. The reaper calls
// it periodically.
func (r *Registry) ReapIdle(ctx context.Context) int {
	type idleEntry struct {
		entry
		owned int       // the open transactions of its owner (0: no owner)
		since time.Time // zero: running an operation
	}
	r.mu.Lock()
	byIdle := make([]idleEntry, 0, len(r.open))
	for _, e := range r.open {
		byIdle = append(byIdle, idleEntry{entry: e, owned: r.owners[e.slot.owner]})
	}
	r.mu.Unlock()
	now := r.now()
	// Those of the owner with the most open first (one principal's many
	// transactions go before another's single one), then the longest idle
	// first, those running an operation last. A pass rolls back at most
	// one transaction for contention: what another waits for, one
	// rollback frees, and the waiter may not have taken it yet when the
	// next is looked at.
	for i := range byIdle {
		byIdle[i].since = byIdle[i].t.IdleSince()
	}
	slices.SortStableFunc(byIdle, func(a, b idleEntry) int {
		if c := cmp.Compare(b.owned, a.owned); c != 0 {
			return c
		}
		if a.since.IsZero() || b.since.IsZero() {
			return cmp.Compare(btoi(a.since.IsZero()), btoi(b.since.IsZero()))
		}
		return a.since.Compare(b.since)
	})
	n := 0
	contention := false
	for _, ie := range byIdle {
		e, since := ie.entry, ie.since
		idle := r.idle > 0 && !since.IsZero() && now.Sub(since) > r.idle
		expired := r.lifetime > 0 && now.Sub(e.began) > r.lifetime
		if !idle && !expired && !contention && r.contended > 0 && !since.IsZero() && now.Sub(since) > r.contended {
			b, ok := e.t.(Blocker)
			idle = ok && b.Blocking(ctx)
			contention = idle
		}
		if !idle && !expired && !contention && r.maxHold > 0 {
			if h, ok := e.t.(Holder); ok {
				held := h.ContendedSince(ctx)
				expired = !held.IsZero() && now.Sub(held) > r.maxHold
				contention = expired
			}
		}
		if h, ok := e.t.(Interrupter); ok && expired && contention {
			// Busy: its operation (a scan of a whole namespace, up to
			// the caller's timeout) ends now, not when it is done.
			h.Interrupt()
		}
		if idle || expired {
			_ = e.t.Rollback(ctx)
			n++
		}
	}
	return n
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
