package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	sdriver "github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/sqlitedb"
	"modernc.org/sqlite"
)

// fastReadQ is the querier of the SQLite reader pool outside transactions.
// Get, Has and GetMany, the point reads, run their fixed statements
// through the driver itself (driverReads) instead of database/sql's
// *sql.Stmt, and so do the dynamic statements of queryRows (Query, Count,
// List, …, fastquery.go); the other fixed statements are sqliteQ's.
//
// database/sql costs a point read more than a tenth of its CPU: per call
// it finds the statement prepared on the connection it took (a list
// searched under the statement's lock), allocates and tracks a *sql.Rows,
// and, for a context that can end, starts a goroutine that watches it
// (the driver watches it too); Scan then converts each column by
// reflection. Here a call takes a reader connection (sql.Conn), runs the
// statement the driver prepared on that connection once, and reads the
// driver's values. GetMetadata, a point read too, runs sqliteQ's statement
// on the point reads' lane (quick, the engine's quickReader).
type fastReadQ struct {
	sqliteQ
	d     *driverReads
	quick func() querier
}

func (q fastReadQ) getMetadata(ctx context.Context, ns, key string, now time.Time) (metaRow, error) {
	return q.quick().getMetadata(ctx, ns, key, now)
}

func (q fastReadQ) getEntry(ctx context.Context, ns, key string, now time.Time) (row, error) {
	return getEntryOn(q.d.query, ctx, ns, key, now)
}

// getEntryOn runs GetEntry with run.
func getEntryOn(run queryFunc, ctx context.Context, ns, key string, now time.Time) (row, error) {
	r := row{Key: key}
	found := false
	err := run(ctx, readGet, keyArgs(ns, key, now), func(v []driver.Value) error {
		packed, ok := v[0].(string)
		if !ok {
			return fmt.Errorf("%w: %T", errPacked, v[0])
		}
		found = true
		return unpackEntry(packed, &r)
	})
	if err == nil && !found {
		err = errNoRow
	}
	if err != nil {
		return row{}, err
	}
	return r, nil
}

// keyArgs are the arguments of GetEntry and HasEntry.
func keyArgs(ns, key string, now time.Time) []driver.NamedValue {
	return []driver.NamedValue{{Ordinal: 1, Value: ns}, {Ordinal: 2, Value: key}, {Ordinal: 3, Value: micros(now)}}
}

func (q fastReadQ) hasEntry(ctx context.Context, ns, key string, now time.Time) (bool, error) {
	return hasEntryOn(q.d.query, ctx, ns, key, now)
}

// hasEntryOn runs HasEntry with run.
func hasEntryOn(run queryFunc, ctx context.Context, ns, key string, now time.Time) (bool, error) {
	found := false
	err := run(ctx, readHas, keyArgs(ns, key, now), func(v []driver.Value) error {
		n, ok := v[0].(int64)
		if !ok {
			return corruptRow(fmt.Sprintf("HasEntry returned %T", v[0]))
		}
		found = n != 0
		return nil
	})
	return found, err
}

func (q fastReadQ) getEntries(ctx context.Context, ns string, keys []string, now time.Time, b *sdriver.ReadBudget) ([]row, bool, error) {
	out := make([]row, 0, min(len(keys), 1024))
	cut := false
	err := q.d.query(ctx, readGetMany, []driver.NamedValue{
		{Ordinal: 1, Value: ns}, {Ordinal: 2, Value: jsonKeysExact(keys)}, {Ordinal: 3, Value: micros(now)},
	}, func(v []driver.Value) error {
		if err := over(b); err != nil {
			cut = true
			return err
		}
		key, ok1 := v[0].(string)
		packed, ok2 := v[1].(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: %T, %T", errPacked, v[0], v[1])
		}
		r := row{Key: key}
		if err := unpackEntry(packed, &r); err != nil {
			return err
		}
		out = append(out, r)
		spend(b, len(r.Key)+len(r.Value)+len(r.Metadata))
		return nil
	})
	if err != nil && !cut {
		return nil, false, err
	}
	return out, cut, nil
}

// The statements driverReads runs, kept by each connection that runs
// them: the point reads on the readers, and also, on the writer
// (sqlitewrite.go), the writes of a single Set, stepped to their end.
const (
	readGet = iota
	readHas
	readGetMany
	numReads
)

const (
	writeUpsert = numReads + iota
	writeInsert
	writeUpdateIf
	numStmts
)

