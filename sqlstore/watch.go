package sqlstore

import (
	"context"
	"errors"
	"iter"
	"slices"
	"sync/atomic"
	"time"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// The change log, as Watch, History and Get at a revision read it.
//
// Every committed change is a row of the table changes, under its revision
// (written in the writing transaction; revisions become visible in commit
// order). change_log_state.compacted_through is the highest revision that
// is not (or no longer) in the log: compaction deletes a prefix of the log
// and raises it in the same transaction, and it starts at the revision the
// store had when the log was created (the revisions given to what existed
// before are in no log). A read of the log is complete for the revisions
// after compacted_through.
//
// A watcher tails the log with one statement per read: the rows after its
// position that pass its options, at most a batch, together with the
// store's current revision and compacted_through, all from one snapshot.
// When the batch is not full, every change up to that current revision has
// been seen, filtered or not, and the position moves there; when
// compacted_through passed the position, changes were lost to compaction
// and the watch fails with ErrCompacted, unless the store's compactions
// removed none of its namespaces' changes after its position
// (feed.lostNone): then it moves to compacted_through and delivers the
// rows it read.

// logState is the store's current revision and compacted_through.
type logState struct {
	head, compacted int64
}

func (s *Store) logState(ctx context.Context, q querier) (logState, error) {
	var st logState
	err := q.queryRows(ctx, "SELECT "+headSQL(s.Dialect())+", compacted_through FROM change_log_state WHERE id = 1", nil,
		func(r rowScanner) error { return r.Scan(&st.head, &st.compacted) })
	return st, err
}

// headSQL is the store's current revision, the highest committed one. On
// SQLite it is revision_counter, a view of the log's last revision (or
// compacted_through when compaction emptied it, migration 00013). On
// PostgreSQL revisions come from a sequence, which also counts the
// revisions of transactions still open or rolled back (revlock.go): the
// current revision is the last of the change log, or compacted_through
// when compaction emptied it (migrations/postgres/00010).
func headSQL(d dialect.Name) string {
	if d == dialect.Postgres {
		return "storage_current_revision()"
	}
	return "(SELECT current FROM revision_counter WHERE id = 1)"
}

// compacted is the error of a revision older than the log retains.
func compacted(requested int64, st logState) error {
	return &storage.CompactedError{Requested: requested, Oldest: st.compacted + 1}
}

// DefaultWatchBuffer is how many events a watch holds for its consumer
// (see WithWatchBuffer).
const DefaultWatchBuffer = 1024

// DefaultWatchBufferBytes is how many bytes of events a watch holds for
// its consumer (see WithWatchBufferBytes).
const DefaultWatchBufferBytes = 64 << 20

// DefaultWatchPatience is how long a watch whose buffer is full waits for
// its consumer to take an event before it cuts it off (ErrWatchLagged).
const DefaultWatchPatience = time.Second

// withWatchPatience sets the patience of watches (tests).
func withWatchPatience(d time.Duration) Option {
	return func(c *config) error {
		c.watchPatience = d
		return nil
	}
}

// withWatchLagged has f called each time a watch cuts its consumer off
// with ErrWatchLagged (tests: a stalled consumer waits for it, where a
// sleep of any length may be too short on a loaded machine).
func withWatchLagged(f func()) Option {
	return func(c *config) error {
		c.watchLagged = f
		return nil
	}
}

// DefaultWatchReadInterval is the least time, by default, between two
// reads of the log by one watch woken by writes (see
// WithWatchReadInterval).
const DefaultWatchReadInterval = 10 * time.Millisecond

// WithWatchReadInterval sets the least time between two reads of the log
// by one watch that writes woke, when the store has watchFullPace (16)
// watches or more (default DefaultWatchReadInterval; 0: no pause). Each
// write wakes every watch of the whole store and those of its namespace
// (InNamespace, or a driver.WatchScopeOption that holds it), and each
// woken watch reads the log: without a pause, a few watches of the whole
// store multiply every writer's work by their number. With it, the pause grows
// with the watches beside it: none for a lone watch, d × (n-1)/15 for n
// watches, d from 16 on; so the store's watches together read the log
// about 15/d times a second at most (1,500 at the default) while writes
// keep them busy, however many they are, and each gets the writes of its
// pause in one read. An event may wait up to that pause; a watch of a
// quiet store reads at once.
func WithWatchReadInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errors.New("sqlstore: WithWatchReadInterval: want >= 0")
		}
		c.watchReadGap = d
		return nil
	}
}

