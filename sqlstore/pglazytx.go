package sqlstore

import (
	"context"
	"errors"
	"hash/fnv"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgLazyTx is a transaction (Store.Begin on PostgreSQL) whose BEGIN goes
// to the server with its first statement, in one pipelined batch, instead
// of as a round trip of its own: a read-modify-write transaction costs
// three round trips (BEGIN and the read, the revision lock and the write,
// COMMIT) rather than four. PostgreSQL takes a transaction's snapshot at
// its first statement, not at BEGIN, so nothing a statement sees changes;
// only transaction_timestamp() (now()) is later, which the engine does not
// use (its clock is the caller's). A transaction that runs no statement
// sends nothing: its COMMIT and ROLLBACK are free. The connection is the
// pool's from Begin to the end, as with pgx's transactions; through a
// pooler in transaction mode a server connection is held only from the
// first statement.
type pgLazyTx struct {
	c      *pgxpool.Conn
	begin  string     // the BEGIN statement, with the options
	begun  bool       // BEGIN was sent and succeeded
	closed bool       // committed or rolled back: the connection is released
	dir    directMode // how revDB sends on the connection (pgexec.go)
	// caller: a caller's transaction (Store.Begin), whose calls each
	// have a context of their own; not one of the engine's, run under one
	// call's context.
	caller bool
	// lockSet: in a caller's transaction, a write's revision lock
	// statement set lock_timeout from the write's context (revDB.wire),
	// for the rest of the transaction (set_config is_local). The next
	// statement that is not a write's (a read, a savepoint's) goes with
	// lockResetSQL before it, in the same round trip: the bound of an
	// earlier call must not bound its lock waits (a table lock a DBA's
	// maintenance holds), which would fail it, and abort the transaction,
	// at the other call's deadline.
	lockSet bool
	// cursor: a bounded read declared a cursor (cursorQuery), which the
	// next statement that is not a FETCH of it closes first, in the same
	// round trip.
	cursor bool
}

// cursorName names the cursor of a bounded read of sql in a transaction
// (cursorQuery): one is open at a time (a Tx's operations run one at a
// time, and a read runs no statement while its rows are open), named
// after its statement. pgx prepares a batch's statements (and caches
// their descriptions) before it runs them: the first FETCH is described
// before its DECLARE has run, when no cursor of the name is open (its
// rows then come in text, which pgx decodes as well), or one of the same
// statement, whose close is on its way: never another statement's, whose
// columns it would take for its own.
func cursorName(sql string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(sql))
	return "storage_read_" + strconv.FormatUint(h.Sum64(), 36)
}

// closeCursorsSQL closes the cursor of a bounded read: CLOSE ALL, which
// never fails, as CLOSE would for a cursor a rollback to a savepoint
// already closed (aborting the transaction).
const closeCursorsSQL = "close all"

// cursorFirst and cursorMax are the first and the largest FETCH of a
// bounded read's cursor: each FETCH after a full one asks for twice as
// many rows. A read cut by its budget receives at most the rest of the
// FETCH it was in.
const (
	cursorFirst = 16
	cursorMax   = 256
)

// lockResetSQL gives lock_timeout back its value outside the engine's
// writes (the server's, the role's or the DSN's), for the rest of the
// transaction or until a write sets it again.
const lockResetSQL = "set local lock_timeout to default"

// plain reports whether a statement can go alone, as it is: the
// transaction has begun and no write's lock_timeout needs resetting.
func (t *pgLazyTx) plain() bool { return t.begun && !t.closed && !t.lockSet && !t.cursor }

// beginSQL is the BEGIN statement of the options, as pgx spells it.
func beginSQL(o pgx.TxOptions) string {
	s := "begin"
	if o.IsoLevel != "" {
		s += " isolation level " + string(o.IsoLevel)
	}
	if o.AccessMode != "" {
		s += " " + string(o.AccessMode)
	}
	return s
}

// start sends BEGIN alone, when no statement has sent it yet: before a
// COPY, which goes to the connection directly.
func (t *pgLazyTx) start(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if t.begun {
		return nil
	}
	if _, err := t.c.Exec(ctx, t.begin); err != nil {
		return err
	}
	t.begun = true
	return nil
}

