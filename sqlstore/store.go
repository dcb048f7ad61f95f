package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/jsonx"
	"github.com/mycelia-kernel/storage/schema"
	"github.com/mycelia-kernel/storage/txmanager"
)

// Store is a storage.Store on SQLite or PostgreSQL. It is safe for
// concurrent use by multiple goroutines.
type Store struct {
	ops // the data operations, on the store's own connections
	eng engine
	cfg config
	dsn dialect.Config
	txs *txmanager.Registry
	// txConns and roConns bound the connections transactions hold, all of
	// them and read-only ones (nil: no bound); see engine.txCapacity.
	txConns, roConns *txGate
	closed           atomic.Bool
	// sweeper is the background sweeper; nil when off.
	sweeper *sweeper
	// purger deletes unlinked namespaces' rows (unlink.go); nil when off.
	purger *purger
	// withdrawn are the withdrawn index fields whose clean-up failed,
	// for the purger (createindex.go).
	withdrawn withdrawnFields
	// assist is what the writers owe compaction (compact.go).
	assist compactDebt
	nsIDs  nsIDCache             // namespace ids by name (nsid.go)
	nsRows genMap[int64, nsRows] // entry counts for the probe's K by namespace id (drive.go)
	qcache *queryCache           // compiled statements (querycache.go); nil when off
	feed   *feed                 // wakes watchers (feed.go)
	// watchReads holds a place for each watch read of the log running
	// (watchReadPlaces), shared fairly among actors (readGate).
	watchReads *readGate

	// yields counts the retries of yieldingTx (for tests).
	yields atomic.Int64
	// logScan (tests) finds a key's changes on SQLite by scanning the log
	// for its namespace and key instead of along its chains (keyChain):
	// the reference the chains are checked against.
	logScan bool

	// degraded is why the store refuses every write (a SQLite file whose
	// disk was full when it opened); "" when it does not.
	degraded string
}

var _ storage.Store = (*Store)(nil)

// Open opens the store at dsn, applies pending migrations (unless
// WithoutMigrate), and checks the connection. DSN forms:
//
//	sqlite:path/to.db[?busy_timeout=ms&synchronous=normal|full&readers=n&cache_size=KiB]
//	sqlite::memory:[?busy_timeout=ms&readers=n&cache_size=KiB]
//	postgres://user:pass@host:5432/db?sslmode=disable&pool_max_conns=10
//
// On SQLite each connection (the writer, the readers, 4 by default, and
// the point readers, half as many) keeps a page cache of cache_size KiB,
// 16 MiB by default (SQLite's own is 2 MiB): it fills only as pages are
// read, so a store takes up to (readers + readers/2 + 1) × cache_size of
// memory for it once its data is that large.
//
// sqlite::memory: is a private database of its own for each Open: a file
// in a fresh directory under /dev/shm (RAM on Linux; os.TempDir() where
// there is none), run like any SQLite file (WAL, one writer, a pool of
// readers, so reads go on while a write transaction is open), and removed
// at Close. A process killed before Close leaves the directory
// (storage-memory-*) behind.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, badConfig(err)
		}
	}
	dc, err := dialect.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", badConfig(err))
	}
	var eng engine
	switch dc.Dialect {
	case dialect.SQLite:
		if cfg.directDSN != "" {
			return nil, badConfig(fmt.Errorf("sqlstore: WithDirectDSN is for PostgreSQL, not %s", dc.Dialect))
		}
		if cfg.replicaDSN != "" {
			return nil, badConfig(fmt.Errorf("sqlstore: WithReplica is for PostgreSQL, not %s", dc.Dialect))
		}
		eng, err = openSQLite(ctx, dc, cfg)
	case dialect.Postgres:
		eng, err = openPostgres(ctx, dc, cfg)
	default:
		err = badConfig(fmt.Errorf("unsupported dialect %q", dc.Dialect))
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", openFailed(dc, err))
	}
	s := &Store{eng: eng, cfg: cfg, dsn: dc, qcache: newQueryCache(cfg.queryCache)}
	s.feed = newFeed(s)
	s.txs = txmanager.NewRegistry(txmanager.Options{
		MaxOpen:     cfg.maxOpenTx,
		MaxPerOwner: cfg.maxTxPerActor,
		IdleTimeout: cfg.txIdleTimeout,
		MaxLifetime: cfg.txMaxLife,

		ContendedIdleTimeout: cfg.txContendedIdle,
		ContendedMaxHold:     cfg.txMaxHold,
	})
	total, ro := eng.txCapacity()
	if total > 0 {
		s.txConns = newTxGate(total)
	}
	if ro > 0 {
		s.roConns = newTxGate(ro)
	}
	s.watchReads = newReadGate(watchReadPlaces(eng))
	s.ops = ops{s: s, sc: storeScope{s}}
	if se, ok := eng.(*sqliteEngine); ok && se.degraded != "" {
		// Read-only: nothing to reconcile, nothing to sweep.
		s.degraded = se.degraded
		return s, nil
	}
	if err := s.reconcileIndexes(ctx); err != nil {
		// The registry's idle reaper runs already: a failed Open left it
		// running for good, one more for each try.
		s.txs.Close(context.Background())
		_ = eng.close()
		return nil, fmt.Errorf("sqlstore: open %s: declared indexes: %w", dc.Dialect, openError(dc.Dialect, err))
	}
	s.startSweeper()
	s.startPurger()
	return s, nil
}

