package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/pgdb"
	"github.com/mycelia-kernel/storage/internal/pgdirect"
	"github.com/mycelia-kernel/storage/schema"
)

// pgEngine reaches PostgreSQL through a native pgx pool.
type pgEngine struct {
	d       dialect.Dialect
	pool    *pgxpool.Pool
	q       querier
	rq      querier     // q, its point reads on points (pgPointQ)
	points  *pgPoints   // the point reads' and short reads' lane (pgpoint.go)
	writes  *pgPoints   // the writes' lane outside transactions (pgpoint.go)
	replica *replica    // nil without WithReplica
	conns   *pgConns    // the network connections of pool, points and writes
	copyMin int         // the smallest batch written through COPY (pgcopy.go); 0: none
	lockKey int64       // the store's revision lock key (revlock.go), read at Open
	dir     directMode  // how revDB sends on its connections (pgexec.go)
	channel string      // the store's notification channel (feed.go), read at Open
	comb    *pgCombiner // the group commit of writes outside transactions (combine.go); nil: off
	// eagerBegin sends a transaction's BEGIN (Begin's and inTx's) as soon
	// as its connection is acquired, alone, as before pgLazyTx: only the
	// tests set it (the A/B of TestPGSetCost and TestPGInternalTx*).
	eagerBegin bool
	// txAcquired, when set (tests only), is called with a transaction's
	// connection once it is acquired, before anything is sent on it.
	txAcquired func(c *pgxpool.Conn)
}

var _ engine = (*pgEngine)(nil)

func openPostgres(ctx context.Context, dc dialect.Config, cfg config) (*pgEngine, error) {
	d, _ := dialect.ForName(dialect.Postgres)
	pc, err := pgxpool.ParseConfig(dc.URL)
	if err != nil {
		return nil, &dbError{storage.ErrInvalidOption, "the PostgreSQL DSN does not parse", err}
	}
	if cfg.roundTrips != nil {
		pc.ConnConfig.Tracer = countingTracer{n: cfg.roundTrips}
	}
	if cfg.pgxTracer != nil {
		pc.ConnConfig.Tracer = cfg.pgxTracer
	}
	pc.AfterConnect = jsonbParams
	conns := &pgConns{}
	conns.track(pc)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := migratePostgres(ctx, pool, cfg); err != nil {
		pool.Close()
		return nil, err
	}
	var key int64
	var channel string
	if err := pool.QueryRow(ctx, storeKeysSQL).Scan(&key, &channel); err != nil {
		pool.Close()
		return nil, fmt.Errorf("revision lock key and notification channel: %w", err)
	}
	points, err := openPgPoints(pc, pool, key)
	if err != nil {
		pool.Close()
		return nil, err
	}
	writes, err := openPgPoints(pc, pool, key)
	if err != nil {
		points.pool.Close()
		pool.Close()
		return nil, err
	}
	e := &pgEngine{d: d, pool: pool, q: points.mq, rq: pgPointQ{points.mq, points}, points: points, writes: writes,
		copyMin: cfg.copyMin, lockKey: key, channel: channel, dir: directModeOf(pc.ConnConfig), conns: conns}
	if !cfg.noCombine {
		e.comb = newPgCombiner(key)
		writes.q, writes.mq = writes.q.combining(e.comb), writes.mq.combining(e.comb)
	}
	if cfg.replicaDSN != "" {
		if e.replica, err = openReplica(ctx, pool, cfg); err != nil {
			points.pool.Close()
			writes.pool.Close()
			pool.Close()
			return nil, fmt.Errorf("replica: %w", err)
		}
	}
	return e, nil
}

// jsonbParams makes the engine's []byte parameters (JSON documents, and
// [][]byte arrays of them) jsonb where pgx must guess a parameter's type
// from its Go type: the exec and simple_protocol query exec modes, which a
// pooler in transaction mode needs (DSN parameter default_query_exec_mode).
// pgx would otherwise send them as bytea, which no jsonb accepts. The modes
// that ask the server for the parameter types are unaffected; the engine
// has no bytea parameter.
func jsonbParams(_ context.Context, c *pgx.Conn) error {
	m := c.TypeMap()
	m.RegisterDefaultPgType([]byte(nil), "jsonb")
	m.RegisterDefaultPgType([][]byte(nil), "_jsonb")
	return nil
}

// migratePostgres applies the pending migrations (or, with WithoutMigrate,
// checks that none is pending) on the pool, or on a connection of the
// direct DSN when there is one: the migration lock is a session-level
// advisory lock, which a pooler in transaction mode does not keep.
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, cfg config) (err error) {
	if err := existingSchema(ctx, pool, cfg.migrate && cfg.directDSN == ""); err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	if cfg.directDSN != "" {
		// pgxpool's parser, as for the DSN: pool settings (pool_max_conns)
		// in the direct DSN are not sent to the server as parameters.
		pc, err := pgxpool.ParseConfig(cfg.directDSN)
		if err != nil {
			return &dbError{storage.ErrInvalidOption, "the direct DSN does not parse", err}
		}
		db = stdlib.OpenDB(*pc.ConnConfig)
		if err := sameDatabase(ctx, pool, db); err != nil {
			_ = db.Close()
			return err
		}
		if err := directSession(ctx, db); err != nil {
			_ = db.Close()
			return err
		}
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if cfg.migrate {
		if err := refuseNewer(ctx, schema.Postgres, db); err != nil {
			return err
		}
		if _, err := schema.Up(ctx, schema.Postgres, db); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	// After Up too: a schema newer than this build knows stays as it is.
	return checkSchema(ctx, schema.Postgres, db)
}

// existingSchema fails with ErrInvalidOption when the pool's search_path
// names no schema that exists (goose would read a null current_schema()),
// and, when the migrations are to run on the pool (migrate), when its
// connections go through a connection pooler (pgdirect.Pooled): the
// migrations' session-level advisory lock would be held by whichever
// server connection the pooler handed out, and serialize nothing.
func existingSchema(ctx context.Context, pool *pgxpool.Pool, migrate bool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	none, err := pgdirect.NoSchema(ctx, conn.Conn())
	if err != nil {
		return err
	}
	if none {
		return badConfig(errors.New("the DSN's search_path names no schema that exists, or none the role may use: create the schema, grant the role USAGE (and CREATE) on it, or correct search_path"))
	}
	if !migrate {
		return nil
	}
	pooled, err := pgdirect.Pooled(ctx, conn.Conn())
	if err != nil {
		return err
	}
	if pooled {
		return badConfig(errors.New("the DSN reaches the server through a connection pooler (PgBouncer or the like), " +
			"which does not keep the session the migrations' advisory lock belongs to: give the server's own address " +
			"with WithDirectDSN (the store CLI's --direct-dsn), or open WithoutMigrate a schema migrated otherwise"))
	}
	return nil
}

// directSession fails with ErrInvalidOption when the direct DSN goes
// through a connection pooler too (pgdirect.Pooled): the migrations' lock
// would serialize nothing.
func directSession(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("direct DSN: %w", err)
	}
	defer conn.Close()
	var pooled bool
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("direct DSN: a %T, not a pgx connection", dc)
		}
		var err error
		pooled, err = pgdirect.Pooled(ctx, c.Conn())
		return err
	})
	if err != nil {
		return fmt.Errorf("direct DSN: %w", err)
	}
	if pooled {
		return badConfig(errors.New("the direct DSN reaches the server through a connection pooler (PgBouncer or the like), " +
			"which does not keep the session the migrations' advisory lock belongs to: give the server's own address"))
	}
	return nil
}

