package sqlstore

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
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
// nothing new waits on the channels: any signal after wait() that concerns
// it closes one of them, so no wake-up is lost between the read and the
// wait.
//
// Signals come from three places: this process's writes (signalIn, with
// the namespaces written, after each write outside a transaction and at
// each commit; signal after writes of unknown or every namespace), a
// PostgreSQL LISTEN connection (notifications sent by the writers'
// transactions), and a scanner that, every poll interval while watchers
// exist and at each notification, reads which namespaces the log's new
// changes are in and signals those (one statement for the whole store).
// A watch of one namespace, or of a scope (ranges of namespace names,
// driver.WatchScopeOption), is woken by the signals of its namespaces and
// by those that name none (signal); a watch of the whole store by every
// signal. So an idle watch of one namespace or of a principal's scope
// reads nothing while the writes go to others.
type feed struct {
	s        *Store
	watchers atomic.Int64
	reads    atomic.Int64 // the reads of the log by watches (tests)
	events   atomic.Int64 // the changes those reads returned (tests)

	mu sync.Mutex // protects gen, anyNS, byNS, scoped, nsRev, scanFrom, scanned and steps
	// gen is closed by every signal; anyNS by those that name no
	// namespace; byNS[ns] by those of ns (and then removed); a scope's
	// channel by those of a namespace in its ranges (and then removed).
	// byNS[ns] also goes when the last watch waiting on it waits on
	// another or stops (nsWait.n), so it names only the namespaces
	// watches wait on.
	gen    chan struct{}
	anyNS  chan struct{}
	byNS   map[string]*nsWait
	scoped map[*scopeWait]struct{}
	// nsRev is, for each namespace the scanner saw changed, the highest
	// revision it saw: the scanner has seen every change in (scanFrom,
	// scanned] (scanFrom < 0: none yet). A watch of one namespace that
	// the scanner saw no change of after its position may move its
	// position to scanned without reading (quietThrough).
	nsRev             map[string]int64
	scanFrom, scanned int64
	// steps are the last scans that saw the log grow, oldest first,
	// consecutive: what a watch of a scope checks its ranges against to
	// move past the scans without reading (quietThrough).
	steps []scanStep
	// quiet is closed by each scan that saw the log grow: the watches of
	// one namespace then move past what the scanner saw, without reading
	// the log when none of it was theirs.
	quiet chan struct{}
	poke  chan struct{} // a notification: scan now
	// gone is what the store's compactions removed, in consecutive
	// ranges of revisions, oldest first (see removing, lostNone).
	gone []goneRange

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
	return &feed{s: s, gen: make(chan struct{}), anyNS: make(chan struct{}), byNS: make(map[string]*nsWait), scoped: make(map[*scopeWait]struct{}),
		nsRev: make(map[string]int64), scanFrom: -1, scanned: -1, quiet: make(chan struct{}), poke: make(chan struct{}, 1), stop: make(chan struct{})}
}

// wakes are the channels a waiting watch waits on: mine and other are
// closed by the signals that concern it (other nil for a watch of the
// whole store), quiet by the next scan that saw the log grow (nil for
// those watches). sw is the registration of a watch of a scope, which
// the watch drops when it wakes (drop).
type wakes struct {
	mine, other, quiet <-chan struct{}
	sw                 *scopeWait
	nw                 *nsWait // the wait of a watch of namespace ns
	ns                 string
}

// nsWait is the channel the watches of one namespace wait on, and how
// many wait on it (their last wait was it, and they have not stopped).
type nsWait struct {
	ch chan struct{}
	n  int
}

// leave counts a watch's last wait on a namespace's channel out: the
// channel goes when no watch waits on it any more (a channel a signal
// closed and removed is no longer byNS's, and stays gone). mu is held.
func (f *feed) leave(wk wakes) {
	if wk.nw == nil {
		return
	}
	wk.nw.n--
	if wk.nw.n == 0 && f.byNS[wk.ns] == wk.nw {
		delete(f.byNS, wk.ns)
	}
}