// watchReadPlaces is how many watches read the log at once: half of
// SQLite's readers, half of what PostgreSQL's transactions leave of the
// pool (spareConns), at least one. A watch's read goes through the log
// from its position, testing each change against its filter, so that
// with a filter few changes pass (and up to storage.MaxFilterNodes
// leaves) one read of a long log lasts seconds to minutes: a principal's
// watches (16 streams over HTTP) read at once held every reader, and
// every other principal's get waited for them (TestHostileWatchScans
// in package httpapi: 9.4 s beside 8 watches of one principal on
// SQLite). The others wait for a place, as long as their context
// allows, in turn across actors (readGate): one principal's many
// watches waiting do not keep another's read behind all of theirs.
func watchReadPlaces(eng engine) int {
	switch e := eng.(type) {
	case *sqliteEngine:
		return max(1, e.readers/2)
	case *pgEngine:
		return max(1, spareConns(int(e.pool.Config().MaxConns))/2)
	}
	return 1
}

// spareConns is how many of n pooled connections transactions leave to the
// calls outside them: a quarter, at least one.
func spareConns(n int) int { return max(1, n/4) }

// errSchemaNewer is Open's error for a database at version cur, above
// every migration this build knows (the highest is want).
func errSchemaNewer(cur, want int64) error {
	return fmt.Errorf("%w: the schema is at version %d, newer than this build knows (%d): open it with a build that knows it",
		storage.ErrUnsupported, cur, want)
}

// refuseNewer fails with errSchemaNewer, before the migrations run, when
// the database's version is above every migration this build knows. goose's
// Up does not refuse it when that version comes with gaps below it (another
// program's dated versions in goose's default table, say): it fails on the
// engine's migrations being "missing", or applies them out of order.
func refuseNewer(ctx context.Context, d schema.Dialect, db *sql.DB) error {
	cur, want, err := schemaVersions(ctx, d, db)
	if err != nil {
		return err
	}
	if cur > want {
		return errSchemaNewer(cur, want)
	}
	return nil
}

// checkSchema fails unless every known migration is applied.
func checkSchema(ctx context.Context, d schema.Dialect, db *sql.DB) error {
	cur, want, err := schemaVersions(ctx, d, db)
	if err != nil {
		return err
	}
	if cur > want {
		return errSchemaNewer(cur, want)
	}
	if cur != want {
		return fmt.Errorf("%w: the schema is at version %d, this build needs %d: run the migrations, or open without WithoutMigrate",
			storage.ErrUnsupported, cur, want)
	}
	return nil
}

// schemaVersions returns the database's schema version and the highest
// this build knows. It only reads (schema.Version: no version table is
// created, where goose's GetVersions created one in a database that had
// none, another application's opened WithoutMigrate).
func schemaVersions(ctx context.Context, d schema.Dialect, db *sql.DB) (cur, want int64, err error) {
	cur, err = schema.Version(ctx, d, db)
	if err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	p, err := schema.NewProvider(d, db)
	if err != nil {
		return 0, 0, err
	}
	for _, src := range p.ListSources() {
		want = max(want, src.Version)
	}
	return cur, want, nil
}

// Dialect reports the store's dialect.
func (s *Store) Dialect() dialect.Name { return s.eng.dialect().Name() }

// Capabilities implements storage.Store.
func (s *Store) Capabilities() storage.Capabilities {
	return storage.Capabilities{
		Transactions: true,
		Query:        true,
		Metadata:     true,
		Batches:      true,
		Capacity:     true,
	}
}

// Close implements storage.Store. It rolls back the open transactions and
// closes the connections. On PostgreSQL, what has not ended two seconds
// after Close began (a server or standby that stopped answering, an
// operation of a transaction still waiting on it) is cut: Close does not
// wait for a server that does not answer, and an operation cut ends with
// an error.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stopSweeper()
	s.stopPurger()
	s.feed.close()
	s.closeTxs()
	return s.eng.close()
}

// closeTxs rolls back the open transactions. On PostgreSQL, when that has
// not ended pgCloseGrace later (a server that stopped answering: each
// rollback waits for it up to pgRollbackTimeout, and an operation of a
// transaction, which holds it, for as long as its context allows), the
// engine's connections are cut, which ends the rollbacks and the
// operations at once: the server rolls back what a lost connection had
// open.
func (s *Store) closeTxs() {
	c, ok := s.eng.(interface{ cut() })
	if !ok {
		s.txs.Close(context.Background())
		return
	}
	cutAfterGrace(func() { s.txs.Close(context.Background()) }, c.cut)
}