// sameDatabase fails unless the pool and the direct connection reach the
// same database and schema, so that migrations go where the data does.
func sameDatabase(ctx context.Context, pool *pgxpool.Pool, direct *sql.DB) error {
	const q = "SELECT current_database(), current_schema()"
	var pdb, pschema, ddb, dschema string
	if err := pool.QueryRow(ctx, q).Scan(&pdb, &pschema); err != nil {
		return err
	}
	if err := direct.QueryRowContext(ctx, q).Scan(&ddb, &dschema); err != nil {
		return fmt.Errorf("direct DSN: %w", err)
	}
	if pdb != ddb || pschema != dschema {
		return badConfig(fmt.Errorf("the direct DSN reaches database %q, schema %q; the DSN reaches %q, %q: want the same",
			ddb, dschema, pdb, pschema))
	}
	return nil
}

func (e *pgEngine) dialect() dialect.Dialect { return e.d }

// txCapacity: each transaction holds one pooled connection; a quarter of
// the pool (at least one) stays for the calls outside transactions. The
// read-only transactions on a standby hold its connections, all but one
// (at least one), which stays for the measure of its lag (WithReplica):
// holding them all, they made it wait for one until its timeout and
// record the standby as unreachable.
func (e *pgEngine) txCapacity() (total, readOnly int) {
	n := int(e.pool.Config().MaxConns)
	if e.replica != nil {
		readOnly = max(1, int(e.replica.pool.Config().MaxConns)-1)
	}
	return max(1, n-spareConns(n)), readOnly
}
func (e *pgEngine) reader() querier { return e.rq }
func (e *pgEngine) writer() querier { _, q := e.writes.pick(); return q }

// inTx runs fn in a transaction. Its BEGIN goes with fn's first statement
// (pgLazyTx), as Begin's do: a SetMany or DeleteMany costs one round trip
// less than with pgx.BeginFunc. When fn ran whole and the COMMIT's
// answer was lost because ctx ended while it was in flight (or the
// connection broke), the server settles the outcome (commitOutcome), so a
// write the database kept is never reported as failed. The transaction's
// id comes with the revision lock of its first write through revDB; a
// transaction that wrote otherwise (COPY, dynamic statements) reads it
// before COMMIT (one more round trip), unless ctx can never end.
func (e *pgEngine) inTx(ctx context.Context, fn func(q querier) error) error {
	var xid string // left by the revision lock statement (revDB), if a write took it
	ran := false
	err := e.lazyTxFunc(ctx, func(tx *pgLazyTx) error {
		if err := fn(newPgQ(tx, e.copyMin, &xid, e.lockKey)); err != nil {
			return err
		}
		ran = true
		if xid != "" || ctx.Done() == nil || !tx.begun {
			return nil // ctx.Done() nil: the COMMIT's answer can only be lost with the connection: ErrCommitUnknown
		}
		return tx.QueryRow(ctx, currentXidSQL).Scan(&xid)
	})
	if err != nil && ran && xid != "" && e.commitInDoubt(ctx, err) {
		err = e.commitOutcome(ctx, xid, err)
	}
	// The lock_timeout the revision lock set from ctx bounds every lock
	// wait after it, to COMMIT's: such a wait that ran out at the deadline
	// is the context's error, not a conflict (lockErr).
	return lockErr(ctx, err)
}

