package sqlstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
)

// A write after the revision lock (revDB) sent through pgconn.
//
// pgx sends a batch in its default exec mode (cache_statement) as a
// pipeline, whose machinery (pipeline state, queued queries, result
// readers) costs about 29 allocations and 7-10 µs of client CPU per write
// (bench/results/2026-12-03-pgsetcpu.md). revDB sends the same messages
// itself instead: Bind and Execute of the lock statement, of the write,
// and one Sync (pgconn's ExecBatch; BEGIN first, by name-less Parse, when
// it is a pgLazyTx's first statement), on statements prepared once per
// connection with pgx.Conn.Prepare (name = SQL: the same named statements
// pgx's own Query and SendBatch then use). One round trip, one implicit
// transaction outside a transaction, as before.
//
// Only in cache_statement mode: the other exec modes (a pooler in
// transaction mode) keep no named statement, and go through pgx's batch as
// before; so do pgx transactions (the standby's).
//
// A prepared statement stays on its connection for the connection's
// lifetime: revDB's statements are the generated ones (pgdb), a bounded
// set. When the server says a statement's plan or description no longer
// holds (a schema change: 0A000 "cached plan must not change result
// type", 26000, class 42), it is deallocated, so that the next use
// prepares it again, as pgx's statement cache invalidates its entries on
// an error; outside a usable transaction (aborted: the server refuses
// nothing but protocol messages; Close is one).

// revViaBatch sends every revDB write through pgx's batch, as before
// revExec: only the tests set it (the A/B of TestPGDirectWriteCost, and
// the tests that must fail on the old path).
var revViaBatch atomic.Bool

// revExec is the state of one write sent through pgconn: its batch, the
// arguments' encoding and the result readers, in one allocation.
type revExec struct {
	b      pgconn.Batch
	eqb    pgx.ExtendedQueryBuilder
	lockA  [2]any
	lockRF [3]int16
	stmtRF [8]int16
	conn   *pgx.Conn
	pc     *pgxpool.Conn // the pool's connection, released at the end; nil in a transaction
	mrr    *pgconn.MultiResultReader
	sql    [2]string // the statements sent, to deallocate on a stale plan
	done   func()
	tracer pgx.BatchTracer
	tctx   context.Context
}

// directMode is what revDB needs to know of a connection's configuration
// to send through pgconn, read once (pgx copies its configuration on every
// read): whether the exec mode allows it, and the tracer to call.
type directMode struct {
	ok     bool
	tracer pgx.BatchTracer
}

func directModeOf(c *pgx.ConnConfig) directMode {
	t, _ := c.Tracer.(pgx.BatchTracer)
	return directMode{ok: c.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement, tracer: t}
}

// directConn returns the connection revDB sends on through pgconn, and
// whether BEGIN must go first; ok false when pgx's batch must carry the
// write (another exec mode, a pgx transaction).
func (r revDB) directConn(ctx context.Context) (conn *pgx.Conn, pc *pgxpool.Conn, lazy *pgLazyTx, ok bool, err error) {
	if !r.dir.ok || revViaBatch.Load() {
		return nil, nil, nil, false, nil
	}
	switch db := r.db.(type) {
	case *pgxpool.Pool:
		pc, err := db.Acquire(ctx)
		if err != nil {
			return nil, nil, nil, true, err
		}
		return pc.Conn(), pc, nil, true, nil
	case *pgLazyTx:
		if db.closed {
			return nil, nil, nil, true, pgx.ErrTxClosed
		}
		return db.c.Conn(), nil, db, true, nil
	}
	return nil, nil, nil, false, nil
}

// revExecs are revExec values to reuse: their argument encoder keeps its
// buffers.
var revExecs = sync.Pool{New: func() any { return new(revExec) }}

// exec sends the lock and sql through pgconn and reads the lock's
// answer; the statement's result is next on x.mrr. ok false: not sent,
// pgx's batch must carry it. On an error the connection is released and
// done called.
func (r revDB) exec(ctx, wctx context.Context, done func(), timeout any, fl *flight, sql string, args []any) (x *revExec, ok bool, err error) {
	// The connection under the caller's context: a write whose caller
	// gives up before it has one is not sent.
	conn, pc, lazy, ok, err := r.directConn(ctx)
	if !ok {
		return nil, false, nil
	}
	if err != nil {
		done()
		return nil, true, notSent{err}
	}
	if fl != nil {
		fl.sent(conn.PgConn())
	}
	x = revExecs.Get().(*revExec)
	x.conn, x.pc, x.done, x.lockA, x.tracer = conn, pc, done, [2]any{r.key, timeout}, r.dir.tracer
	lock := revisionLockTimedSQL
	if r.wantsXid() {
		lock = revisionLockXidSQL
	}
	x.sql = [2]string{lock, sql}
	if err := x.send(wctx, lazy, args); err != nil {
		return nil, true, x.finish(err)
	}
	if lazy != nil && !lazy.begun {
		if !x.mrr.NextResult() {
			return nil, true, x.finish(nil)
		}
		if _, err := x.mrr.ResultReader().Close(); err != nil {
			return nil, true, x.finish(err)
		}
		lazy.begun = true
	}
	if !x.mrr.NextResult() {
		return nil, true, x.finish(nil)
	}
	rr := x.mrr.ResultReader()
	if r.wantsXid() {
		for rr.NextRow() {
			if v := rr.Values(); len(v) == 3 {
				*r.xid = string(v[2])
			}
		}
	}
	if _, err := rr.Close(); err != nil {
		return nil, true, x.finish(err)
	}
	if !x.mrr.NextResult() {
		return nil, true, x.finish(nil)
	}
	return x, true, nil
}