// watchFullPace is how many watches a store has when each pauses the whole
// WithWatchReadInterval between reads.
const watchFullPace = 16

// readPause is the least time between two reads of the log by one watch
// that writes woke, with the store's watches now: d × (n-1)/15, at most d.
func (f *feed) readPause(d time.Duration) time.Duration {
	n := min(max(f.watchers.Load()-1, 0), watchFullPace-1)
	return d * time.Duration(n) / (watchFullPace - 1)
}

// watchBatch is the most rows one read of the log returns.
const watchBatch = 256

// One read of the log by a watch covers at most a window of revisions
// after its position (watch.window): watchWindowStart at the first read,
// halved after a read that took longer than watchReadTarget (down to
// watchWindowMin), doubled after one that took less than a quarter of it
// (up to watchWindow). The next read
// goes on from the window's end, at once: a watch from an early revision
// with a filter few changes pass read the whole log in one read, for
// seconds on a long log, holding a place among the watch reads
// (watchReadPlaces) for as long, so that another principal's watch
// waited that long for its next read, and its events with it
// (TestHostileWatchReads in package httpapi).
const (
	watchWindowStart = 256
	watchWindow      = 4096
	watchWindowMin   = 16
	watchReadTarget  = 20 * time.Millisecond
)

// changeKinds maps the log's kinds to event types.
var changeKinds = map[string]storage.EventType{
	"put":                storage.EventPut,
	"delete":             storage.EventDelete,
	"expire":             storage.EventExpire,
	"metadata":           storage.EventMetadata,
	"clear":              storage.EventClear,
	"namespace_create":   storage.EventNamespaceCreate,
	"namespace_delete":   storage.EventNamespaceDelete,
	"namespace_metadata": storage.EventNamespaceMetadata,
}

// logQuery reads the change log for one watch or history call.
type logQuery struct {
	s    *Store
	c    *dialect.Compiler
	cond sq.Sqlizer // the rows that pass the options; nil: all
	omit bool       // leave out values and metadata
	// byKey: cond names the rows by revision (SQLite's keyChain), which
	// the revision bounds must not displace as the way into the log.
	byKey bool
	// chain: the namespace and key whose changes inner selects along
	// their chains (SQLite's keyChain, from inner's lower bound); nil: none.
	chain *[2]string
	// scope gives the namespaces a watch's consumer may see
	// (driver.WatchScopeOption), asked before and after each read; nil:
	// every one. asked: it was; scoped and all are its last answer, and
	// in that answer as a condition of the read (nil: every namespace).
	scope  func() ([]driver.KeyRange, bool)
	asked  bool
	scoped []driver.KeyRange
	all    bool
	in     sq.Sqlizer
}

// rescope asks scope for the namespaces of the next read and makes them
// a condition of it; it reports whether they changed.
func (lq *logQuery) rescope() bool {
	if lq.scope == nil {
		return false
	}
	rs, all := lq.scope()
	if lq.asked && all == lq.all && slices.Equal(rs, lq.scoped) {
		return false
	}
	lq.asked, lq.scoped, lq.all = true, slices.Clone(rs), all
	if all {
		lq.in = nil
	} else {
		lq.in = namespaceRanges(lq.s.Dialect(), "namespace", rs)
	}
	return true
}