// lazyTxFunc is pgx.BeginFunc over a pgLazyTx: fn runs in a transaction
// (the server's default isolation) that commits when fn returns nil and
// rolls back otherwise, or when fn panics. The connection goes back to the
// pool at the end, which discards it when it is still in a transaction
// (a COMMIT or ROLLBACK that failed, ctx ended) or broken.
func (e *pgEngine) lazyTxFunc(ctx context.Context, fn func(tx *pgLazyTx) error) (err error) {
	pool, _ := e.writes.pick()
	tx, err := e.lazyTx(ctx, pool, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer func() {
		if !tx.closed {
			_ = tx.Rollback(ctx) // fn panicked
		}
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback(ctx) // fn's error is the one to return
		return err
	}
	return tx.Commit(ctx)
}

// lazyTx acquires a connection for a transaction whose BEGIN goes with its
// first statement (at once with the test-only eagerBegin).
func (e *pgEngine) lazyTx(ctx context.Context, pool *pgxpool.Pool, o pgx.TxOptions) (*pgLazyTx, error) {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx := &pgLazyTx{c: c, begin: beginSQL(o), dir: e.dir}
	if e.txAcquired != nil {
		e.txAcquired(c)
	}
	if e.eagerBegin {
		if err := tx.start(ctx); err != nil {
			tx.release()
			return nil, err
		}
	}
	return tx, nil
}

// A transaction's reference, for commitOutcome, is its id and the start
// time of the server's postmaster (epoch seconds), "xid:start": an id is
// only asked about on the server instance that gave it. Another server (a
// standby promoted by a failover, behind the same address or pooler)
// shares the id space up to what it replayed and may give an id the lost
// transaction had to a transaction of its own; the same server restarted
// after a crash may too, for an id whose WAL was not flushed.
const xactRefSQL = "pg_current_xact_id()::text || ':' || extract(epoch FROM pg_postmaster_start_time())::text"

// currentXidSQL is the transaction's reference (xactRefSQL); empty when it
// has written nothing (no id assigned, nothing to commit).
const currentXidSQL = "SELECT CASE WHEN pg_current_xact_id_if_assigned() IS NULL THEN '' ELSE " + xactRefSQL + " END"

// xactStatusSQL is pg_xact_status of a reference's id ($1) on the server
// instance that gave it (start time $2), else "another server". Under
// synchronous replication a COMMIT is committed on the primary before it
// waits for the standby, and a connection lost during that wait leaves a
// commit the next primary may not have: there, "committed" is "committed
// locally", not an outcome a caller may rely on.
const xactStatusSQL = `SELECT CASE
	WHEN extract(epoch FROM pg_postmaster_start_time()) <> $2::numeric THEN 'another server'
	WHEN pg_xact_status($1::xid8) = 'committed' AND current_setting('synchronous_standby_names') <> ''
	     AND current_setting('synchronous_commit') NOT IN ('off', 'local') THEN 'committed locally'
	ELSE COALESCE(pg_xact_status($1::xid8), '') END`

// commitOutcomeWait bounds how long commitOutcome asks the server.
const commitOutcomeWait = 5 * time.Second

// commitOutcome settles a transaction whose COMMIT failed on the client's
// side (its context ended while COMMIT was in flight, or the connection
// broke) by asking the server what became of the transaction (ref, its
// id and server instance: xactRefSQL), with
// pg_xact_status on another connection (of the point reads' lane), under a deadline of its own
// (commitOutcomeWait; the caller's may have passed). Committed: nil (the
// call did what it was asked, if late). Rolled back: err, as it was. Not
// known in time: ErrCommitUnknown. (CI: a SetMany sent through COPY, and a
// CreateIndex, whose deadline expired during their COMMIT returned
// context.DeadlineExceeded with every row written.)
func (e *pgEngine) commitOutcome(ctx context.Context, ref string, err error) error {
	unknown := func(why string) error { return &dbError{storage.ErrCommitUnknown, why, err} }
	xid, start, ok := strings.Cut(ref, ":")
	if !ok {
		return unknown("the transaction's reference is malformed")
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitOutcomeWait)
	defer cancel()
	for {
		var status string
		// On the point reads' lane: a short read, which the store's pool
		// may have no connection for (read-only transactions, watch reads
		// and scans can hold all of it, pgPoints), and a commit in doubt
		// would be reported unknown after waiting commitOutcomeWait.
		qerr := e.points.pool.QueryRow(actx, xactStatusSQL, xid, start).Scan(&status)
		switch {
		case qerr == nil && status == "committed":
			return nil
		case qerr == nil && status == "aborted":
			return err
		case qerr == nil && status == "another server":
			return unknown("the server that ran the transaction is gone")
		case qerr == nil && status == "committed locally":
			return unknown("the commit may not have reached the synchronous standby")
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-actx.Done():
			t.Stop()
			return unknown("the outcome of the commit could not be learned")
		case <-t.C:
		}
	}
}

// commitInDoubt reports whether a transaction's error, after fn ran whole,
// may have come after the server committed: the context ended, or the
// connection failed. An answer of the server (a conflict at COMMIT, say)
// is an outcome.
func (e *pgEngine) commitInDoubt(ctx context.Context, err error) bool {
	return ctx.Err() != nil || e.d.Classify(err) == dialect.ClassConnection
}

func (e *pgEngine) ping(ctx context.Context) error { return e.points.pool.Ping(ctx) }

func (e *pgEngine) quickReader() querier { return e.points.q }

func (e *pgEngine) schemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := e.points.pool.QueryRow(ctx, "SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version").Scan(&v)
	return v, err
}

// cut closes every network connection of the engine's pools (Store.Close).
func (e *pgEngine) cut() {
	e.conns.cut()
	if e.replica != nil {
		e.replica.conns.cut()
	}
}

// close closes the pools; a connection that has not ended pgCloseGrace
// later (its server stopped answering) is cut.
func (e *pgEngine) close() error {
	var wg sync.WaitGroup
	if e.replica != nil {
		wg.Go(func() { e.replica.conns.closePools(e.replica.pool) })
	}
	e.conns.closePools(e.points.pool, e.writes.pool, e.pool)
	wg.Wait()
	return nil
}

// pgQ implements querier over the generated PostgreSQL statements.
type pgQ struct {
	q   *pgdb.Queries
	w   *pgdb.Queries // the same handle, each statement after the revision lock (revlock.go)
	db  pgBatcher     // the same handle, for dynamic statements
	wdb pgdb.DBTX     // w's handle, for dynamic statements after the revision lock
	key int64         // the store's revision lock key (revlock.go)
}

// newPgQ binds the statements to a pool or a transaction. In a
// transaction, the batch writes of at least copyMin items (0: none) go
// through COPY (pgcopy.go), and xid (nil outside one) receives the
// transaction's id from the revision lock (revDB), whose key is key.
func newPgQ(db pgBatcher, copyMin int, xid *string, key int64) pgQ {
	w := pgdb.DBTX(newRevDB(db, xid, key))
	var cc copyConner
	switch d := db.(type) {
	case copyConner:
		cc = d
	case interface{ Conn() *pgx.Conn }:
		cc = connCopy{d}
	}
	if cc != nil && copyMin > 0 {
		w = copyDB{next: w, tx: cc, min: copyMin}
	}
	return pgQ{q: pgdb.New(db), w: pgdb.New(w), db: db, wdb: w, key: key}
}