// scopeWait is a watch of a scope waiting: ch is closed by the next signal
// of a namespace in ranges (ranges of namespace names, as
// driver.WatchScopeOption gives them) or of none.
type scopeWait struct {
	ranges []driver.KeyRange
	ch     chan struct{}
}

// has reports whether ns lies in one of the ranges.
func (sw *scopeWait) has(ns string) bool {
	return inRanges(sw.ranges, ns)
}

// inRanges reports whether ns lies in one of rs (ranges of names in byte
// order).
func inRanges(rs []driver.KeyRange, ns string) bool {
	for _, r := range rs {
		if ns >= r.From && (r.To == "" || ns < r.To) {
			return true
		}
	}
	return false
}

// wait returns the channels the next signal that concerns a watch closes:
// a watch of ns (when not ""), of the namespaces in ranges (scoped), or
// else of the whole store. prev, the watch's last wait, is dropped.
func (f *feed) wait(prev wakes, ns string, scoped bool, ranges []driver.KeyRange) wakes {
	f.mu.Lock()
	defer f.mu.Unlock()
	if prev.sw != nil {
		delete(f.scoped, prev.sw)
	}
	// A namespace's channel goes when a change of it, or a signal to
	// every watcher, closes it, or when the last watch waiting on it
	// waits on another or stops: the watches of namespaces that never
	// change do not leave theirs behind (TestFeedWaitsBounded), and the
	// map holds no more channels than watches wait (so none is closed to
	// bound it, which with more namespaces watched at once than a bound
	// woke every watch over and over: TestFeedManyNamespacesQuiet).
	defer f.leave(prev)
	switch {
	case ns != "":
		w := f.byNS[ns]
		if w == nil {
			w = &nsWait{ch: make(chan struct{})}
			f.byNS[ns] = w
		}
		w.n++
		return wakes{mine: w.ch, other: f.anyNS, quiet: f.quiet, nw: w, ns: ns}
	case scoped:
		sw := &scopeWait{ranges: ranges, ch: make(chan struct{})}
		f.scoped[sw] = struct{}{}
		return wakes{mine: sw.ch, other: f.anyNS, quiet: f.quiet, sw: sw}
	}
	return wakes{mine: f.gen}
}

// drop forgets a watch's last wait (a watch that stops).
func (f *feed) drop(wk wakes) {
	if wk.sw == nil && wk.nw == nil {
		return
	}
	f.mu.Lock()
	if wk.sw != nil {
		delete(f.scoped, wk.sw)
	}
	f.leave(wk)
	f.mu.Unlock()
}

// quietCh is the channel the next scan that saw the log grow closes.
func (f *feed) quietCh() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.quiet
}

// signal wakes every watcher. It costs a load when the store has no
// watcher.
func (f *feed) signal() {
	if f.watchers.Load() == 0 {
		return
	}
	f.mu.Lock()
	close(f.gen)
	f.gen = make(chan struct{})
	close(f.anyNS)
	f.anyNS = make(chan struct{})
	// Every watch of one namespace or of a scope waits on anyNS too:
	// their channels can go (so watches that ended leave none behind).
	clear(f.byNS)
	clear(f.scoped)
	f.mu.Unlock()
}

// signalIn wakes the watchers of the namespaces nss (of one of them, or
// of a scope that holds one) and those of the whole store; none: every
// watcher. wholeStore among nss wakes only the watches of the whole store.
func (f *feed) signalIn(nss ...string) {
	if f.watchers.Load() == 0 {
		return
	}
	if len(nss) == 0 {
		f.signal()
		return
	}
	f.mu.Lock()
	close(f.gen)
	f.gen = make(chan struct{})
	for _, ns := range nss {
		if w := f.byNS[ns]; w != nil {
			close(w.ch)
			delete(f.byNS, ns)
		}
	}
	for sw := range f.scoped {
		for _, ns := range nss {
			if ns != wholeStore && sw.has(ns) {
				close(sw.ch)
				delete(f.scoped, sw)
				break
			}
		}
	}
	f.mu.Unlock()
}