// batch is b with BEGIN first when the transaction has not begun, and
// lockResetSQL when a write set lock_timeout and b does not start with a
// write's revision lock (which sets it again), sent; their answers are
// read before it returns.
func (t *pgLazyTx) batch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.closed {
		return lazyErrBatch{err: pgx.ErrTxClosed}
	}
	reset := t.lockSet && !revisionLocks(b)
	if t.begun && !reset && !t.cursor {
		return t.c.SendBatch(ctx, b)
	}
	nb := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+3)}
	if !t.begun {
		nb.Queue(t.begin)
	}
	cursor := t.cursor
	if cursor {
		nb.Queue(closeCursorsSQL)
	}
	if reset {
		nb.Queue(lockResetSQL)
	}
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	br := t.c.SendBatch(ctx, nb)
	if !t.begun {
		if _, err := br.Exec(); err != nil {
			return lazyErrBatch{err: err, br: br}
		}
		t.begun = true
	}
	if cursor {
		if _, err := br.Exec(); err != nil {
			return lazyErrBatch{err: err, br: br}
		}
		t.cursor = false
	}
	if reset {
		if _, err := br.Exec(); err != nil {
			return lazyErrBatch{err: err, br: br}
		}
		t.lockSet = false
	}
	return br
}

// cursorQuery runs sql, a read that its caller may stop before its end
// (a MaxBytes budget, a History page's bytes: pgQueryRows), through a
// cursor, whose rows come cursorFirst, then twice as many, at a time,
// with the DECLARE and the first FETCH in one round trip. A statement
// sent alone cannot be stopped without ending the transaction (closing
// the connection; a cancel request aborts it): its rows, every one to the
// namespace's end without a limit, would cross the connection for
// nothing when the caller closes them (pgx's Close receives and drops
// them all). Closed early, the rows drop the rest of their FETCH at most;
// the cursor is closed with the transaction's next statement.
func (t *pgLazyTx) cursorQuery(ctx context.Context, sql string, args []any) (pgx.Rows, error) {
	name := cursorName(sql)
	b := &pgx.Batch{}
	b.Queue("declare "+name+" no scroll cursor for "+sql, args...)
	b.Queue(fetchSQL(name, cursorFirst))
	br := t.batch(ctx, b)
	if _, err := br.Exec(); err != nil {
		return nil, errors.Join(err, br.Close())
	}
	t.cursor = true
	rows, err := br.Query()
	if err != nil {
		return nil, errors.Join(err, br.Close())
	}
	return &cursorRows{Rows: rows, br: br, t: t, ctx: ctx, name: name, size: cursorFirst}, nil
}

func fetchSQL(name string, n int) string { return "fetch " + strconv.Itoa(n) + " from " + name }

// cursorRows are the rows of cursorQuery: a FETCH's at a time.
type cursorRows struct {
	pgx.Rows                  // the current FETCH's
	br       pgx.BatchResults // the first FETCH's batch, until it is read
	t        *pgLazyTx
	ctx      context.Context
	name     string // the cursor's
	size, n  int    // the current FETCH's size, and the rows received of it
	err      error
	done     bool
}

func (r *cursorRows) Next() bool {
	for !r.done {
		if r.Rows.Next() {
			r.n++
			return true
		}
		r.end()
		if r.err != nil || r.n < r.size { // the cursor has no more
			r.done = true
			return false
		}
		r.size, r.n = min(2*r.size, cursorMax), 0
		rows, err := r.t.c.Query(r.ctx, fetchSQL(r.name, r.size))
		if err != nil {
			r.err, r.done = err, true
			return false
		}
		r.Rows = rows
	}
	return false
}

// end closes the current FETCH's rows (and the first one's batch),
// keeping the first error.
func (r *cursorRows) end() {
	r.Rows.Close()
	if err := r.Rows.Err(); err != nil && r.err == nil {
		r.err = err
	}
	if r.br != nil {
		if err := r.br.Close(); err != nil && r.err == nil {
			r.err = err
		}
		r.br = nil
	}
}

func (r *cursorRows) Close() {
	r.end()
	r.done = true
}

func (r *cursorRows) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.Rows.Err()
}

