package sqlstore

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage/dialect"
)

// Option configures Open.
type Option func(*config) error

type config struct {
	capacity     int64
	maxValueSize int
	migrate      bool
	now          func() time.Time

	maxOpenTx     int           // 0 = txmanager.DefaultMaxOpen
	txIdleTimeout time.Duration // 0 = txmanager.DefaultIdleTimeout; < 0 = never
	maxTxPerActor int           // 0 = no cap
	txMaxLife     time.Duration // 0 = txmanager.DefaultMaxLifetime; < 0 = never

	// roundTrips, when set, counts statements sent to the database
	// (BEGIN and COMMIT included). Tests use it.
	roundTrips *atomic.Int64
	// purgeIdle, when > 0, replaces purgeIdle (tests: withPurgeIdle).
	purgeIdle time.Duration
	// purgeChunk, when > 0, replaces purgeChunk (tests: withPurgeChunk).
	purgeChunk int
	// pgxTracer, when set, traces the PostgreSQL connections (tests).
	pgxTracer pgx.QueryTracer

	sweepInterval time.Duration // < 0: no background sweeper
	sweepBatch    int
	// onSweep, when set, sees the rows of every sweep batch (tests).
	onSweep func([]SweptRow)
	// onQuery, when set, sees every statement Query runs to read its
	// rows, with its arguments (tests).
	onQuery func(q string, args []any)
	// directDSN, when set, reaches the PostgreSQL server without a pooler
	// in between: the work that needs a session of its own goes there.
	directDSN string
	// replicaDSN, when set, reaches a hot standby for read-only
	// transactions whose replay lag is at most replicaMaxLag (WithReplica).
	replicaDSN    string
	replicaMaxLag time.Duration
	// noCombine turns PostgreSQL's group commit of writes outside
	// transactions off (WithoutWriteCombining; combine.go).
	noCombine bool

	// The change log: see watch.go and compact.go.
	watchBuffer      int
	watchBufferBytes int64
	txContendedIdle  time.Duration
	txMaxHold        time.Duration
	watchPatience    time.Duration
	watchLagged      func() // called when a watch cuts its consumer off (tests)
	watchPoll        time.Duration
	watchReadGap     time.Duration
	watchPollOnly    bool
	listenCheck      time.Duration // see feed.listenOnce; tests lower it
	listenPing       time.Duration
	retention        Retention

	queryCache int // statements the query cache keeps; 0: off

	// copyMin is the smallest PostgreSQL batch write sent with COPY
	// (pgcopy.go); 0: none. Tests lower it.
	copyMin int
}

func defaultConfig() config {
	return config{migrate: true, now: time.Now, sweepInterval: DefaultSweepInterval, sweepBatch: DefaultSweepBatch,
		watchBuffer: DefaultWatchBuffer, watchBufferBytes: DefaultWatchBufferBytes, watchPatience: DefaultWatchPatience, watchPoll: DefaultWatchPollInterval, watchReadGap: DefaultWatchReadInterval,
		listenCheck: defaultListenCheck, listenPing: defaultListenPing, retention: DefaultRetention, queryCache: DefaultQueryCacheSize, copyMin: defaultCopyMin}
}

// WithSweepInterval sets how often the background sweeper deletes expired
// rows (default DefaultSweepInterval); d < 0 turns it off (tests, or a
// deployment where one process sweeps, or none does and Sweep is called by
// hand). Expired entries are invisible either way. d must not be 0.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) error {
		if d == 0 {
			return fmt.Errorf("sqlstore: WithSweepInterval(0): want > 0, or < 0 for off")
		}
		c.sweepInterval = d
		return nil
	}
}

// WithSweepBatch sets the most rows one sweeper statement deletes (default
// DefaultSweepBatch): on SQLite it bounds how long a sweep holds the
// writer at a time (after each batch the writer is left free for as long).
func WithSweepBatch(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("sqlstore: WithSweepBatch(%d): want > 0", n)
		}
		c.sweepBatch = n
		return nil
	}
}

// withSweepHook makes the store call fn with the rows of every sweep batch.
func withSweepHook(fn func([]SweptRow)) Option {
	return func(c *config) error {
		c.onSweep = fn
		return nil
	}
}

// withQueryHook makes the store call fn with every statement Query runs
// to read rows (queryRows), and its arguments.
func withQueryHook(fn func(q string, args []any)) Option {
	return func(c *config) error {
		c.onQuery = fn
		return nil
	}
}