// now is the timestamp of a write: UTC, microsecond precision (what both
// databases store), within years 0 to 9999 (what RFC 3339, so the wire and
// a dump, can carry): a clock before or after them reads as the first or
// the last microsecond of that range.
func (s *Store) now() time.Time {
	t := s.cfg.now().UTC().Truncate(time.Microsecond)
	switch {
	case t.Before(firstTime):
		return firstTime
	case t.After(lastTime):
		return lastTime
	}
	return t
}

// firstTime and lastTime are the first and the last microsecond that RFC
// 3339 spells (years 0 to 9999).
var (
	firstTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	lastTime  = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// start checks that the store is open and the context alive, and resolves
// the call's options. key is the operation's key ("" for an operation on
// many or none): an option's error names the namespace and the key, as the
// operation's other errors do, though the options it comes from are not
// resolved (the namespace is the last InNamespace given, unless that one is
// the invalid option).
func (x *ops) start(ctx context.Context, op, key string, allowed driver.OptionKind, opts []storage.Option) (driver.CallOptions, error) {
	if err := x.sc.usable(); err != nil {
		return driver.CallOptions{}, &storage.OpError{Op: op, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return driver.CallOptions{}, &storage.OpError{Op: op, Err: err}
	}
	o, err := driver.ResolveOptions(op, allowed, opts)
	if err != nil {
		ns := ""
		if !errors.Is(err, storage.ErrInvalidNamespace) { // the message names it
			ns = driver.NamespaceOf(opts)
		}
		return o, &storage.OpError{Op: op, Namespace: ns, Key: key, Err: err}
	}
	if o.Metadata != nil && x.s.cfg.maxValueSize > 0 && len(o.Metadata) > x.s.cfg.maxValueSize {
		return o, &storage.OpError{Op: op, Namespace: o.Namespace.Name, Key: key, Err: driver.Invalidf(storage.ErrValueTooLarge,
			"metadata is %d bytes, more than the maximum %d", len(o.Metadata), x.s.cfg.maxValueSize)}
	}
	return o, nil
}

// startWrite is start for an operation that writes: a read-only
// transaction refuses it.
func (x *ops) startWrite(ctx context.Context, op, key string, allowed driver.OptionKind, opts []storage.Option) (driver.CallOptions, error) {
	o, err := x.start(ctx, op, key, allowed, opts)
	if t, ok := x.sc.(*sqlTx); ok && err == nil {
		t.writeStarted = true // mu is held (scope)
	}
	if err == nil && x.sc.readOnly() {
		err = &storage.OpError{Op: op, Namespace: o.Namespace.Name, Key: key, Err: storage.ErrReadOnly}
	}
	if err == nil {
		err = x.s.writable(op, o.Namespace.Name)
	}
	return o, err
}

// writable fails with ErrStorageFull when the store was opened read-only
// because its disk was full.
func (s *Store) writable(op, ns string) error {
	if s.degraded == "" {
		return nil
	}
	return &storage.OpError{Op: op, Namespace: ns, Err: &dbError{storage.ErrStorageFull, s.degraded, nil}}
}

// fail wraps err for operation op. Errors that already are *OpError pass
// through; a database error after Close reads as ErrClosed; other driver
// errors are classified (classify, errclass.go).
func (s *Store) fail(op, ns, key string, err error) error {
	if err == storage.ErrNotFound { //nolint:errorlint // the sentinel itself (a Get's miss), which passes through as it is
		return &storage.OpError{Op: op, Namespace: ns, Key: key, Err: err}
	}
	var oe *storage.OpError
	if errors.As(err, &oe) {
		return err
	}
	if s.closed.Load() && !isSentinel(err) {
		err = storage.ErrClosed
	} else if !isSentinel(err) {
		err = s.classify(op, err)
	}
	return &storage.OpError{Op: op, Namespace: ns, Key: key, Err: err}
}

func isSentinel(err error) bool {
	var ve *storage.ValidationError
	var de *dbError // already classified
	return errors.As(err, &ve) || errors.As(err, &de) || errors.Is(err, storage.ErrNotFound) ||
		errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrAlreadyExists) ||
		errors.Is(err, storage.ErrCapacityExceeded)
}

// wrapsSentinel reports whether err wraps one of the storage sentinels.
func wrapsSentinel(err error) bool {
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// badConfig is err, an error of Open's DSN or options, as
// ErrInvalidOption.
func badConfig(err error) error {
	if wrapsSentinel(err) {
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrInvalidOption, err)
}

// errCapacity is the error of a write refused by the capacity.
func (s *Store) errCapacity() error {
	return fmt.Errorf("%w: the store holds at most %d entries", storage.ErrCapacityExceeded, s.cfg.capacity)
}

// write runs fn as one write. When the store has a capacity and the write
// may add entries, fn runs in a transaction that holds the capacity lock and
// checks the count before committing; otherwise fn runs directly.
func (x *ops) write(ctx context.Context, mayInsert bool, fn func(q querier) error) error {
	if x.s.cfg.capacity == 0 || !mayInsert {
		return fn(x.sc.writer())
	}
	return x.sc.atomic(ctx, func(q querier) error {
		if err := q.capacityLock(ctx); err != nil {
			return err
		}
		if err := fn(q); err != nil {
			return err
		}
		return x.checkCapacity(ctx, q, x.s.now())
	})
}

func (x *ops) checkCapacity(ctx context.Context, q querier, now time.Time) error {
	n, _, err := q.stats(ctx, now)
	if err != nil {
		return err
	}
	if n > x.s.cfg.capacity {
		return x.s.errCapacity()
	}
	return nil
}

// Get implements storage.Ops.
func (x *ops) Get(ctx context.Context, key string, opts ...storage.Option) (storage.Entry, error) {
	const op = "get"
	o, err := x.start(ctx, op, key, driver.KindNamespace|driver.KindRevision, opts)
	if err != nil {
		return storage.Entry{}, err
	}
	ns := o.Namespace.Name
	if err := storage.ValidateKey(key); err != nil {
		return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, err)
	}
	if o.Set&driver.KindRevision != 0 {
		if o.RevisionFrom {
			return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, driver.Invalidf(storage.ErrInvalidOption, "get takes AtRevision, not FromRevision"))
		}
		return x.getAt(ctx, ns, key, o.Revision)
	}
	r, err := x.sc.reader().getEntry(ctx, ns, key, x.s.now())
	if errors.Is(err, errNoRow) {
		return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, err)
	}
	return toEntry(ns, r), nil
}