// namespaceRanges is the condition that column (a namespace's name: the
// log's namespace, namespaces' name) lies in one of rs (ranges of names in
// byte order): none is false. A range of one name is an equality.
func namespaceRanges(d dialect.Name, column string, rs []driver.KeyRange) sq.Sqlizer {
	col := column
	if d == dialect.Postgres {
		col = column + ` COLLATE "C"`
	}
	var names []any
	var or sq.Or
	for _, r := range rs {
		switch {
		case r.To == r.From+"\x00":
			names = append(names, r.From)
		case r.From == "" && r.To == "":
			return sq.Expr("1=1")
		case r.From == "":
			or = append(or, sq.Expr(col+" < ?", r.To))
		case r.To == "":
			or = append(or, sq.Expr(col+" >= ?", r.From))
		default:
			or = append(or, sq.And{sq.Expr(col+" >= ?", r.From), sq.Expr(col+" < ?", r.To)})
		}
	}
	if len(names) > 0 {
		or = append(or, sq.Expr(column+" IN ("+sq.Placeholders(len(names))+")", names...))
	}
	if len(or) == 0 {
		return sq.Expr("1=0")
	}
	return or
}

// newLogQuery compiles the options of a watch (or history) call: the
// namespace (when given), the key (pattern), and the filter on puts.
func (s *Store) newLogQuery(o driver.CallOptions, key *string) (*logQuery, error) {
	c, err := dialect.NewCompiler(s.Dialect())
	if err != nil {
		return nil, err
	}
	lq := &logQuery{s: s, c: c, omit: o.OmitValues}
	var conds sq.And
	if o.Set&driver.KindNamespace != 0 || key != nil {
		conds = append(conds, sq.Expr("namespace = ?", o.Namespace.Name))
	}
	if key != nil {
		conds = append(conds, sq.Expr("key = ?", *key))
		if s.Dialect() == dialect.SQLite && !s.logScan {
			lq.chain = &[2]string{o.Namespace.Name, *key}
			lq.byKey = true
		}
	}
	if o.Set&driver.KindPattern != 0 {
		p := c.CompilePattern(o.Pattern)
		var m sq.And
		switch {
		case p.Literal:
			m = append(m, sq.Expr("key = ?", p.Prefix))
		default:
			lo, hi := dialect.KeyRange(p.Prefix)
			if lo != "" {
				m = append(m, sq.Expr("key >= ?", lo))
			}
			if hi != "" {
				m = append(m, sq.Expr("key < ?", hi))
			}
			if p.Match != nil {
				m = append(m, p.Match)
			}
		}
		if len(m) > 0 {
			conds = append(conds, sq.Or{sq.Expr("key IS NULL"), m})
		}
	}
	if o.Set&driver.KindFilter != 0 {
		w, err := c.Where(o.Filter)
		if err != nil {
			return nil, err
		}
		conds = append(conds, sq.Or{sq.Expr("kind <> 'put'"), w})
	}
	if len(conds) > 0 {
		lq.cond = conds
	}
	return lq, nil
}

// changeRow is one row of the log as read.
type changeRow struct {
	Revision, PrevRevision, Version *int64
	Kind, Namespace, Key            *string
	Value, Metadata                 []byte
	At                              time.Time
	Created, Expires                time.Time // zero: none
}

// columns of the change log as the filter compiler sees them: the entry's
// names (updated_at is the change's time; created_at the entry's creation,
// or the change's time on rows logged before migration 00012). at is the
// change's time. The select is named entries, as the table the compiler
// writes for: on SQLite its array tests (contains on an array) name their
// column entries.value or entries.metadata, which with another name
// failed every such watch with ErrCorrupt (no such column).
func (lq *logQuery) source() string {
	key := "key"
	if lq.s.Dialect() == dialect.Postgres {
		key = `key COLLATE "C" AS key`
	}
	return "(SELECT revision, kind, namespace, " + key + ", value, metadata, version, prev_revision, created_at AS at, " +
		"COALESCE(entry_created_at, created_at) AS created_at, created_at AS updated_at, entry_created_at, expires_at FROM changes) entries"
}

