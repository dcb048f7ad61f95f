package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// ReplicaCheckInterval is how long a measure of the standby's lag is
// trusted at most: a read-only transaction begun later measures it again
// (one caller at a time; the others use the last measure meanwhile). A
// measure that found the standby usable is trusted only while the lag it
// found plus its age is within WithReplica's maxLag, since the standby
// may have replayed nothing since: past that, read-only transactions
// measure again or go to the primary, so that none reads further behind
// than maxLag.
const ReplicaCheckInterval = time.Second

// replicaCheckTimeout bounds one measure of the standby, so that a standby
// that hangs costs a read-only Begin at most this before it goes to the
// primary.
const replicaCheckTimeout = 500 * time.Millisecond

// WithReplica gives a PostgreSQL store a hot standby (streaming replica)
// of its server for read-only transactions: Begin with TxOptions.ReadOnly
// runs on the standby while the standby is reachable and its replay lag is
// at most maxLag (maxLag <= 0: any lag). Everything else goes to the
// primary: writes, reads outside transactions, serializable read-only
// transactions (a standby cannot run them), and every read-only
// transaction while the standby is away or too far behind. A transaction's
// place is chosen once, at Begin, and OnReplica(tx) reports it. The lag is
// measured at most once per ReplicaCheckInterval, and again sooner when
// the last measure's lag plus its age passes maxLag.
//
// Reads on the standby are stale by up to maxLag: a read-only transaction
// may not see a write the same caller committed just before. Callers that
// need to read their own writes use a read-write transaction or a read
// outside a transaction. ReplicaStatus reports the standby's state and lag.
//
// Open connects to the standby and checks that it is a copy of the same
// cluster (system identifier), database and search path; a standby that cannot
// be reached at Open fails it, so a misconfiguration shows at once. The
// standby is never migrated: it replays the primary's migrations.
func WithReplica(dsn string, maxLag time.Duration) Option {
	return func(c *config) error {
		dc, err := dialect.ParseDSN(dsn)
		if err != nil {
			return fmt.Errorf("sqlstore: WithReplica: %w", err)
		}
		if dc.Dialect != dialect.Postgres {
			return fmt.Errorf("sqlstore: WithReplica: want a postgres:// DSN, got a %s one", dc.Dialect)
		}
		c.replicaDSN, c.replicaMaxLag = dsn, maxLag
		return nil
	}
}

// ReplicaStatus is the state of the standby of WithReplica.
type ReplicaStatus struct {
	// Configured is false when the store has no standby.
	Configured bool
	// Usable reports whether read-only transactions go to the standby now:
	// it answered and its lag is within the bound.
	Usable bool
	// InRecovery is true while the standby is a standby; false once it was
	// promoted. A promoted standby serves read-only transactions only when
	// it is the store's primary itself (a failover made it the primary the
	// DSN reaches); one promoted apart from the primary serves none (not
	// Usable, Err says so), since it no longer replays the primary's
	// writes.
	InRecovery bool
	// Lag is how far the standby's replay is behind: 0 when it has
	// replayed everything the primary had written when measured, else the
	// time since the last transaction it replayed.
	Lag time.Duration
	// CheckedAt is when it was measured.
	CheckedAt time.Time
	// Err says why the standby could not be measured, when it could not:
	// it wraps ErrUnavailable.
	Err error
}

// replica is the standby of a PostgreSQL engine.
type replica struct {
	pool   *pgxpool.Pool
	conns  *pgConns // pool's network connections
	maxLag time.Duration

	checking atomic.Bool // a measure is under way
	mu       sync.Mutex  // protects last
	last     ReplicaStatus
}

