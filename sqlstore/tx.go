package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/txmanager"
)

// Begin starts a transaction. Its ID finds it again with LookupTx; it is
// rolled back if it stays idle longer than the store's idle timeout
// (WithTxIdleTimeout), and when the store closes.
//
// On SQLite a read-write transaction holds the single writer connection
// from Begin to its end, so other writes wait for it (bounded by their
// contexts); a read-only transaction reads a snapshot on a reader
// connection. On PostgreSQL each transaction holds one pooled connection.
// A read-only Begin on a SQLite file may wait a moment (at most about 5 s
// and the checkpoint's time) while the store empties a WAL past 64 MiB:
// see the package documentation, WAL.
func (s *Store) Begin(ctx context.Context, opts storage.TxOptions) (storage.Tx, error) {
	const op = "begin"
	if _, err := s.start(ctx, op, "", 0, nil); err != nil {
		return nil, err
	}
	if opts.Isolation < storage.LevelDefault || opts.Isolation > storage.LevelSerializable {
		return nil, s.failCtx(ctx, op, "", "", driver.Invalidf(storage.ErrInvalidOption, "unknown isolation level %d", int(opts.Isolation)))
	}
	if !opts.ReadOnly {
		if err := s.writable(op, ""); err != nil {
			return nil, err
		}
	}
	slot, err := s.txs.ReserveFor(storage.ActorFromContext(ctx))
	if err != nil {
		return nil, s.failCtx(ctx, op, "", "", err)
	}
	gate, conn, err := s.beginConn(ctx, opts)
	if err != nil {
		s.txs.ReleaseSlot(slot)
		return nil, s.failCtx(ctx, op, "", "", err)
	}
	t := &sqlTx{
		s:    s,
		id:   txmanager.NewID(),
		iso:  s.eng.dialect().Isolation(opts.Isolation),
		ro:   opts.ReadOnly,
		conn: conn,
		gate: gate,
	}
	t.ops = ops{s: s, sc: t}
	now := time.Now().UnixNano()
	t.placeSince = now
	t.idleSince.Store(now)
	t.noteHeld(now) // SQLite's writer, from Begin
	if err := s.txs.AddSlot(ctx, slot, t); err != nil {
		return nil, s.failCtx(ctx, op, "", "", err)
	}
	return t, nil
}

// beginConn starts the database transaction of Begin with a place in the
// gate it counts against: a read-only one on SQLite's readers, or on the
// standby of WithReplica when it is usable (going to the primary if the
// standby fails to begin one); any other in txConns.
func (s *Store) beginConn(ctx context.Context, opts storage.TxOptions) (*txGate, txConn, error) {
	gate := s.txConns
	r, routed := s.eng.(replicaRouter)
	onReplica := false
	if opts.ReadOnly && s.roConns != nil {
		if !routed {
			gate = s.roConns
		} else if onReplica = r.onReplica(ctx, opts); onReplica {
			gate = s.roConns
		}
	}
	if err := acquire(ctx, gate); err != nil {
		return nil, nil, err
	}
	if onReplica {
		conn, err := r.beginReplica(ctx, opts)
		if err == nil {
			return gate, conn, nil
		}
		release(gate)
		if ctx.Err() != nil {
			return nil, nil, err
		}
		r.replicaFailed(err)
		gate = s.txConns
		if err := acquire(ctx, gate); err != nil {
			return nil, nil, err
		}
	}
	conn, err := s.eng.begin(ctx, opts)
	if err != nil {
		release(gate)
		return nil, nil, err
	}
	return gate, conn, nil
}

// acquire takes a place in gate (nil: no bound), waiting for one as long
// as ctx allows: a transaction that cannot get a connection of its own
// without taking the last ones the calls outside transactions use waits,
// then fails with ErrTooManyTx.
func acquire(ctx context.Context, gate *txGate) error {
	if gate == nil {
		return nil
	}
	gate.mu.Lock()
	if gate.used < gate.places && len(gate.queue) == 0 {
		gate.used++
		gate.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	gate.queue = append(gate.queue, ready)
	gate.waiting.Store(int64(len(gate.queue)))
	gate.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
	}
	gate.mu.Lock()
	defer gate.mu.Unlock()
	select {
	case <-ready:
		// Handed a place as ctx ended: the next waiter takes it.
		gate.releaseLocked()
	default:
		gate.queue = slices.DeleteFunc(gate.queue, func(c chan struct{}) bool { return c == ready })
		gate.waiting.Store(int64(len(gate.queue)))
	}
	return fmt.Errorf("%w: every connection transactions may hold is in use (%d)", storage.ErrTooManyTx, gate.places)
}