func (lq *logQuery) valueCols(prefix string) (string, string) {
	switch {
	case lq.omit:
		return "NULL", "NULL"
	case lq.s.Dialect() == dialect.SQLite:
		return "json(" + prefix + "value)", "json(" + prefix + "metadata)"
	}
	return prefix + "value", prefix + "metadata"
}

// inner is the select of the log rows in (after, ∞) that pass the
// options, at most limit, in revision order (descending with desc, and
// then at most through before when before > 0).
func (lq *logQuery) inner(after, before int64, limit int, desc bool) sq.SelectBuilder {
	v, m := lq.valueCols("")
	b := sq.Select("revision", "kind", "namespace", "key", v+" AS value", m+" AS metadata", "version", "prev_revision", "at",
		"entry_created_at", "expires_at").
		From(lq.source())
	rev := "revision"
	if lq.byKey {
		rev = "+revision" // not a range of the log's rowid b-tree
	}
	b = b.Where(sq.Expr(rev+" > ?", after))
	if before > 0 {
		b = b.Where(sq.Expr(rev+" <= ?", before))
	}
	if lq.chain != nil {
		b = b.Where(keyChain(lq.chain[0], lq.chain[1], after))
	}
	if lq.cond != nil {
		b = b.Where(lq.cond)
	}
	if lq.in != nil {
		b = b.Where(lq.in)
	}
	order := "revision"
	if desc {
		order = "revision DESC"
	}
	return b.OrderBy(order).Limit(uint64(limit))
}

// scanChange scans the columns revision … expires_at of a log row.
func (lq *logQuery) scanChange(r rowScanner, lead ...any) (changeRow, error) {
	var cr changeRow
	var value, md *string
	dest := append(lead, &cr.Revision, &cr.Kind, &cr.Namespace, &cr.Key)
	if lq.s.Dialect() == dialect.SQLite {
		var at, created, expires *int64
		dest = append(dest, &value, &md, &cr.Version, &cr.PrevRevision, &at, &created, &expires)
		if err := r.Scan(dest...); err != nil {
			return cr, err
		}
		cr.At, cr.Created, cr.Expires = fromOptMicros(at), fromOptMicros(created), fromOptMicros(expires)
	} else {
		var at, created, expires *time.Time
		dest = append(dest, &cr.Value, &cr.Metadata, &cr.Version, &cr.PrevRevision, &at, &created, &expires)
		if err := r.Scan(dest...); err != nil {
			return cr, err
		}
		cr.At, cr.Created, cr.Expires = optUTC(at), optUTC(created), optUTC(expires)
	}
	if value != nil {
		cr.Value = []byte(*value)
	}
	if md != nil {
		cr.Metadata = []byte(*md)
	}
	return cr, nil
}

func (cr changeRow) event() storage.Event {
	ev := storage.Event{Type: changeKinds[deref(cr.Kind)], Namespace: deref(cr.Namespace), Key: deref(cr.Key),
		Revision: *cr.Revision, At: cr.At, CreatedAt: cr.Created, ExpiresAt: cr.Expires}
	if ev.Type == "" {
		ev.Type = storage.EventType(deref(cr.Kind))
	}
	if cr.PrevRevision != nil {
		ev.PrevRevision = *cr.PrevRevision
	}
	if cr.Version != nil {
		ev.Version = *cr.Version
	}
	if len(cr.Value) > 0 {
		ev.Value = cr.Value
	}
	if len(cr.Metadata) > 0 && ev.Key != "" {
		ev.Metadata = cr.Metadata
	}
	return ev
}

// tail reads the rows after `after` that pass the query (at most limit),
// oldest first, and the log's state, from one snapshot.
func (lq *logQuery) tail(ctx context.Context, q querier, after int64, limit int) ([]storage.Event, logState, error) {
	return lq.tailThrough(ctx, q, after, 0, limit)
}

// tailThrough is tail of the changes through revision through only (0:
// no bound).
func (lq *logQuery) tailThrough(ctx context.Context, q querier, after, through int64, limit int) ([]storage.Event, logState, error) {
	evs, st, _, err := lq.read(ctx, q, lq.inner(after, through, limit, false), "c.revision", 0)
	return evs, st, err
}