// scanStep is what one scan that saw the log grow saw: the namespaces of
// the changes in (from, through].
type scanStep struct {
	from, through int64
	nss           []string
}

// feedNamespaces is how many namespaces feed.nsRev names before the
// scanner starts over (a scan that sees more starts over after it): the
// watches of one namespace then read the log at their next wake instead of
// moving past it without reading (quietThrough), once.
const feedNamespaces = 1024

// scanSteps is how many scans feed.steps holds: a watch of a scope that
// missed more (busy reading) moves past them at its next read instead.
const scanSteps = 32

// quietThrough is the revision a watch whose every change through last it
// has read may move to without reading: the scanner's position when it
// saw no change of the watch's namespaces after last; else last. The
// watch is one of ns, or (ns "") of the namespaces for which watches is
// true (nil: the whole store, which never moves so). pending reports that
// the scanner saw a change of the watch's namespaces after last.
func (f *feed) quietThrough(ns string, last int64, watches func(ns string) bool) (through int64, pending bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.scanFrom < 0 || last < f.scanFrom {
		return last, false
	}
	switch {
	case ns != "":
		if f.nsRev[ns] > last {
			return last, true
		}
	case watches == nil:
		return last, false
	default:
		// The scans after last, from the one that holds it on: the
		// namespaces they saw say whether one of the watch's changed.
		i := len(f.steps)
		for i > 0 && f.steps[i-1].through > last {
			i--
		}
		if i == len(f.steps) {
			return max(last, f.scanned), false
		}
		if f.steps[i].from > last {
			return last, false // older than the steps held: read
		}
		for _, st := range f.steps[i:] {
			for _, n := range st.nss {
				if watches(n) {
					return last, true
				}
			}
		}
	}
	return max(last, f.scanned), false
}

// goneRange is what compaction removed: every change in (from, through],
// the last of each namespace's at last[ns] (wholeStore for a change of
// none).
type goneRange struct {
	from, through int64
	last          map[string]int64
}

// goneRanges is how many ranges feed.gone holds at most: the oldest two
// merge into one (coarser, so a watch behind them may be told it lost a
// change that compaction removed before its position; never the reverse).
const goneRanges = 64

// goneNamespaces is how many namespaces one range of feed.gone names at
// most: a range that would name more (the merge of ranges, over hours of
// namespaces that come and go) names the whole store instead, as a change
// of no namespace does, so that the record stays bounded. A watch whose
// position is before such a range's end is then told it may have lost a
// change (ErrCompacted), as one behind the record is.
const goneNamespaces = 256

// removing records that a compaction of the store removes the changes in
// (from, through], the last of each namespace's at last[ns], before the
// removal commits. Compactions of other stores or processes are not
// recorded: after one, the record starts over at the next compaction of
// this store.
func (f *feed) removing(from, through int64, last map[string]int64) {
	last = boundGone(last, through)
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.gone)
	switch {
	case n == 0 || from < f.gone[0].from || from > f.gone[n-1].through:
		// The first, or not next to the record (another store's or
		// process's compaction removed what lies between): start over.
		f.gone = append(f.gone[:0], goneRange{from: from, through: through, last: last})
	case from == f.gone[n-1].through:
		f.gone = append(f.gone, goneRange{from: from, through: through, last: last})
		if len(f.gone) > goneRanges {
			f.gone[1] = mergeGone(f.gone[0], f.gone[1])
			f.gone = slices.Delete(f.gone, 0, 1)
		}
	default:
		// Inside the record: a compaction beside another of this store
		// (PostgreSQL), or one whose transaction did not commit done
		// again. The ranges from the one it starts in on merge with it:
		// the record says at worst that a change was removed that is
		// still there.
		i := 0
		for f.gone[i].through <= from {
			i++
		}
		r := goneRange{from: from, through: through, last: last}
		for _, g := range f.gone[i:] {
			r = mergeGone(g, r)
		}
		f.gone = append(f.gone[:i], r)
	}
}

