package sqlstore

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/pgdb"
)

// Revisions on PostgreSQL.
//
// Every change gets the next revisions of the store-wide sequence
// storage_revision (migrations/postgres/00010_revision_sequence.sql), and
// revisions must become visible in commit order: a reader that has seen
// revision r must never later see a new revision below r. So a write takes
// a transaction-scoped advisory lock (pg_advisory_xact_lock of the store's key, pgEngine.lockKey)
// before it takes revisions, and holds it until its transaction ends:
// writers that change the store commit one at a time, in the order of
// their revisions. The lock is transaction-scoped, so it works through a
// pooler in transaction mode, and it is taken as late as is correct: by
// the statement of the first write of a transaction (a transaction that
// only reads never takes it), which is where the transaction's first
// revision is given.
//
// revDB sends the lock and the write together, as one batch (one round
// trip, one Sync; outside a transaction the two run in one implicit
// transaction; through pgconn, pgexec.go, or pgx's pipelined batch), so under read committed the write's snapshot is taken
// after the lock is granted and sees every earlier revision. Taking it
// again in the same transaction costs nothing more than the statement.
//
// A sequence is not subject to snapshots (up to schema version 9 the
// revisions came from a counter row read FOR UPDATE, so a repeatable-read
// or serializable transaction failed with a serialization failure whenever
// any writer had committed after its snapshot, whatever it wrote): a
// repeatable-read transaction now conflicts only over the rows it reads
// and writes, as it would without revisions. A write takes exactly the
// revisions of the rows it changes (none when it changes nothing), in the
// statement that changes them. A sequence does not roll back, so the
// first take of a transaction asks whether the last taker (which held the
// lock until it ended) committed, with pg_xact_status, and gives a rolled
// back taker's revisions again: committed revisions stay consecutive (but
// for a savepoint rolled back in a transaction that commits; see the
// migration). The store's current revision is the highest committed one,
// the last of the change log (the sequence's value may be a revision
// still uncommitted): a watcher that has read up to it misses nothing.
//
// Written and Set-in-a-transaction report the revision the write took,
// which is the revision it commits with, because the revision is final
// when it is taken: the lock is held from there to the commit.
//
// The cost: writes that change the store are serialized from their first
// write to their commit, on top of the row locks they take anyway. A
// single write holds the lock for one statement and its commit; a
// transaction holds it from its first write to its end, so keep write
// transactions short (their idle timeout bounds the worst case).
//
// Considered and not done: taking revisions at commit (writes stamped with
// a provisional marker, revisions given by one last statement under the
// lock just before COMMIT) would hold the lock for one statement and the
// commit only. But a write in a transaction could no longer report its
// revision (Written, the revision returned by Set in a transaction, and
// IfRevision chains inside a transaction would need a second,
// commit-time answer), every row and change written would be written
// twice, and a serializable transaction that fails at COMMIT would have
// taken its revisions anyway. The sequence removes the conflicts, which
// were the measured cost (bench/results/2026-12-01-revisions.md).

// The lock's key is the store's own: 0x6d7963656c696102 ("mycelia" in
// ASCII, then 0x02) XOR the oid of the store's storage_revision sequence
// (migration 00026), which the engine reads once at Open
// (storage_revision_lock_key(): pgEngine.lockKey) and storage_take_revisions
// takes too. Up to schema version 25 the key was that constant, the same in
// every schema: stores in two schemas of one database wrote one at a time.

// storeKeysSQL reads the store's revision lock key and its notification
// channel (migration 00027, feed.go).
const storeKeysSQL = "SELECT storage_revision_lock_key(), storage_notify_channel()"

const revisionLockSQL = "SELECT pg_advisory_xact_lock($1::bigint)"

