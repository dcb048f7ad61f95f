package sqlstore

import (
	"context"
	"errors"
	"strconv"
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
//   - a write whose caller's context ends while it waits for its turn
//     leaves the queue and fails with the context's error, never sent; one
//     whose context ends once its batch was sent waits for the batch's
//     answer up to lockGrace more, then is ErrCommitUnknown.
//
// Transactions (Begin, RunInTx, and the engine's own: SetMany's atomic
// batches, Clear, DeleteNamespace) are not combined. WithoutWriteCombining
// turns it off.

// combineMax is the most writes one batch carries.
const combineMax = 64

// combineLockWait bounds a batch's wait for the revision lock: a batch
// queued behind a long transaction gives its writes back to the single
// path, where each waits with its own deadline.
const combineLockWait = time.Second

// pgCombiner is a store's queue of writes outside transactions.
type pgCombiner struct {
	key int64 // the store's revision lock key

	mu    sync.Mutex
	busy  bool         // a write alone or a batch is in flight
	queue []*combWrite // waiting for their turn

	batches  atomic.Int64 // batches sent
	combined atomic.Int64 // writes they carried
}

// combWrite is a write waiting for its turn, then its answer.
type combWrite struct {
	ctx  context.Context
	pool *pgxpool.Pool
	sql  string
	args []any

	state atomic.Int32 // combQueued, combTaken, combLeft
	done  chan struct{}

	// The answer, set before done is closed.
	alone  bool // run it alone (its batch failed before committing)
	err    error
	fields []pgconn.FieldDescription
	rows   [][][]byte
	tag    pgconn.CommandTag
}

const (
	combQueued int32 = iota
	combTaken        // in a batch
	combLeft         // its caller gave up before it was taken
)

// CombineStats counts the writes PostgreSQL's group commit sent together:
// Batches is how many batches of at least two writes were sent, Writes how
// many writes they carried. Zero on SQLite and with WithoutWriteCombining.
type CombineStats struct {
	Batches int64
	Writes  int64
}

// CombineStats reports the store's group commit counters (for benchmarks
// and tests).
func (s *Store) CombineStats() CombineStats {
	pe, ok := s.eng.(*pgEngine)
	if !ok || pe.comb == nil {
		return CombineStats{}
	}
	return CombineStats{Batches: pe.comb.batches.Load(), Writes: pe.comb.combined.Load()}
}

// enter takes the write's turn. held: nothing else is in flight, the
// caller runs the write alone and calls release when it is done. Else
// the write waited and w is its answer: w.alone says to run it alone
// (without the turn), else w.err or w's rows are the outcome.
func (c *pgCombiner) enter(ctx context.Context, pool *pgxpool.Pool, sql string, args []any) (w *combWrite, held bool) {
	c.mu.Lock()
	if !c.busy {
		c.busy = true
		c.mu.Unlock()
		return nil, true
	}
	w = &combWrite{ctx: ctx, pool: pool, sql: sql, args: args, done: make(chan struct{})}
	c.queue = append(c.queue, w)
	c.mu.Unlock()
	select {
	case <-w.done:
		return w, false
	case <-ctx.Done():
	}
	if w.state.CompareAndSwap(combQueued, combLeft) {
		// Never sent: alone, it fails at once with the context's error.
		return &combWrite{alone: true}, false
	}
	t := time.NewTimer(lockGrace)
	defer t.Stop()
	select {
	case <-w.done:
		return w, false
	case <-t.C:
		return &combWrite{err: &dbError{storage.ErrCommitUnknown,
			"the call's context ended while its write was in flight with others", errors.New(ctx.Err().Error())}}, false
	}
}

// release ends a turn: the writes that waited go as the next batch.
func (c *pgCombiner) release() {
	c.mu.Lock()
	n := min(len(c.queue), combineMax)
	if n == 0 {
		c.busy = false
		c.mu.Unlock()
		return
	}
	batch := make([]*combWrite, n)
	copy(batch, c.queue)
	c.queue = append(c.queue[:0], c.queue[n:]...)
	c.mu.Unlock()
	go c.run(batch)
}

// run sends batch (the writes still waiting in it) and answers them; then
// the next turn.
func (c *pgCombiner) run(batch []*combWrite) {
	defer c.release()
	ws := batch[:0]
	for _, w := range batch {
		if w.ctx.Err() == nil && w.state.CompareAndSwap(combQueued, combTaken) {
			ws = append(ws, w)
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
	sent, err := c.send(ws)
	for _, w := range ws {
		switch {
		case err == nil:
		case !sent || !inDoubt(err):
			// Not sent, or refused before its commit: nothing of it
			// was kept.
			w.alone, w.fields, w.rows = true, nil, nil
		default:
			w.err = inDoubtErr(err)
		}
		close(w.done)
	}
}

// inDoubtErr is the error of every write of a batch whose outcome is
// unknown.
func inDoubtErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// The batch's own deadline, not a caller's.
		err = errors.New(err.Error())
	}
	return &dbError{storage.ErrCommitUnknown, "the connection failed after the write was sent (with others, in one transaction)", err}
}

// send runs ws as one batch after the revision lock and reads their
// answers. sent is false when no connection could be had for it.
func (c *pgCombiner) send(ws []*combWrite) (sent bool, err error) {
	wait := combineLockWait
	var last time.Time // the latest deadline; zero when a write has none
	bounded := true
	for _, w := range ws {
		d, ok := w.ctx.Deadline()
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
	b.Queue(revisionLockTimedSQL, c.key, strconv.FormatInt(max(1, wait.Milliseconds()), 10))
	for _, w := range ws {
		b.Queue(w.sql, w.args...)
	}
	pc, err := ws[0].pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer pc.Release()
	br := pc.SendBatch(ctx, b)
	_, err = br.Exec()
	for i := 0; err == nil && i < len(ws); i++ {
		err = ws[i].read(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return true, err
}

// read reads w's answer from br into memory.
func (w *combWrite) read(br pgx.BatchResults) error {
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
	w      *combWrite
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
// alone and must release; w non-nil, the write's answer (w.alone: run it
// alone, without the turn). ok false: not combinable (a transaction, or
// combining off).
func (r revDB) combine(ctx context.Context, sql string, args []any) (w *combWrite, held, ok bool) {
	if r.comb == nil || r.xid != nil {
		return nil, false, false
	}
	pool, isPool := r.db.(*pgxpool.Pool)
	if !isPool {
		return nil, false, false
	}
	w, held = r.comb.enter(ctx, pool, sql, args)
	return w, held, true
}