func toEntry(ns string, r row) storage.Entry {
	return storage.Entry{
		Namespace:      ns,
		Key:            r.Key,
		Value:          json.RawMessage(r.Value),
		Metadata:       json.RawMessage(r.Metadata),
		Version:        r.Version,
		Revision:       r.Revision,
		CreateRevision: r.CreateRevision,
		CreatedAt:      r.CreatedAt,
		UpdatedAt:      r.UpdatedAt,
		ExpiresAt:      r.ExpiresAt,
	}
}

// Has implements storage.Ops.
func (x *ops) Has(ctx context.Context, key string, opts ...storage.Option) (bool, error) {
	const op = "has"
	o, err := x.start(ctx, op, key, driver.KindNamespace, opts)
	if err != nil {
		return false, err
	}
	ns := o.Namespace.Name
	if err := storage.ValidateKey(key); err != nil {
		return false, x.s.failCtx(ctx, op, ns, key, err)
	}
	found, err := x.sc.reader().hasEntry(ctx, ns, key, x.s.now())
	if err != nil {
		return false, x.s.failCtx(ctx, op, ns, key, err)
	}
	return found, nil
}

// setKinds are the options Set accepts.
const setKinds = driver.KindNamespace | driver.KindMetadata | driver.KindNoOverwrite | driver.KindIfVersion |
	driver.KindIfRevision | driver.KindMustExist | driver.KindWritten | driver.KindExpiry | driver.KindMerge

// Set implements storage.Ops.
func (x *ops) Set(ctx context.Context, key string, value any, opts ...storage.Option) error {
	const op = "set"
	var o driver.CallOptions
	defer func() { x.changedIn(ctx, o.Namespace.Name, 1) }()
	o, err := x.startWrite(ctx, op, key, setKinds, opts)
	if err != nil {
		return err
	}
	ns := o.Namespace
	if err := storage.ValidateKey(key); err != nil {
		return x.s.failCtx(ctx, op, ns.Name, key, err)
	}
	b, err := driver.EncodeValue(value, x.s.cfg.maxValueSize)
	if err != nil {
		return x.s.failCtx(ctx, op, ns.Name, key, err)
	}
	now := x.s.now()
	exp, err := resolveExpiry(o.Expiry, now)
	if err != nil {
		return x.s.failCtx(ctx, op, ns.Name, key, err)
	}
	if o.Merge {
		if o.NoOverwrite {
			return x.s.failCtx(ctx, op, ns.Name, key, driver.Invalidf(storage.ErrInvalidOption, "Merge cannot be combined with NoOverwrite"))
		}
		return x.mergeSet(ctx, ns, key, b, o)
	}
	var w wrote
	if x.s.cfg.capacity == 0 || conditional(o) {
		// x.write without its closure, which would put o, w and the
		// closure on the heap on every Set.
		w, err = x.setOne(ctx, x.sc.writer(), ns, key, b, exp, o, now)
	} else {
		w, err = x.setCapped(ctx, ns, key, b, exp, o, now)
	}
	if err != nil && o.Written == nil && errors.Is(err, errWroteUnread) {
		// Committed as its context ended: it needs nothing of the
		// answer that was lost.
		err = nil
	}
	if err != nil {
		return x.s.failCtx(ctx, op, ns.Name, key, err)
	}
	report(o, w)
	return nil
}