// WithCapacity caps the number of entries the store holds, across all
// namespaces. A write that would pass it fails with ErrCapacityExceeded and
// writes nothing. On PostgreSQL, writes that may add entries then take a
// transaction-scoped advisory lock, so they run one at a time; n must be >= 0
// (0 = no cap).
func WithCapacity(n int64) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("sqlstore: WithCapacity(%d): want >= 0", n)
		}
		c.capacity = n
		return nil
	}
}

// WithMaxValueSize sets the largest JSON encoding of a value or of metadata,
// in bytes (default storage.DefaultMaxValueSize).
func WithMaxValueSize(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("sqlstore: WithMaxValueSize(%d): want > 0", n)
		}
		c.maxValueSize = n
		return nil
	}
}

// WithoutWriteCombining makes every write outside a transaction commit
// alone. By default the writes a store's callers make at the same time
// share commits (a group commit: combine.go), each with its own statement,
// revisions and answer: on PostgreSQL every write outside a transaction,
// on SQLite the single Sets. Alone, concurrent writes run at the rate of
// one commit each (on a durable PostgreSQL server, or SQLite with
// synchronous=FULL, one WAL flush each).
func WithoutWriteCombining() Option {
	return func(c *config) error {
		c.noCombine = true
		return nil
	}
}

// WithoutMigrate makes Open use the schema as it is instead of applying
// pending migrations; Open then fails if the schema is not current.
func WithoutMigrate() Option {
	return func(c *config) error {
		c.migrate = false
		return nil
	}
}

// WithClock sets the store's clock (default time.Now): it stamps created
// and updated times, turns TTLs into expiry times, and decides what has
// expired, on both dialects alike (the database's own clock is never
// used). Times are stored in UTC with microsecond precision, within years
// 0 to 9999 (what RFC 3339, so the wire and a dump, can carry): a clock
// outside them reads as the first or the last microsecond of that range.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("sqlstore: WithClock(nil)")
		}
		c.now = now
		return nil
	}
}

// withPurgeIdle (tests) sets how often the store's purger looks for work
// it was not told of (default purgeIdle).
func withPurgeIdle(d time.Duration) Option {
	return func(c *config) error {
		c.purgeIdle = d
		return nil
	}
}

// withPurgeChunk (tests) sets how many rows one purge transaction of the
// store deletes (default purgeChunk).
func withPurgeChunk(n int) Option {
	return func(c *config) error {
		c.purgeChunk = n
		return nil
	}
}

// withRoundTripCounter counts the statements the store sends.
func withRoundTripCounter(n *atomic.Int64) Option {
	return func(c *config) error {
		c.roundTrips = n
		return nil
	}
}

// WithMaxOpenTx caps the number of open transactions (default 128); Begin
// beyond it fails with ErrTooManyTx.
func WithMaxOpenTx(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("sqlstore: WithMaxOpenTx(%d): want > 0", n)
		}
		c.maxOpenTx = n
		return nil
	}
}

// WithMaxTxPerActor caps the transactions one actor may hold open at once
// (default: no cap). The actor is storage.ActorFromContext of
// Begin's context: the principal's PKR behind an authorizing store
// (package security), which sets it; calls that name no actor are not
// capped per actor. Begin beyond the cap fails with ErrTooManyTx.
func WithMaxTxPerActor(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("sqlstore: WithMaxTxPerActor(%d): want > 0", n)
		}
		c.maxTxPerActor = n
		return nil
	}
}

// WithTxMaxLifetime rolls back a transaction d after it began, however
// busy it is (default 10 minutes); d < 0 never does. Unlike the idle
// timeout, activity does not extend it.
func WithTxMaxLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d == 0 {
			return fmt.Errorf("sqlstore: WithTxMaxLifetime(0): want > 0, or < 0 for never")
		}
		c.txMaxLife = d
		return nil
	}
}

// WithTxIdleTimeout rolls back a transaction that runs no operation for d
// (default 1 minute); d < 0 never does.
func WithTxIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d == 0 {
			return fmt.Errorf("sqlstore: WithTxIdleTimeout(0): want > 0, or < 0 for never")
		}
		c.txIdleTimeout = d
		return nil
	}
}