// revisionLockTimedSQL takes the lock with the transaction's lock_timeout
// set to what is left of the caller's context ($2, in milliseconds; 0:
// none). A write whose caller gave up while it waited for the lock must
// not run later: pgx's cancel request for it races with the lock holder's
// commit, so the server bounds the wait itself and the write fails with
// lock_not_available (55P03), which revDB reports as the context's
// deadline. The setting lasts to the end of the transaction (set_config
// is_local), so it bounds the write's row-lock waits too; in a caller's
// transaction the next write sets it again from its own context, the next
// other statement (a read) goes with a reset of it (pgLazyTx.lockSet), and
// its COMMIT sets it again from the Commit's own context
// (pgLazyTx.CommitBounded): each call's lock waits get its own bound.
const revisionLockTimedSQL = "SELECT set_config('lock_timeout', $2::text, true), pg_advisory_xact_lock($1::bigint)"

// revisionLockXidSQL is revisionLockTimedSQL in a transaction: it also
// returns the transaction's reference (its id, which it assigns, as the
// write after it does anyway; xactRefSQL), so that a COMMIT whose answer is lost can be settled
// (pgEngine.commitOutcome) without a round trip of its own to learn it.
const revisionLockXidSQL = "SELECT set_config('lock_timeout', $2::text, true), pg_advisory_xact_lock($1::bigint), " + xactRefSQL