// release gives back a place acquire took.
func release(gate *txGate) {
	if gate != nil {
		gate.mu.Lock()
		gate.releaseLocked()
		gate.mu.Unlock()
	}
}

// txGate is a bound on the connections transactions hold (Store.txConns,
// roConns): places of them at most. waiting counts the Begins waiting
// for one (WithTxContendedIdleTimeout, WithTxContendedMaxHold), read
// without mu: a place given back goes to the first waiter at once, and
// that waiter stops counting then, not when its goroutine next runs, so
// that the reaper, which rolls back one transaction per pass while a
// Begin waits, does not roll back another for a Begin already served
// (on a loaded machine the waiter may not run for several passes).
type txGate struct {
	places  int
	waiting atomic.Int64

	mu    sync.Mutex
	used  int             // places taken
	queue []chan struct{} // the waiting Begins, first come first; closed when given a place
}

func newTxGate(n int) *txGate { return &txGate{places: n} }

// releaseLocked gives a place back, to the first waiter if any. mu must
// be held.
func (g *txGate) releaseLocked() {
	if len(g.queue) == 0 {
		g.used--
		return
	}
	close(g.queue[0])
	g.queue = g.queue[1:]
	g.waiting.Store(int64(len(g.queue)))
}

// LookupTx returns the open transaction with this ID, or ErrTxNotFound.
func (s *Store) LookupTx(id string) (storage.Tx, error) {
	if s.closed.Load() {
		return nil, s.fail("lookupTx", "", "", storage.ErrClosed)
	}
	m, err := s.txs.Lookup(id)
	if err != nil {
		return nil, s.fail("lookupTx", "", "", err)
	}
	return m.(*sqlTx), nil
}

// sqlTx is a transaction of a Store. Its operations run one at a time.
type sqlTx struct {
	ops // the data operations, on this transaction (sc is the sqlTx itself)
	s   *Store
	id  string
	iso storage.IsolationLevel
	ro  bool

	// idleSince is when the last operation ended (unix nanoseconds), 0
	// while one runs. The idle reaper reads it without taking mu.
	idleSince atomic.Int64
	// heldSince is when it took what other writers wait for (unix
	// nanoseconds; blocker.holds), 0 until then; opStart is when the
	// running operation began (mu held).
	heldSince atomic.Int64
	opStart   int64

	// cancelOp ends the running operation's context (Interrupt); nil
	// while none runs, or when the store has no WithTxContendedMaxHold.
	cancelOp atomic.Pointer[context.CancelCauseFunc]

	gate       *txGate // the place it holds in Store.txConns or roConns, if any
	placeSince int64   // when it took that place (unix nanoseconds)

	// ids caches the namespace ids read inside the transaction (nsid.go):
	// they may name namespaces it created, which a rollback removes.
	ids nsIDCache

	mu        sync.Mutex // serializes operations; protects the fields below
	conn      txConn
	done      bool
	committed bool
	// wrote are the namespaces its writes went to, whose watches its
	// commit wakes; wroteAll: a write of unknown or every namespace
	// (then the commit wakes every watch).
	wrote    map[string]struct{}
	wroteAll bool
	// changes is about how many changes its writes added, which its
	// commit counts for the compaction assist (wroteChanges).
	changes int
	// writeStarted: a write operation started in it (startWrite), which
	// may have reached the database whatever it answered.
	writeStarted bool
}

var (
	_ storage.Tx        = (*sqlTx)(nil)
	_ scope             = (*sqlTx)(nil)
	_ txmanager.Managed = (*sqlTx)(nil)
	_ txmanager.Blocker = (*sqlTx)(nil)
	_ txmanager.Holder  = (*sqlTx)(nil)
)

func (t *sqlTx) ID() string                        { return t.id }
func (t *sqlTx) Isolation() storage.IsolationLevel { return t.iso }
func (t *sqlTx) ReadOnly() bool                    { return t.ro }