var _ querier = pgQ{}

// combining is q (bound to a pool) with its writes in c's group commit.
func (q pgQ) combining(c *pgCombiner) pgQ {
	r := newRevDB(q.db, nil, q.key)
	r.comb = c
	q.wdb, q.w = r, pgdb.New(r)
	return q
}

func utc(t time.Time) time.Time { return t.UTC() }

// optTime is an expiry as pgx binds it: nil for none.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	p := new(time.Time) // not &t: t would be on the heap for the zero time too
	*p = t
	return p
}

// fromOptTime reads a stored expiry: the zero time for none.
func fromOptTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// optMicrosZero is an expiry in unix microseconds, 0 for none (the batch
// statements' arrays cannot hold NULL).
func optMicrosZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func (p pgQ) getEntry(ctx context.Context, ns, key string, now time.Time) (row, error) {
	// GetEntry's statement, its row read by entryScan (pgrow.go).
	rows, err := p.db.Query(ctx, pgdb.GetEntrySQL, ns, key, now)
	if err != nil {
		return row{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return row{}, err
		}
		return row{}, errNoRow
	}
	var es entryScan
	r, err := es.scan(rows, key)
	if err != nil {
		return row{}, err
	}
	rows.Close()
	return r, rows.Err()
}

func (p pgQ) hasEntry(ctx context.Context, ns, key string, now time.Time) (bool, error) {
	return p.q.HasEntry(ctx, pgdb.HasEntryParams{Namespace: ns, Key: key, Now: now})
}

func (p pgQ) entryState(ctx context.Context, ns, key string, now time.Time) (state, error) {
	v, err := p.q.GetEntryVersion(ctx, pgdb.GetEntryVersionParams{Namespace: ns, Key: key, Now: now})
	return state{Version: v.Version, Revision: v.Revision}, noRow(err)
}

func (p pgQ) upsertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	r, err := p.w.UpsertEntry(ctx, pgdb.UpsertEntryParams{Actor: actor, Key: key, Value: value, Metadata: md, Now: now, Namespace: ns,
		ExpiresAt: optTime(exp.At), KeepTtl: exp.Keep})
	return wrote{r.Version, r.Revision, r.CreateRevision}, noRow(err)
}

func (p pgQ) insertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	r, err := p.w.InsertEntry(ctx, pgdb.InsertEntryParams{Actor: actor, Key: key, Value: value, Metadata: md, Now: now, Namespace: ns,
		ExpiresAt: optTime(exp.At)})
	return wrote{r.Version, r.Revision, r.CreateRevision}, noRow(err)
}

func (p pgQ) updateEntryIf(ctx context.Context, ns, key string, value, md []byte, exp expiry, c cond, now time.Time, actor *string) (wrote, error) {
	r, err := p.w.UpdateEntryIf(ctx, pgdb.UpdateEntryIfParams{Actor: actor, Value: value, Metadata: md, Now: now,
		Namespace: ns, Key: key, ExpectedVersion: c.Version, ExpectedRevision: c.Revision, KeepTtl: exp.Keep, ExpiresAt: optTime(exp.At)})
	return wrote{r.Version, r.Revision, r.CreateRevision}, noRow(err)
}

func (p pgQ) deleteEntry(ctx context.Context, ns, key string, c cond, now time.Time) (wrote, error) {
	r, err := p.w.DeleteEntryIf(ctx, pgdb.DeleteEntryIfParams{Namespace: ns, Key: key, ExpectedVersion: c.Version, ExpectedRevision: c.Revision, Now: now})
	return wrote{Version: r.Version, Revision: r.Revision}, noRow(err)
}

func (p pgQ) getMetadata(ctx context.Context, ns, key string, now time.Time) (metaRow, error) {
	r, err := p.q.GetMetadata(ctx, pgdb.GetMetadataParams{Namespace: ns, Key: key, Now: now})
	if err != nil {
		return metaRow{}, noRow(err)
	}
	return metaRow{Metadata: r.Metadata, Version: r.Version, Revision: r.Revision, CreateRevision: r.CreateRevision,
		CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),
		CreatedBy: r.CreatedBy, UpdatedBy: r.UpdatedBy, ExpiresAt: fromOptTime(r.ExpiresAt)}, nil
}

func (p pgQ) replaceMetadata(ctx context.Context, ns, key string, md []byte, c cond, now time.Time, actor *string) (wrote, error) {
	r, err := p.w.ReplaceMetadata(ctx, pgdb.ReplaceMetadataParams{Actor: actor, Metadata: md, Now: now, Namespace: ns, Key: key,
		ExpectedVersion: c.Version, ExpectedRevision: c.Revision})
	return wrote{r.Version, r.Revision, r.CreateRevision}, noRow(err)
}

func (p pgQ) clearNamespace(ctx context.Context, ns string, now time.Time) (int64, error) {
	return p.w.ClearNamespace(ctx, pgdb.ClearNamespaceParams{Namespace: ns, Now: now})
}

func (p pgQ) clearAll(ctx context.Context, now time.Time) (int64, error) {
	return p.w.ClearAll(ctx, now)
}