// pgBatcher is a pool or a transaction: what can send a batch.
type pgBatcher interface {
	pgdb.DBTX
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// revDB runs every statement right after the revision lock, in one batch.
// In a transaction, xid is where the lock statement leaves the
// transaction's id (nil outside one: a write outside a transaction commits
// with its statement, and a write that changes nothing must not be given
// an id, which would make its commit write and flush WAL).
type revDB struct {
	db   pgBatcher
	xid  *string
	key  any         // the store's revision lock key (pgEngine.lockKey), an int64 boxed once (newRevDB)
	dir  directMode  // whether it sends through pgconn (pgexec.go)
	comb *pgCombiner // the store's group commit of writes outside transactions (combine.go); nil: none
}

func newRevDB(db pgBatcher, xid *string, key int64) revDB {
	r := revDB{db: db, xid: xid, key: key}
	switch d := db.(type) {
	case *pgxpool.Pool:
		r.dir = directModeOf(d.Config().ConnConfig)
	case *pgLazyTx:
		r.dir = d.dir
	}
	return r
}

// revBatch is the batch revDB sends, in one allocation: the lock
// statement and the write, with the lock's arguments.
type revBatch struct {
	b     pgx.Batch
	qs    [2]*pgx.QueuedQuery
	q     [2]pgx.QueuedQuery
	lockA [2]any
}

var _ pgdb.DBTX = revDB{}

// send queues the lock and the statement. The batch runs under wireContext
// (the caller's context with a grace after its deadline), so the server's
// lock_timeout, not the client's deadline, ends a wait for a lock: done
// must be called once the batch's results are read.
func (r revDB) send(ctx context.Context, sql string, args []any) (br pgx.BatchResults, done func()) {
	wctx, done, timeout, _ := r.wire(ctx)
	return r.sendBatch(r.db, wctx, done, timeout, sql, args)
}

// wire is the context the batch runs under (see send), the function that
// releases it, the lock_timeout argument of the lock statement, and, for
// a write outside a transaction whose caller may cancel it, its flight.
func (r revDB) wire(ctx context.Context) (wctx context.Context, done func(), timeout any, fl *flight) {
	timeout = "0" // a constant: no allocation
	wctx, done = ctx, func() {}
	d, ok := ctx.Deadline()
	if ok {
		timeout = lockTimeoutMs(d, ok)
		if lt, in := r.db.(*pgLazyTx); in && lt.caller {
			lt.lockSet = true // the next statement that is not a write's resets it
		}
	}
	switch {
	case r.outside() && ctx.Done() != nil:
		fl = newFlight(ctx, d)
		wctx, done = fl.wctx, fl.end
	case ok:
		wctx, done = wireContext(ctx, d)
	}
	return wctx, done, timeout, fl
}

// lockTimeoutMs is the lock_timeout setting for a call whose deadline is
// d (ok: it has one): the milliseconds left, at least 1; "0" (none)
// without one.
func lockTimeoutMs(d time.Time, ok bool) string {
	if !ok {
		return "0"
	}
	return strconv.FormatInt(max(1, time.Until(d).Milliseconds()), 10)
}

// outside reports whether r writes outside a transaction: each write
// commits with its statement, in the implicit transaction of its batch.
func (r revDB) outside() bool {
	_, pool := r.db.(*pgxpool.Pool)
	return pool && r.xid == nil
}

// batch sends the write through pgx's batch. A flight's connection is
// acquired under the caller's context (a write whose caller gives up
// before it has one is not sent), and known to the flight, for its cancel
// request.
func (r revDB) batch(ctx, wctx context.Context, done func(), timeout any, fl *flight, sql string, args []any) (pgx.BatchResults, func(), error) {
	pool, ok := r.db.(*pgxpool.Pool)
	if fl == nil || !ok {
		br, done := r.sendBatch(r.db, wctx, done, timeout, sql, args)
		return br, done, nil
	}
	pc, err := pool.Acquire(ctx)
	if err != nil {
		done()
		return nil, nil, notSent{err}
	}
	fl.sent(pc.Conn().PgConn())
	br, done := r.sendBatch(pc, wctx, done, timeout, sql, args)
	return br, func() { done(); pc.Release() }, nil
}

// sendBatch is send through pgx's batch, on db.
func (r revDB) sendBatch(db interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, wctx context.Context, done func(), timeout any, sql string, args []any) (pgx.BatchResults, func()) {
	rb := &revBatch{lockA: [2]any{r.key, timeout}}
	lock := revisionLockTimedSQL
	if r.wantsXid() {
		lock = revisionLockXidSQL
	}
	rb.q = [2]pgx.QueuedQuery{{SQL: lock, Arguments: rb.lockA[:]}, {SQL: sql, Arguments: args}}
	rb.qs = [2]*pgx.QueuedQuery{&rb.q[0], &rb.q[1]}
	rb.b.QueuedQueries = rb.qs[:]
	return db.SendBatch(wctx, &rb.b), done
}

// wantsXid reports whether the lock statement must return the
// transaction's reference: in a transaction, until a write has given it.
func (r revDB) wantsXid() bool { return r.xid != nil && *r.xid == "" }

// locked reads the lock statement's answer from br (and, when it asked
// for it, the transaction's reference).
func (r revDB) locked(br pgx.BatchResults) error {
	if !r.wantsXid() {
		_, err := br.Exec()
		return err
	}
	return br.QueryRow().Scan(nil, nil, r.xid)
}

// lockGrace is how long after the caller's deadline a write waits for the
// server's answer. The lock_timeout is the time left when the batch is
// queued, counted by the server from when its wait begins: later than the
// deadline by however long the batch took to reach the server (a pool
// acquire, a statement's preparation, a loaded machine). A client that
// gave up at its own deadline would leave a server backend still waiting,
// which then gets the lock (the holder ends), runs the write and commits
// it: a write reported as failed that happened. Waiting for the server's
// verdict closes that window for every server that answers within the
// grace; past it the connection is dropped, as before.
const lockGrace = time.Second

// wireContext is ctx, but its deadline is d+lockGrace: the caller's
// deadline does not end the batch (the server's lock_timeout does), while
// a cancellation of ctx still does, at once.
func wireContext(ctx context.Context, d time.Time) (context.Context, func()) {
	w, cancel := context.WithDeadline(context.WithoutCancel(ctx), d.Add(lockGrace))
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	return w, func() { stop(); cancel() }
}

// flight is a write outside a transaction on the wire. It commits with its
// statement, so a connection cut once it was sent, as pgx cuts it when
// its context ends, leaves its outcome unknown: a caller who cancels it
// was told "context canceled" for a write that the server then committed
// (it had, or the lock it waited for came first). So the wire context
// (wctx) outlives the caller's: its deadline is the caller's plus
// lockGrace (the server's lock_timeout ends a wait at the caller's), and a
// cancellation asks the server to cancel the write's statement (a cancel
// request, on the connection the write was sent on: the server then
// answers, a write it cancelled rolled back) and ends wctx only lockGrace
// later. A write whose wctx ended once it was sent is ErrCommitUnknown
// (revDB.failed).
type flight struct {
	ctx    context.Context // the caller's
	wctx   context.Context
	cancel context.CancelFunc // ends wctx
	stop   func() bool        // stops the watch of ctx

	mu    sync.Mutex
	conn  *pgconn.PgConn // the connection the write is sent on; nil through pgx's batch
	asked chan struct{}  // closed once a cancel request was made; nil: none
	over  bool           // the write ended: no cancel request from here
}

func newFlight(ctx context.Context, d time.Time) *flight {
	f := &flight{ctx: ctx}
	if d.IsZero() {
		f.wctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	} else {
		f.wctx, f.cancel = context.WithDeadline(context.WithoutCancel(ctx), d.Add(lockGrace))
	}
	f.stop = context.AfterFunc(ctx, f.cancelled)
	return f
}

// cancelled runs when the caller's context ends.
func (f *flight) cancelled() {
	if errors.Is(f.ctx.Err(), context.DeadlineExceeded) {
		return
	}
	time.AfterFunc(lockGrace, f.cancel)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ask()
}

// sent records the connection the write goes on (before it is sent).
func (f *flight) sent(c *pgconn.PgConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conn = c
	if f.ctx.Err() != nil && !errors.Is(f.ctx.Err(), context.DeadlineExceeded) {
		f.ask()
	}
}

// ask makes the cancel request, once, while the write is on its
// connection. f.mu is held.
func (f *flight) ask() {
	if f.conn == nil || f.asked != nil || f.over {
		return
	}
	f.asked = make(chan struct{})
	conn, asked := f.conn, f.asked
	go func() {
		defer close(asked)
		cctx, cancel := context.WithTimeout(context.Background(), lockGrace)
		_ = conn.CancelRequest(cctx)
		cancel()
		// The server signals the write's backend after it answered:
		// the connection is not used again before the signal was
		// surely handled, so that it cannot cancel a later statement
		// (pgconn's CancelRequestContextWatcherHandler waits as long).
		time.Sleep(cancelSettle)
	}()
}

// end releases the flight once the write's answer was read, before its
// connection goes back to the pool: it waits for a cancel request made.
func (f *flight) end() {
	f.stop()
	f.mu.Lock()
	f.over = true
	asked := f.asked
	f.mu.Unlock()
	if asked != nil {
		<-asked
	}
	f.cancel()
}

// cancelSettle is how long a connection a cancel request was made on
// stays out of use after it.
const cancelSettle = 100 * time.Millisecond

// notSent marks the error of a write outside a transaction that was never
// sent (no connection was acquired for it): nothing of it happened.
type notSent struct{ error }

func (e notSent) Unwrap() error { return e.error }

// failed is the error of a write of r that failed with err: for a write
// outside a transaction, the context's error once it was sent (its
// connection was cut: the server may have committed it) is
// ErrCommitUnknown; else lockErr.
func (r revDB) failed(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	var ns notSent
	if r.outside() && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) &&
		!errors.As(err, &pe) && !errors.As(err, &ns) {
		return inDoubtErr(err, "the call's context ended while its write was in flight")
	}
	return lockErr(ctx, err)
}

