package txmanager

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// fakeTx is a storage.Tx whose data operations are not used here.
type fakeTx struct {
	storage.Tx
	id         string
	idle       atomic.Int64 // unix nanoseconds, 0 while busy
	commitErr  error
	commits    atomic.Int32
	rollbacks  atomic.Int32
	onRollback func()
}

func (f *fakeTx) ID() string { return f.id }
func (f *fakeTx) IdleSince() time.Time {
	if n := f.idle.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}
func (f *fakeTx) Commit(context.Context) error { f.commits.Add(1); return f.commitErr }
func (f *fakeTx) Rollback(context.Context) error {
	f.rollbacks.Add(1)
	if f.onRollback != nil {
		f.onRollback()
	}
	return nil
}

func TestRegistryCapLookupRemove(t *testing.T) {
	r := NewRegistry(Options{MaxOpen: 2, IdleTimeout: -1})
	defer r.Close(context.Background())
	ctx := context.Background()
	a, b := &fakeTx{id: NewID()}, &fakeTx{id: NewID()}
	if a.id == b.id || len(a.id) < 10 {
		t.Fatalf("IDs %q %q", a.id, b.id)
	}
	for _, tx := range []*fakeTx{a, b} {
		if err := r.Reserve(); err != nil {
			t.Fatal(err)
		}
		if err := r.Add(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Reserve(); !errors.Is(err, storage.ErrTooManyTx) {
		t.Fatalf("third Reserve: %v, want ErrTooManyTx", err)
	}
	if got, err := r.Lookup(a.id); err != nil || got != a {
		t.Fatalf("Lookup = %v, %v", got, err)
	}
	r.Remove(a.id)
	if _, err := r.Lookup(a.id); !errors.Is(err, storage.ErrTxNotFound) {
		t.Fatalf("Lookup after Remove: %v", err)
	}
	if err := r.Reserve(); err != nil {
		t.Fatalf("Reserve after Remove: %v", err)
	}
	r.Release()
	if r.Len() != 1 {
		t.Fatalf("Len = %d, want 1", r.Len())
	}
}

func TestRegistryCloseRollsBackAndRefuses(t *testing.T) {
	r := NewRegistry(Options{IdleTimeout: time.Hour})
	ctx := context.Background()
	tx := &fakeTx{id: NewID()}
	_ = r.Reserve()
	_ = r.Add(ctx, tx)
	r.Close(ctx)
	r.Close(ctx) // twice is fine
	if tx.rollbacks.Load() != 1 {
		t.Errorf("rollbacks = %d, want 1", tx.rollbacks.Load())
	}
	if err := r.Reserve(); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Reserve after Close: %v", err)
	}
}

func TestRegistryAddAfterCloseRollsBack(t *testing.T) {
	r := NewRegistry(Options{IdleTimeout: -1})
	ctx := context.Background()
	_ = r.Reserve()
	r.Close(ctx)
	tx := &fakeTx{id: NewID()}
	if err := r.Add(ctx, tx); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	if tx.rollbacks.Load() != 1 {
		t.Error("a transaction begun while the registry closed was not rolled back")
	}
}

func TestReapIdle(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := NewRegistry(Options{IdleTimeout: time.Minute, now: clock})
	defer r.Close(context.Background())
	ctx := context.Background()
	idle, busy, fresh := &fakeTx{id: "idle"}, &fakeTx{id: "busy"}, &fakeTx{id: "fresh"}
	idle.idle.Store(now.Add(-2 * time.Minute).UnixNano())
	fresh.idle.Store(now.Add(-30 * time.Second).UnixNano())
	// busy: IdleSince is zero while an operation runs, whatever its age.
	for _, tx := range []*fakeTx{idle, busy, fresh} {
		_ = r.Reserve()
		_ = r.Add(ctx, tx)
		tx := tx
		tx.onRollback = func() { r.Remove(tx.id) }
	}
	if n := r.ReapIdle(ctx); n != 1 {
		t.Fatalf("ReapIdle = %d, want 1", n)
	}
	if idle.rollbacks.Load() != 1 || busy.rollbacks.Load() != 0 || fresh.rollbacks.Load() != 0 {
		t.Errorf("rollbacks idle %d busy %d fresh %d", idle.rollbacks.Load(), busy.rollbacks.Load(), fresh.rollbacks.Load())
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if n := r.ReapIdle(ctx); n != 1 || fresh.rollbacks.Load() != 1 {
		t.Errorf("second ReapIdle = %d, fresh rollbacks %d", n, fresh.rollbacks.Load())
	}
}

func TestReaperRunsByItself(t *testing.T) {
	r := NewRegistry(Options{IdleTimeout: 20 * time.Millisecond})
	defer r.Close(context.Background())
	tx := &fakeTx{id: NewID()}
	tx.idle.Store(time.Now().UnixNano())
	tx.onRollback = func() { r.Remove(tx.id) }
	_ = r.Reserve()
	_ = r.Add(context.Background(), tx)
	deadline := time.Now().Add(5 * time.Second)
	for tx.rollbacks.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reaper never rolled back the idle transaction")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// beginner hands out fake transactions.
type beginner struct {
	txs      []*fakeTx
	beginErr error
}

func (b *beginner) Begin(context.Context, storage.TxOptions) (storage.Tx, error) {
	if b.beginErr != nil {
		return nil, b.beginErr
	}
	tx := &fakeTx{id: NewID()}
	b.txs = append(b.txs, tx)
	return tx, nil
}

var fastPolicy = RetryPolicy{MaxAttempts: 5, BaseDelay: time.Microsecond, MaxDelay: time.Millisecond}

func conflict() error {
	return &storage.OpError{Op: "set", Err: fmt.Errorf("%w: serialization failure", storage.ErrTxConflict)}
}

func TestRunInTxRetriesConflicts(t *testing.T) {
	b := &beginner{}
	calls := 0
	err := RunInTxPolicy(context.Background(), b, storage.TxOptions{}, fastPolicy, func(tx storage.Tx) error {
		calls++
		if calls < 3 {
			return conflict()
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	for i, tx := range b.txs {
		wantCommit, wantRollback := int32(0), int32(1)
		if i == 2 {
			wantCommit, wantRollback = 1, 0
		}
		if tx.commits.Load() != wantCommit || tx.rollbacks.Load() != wantRollback {
			t.Errorf("tx %d: commits %d rollbacks %d", i, tx.commits.Load(), tx.rollbacks.Load())
		}
	}
}

func TestRunInTxGivesUp(t *testing.T) {
	calls := 0
	err := RunInTxPolicy(context.Background(), &beginner{}, storage.TxOptions{}, fastPolicy, func(storage.Tx) error {
		calls++
		return conflict()
	})
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 5 || calls != 5 || !errors.Is(err, storage.ErrTxConflict) {
		t.Fatalf("err %v, calls %d", err, calls)
	}
}

func TestRunInTxDoesNotRetryOtherErrors(t *testing.T) {
	boom := errors.New("boom")
	for name, e := range map[string]error{
		"plain":   boom,
		"unknown": fmt.Errorf("%w: %w", storage.ErrCommitUnknown, storage.ErrTxConflict),
	} {
		calls := 0
		err := RunInTxPolicy(context.Background(), &beginner{}, storage.TxOptions{}, fastPolicy, func(storage.Tx) error {
			calls++
			return e
		})
		if !errors.Is(err, e) || calls != 1 {
			t.Errorf("%s: err %v after %d calls, want one call", name, err, calls)
		}
	}
}

func TestRunInTxCommitConflictIsRetriedButUnknownIsNot(t *testing.T) {
	b := &beginner{}
	calls := 0
	err := RunInTxPolicy(context.Background(), b, storage.TxOptions{}, fastPolicy, func(tx storage.Tx) error {
		calls++
		if calls == 1 {
			tx.(*fakeTx).commitErr = conflict()
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("conflict at commit: err %v after %d calls, want success on the 2nd", err, calls)
	}
	calls = 0
	unknown := fmt.Errorf("%w: connection reset", storage.ErrCommitUnknown)
	err = RunInTxPolicy(context.Background(), &beginner{}, storage.TxOptions{}, fastPolicy, func(tx storage.Tx) error {
		calls++
		tx.(*fakeTx).commitErr = unknown
		return nil
	})
	if !errors.Is(err, storage.ErrCommitUnknown) || calls != 1 {
		t.Fatalf("unknown commit: err %v after %d calls, want one call", err, calls)
	}
}

func TestRunInTxHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	slow := RetryPolicy{MaxAttempts: 100, BaseDelay: time.Hour, MaxDelay: time.Hour}
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	err := RunInTxPolicy(ctx, &beginner{}, storage.TxOptions{}, slow, func(storage.Tx) error {
		calls++
		return conflict()
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestRunInTxPanics(t *testing.T) {
	b := &beginner{}
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v", r)
		}
		if b.txs[0].rollbacks.Load() != 1 || b.txs[0].commits.Load() != 0 {
			t.Error("a panicking fn was not rolled back")
		}
	}()
	_ = RunInTx(context.Background(), b, storage.TxOptions{}, func(storage.Tx) error { panic("boom") })
}

func TestRunInTxBeginError(t *testing.T) {
	want := errors.New("no connection")
	if err := RunInTx(context.Background(), &beginner{beginErr: want}, storage.TxOptions{}, func(storage.Tx) error { return nil }); !errors.Is(err, want) {
		t.Fatalf("err %v", err)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	p := RetryPolicy{}.withDefaults()
	for attempt := 1; attempt < 30; attempt++ {
		for i := 0; i < 50; i++ {
			if d := p.backoff(attempt); d < 0 || d > p.MaxDelay {
				t.Fatalf("backoff(%d) = %v, outside [0, %v]", attempt, d, p.MaxDelay)
			}
		}
	}
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		seen[p.backoff(5)] = true
	}
	if len(seen) < 10 {
		t.Errorf("backoff is not jittered: %d distinct values of 50", len(seen))
	}
}

// TestMaxLifetime: a transaction kept busy or touched all the time is
// still rolled back once it is older than MaxLifetime; activity does not
// extend it.
func TestMaxLifetime(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	r := NewRegistry(Options{IdleTimeout: time.Minute, MaxLifetime: 3 * time.Minute, now: clock})
	defer r.Close(context.Background())
	ctx := context.Background()
	busy, touched := &fakeTx{id: "busy"}, &fakeTx{id: "touched"}
	for _, tx := range []*fakeTx{busy, touched} {
		sl, err := r.ReserveFor("p")
		if err != nil {
			t.Fatal(err)
		}
		_ = r.AddSlot(ctx, sl, tx)
		tx.onRollback = func() { r.Remove(tx.id) }
	}
	for range 6 { // every 30 s for 3 minutes: never idle
		advance(30 * time.Second)
		touched.idle.Store(clock().UnixNano())
		if n := r.ReapIdle(ctx); n != 0 {
			t.Fatalf("ReapIdle rolled back %d before the lifetime", n)
		}
	}
	advance(time.Second)
	touched.idle.Store(clock().UnixNano())
	if n := r.ReapIdle(ctx); n != 2 || busy.rollbacks.Load() != 1 || touched.rollbacks.Load() != 1 {
		t.Fatalf("ReapIdle after the lifetime = %d (busy %d, touched %d), want both", n, busy.rollbacks.Load(), touched.rollbacks.Load())
	}
	if _, err := r.Lookup("busy"); !errors.Is(err, storage.ErrTxNotFound) {
		t.Errorf("Lookup after the lifetime: %v", err)
	}
}

// TestOwnerCap: one owner cannot hold more than MaxPerOwner
// transactions, and the empty owner is not capped per owner.
func TestOwnerCap(t *testing.T) {
	r := NewRegistry(Options{MaxOpen: 8, MaxPerOwner: 2, IdleTimeout: -1, MaxLifetime: -1})
	defer r.Close(context.Background())
	ctx := context.Background()
	add := func(owner string) (*fakeTx, error) {
		sl, err := r.ReserveFor(owner)
		if err != nil {
			return nil, err
		}
		tx := &fakeTx{id: NewID()}
		return tx, r.AddSlot(ctx, sl, tx)
	}
	a1, err := add("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := add("alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := add("alice"); !errors.Is(err, storage.ErrTooManyTx) {
		t.Fatalf("alice's third: %v, want ErrTooManyTx", err)
	}
	if _, err := add("bob"); err != nil {
		t.Fatalf("bob is not capped by alice: %v", err)
	}
	r.Remove(a1.id)
	if _, err := add("alice"); err != nil {
		t.Fatalf("alice after Remove: %v", err)
	}
	sl, err := r.ReserveFor("bob")
	if err != nil {
		t.Fatal(err)
	}
	r.ReleaseSlot(sl) // a failed BEGIN gives the slot back
	for range 5 {
		if _, err := add(""); err != nil {
			t.Fatalf("the empty owner is capped: %v", err)
		}
	}
	if _, err := add("erin"); !errors.Is(err, storage.ErrTooManyTx) || r.Len() != 8 {
		t.Fatalf("total cap: %v (len %d)", err, r.Len())
	}
}

// TestRunInTxRetriesExactlyTheRetryable: every storage sentinel, returned
// by an operation, is retried exactly when Retryable says so: conflicts and
// an unavailable database, never an unknown commit nor anything else.
func TestRunInTxRetriesExactlyTheRetryable(t *testing.T) {
	retried := map[error]bool{storage.ErrTxConflict: true, storage.ErrUnavailable: true}
	for _, s := range storage.Sentinels() {
		for _, where := range []string{"operation", "begin", "commit"} {
			b := &beginner{}
			calls := 0
			e := &storage.OpError{Op: "set", Err: s}
			if where == "begin" {
				b.beginErr = e
			}
			err := RunInTxPolicy(context.Background(), b, storage.TxOptions{}, fastPolicy, func(tx storage.Tx) error {
				calls++
				if where == "commit" {
					tx.(*fakeTx).commitErr = e
					return nil
				}
				return e
			})
			if !errors.Is(err, s) {
				t.Errorf("%v at %s: RunInTx returned %v", s, where, err)
			}
			attempts := calls
			if where == "begin" {
				attempts = 1
				var re *RetryError
				if errors.As(err, &re) {
					attempts = re.Attempts
				}
			}
			want := 1
			if retried[s] {
				want = fastPolicy.MaxAttempts
			}
			if attempts != want || Retryable(err) != retried[s] {
				t.Errorf("%v at %s: %d attempts (Retryable %v), want %d", s, where, attempts, Retryable(err), want)
			}
		}
	}
}

// holderTx is a fakeTx that holds what another waits for since held; it
// counts the calls of Interrupt.
type holderTx struct {
	fakeTx
	held       time.Time
	interrupts atomic.Int64
}

func (h *holderTx) ContendedSince(context.Context) time.Time { return h.held }
func (h *holderTx) Interrupt()                               { h.interrupts.Add(1) }

// TestContendedVictimByOwner: when transactions of several owners hold
// what another waits for past the contended maximum hold, the one rolled
// back belongs to the owner holding the most, so that one principal's
// many transactions cannot make the reaper take another's single one.
func TestContendedVictimByOwner(t *testing.T) {
	now := time.Unix(1000, 0)
	ctx := context.Background()
	for _, bobIdleFirst := range []bool{false, true} {
		r := NewRegistry(Options{IdleTimeout: -1, MaxLifetime: -1, ContendedMaxHold: time.Second, now: func() time.Time { return now }})
		var txs []*holderTx
		add := func(owner string, idle time.Duration) *holderTx {
			sl, err := r.ReserveFor(owner)
			if err != nil {
				t.Fatal(err)
			}
			tx := &holderTx{fakeTx: fakeTx{id: NewID()}, held: now.Add(-time.Minute)}
			tx.idle.Store(now.Add(-idle).UnixNano())
			tx.onRollback = func() { r.Remove(tx.id) }
			if err := r.AddSlot(ctx, sl, tx); err != nil {
				t.Fatal(err)
			}
			txs = append(txs, tx)
			return tx
		}
		bobIdle := 10 * time.Millisecond
		if bobIdleFirst {
			bobIdle = time.Hour // idle longest: first in the idle order
		}
		bob := add("bob", bobIdle)
		add("alice", 20*time.Millisecond)
		add("alice", 30*time.Millisecond)
		if n := r.ReapIdle(ctx); n != 1 {
			t.Fatalf("ReapIdle = %d, want 1 (one per pass for contention)", n)
		}
		if bob.rollbacks.Load() != 0 {
			t.Errorf("bob idle first %v: bob's only transaction was rolled back beside alice's two", bobIdleFirst)
		}
		// The one rolled back for holding too long had its running
		// operation interrupted first, and only that one.
		for i, tx := range txs {
			if r, in := int64(tx.rollbacks.Load()), tx.interrupts.Load(); r != in {
				t.Errorf("transaction %d: %d rollbacks, %d interrupts", i, r, in)
			}
		}
		r.Close(ctx)
	}
}

// TestRunInTxContextEndedInBackoffIsTheContexts: when the caller's context
// ends while RunInTx waits to try again after a retryable error
// (ErrTxConflict, ErrUnavailable), the error is the context's alone: it
// does not also wrap the last attempt's sentinel, which made a caller's
// own cancellation read as an outage (ErrUnavailable: 503, and Retryable,
// so an outer loop would try again) or a conflict. The last attempt's
// error stays in the message. TestProbeErrorsTypedTerminate found it.
func TestRunInTxContextEndedInBackoffIsTheContexts(t *testing.T) {
	slow := RetryPolicy{MaxAttempts: 100, BaseDelay: time.Hour, MaxDelay: time.Hour}
	for _, last := range []error{storage.ErrTxConflict, storage.ErrUnavailable} {
		for _, ending := range []string{"cancel", "deadline"} {
			ctx, cancel := context.WithCancel(context.Background())
			if ending == "deadline" {
				ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
			}
			calls := 0
			err := RunInTxPolicy(ctx, &beginner{}, storage.TxOptions{}, slow, func(storage.Tx) error {
				calls++
				if ending == "cancel" {
					time.AfterFunc(20*time.Millisecond, cancel)
				}
				return &storage.OpError{Op: "set", Err: fmt.Errorf("%w: the server", last)}
			})
			cancel()
			if !errors.Is(err, ctx.Err()) || calls != 1 {
				t.Errorf("%v, %s: err %v after %d calls, want the context's", last, ending, err, calls)
			}
			for _, s := range storage.Sentinels() {
				if errors.Is(err, s) {
					t.Errorf("%v, %s: %q wraps %v besides the context's error", last, ending, err, s)
				}
			}
			if Retryable(err) {
				t.Errorf("%v, %s: %q is Retryable", last, ending, err)
			}
			if !strings.Contains(err.Error(), strings.TrimPrefix(last.Error(), "storage: ")) {
				t.Errorf("%v, %s: %q does not say what the last attempt failed with", last, ending, err)
			}
		}
	}
}
