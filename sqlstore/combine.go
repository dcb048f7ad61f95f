package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
)

// Group commit of PostgreSQL's writes outside transactions.
//
// Writes that change the store commit one at a time, holding the revision
// lock from their statement to their commit (revlock.go), and on a durable
// server a commit waits for its WAL to be flushed: concurrent Sets, each
// its own transaction, ran at the rate of one flush each however many
// callers there were (8 writers on a server with fsync on: 340-390 Sets/s,
// as many as one writer, where raw pgx's 8 writers, which PostgreSQL
// commits in groups, made 1,600-2,800).
//
// So the writes outside transactions of one store take turns: a write
// that finds no other of the store's in flight runs at once, alone, as
// before (the single path: one round trip, nothing added); the writes
// that arrive while one is in flight wait, and when it ends they go
// together, at most combineMax of them, as one batch: the revision lock,
// their statements in arrival order, one implicit transaction, one commit
// and one flush. Each write keeps its own statement, revisions and answer
// (its rows are read into memory and scanned by its caller); they only
// share the commit, so they commit or fail together:
//
//   - a statement the server refuses aborts the batch before its commit
//     (nothing of it is kept): each write then runs again alone, on the
//     single path, and gets the answer it would have had alone (a
//     namespace deleted meanwhile, say, fails that write only);
//   - the batch waits for the revision lock at most combineLockWait (and no
//     longer than the earliest deadline among its writes): past it, each
//     write runs alone, with its own deadline, as before;
//   - a connection lost after the batch was sent leaves every write of it
//     in doubt: ErrCommitUnknown, as for a write alone;
//   - a batch waits for its connection no longer than the earliest
//     deadline among its writes (then each runs alone); a write whose
//     caller's context ends while it waits for its turn, or before its
//     batch has a connection, leaves and fails with the context's error,
//     never sent; one whose context ends once its batch was sent waits for
//     the batch's answer up to lockGrace more, then is ErrCommitUnknown.
//
// SQLite does the same for its single Sets (walHookQ), which wait for the
// one writer connection anyway: a batch is BEGIN IMMEDIATE, their
// statements and COMMIT on it (one commit's WAL frames, and with
// synchronous=FULL one fsync, for all of them); a statement that fails
// rolls the batch back and each runs again alone. Its writes are sent
// once the BEGIN IMMEDIATE has the write lock: a write whose caller gives
// up while the batch waits for another process's lock leaves it.
//
// Transactions (Begin, RunInTx, and the engine's own: SetMany's atomic
// batches, Clear, DeleteNamespace, SQLite's deletes) are not combined.
// WithoutWriteCombining turns it off.

// combineMax is the most writes one batch carries.
const combineMax = 64

// combineLockWait bounds a batch's wait for the revision lock: a batch
// queued behind a long transaction gives its writes back to the single
// path, where each waits with its own deadline.
const combineLockWait = time.Second

// turns is a store's queue of writes outside transactions (a group
// commit): J is the dialect's write (pgJob, sqliteJob). send runs the
// writes of a batch (at least two) as one transaction and answers each
// (sets its job's result, or err, or alone).
type turns[J any] struct {
	send func(ws []*turn[J])

	mu    sync.Mutex
	busy  bool       // a write alone or a batch is in flight
	queue []*turn[J] // waiting for their turn

	batches  atomic.Int64 // batches sent
	combined atomic.Int64 // writes they carried
}

// turn is a write waiting for its turn, then its answer.
type turn[J any] struct {
	ctx   context.Context
	job   J
	state atomic.Int32 // turnQueued, turnTaken, turnSent, turnLeft
	done  chan struct{}

	// The answer, set before done is closed: alone, run it alone (its
	// batch did not commit), else err, or the job's result.
	alone bool
	err   error
}

const (
	turnQueued int32 = iota
	turnTaken        // in a batch, which waits for its connection
	turnSent         // in a batch that has its connection: no way back
	turnLeft         // its caller gave up before it was sent
)

// sendable marks the writes of ws that are still there as sent (their
// batch has its connection) and returns them: from here their callers
// wait for the batch's answer.
func sendable[J any](ws []*turn[J]) []*turn[J] {
	out := make([]*turn[J], 0, len(ws))
	for _, t := range ws {
		if t.state.CompareAndSwap(turnTaken, turnSent) {
			out = append(out, t)
		}
	}
	return out
}

// firstDeadline is the earliest deadline of ws's callers, as a context
// (and its cancel): a batch waits for its connection no longer.
func firstDeadline[J any](ws []*turn[J]) (context.Context, context.CancelFunc) {
	var first time.Time
	for _, t := range ws {
		if d, ok := t.ctx.Deadline(); ok && (first.IsZero() || d.Before(first)) {
			first = d
		}
	}
	if first.IsZero() {
		return context.Background(), func() {}
	}
	return context.WithDeadline(context.Background(), first)
}