var readSQL = [numStmts]string{
	sqlitedb.GetEntrySQL, sqlitedb.HasEntrySQL, sqlitedb.GetEntriesSQL,
	sqlitedb.UpsertEntrySQL, sqlitedb.InsertEntrySQL, sqlitedb.UpdateEntryIfSQL,
}

// driverReads runs the point reads on the reader pool db, whose
// connections are *readConn (readConnector): each keeps the driver
// statements prepared on it and finalizes them when database/sql closes
// it, whatever the reason (the store's Close, a connection discarded after
// a call whose context ended, ErrBadConn, an idle connection closed).
// database/sql itself never sees those statements.
type driverReads struct {
	db *sql.DB
	// point, when set, is the pool the fixed statements (the point
	// reads) run on instead of db: SQLite's point readers (sqlite.go).
	point *sql.DB
	stats *readStats // the connector's
	// n counts the statements run (the store's round trips), or nil.
	n *atomic.Int64
}

// query runs statement k with args on a reader connection and calls each
// with every row's values (the same slice each time: each copies what it
// keeps; the driver's strings are its own).
func (d *driverReads) query(ctx context.Context, k int, args []driver.NamedValue, each func([]driver.Value) error) error {
	return d.on(ctx, d.pointPool(), func(rc *readConn) error { return rc.read(ctx, k, args, each) })
}

// pointPool is the pool a point read runs on: the point readers, or, when
// every one of them is in use and a reader is not, the readers. The point
// readers are a lane the reads that last cannot take; they are not a cap
// on point reads: on a store whose readers are idle, a point read waited
// for one of readers/2 connections while the others were free.
func (d *driverReads) pointPool() *sql.DB {
	if d.point == nil {
		return d.db
	}
	if p := d.point.Stats(); p.InUse < p.MaxOpenConnections {
		return d.point
	}
	if r := d.db.Stats(); r.InUse < r.MaxOpenConnections {
		return d.db
	}
	return d.point
}

// queryText runs the dynamic statement q as query runs a fixed one.
func (d *driverReads) queryText(ctx context.Context, q string, args []driver.NamedValue, each func([]driver.Value) error) error {
	return d.on(ctx, d.db, func(rc *readConn) error { return rc.readText(ctx, q, args, each) })
}

// on runs one statement with fn on a connection of db.
func (d *driverReads) on(ctx context.Context, db *sql.DB, fn func(rc *readConn) error) error {
	countOne(ctx, d.n)
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	err = onConn(conn, fn)
	if cerr := conn.Close(); err == nil && cerr != nil && !errors.Is(cerr, sql.ErrConnDone) {
		err = cerr
	}
	return err
}

// onConn runs fn on the *readConn of conn, a connection of the reader
// pool or of the writer's (a transaction's, sqlitewrite.go). Raw holds the
// connection's lock: database/sql closes it (and so finalizes its
// statements) only once Raw has returned.
func onConn(conn *sql.Conn, fn func(rc *readConn) error) error {
	return conn.Raw(func(dc any) error {
		rc, ok := dc.(*readConn)
		if !ok {
			return fmt.Errorf("sqlstore: the connection is a %T, not a *readConn", dc)
		}
		return fn(rc)
	})
}

// readConnector opens the reader pool's connections, and the writer's: the
// driver's (modernc's own Connector), each wrapped in a *readConn.
type readConnector struct {
	driver.Connector
	stats *readStats
}

// readStats count the reader connections and the point reads' statements
// opened and closed (for the tests' checks that every one is released).
type readStats struct {
	connsOpened, connsClosed atomic.Int64
	stmtsPrepared, stmtsDone atomic.Int64
}

// Connect implements driver.Connector.
func (c readConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := dc.(sqliteConn)
	if !ok {
		_ = dc.Close()
		return nil, fmt.Errorf("sqlstore: the SQLite driver's connection %T lacks an interface the reader pool needs", dc)
	}
	hooks, ok := dc.(txHooks)
	if !ok {
		_ = dc.Close()
		return nil, fmt.Errorf("sqlstore: the SQLite driver's connection %T has no commit and rollback hooks", dc)
	}
	c.stats.connsOpened.Add(1)
	rc := &readConn{c: sc, stats: c.stats}
	hooks.RegisterCommitHook(func() int32 {
		rc.committed.Store(true)
		rc.ends.Add(1)
		return 0
	})
	hooks.RegisterRollbackHook(func() {
		rc.committed.Store(false)
		rc.ends.Add(1)
	})
	return rc, nil
}

// txHooks are modernc's commit and rollback hooks (readConn.ends).
type txHooks interface {
	RegisterCommitHook(sqlite.CommitHookFn)
	RegisterRollbackHook(sqlite.RollbackHookFn)
}