// setCapped is Set's write under a capacity (x.write).
func (x *ops) setCapped(ctx context.Context, ns storage.NamespaceName, key string, b []byte, exp expiry, o driver.CallOptions, now time.Time) (w wrote, err error) {
	err = x.write(ctx, true, func(q querier) error {
		var err error
		w, err = x.setOne(ctx, q, ns, key, b, exp, o, now)
		return err
	})
	return w, err
}

// mergeSet is Set with Merge: it applies patch to the stored value as an
// RFC 7396 JSON merge patch (to null when the key is missing, so a new key
// gets the patch without its null members), an optimistic read-patch-write
// retried while other writers of the key get there first, like
// SetMetadata's merge.
func (x *ops) mergeSet(ctx context.Context, ns storage.NamespaceName, key string, patch []byte, o driver.CallOptions) error {
	const op = "set"
	for attempt := 0; attempt < maxMergeAttempts; attempt++ {
		now := x.s.now()
		exp, err := resolveExpiry(o.Expiry, now)
		if err != nil {
			return x.s.failCtx(ctx, op, ns.Name, key, err)
		}
		var w wrote
		raced := false
		err = x.write(ctx, true, func(q querier) error {
			cur, err := q.getEntry(ctx, ns.Name, key, now)
			if errors.Is(err, errNoRow) {
				if conditional(o) {
					missing := storage.ErrConflict
					if o.MustExist {
						missing = storage.ErrNotFound
					}
					return x.conflict(ctx, q, ns.Name, key, o, missing, now)
				}
				merged, err := x.mergeValue(nil, patch)
				if err != nil {
					return err
				}
				insert := o
				insert.NoOverwrite = true
				w, err = x.setOne(ctx, q, ns, key, merged, exp, insert, now)
				if errors.Is(err, storage.ErrAlreadyExists) {
					raced = true // created meanwhile: merge into it
					return nil
				}
				return err
			}
			if err != nil {
				return err
			}
			if o.IfVersion > 0 && cur.Version != o.IfVersion || o.IfRevision > 0 && cur.Revision != o.IfRevision {
				return fmt.Errorf("%w: expected %s, found %s", storage.ErrConflict, expectation(o), found(o, cur.Version, cur.Revision))
			}
			merged, err := x.mergeValue(cur.Value, patch)
			if err != nil {
				return err
			}
			w, err = q.updateEntryIf(ctx, ns.Name, key, merged, o.Metadata, exp, cond{cur.Version, cur.Revision}, now, actorOf(ctx))
			if errors.Is(err, errNoRow) {
				raced = true
				return nil
			}
			return err
		})
		if err != nil {
			return x.s.failCtx(ctx, op, ns.Name, key, err)
		}
		if !raced {
			report(o, w)
			return nil
		}
		// Another writer got there first: read again and re-apply.
	}
	return x.s.failCtx(ctx, op, ns.Name, key, fmt.Errorf("%w: the key kept changing during %d merge attempts", storage.ErrConflict, maxMergeAttempts))
}

// mergeValue applies patch to the stored value target (nil: none) and
// checks the result as a value is checked (storable, at most the maximum
// value size).
func (x *ops) mergeValue(target, patch []byte) ([]byte, error) {
	merged, err := jsonx.MergePatch(target, patch)
	if err != nil {
		return nil, driver.Invalidf(storage.ErrInvalidValue, "%v", err)
	}
	return driver.EncodeValue(json.RawMessage(merged), x.s.cfg.maxValueSize)
}

// conditional reports whether a write only replaces a key that exists
// (IfVersion, IfRevision, MustExist).
func conditional(o driver.CallOptions) bool {
	return o.IfVersion > 0 || o.IfRevision > 0 || o.MustExist
}

// report stores what a write wrote where Written asked for it.
func report(o driver.CallOptions, w wrote) {
	if o.Written != nil {
		*o.Written = storage.WriteResult{Revision: w.Revision, Version: w.Version, CreateRevision: w.CreateRevision}
	}
}

// maxNamespaceRetries bounds how often a write recreates a namespace that
// another client keeps deleting.
const maxNamespaceRetries = 3

// resolveExpiry turns an expiry request into what a write at now stores.
func resolveExpiry(e driver.Expiry, now time.Time) (expiry, error) {
	at, err := e.Resolve(now)
	if err != nil {
		return expiry{}, err
	}
	return expiry{At: at, Keep: e.Keep}, nil
}