// CombineStats counts the writes a store's group commit sent together:
// Batches is how many batches of at least two writes were sent, Writes how
// many writes they carried. Zero with WithoutWriteCombining.
type CombineStats struct {
	Batches int64
	Writes  int64
}

// CombineStats reports the store's group commit counters (for benchmarks
// and tests).
func (s *Store) CombineStats() CombineStats {
	switch e := s.eng.(type) {
	case *pgEngine:
		return e.comb.stats()
	case *sqliteEngine:
		return e.comb.stats()
	}
	return CombineStats{}
}

// stats are c's counters; zero for none.
func (c *turns[J]) stats() CombineStats {
	if c == nil {
		return CombineStats{}
	}
	return CombineStats{Batches: c.batches.Load(), Writes: c.combined.Load()}
}

// enter takes the write's turn. held: nothing else is in flight, the
// caller runs the write alone and calls release when it is done. Else
// the write waited and t is its answer: t.alone says to run it alone
// (without the turn), else t.err or t.job's result is the outcome.
func (c *turns[J]) enter(ctx context.Context, job J) (t *turn[J], held bool) {
	c.mu.Lock()
	if !c.busy {
		c.busy = true
		c.mu.Unlock()
		return nil, true
	}
	t = &turn[J]{ctx: ctx, job: job, done: make(chan struct{})}
	c.queue = append(c.queue, t)
	c.mu.Unlock()
	select {
	case <-t.done:
		return t, false
	case <-ctx.Done():
	}
	if t.state.CompareAndSwap(turnQueued, turnLeft) || t.state.CompareAndSwap(turnTaken, turnLeft) {
		// Never sent: alone, it fails at once with the context's error.
		return &turn[J]{alone: true}, false
	}
	timer := time.NewTimer(lockGrace)
	defer timer.Stop()
	select {
	case <-t.done:
		return t, false
	case <-timer.C:
		return &turn[J]{err: &dbError{storage.ErrCommitUnknown,
			"the call's context ended while its write was in flight with others", errors.New(ctx.Err().Error())}}, false
	}
}

// release ends a turn: the writes that waited go as the next batch.
func (c *turns[J]) release() {
	c.mu.Lock()
	n := min(len(c.queue), combineMax)
	if n == 0 {
		c.busy = false
		c.mu.Unlock()
		return
	}
	batch := make([]*turn[J], n)
	copy(batch, c.queue)
	c.queue = append(c.queue[:0], c.queue[n:]...)
	c.mu.Unlock()
	go c.run(batch)
}

// run sends batch (the writes still waiting in it) and answers them; then
// the next turn.
func (c *turns[J]) run(batch []*turn[J]) {
	defer c.release()
	ws := batch[:0]
	for _, t := range batch {
		if t.ctx.Err() == nil && t.state.CompareAndSwap(turnQueued, turnTaken) {
			ws = append(ws, t)
		}
	}
	switch len(ws) {
	case 0:
		return
	case 1:
		// Nothing to share a commit with: the single path.
		ws[0].alone = true
		close(ws[0].done)
		return
	}
	c.batches.Add(1)
	c.combined.Add(int64(len(ws)))
	c.send(ws)
	for _, t := range ws {
		close(t.done)
	}
}

// pgCombiner is PostgreSQL's group commit.
type pgCombiner = turns[*pgJob]

// pgJob is a PostgreSQL write and its rows.
type pgJob struct {
	pool   *pgxpool.Pool
	sql    string
	args   []any
	fields []pgconn.FieldDescription
	rows   [][][]byte
	tag    pgconn.CommandTag
}

// newPgCombiner is the group commit of the store whose revision lock key
// is key.
func newPgCombiner(key int64) *pgCombiner {
	return &pgCombiner{send: func(ws []*turn[*pgJob]) { pgSendBatch(key, ws) }}
}

// pgSendBatch sends ws as one batch and answers them. It waits for a
// connection no longer than the earliest deadline among them; until it has
// one, a write whose caller gives up leaves the batch.
func pgSendBatch(key int64, ws []*turn[*pgJob]) {
	actx, cancel := firstDeadline(ws)
	pc, err := ws[0].job.pool.Acquire(actx)
	cancel()
	if err != nil {
		for _, t := range ws {
			t.alone = true // not sent: alone, each gets its own answer
		}
		return
	}
	defer pc.Release()
	ws = sendable(ws)
	if len(ws) == 0 {
		return
	}
	err = pgSend(pc, key, ws)
	for _, t := range ws {
		switch {
		case err == nil:
		case !inDoubt(err):
			// Refused before its commit: nothing of it was kept.
			t.alone, t.job.fields, t.job.rows = true, nil, nil
		default:
			t.err = inDoubtErr(err, "the connection failed after the write was sent (with others, in one transaction)")
		}
	}
}

