package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/mycelia-kernel/storage"
)

// The SQLite writer's connection is a *readConn too (readConnector): it
// keeps the driver statements of the point reads and of a single Set's
// writes, prepared at their first use and finalized when the connection
// closes, whatever closes it, as the readers' do (fastread.go). A single
// Set outside transactions runs its write on them (walHookQ); a
// transaction runs Get, Has and the writes of Set on those of the
// connection it holds (txDriverQ), where database/sql's statements cost a
// transaction's statement a *sql.Stmt of its own (Tx.StmtContext), a
// *sql.Rows, and, for a context that can end, a goroutine watching it.

// txDriverQ is the querier of a SQLite transaction of a store that is not
// read-only (sqliteTx): Get, Has and the writes of Set on the kept driver
// statements of the transaction's connection, the rest through
// database/sql (sqliteQ, on the statement cache, txStmts).
type txDriverQ struct {
	sqliteQ
	conn *sql.Conn
	e    *sqliteEngine
}

// query runs kept statement k on the transaction's connection (see
// driverReads.query).
func (q txDriverQ) query(ctx context.Context, k int, args []driver.NamedValue, each func([]driver.Value) error) error {
	q.e.count(ctx)
	return onConn(q.conn, func(rc *readConn) error { return rc.read(ctx, k, args, each) })
}

func (q txDriverQ) getEntry(ctx context.Context, ns, key string, now time.Time) (row, error) {
	return getEntryOn(q.query, ctx, ns, key, now)
}

func (q txDriverQ) hasEntry(ctx context.Context, ns, key string, now time.Time) (bool, error) {
	return hasEntryOn(q.query, ctx, ns, key, now)
}

func (q txDriverQ) upsertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	return stepRow(q.query, ctx, writeUpsert, upsertArgs(ns, key, value, md, exp, now, actor))
}

func (q txDriverQ) insertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	return stepRow(q.query, ctx, writeInsert, insertArgs(ns, key, value, md, exp, now, actor))
}

func (q txDriverQ) updateEntryIf(ctx context.Context, ns, key string, value, md []byte, exp expiry, c cond, now time.Time, actor *string) (wrote, error) {
	return stepRow(q.query, ctx, writeUpdateIf, updateIfArgs(ns, key, value, md, exp, c, now, actor))
}

