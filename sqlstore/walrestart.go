package sqlstore

import (
	"context"
	"database/sql"
	"os"
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
// often. The price is that stall of the writes, once per walRestartBytes
// written while snapshots are held.
var (
	walRestartBytes int64 = 64 << 20 // a variable for the tests
	walWatchEvery         = time.Second
	walWatchMax           = 30 * time.Second
)

// walRestarter runs until stop is closed; done is closed when it returns.
type walRestarter struct {
	w    *sql.DB
	path string // the database file
	busy time.Duration
	stop chan struct{}
	done chan struct{}
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
			if r.truncate() {
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*r.busy+time.Second)
	defer cancel()
	var busy, logFrames, done int
	err := r.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
	return err == nil && busy == 0
}