// IdleSince implements txmanager.Managed.
func (t *sqlTx) IdleSince() time.Time {
	ns := t.idleSince.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// blocker is what a txConn implements when it can hold what other writers
// wait for: holds reports whether it holds it now (t.mu held), waited
// whether another writer waits for the store's writer or revision lock.
type blocker interface {
	holds() bool
	waited(ctx context.Context) bool
}

// Blocking implements txmanager.Blocker (WithTxContendedIdleTimeout): it
// holds a place another Begin waits for (txGate), or it writes and holds
// what another writer waits for. A transaction running an operation is
// not idle: false.
func (t *sqlTx) Blocking(ctx context.Context) bool {
	if !t.mu.TryLock() {
		return false
	}
	if t.done {
		t.mu.Unlock()
		return false
	}
	if t.gate != nil && t.gate.waiting.Load() > 0 {
		t.mu.Unlock()
		return true
	}
	b, ok := t.conn.(blocker)
	held := !t.ro && ok && b.holds()
	t.mu.Unlock()
	return held && b.waited(ctx)
}

// ContendedSince implements txmanager.Holder (WithTxContendedMaxHold):
// since Begin if it holds a place another Begin waits for (txGate), or
// since it took SQLite's writer or PostgreSQL's revision lock if another
// writer waits, or has waited, for it; the earlier of the two; zero if
// neither. It reads only what Begin set and atomics: an operation may be
// running.
func (t *sqlTx) ContendedSince(ctx context.Context) time.Time {
	var since int64
	if t.gate != nil && t.gate.waiting.Load() > 0 {
		since = t.placeSince
	}
	if held := t.heldSince.Load(); held != 0 && (since == 0 || held < since) {
		if b, ok := t.conn.(blocker); ok && !t.ro && b.waited(ctx) {
			since = held
		}
	}
	if since == 0 {
		return time.Time{}
	}
	return time.Unix(0, since)
}

// noteHeld records when the transaction took what other writers wait
// for: at the start of the operation after which it first holds it (on
// SQLite, Begin). t.mu must be held.
func (t *sqlTx) noteHeld(since int64) {
	if t.ro || t.heldSince.Load() != 0 {
		return
	}
	if b, ok := t.conn.(blocker); ok && !t.done && b.holds() {
		t.heldSince.Store(since)
	}
}

// scope, for the embedded ops. mu is held whenever these run.

func (t *sqlTx) reader() querier { return t.conn.q() }
func (t *sqlTx) writer() querier { return t.conn.q() }
func (t *sqlTx) readOnly() bool  { return t.ro }

func (t *sqlTx) localIDs() *nsIDCache { return &t.ids }

func (t *sqlTx) atomic(ctx context.Context, fn func(q querier) error) error {
	return t.conn.savepoint(ctx, fn)
}

func (t *sqlTx) usable() error {
	switch {
	case t.done:
		return storage.ErrTxDone
	case t.s.closed.Load():
		return storage.ErrClosed
	}
	return nil
}

// wroteIn notes a write of namespace ns ("": unknown), of n changes, for
// the commit's wake-up and the compaction assist. mu is held.
func (t *sqlTx) wroteIn(ns string, n int) {
	t.changes += n
	if ns == "" {
		t.wroteAll = true
		return
	}
	if t.wrote == nil {
		t.wrote = make(map[string]struct{})
	}
	t.wrote[ns] = struct{}{}
}

// enter starts an operation; leave ends it. An operation whose context ends
// while it runs rolls the transaction back: the database may have been
// interrupted mid-statement, so nothing after it could be trusted.
// enter begins an operation: the context it runs with, which Interrupt
// ends when the store bounds how long a transaction holds what others
// wait for (WithTxContendedMaxHold).
func (t *sqlTx) enter(ctx context.Context) context.Context {
	t.mu.Lock()
	t.idleSince.Store(0)
	if !t.ro && t.heldSince.Load() == 0 {
		t.opStart = time.Now().UnixNano() // for noteHeld
	}
	if t.s.cfg.txMaxHold > 0 {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		t.cancelOp.Store(&cancel)
	}
	return ctx
}

// leave ends the operation enter began with ctx, whose error is *err.
func (t *sqlTx) leave(ctx context.Context, err *error) {
	inTxError(*err)
	if *err != nil && ctx.Err() != nil {
		endedCall(*err, ctx.Err())
		if errors.Is(context.Cause(ctx), errTxInterrupted) {
			var oe *storage.OpError
			if errors.As(*err, &oe) {
				oe.Err = errTxInterrupted
			} else {
				*err = errTxInterrupted
			}
		}
		if !t.done {
			_ = t.end(ctx, false) // the operation's error is what the caller needs
		}
	}
	if cancel := t.cancelOp.Swap(nil); cancel != nil {
		(*cancel)(nil)
	}
	t.noteHeld(t.opStart)
	t.idleSince.Store(time.Now().UnixNano())
	t.mu.Unlock()
}

// errTxInterrupted is the error of an operation that Interrupt ended.
var errTxInterrupted = fmt.Errorf("%w: it was rolled back while this operation ran, having held what other writers (or a Begin) waited for longer than the store allows", storage.ErrTxDone)

var _ txmanager.Interrupter = (*sqlTx)(nil)

// Interrupt implements txmanager.Interrupter: it ends the running operation's
// context (enter), which rolls the transaction back.
func (t *sqlTx) Interrupt() {
	if cancel := t.cancelOp.Load(); cancel != nil {
		(*cancel)(errTxInterrupted)
	}
}

// end finishes the transaction. t.mu must be held.
func (t *sqlTx) end(ctx context.Context, commit bool) error {
	var err error
	if commit {
		err = t.conn.commit(ctx)
	} else {
		err = t.conn.rollback(ctx)
	}
	t.done = true
	t.committed = commit && err == nil
	release(t.gate)
	t.s.txs.Remove(t.id)
	return err
}

// Commit commits the transaction. Committing again after a successful
// commit returns nil; committing after a rollback (by the caller, the idle
// timeout or Close) returns ErrTxDone. A commit that the database refused
// to keep the transaction isolated is ErrTxConflict; one whose outcome is
// unknown because the connection failed is ErrCommitUnknown (that of a
// transaction that wrote nothing, read-only or not, is known:
// ErrUnavailable, or the context's error when ctx ended while its COMMIT
// was in flight). Under a ctx that has already ended nothing is committed:
// the transaction rolls back and the answer is the context's error, on
// both dialects.
func (t *sqlTx) Commit(ctx context.Context) error {
	const op = "commit"
	// The watches of what it wrote wake once the commit is over (a
	// commit whose outcome is unknown too).
	var all bool
	var nss []string
	var changes int // what the commit added, once it did
	defer func() {
		switch {
		case all:
			t.s.feed.signal()
		case len(nss) > 0:
			t.s.feed.signalIn(nss...)
		}
		if changes > 0 {
			t.s.wroteChanges(ctx, changes)
		}
	}()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.done {
		all, nss = t.wroteAll, slices.Collect(maps.Keys(t.wrote))
	}
	if t.done {
		if t.committed {
			return nil
		}
		return t.s.fail(op, "", "", storage.ErrTxDone)
	}
	err := t.end(ctx, true)
	if err == nil {
		changes = t.changes
		return nil
	}
	// A COMMIT cut short by its caller's context is the context's error
	// when the outcome is known (a transaction's that wrote nothing:
	// commitError's ErrUnavailable), as for every operation whose
	// caller gave up; an unknown outcome stays ErrCommitUnknown.
	return t.s.failCtx(ctx, op, "", "", t.commitError(err))
}

// commitError classifies a failed COMMIT.
func (t *sqlTx) commitError(err error) error {
	d := t.s.eng.dialect()
	var rb rolledBack
	if d.Name() != dialect.Postgres {
		return err // SQLite commits locally: the outcome is known
	} else if errors.As(err, &rb) {
		return rb.err // settled: it rolled back
	}
	cerr := pgCommitError(err)
	var de *dbError
	if !t.wroteAny() && errors.As(cerr, &de) && errors.Is(de.sentinel, storage.ErrCommitUnknown) {
		// The transaction wrote nothing (read-only, or no write of it took
		// the revision lock, which every write statement takes first):
		// whatever became of its COMMIT, nothing was kept. The outcome is
		// known.
		return &dbError{storage.ErrUnavailable, "the connection failed while committing a transaction that wrote nothing", err}
	}
	return cerr
}

// wroteAny reports whether a write of the transaction may have changed the
// database: whether a write operation started in it (startWrite, which
// every write of a transaction goes through before its statements, the
// revision lock's included). mu is held.
func (t *sqlTx) wroteAny() bool {
	return !t.ro && t.writeStarted
}

// pgCommitError classifies a failed PostgreSQL COMMIT: the server's answer
// (a conflict, a constraint) as it is, an error raised before anything was
// sent as it is (the transaction did not commit), anything else as
// ErrCommitUnknown. pgx's "conn closed" says it is safe to retry, but it is
// also what pgx returns when the connection closed while it read COMMIT's
// answer (the server commits, says a warning, and goes away, as a primary
// shutting down during a synchronous-replication wait does): unknown. So is
// a PANIC (the server crashed while it committed: its WAL's disk full, say),
// which may have come after the commit record was written.
func pgCommitError(err error) error {
	var pe *pgconn.PgError
	switch {
	case commitRolledBack(err):
		// An earlier statement had aborted the transaction: the server
		// rolled it back, a known outcome.
		return &dbError{storage.ErrTxConflict, "an earlier error aborted the transaction, which rolled back", err}
	case errors.As(err, &pe) && !connectionFatal(pe.Code) && !serverPanicked(pe):
		return err // the server answered: fail decides conflict or not
	case pgconn.SafeToRetry(err) && !errors.Is(err, pgconn.ErrConnClosed):
		return err // nothing was sent: the transaction did not commit
	}
	return &dbError{storage.ErrCommitUnknown, "the connection failed while committing", err}
}

// connectionFatal reports SQLSTATEs that end the connection (class 08,
// connection exception; 57P01-57P05, operator intervention). Received for a
// COMMIT they leave its outcome unknown: be conservative.
func connectionFatal(code string) bool {
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "57P")
}

