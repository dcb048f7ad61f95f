package sqlstore

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestTxContendedIdle: a read-write transaction that holds SQLite's
// writer, or PostgreSQL's revision lock, and runs nothing keeps every
// other writer of the store waiting until its idle timeout (a minute by
// default): one principal over the wire could stall every other's writes.
// With WithTxContendedIdleTimeout it is rolled back once it has been idle
// that long while another writer waits, and that writer goes on; a
// transaction idle with no writer waiting is left alone.
func TestTxContendedIdle(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			begin := func(s *Store) storage.Tx {
				t.Helper()
				tx, err := s.Begin(ctx, storage.TxOptions{})
				if err != nil {
					t.Fatal(err)
				}
				// PostgreSQL takes the revision lock at the first write.
				if err := tx.Set(ctx, "held", 1, storage.InNamespace("a")); err != nil {
					t.Fatal(err)
				}
				return tx
			}
			// Without it, the other writer waits as long as the transaction idles.
			plain := openTest(t, c.dsn(t))
			defer plain.Close()
			tx := begin(plain)
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			err := plain.Set(wctx, "k", 1, storage.InNamespace("b"))
			cancel()
			if err == nil {
				t.Fatalf("a write beside an idle write transaction did not wait")
			}
			_ = tx.Rollback(ctx)

			s := openTest(t, c.dsn(t), WithTxContendedIdleTimeout(300*time.Millisecond))
			defer s.Close()
			// Idle, nobody waiting: left alone.
			tx = begin(s)
			time.Sleep(time.Second)
			if _, err := tx.Get(ctx, "held", storage.InNamespace("a")); err != nil {
				t.Fatalf("an idle transaction no writer waited for: %v", err)
			}
			// Idle while another writer waits: rolled back, the writer goes on.
			waitingWrite(t, s, 20*time.Second)
			if _, err := tx.Get(ctx, "held", storage.InNamespace("a")); !errors.Is(err, storage.ErrTxDone) {
				t.Fatalf("the idle transaction after it blocked a writer: %v, want ErrTxDone", err)
			}
			if _, err := s.Get(ctx, "held", storage.InNamespace("a")); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("the rolled back write: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestTxContendedMaxHold: a read-write transaction that keeps running
// operations is never idle, so the contended idle timeout does not touch
// it, and it holds SQLite's writer, or PostgreSQL's revision lock, until
// its maximum lifetime (storeserver: 5 minutes) while every other writer
// of the store waits. With WithTxContendedMaxHold it is rolled back once
// it has held that long while another writer waits, and that writer goes
// on; a busy transaction no writer waits for is left alone.
func TestTxContendedMaxHold(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			// busy begins a transaction that writes, then reads every
			// 20 ms until stop is closed; done receives the first error.
			busy := func(s *Store, stop <-chan struct{}) (storage.Tx, <-chan error) {
				t.Helper()
				tx, err := s.Begin(ctx, storage.TxOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if err := tx.Set(ctx, "held", 1, storage.InNamespace("a")); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() {
					for {
						select {
						case <-stop:
							done <- nil
							return
						case <-time.After(20 * time.Millisecond):
						}
						if _, err := tx.Get(ctx, "held", storage.InNamespace("a")); err != nil {
							done <- err
							return
						}
					}
				}()
				return tx, done
			}
			// Without it, the other writer waits as long as the transaction
			// runs: the contended idle timeout does not end a busy one (its
			// reads come every 20 ms; 1 s leaves a loaded machine room).
			plain := openTest(t, c.dsn(t), WithTxContendedIdleTimeout(time.Second))
			defer plain.Close()
			stop := make(chan struct{})
			tx, done := busy(plain, stop)
			wctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			err := plain.Set(wctx, "k", 1, storage.InNamespace("b"))
			cancel()
			close(stop)
			if err == nil {
				t.Fatalf("a write beside a busy write transaction did not wait")
			}
			if err := <-done; err != nil {
				t.Fatalf("the busy transaction no bound applies to: %v", err)
			}
			_ = tx.Rollback(ctx)

			s := openTest(t, c.dsn(t), WithTxContendedMaxHold(400*time.Millisecond))
			defer s.Close()
			// Busy, nobody waiting: left alone.
			stop = make(chan struct{})
			_, done = busy(s, stop)
			time.Sleep(time.Second)
			select {
			case err := <-done:
				t.Fatalf("a busy transaction no writer waited for: %v", err)
			default:
			}
			// Busy while another writer waits: rolled back, the writer goes on.
			waitingWrite(t, s, 10*time.Second)
			if err := <-done; !errors.Is(err, storage.ErrTxDone) {
				t.Fatalf("the busy transaction after it held past the bound: %v, want ErrTxDone", err)
			}
			close(stop)
			if _, err := s.Get(ctx, "held", storage.InNamespace("a")); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("the rolled back write: %v, want ErrNotFound", err)
			}
		})
	}
}