// sqliteConn is what a modernc connection implements and database/sql uses
// (readConn forwards each): without ConnBeginTx, ConnPrepareContext,
// ExecerContext and QueryerContext database/sql falls back to the
// context-free methods; without SessionResetter and Validator it would
// keep an interrupted connection in the pool; PingContext needs Pinger.
// The driver's own interfaces (sqlite.DBStatus, FileControl, …) are
// reached through Unwrap, as modernc's Limit does.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// readConn is a reader (or the writer) connection: the driver's, and the statements of the
// point reads prepared on it (nil until first used). database/sql uses a
// connection from one goroutine at a time and closes it under the same
// lock as Raw runs under, so st needs no lock of its own.
type readConn struct {
	c     sqliteConn
	st    [numStmts]queryStmt
	stats *readStats
	// dyn are the dynamic statements (Query, Count, List, …) prepared on
	// the connection, by SQL text: at most maxConnStmts, the least
	// recently used finalized to make room for another (readText).
	dyn map[string]*dynStmt
	// tick counts the dynamic statements run, dynStmt.used's clock.
	tick uint64
	// vals receive a row's values.
	vals []driver.Value
	// closed is set by Close: a statement is never prepared again on a
	// closed connection.
	closed bool
	// ends counts the write transactions the connection ended, and
	// committed says whether the last one committed (SQLite's commit and
	// rollback hooks, set at Connect): how a write whose context ended
	// as it ran came out (readConn.write). A failed commit runs both
	// hooks, the rollback last.
	ends      atomic.Uint64
	committed atomic.Bool
}

var (
	_ sqliteConn                        = (*readConn)(nil)
	_ interface{ Unwrap() driver.Conn } = (*readConn)(nil)
)

// Close finalizes the point reads' statements, then closes the driver's
// connection: sqlite3_close_v2 on a handle with a statement left
// unfinalized does not close it but leaves it a zombie, its files open,
// and the driver frees what finalizing needs when it closes (see
// TestCancelledCallsLeakNoHandles).
func (c *readConn) Close() error {
	c.closed = true
	var errs []error
	for k, st := range c.st {
		if st != nil {
			c.st[k] = nil
			c.stats.stmtsDone.Add(1)
			errs = append(errs, st.Close())
		}
	}
	for q, d := range c.dyn {
		delete(c.dyn, q)
		c.stats.stmtsDone.Add(1)
		errs = append(errs, d.st.Close())
	}
	c.stats.connsClosed.Add(1)
	return errors.Join(append(errs, c.c.Close())...)
}

// queryStmt is a driver statement that runs with a context.
type queryStmt interface {
	driver.Stmt
	driver.StmtQueryContext
}

// read runs statement k (see driverReads.query).
func (c *readConn) read(ctx context.Context, k int, args []driver.NamedValue, each func([]driver.Value) error) error {
	if c.closed {
		return driver.ErrBadConn
	}
	st := c.st[k]
	if st == nil {
		q, err := c.prepare(ctx, readSQL[k])
		if err != nil {
			return err
		}
		st, c.st[k] = q, q
	}
	return c.run(ctx, st, args, each, func() { c.drop(k) })
}

// prepare prepares q on the connection.
func (c *readConn) prepare(ctx context.Context, q string) (queryStmt, error) {
	ds, err := c.c.PrepareContext(ctx, q)
	if err != nil {
		return nil, readErr(ctx, err)
	}
	st, ok := ds.(queryStmt)
	if !ok {
		_ = ds.Close()
		return nil, fmt.Errorf("sqlstore: the SQLite driver's statement %T cannot query with a context", ds)
	}
	c.stats.stmtsPrepared.Add(1)
	return st, nil
}

// maxConnStmts is how many dynamic statements a reader connection keeps
// prepared (the store's statement cache keeps maxCachedStmts texts). A
// variable for the tests.
var maxConnStmts = 128

// dynStmt is a dynamic statement kept on a connection, and when it last
// ran (readConn.tick).
type dynStmt struct {
	st   queryStmt
	used uint64
}

// readText runs the dynamic statement q (see driverReads.queryText): the
// statement kept for q on the connection, prepared at its first use. With
// maxConnStmts kept, the one that ran least recently is finalized first.
// Query and Count name a namespace's id in their text, and ids are never
// reused (nsid.go): a store whose namespaces come and go meets new texts
// for as long as it runs. Before, the first maxConnStmts texts stayed for
// the connection's life and every later one ran unprepared: once a
// thousand namespaces had been queried and deleted, the statements of the
// namespaces in use were prepared at every call, the cost the statements
// kept here are for (TestStmtCachesFollowUse).
func (c *readConn) readText(ctx context.Context, q string, args []driver.NamedValue, each func([]driver.Value) error) error {
	d, err := c.dynStmt(ctx, q)
	if err != nil {
		return err
	}
	return c.runDyn(ctx, q, d, args, each)
}