// mergeGone is the range of a and b, consecutive or overlapping.
func mergeGone(a, b goneRange) goneRange {
	m := goneRange{from: min(a.from, b.from), through: max(a.through, b.through), last: maps.Clone(a.last)}
	for ns, rev := range b.last {
		m.last[ns] = max(m.last[ns], rev)
	}
	m.last = boundGone(m.last, m.through)
	return m
}

// boundGone is last, a range's namespaces, or, when it names more than
// goneNamespaces, the whole store (a change of none) at through.
func boundGone(last map[string]int64, through int64) map[string]int64 {
	if len(last) <= goneNamespaces {
		return last
	}
	return map[string]int64{wholeStore: through}
}

// lostNone reports whether compaction removed, in (last, compacted] (the
// position of a watch and the log's compacted_through that it read), no
// change of a namespace the watch answers for (watches): false when this
// store's compactions did not remove all of (last, compacted] (another
// store's or process's did), so the watch cannot know.
func (f *feed) lostNone(last, compacted int64, watches func(ns string) bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.gone) == 0 || last < f.gone[0].from || compacted > f.gone[len(f.gone)-1].through {
		return false
	}
	for _, g := range f.gone {
		if g.from >= compacted || g.through <= last {
			continue
		}
		for ns, rev := range g.last {
			if rev > last && (ns == wholeStore || watches(ns)) {
				return false
			}
		}
	}
	return true
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

// poll scans the log every poll interval while there are watchers, and at
// each notification (poke).
func (f *feed) poll() {
	defer f.done.Done()
	t := time.NewTicker(f.s.cfg.watchPoll)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		case <-f.poke:
		}
		if f.watchers.Load() == 0 {
			continue
		}
		f.scan()
	}
}