// TestTxContendedIdlePlaces: transactions hold at most three quarters of
// the connections (SQLite's readers for read-only ones, PostgreSQL's pool
// for any), so a principal's idle read-only transactions (or a few
// principals') could take every place and make every other Begin wait
// out its context (ErrTooManyTx) until their idle timeout, a minute. With
// WithTxContendedIdleTimeout a transaction idle that long while another
// Begin waits for a place is rolled back, and that Begin goes on; idle
// ones nobody waits for are left alone.
func TestTxContendedIdlePlaces(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t), WithTxContendedIdleTimeout(300*time.Millisecond))
			defer s.Close()
			ro := storage.TxOptions{ReadOnly: true}
			// Take every place.
			gate := s.roConns
			if gate == nil {
				gate = s.txConns
			}
			var held []storage.Tx
			for range gate.places {
				tx, err := s.Begin(ctx, ro)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, tx)
			}
			// Idle, nobody waiting: left alone.
			time.Sleep(time.Second)
			for i, tx := range held {
				if _, err := tx.Count(ctx); err != nil {
					t.Fatalf("idle transaction %d of %d, no Begin waiting: %v", i, len(held), err)
				}
			}
			// Idle while a Begin waits for a place: one is rolled back, and
			// only one, the Begin it served waiting no longer.
			waitingBegin(t, s, 3*time.Second, len(held))
			done := 0
			for _, tx := range held {
				if _, err := tx.Count(ctx); errors.Is(err, storage.ErrTxDone) {
					done++
				}
				_ = tx.Rollback(ctx)
			}
			if done != 1 {
				t.Fatalf("%d of %d idle transactions were rolled back for one waiting Begin, want one", done, len(held))
			}
		})
	}
}

// waitingWrite writes a key of namespace "b" of s, which must succeed
// within limit (a transaction blocking it is rolled back meanwhile), and
// logs how long it waited.
func waitingWrite(t *testing.T, s *Store, limit time.Duration) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	if err := s.Set(ctx, "k", 1, storage.InNamespace("b")); err != nil {
		t.Fatalf("the waiting write: %v after %v", err, time.Since(start))
	}
	t.Logf("the waiting write took %v", time.Since(start))
}

