package sqlstore

import (
	"context"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage/dialect"
)

// DefaultWatchPollInterval is how often, by default, a store with watchers
// reads the store's current revision to find changes no wake-up announced:
// on SQLite those of other processes on the same file, on PostgreSQL those
// whose notification was lost (or all of them, when the store cannot
// LISTEN). See WithWatchPollInterval.
const DefaultWatchPollInterval = 100 * time.Millisecond

// feed wakes the store's watchers when the change log may have grown.
//
// A watcher takes wait() before it reads the log, reads, and when it found
// nothing new waits on the channel: any signal after wait() closes that
// channel, so no wake-up is lost between the read and the wait.
//
// Signals come from three places: this process's writes (signal, called
// after each write outside a transaction and after each commit), a
// PostgreSQL LISTEN connection (notifications sent by the writers'
// transactions), and a poller that reads the current revision every poll
// interval while watchers exist and signals when it moved.
type feed struct {
	s        *Store
	watchers atomic.Int64
	reads    atomic.Int64 // the reads of the log by watches (tests)
	events   atomic.Int64 // the changes those reads returned (tests)

	mu  sync.Mutex // protects gen
	gen chan struct{}

	// startMu orders the start of the poller and listener (by the first
	// watcher) with close: a watch that starts while the store closes
	// must not add to done while close waits on it (a WaitGroup misuse
	// the race detector reports), nor leave goroutines behind close.
	startMu sync.Mutex // protects started and closed
	started bool
	closed  bool
	stop    chan struct{}
	done    sync.WaitGroup
}

func newFeed(s *Store) *feed {
	return &feed{s: s, gen: make(chan struct{}), stop: make(chan struct{})}
}

// wait returns the channel the next signal closes.
func (f *feed) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen
}

// signal wakes every watcher waiting on the current channel. It costs a
// load when the store has no watcher.
func (f *feed) signal() {
	if f.watchers.Load() == 0 {
		return
	}
	f.mu.Lock()
	close(f.gen)
	f.gen = make(chan struct{})
	f.mu.Unlock()
}

// add registers a watcher, starting the poller (and listener) with the
// first one; the returned func unregisters it.
func (f *feed) add() func() {
	f.watchers.Add(1)
	f.startMu.Lock()
	if !f.started && !f.closed {
		f.started = true
		f.start()
	}
	f.startMu.Unlock()
	return func() { f.watchers.Add(-1) }
}

func (f *feed) start() {
	f.done.Add(1)
	go f.poll()
	if dsn, ok := f.listenDSN(); ok {
		f.done.Add(1)
		go f.listen(dsn)
	}
}

// close stops the poller and the listener and waits for them.
func (f *feed) close() {
	f.startMu.Lock()
	f.closed = true
	f.startMu.Unlock()
	close(f.stop)
	f.done.Wait()
}

// poll reads the current revision every poll interval while there are
// watchers, and signals when it changed.
func (f *feed) poll() {
	defer f.done.Done()
	t := time.NewTicker(f.s.cfg.watchPoll)
	defer t.Stop()
	last := int64(-1)
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		if f.watchers.Load() == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), f.s.cfg.watchPoll+time.Second)
		st, err := f.s.logState(ctx, f.s.eng.reader())
		cancel()
		if err != nil {
			// The watchers find the failure themselves when they read.
			f.signal()
			continue
		}
		if st.head != last {
			last = st.head
			f.signal()
		}
	}
}

// listenDSN is the DSN the store LISTENs on: the direct DSN when there is
// one; else the main DSN, unless it names a pgx exec mode for a pooler in
// transaction mode (default_query_exec_mode other than the default), where
// LISTEN would not stay on one server session: then the store polls only.
func (f *feed) listenDSN() (string, bool) {
	if f.s.Dialect() != dialect.Postgres || f.s.cfg.watchPollOnly {
		return "", false
	}
	if f.s.cfg.directDSN != "" {
		return f.s.cfg.directDSN, true
	}
	u, err := url.Parse(f.s.dsn.URL)
	if err == nil {
		if m := u.Query().Get("default_query_exec_mode"); m != "" && m != "cache_statement" {
			return "", false
		}
	}
	return f.s.dsn.URL, true
}

// listen holds a LISTEN connection and signals at every notification; it
// reconnects (with a growing pause, at most a few seconds) when the
// connection fails, and signals after each reconnect, since notifications
// sent meanwhile are lost. Polling covers the gaps.
func (f *feed) listen(dsn string) {
	defer f.done.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-f.stop
		cancel()
	}()
	pause := 50 * time.Millisecond
	for ctx.Err() == nil {
		if f.listenOnce(ctx, dsn) {
			pause = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// listenOnce listens on one connection until it fails; it reports whether
// LISTEN succeeded.
func (f *feed) listenOnce(ctx context.Context, dsn string) bool {
	// pgxpool's parser: the DSN may carry pool settings (pool_max_conns),
	// which pgx.ParseConfig would send to the server as parameters.
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return false
	}
	conn, err := pgx.ConnectConfig(ctx, pc.ConnConfig)
	if err != nil {
		return false
	}
	defer func() { _ = conn.Close(context.Background()) }()
	// The store's own channel (pgEngine.channel, migration 00027), on which
	// every commit that adds to its change log notifies: only a wake-up,
	// never the truth.
	channel := f.s.eng.(*pgEngine).channel
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return false
	}
	f.signal()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true
		}
		f.signal()
	}
}

// changed wakes the store's watchers after a write outside a transaction
// (a transaction's writes wake them at its commit).
func (x *ops) changed() {
	if _, ok := x.sc.(storeScope); ok {
		x.s.feed.signal()
	}
}
