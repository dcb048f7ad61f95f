package sqlstore

import (
	"context"
	"database/sql"
	"os"
	"sync"
	"time"
)

// SQLite's automatic checkpoints are PASSIVE: they copy the WAL into the
// database only up to the oldest snapshot a reader holds, and the WAL is
// reused from its start only once a checkpoint got to its end. Readers
// that hold snapshots back to back (a long read-only transaction started
// as the previous one ends, with other readers always busy) starve it, and
// the WAL grows without bound. walRestarter watches the WAL file and, once
// it is larger than walRestartBytes, runs a TRUNCATE checkpoint on the
// writer connection: it copies the whole WAL into the database, then waits
// (at most the store's busy_timeout, during which writes wait too) for the
// readers that started before the copy to finish, and empties the WAL.
// Readers that start after the copy read from the database file and do not
// hold it up, so the wait is at most the longest snapshot then open. When
// it cannot finish (a snapshot stays open longer), it tries again, less
// often.
//
// The wait is for the snapshots open when the copy ends, and a snapshot may
// live longer than busy_timeout (a read-only transaction, an export): the
// checkpoint would then fail each time, and the WAL grow, with writes
// stalled busy_timeout at each try. So, before it checkpoints, the
// restarter drains this process's read-only transactions: Begin of a new
// one waits (bounded by its context) while those open end, at most
// walDrainMax and until the WAL has doubled; once none is open it
// checkpoints, waiting only for plain reads, which are short, and lets the
// waiting Begins go. The price is paid
// by read-only transactions beginning during the drain, not by the writes;
// when the drain times out (a transaction stays open longer) it checkpoints
// anyway, as before, and tries again later. Snapshots of other processes
// are not drained: busy_timeout bounds them as before.
var (
	walRestartBytes int64 = 64 << 20 // a variable for the tests
	walWatchEvery         = time.Second
	walWatchMax           = 30 * time.Second
	walDrainMax           = 5 * time.Second
)

// walRestarter runs until stop is closed; done is closed when it returns.
type walRestarter struct {
	w    *sql.DB
	path string // the database file
	busy time.Duration
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	openRO   int           // read-only transactions open in this process
	draining chan struct{} // while a drain runs: closed when it ends
	drained  chan struct{} // while a drain runs: closed when openRO is 0
}

// enterRO counts a read-only transaction in, waiting while a drain runs
// (bounded by ctx).
func (r *walRestarter) enterRO(ctx context.Context) error {
	r.mu.Lock()
	for r.draining != nil {
		ch := r.draining
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		r.mu.Lock()
	}
	r.openRO++
	r.mu.Unlock()
	return nil
}

// leaveRO counts a read-only transaction out.
func (r *walRestarter) leaveRO() {
	r.mu.Lock()
	r.openRO--
	if r.openRO == 0 && r.drained != nil {
		close(r.drained)
		r.drained = nil
	}
	r.mu.Unlock()
}

// drain holds new read-only transactions back and waits, at most
// walDrainMax, for the open ones to end; end lets them go again. size is
// the WAL's size when the drain begins.
func (r *walRestarter) drain(size int64) (end func()) {
	r.mu.Lock()
	draining := make(chan struct{})
	r.draining = draining
	var drained chan struct{}
	if r.openRO > 0 {
		drained = make(chan struct{})
		r.drained = drained
	}
	r.mu.Unlock()
	end = func() {
		r.mu.Lock()
		r.draining, r.drained = nil, nil
		r.mu.Unlock()
		close(draining)
	}
	if drained == nil {
		return end
	}
	// Writes go on during the drain: it ends early when the WAL has
	// doubled meanwhile, so that it grows at most that much before the
	// checkpoint, which holds writes, runs. Doubled from its size at the
	// drain's start, not from the restart point: once a checkpoint had
	// failed the WAL was past twice the restart point already, every
	// later drain ended at its first tick, with the long snapshots still
	// open, and the checkpoints failed for as long as writes kept coming
	// (the WAL grew to 136-187 MB in TestWALBoundedWithLongSnapshots on
	// a quiet machine).
	limit := 2 * max(size, walRestartBytes)
	t := time.NewTimer(walDrainMax)
	defer t.Stop()
	tick := time.NewTicker(walWatchEvery / 4)
	defer tick.Stop()
	for {
		select {
		case <-drained:
			return end
		case <-t.C:
			return end
		case <-r.stop:
			return end
		case <-tick.C:
			if fi, err := os.Stat(r.path + "-wal"); err == nil && fi.Size() > limit {
				return end
			}
		}
	}
}

func startWALRestarter(w *sql.DB, path string, busy time.Duration) *walRestarter {
	r := &walRestarter{w: w, path: path, busy: busy, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *walRestarter) close() {
	close(r.stop)
	<-r.done
}

func (r *walRestarter) run() {
	defer close(r.done)
	every := walWatchEvery
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		if fi, err := os.Stat(r.path + "-wal"); err == nil && fi.Size() > walRestartBytes {
			end := r.drain(fi.Size())
			ok := r.truncate()
			end()
			if ok {
				every = walWatchEvery
			} else if every *= 2; every > walWatchMax {
				every = walWatchMax
			}
		}
		t.Reset(every)
	}
}

// truncate runs one TRUNCATE checkpoint and reports whether it emptied the
// WAL.
func (r *walRestarter) truncate() bool {
	ctx, cancel := context.WithTimeout(background(context.Background()), 2*r.busy+time.Second)
	defer cancel()
	var busy, logFrames, done int
	err := r.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
	return err == nil && busy == 0
}