// send prepares the statements (once per connection) and sends the batch.
func (x *revExec) send(ctx context.Context, lazy *pgLazyTx, args []any) error {
	lsd, err := x.conn.Prepare(ctx, x.sql[0], x.sql[0])
	if err != nil {
		return err
	}
	sd, err := x.conn.Prepare(ctx, x.sql[1], x.sql[1])
	if err != nil {
		return err
	}
	if lazy != nil && !lazy.begun {
		x.b.ExecParams(lazy.begin, nil, nil, nil, nil)
	}
	m := x.conn.TypeMap()
	if err := x.eqb.Build(m, lsd, x.lockA[:]); err != nil {
		return err
	}
	lrf := append(x.lockRF[:0], x.eqb.ResultFormats...)
	x.b.ExecStatement(lsd, x.eqb.ParamValues, x.eqb.ParamFormats, lrf)
	if err := x.eqb.Build(m, sd, args); err != nil {
		return err
	}
	srf := append(x.stmtRF[:0], x.eqb.ResultFormats...)
	x.b.ExecStatement(sd, x.eqb.ParamValues, x.eqb.ParamFormats, srf)
	if t := x.tracer; t != nil {
		b := &pgx.Batch{}
		if lazy != nil && !lazy.begun {
			b.Queue(lazy.begin)
		}
		b.Queue(x.sql[0], x.lockA[:]...)
		b.Queue(x.sql[1], args...)
		x.tctx = t.TraceBatchStart(ctx, x.conn, pgx.TraceBatchStartData{Batch: b})
	}
	x.mrr = x.conn.PgConn().ExecBatch(ctx, &x.b)
	return nil
}

// errMissingResult is the error of a batch whose answer lacks a result:
// the write's outcome is not known.
var errMissingResult error = &dbError{storage.ErrCommitUnknown, "the server's answer to a write ended early", errors.New("missing result")}

// finish reads the batch to its end, deallocates a statement whose plan
// went stale, releases the connection and returns the first error (err,
// else the batch's, else errMissingResult: finish is called on a
// success only through end).
func (x *revExec) finish(err error) error {
	if x.mrr != nil {
		if cerr := x.mrr.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		// The answer ended before a result the batch asked for: not
		// seen with a server that follows the protocol.
		err = errMissingResult
	}
	if x.tctx != nil {
		x.tracer.TraceBatchEnd(x.tctx, x.conn, pgx.TraceBatchEndData{Err: err})
	}
	if err != nil && staleStatement(err) && !x.conn.PgConn().IsClosed() {
		dctx, cancel := context.WithTimeout(context.Background(), deallocateWait)
		for _, s := range x.sql {
			_ = x.conn.Deallocate(dctx, s)
		}
		cancel()
	}
	x.done() // before the connection goes back: a flight's cancel request is made on it
	if x.pc != nil {
		x.pc.Release()
	}
	x.reset()
	return err
}

// reset readies x for another write and puts it back in revExecs.
func (x *revExec) reset() {
	eqb := x.eqb
	*x = revExec{eqb: eqb}
	revExecs.Put(x)
}

// deallocateWait bounds the deallocation of stale statements (past it,
// pgconn closes the connection, which the pool then discards).
const deallocateWait = 5 * time.Second

// staleStatement reports whether err says a prepared statement no longer
// matches the schema (or no longer exists).
func staleStatement(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "0A000" || pe.Code == "26000" || strings.HasPrefix(pe.Code, "42")
}

// execTag ends x, the statement's command tag.
func (x *revExec) execTag() (pgconn.CommandTag, error) {
	tag, err := x.mrr.ResultReader().Close()
	if err != nil {
		return tag, x.finish(err)
	}
	return tag, x.end()
}

// end ends a batch whose results were all read without an error: its
// Sync's answer (or an error the server sent after the results, as a
// deferred constraint's) is read, and the connection released.
func (x *revExec) end() error {
	err := x.mrr.Close()
	if err != nil {
		return x.finish(err)
	}
	x.mrr = nil
	if x.tctx != nil {
		x.tracer.TraceBatchEnd(x.tctx, x.conn, pgx.TraceBatchEndData{})
	}
	x.done() // before the connection goes back: a flight's cancel request is made on it
	if x.pc != nil {
		x.pc.Release()
	}
	x.reset()
	return nil
}

// directRows are the rows of the statement of a revExec; Close ends it.
// Err ends it too, and is as revDB.failed.
type directRows struct {
	pgx.Rows
	x      *revExec
	r      revDB
	ctx    context.Context // the caller's
	closed bool
	err    error
}

func (d *directRows) Close() {
	if d.closed {
		return
	}
	d.closed = true
	d.Rows.Close()
	if err := d.Rows.Err(); err != nil {
		d.err = d.x.finish(err)
		return
	}
	d.err = d.x.end()
}

// Err ends the batch first (pgx calls for Err once the rows are closed,
// which Next does when they run out): its answer after the rows, the
// commit's outside a transaction, is part of the outcome. Before, a
// DeleteMany whose rows had all come and whose commit then failed (its
// context cancelled, a deferred trigger) answered success: the commit's
// error only reached the deferred Close.
func (d *directRows) Err() error {
	d.Close()
	if err := d.Rows.Err(); err != nil {
		return d.r.failed(d.ctx, err)
	}
	return d.r.failed(d.ctx, d.err)
}