// scan reads, in one statement, the store's current revision, the start
// of the retained log and the namespaces of the changes after the last
// scan, and signals those namespaces. The first scan (which reads only the
// current revision), a failure, and a compaction past the last scan's
// position signal every watcher (and the scanner starts over from the
// current revision).
func (f *feed) scan() {
	f.mu.Lock()
	after := f.scanned
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(background(context.Background()), f.s.cfg.watchPoll+time.Second)
	defer cancel()
	var st logState
	var nss []string
	if after < 0 {
		var err error
		if st, err = f.s.logState(ctx, f.s.eng.reader()); err == nil {
			f.mu.Lock()
			clear(f.nsRev)
			f.steps = f.steps[:0]
			f.scanFrom, f.scanned = st.head, st.head
			f.mu.Unlock()
		}
		f.signal()
		return
	}
	err := f.s.eng.reader().queryRows(ctx, "SELECT "+headSQL(f.s.Dialect())+", s.compacted_through, c.namespace, c.revision "+
		"FROM change_log_state s LEFT JOIN (SELECT namespace, MAX(revision) AS revision FROM changes WHERE revision > "+
		strconv.FormatInt(after, 10)+" GROUP BY namespace) c ON 1=1 WHERE s.id = 1", nil,
		func(r rowScanner) error {
			var ns *string
			var rev *int64
			if err := r.Scan(&st.head, &st.compacted, &ns, &rev); err != nil {
				return err
			}
			if ns != nil && rev != nil && *rev <= st.head {
				nss = append(nss, *ns)
				f.mu.Lock()
				f.nsRev[*ns] = max(f.nsRev[*ns], *rev)
				f.mu.Unlock()
			}
			return nil
		})
	if err != nil {
		// The watchers find the failure themselves when they read.
		f.signal()
		return
	}
	f.mu.Lock()
	// Past feedNamespaces names seen, the scanner starts over as after a
	// compaction, so that nsRev stays bounded while namespaces come and go.
	restart := st.compacted > after || st.head < after || len(f.nsRev) > feedNamespaces
	if restart {
		clear(f.nsRev)
		f.steps = f.steps[:0]
		f.scanFrom = st.head
	}
	if st.head != f.scanned {
		if !restart {
			if len(f.steps) == scanSteps {
				f.steps = slices.Delete(f.steps, 0, 1)
			}
			f.steps = append(f.steps, scanStep{from: after, through: st.head, nss: nss})
		}
		close(f.quiet)
		f.quiet = make(chan struct{})
	}
	f.scanned = st.head
	f.mu.Unlock()
	switch {
	case restart:
		f.signal()
	case len(nss) > 0:
		f.signalIn(nss...)
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
	ctx, cancel := context.WithCancel(background(context.Background()))
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

// defaultListenCheck is how long the LISTEN connection waits for a
// notification before it pings the server, within defaultListenPing: a
// server that stopped answering without closing the connection (a frozen
// primary, a network path that drops everything) is found then, not when
// the kernel's TCP keepalive gives up minutes later, and the store listens
// again on a new connection (after a failover, on the new primary). Until
// then the poll interval bounds the watchers' latency.
const (
	defaultListenCheck = 15 * time.Second
	defaultListenPing  = 5 * time.Second
)

// withListenCheck sets the LISTEN connection's check (tests).
func withListenCheck(check, ping time.Duration) Option {
	return func(c *config) error {
		c.listenCheck, c.listenPing = check, ping
		return nil
	}
}

// listenOnce listens on one connection until it fails or stops answering;
// it reports whether LISTEN succeeded.
func (f *feed) listenOnce(ctx context.Context, dsn string) bool {
	// pgxpool's parser: the DSN may carry pool settings (pool_max_conns),
	// which pgx.ParseConfig would send to the server as parameters.
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return false
	}
	// Connecting and LISTEN are bounded as a check is: a server that stops
	// answering meanwhile does not hold the listener.
	cctx, cancel := context.WithTimeout(ctx, f.s.cfg.listenCheck+f.s.cfg.listenPing)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, pc.ConnConfig)
	if err != nil {
		return false
	}
	defer func() { _ = conn.Close(context.Background()) }()
	// The store's own channel (pgEngine.channel, migration 00027), on which
	// every commit that adds to its change log notifies: only a wake-up,
	// never the truth.
	channel := f.s.eng.(*pgEngine).channel
	if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return false
	}
	cancel()
	f.signal()
	for {
		wctx, cancel := context.WithTimeout(ctx, f.s.cfg.listenCheck)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil || conn.IsClosed() || !errors.Is(wctx.Err(), context.DeadlineExceeded) {
				return true
			}
			// Nothing for a while: is the server still there?
			pctx, cancel := context.WithTimeout(ctx, f.s.cfg.listenPing)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return true
			}
			continue
		}
		// The watches of the whole store read at once; the scanner finds
		// which namespaces changed and wakes only their watches of one
		// namespace or of a scope.
		f.signalIn(wholeStore)
		select {
		case f.poke <- struct{}{}:
		default:
		}
	}
}

// changed wakes the store's watchers after a write outside a transaction
// (a transaction's writes wake them at its commit: every one, then).
func (x *ops) changed(ctx context.Context) {
	x.changedIn(ctx, "", 1)
}

// changedIn wakes the watchers of namespace ns (and those of a scope that
// holds it, and of the whole store) after a write to ns alone outside a
// transaction; ns "" (unknown): every watcher. In a transaction it notes
// ns for the commit's wake-up. n is about how many changes the write
// added (a batch's items): outside a transaction they count for the
// compaction assist, which may compact in the caller (wroteChanges), in a
// transaction at its commit.
func (x *ops) changedIn(ctx context.Context, ns string, n int) {
	if t, ok := x.sc.(*sqlTx); ok {
		t.wroteIn(ns, n)
		return
	}
	if _, ok := x.sc.(storeScope); !ok {
		return
	}
	if ns == "" {
		x.s.feed.signal()
	} else {
		x.s.feed.signalIn(ns)
	}
	x.s.wroteChanges(ctx, n)
}

// wholeStore is a namespace no store holds: signalIn(wholeStore) wakes
// only the watches of the whole store.
const wholeStore = "\x00"