// openReplica connects to the standby and checks that it is a copy of the
// primary's database and schema.
func openReplica(ctx context.Context, primary *pgxpool.Pool, cfg config) (*replica, error) {
	pc, err := pgxpool.ParseConfig(cfg.replicaDSN)
	if err != nil {
		return nil, &dbError{storage.ErrInvalidOption, "the replica DSN does not parse", err}
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
	// The search path, not current_schema(): a schema created a moment
	// ago may not have been replayed yet.
	const q = "SELECT (SELECT system_identifier FROM pg_control_system()), current_database(), current_setting('search_path')"
	var pid, rid int64
	var pdb, rdb, pschema, rschema string
	if err := primary.QueryRow(ctx, q).Scan(&pid, &pdb, &pschema); err != nil {
		pool.Close()
		return nil, err
	}
	if err := pool.QueryRow(ctx, q).Scan(&rid, &rdb, &rschema); err != nil {
		pool.Close()
		return nil, &standbyError{dsn: cfg.replicaDSN, err: err}
	}
	if pid != rid || pdb != rdb || pschema != rschema {
		pool.Close()
		return nil, badConfig(fmt.Errorf("the replica DSN reaches cluster %d, database %q, search path %q; the DSN reaches %d, %q, %q: want a standby of the same",
			rid, rdb, rschema, pid, pdb, pschema))
	}
	r := &replica{pool: pool, conns: conns, maxLag: cfg.replicaMaxLag}
	r.last = r.measure(ctx, primary)
	return r, nil
}

// measure asks the primary how far it has written and the standby how far
// it has replayed.
func (r *replica) measure(ctx context.Context, primary *pgxpool.Pool) ReplicaStatus {
	ctx, cancel := context.WithTimeout(ctx, replicaCheckTimeout)
	defer cancel()
	st := ReplicaStatus{Configured: true, CheckedAt: time.Now()}
	// The server and its start identify the primary: a standby that is
	// not in recovery serves only when it is that same server.
	const pq = `SELECT pg_current_wal_lsn()::text, (SELECT system_identifier FROM pg_control_system()), pg_postmaster_start_time()`
	var written string
	var pid, rid int64
	var pstart, rstart time.Time
	if err := primary.QueryRow(ctx, pq).Scan(&written, &pid, &pstart); err != nil {
		st.Err = &dbError{storage.ErrUnavailable, "the primary did not answer the measure of the standby", err}
		return st
	}
	// caught up: the standby replayed at least what the primary had
	// written above. Otherwise the lag is the time since the last
	// transaction it replayed (NULL: none yet, unknown).
	const q = `SELECT pg_is_in_recovery(),
       NOT pg_is_in_recovery() OR COALESCE(pg_last_wal_replay_lsn() >= $1::pg_lsn, false),
       EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8,
       (SELECT system_identifier FROM pg_control_system()), pg_postmaster_start_time()`
	var caughtUp bool
	var secs *float64
	if err := r.pool.QueryRow(ctx, q, written).Scan(&st.InRecovery, &caughtUp, &secs, &rid, &rstart); err != nil {
		st.Err = standbyUnavailable(err)
		return st
	}
	switch {
	case rid != pid:
		st.Err = &dbError{storage.ErrUnavailable, "the standby DSN reaches another cluster than the primary's now", nil}
		return st
	case !st.InRecovery && !rstart.Equal(pstart):
		// Promoted apart from the primary (a split brain, or a standby
		// promoted by hand): it no longer replays the store's writes,
		// so its lag has no bound.
		st.Err = &dbError{storage.ErrUnavailable, promotedApart, nil}
		return st
	case caughtUp:
		st.Lag = 0
	case secs == nil:
		st.Err = &dbError{storage.ErrUnavailable, "the standby has replayed no transaction yet: its lag is unknown", nil}
		return st
	default:
		st.Lag = time.Duration(max(*secs, 0) * float64(time.Second))
	}
	st.Usable = r.maxLag <= 0 || st.Lag <= r.maxLag
	return st
}

// status returns the last measure, measuring again when it is older than
// ReplicaCheckInterval and no other caller is measuring.
func (r *replica) status(ctx context.Context, primary *pgxpool.Pool, fresh bool) ReplicaStatus {
	r.mu.Lock()
	st := r.last
	r.mu.Unlock()
	if !fresh && time.Since(st.CheckedAt) < ReplicaCheckInterval && (!st.Usable || r.within(st)) {
		return st
	}
	if !r.checking.CompareAndSwap(false, true) {
		// Someone is measuring: use the last measure, as far as it goes.
		st.Usable = st.Usable && r.within(st)
		return st
	}
	defer r.checking.Store(false)
	st = r.measure(ctx, primary)
	if st.Err != nil && ctx.Err() != nil {
		// The caller's context ended, not the standby: its failure says
		// nothing of the standby, and recording it would send every
		// read-only transaction to the primary until the next measure.
		return st
	}
	r.mu.Lock()
	r.last = st
	r.mu.Unlock()
	return st
}

// promotedApart is ReplicaStatus.Err's reason for a standby promoted
// apart from the primary.
const promotedApart = "the standby was promoted: a primary of its own, which no longer replays the store's writes"

// within reports whether the standby, st.Lag behind when st was measured,
// is at most maxLag behind now, having perhaps replayed nothing since.
func (r *replica) within(st ReplicaStatus) bool {
	return r.maxLag <= 0 || st.Lag+time.Since(st.CheckedAt) <= r.maxLag
}

// failed records that the standby failed a Begin: read-only transactions
// go to the primary until the next measure.
func (r *replica) failed(err error) {
	r.mu.Lock()
	r.last.Usable, r.last.Err = false, standbyUnavailable(err)
	r.mu.Unlock()
}

// standbyUnavailable is the reason ReplicaStatus gives for a standby that
// failed: ErrUnavailable, without the driver's text (errors.As still finds
// the driver's error).
func standbyUnavailable(err error) error {
	return &dbError{storage.ErrUnavailable, "the standby cannot be reached, or did not answer in time", err}
}

// standbyError is a failure of Open to reach the standby of WithReplica:
// Open reports it at the standby's address, not the primary's.
type standbyError struct {
	dsn string
	err error
}

func (e *standbyError) Error() string { return "standby: " + e.err.Error() }
func (e *standbyError) Unwrap() error { return e.err }

// replicaRouter is implemented by an engine with a standby.
type replicaRouter interface {
	// onReplica reports whether a transaction with opts goes to the standby.
	onReplica(ctx context.Context, opts storage.TxOptions) bool
	// beginReplica starts a read-only transaction on the standby.
	beginReplica(ctx context.Context, opts storage.TxOptions) (txConn, error)
	// replicaFailed records that the standby failed a Begin.
	replicaFailed(err error)
}

func (e *pgEngine) onReplica(ctx context.Context, opts storage.TxOptions) bool {
	if e.replica == nil || !opts.ReadOnly || e.d.Isolation(opts.Isolation) == storage.LevelSerializable {
		return false
	}
	return e.replica.status(ctx, e.pool, false).Usable
}

func (e *pgEngine) beginReplica(ctx context.Context, opts storage.TxOptions) (txConn, error) {
	// Bounded as a measure is: a standby that stopped answering since the
	// last measure would otherwise hold the Begin as long as ctx allows.
	bctx, cancel := context.WithTimeout(ctx, replicaCheckTimeout)
	defer cancel()
	tx, err := e.replica.pool.BeginTx(bctx, pgx.TxOptions{IsoLevel: pgIsolation(e.d.Isolation(opts.Isolation)), AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	return &pgTx{tx: tx, e: e, bound: newPgQ(tx, 0, nil, e.lockKey), replica: true}, nil
}

func (e *pgEngine) replicaFailed(err error) { e.replica.failed(err) }

// ReplicaStatus measures the standby of WithReplica now and reports its
// state; Configured is false when the store has none. A context that ends
// during the measure is its error.
func (s *Store) ReplicaStatus(ctx context.Context) (ReplicaStatus, error) {
	const op = "replicaStatus"
	if _, err := s.start(ctx, op, "", 0, nil); err != nil {
		return ReplicaStatus{}, err
	}
	e, ok := s.eng.(*pgEngine)
	if !ok || e.replica == nil {
		return ReplicaStatus{}, nil
	}
	st := e.replica.status(ctx, e.pool, true)
	if err := ctx.Err(); err != nil && st.Err != nil {
		// The caller's context ended the measure, not the standby.
		return ReplicaStatus{}, &storage.OpError{Op: op, Err: err}
	}
	return st, nil
}

// OnReplica reports whether tx runs on the standby of WithReplica. It is
// false for a transaction of another store.
func OnReplica(tx storage.Tx) bool {
	t, ok := tx.(*sqlTx)
	if !ok {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.conn.(*pgTx)
	return ok && p.replica
}