// tailBytes is tail that stops reading once the events it holds reach
// maxBytes (eventSize), after the first: full reports that it stopped.
func (lq *logQuery) tailBytes(ctx context.Context, q querier, after int64, limit int, maxBytes int64) (evs []storage.Event, st logState, full bool, err error) {
	return lq.read(ctx, q, lq.inner(after, 0, limit, false), "c.revision", maxBytes)
}

// errPageFull ends a read whose events reached its byte bound.
var errPageFull = errors.New("sqlstore: page full")

// read runs the select in, joined to the log's state so that the state
// comes with the rows (and alone when there is none), in order. With
// maxBytes > 0 it stops once its events reach maxBytes (eventSize), after
// the first, and reports full.
func (lq *logQuery) read(ctx context.Context, q querier, in sq.SelectBuilder, order string, maxBytes int64) ([]storage.Event, logState, bool, error) {
	text, args, err := lq.statement(in, order)
	if err != nil {
		return nil, logState{}, false, err
	}
	var st logState
	var evs []storage.Event
	var size int64
	err = readRows(ctx, q, maxBytes > 0, text, args, func(r rowScanner) error {
		cr, err := lq.scanChange(r, &st.head, &st.compacted)
		if err != nil || cr.Revision == nil {
			return err
		}
		ev := cr.event()
		evs = append(evs, ev)
		if size += eventSize(ev); maxBytes > 0 && size >= maxBytes {
			return errPageFull
		}
		return nil
	})
	if errors.Is(err, errPageFull) {
		return evs, st, true, nil
	}
	return evs, st, false, err
}

// statement is read's statement.
func (lq *logQuery) statement(in sq.SelectBuilder, order string) (string, []any, error) {
	text, args, err := in.ToSql()
	if err != nil {
		return "", nil, err
	}
	return sq.Select(headSQL(lq.s.Dialect()), "s.compacted_through",
		"c.revision", "c.kind", "c.namespace", "c.key", "c.value", "c.metadata", "c.version", "c.prev_revision", "c.at",
		"c.entry_created_at", "c.expires_at").
		From("change_log_state s").
		JoinClause(sq.Expr("LEFT JOIN ("+text+") c ON 1=1", args...)).
		Where("s.id = 1").OrderBy(order).PlaceholderFormat(lq.c.PlaceholderFormat()).ToSql()
}

// WithWatchBuffer sets how many events a watch holds for a consumer that
// has not taken them yet (default DefaultWatchBuffer). A consumer that
// leaves the buffer full for DefaultWatchPatience while more events wait
// is cut off with storage.ErrWatchLagged and resumes from its last
// revision: a slow consumer never makes writers wait, and never makes the
// store hold more than this many events for it.
func WithWatchBuffer(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return errors.New("sqlstore: WithWatchBuffer: want > 0")
		}
		c.watchBuffer = n
		return nil
	}
}

// WithWatchBufferBytes bounds the events a watch holds for a consumer that
// has not taken them yet by their size too (default
// DefaultWatchBufferBytes): keys, values and metadata, plus a fixed
// overhead per event. An event larger than the bound is held alone. A
// consumer that leaves no room for the next event for
// DefaultWatchPatience is cut off with storage.ErrWatchLagged, as with a
// full WithWatchBuffer: a slow consumer of large values never makes the
// store hold more than this, plus one read of the log (at most 256
// changes, fewer when the last read's events were large).
func WithWatchBufferBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return errors.New("sqlstore: WithWatchBufferBytes: want > 0")
		}
		c.watchBufferBytes = n
		return nil
	}
}

// eventSize is what an event counts against WithWatchBufferBytes.
func eventSize(ev storage.Event) int64 {
	return int64(len(ev.Namespace)+len(ev.Key)+len(ev.Value)+len(ev.Metadata)) + eventOverhead
}

// eventOverhead is the fixed size counted for an event (its struct and
// the channel's slot, roughly).
const eventOverhead = 128

