package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"sync"
	"time"
)

// SQLite's automatic checkpoints are PASSIVE: they copy the WAL into the
// database only up to the oldest snapshot a reader holds, and the WAL is
// reused from its start only once a checkpoint got to its end. Readers
// that hold snapshots back to back (a long read-only transaction started
// as the previous one ends, with other readers always busy) starve it, and
// the WAL grows without bound. walRestarter watches the WAL file (every
// walWatchEvery) and, once it is larger than walRestartBytes (64 MiB),
// tries to restart it:
//
//  1. It runs a PASSIVE checkpoint on a connection of its own, which copies
//     the frames no open snapshot needs without holding the writer.
//  2. It drains this process's read-only transactions (below), and runs
//     the PASSIVE checkpoint again, for the frames they held.
//  3. It runs a TRUNCATE checkpoint on the writer's connection, which holds
//     every write while it runs: it copies the rest of the WAL once the
//     snapshots older than its last frame have ended, then waits for the
//     readers that started before the copy ended, and empties the WAL.
//     Readers that start after the copy read from the database file and do
//     not hold it up. Its waits (SQLite's busy handler, one budget for the
//     whole checkpoint) are bounded by the connection's busy_timeout.
//
// A short try, while the WAL is under walEscalate (4) times
// walRestartBytes, sets the writer's busy_timeout to walShortWait (100 ms,
// or the store's busy_timeout when shorter) for the checkpoint and back to
// the store's after it, on every path (a connection whose busy_timeout
// cannot be set back is discarded; the next takes it from the DSN). So a
// short try holds writes for at most 100 ms of waiting beside the copy of
// the frames step 2 left. Plain reads that last (a count or an unindexed
// query over a large namespace takes seconds, and storeserver admits them
// from any principal up to its request timeout), back to back and
// overlapping, keep a snapshot older than the last write open at every
// moment: a short try then fails, and the next one comes after a backoff
// that doubles from 2 s to walWatchMax (30 s). Before,
// every try waited the full busy_timeout and held every write that long
// (2-3.8 s in TestWALRestartBesideLongReads beside reads of 2 s, with
// busy_timeout 5 s), as often as the WAL passed 64 MiB.
//
// A full try, once the WAL is past walEscalate times walRestartBytes (256
// MiB), waits the store's busy_timeout as every try did before, so that the
// WAL stays bounded however long such reads overlap: it holds writes for
// at most busy_timeout beside the copy. When it succeeds (when the reads
// are shorter than about half of busy_timeout: it waits for the reads open
// when it begins, then for those that began before its copy ended), the
// next full try comes once the WAL has grown past 256 MiB again: one such
// stall per 256 MiB written, where every try was one before. When it fails (a snapshot stays
// open longer) the full tries back off as the short ones do, on their own,
// and the WAL grows until one succeeds, as before.
//
// A read-only transaction's snapshot may live longer than busy_timeout (an
// export): every checkpoint would then fail, and the WAL grow. So, before
// it checkpoints, the restarter drains this process's read-only
// transactions: Begin of a new one waits (bounded by its context) while
// those open end, at most walDrainMax and until the WAL has doubled; once
// none is open it checkpoints, waiting only for plain reads, and lets the
// waiting Begins go. The price is paid by read-only transactions beginning
// during the drain, not by the writes; when the drain times out (a
// transaction stays open longer) it checkpoints anyway, and tries again
// later. Snapshots of other processes are not drained: busy_timeout (or
// walShortWait) bounds the wait for them as for plain reads.
var (
	walRestartBytes int64 = 64 << 20 // a variable for the tests
	walWatchEvery         = time.Second
	walWatchMax           = 30 * time.Second
	walDrainMax           = 5 * time.Second
	walEscalate     int64 = 4                      // past this many times walRestartBytes a try waits busy_timeout
	walShortWait          = 100 * time.Millisecond // a try's busy wait below that
	walRestoreFails       = false                  // the tests' stand-in for a failed restore of busy_timeout
)