// inDoubtErr is the error, ErrCommitUnknown for reason, of a write whose
// outcome err leaves unknown: a context's error in err is kept as text
// only (the wire's or the batch's context, not the caller's: the caller
// is told the outcome is unknown, not that its context ended).
func inDoubtErr(err error, reason string) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = errors.New(err.Error())
	}
	return &dbError{storage.ErrCommitUnknown, reason, err}
}

// pgSend runs ws as one batch on pc after the revision lock and reads
// their answers.
func pgSend(pc *pgxpool.Conn, key int64, ws []*turn[*pgJob]) error {
	wait := combineLockWait
	var last time.Time // the latest deadline
	bounded := true    // every write has one
	for _, t := range ws {
		d, ok := t.ctx.Deadline()
		if !ok {
			bounded = false
			continue
		}
		wait = min(wait, time.Until(d))
		if d.After(last) {
			last = d
		}
	}
	ctx := context.Background()
	if bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, last.Add(lockGrace))
		defer cancel()
	}
	b := &pgx.Batch{}
	b.Queue(revisionLockTimedSQL, key, strconv.FormatInt(max(1, wait.Milliseconds()), 10))
	for _, t := range ws {
		b.Queue(t.job.sql, t.job.args...)
	}
	br := pc.SendBatch(ctx, b)
	_, err := br.Exec()
	for i := 0; err == nil && i < len(ws); i++ {
		err = ws[i].job.read(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// read reads the write's answer from br into memory.
func (w *pgJob) read(br pgx.BatchResults) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	w.fields = append([]pgconn.FieldDescription(nil), rows.FieldDescriptions()...)
	for rows.Next() {
		raw := rows.RawValues()
		n := 0
		for _, v := range raw {
			n += len(v)
		}
		buf := make([]byte, 0, n)
		row := make([][]byte, len(raw))
		for i, v := range raw {
			if v == nil {
				continue
			}
			start := len(buf)
			buf = append(buf, v...)
			row[i] = buf[start:len(buf):len(buf)]
		}
		w.rows = append(w.rows, row)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	w.tag = rows.CommandTag()
	return nil
}

// scanMaps are type maps for scanning a combined write's rows: a
// connection's map is not safe for concurrent use, and the rows outlive
// the batch's connection. The engine registers no type for scanning
// (jsonbParams is for parameters), so pgx's defaults are the connection's.
var scanMaps = sync.Pool{New: func() any { return pgtype.NewMap() }}

// combRows are a combined write's rows, read into memory.
type combRows struct {
	w      *pgJob
	m      *pgtype.Map
	i      int // the current row is w.rows[i-1]
	closed bool
}

var _ pgx.Rows = (*combRows)(nil)

func (r *combRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	if r.m != nil {
		scanMaps.Put(r.m)
		r.m = nil
	}
}

func (r *combRows) Err() error                                   { return nil }
func (r *combRows) CommandTag() pgconn.CommandTag                { return r.w.tag }
func (r *combRows) FieldDescriptions() []pgconn.FieldDescription { return r.w.fields }
func (r *combRows) Conn() *pgx.Conn                              { return nil }

func (r *combRows) Next() bool {
	if r.closed || r.i >= len(r.w.rows) {
		r.Close()
		return false
	}
	r.i++
	return true
}

// TypeMap is the map the rows scan with.
func (r *combRows) TypeMap() *pgtype.Map { return r.typeMap() }

func (r *combRows) typeMap() *pgtype.Map {
	if r.m == nil {
		r.m = scanMaps.Get().(*pgtype.Map)
	}
	return r.m
}

func (r *combRows) Scan(dest ...any) error {
	if r.closed || r.i == 0 {
		return errors.New("sqlstore: Scan without a current row")
	}
	return pgx.ScanRow(r.typeMap(), r.w.fields, r.w.rows[r.i-1], dest...)
}

func (r *combRows) Values() ([]any, error) {
	if r.closed || r.i == 0 {
		return nil, errors.New("sqlstore: Values without a current row")
	}
	m := r.typeMap()
	raw := r.w.rows[r.i-1]
	vals := make([]any, len(raw))
	for i, fd := range r.w.fields {
		if raw[i] == nil {
			continue
		}
		t, ok := m.TypeForOID(fd.DataTypeOID)
		if !ok {
			vals[i] = string(raw[i])
			continue
		}
		v, err := t.Codec.DecodeValue(m, fd.DataTypeOID, fd.Format, raw[i])
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	return vals, nil
}

func (r *combRows) RawValues() [][]byte {
	if r.closed || r.i == 0 {
		return nil
	}
	return r.w.rows[r.i-1]
}

// releasingRows are the rows of a write run alone with the turn: closing
// them ends the turn.
type releasingRows struct {
	pgx.Rows
	c    *pgCombiner
	once bool
}

func (r *releasingRows) Close() {
	r.Rows.Close()
	if !r.once {
		r.once = true
		r.c.release()
	}
}

// combine is revDB's way into the queue: held, the caller runs the write
// alone and must release; t non-nil, the write's answer (t.alone: run it
// alone, without the turn). ok false: not combinable (a transaction, or
// combining off).
func (r revDB) combine(ctx context.Context, sql string, args []any) (t *turn[*pgJob], held, ok bool) {
	if r.comb == nil || r.xid != nil {
		return nil, false, false
	}
	pool, isPool := r.db.(*pgxpool.Pool)
	if !isPool {
		return nil, false, false
	}
	t, held = r.comb.enter(ctx, &pgJob{pool: pool, sql: sql, args: args})
	return t, held, true
}

// sqliteCombiner is SQLite's group commit: the single Sets outside
// transactions (walHookQ) that wait for the one writer connection while
// another is on it go together, in one transaction (BEGIN IMMEDIATE, their
// statements, COMMIT): one commit's WAL frames (and, with
// synchronous=FULL, one fsync) for all of them. A statement that fails
// rolls the batch back and each write runs again alone.
type sqliteCombiner = turns[*sqliteJob]

// sqliteJob is one of the writer's kept statements (sqlitewrite.go) and its
// rows.
type sqliteJob struct {
	k    int
	args []driver.NamedValue
	rows [][]driver.Value
}

func newSQLiteCombiner(d *driverReads) *sqliteCombiner {
	return &sqliteCombiner{send: func(ws []*turn[*sqliteJob]) { sqliteSendBatch(d, ws) }}
}

// noRows is the row function of a statement that returns none.
func noRows([]driver.Value) error { return nil }

// sqliteBatchStart, when set, runs as a batch starts (the tests'
// stand-in for another process that takes the write lock then).
var sqliteBatchStart func()

// sqliteSendBatch runs ws in one transaction on the writer connection and
// answers them: each its rows once the COMMIT succeeded, else alone.
func sqliteSendBatch(d *driverReads, ws []*turn[*sqliteJob]) {
	if sqliteBatchStart != nil {
		sqliteBatchStart()
	}
	// The writer connection, the write lock (BEGIN IMMEDIATE: another
	// process may hold it) and the statements no longer than the
	// earliest deadline among the writes; a write whose caller gives up
	// while the batch waits for the connection or for the lock leaves it
	// (nothing of it was written).
	ctx, cancel := firstDeadline(ws)
	defer cancel()
	err := d.on(ctx, d.db, func(rc *readConn) error {
		if err := rc.readText(ctx, "BEGIN IMMEDIATE", nil, noRows); err != nil {
			// The driver answers the context's error even when the
			// BEGIN ran as the deadline passed.
			return sqliteRollback(rc, err)
		}
		sent := sendable(ws)
		if len(sent) == 0 {
			return sqliteRollback(rc, nil)
		}
		for _, t := range sent {
			j := t.job
			if err := rc.read(ctx, j.k, j.args, func(vals []driver.Value) error {
				j.rows = append(j.rows, slices.Clone(vals))
				return nil
			}); err != nil {
				return sqliteRollback(rc, err)
			}
		}
		// Not interrupted by a deadline: the COMMIT decides.
		if err := rc.readText(context.Background(), "COMMIT", nil, noRows); err != nil {
			return sqliteRollback(rc, err)
		}
		return nil
	})
	if err == nil {
		return
	}
	for _, t := range ws {
		// Not sent, or rolled back: alone, each gets its own answer.
		t.alone, t.job.rows = true, nil
	}
}

// sqliteRollback rolls a batch back after err. SQLite may have rolled it
// back itself (a full disk, an I/O error): then there is nothing to roll
// back. A connection left in a transaction it cannot end is discarded
// (driver.ErrBadConn), never handed to the next write.
func sqliteRollback(rc *readConn, err error) error {
	rerr := rc.readText(context.Background(), "ROLLBACK", nil, noRows)
	if rerr != nil && !strings.Contains(rerr.Error(), "no transaction is active") {
		if err == nil {
			return fmt.Errorf("%w (a rollback failed: %w)", driver.ErrBadConn, rerr)
		}
		return fmt.Errorf("%w: %w (its rollback failed: %w)", driver.ErrBadConn, err, rerr)
	}
	return err
}