// WithWatchPollInterval sets how often a store with watchers scans its
// change log (its current revision and the namespaces of the changes since
// the last scan) to find changes it was not woken for (default
// DefaultWatchPollInterval): on SQLite the writes of other processes on the
// same file (the store's own writes wake its watchers at once), on
// PostgreSQL changes whose notification was lost, or every change when the
// store does not LISTEN. It bounds the latency of those changes.
func WithWatchPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("sqlstore: WithWatchPollInterval: want > 0")
		}
		c.watchPoll = d
		return nil
	}
}

// WithWatchPollingOnly makes a PostgreSQL store find changes by polling
// alone, without a LISTEN connection (for servers or poolers where LISTEN
// is not available).
func WithWatchPollingOnly() Option {
	return func(c *config) error {
		c.watchPollOnly = true
		return nil
	}
}

// Watch implements storage.Watcher.
//
// Each watch reads the change log on a goroutine of its own into a buffer
// of WithWatchBuffer events, and reads again when the store's own writes,
// a PostgreSQL notification (LISTEN on the direct DSN, or on the DSN), or
// the poller (WithWatchPollInterval) say the log grew. A read holds no
// connection and no snapshot while the consumer works. Namespace, pattern
// and filter are conditions of the read, in SQL, and so is the scope of
// driver.WatchScopeOption (the namespaces a security layer's caller may
// read, asked before and after each read): a watch reads only the changes
// it may deliver, not the whole store's for a layer above to drop.
func (s *Store) Watch(ctx context.Context, opts ...storage.Option) iter.Seq2[storage.Event, error] {
	return func(yield func(storage.Event, error) bool) {
		const op = "watch"
		o, err := s.start(ctx, op, "", driver.KindNamespace|driver.KindPattern|driver.KindFilter|driver.KindRevision|driver.KindOmitValues|driver.KindOnStart|driver.KindWatchScope, opts)
		if err == nil && o.Set&driver.KindRevision != 0 && !o.RevisionFrom {
			err = s.failCtx(ctx, op, "", "", driver.Invalidf(storage.ErrInvalidOption, "watch takes FromRevision, not AtRevision"))
		}
		if err != nil {
			yield(storage.Event{}, err)
			return
		}
		ns := ""
		if o.Set&driver.KindNamespace != 0 {
			ns = o.Namespace.Name
		}
		lq, err := s.newLogQuery(o, nil)
		if err != nil {
			yield(storage.Event{}, s.failCtx(ctx, op, ns, "", err))
			return
		}
		lq.scope = o.WatchScope
		done := s.feed.add()
		defer done()
		st, err := s.logState(ctx, s.eng.reader())
		if err != nil {
			yield(storage.Event{}, s.failCtx(ctx, op, ns, "", err))
			return
		}
		last := st.head
		if o.Set&driver.KindRevision != 0 {
			last = o.Revision
			if last == 0 {
				last = st.compacted // FromRevision(0): every retained change
			} else if err := checkFrom(last, st); err != nil {
				yield(storage.Event{}, s.failCtx(ctx, op, ns, "", err))
				return
			}
		}
		if o.OnStart != nil {
			o.OnStart(last)
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w := &watch{s: s, lq: lq, ns: ns, ch: make(chan storage.Event, s.cfg.watchBuffer), last: last,
			budget: s.cfg.watchBufferBytes, taken: make(chan struct{}, 1)}
		go w.run(wctx)
		delivered := last
		for ev := range w.ch {
			w.held.Add(-eventSize(ev))
			select {
			case w.taken <- struct{}{}:
			default:
			}
			if !yield(ev, nil) {
				cancel()
				for range w.ch { //nolint:revive // drain until the reader stops
				}
				return
			}
			delivered = ev.Revision
		}
		if w.err == nil || ctx.Err() != nil {
			return
		}
		if errors.Is(w.err, storage.ErrWatchLagged) {
			w.err = &storage.LaggedError{Last: delivered}
		}
		yield(storage.Event{}, s.failCtx(ctx, op, ns, "", w.err))
	}
}

// checkFrom checks a FromRevision against the log.
func checkFrom(from int64, st logState) error {
	if from < st.compacted {
		return compacted(from, st)
	}
	if from > st.head {
		return &storage.FutureRevisionError{Requested: from, Current: st.head}
	}
	return nil
}

// watch is one running watch: run reads the log into ch, closes ch when
// it stops, and leaves the reason in err (nil when its context ended).
type watch struct {
	s    *Store
	lq   *logQuery
	ns   string // the namespace watched (InNamespace); "": several or all
	ch   chan storage.Event
	last int64 // every change through last has been read
	err  error // set before ch is closed
	// window is how many revisions after last the next read covers at
	// most (watchWindow; 0 until the first read).
	window int64

	// held is the size of the events in ch (eventSize), at most budget
	// unless one event is larger; the consumer signals taken when it
	// takes one.
	held   atomic.Int64
	budget int64
	taken  chan struct{}
}

// watches reports whether the watch may deliver changes of namespace ns
// (by its namespace and its scope, as last asked; not by its pattern or
// filter).
func (w *watch) watches(ns string) bool {
	switch {
	case w.ns != "":
		return ns == w.ns
	case w.lq.scope == nil || w.lq.all:
		return true
	}
	return inRanges(w.lq.scoped, ns)
}

// room waits until the buffer has room for an event of the given size by
// bytes (or is empty), at most patience: false when it ran out (w.err is
// then ErrWatchLagged) or ctx ended.
func (w *watch) room(ctx context.Context, size int64, patience time.Duration) bool {
	fits := func() bool { h := w.held.Load(); return h == 0 || h+size <= w.budget }
	if fits() {
		return true
	}
	t := time.NewTimer(patience)
	defer t.Stop()
	for {
		select {
		case <-w.taken:
			if fits() {
				return true
			}
		case <-t.C:
			if fits() {
				return true
			}
			w.lagged()
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// lagged cuts the consumer off.
func (w *watch) lagged() {
	w.err = storage.ErrWatchLagged
	if f := w.s.cfg.watchLagged; f != nil {
		f()
	}
}

func (w *watch) run(ctx context.Context) {
	defer close(w.ch)
	patience := w.s.cfg.watchPatience
	var avg int64      // the mean size of the last read's events
	var read time.Time // when the last read began
	var wake wakes
	defer func() { w.s.feed.drop(wake) }()
	for {
		// The scope first: the watch waits for the signals of the
		// namespaces it reads (a scope that changes after is read again
		// below, or found by sleep).
		_ = w.lq.rescope()
		wake = w.s.feed.wait(wake, w.ns, w.scoped(), w.lq.scoped)
		// Under a steady stream of writes, read at most once per pause
		// (WithWatchReadInterval): every write wakes every watch of the
		// whole store, and a read per write per watch let a few idle
		// watches cut every writer's throughput several times over.
		if gap := w.s.feed.readPause(w.s.cfg.watchReadGap) - time.Since(read); gap > 0 {
			t := time.NewTimer(gap)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		read = time.Now()
		w.s.feed.reads.Add(1)
		// Read no more than the buffer has room for, by count and by
		// bytes at the last read's mean size (at least one, to learn
		// whether more is waiting).
		limit := min(watchBatch, max(cap(w.ch)-len(w.ch), 1))
		if avg > 0 {
			limit = min(limit, int(max(1, (w.budget-w.held.Load())/avg)))
		}
		// A place among the watch reads (watchReadPlaces) first, in
		// turn with the other actors' watches (readGate).
		if !w.s.watchReads.acquire(ctx) {
			return
		}
		if w.window == 0 {
			w.window = watchWindowStart
		}
		through := w.last + w.window
		began := time.Now()
		evs, st, err := w.lq.tailThrough(ctx, w.s.eng.reader(), w.last, through, limit)
		w.s.watchReads.release()
		w.fitWindow(time.Since(began))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.err = err
			return
		}
		// A scope that changed during the read (a grant given or taken
		// away) may have left out changes committed after the change:
		// read them again under the new one. So every change committed
		// after a scope changed is read under a scope asked after it.
		if w.lq.rescope() {
			continue
		}
		if st.compacted > w.last {
			// An idle watch of one namespace or of a scope is not woken
			// by the writes of others, so its position stays behind them:
			// it has missed nothing when the scanner saw no change of its
			// namespaces between its position and past the compaction.
			if q, _ := w.s.feed.quietThrough(w.ns, w.last, w.quietWatches()); q >= st.compacted {
				w.last = q
				continue
			}
			// A watch that keeps up may still find the log compacted
			// past its position when the changes between are many and
			// the retention small: it has lost nothing when the store's
			// compactions removed none of its changes after its position.
			// The events read are those after compacted_through, from
			// the same snapshot: they follow at once.
			if !w.s.feed.lostNone(w.last, st.compacted, w.watches) {
				w.err = compacted(w.last, st)
				return
			}
			w.last = st.compacted
		}
		w.s.feed.events.Add(int64(len(evs)))
		if len(evs) > 0 {
			avg = 0
			for _, ev := range evs {
				avg += eventSize(ev)
			}
			avg /= int64(len(evs))
		}
		for _, ev := range evs {
			size := eventSize(ev)
			if !w.room(ctx, size, patience) {
				return
			}
			w.held.Add(size)
			select {
			case w.ch <- ev:
				continue
			default:
			}
			// The buffer is full: the consumer has patience to take one.
			t := time.NewTimer(patience)
			select {
			case w.ch <- ev:
				t.Stop()
			case <-t.C:
				w.lagged()
				return
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		if len(evs) == limit {
			w.last = evs[len(evs)-1].Revision
			continue
		}
		if through < st.head {
			// The window ended before the head: every change through
			// its end has been read, the next read goes on from there.
			w.last = max(w.last, through)
			continue
		}
		w.last = max(w.last, st.head)
		if !w.sleep(ctx, wake) {
			return
		}
	}
}

// fitWindow sizes the next read's window by how long the last read took
// (watchReadTarget).
func (w *watch) fitWindow(took time.Duration) {
	switch {
	case took > watchReadTarget:
		w.window = max(watchWindowMin, w.window/2)
	case took < watchReadTarget/4:
		w.window = min(watchWindow, w.window*2)
	}
}

// sleep waits for a wake-up that concerns the watch: false when it must
// stop (w.err says why, nil when ctx ended). A watch of one namespace or
// of a scope that the scanner's next scan finds no change of moves its
// position past the scan without reading the log, so that an idle watch
// does not fall behind the log's compaction; one whose scope changed
// (a grant given while it waits) reads under the new scope, so that the
// writes to a namespace it may now read reach it within a scan, though
// they do not wake it.
func (w *watch) sleep(ctx context.Context, wk wakes) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-w.s.feed.stop:
			w.err = storage.ErrClosed
			return false
		case <-wk.mine:
			return true
		case <-wk.other:
			return true
		case <-wk.quiet:
			if w.scoped() && w.lq.rescope() {
				return true
			}
			last, pending := w.s.feed.quietThrough(w.ns, w.last, w.quietWatches())
			if pending {
				return true
			}
			w.last = last
			wk.quiet = w.s.feed.quietCh()
		}
	}
}

// scoped reports whether the watch reads the namespaces of a scope
// (driver.WatchScopeOption, as last asked), not one namespace nor the
// whole store.
func (w *watch) scoped() bool {
	return w.ns == "" && w.lq.scope != nil && !w.lq.all
}

// quietWatches is the watch's namespaces for feed.quietThrough: nil for a
// watch of the whole store.
func (w *watch) quietWatches() func(ns string) bool {
	if w.ns == "" && !w.scoped() {
		return nil
	}
	return w.watches
}

// optUTC is *t in UTC, the zero time for nil.
func optUTC(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