// WithTxContendedIdleTimeout rolls back a read-write transaction that runs
// no operation for d while it blocks another writer of the store: on
// SQLite every read-write transaction holds the one writer from Begin, on
// PostgreSQL one holds the store's revision lock from its first write
// (revlock.go), so an idle one keeps every other writer of every namespace
// waiting until its idle timeout. Off by default (d <= 0), as an embedded
// program only makes itself wait; storeserver turns it on
// (--tx-contended-idle-timeout), so that one principal cannot stall every
// other principal's writes. "Another writer waits" is: on SQLite, a writer
// of this store (this process) began waiting for the writer connection
// since the transaction began (writers in other processes wait on the
// file's lock, which the store does not see); on PostgreSQL, any session
// waits for the store's revision lock (pg_locks). The transaction is
// rolled back as by the idle timeout: its next operation fails with
// storage.ErrTxDone. So is any transaction, read-only or not, idle for d
// while a Begin waits for the place it holds: transactions hold at most
// three quarters of the connections (SQLite's readers for read-only ones,
// PostgreSQL's pool), and idle ones could keep every other Begin waiting
// out its context (ErrTooManyTx). One such transaction at a time is
// rolled back: one of the actor (WithMaxTxPerActor: the principal of an
// authorizing store) with the most open transactions first, so that one
// principal's many cannot make another's single one go, then the one
// idle longest.
func WithTxContendedIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		c.txContendedIdle = d
		return nil
	}
}

// WithTxContendedMaxHold rolls back a transaction that has held what
// others wait for, for d while another waits, however busy it is: a
// transaction that keeps running operations is never idle, so only its
// maximum lifetime (WithTxMaxLifetime) would end it. What it holds is,
// for a read-write transaction, what other writers of the store wait for
// (as WithTxContendedIdleTimeout says: SQLite's writer from Begin,
// PostgreSQL's revision lock from the first write), and for any
// transaction its place among the connections transactions may hold
// (SQLite's readers for a read-only one, PostgreSQL's pool), from Begin,
// while another Begin waits for one. One transaction is rolled back per
// pass of the reaper, so a single waiting Begin frees one place, chosen as
// WithTxContendedIdleTimeout says (the actor with the most first). Its
// running operation, if any, is interrupted (its statement cancelled) and
// fails with storage.ErrTxDone, as does the next: before, the rollback
// waited for the operation to end, and a transaction running one scan
// after another no index serves kept every other writer waiting for as
// long (TestHostileTxHold in package httpapi). A long read in one
// transaction (an export) can thus be cut short when others wait. Off by default (d <= 0); storeserver
// turns it on (--tx-contended-max-hold).
func WithTxContendedMaxHold(d time.Duration) Option {
	return func(c *config) error {
		c.txMaxHold = d
		return nil
	}
}

// withCopyMin sets the smallest PostgreSQL batch write sent with COPY
// (pgcopy.go); n <= 0: none.
func withCopyMin(n int) Option {
	return func(c *config) error {
		c.copyMin = max(n, 0)
		return nil
	}
}

// withPgxTracer traces the PostgreSQL connections.
func withPgxTracer(t pgx.QueryTracer) Option {
	return func(c *config) error {
		c.pgxTracer = t
		return nil
	}
}

// WithDirectDSN gives a PostgreSQL store a second DSN that reaches the same
// database without a connection pooler in between, for when the main DSN
// goes through one in transaction pooling mode (PgBouncer's pool_mode =
// transaction, which hands each transaction to whichever server connection
// is free). Work that needs a session of its own goes through the direct
// DSN: applying and checking the migrations (under a session-level advisory
// lock) and, in general, anything that must outlive one transaction. The
// data operations and transactions keep using the main DSN. Open checks that
// both DSNs reach the same database and schema, and that the direct one
// reaches the server itself, not a pooler (ErrInvalidOption otherwise).
// Without it Open refuses to migrate through a pooler (ErrInvalidOption,
// naming WithDirectDSN): only WithoutMigrate, which reads the schema's
// version and takes no lock, opens through one alone. On SQLite it is an
// error.
func WithDirectDSN(dsn string) Option {
	return func(c *config) error {
		dc, err := dialect.ParseDSN(dsn)
		if err != nil {
			return fmt.Errorf("sqlstore: WithDirectDSN: %w", err)
		}
		if dc.Dialect != dialect.Postgres {
			return fmt.Errorf("sqlstore: WithDirectDSN: want a postgres:// DSN, got a %s one", dc.Dialect)
		}
		c.directDSN = dsn
		return nil
	}
}