func (p pgQ) getEntries(ctx context.Context, ns string, keys []string, now time.Time, b *driver.ReadBudget) ([]row, bool, error) {
	// Scanned here rather than by pgdb.GetEntries, which allocates a row
	// per result. pgx streams the rows: each is received when Next asks
	// for it, so a budget (b) stops the reading before the rest are held;
	// pgEndRows ends the rest (in a caller's transaction, a cursor's).
	var db pgdb.DBTX = p.db
	if b != nil {
		db = cursorDB{db}
	}
	rows, err := pgQuery(ctx, db, pgdb.GetEntriesSQL, []any{pgTextArray(keys), now, ns})
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	out := make([]row, 0, min(len(keys), 1024))
	var es entryScan
	for rows.Next() {
		if over(b) != nil {
			pgEndRows(db, rows)
			return out, true, nil
		}
		r, err := es.scan(rows, "")
		if err != nil {
			return nil, false, err
		}
		out = append(out, r)
		spend(b, len(r.Key)+len(r.Value)+len(r.Metadata))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	return out, false, nil
}

// pgTextArray writes keys as the text form of a PostgreSQL text[] (each
// element quoted, its quotes and backslashes escaped). pgx sends a string
// parameter in text form whatever its type, which the server parses; a
// []string it encodes element by element, boxing each (one allocation per
// key: 100 of a GetMany of 100 keys' 540).
func pgTextArray(keys []string) string {
	return joinKeys(keys, '{', '}', func(b []byte, k string) []byte {
		b = append(b, '"')
		for j := 0; j < len(k); j++ {
			if c := k[j]; c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, k[j])
		}
		return append(b, '"')
	})
}

// logExpired logs expire changes in the order given.
func (p pgQ) logExpired(ctx context.Context, rows []SweptRow, now time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	arg := pgdb.LogChangesParams{Kinds: make([]string, len(rows)), Namespaces: make([]string, len(rows)), Keys: make([]string, len(rows)),
		Versions: make([]int64, len(rows)), Prevs: make([]int64, len(rows)), Now: now}
	for i, r := range rows {
		arg.Kinds[i], arg.Namespaces[i], arg.Keys[i], arg.Versions[i], arg.Prevs[i] = "expire", r.Namespace, r.Key, r.Version, r.Revision
	}
	return p.w.LogChanges(ctx, arg)
}

// lockRevisions takes the revision lock (revlock.go) until the end of the
// transaction, before a dynamic statement that deletes rows.
func (p pgQ) lockRevisions(ctx context.Context) error {
	_, err := p.db.Exec(ctx, revisionLockSQL, p.key)
	return err
}

func (p pgQ) revision(ctx context.Context) (int64, int64, error) {
	r, err := p.q.Revisions(ctx)
	return r.Current, r.Oldest, err
}

// pgItems are batch items as the parallel arrays that unnest reads.
type pgItems struct {
	keys      []string
	vals, mds [][]byte
	expires   []int64 // unix microseconds, 0 for none
	keeps     []bool
}

// splitItems turns items into the parallel arrays that unnest reads.
func splitItems(items []batchItem) pgItems {
	a := pgItems{keys: make([]string, len(items)), vals: make([][]byte, len(items)), mds: make([][]byte, len(items)),
		expires: make([]int64, len(items)), keeps: make([]bool, len(items))}
	for i, it := range items {
		a.keys[i], a.vals[i], a.mds[i] = it.Key, it.Value, it.Metadata
		if a.mds[i] == nil {
			a.mds[i] = []byte("{}")
		}
		a.expires[i], a.keeps[i] = optMicrosZero(it.Expiry.At), it.Expiry.Keep
	}
	return a
}

func (p pgQ) upsertEntries(ctx context.Context, ns string, items []batchItem, keep bool, now time.Time, actor *string) ([]keyVersion, error) {
	a := splitItems(items)
	if keep {
		rs, err := p.w.UpsertEntriesKeepMetadata(ctx, pgdb.UpsertEntriesKeepMetadataParams{Actor: actor, Now: now, Keys: a.keys, Vals: a.vals,
			Expires: a.expires, Keeps: a.keeps, Namespace: ns})
		if err != nil {
			return nil, err
		}
		out := make([]keyVersion, len(rs))
		for i, r := range rs {
			out[i] = keyVersion{r.Key, r.Version, r.Revision, r.CreateRevision}
		}
		return out, nil
	}
	rs, err := p.w.UpsertEntries(ctx, pgdb.UpsertEntriesParams{Actor: actor, Now: now, Keys: a.keys, Vals: a.vals, Metadatas: a.mds,
		Expires: a.expires, Keeps: a.keeps, Namespace: ns})
	if err != nil {
		return nil, err
	}
	out := make([]keyVersion, len(rs))
	for i, r := range rs {
		out[i] = keyVersion{r.Key, r.Version, r.Revision, r.CreateRevision}
	}
	return out, nil
}

func (p pgQ) insertEntries(ctx context.Context, ns string, items []batchItem, now time.Time, actor *string) ([]keyVersion, error) {
	a := splitItems(items)
	rs, err := p.w.InsertEntries(ctx, pgdb.InsertEntriesParams{Actor: actor, Now: now, Keys: a.keys, Vals: a.vals, Metadatas: a.mds,
		Expires: a.expires, Keeps: a.keeps, Namespace: ns})
	if err != nil {
		return nil, err
	}
	out := make([]keyVersion, len(rs))
	for i, r := range rs {
		out[i] = keyVersion{r.Key, r.Version, r.Revision, r.CreateRevision}
	}
	return out, nil
}

func (p pgQ) deleteEntries(ctx context.Context, ns string, keys []string, now time.Time) ([]keyVersion, error) {
	rs, err := p.w.DeleteEntries(ctx, pgdb.DeleteEntriesParams{Namespace: ns, Keys: keys, Now: now})
	if err != nil {
		return nil, err
	}
	out := make([]keyVersion, len(rs))
	for i, r := range rs {
		out[i] = keyVersion{Key: r.Key, Version: r.Version, Revision: r.Revision}
	}
	return out, nil
}

func (p pgQ) ensureNamespace(ctx context.Context, ns storage.NamespaceName, now time.Time) error {
	return p.w.EnsureNamespace(ctx, pgdb.EnsureNamespaceParams{Name: ns.Name, Owner: owner(ns), Now: now})
}