// walRestarter runs until stop is closed; done is closed when it returns.
type walRestarter struct {
	w    *sql.DB
	side *sql.DB // one connection of its own, for the PASSIVE checkpoints
	path string  // the database file
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

func startWALRestarter(w *sql.DB, side driver.Connector, path string, busy time.Duration) *walRestarter {
	r := &walRestarter{w: w, path: path, busy: busy, stop: make(chan struct{}), done: make(chan struct{})}
	if side != nil {
		r.side = sql.OpenDB(side)
		r.side.SetMaxOpenConns(1)
		r.side.SetMaxIdleConns(1)
	}
	go r.run()
	return r
}

func (r *walRestarter) close() {
	close(r.stop)
	<-r.done
	if r.side != nil {
		_ = r.side.Close()
	}
}

func (r *walRestarter) run() {
	defer close(r.done)
	t := time.NewTimer(walWatchEvery)
	defer t.Stop()
	// The next short and full tries are due at next and fullNext, after
	// the backoffs wait and fullWait (zero while none has failed).
	var wait, fullWait time.Duration
	var next, fullNext time.Time
	backoff := func(d time.Duration) time.Duration {
		if d == 0 {
			return 2 * walWatchEvery
		}
		return min(2*d, walWatchMax)
	}
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		t.Reset(walWatchEvery)
		fi, err := os.Stat(r.path + "-wal")
		if err != nil || fi.Size() <= walRestartBytes {
			continue
		}
		now := time.Now()
		full := fi.Size() > walEscalate*walRestartBytes && !now.Before(fullNext)
		if !full && now.Before(next) {
			continue
		}
		r.passive() // before the drain: read-only transactions' Begins do not wait for its copy
		end := r.drain(fi.Size())
		ok := r.restart(full)
		end()
		switch {
		case ok:
			wait, fullWait, next, fullNext = 0, 0, time.Time{}, time.Time{}
		case full:
			fullWait = backoff(fullWait)
			fullNext = time.Now().Add(fullWait)
		default:
			wait = backoff(wait)
			next = time.Now().Add(wait)
		}
	}
}

// passive runs a PASSIVE checkpoint on the side connection: it copies the
// frames no snapshot needs, without the writer. Its outcome does not
// matter (the TRUNCATE copies the rest).
func (r *walRestarter) passive() {
	if r.side == nil {
		return
	}
	ctx, cancel := context.WithTimeout(background(context.Background()), 2*r.busy+time.Second)
	defer cancel()
	var busy, logFrames, done int
	_ = r.side.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done)
}

// restart runs the end of a try, after the drain: a PASSIVE checkpoint
// again (for what the drained transactions held), then a TRUNCATE
// checkpoint on the writer's connection, whose busy wait is the store's
// busy_timeout when full, else at most walShortWait. It reports whether the
// WAL was emptied.
func (r *walRestarter) restart(full bool) bool {
	r.passive()
	wait := r.busy
	if !full {
		wait = min(wait, walShortWait)
	}
	ctx, cancel := context.WithTimeout(background(context.Background()), 2*r.busy+time.Second)
	defer cancel()
	return r.truncate(ctx, wait)
}

// truncate runs one TRUNCATE checkpoint on the writer's connection, with
// busy_timeout set to wait for its duration, and reports whether it
// emptied the WAL.
func (r *walRestarter) truncate(ctx context.Context, wait time.Duration) bool {
	c, err := r.w.Conn(ctx) // the writer's only connection: writes wait from here
	if err != nil {
		return false
	}
	defer c.Close()
	if wait != r.busy {
		defer r.restoreBusy(c)
		if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", wait.Milliseconds())); err != nil {
			return false
		}
	}
	var busy, logFrames, done int
	err = c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
	return err == nil && busy == 0
}

// restoreBusy sets c's busy_timeout back to the store's, under a context
// of its own (the try's may have ended). When it cannot, it discards the
// connection: the next one sets busy_timeout from the DSN.
func (r *walRestarter) restoreBusy(c *sql.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", r.busy.Milliseconds())); err != nil || walRestoreFails {
		_ = c.Raw(func(any) error { return driver.ErrBadConn })
	}
}