// lockErr is the error of a statement of ctx's call that waited for a
// lock: the context's error when the server's lock_timeout (the context's
// remaining time) ran out. The setting is the transaction's (set_config
// is_local, by the lock statement): it bounds every later lock wait of the
// transaction too, a row lock a later statement waits for, a deferred
// trigger's at COMMIT. So lockErr is applied to the lock statement's error
// (revDB.failed), to the end of a transaction of the engine's own
// (pgEngine.inTx), and to every operation's (Store.failCtx: a caller's
// transaction's statements and COMMIT). The server may time out a moment
// before the context's deadline passes here, or the timer that ends the
// context may not have run yet when the answer comes (a loaded machine):
// then it waits for the context (at most lockErrSlack past now), so the
// caller sees the context ended, as it will have. A lock_timeout that ran
// out well before the deadline was another one (a transaction that gives
// way to writers sets a shorter one; the server's, the role's): its error
// stays, a conflict. An outcome left unknown (ErrCommitUnknown) stays unknown.
func lockErr(ctx context.Context, err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "55P03" || errors.Is(err, storage.ErrCommitUnknown) {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= lockErrSlack {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

// lockErrSlack is how far ahead of the context's deadline a lock_timeout
// set from it may run out.
const lockErrSlack = 50 * time.Millisecond

func (r revDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if w, held, ok := r.combine(ctx, sql, args); ok {
		if held {
			defer r.comb.release()
		} else if !w.alone {
			if w.err != nil {
				return pgconn.CommandTag{}, w.err
			}
			return w.job.tag, nil
		}
	}
	if err := r.unsent(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	wctx, done, timeout, fl := r.wire(ctx)
	if x, ok, err := r.exec(ctx, wctx, done, timeout, fl, sql, args); ok {
		if err != nil {
			return pgconn.CommandTag{}, r.failed(ctx, err)
		}
		tag, err := x.execTag()
		return tag, r.failed(ctx, err)
	}
	br, done, err := r.batch(ctx, wctx, done, timeout, fl, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer done()
	if err := r.locked(br); err != nil {
		return pgconn.CommandTag{}, r.failed(ctx, errors.Join(err, br.Close()))
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, r.failed(ctx, err)
}

// unsent is the error of a write outside a transaction whose caller's
// context ended before it was sent: it is not sent (its flight would let
// it run).
func (r revDB) unsent(ctx context.Context) error {
	if err := ctx.Err(); err != nil && r.outside() {
		return err
	}
	return nil
}

func (r revDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if w, held, ok := r.combine(ctx, sql, args); ok {
		switch {
		case held:
			rows, err := r.query(ctx, sql, args)
			if err != nil {
				r.comb.release()
				return nil, err
			}
			return &releasingRows{Rows: rows, c: r.comb}, nil
		case !w.alone && w.err != nil:
			return nil, w.err
		case !w.alone:
			return &combRows{w: w.job}, nil
		}
	}
	return r.query(ctx, sql, args)
}

// query is Query alone: the lock and the statement in one round trip.
func (r revDB) query(ctx context.Context, sql string, args []any) (pgx.Rows, error) {
	if err := r.unsent(ctx); err != nil {
		return nil, err
	}
	wctx, done, timeout, fl := r.wire(ctx)
	if x, ok, err := r.exec(ctx, wctx, done, timeout, fl, sql, args); ok {
		if err != nil {
			return nil, r.failed(ctx, err)
		}
		return &directRows{Rows: pgx.RowsFromResultReader(x.conn.TypeMap(), x.mrr.ResultReader()), x: x, r: r, ctx: ctx}, nil
	}
	br, done, err := r.batch(ctx, wctx, done, timeout, fl, sql, args)
	if err != nil {
		return nil, err
	}
	if err := r.locked(br); err != nil {
		err = errors.Join(err, br.Close())
		done()
		return nil, r.failed(ctx, err)
	}
	rows, err := br.Query()
	if err != nil {
		err = errors.Join(err, br.Close())
		done()
		return nil, r.failed(ctx, err)
	}
	return &batchRows{Rows: rows, br: br, done: done, r: r, ctx: ctx}, nil
}

func (r revDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := r.Query(ctx, sql, args...)
	return batchRow{rows: rows, err: err}
}

// batchRows are the rows of a batch's last statement; Close closes the
// batch too, and Err reports what closing it found (as revDB.failed).
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	done   func() // releases the batch's wire context
	r      revDB
	ctx    context.Context // the caller's
	closed bool
	err    error
}

func (b *batchRows) Close() {
	if b.closed {
		return
	}
	b.closed = true
	b.Rows.Close()
	b.err = b.br.Close()
	b.done()
}

// Err closes the batch first, as directRows.Err does: what the server
// answers after the rows (the commit, outside a transaction) is part of
// the outcome.
func (b *batchRows) Err() error {
	b.Close()
	if err := b.Rows.Err(); err != nil {
		return b.r.failed(b.ctx, err)
	}
	return b.r.failed(b.ctx, b.err)
}

// batchRow is pgx.Row over batchRows.
type batchRow struct {
	rows pgx.Rows
	err  error
}

func (r batchRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		r.rows.Close()
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