func (p pgQ) createNamespace(ctx context.Context, ns storage.NamespaceName, md, indexes []byte, now time.Time) (bool, error) {
	_, err := p.w.CreateNamespace(ctx, pgdb.CreateNamespaceParams{Name: ns.Name, Owner: owner(ns), Metadata: md, Indexes: indexes, Now: now})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// lockNamespace locks the namespace row (FOR UPDATE) until the end of the
// transaction, so no entry can be added to it meanwhile.
func (p pgQ) lockNamespace(ctx context.Context, name string) (nsRow, error) {
	r, err := p.w.LockNamespace(ctx, name)
	if err != nil {
		return nsRow{}, noRow(err)
	}
	return nsRow{ID: r.ID, EntryCount: r.EntryCount}, nil
}

func (p pgQ) deleteNamespaceEntries(ctx context.Context, id int64) (int64, error) {
	return p.w.DeleteNamespaceEntries(ctx, id)
}

func (p pgQ) deleteNamespace(ctx context.Context, id int64) (int64, error) {
	return p.w.DeleteNamespace(ctx, id)
}

func (p pgQ) stats(ctx context.Context, now time.Time) (int64, int64, error) {
	r, err := p.q.StoreStats(ctx, now)
	return r.Entries, r.Namespaces, err
}

func (p pgQ) expiredIn(ctx context.Context, id int64, now time.Time) (int64, error) {
	return p.q.CountExpiredInNamespace(ctx, pgdb.CountExpiredInNamespaceParams{ID: id, Now: now})
}

// capacityLock serializes the writes of stores with a capacity (the
// revision lock, revlock.go: one lock, so that no two writers can take
// them in opposite orders), then updates the
// capacity guard row: in repeatable-read and serializable transactions that
// makes two writers conflict (40001) instead of both checking the count on a
// stale snapshot.
func (p pgQ) capacityLock(ctx context.Context) error {
	if err := p.q.CapacityLock(ctx, p.key); err != nil {
		return err
	}
	return p.q.TouchCapacityGuard(ctx)
}

func (p pgQ) queryRows(ctx context.Context, q string, args []any, scan func(r rowScanner) error) error {
	return pgQueryRows(ctx, p.db, q, args, scan)
}

// boundedRows is queryRows through a cursor in a caller's transaction
// (pgLazyTx.cursorQuery).
func (p pgQ) boundedRows(ctx context.Context, q string, args []any, scan func(r rowScanner) error) error {
	return pgQueryRows(ctx, cursorDB{p.db}, q, args, scan)
}

// cursorDB is a handle whose reads, in a caller's transaction, go through
// a cursor (pgLazyTx.cursorQuery).
type cursorDB struct{ pgdb.DBTX }

// pgQuery runs q on db: through a cursor when db is a cursorDB of a
// pgLazyTx.
func pgQuery(ctx context.Context, db pgdb.DBTX, q string, args []any) (pgx.Rows, error) {
	if c, ok := db.(cursorDB); ok {
		if lt, ok := c.DBTX.(*pgLazyTx); ok {
			return lt.cursorQuery(ctx, q, args)
		}
		db = c.DBTX
	}
	return db.Query(ctx, q, args...)
}

// pgQueryRows is queryRows on db. A read that scan stops at its bound
// (errReadBudget, a History or watch page's errPageFull) ends as
// pgEndRows says.
func pgQueryRows(ctx context.Context, db pgdb.DBTX, q string, args []any, scan func(r rowScanner) error) error {
	rows, err := pgQuery(ctx, db, q, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			if errors.Is(err, errReadBudget) || errors.Is(err, errPageFull) {
				pgEndRows(db, rows)
			}
			return err
		}
	}
	return rows.Err()
}

// pgDrainBytes is how many bytes of rows pgEndRows receives and drops
// after a read stopped at its budget, waiting for the statement's end,
// before it closes the connection instead.
var pgDrainBytes = 1 << 20

// pgEndRows ends rows that a read on db stopped reading at its bound in
// bytes (storage.MaxBytes, a History page's) before their end. The server sends a statement's rows
// whether or not they are read, and pgx's Close receives and drops them
// all: after 16 small entries the rest of a page of large ones (up to its
// limit, or the whole namespace without one) would cross the connection
// for nothing. So on a pool's connection at most pgDrainBytes more are
// received; when the statement has not ended by then, the connection is
// closed (the server stops, and the pool opens another when it needs one).
// A transaction's connection is not closed: that would end the
// transaction; its bounded reads go through a cursor (cursorDB), whose
// rows are dropped to the end of their FETCH at most. A pool's connection
// is drained whole once pgCloses has no close left this second: a
// caller whose reads are cut again and again must not make the store open
// connections (a server process each, a socket left in TIME_WAIT each) as
// fast as it asks. The rows' error after a close is not the read's: it was
// cut short, by choice.
func pgEndRows(db pgdb.DBTX, rows pgx.Rows) {
	if c, ok := db.(cursorDB); ok {
		db = c.DBTX
	}
	if _, ok := db.(*pgxpool.Pool); !ok {
		rows.Close()
		return
	}
	n := 0
	for rows.Next() {
		for _, v := range rows.RawValues() {
			n += len(v)
		}
		if n > pgDrainBytes && pgCloses.take(time.Now()) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = rows.Conn().PgConn().Close(ctx)
			cancel()
			break
		}
	}
	rows.Close()
}

// pgCloses bounds how many connections pgEndRows closes: pgClosesPerSecond
// a second, in every store of the process.
var pgCloses = &closeBudget{per: pgClosesPerSecond}

const pgClosesPerSecond = 20

// closeBudget allows per events a second: each second that begins gives
// per of them, and what one second leaves is not carried over.
type closeBudget struct {
	per  int
	mu   sync.Mutex
	sec  int64 // the second (Unix) left counts
	left int
}

// take reports whether an event at now is allowed, and counts it.
func (b *closeBudget) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := now.Unix(); s != b.sec {
		b.sec, b.left = s, b.per
	}
	if b.left == 0 {
		return false
	}
	b.left--
	return true
}

func (p pgQ) queryRowsLocked(ctx context.Context, q string, args []any, scan func(r rowScanner) error) error {
	return pgQueryRows(ctx, p.wdb, q, args, scan)
}