func (x *ops) setOne(ctx context.Context, q querier, ns storage.NamespaceName, key string, b []byte, exp expiry, o driver.CallOptions, now time.Time) (wrote, error) {
	if conditional(o) {
		w, err := q.updateEntryIf(ctx, ns.Name, key, b, o.Metadata, exp, cond{o.IfVersion, o.IfRevision}, now, actorOf(ctx))
		if errors.Is(err, errNoRow) {
			missing := storage.ErrConflict
			if o.MustExist {
				missing = storage.ErrNotFound
			}
			return w, x.conflict(ctx, q, ns.Name, key, o, missing, now)
		}
		return w, err
	}
	for attempt := 0; ; attempt++ {
		var w wrote
		var err error
		if o.NoOverwrite {
			w, err = q.insertEntry(ctx, ns.Name, key, b, o.Metadata, exp, now, actorOf(ctx))
		} else {
			w, err = q.upsertEntry(ctx, ns.Name, key, b, o.Metadata, exp, now, actorOf(ctx))
		}
		if err == nil {
			return w, nil
		}
		if !errors.Is(err, errNoRow) && x.s.eng.dialect().Classify(err) != dialect.ClassForeignKey {
			return w, err
		}
		if o.NoOverwrite && errors.Is(err, errNoRow) {
			exists, herr := q.hasEntry(ctx, ns.Name, key, now)
			if herr != nil {
				return w, herr
			}
			if exists {
				return w, storage.ErrAlreadyExists
			}
		}
		if attempt >= maxNamespaceRetries {
			// Deleted again after each re-creation: the same conflict as
			// a namespace deleted meanwhile (errclass.go), for RunInTx to
			// retry, never an untyped "no row".
			return w, &dbError{storage.ErrTxConflict, fmt.Sprintf("namespace %q was deleted meanwhile, %d times", ns.Name, attempt+1), err}
		}
		if err := q.ensureNamespace(ctx, ns, now); err != nil {
			return w, err
		}
	}
}