// TestTxContendedMaxHoldPlaces: transactions that keep running reads hold
// their places (SQLite's readers for read-only ones, PostgreSQL's pool)
// for their whole lifetime, so a principal's busy transactions could take
// every place and make every other Begin wait out its context
// (ErrTooManyTx): the contended idle timeout never ends a busy one. With
// WithTxContendedMaxHold one that has held its place that long while a
// Begin waits is rolled back, however busy.
func TestTxContendedMaxHoldPlaces(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t), WithTxContendedIdleTimeout(300*time.Millisecond), WithTxContendedMaxHold(600*time.Millisecond))
			defer s.Close()
			if err := s.Set(ctx, "k", 1); err != nil {
				t.Fatal(err)
			}
			ro := storage.TxOptions{ReadOnly: true}
			gate := s.roConns
			if gate == nil {
				gate = s.txConns
			}
			// Take every place with transactions that read every 20 ms.
			stop := make(chan struct{})
			dones := make([]chan error, gate.places)
			var held []storage.Tx
			for i := range gate.places {
				tx, err := s.Begin(ctx, ro)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, tx)
				dones[i] = make(chan error, 1)
				go func(done chan<- error) {
					for {
						select {
						case <-stop:
							done <- nil
							return
						case <-time.After(20 * time.Millisecond):
						}
						if _, err := tx.Get(ctx, "k"); err != nil {
							done <- err
							return
						}
					}
				}(dones[i])
			}
			stopAll := sync.OnceFunc(func() { close(stop) })
			defer stopAll()
			// Busy, nobody waiting: left alone past the bound.
			time.Sleep(time.Second)
			for i, done := range dones {
				select {
				case err := <-done:
					t.Fatalf("busy transaction %d of %d, no Begin waiting: %v", i, len(held), err)
				default:
				}
			}
			// Busy while a Begin waits for a place: one is rolled back, and
			// only one, the Begin it served waiting no longer. The place
			// the Begin took was given back by that rollback, so it is
			// over: ask each transaction rather than wait for its reader,
			// which a loaded machine may not run for a while.
			waitingBegin(t, s, 5*time.Second, len(held))
			rolled := 0
			for i, tx := range held {
				switch _, err := tx.Get(ctx, "k"); {
				case errors.Is(err, storage.ErrTxDone):
					rolled++
				case err != nil:
					t.Fatalf("busy transaction %d of %d after the waiting Begin: %v", i, len(held), err)
				}
			}
			stopAll()
			for _, done := range dones {
				if err := <-done; err != nil && !errors.Is(err, storage.ErrTxDone) {
					t.Fatalf("a busy transaction ended with %v, want ErrTxDone", err)
				}
			}
			if rolled != 1 {
				t.Fatalf("%d of %d busy transactions were rolled back for one waiting Begin, want one", rolled, len(held))
			}
			for _, tx := range held {
				_ = tx.Rollback(ctx)
			}
		})
	}
}

// waitingBegin begins a read-only transaction of s beside the places
// transactions hold, which must succeed within limit (one of them is
// rolled back meanwhile), logs how long it waited and rolls it back.
func waitingBegin(t *testing.T, s *Store, limit time.Duration, places int) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("a Begin beside %d transactions holding every place: %v after %v", places, err, time.Since(start))
	}
	t.Logf("%d places; the waiting Begin took %v", places, time.Since(start))
	_ = tx.Rollback(t.Context())
}

// TestTxGateServedWaiter: a place given back goes to the first Begin
// waiting for one, which stops counting as waiting at once, not when its
// goroutine next runs. The reaper rolls back one transaction per pass
// while a Begin waits (WithTxContendedMaxHold, WithTxContendedIdleTimeout):
// a served Begin still counted made it roll back the next place's
// transaction, and the next, as long as a loaded machine did not run the
// Begin (TestTxContendedMaxHoldPlaces saw 3 of 3 rolled back for one).
// GOMAXPROCS 1 keeps the served goroutine from running until this one
// yields, as a loaded machine may.
func TestTxGateServedWaiter(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := t.Context()
	g := newTxGate(1)
	if err := acquire(ctx, g); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- acquire(ctx, g) }()
	for g.waiting.Load() == 0 {
		runtime.Gosched()
	}
	release(g)
	if n := g.waiting.Load(); n != 0 {
		t.Errorf("the Begin given the place still counts as waiting (%d waiting)", n)
	}
	if err := <-got; err != nil {
		t.Fatalf("the waiting Begin: %v", err)
	}
	// A Begin whose context ends while it waits stops waiting, with
	// ErrTooManyTx, and takes no place.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := acquire(short, g); !errors.Is(err, storage.ErrTooManyTx) {
		t.Fatalf("a Begin whose context ended: %v, want ErrTooManyTx", err)
	}
	if n := g.waiting.Load(); n != 0 {
		t.Errorf("after a Begin gave up: %d waiting", n)
	}
	release(g)
	if err := acquire(ctx, g); err != nil {
		t.Fatalf("the place given back: %v", err)
	}
}