func (p pgQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.db.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// pgIsolation maps the level in force to pgx's.
func pgIsolation(l storage.IsolationLevel) pgx.TxIsoLevel {
	switch l {
	case storage.LevelRepeatableRead:
		return pgx.RepeatableRead
	case storage.LevelSerializable:
		return pgx.Serializable
	}
	return pgx.ReadCommitted
}

func (e *pgEngine) begin(ctx context.Context, opts storage.TxOptions) (txConn, error) {
	o := pgx.TxOptions{IsoLevel: pgIsolation(e.d.Isolation(opts.Isolation))}
	if opts.ReadOnly {
		o.AccessMode = pgx.ReadOnly
	}
	tx, err := e.lazyTx(ctx, e.pool, o)
	if err != nil {
		return nil, err
	}
	tx.caller = true
	t := &pgTx{tx: tx, e: e, copyMin: e.copyMin}
	t.bound = newPgQ(tx, e.copyMin, &t.xid, e.lockKey)
	return t, nil
}

// pgTxConn is what a pgTx runs on: a pgLazyTx, or pgx's transaction on
// a standby (WithReplica).
type pgTxConn interface {
	pgBatcher
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// pgTx is an open PostgreSQL transaction.
type pgTx struct {
	tx      pgTxConn
	sp      int // the savepoints taken, which name the next
	e       *pgEngine
	bound   querier
	replica bool   // it runs on the standby of WithReplica
	copyMin int    // as pgEngine's
	xid     string // its id, once a write took the revision lock (revDB)
}

func (t *pgTx) q() querier { return t.bound }

// holds implements blocker: a write took the revision lock.
func (t *pgTx) holds() bool { return t.xid != "" && !t.replica }

// waited implements blocker: a session waits for the store's revision
// lock (pg_advisory_xact_lock of a bigint key: classid is its high 32
// bits, objid its low 32 bits, objsubid 1).
func (t *pgTx) waited(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	key := uint64(t.e.lockKey)
	var waits bool
	// On the point reads' lane, as commitOutcome: the store's pool may be
	// held whole, which is when writers wait.
	err := t.e.points.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1)`,
		int64(key>>32), int64(key&0xffffffff)).Scan(&waits)
	return err == nil && waits
}

// savepoint runs fn under a savepoint, as pgx's nested transactions do:
// released when fn succeeds, rolled back to when it fails (the error of
// that rollback, if any, replaces fn's), except when fn failed with an
// error that aborts the transaction (abortsTx): the savepoint stays, so
// the transaction stays aborted, and every later operation and the Commit
// fail with ErrTxConflict, as after the same failure of a statement run
// outside a savepoint. Rolled back to, the transaction went on and
// committed its other writes, though the write had answered that the
// database aborted it (TestTxConflictInSavepointAbortsTx).
func (t *pgTx) savepoint(ctx context.Context, fn func(q querier) error) (err error) {
	t.sp++
	name := "sp_" + strconv.Itoa(t.sp)
	if _, err := t.tx.Exec(ctx, "savepoint "+name); err != nil {
		return err
	}
	if err := fn(newPgQ(t.tx, t.copyMin, &t.xid, t.e.lockKey)); err != nil {
		if abortsTx(t.e.dialect().Classify(err)) {
			return err
		}
		if _, rerr := t.tx.Exec(ctx, "rollback to savepoint "+name); rerr != nil {
			return rerr
		}
		return err
	}
	_, err = t.tx.Exec(ctx, "release savepoint "+name)
	return err
}

// abortsTx reports whether an error of class c, which the store reports
// as ErrTxConflict ("the database aborted a transaction"), ends the
// transaction it happened in: a serialization failure, a deadlock, a
// foreign key that a concurrent DeleteNamespace broke (see "Transactions"
// in doc.go), a transaction already aborted.
func abortsTx(c dialect.ErrorClass) bool {
	switch c {
	case dialect.ClassSerialization, dialect.ClassDeadlock, dialect.ClassForeignKey, dialect.ClassTxAborted:
		return true
	}
	return false
}

// commit commits. When the COMMIT's answer is lost (ctx ended while it was
// in flight, the connection broke) and a write of the transaction took the
// revision lock (which gave its id), the server settles the outcome
// (commitOutcome): nil when it committed; the context's error, marked
// settled, when it rolled back. A transaction that wrote nothing through
// the lock has nothing to settle but its reads.
func (t *pgTx) commit(ctx context.Context) error {
	var err error
	if lt, ok := t.tx.(*pgLazyTx); ok && t.xid != "" {
		err = lt.CommitBounded(ctx) // a write set lock_timeout from its own context
	} else {
		err = t.tx.Commit(ctx)
	}
	if err == nil || t.xid == "" || !t.e.commitInDoubt(ctx, err) {
		return err
	}
	if oerr := t.e.commitOutcome(ctx, t.xid, err); oerr == nil || errors.Is(oerr, storage.ErrCommitUnknown) {
		return oerr
	}
	if cerr := ctx.Err(); cerr != nil {
		return rolledBack{cerr}
	}
	return rolledBack{err}
}

// rolledBack is a COMMIT error whose transaction is known to have rolled
// back: commitError returns err as it is, not as an unknown outcome.
type rolledBack struct{ err error }

func (r rolledBack) Error() string { return r.err.Error() }
func (r rolledBack) Unwrap() error { return r.err }

// rollback sends ROLLBACK. The caller's context ending does not stop it
// (a rollback under a cancelled context still ends the transaction and
// keeps the connection), but pgRollbackTimeout bounds it: a server that
// stopped answering (a hung standby of WithReplica, a network path that
// went silent) would otherwise hold the caller, the idle reaper and Close
// for ever. Cut short, the connection is closed, which ends the
// transaction on the server once it notices; the caller gets
// ErrUnavailable.
func (t *pgTx) rollback(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pgRollbackTimeout)
	defer cancel()
	err := t.tx.Rollback(rctx)
	switch {
	case errors.Is(err, pgx.ErrTxClosed):
		err = nil
	case err != nil && rctx.Err() != nil:
		err = &dbError{storage.ErrUnavailable, "the server did not answer the rollback in time: the connection was closed, which ends the transaction", err}
	}
	return err
}

// pgRollbackTimeout bounds a ROLLBACK (pgTx.rollback); a variable for
// the tests.
var pgRollbackTimeout = 5 * time.Second

// The statements of Export and Restore (dumpQuerier).

func (p pgQ) dumpNamespaces(ctx context.Context, after string, limit int) ([]nsDump, error) {
	rs, err := p.q.DumpNamespaces(ctx, pgdb.DumpNamespacesParams{After: after, PageSize: int32(min(limit, math.MaxInt32))})
	if err != nil {
		return nil, err
	}
	out := make([]nsDump, len(rs))
	for i, r := range rs {
		ix, err := decodeIndexes(r.Indexes)
		if err != nil {
			return nil, err
		}
		out[i] = nsDump{ID: r.ID, NamespaceRecord: NamespaceRecord{Name: r.Name, Metadata: r.Metadata, CreatedAt: utc(r.CreatedAt), Indexes: ix, Entries: r.EntryCount}}
	}
	return out, nil
}

func (p pgQ) dumpNamespace(ctx context.Context, name string) (nsDump, error) {
	r, err := p.q.GetNamespace(ctx, name)
	if err != nil {
		return nsDump{}, noRow(err)
	}
	ix, err := decodeIndexes(r.Indexes)
	if err != nil {
		return nsDump{}, err
	}
	return nsDump{ID: r.ID, NamespaceRecord: NamespaceRecord{Name: r.Name, Metadata: r.Metadata, CreatedAt: utc(r.CreatedAt), Indexes: ix, Entries: r.EntryCount}}, nil
}

func (p pgQ) dumpEntries(ctx context.Context, nsID int64, after string, limit int, maxBytes int64, now time.Time) ([]Record, int64, error) {
	rs, err := p.q.DumpEntries(ctx, pgdb.DumpEntriesParams{NamespaceID: nsID, After: after, PageSize: int32(min(limit, math.MaxInt32)), MaxBytes: maxBytes, Now: now})
	if err != nil || len(rs) == 0 {
		return nil, 0, err
	}
	out := make([]Record, len(rs))
	for i, r := range rs {
		out[i] = Record{Key: r.Key, Value: r.Value, Metadata: r.Metadata, Version: r.Version,
			CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt), CreatedBy: deref(r.CreatedBy), UpdatedBy: deref(r.UpdatedBy),
			ExpiresAt: fromOptTime(r.ExpiresAt)}
	}
	return out, rs[len(rs)-1].RunningBytes, nil
}

func (p pgQ) restoreNamespaceIDs(ctx context.Context, names []string) (map[int64]string, error) {
	rs, err := p.q.RestoreNamespaceIDs(ctx, names)
	if err != nil {
		return nil, err
	}
	ids := make(map[int64]string, len(rs))
	for _, r := range rs {
		ids[r.ID] = r.Name
	}
	return ids, nil
}

func (p pgQ) restoreExisting(ctx context.Context, recs []Record) ([]Record, error) {
	arg := pgdb.RestoreExistingParams{Namespaces: make([]string, len(recs)), Keys: make([]string, len(recs))}
	for i, r := range recs {
		arg.Namespaces[i], arg.Keys[i] = r.Namespace, r.Key
	}
	rs, err := p.q.RestoreExisting(ctx, arg)
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(rs))
	for i, r := range rs {
		out[i] = Record{Namespace: r.Namespace, Key: r.Key, Value: r.Value, Metadata: r.Metadata, Version: r.Version,
			CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt), CreatedBy: deref(r.CreatedBy), UpdatedBy: deref(r.UpdatedBy),
			ExpiresAt: fromOptTime(r.ExpiresAt)}
	}
	return out, nil
}

func (p pgQ) restoreInsert(ctx context.Context, recs []*Record, now time.Time) ([]idKey, error) {
	n := len(recs)
	arg := pgdb.RestoreInsertParams{
		Namespaces: make([]string, n), Keys: make([]string, n), Vals: make([][]byte, n), Metadatas: make([][]byte, n),
		Versions: make([]int64, n), CreatedAts: make([]time.Time, n), UpdatedAts: make([]time.Time, n),
		CreatedBys: make([]string, n), UpdatedBys: make([]string, n), Expires: make([]int64, n),
	}
	for i, r := range recs {
		arg.Namespaces[i], arg.Keys[i], arg.Vals[i], arg.Metadatas[i] = r.Namespace, r.Key, r.Value, r.Metadata
		arg.Versions[i] = r.Version
		arg.CreatedAts[i], arg.UpdatedAts[i] = r.CreatedAt.UTC().Truncate(time.Microsecond), r.UpdatedAt.UTC().Truncate(time.Microsecond)
		arg.CreatedBys[i], arg.UpdatedBys[i] = r.CreatedBy, r.UpdatedBy
		arg.Expires[i] = optMicrosZero(r.ExpiresAt)
	}
	arg.Now = now
	rs, err := p.w.RestoreInsert(ctx, arg)
	if err != nil {
		return nil, err
	}
	out := make([]idKey, len(rs))
	for i, r := range rs {
		out[i] = idKey{r.NamespaceID, r.Key}
	}
	return out, nil
}

func (p pgQ) restoreUpdateNamespace(ctx context.Context, id int64, md []byte, created time.Time) error {
	_, err := p.w.RestoreUpdateNamespace(ctx, pgdb.RestoreUpdateNamespaceParams{Metadata: md, CreatedAt: created, ID: id})
	return err
}

func (p pgQ) restoreNamespaceIndexes(ctx context.Context, id int64, indexes []byte) error {
	_, err := p.w.RestoreNamespaceIndexes(ctx, pgdb.RestoreNamespaceIndexesParams{Indexes: indexes, ID: id})
	return err
}

// restorePlans makes the transaction plan every statement for its
// parameters (see ForceCustomPlans in queries/postgres/dump.sql).
func (p pgQ) restorePlans(ctx context.Context) error { return p.q.ForceCustomPlans(ctx) }