// conflict explains why a conditional write found no row: the key is
// missing (missingErr) or not at the expected version or revision
// (ErrConflict).
func (x *ops) conflict(ctx context.Context, q querier, ns, key string, o driver.CallOptions, missingErr error, now time.Time) error {
	expected := expectation(o)
	cur, err := q.entryState(ctx, ns, key, now)
	if errors.Is(err, errNoRow) {
		if errors.Is(missingErr, storage.ErrConflict) {
			return fmt.Errorf("%w: expected %s, but the key does not exist", storage.ErrConflict, expected)
		}
		return missingErr
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: expected %s, found %s", storage.ErrConflict, expected, found(o, cur.Version, cur.Revision))
}

// found describes what a conditional write found, in the terms of what it
// expected: "3" for a version, "revision 12", or "version 3 at revision 12".
func found(o driver.CallOptions, version, revision int64) string {
	switch {
	case o.IfVersion > 0 && o.IfRevision > 0:
		return fmt.Sprintf("version %d at revision %d", version, revision)
	case o.IfRevision > 0:
		return fmt.Sprintf("revision %d", revision)
	}
	return fmt.Sprint(version)
}

// expectation describes what a conditional write expected.
func expectation(o driver.CallOptions) string {
	switch {
	case o.IfVersion > 0 && o.IfRevision > 0:
		return fmt.Sprintf("version %d at revision %d", o.IfVersion, o.IfRevision)
	case o.IfRevision > 0:
		return fmt.Sprintf("revision %d", o.IfRevision)
	case o.IfVersion > 0:
		return fmt.Sprintf("version %d", o.IfVersion)
	}
	return "an existing key"
}

// logged runs fn, a write that logs its changes, atomically: on SQLite,
// where a delete, a metadata change or a clear and its change row are
// several statements, in a transaction (a savepoint inside one); on
// PostgreSQL each is one statement.
func (x *ops) logged(ctx context.Context, fn func(q querier) error) error {
	if x.s.eng.dialect().Name() == dialect.SQLite {
		return x.sc.atomic(ctx, fn)
	}
	return fn(x.sc.writer())
}

// Delete implements storage.Ops.
func (x *ops) Delete(ctx context.Context, key string, opts ...storage.Option) error {
	const op = "delete"
	var o driver.CallOptions
	defer func() { x.changedIn(ctx, o.Namespace.Name, 1) }()
	o, err := x.startWrite(ctx, op, key, driver.KindNamespace|driver.KindIfVersion|driver.KindIfRevision|driver.KindWritten, opts)
	if err != nil {
		return err
	}
	ns := o.Namespace.Name
	if err := storage.ValidateKey(key); err != nil {
		return x.s.failCtx(ctx, op, ns, key, err)
	}
	now := x.s.now()
	var w wrote
	err = x.logged(ctx, func(q querier) error {
		var err error
		w, err = q.deleteEntry(ctx, ns, key, cond{o.IfVersion, o.IfRevision}, now)
		if errors.Is(err, errNoRow) {
			if conditional(o) {
				return x.conflict(ctx, q, ns, key, o, storage.ErrNotFound, now)
			}
			return storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return x.s.failCtx(ctx, op, ns, key, err)
	}
	report(o, w)
	return nil
}

// GetMetadata implements storage.Ops.
func (x *ops) GetMetadata(ctx context.Context, key string, opts ...storage.Option) (storage.Metadata, error) {
	const op = "getMetadata"
	o, err := x.start(ctx, op, key, driver.KindNamespace, opts)
	if err != nil {
		return storage.Metadata{}, err
	}
	ns := o.Namespace.Name
	if err := storage.ValidateKey(key); err != nil {
		return storage.Metadata{}, x.s.failCtx(ctx, op, ns, key, err)
	}
	m, err := x.sc.reader().getMetadata(ctx, ns, key, x.s.now())
	if errors.Is(err, errNoRow) {
		return storage.Metadata{}, x.s.failCtx(ctx, op, ns, key, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Metadata{}, x.s.failCtx(ctx, op, ns, key, err)
	}
	user, err := decodeObject(m.Metadata)
	if err != nil {
		return storage.Metadata{}, x.s.failCtx(ctx, op, ns, key, err)
	}
	md := storage.Metadata{User: user, Version: m.Version, Revision: m.Revision, CreateRevision: m.CreateRevision,
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, ExpiresAt: m.ExpiresAt}
	if m.CreatedBy != nil {
		md.CreatedBy = *m.CreatedBy
	}
	if m.UpdatedBy != nil {
		md.UpdatedBy = *m.UpdatedBy
	}
	return md, nil
}

// actorOf is the acting principal of a write (storage.ContextWithActor),
// recorded as the entry's created-by and updated-by; nil when none.
func actorOf(ctx context.Context) *string {
	a := storage.ActorFromContext(ctx)
	if a == "" {
		return nil
	}
	p := new(string) // not &a: a would be on the heap without an actor too
	*p = a
	return p
}

// decodeObject decodes a JSON object, numbers as json.Number so that none
// loses precision.
func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("sqlstore: stored metadata is not a JSON object: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// maxMergeAttempts bounds the optimistic retries of a merge that races with
// other writers of the same key.
const maxMergeAttempts = 16

// SetMetadata implements storage.Ops.
func (x *ops) SetMetadata(ctx context.Context, key string, md any, opts ...storage.Option) error {
	const op = "setMetadata"
	var o driver.CallOptions
	defer func() { x.changedIn(ctx, o.Namespace.Name, 1) }()
	o, err := x.startWrite(ctx, op, key, driver.KindNamespace|driver.KindMerge|driver.KindIfVersion|driver.KindIfRevision|driver.KindWritten, opts)
	if err != nil {
		return err
	}
	ns := o.Namespace.Name
	if err := storage.ValidateKey(key); err != nil {
		return x.s.failCtx(ctx, op, ns, key, err)
	}
	b, err := driver.EncodeMetadata(md, x.s.cfg.maxValueSize)
	if err != nil {
		return x.s.failCtx(ctx, op, ns, key, err)
	}
	if b == nil {
		b = []byte("{}")
	}
	var w wrote
	if !o.Merge {
		now := x.s.now()
		err := x.logged(ctx, func(q querier) error {
			var err error
			w, err = q.replaceMetadata(ctx, ns, key, b, cond{o.IfVersion, o.IfRevision}, now, actorOf(ctx))
			if errors.Is(err, errNoRow) {
				if conditional(o) {
					return x.conflict(ctx, q, ns, key, o, storage.ErrNotFound, now)
				}
				return storage.ErrNotFound
			}
			return err
		})
		if err != nil {
			return x.s.failCtx(ctx, op, ns, key, err)
		}
		report(o, w)
		return nil
	}
	for attempt := 0; attempt < maxMergeAttempts; attempt++ {
		now := x.s.now()
		raced := false
		err := x.logged(ctx, func(q querier) error {
			m, err := q.getMetadata(ctx, ns, key, now)
			if errors.Is(err, errNoRow) {
				return storage.ErrNotFound
			}
			if err != nil {
				return err
			}
			if o.IfVersion > 0 && m.Version != o.IfVersion || o.IfRevision > 0 && m.Revision != o.IfRevision {
				return fmt.Errorf("%w: expected %s, found %s", storage.ErrConflict, expectation(o), found(o, m.Version, m.Revision))
			}
			merged, err := jsonx.MergePatch(m.Metadata, b)
			if err != nil {
				return err
			}
			if merged, err = driver.CheckMetadataJSON(merged, x.s.cfg.maxValueSize); err != nil {
				return err
			}
			w, err = q.replaceMetadata(ctx, ns, key, merged, cond{m.Version, m.Revision}, now, actorOf(ctx))
			if errors.Is(err, errNoRow) {
				raced = true
				return nil
			}
			return err
		})
		if err != nil {
			return x.s.failCtx(ctx, op, ns, key, err)
		}
		if !raced {
			report(o, w)
			return nil
		}
		// Another writer got there first: read again and re-apply.
	}
	return x.s.failCtx(ctx, op, ns, key, fmt.Errorf("%w: the key kept changing during %d merge attempts", storage.ErrConflict, maxMergeAttempts))
}

// Clear implements storage.Ops. Each namespace it empties gets one clear
// change in the change log (none for a namespace that was already empty).
func (x *ops) Clear(ctx context.Context, opts ...storage.Option) error {
	return x.clear(ctx, opts, nil)
}

// clear is Clear, refused with driver.ErrProtected when the namespace holds
// a live entry in one of the ranges protected (none: no check; see
// (*Store).ClearUnless). The check runs in the clear's transaction, as its
// first statement: on PostgreSQL after the revision lock (revlock.go), so
// in read committed it sees every write committed before the lock was
// granted and no write commits before the clear does; on SQLite under the
// single writer.
func (x *ops) clear(ctx context.Context, opts []storage.Option, protected []storage.KeyRange) error {
	const op = "clear"
	var o driver.CallOptions
	defer func() {
		if o.Set&driver.KindNamespace != 0 {
			x.changedIn(ctx, o.Namespace.Name, 1)
		} else {
			x.changed(ctx)
		}
	}()
	o, err := x.startWrite(ctx, op, "", driver.KindNamespace, opts)
	if err != nil {
		return err
	}
	now := x.s.now()
	run := func(q querier) error {
		if o.Set&driver.KindNamespace != 0 {
			if err := x.refuseProtected(ctx, q, o.Namespace.Name, protected, now); err != nil {
				return err
			}
			_, err := q.clearNamespace(ctx, o.Namespace.Name, now)
			return err
		}
		_, err := q.clearAll(ctx, now)
		return err
	}
	if _, inStore := x.sc.(storeScope); inStore && x.s.Dialect() == dialect.Postgres {
		err = x.s.yieldingTx(ctx, run)
	} else {
		err = x.logged(ctx, run)
	}
	// The namespace, or every namespace that had entries, has a new id
	// (unlink.go).
	if o.Set&driver.KindNamespace != 0 {
		x.s.nsIDs.forget(o.Namespace.Name)
		if l := x.sc.localIDs(); l != nil {
			l.forget(o.Namespace.Name)
		}
	} else {
		x.s.nsIDs.forgetAll()
		if l := x.sc.localIDs(); l != nil {
			l.forgetAll()
		}
	}
	x.s.purger.wake()
	if err != nil {
		ns := ""
		if o.Set&driver.KindNamespace != 0 {
			ns = o.Namespace.Name
		}
		return x.s.failCtx(ctx, op, ns, "", err)
	}
	if _, inStore := x.sc.(storeScope); inStore {
		x.s.purgeAssist(ctx)
	}
	return nil
}

// yieldLockTimeout bounds each lock wait of a yielding transaction.
const yieldLockTimeout = "200ms"

// yieldingTx runs fn in a transaction of its own that gives way to the
// writers it could deadlock with: a recursive DeleteNamespace or a Clear
// takes the namespace row and deletes rows that concurrent writers may
// hold, while those writers, as their statements end, update the same
// namespace row (entry_count). On PostgreSQL each lock wait of fn before
// its first write is bounded by lock_timeout (well under
// deadlock_timeout; the write's revision lock then sets it from ctx, as
// for any write, and waits for the writers in progress); a wait that times
// out, or a deadlock, rolls the transaction back so the writers go on,
// and fn runs again after a short, growing, jittered pause, until ctx
// ends. On SQLite, which has one writer, fn simply runs in a transaction.
func (s *Store) yieldingTx(ctx context.Context, fn func(q querier) error) error {
	if s.Dialect() != dialect.Postgres {
		return s.eng.inTx(ctx, fn)
	}
	pause := 2 * time.Millisecond
	for {
		err := s.eng.inTx(ctx, func(q querier) error {
			if _, err := q.exec(ctx, "SET LOCAL lock_timeout = '"+yieldLockTimeout+"'"); err != nil {
				return err
			}
			return fn(q)
		})
		if err == nil || ctx.Err() != nil {
			return err
		}
		if c := s.eng.dialect().Classify(err); c != dialect.ClassBusy && c != dialect.ClassDeadlock {
			return err
		}
		s.yields.Add(1)
		t := time.NewTimer(pause/2 + rand.N(pause))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// Status implements storage.Store. When the database cannot be reached it
// returns a Status with Healthy false together with the error.
func (s *Store) Status(ctx context.Context) (storage.Status, error) {
	const op = "status"
	if _, err := s.start(ctx, op, "", 0, nil); err != nil {
		return storage.Status{}, err
	}
	st := storage.Status{Dialect: string(s.Dialect()), Capacity: s.cfg.capacity}
	if err := s.eng.ping(ctx); err != nil {
		return st, s.failCtx(ctx, op, "", "", err)
	}
	entries, namespaces, err := s.eng.quickReader().stats(ctx, s.now())
	if err != nil {
		return st, s.failCtx(ctx, op, "", "", err)
	}
	v, err := s.eng.schemaVersion(ctx)
	if err != nil {
		return st, s.failCtx(ctx, op, "", "", err)
	}
	cur, oldest, err := s.eng.quickReader().revision(ctx)
	if err != nil {
		return st, s.failCtx(ctx, op, "", "", err)
	}
	st.Healthy, st.Size, st.Namespaces, st.SchemaVersion = true, entries, namespaces, v
	st.Revision, st.OldestRevision = cur, oldest
	st.ReadOnly, st.Degraded = s.degraded != "", s.degraded
	return st, nil
}