// Rollback rolls the transaction back. It is safe after Commit and safe to
// call twice: both are no-ops.
func (t *sqlTx) Rollback(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil
	}
	if err := t.end(ctx, false); err != nil {
		return t.s.fail("rollback", "", "", err)
	}
	return nil
}

// The data operations, one at a time.

func (t *sqlTx) Get(ctx context.Context, key string, opts ...storage.Option) (e storage.Entry, err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.Get(ctx, key, opts...)
}

func (t *sqlTx) Set(ctx context.Context, key string, value any, opts ...storage.Option) (err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.Set(ctx, key, value, opts...)
}

func (t *sqlTx) Delete(ctx context.Context, key string, opts ...storage.Option) (err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.Delete(ctx, key, opts...)
}

func (t *sqlTx) Has(ctx context.Context, key string, opts ...storage.Option) (ok bool, err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.Has(ctx, key, opts...)
}

func (t *sqlTx) GetMany(ctx context.Context, keys []string, opts ...storage.Option) (r storage.GetManyResult, err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.GetMany(ctx, keys, opts...)
}

func (t *sqlTx) SetMany(ctx context.Context, items []storage.Item, opts ...storage.Option) (r storage.BatchResult, err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.SetMany(ctx, items, opts...)
}

func (t *sqlTx) DeleteMany(ctx context.Context, keys []string, opts ...storage.Option) (r storage.BatchResult, err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.DeleteMany(ctx, keys, opts...)
}