// revisionLocks reports whether b starts with a write's revision lock
// statement (revDB), which sets lock_timeout itself.
func revisionLocks(b *pgx.Batch) bool {
	if len(b.QueuedQueries) == 0 {
		return false
	}
	switch b.QueuedQueries[0].SQL {
	case revisionLockTimedSQL, revisionLockXidSQL:
		return true
	}
	return false
}

func (t *pgLazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return t.batch(ctx, b)
}

// first sends a statement that cannot go alone (plain), with its BEGIN
// or its lockResetSQL.
func (t *pgLazyTx) first(ctx context.Context, sql string, args []any) pgx.BatchResults {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return t.batch(ctx, b)
}

func (t *pgLazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.plain() {
		return t.c.Exec(ctx, sql, args...)
	}
	br := t.first(ctx, sql, args)
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *pgLazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.plain() {
		return t.c.Query(ctx, sql, args...)
	}
	br := t.first(ctx, sql, args)
	rows, err := br.Query()
	if err != nil {
		return nil, errors.Join(err, br.Close())
	}
	return &batchRows{Rows: rows, br: br, done: func() {}}, nil
}

func (t *pgLazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if t.plain() {
		return t.c.QueryRow(ctx, sql, args...)
	}
	rows, err := t.Query(ctx, sql, args...)
	return batchRow{rows: rows, err: err}
}

// copyConn is the connection for a COPY, with the transaction begun.
func (t *pgLazyTx) copyConn(ctx context.Context) (*pgx.Conn, error) {
	if err := t.start(ctx); err != nil {
		return nil, err
	}
	return t.c.Conn(), nil
}

// Commit commits and releases the connection (a transaction that sent
// nothing has nothing to commit). A COMMIT the server answers with
// ROLLBACK (the transaction had failed) is pgx.ErrTxCommitRollback, as
// with pgx's transactions.
func (t *pgLazyTx) Commit(ctx context.Context) error {
	tag, err := t.end(ctx, "commit")
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	return err
}

// CommitBounded is Commit with the transaction's lock_timeout set from
// ctx first (what is left of it; none without a deadline), in the same
// round trip: a write's revision lock sets it from the write's context
// (revlock.go) for the rest of the transaction, so a caller's earlier
// write with a shorter context than its Commit's would otherwise bound
// the COMMIT's lock waits (a deferred trigger's) and fail it with
// ErrTxConflict while its own context had time left.
//
// A transaction an earlier statement aborted gets its plain COMMIT (which
// the server answers ROLLBACK): it would refuse the setting, and skip the
// COMMIT after it, leaving the transaction open.
func (t *pgLazyTx) CommitBounded(ctx context.Context) error {
	if !t.closed && t.begun && t.c.Conn().PgConn().TxStatus() == 'E' {
		return t.Commit(ctx)
	}
	d, ok := ctx.Deadline()
	tag, err := t.end(ctx, "SELECT set_config('lock_timeout', '"+lockTimeoutMs(d, ok)+"', true); commit")
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	return err
}

// Rollback rolls back and releases the connection; pgx.ErrTxClosed once
// the transaction has ended.
func (t *pgLazyTx) Rollback(ctx context.Context) error {
	_, err := t.end(ctx, "rollback")
	return err
}

// end sends sql (COMMIT or ROLLBACK) when the transaction has begun, and
// releases the connection.
func (t *pgLazyTx) end(ctx context.Context, sql string) (pgconn.CommandTag, error) {
	if t.closed {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	defer t.release()
	if !t.begun {
		return pgconn.CommandTag{}, nil
	}
	return t.c.Exec(ctx, sql)
}

// release gives the connection back to the pool, which closes it when it
// is still in a transaction (a COMMIT or ROLLBACK that failed on the way).
func (t *pgLazyTx) release() {
	t.closed = true
	t.c.Release()
}

// lazyErrBatch is the results of a batch whose BEGIN failed (or of a
// transaction that has ended): every result is that error.
type lazyErrBatch struct {
	err error
	br  pgx.BatchResults // the batch sent, closed by Close; nil when none was
}

func (b lazyErrBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b lazyErrBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b lazyErrBatch) QueryRow() pgx.Row                { return batchRow{err: b.err} }
func (b lazyErrBatch) Tx() pgx.Tx                       { return nil }
func (b lazyErrBatch) Close() error {
	if b.br != nil {
		_ = b.br.Close()
	}
	return b.err
}