// dynStmt is the dynamic statement kept for q, prepared now if it is not.
func (c *readConn) dynStmt(ctx context.Context, q string) (*dynStmt, error) {
	if c.closed {
		return nil, driver.ErrBadConn
	}
	c.tick++
	d := c.dyn[q]
	if d == nil {
		st, err := c.prepare(ctx, q)
		if err != nil {
			return nil, err
		}
		if c.dyn == nil {
			c.dyn = map[string]*dynStmt{}
		}
		if len(c.dyn) >= maxConnStmts {
			c.evictDyn()
		}
		d = &dynStmt{st: st}
		c.dyn[q] = d
	}
	d.used = c.tick
	return d, nil
}

// runDyn runs d, the statement kept for q.
func (c *readConn) runDyn(ctx context.Context, q string, d *dynStmt, args []driver.NamedValue, each func([]driver.Value) error) error {
	return c.run(ctx, d.st, args, each, func() {
		if c.dyn[q] == d {
			delete(c.dyn, q)
			c.stats.stmtsDone.Add(1)
			_ = d.st.Close()
		}
	})
}

// evictDyn finalizes the dynamic statement that ran least recently. A
// scan of at most maxConnStmts, done only before a prepare, which costs
// more.
func (c *readConn) evictDyn() {
	var oldest string
	var at uint64
	first := true
	for q, d := range c.dyn {
		if first || d.used < at {
			oldest, at, first = q, d.used, false
		}
	}
	if d := c.dyn[oldest]; d != nil {
		delete(c.dyn, oldest)
		c.stats.stmtsDone.Add(1)
		_ = d.st.Close()
	}
}

// run runs the prepared statement st; drop finalizes it (and forgets it)
// after a failure its context did not cause.
func (c *readConn) run(ctx context.Context, st queryStmt, args []driver.NamedValue, each func([]driver.Value) error, drop func()) error {
	rows, err := st.QueryContext(ctx, args)
	if err != nil {
		if ctx.Err() == nil {
			// Whatever failed, the next call prepares the statement
			// afresh.
			drop()
		}
		return readErr(ctx, err)
	}
	return c.rows(ctx, rows, each)
}

// rows calls each with every row of rows, then closes them.
func (c *readConn) rows(ctx context.Context, rows driver.Rows, each func([]driver.Value) error) error {
	n := len(rows.Columns())
	if cap(c.vals) < n {
		c.vals = make([]driver.Value, n)
	}
	vals := c.vals[:n]
	var err error
	for {
		if err = rows.Next(vals); err != nil {
			break
		}
		if err = each(vals); err != nil {
			break
		}
	}
	clear(vals) // the strings are the caller's now
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return readErr(ctx, err)
}

// drop finalizes statement k, if prepared.
func (c *readConn) drop(k int) {
	if st := c.st[k]; st != nil {
		c.st[k] = nil
		c.stats.stmtsDone.Add(1)
		_ = st.Close()
	}
}

// readErr is err, or ctx's error when ctx has ended: the driver reports a
// statement interrupted by ctx's end as SQLite's "interrupted", where
// database/sql reported ctx's error.
func readErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Unwrap returns the driver's connection (modernc's Limit, and the tests'
// sqlite.DBStatus, see through it).
func (c *readConn) Unwrap() driver.Conn { return c.c }

// The rest forwards to the driver's connection.

func (c *readConn) Prepare(query string) (driver.Stmt, error) { return c.c.Prepare(query) }

//nolint:staticcheck // driver.Conn requires Begin; database/sql calls BeginTx
func (c *readConn) Begin() (driver.Tx, error) { return c.c.Begin() }

func (c *readConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.c.BeginTx(ctx, opts)
}

func (c *readConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.c.PrepareContext(ctx, query)
}

func (c *readConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.c.ExecContext(ctx, query, args)
}

func (c *readConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.c.QueryContext(ctx, query, args)
}

func (c *readConn) Ping(ctx context.Context) error { return c.c.Ping(ctx) }

func (c *readConn) ResetSession(ctx context.Context) error { return c.c.ResetSession(ctx) }

func (c *readConn) IsValid() bool { return !c.closed && c.c.IsValid() }