func (t *sqlTx) GetMetadata(ctx context.Context, key string, opts ...storage.Option) (m storage.Metadata, err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.GetMetadata(ctx, key, opts...)
}

func (t *sqlTx) SetMetadata(ctx context.Context, key string, md any, opts ...storage.Option) (err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.SetMetadata(ctx, key, md, opts...)
}

func (t *sqlTx) Clear(ctx context.Context, opts ...storage.Option) (err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.Clear(ctx, opts...)
}

func (t *sqlTx) List(ctx context.Context, opts ...storage.Option) (r storage.ListResult, err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.List(ctx, opts...)
}

func (t *sqlTx) Query(ctx context.Context, f storage.Filter, opts ...storage.Option) (r storage.QueryResult, err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.Query(ctx, f, opts...)
}

func (t *sqlTx) Count(ctx context.Context, opts ...storage.Option) (n int64, err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.Count(ctx, opts...)
}

// History is storage.Historian's, one operation of the transaction like
// the others: it reads the change log in the transaction's snapshot, and
// a context that ends while it runs rolls the transaction back.
func (t *sqlTx) History(ctx context.Context, key string, opts ...storage.Option) (evs []storage.Event, err error) {
	ctx = t.enter(ctx)
	defer func() { t.leave(ctx, &err) }()
	return t.ops.History(ctx, key, opts...)
}