// write runs write statement k on the writer connection in autocommit
// mode, under ctx (walHookQ.alone). The driver interrupts the statement
// when ctx ends, and ends its wait for another process's lock then; it
// answers the context's error whether or not the statement had made its
// changes: once its first step is done (the changes are made), the driver,
// seeing ctx ended, resets it, which commits it. So when ctx ended, the
// connection's own record of how its last transaction ended (ends and
// committed, kept by SQLite's commit and rollback hooks) says which: no
// transaction ended during the call (the statement never ran, or its wait
// for the lock ended before it began one), or the last one rolled back,
// and nothing was written: the context's error. It committed: the
// statement ran to its end, so changes() is its own; 0, it changed
// nothing (a conditional write whose condition failed commits a
// transaction that wrote nothing): the context's error; more, the write is
// ErrCommitUnknown, its answer (its revision) unread (its context ended in
// the microseconds between its statement's end and the driver's check).
//
// Until 2026-12-07 SQLite's changes() decided, which is the count of the
// last statement that ran to its end: a statement the driver did not run
// (ctx ended between the store's check and the driver's) or that stopped
// without ending (a lock it could not take) left the previous write's
// count, so a Set cut there was reported written (nil without Written)
// though it had not written (TestSQLiteWriteCutBeforeItRan); the hooks
// alone called a conditional Set that failed its condition written
// (TestSQLiteCancelledConflictOutcome).
func (c *readConn) write(ctx context.Context, k int, args []driver.NamedValue, each func([]driver.Value) error) error {
	if c.st[k] == nil && !c.closed {
		// Prepared whatever ctx does, so that ctx's end is the
		// statement's.
		q, err := c.prepare(context.Background(), readSQL[k])
		if err != nil {
			return err
		}
		c.st[k] = q
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ends := c.ends.Load()
	if sqliteWriteStart != nil {
		sqliteWriteStart()
	}
	return c.wrote(ctx, ends, c.read(ctx, k, args, each))
}

// sqliteWriteStart, when set, runs just before a write statement outside
// transactions goes to the driver (the tests' way to end its context
// there).
var sqliteWriteStart func()

// writeText is write for the dynamic statement q (SetMany's, upsertBatch).
func (c *readConn) writeText(ctx context.Context, q string, args []driver.NamedValue, each func([]driver.Value) error) error {
	d, err := c.dynStmt(context.Background(), q)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ends := c.ends.Load()
	if sqliteWriteStart != nil {
		sqliteWriteStart()
	}
	return c.wrote(ctx, ends, c.runDyn(ctx, q, d, args, each))
}

// wrote is the outcome of a write statement that ran under ctx and
// returned err, ends being the connection's count of ended transactions
// before it ran (see write).
func (c *readConn) wrote(ctx context.Context, ends uint64, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	if c.ends.Load() == ends || !c.committed.Load() {
		return ctx.Err()
	}
	// It committed, so it ran to its end, and changes() is its own: a
	// statement that changed nothing (a conditional write whose condition
	// failed) committed a transaction that wrote nothing.
	var n int64
	cerr := c.readText(context.Background(), "SELECT changes()", nil, func(v []driver.Value) error {
		var ok bool
		if n, ok = v[0].(int64); !ok {
			return fmt.Errorf("sqlstore: changes() returned %T", v[0])
		}
		return nil
	})
	switch {
	case cerr != nil:
		return inDoubtErr(errors.Join(err, cerr), "the call's context ended as its write committed, and whether it wrote could not be read")
	case n == 0:
		return ctx.Err()
	}
	return &dbError{storage.ErrCommitUnknown, "the call's context ended as its write committed, before its answer was read", errWroteUnread}
}

// errWroteUnread is the cause of the ErrCommitUnknown of a write that
// committed as its context ended, its answer (revision, version) unread
// (readConn.write): a Set that asked for none of it (no Written) was
// written, and reports so.
var errWroteUnread = errors.New("written, its answer unread")

// queryFunc runs kept statement k (driverReads.query, txDriverQ.query).
type queryFunc func(ctx context.Context, k int, args []driver.NamedValue, each func([]driver.Value) error) error

// stepRow runs write statement k, which returns at most one row of
// version, revision, create_revision, and steps it to SQLITE_DONE: outside
// a transaction that step commits and runs the WAL hook (walHookQ), and a
// commit error reaches the caller. No row is errNoRow, as with QueryRow.
func stepRow(run queryFunc, ctx context.Context, k int, args []driver.NamedValue) (wrote, error) {
	var v wrote
	n := 0
	err := run(ctx, k, args, func(vals []driver.Value) error {
		if n++; n > 1 {
			return errors.New("sqlstore: write returned more than one row")
		}
		var ok [3]bool
		v.Version, ok[0] = vals[0].(int64)
		v.Revision, ok[1] = vals[1].(int64)
		v.CreateRevision, ok[2] = vals[2].(int64)
		if !ok[0] || !ok[1] || !ok[2] {
			return corruptRow(fmt.Sprintf("a write returned %T, %T, %T for version, revision, create_revision", vals[0], vals[1], vals[2]))
		}
		return nil
	})
	switch {
	case err != nil:
		return wrote{}, err
	case n == 0:
		return wrote{}, errNoRow
	}
	return v, nil
}

// The arguments of the writes, in the order of their statements'
// parameters (internal/sqlitedb: UpsertEntrySQL, InsertEntrySQL,
// UpdateEntryIfSQL). A NULL is nil.

func upsertArgs(ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) []driver.NamedValue {
	return ordinals(key, paramText(value), optText(md), micros(now), optActor(actor), boolInt(exp.Keep), optMicrosValue(exp.At), ns)
}

func insertArgs(ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) []driver.NamedValue {
	return ordinals(key, paramText(value), optText(md), micros(now), optActor(actor), optMicrosValue(exp.At), ns)
}

func updateIfArgs(ns, key string, value, md []byte, exp expiry, c cond, now time.Time, actor *string) []driver.NamedValue {
	return ordinals(paramText(value), optText(md), micros(now), optActor(actor), boolInt(exp.Keep), optMicrosValue(exp.At), ns, key, c.Version, c.Revision)
}

// ordinals numbers vals as a statement's parameters ?1, ?2, ….
func ordinals(vals ...driver.Value) []driver.NamedValue {
	args := make([]driver.NamedValue, len(vals))
	for i, v := range vals {
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return args
}

// optText is metadata as a parameter: NULL for none, else its text
// (not copied: see paramText).
func optText(b []byte) driver.Value {
	if b == nil {
		return nil
	}
	return paramText(b)
}

func optActor(a *string) driver.Value {
	if a == nil {
		return nil
	}
	return *a
}

// optMicrosValue is optMicros as a parameter.
func optMicrosValue(t time.Time) driver.Value {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}
