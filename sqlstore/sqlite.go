package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"modernc.org/sqlite" // also the "sqlite" database/sql driver

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	sdriver "github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/sqlitedb"
	"github.com/mycelia-kernel/storage/schema"
)

// sqliteEngine reaches a SQLite database through one writer connection and a
// pool of query-only readers. An in-memory database (sqlite::memory:) is a
// private file in RAM (memoryDir), run the same way.
type sqliteEngine struct {
	d dialect.Dialect
	w *sql.DB // one connection; transactions BEGIN IMMEDIATE
	r *sql.DB // readers
	// p are the point readers: Get, Has and GetMany outside transactions
	// run there alone (pointReaders), and the quick reads (quickReader).
	p      *sql.DB
	wq, rq querier
	// rsq and pq are the fixed statements on r and on p, through their
	// statement caches: the quick reads' (quickReader); nil for a store
	// opened read-only on a full disk.
	rsq, pq querier
	// wc and rc are the statement caches of w and r, shared by
	// transactions.
	wc, rc *stmtCache
	// reads runs the reader pool's point reads (fastread.go), writes the
	// writer's single writes (sqlitewrite.go); nil for a store opened
	// read-only on a full disk.
	reads, writes *driverReads
	cfg           config
	// readers is the size of the reader pool r.
	readers int
	walr    *walRestarter   // see walrestart.go
	comb    *sqliteCombiner // the group commit of single Sets (combine.go); nil: off
	// memDir is the directory of an in-memory database, removed at close;
	// "" for a file the caller named.
	memDir string
	// degraded is why the store is read-only (openSQLiteFull); "" when it
	// is not.
	degraded string
}

// memoryFile is the name of an in-memory database's file in its directory.
const memoryFile = "memory.db"

// memoryDirs are where in-memory databases live, in order of preference:
// /dev/shm (RAM on Linux), else os.TempDir() ("").
var memoryDirs = []string{"/dev/shm", ""}

// memoryDir makes the private directory of an in-memory database.
func memoryDir() (string, error) {
	var err error
	for _, base := range memoryDirs {
		var dir string
		if dir, err = os.MkdirTemp(base, "storage-memory-*"); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("in-memory database: %w", err)
}

var _ engine = (*sqliteEngine)(nil)

func openSQLite(ctx context.Context, dc dialect.Config, cfg config) (*sqliteEngine, error) {
	e, err := openSQLiteRW(ctx, dc, cfg)
	if err == nil || dc.Memory {
		return e, err
	}
	d, _ := dialect.ForName(dialect.SQLite)
	if c := d.Classify(err); (c == dialect.ClassFull || c == dialect.ClassConnection) && diskFull(filepath.Dir(dc.Path)) {
		ro, roErr := openSQLiteFull(ctx, dc, cfg)
		if roErr == nil {
			return ro, nil
		}
		return nil, errors.Join(err, roErr)
	}
	return nil, err
}

// diskFull reports whether the filesystem of dir has no room for a small
// file: 64 KiB written to a probe there fails with ENOSPC.
func diskFull(dir string) bool {
	f, err := os.CreateTemp(dir, ".storage-space-probe-*")
	if err != nil {
		return errors.Is(err, syscall.ENOSPC)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	_, err = f.Write(make([]byte, 64<<10))
	if err == nil {
		err = f.Sync()
	}
	return errors.Is(err, syscall.ENOSPC)
}

// fullAtOpen is the Degraded status of a store opened read-only because
// its disk was full.
const fullAtOpen = "opened read-only: the disk was full when the store opened; writes fail with ErrStorageFull until it is reopened with space"

// openSQLiteFull opens a SQLite file whose disk is full, read-only: one
// connection (mode=ro, query_only) in exclusive locking mode, which keeps
// the WAL index in its own memory instead of the -shm file it could not
// create, and still reads every frame of the WAL. Nothing is migrated,
// checkpointed or swept.
func openSQLiteFull(ctx context.Context, dc dialect.Config, cfg config) (_ *sqliteEngine, err error) {
	d, _ := dialect.ForName(dialect.SQLite)
	o, err := dialect.SQLiteOptionsFrom(dc.Params, dialect.DefaultSQLiteOptions)
	if err != nil {
		return nil, badConfig(err)
	}
	e := &sqliteEngine{d: d, cfg: cfg, degraded: fullAtOpen}
	// Without a WAL that holds frames (the store closed cleanly, or
	// checkpointed everything), the database file is the whole database.
	fi, err := os.Stat(dc.Path + "-wal")
	immutable := errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0)
	if e.w, err = sql.Open("sqlite", dialect.SQLiteReadOnlyDSN(dc.Path, o, immutable)); err != nil {
		return nil, err
	}
	e.w.SetMaxOpenConns(1)
	e.w.SetMaxIdleConns(1)
	e.w.SetConnMaxIdleTime(0)
	e.w.SetConnMaxLifetime(0)
	e.r = e.w
	if err := checkSchema(ctx, schema.SQLite, e.w); err != nil {
		_ = e.w.Close()
		return nil, err
	}
	e.wc = newStmtCache(e.w)
	e.rc = e.wc
	e.wq, e.rq = e.bind(e.wc), e.bind(e.rc)
	return e, nil
}

func openSQLiteRW(ctx context.Context, dc dialect.Config, cfg config) (_ *sqliteEngine, err error) {
	d, _ := dialect.ForName(dialect.SQLite)
	o, err := dialect.SQLiteOptionsFrom(dc.Params, dialect.DefaultSQLiteOptions)
	if err != nil {
		return nil, badConfig(err)
	}
	e := &sqliteEngine{d: d, cfg: cfg}
	defer func() {
		if err != nil {
			_ = e.close()
		}
	}()
	path := dc.Path
	if dc.Memory {
		// A private database file in a fresh directory in RAM (see
		// memoryDirs), removed at Close: it runs like a file, WAL, one
		// writer and a pool of readers, so readers go on while a writer
		// works.
		if e.memDir, err = memoryDir(); err != nil {
			return nil, err
		}
		path = filepath.Join(e.memDir, memoryFile)
	}
	if cfg.migrate {
		if err := fromTemplate(ctx, path, o); err != nil { // the tests' (migratecache)
			return nil, err
		}
	}
	// The writer's connection keeps the driver statements of the single
	// writes and of the transactions' point reads and writes, and
	// finalizes them when it closes (sqlitewrite.go).
	wconn, err := sqlite.NewConnector(dialect.SQLiteDriverDSN(path, o, true))
	if err != nil {
		return nil, err
	}
	wstats := &readStats{}
	e.w = sql.OpenDB(readConnector{wconn, wstats})
	e.w.SetMaxOpenConns(1)
	e.w.SetMaxIdleConns(1)
	e.w.SetConnMaxIdleTime(0)
	e.w.SetConnMaxLifetime(0)
	if err := pingRetry(ctx, e.w, d); err != nil {
		return nil, err
	}
	if cfg.migrate {
		if err := refuseNewer(ctx, schema.SQLite, e.w); err != nil {
			return nil, err
		}
		if _, err := schema.Up(ctx, schema.SQLite, e.w, schema.WithSQLiteFile(path)); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	// After Up too: a schema newer than this build knows stays as it is.
	if err := checkSchema(ctx, schema.SQLite, e.w); err != nil {
		return nil, err
	}
	// Readers open after migrating: query_only connections cannot switch
	// the file to WAL mode.
	rc, err := sqlite.NewConnector(dialect.SQLiteDriverDSN(path, o, false))
	if err != nil {
		return nil, err
	}
	// The readers' connections keep the point reads' statements and
	// finalize them when they close (fastread.go).
	stats := &readStats{}
	e.r = sql.OpenDB(readConnector{rc, stats})
	e.r.SetMaxOpenConns(o.Readers)
	e.readers = o.Readers
	e.r.SetMaxIdleConns(o.Readers)
	if err := pingRetry(ctx, e.r, d); err != nil {
		return nil, err
	}
	e.p = sql.OpenDB(readConnector{rc, stats})
	e.p.SetMaxOpenConns(pointReaders(o.Readers))
	e.p.SetMaxIdleConns(pointReaders(o.Readers))
	e.wc, e.rc = newStmtCache(e.w), newStmtCache(e.r)
	e.wq, e.rq = e.bind(e.wc), e.bind(e.rc)
	e.rsq, e.pq = e.rq, e.bind(newStmtCache(e.p))
	e.writes = &driverReads{db: e.w, stats: wstats, n: cfg.roundTrips}
	e.wq = walHookQ{sqliteQ: e.wq.(sqliteQ), d: e.writes} // see walhook.go
	if !cfg.noCombine {
		e.comb = newSQLiteCombiner(e.writes)
		e.wq = walHookQ{sqliteQ: e.wq.(walHookQ).sqliteQ, d: e.writes, comb: e.comb}
	}
	e.reads = &driverReads{db: e.r, point: e.p, stats: stats, n: cfg.roundTrips}
	e.rq = fastReadQ{e.rq.(sqliteQ), e.reads, e.quickReader} // see fastread.go
	e.walr = startWALRestarter(e.w, rc, path, o.BusyTimeout)
	return e, nil
}

// pingPatience is how long pingRetry retries (a variable for the tests).
var pingPatience = 30 * time.Second

// pingRetry opens a first connection. Switching a new database file to WAL
// mode needs an exclusive lock and fails at once, whatever busy_timeout
// says, when another process is opening the same file: retry busy errors
// for a while.
func pingRetry(ctx context.Context, db *sql.DB, d dialect.Dialect) error {
	deadline := time.Now().Add(pingPatience)
	delay := 5 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil || d.Classify(err) != dialect.ClassBusy || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if delay < 200*time.Millisecond {
			delay *= 2
		}
	}
}

func (e *sqliteEngine) bind(h sqlitedb.DBTX) querier {
	if e.cfg.roundTrips != nil {
		h = countingDB{db: h, n: e.cfg.roundTrips}
	}
	return sqliteQ{q: sqlitedb.New(h), db: h}
}

func (e *sqliteEngine) dialect() dialect.Dialect { return e.d }
func (e *sqliteEngine) reader() querier          { return e.rq }
func (e *sqliteEngine) writer() querier          { return e.wq }

// pointReaders is how many connections of their own the point reads
// (Get, Has and GetMany outside transactions) have beside the readers:
// half as many, at least one. Nothing else runs there: the readers serve
// the reads that may last (a scan no index serves, a watch's read of the
// log, a read-only transaction's snapshot, up to the caller's timeout), and
// those held every reader at once (three read-only transactions, the most
// the readers allow, and two scans, the most the HTTP server admits), so
// that another principal's get of one entry waited seconds for one of
// them to end (TestHostileTxScans in package httpapi: 7 s).
func pointReaders(readers int) int { return max(1, readers/2) }

// txCapacity: a read-write transaction holds the writer, and the next one
// waits for it at Begin, so their number needs no cap of its own; a
// read-only one holds a reader, and a quarter of the readers (at least one)
// stay for the reads outside transactions. A store opened read-only on a
// full disk has one connection: no cap helps there.
func (e *sqliteEngine) txCapacity() (total, readOnly int) {
	if e.degraded != "" {
		return 0, 0
	}
	n := e.readers
	return 0, max(1, n-spareConns(n))
}

func (e *sqliteEngine) inTx(ctx context.Context, fn func(q querier) error) error {
	e.count(ctx)
	e.wc.warm(ctx)
	tx, err := e.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: _txlock=immediate
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(e.bind(txStmts{c: e.wc, tx: tx})); err != nil {
		return txEnded(ctx, err)
	}
	e.count(ctx)
	return txEnded(ctx, tx.Commit())
}

// txEnded is err, or ctx's error when database/sql rolled the transaction
// back because ctx ended: the statements after that fail with ErrTxDone,
// or, through a statement of the cache bound to the transaction
// (txStmts), with database/sql's unexported "statement is closed" (CI:
// a DeleteNamespace whose context was cancelled returned it untyped).
func txEnded(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	if errors.Is(err, sql.ErrTxDone) || strings.Contains(err.Error(), "sql: statement is closed") {
		return ctx.Err()
	}
	return err
}

func (e *sqliteEngine) count(ctx context.Context) {
	countOne(ctx, e.cfg.roundTrips)
}

// quickDB is the pool of the engine's own short reads (engine.quickReader):
// the point readers' (or an idle reader, as for a point read), since the
// readers may all be held by reads that last up to their callers'
// timeouts: one principal's scans, watches and read-only transactions
// kept every reader, and Status, with it storeserver's /readyz, and a
// write's compaction assist waited for them (TestQuickReadsBesideBusyReaders).
// A store opened read-only on a full disk has one connection.
func (e *sqliteEngine) quickDB() *sql.DB {
	if e.reads == nil {
		return e.r
	}
	return e.reads.pointPool()
}

func (e *sqliteEngine) ping(ctx context.Context) error {
	var one int
	return e.quickDB().QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func (e *sqliteEngine) schemaVersion(ctx context.Context) (int64, error) {
	return schema.Version(ctx, schema.SQLite, e.quickDB())
}

// quickReader runs the fixed statements on quickDB's pool, prepared once
// per connection (never fastReadQ, whose getMetadata calls it).
func (e *sqliteEngine) quickReader() querier {
	switch {
	case e.reads == nil:
		return e.rq
	case e.quickDB() == e.p:
		return e.pq
	}
	return e.rsq
}

func (e *sqliteEngine) close() error {
	if e.walr != nil {
		e.walr.close()
	}
	var errs []error
	if e.r != nil && e.r != e.w {
		errs = append(errs, e.r.Close())
	}
	if e.p != nil {
		errs = append(errs, e.p.Close())
	}
	if e.w != nil {
		errs = append(errs, e.w.Close())
	}
	if e.memDir != "" {
		errs = append(errs, os.RemoveAll(e.memDir))
	}
	return errors.Join(errs...)
}

// sqliteQ implements querier over the generated SQLite statements.
type sqliteQ struct {
	q  *sqlitedb.Queries
	db sqlitedb.DBTX // the same handle, for dynamic statements
}

var _ querier = sqliteQ{}

// textBytes returns the bytes of a TEXT column read as a string, without
// copying them: the driver makes a new string for every column of every
// row, and the engine hands it on as the entry's only holder (as
// json.RawMessage), so nothing else reads it.
func textBytes(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// paramText returns b as a string for a statement's parameter, without
// copying it: the driver copies parameters into SQLite when it binds them,
// and b is not modified while the statement runs.
func paramText(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func micros(t time.Time) int64 { return t.UnixMicro() }
func fromMicros(us int64) time.Time {
	return time.UnixMicro(us).UTC()
}

// optMicros is an expiry as SQLite stores it: nil for none.
func optMicros(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

// fromOptMicros reads a stored expiry: the zero time for none.
func fromOptMicros(us *int64) time.Time {
	if us == nil {
		return time.Time{}
	}
	return fromMicros(*us)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func optString(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func (s sqliteQ) getEntry(ctx context.Context, ns, key string, now time.Time) (row, error) {
	packed, err := s.q.GetEntry(ctx, sqlitedb.GetEntryParams{Namespace: ns, Key: key, Now: micros(now)})
	if err != nil {
		return row{}, noRow(err)
	}
	r := row{Key: key}
	return r, unpackEntry(packed, &r)
}

// errPacked is a packed entry column that does not read as GetEntry
// writes it.
var errPacked error = &dbError{storage.ErrCorrupt, "a packed entry column does not read as the engine wrote it (changed outside the engine)", nil}

// unpackEntry reads the packed column of GetEntry and GetEntries (see
// queries/sqlite/entries.sql) and of Query (dialect's EntryColumns) into
// r: seven integers, each followed by a comma (version, created_at,
// updated_at or empty when it equals created_at, expires_at or empty for
// none, revision, create_revision or empty when it equals revision, the
// metadata's length in bytes), then the metadata's JSON, a comma and the
// value's. The value and the metadata share s's bytes (textBytes), the
// metadata capped at its length. r.ExpiresAt is left alone when there is
// none.
func unpackEntry(s string, r *row) error {
	var n [7]int64
	var set [7]bool
	for i := range n {
		if len(s) > 0 && s[0] == ',' {
			s = s[1:] // an empty part
			continue
		}
		var ok bool
		if n[i], s, ok = packedInt(s); !ok {
			return errPacked
		}
		set[i] = true
	}
	mdLen := n[6]
	// Every part is there but the three that may be empty; the metadata
	// is followed by a comma.
	if !set[0] || !set[1] || !set[4] || !set[6] || mdLen < 0 || mdLen >= int64(len(s)) || s[mdLen] != ',' {
		return errPacked
	}
	b := textBytes(s)
	r.Metadata, r.Value = b[:mdLen:mdLen], b[mdLen+1:]
	r.Version, r.CreatedAt, r.UpdatedAt = n[0], fromMicros(n[1]), fromMicros(n[1])
	if set[2] {
		r.UpdatedAt = fromMicros(n[2])
	}
	if set[3] {
		r.ExpiresAt = fromMicros(n[3])
	}
	r.Revision, r.CreateRevision = n[4], n[4]
	if set[5] {
		r.CreateRevision = n[5]
	}
	return nil
}

// packedInt reads the integer that starts s, in decimal as SQLite writes
// it (an optional minus sign and digits), up to the comma that ends it,
// and returns the rest of s after that comma. It reads s once, where
// strings.IndexByte then strconv.ParseInt read it twice (unpackEntry was
// 4-6% of an indexed eq Query's CPU). More than 18 digits may not fit an
// int64: strconv.ParseInt reads those.
func packedInt(s string) (v int64, rest string, ok bool) {
	i := 0
	if len(s) > 0 && s[0] == '-' {
		i = 1
	}
	start := i
	var u uint64
	for ; i < len(s) && s[i]-'0' <= 9; i++ {
		u = u*10 + uint64(s[i]-'0')
	}
	if i == start || i == len(s) || s[i] != ',' {
		return 0, s, false
	}
	if i-start > 18 {
		v, err := strconv.ParseInt(s[:i], 10, 64)
		return v, s[i+1:], err == nil
	}
	v = int64(u)
	if start == 1 {
		v = -v
	}
	return v, s[i+1:], true
}

func (s sqliteQ) hasEntry(ctx context.Context, ns, key string, now time.Time) (bool, error) {
	return s.q.HasEntry(ctx, sqlitedb.HasEntryParams{Namespace: ns, Key: key, Now: micros(now)})
}

func (s sqliteQ) entryState(ctx context.Context, ns, key string, now time.Time) (state, error) {
	v, err := s.q.GetEntryVersion(ctx, sqlitedb.GetEntryVersionParams{Namespace: ns, Key: key, Now: micros(now)})
	return state{Version: v.Version, Revision: v.Revision}, noRow(err)
}

func (s sqliteQ) upsertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	r, err := s.q.UpsertEntry(ctx, sqlitedb.UpsertEntryParams{Actor: actor, Key: key, Value: paramText(value), Metadata: optString(md), Now: micros(now), Namespace: ns,
		KeepTtl: boolInt(exp.Keep), ExpiresAt: optMicros(exp.At)})
	return wrote{r.Version, r.Revision, r.CreateRevision}, noRow(err)
}

func (s sqliteQ) insertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	r, err := s.q.InsertEntry(ctx, sqlitedb.InsertEntryParams{Actor: actor, Key: key, Value: paramText(value), Metadata: optString(md), Now: micros(now), Namespace: ns,
		ExpiresAt: optMicros(exp.At)})
	return wrote{r.Version, r.Revision, r.CreateRevision}, noRow(err)
}

func (s sqliteQ) updateEntryIf(ctx context.Context, ns, key string, value, md []byte, exp expiry, c cond, now time.Time, actor *string) (wrote, error) {
	r, err := s.q.UpdateEntryIf(ctx, sqlitedb.UpdateEntryIfParams{Actor: actor, Value: paramText(value), Metadata: optString(md),
		Now: micros(now), Namespace: ns, Key: key, ExpectedVersion: c.Version, ExpectedRevision: c.Revision,
		KeepTtl: boolInt(exp.Keep), ExpiresAt: optMicros(exp.At)})
	return wrote{r.Version, r.Revision, r.CreateRevision}, noRow(err)
}

// deleteEntry deletes, then logs the delete (two statements: the caller
// runs them in a transaction).
func (s sqliteQ) deleteEntry(ctx context.Context, ns, key string, c cond, now time.Time) (wrote, error) {
	base, err := s.q.RevisionCounter(ctx)
	if err != nil {
		return wrote{}, err
	}
	r, err := s.q.DeleteEntryIf(ctx, sqlitedb.DeleteEntryIfParams{Namespace: ns, Key: key, ExpectedVersion: c.Version, ExpectedRevision: c.Revision, Now: micros(now)})
	if err != nil {
		return wrote{}, noRow(err)
	}
	ch := change{Revision: base + 1, Kind: "delete", Namespace: ns, Key: key, Version: r.Version, Prev: r.Revision}
	if err := s.logChanges(ctx, []change{ch}, now); err != nil {
		return wrote{}, err
	}
	return wrote{Version: r.Version, Revision: base + 1}, nil
}

func (s sqliteQ) getMetadata(ctx context.Context, ns, key string, now time.Time) (metaRow, error) {
	r, err := s.q.GetMetadata(ctx, sqlitedb.GetMetadataParams{Namespace: ns, Key: key, Now: micros(now)})
	if err != nil {
		return metaRow{}, noRow(err)
	}
	return metaRow{Metadata: []byte(r.Metadata), Version: r.Version, Revision: r.Revision, CreateRevision: r.CreateRevision,
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt),
		CreatedBy: r.CreatedBy, UpdatedBy: r.UpdatedBy, ExpiresAt: fromOptMicros(r.ExpiresAt)}, nil
}

// replaceMetadata reads the revision it replaces, updates, and logs (the
// caller runs them in a transaction).
func (s sqliteQ) replaceMetadata(ctx context.Context, ns, key string, md []byte, c cond, now time.Time, actor *string) (wrote, error) {
	old, err := s.entryState(ctx, ns, key, now)
	if err != nil {
		return wrote{}, err
	}
	if c.Revision != 0 && c.Revision != old.Revision || c.Version != 0 && c.Version != old.Version {
		return wrote{}, errNoRow
	}
	r, err := s.q.ReplaceMetadata(ctx, sqlitedb.ReplaceMetadataParams{Actor: actor, Metadata: string(md), Now: micros(now), Namespace: ns, Key: key,
		ExpectedVersion: old.Version, ExpectedRevision: old.Revision})
	if err != nil {
		return wrote{}, noRow(err)
	}
	ch := change{Revision: r.Revision, Kind: "metadata", Namespace: ns, Key: key, Version: r.Version, Prev: old.Revision, Metadata: md,
		Created: fromMicros(r.CreatedAt), Expires: fromOptMicros(r.ExpiresAt)}
	if err := s.logChanges(ctx, []change{ch}, now); err != nil {
		return wrote{}, err
	}
	return wrote{r.Version, r.Revision, r.CreateRevision}, nil
}

// clearNamespace unlinks the namespace's entries (unlink.go) when it has
// any, expired or not, and logs one clear change.
func (s sqliteQ) clearNamespace(ctx context.Context, ns string, now time.Time) (int64, error) {
	var id int64
	n := int64(0)
	err := s.queryRows(ctx, `SELECT n.id, EXISTS (SELECT 1 FROM entries e WHERE e.namespace_id = n.id) FROM namespaces n WHERE n.name = ?`,
		[]any{ns}, func(r rowScanner) error { return r.Scan(&id, &n) })
	if err != nil || n == 0 {
		return 0, err
	}
	if err := unlinkSQLite(ctx, s, id, ns, true, now); err != nil {
		return 0, err
	}
	base, err := s.q.RevisionCounter(ctx)
	if err != nil {
		return 0, err
	}
	return n, s.logChanges(ctx, []change{{Revision: base + 1, Kind: "clear", Namespace: ns}}, now)
}

// clearAll unlinks the entries of every namespace that has any, expired or
// not (unlink.go), in the caller's one transaction, and logs one clear
// change for each, in name order. It returns how many it unlinked.
func (s sqliteQ) clearAll(ctx context.Context, now time.Time) (int64, error) {
	type ns struct {
		id   int64
		name string
	}
	var names []ns
	err := s.queryRows(ctx, `SELECT n.id, n.name FROM namespaces n WHERE EXISTS (SELECT 1 FROM entries e WHERE e.namespace_id = n.id) ORDER BY n.name`,
		nil, func(r rowScanner) error {
			var n ns
			if err := r.Scan(&n.id, &n.name); err != nil {
				return err
			}
			names = append(names, n)
			return nil
		})
	if err != nil || len(names) == 0 {
		return 0, err
	}
	for _, n := range names {
		if err := unlinkSQLite(ctx, s, n.id, n.name, true, now); err != nil {
			return 0, err
		}
	}
	base, err := s.q.RevisionCounter(ctx)
	if err != nil {
		return 0, err
	}
	chs := make([]change, len(names))
	for i, n := range names {
		chs[i] = change{Revision: base + 1 + int64(i), Kind: "clear", Namespace: n.name}
	}
	return int64(len(names)), s.logChanges(ctx, chs, now)
}

// logChanges writes changes rows (the last of them is the store's
// current revision: revision_counter is a view of the log, migration
// 00013).
func (s sqliteQ) logChanges(ctx context.Context, chs []change, now time.Time) error {
	if len(chs) == 0 {
		return nil
	}
	b := make([]byte, 0, 64*len(chs))
	b = append(b, '[')
	for i, c := range chs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, c.Revision, 10)
		b = append(b, ',')
		b = appendJSONString(b, c.Kind)
		b = append(b, ',')
		b = appendJSONString(b, c.Namespace)
		b = append(b, ',')
		if c.Key == "" {
			b = append(b, "null"...)
		} else {
			b = appendJSONString(b, c.Key)
		}
		b = appendOptInt(b, c.Version)
		b = appendOptInt(b, c.Prev)
		b = append(b, ',')
		if c.Metadata == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, c.Metadata...)
		}
		b = appendOptInt(b, optMicrosZero(c.Created))
		b = appendOptInt(b, optMicrosZero(c.Expires))
		b = append(b, ']')
	}
	b = append(b, ']')
	return s.q.LogChanges(ctx, sqlitedb.LogChangesParams{Now: micros(now), Changes: string(b)})
}

// appendOptInt appends ",v", or ",null" for 0.
func appendOptInt(b []byte, v int64) []byte {
	if v == 0 {
		return append(b, ",null"...)
	}
	b = append(b, ',')
	return strconv.AppendInt(b, v, 10)
}

func (s sqliteQ) logExpired(ctx context.Context, rows []SweptRow, now time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	base, err := s.q.RevisionCounter(ctx)
	if err != nil {
		return err
	}
	chs := make([]change, len(rows))
	for i, r := range rows {
		chs[i] = change{Revision: base + 1 + int64(i), Kind: "expire", Namespace: r.Namespace, Key: r.Key, Version: r.Version, Prev: r.Revision}
	}
	return s.logChanges(ctx, chs, now)
}

// lockRevisions is a no-op: SQLite's writer is alone.
func (sqliteQ) lockRevisions(context.Context) error { return nil }

func (s sqliteQ) revision(ctx context.Context) (int64, int64, error) {
	r, err := s.q.Revisions(ctx)
	return r.Current, r.Oldest, err
}

// jsonKeysExact encodes keys as one JSON array parameter.
func jsonKeysExact(keys []string) string {
	return joinKeys(keys, '[', ']', appendJSONString)
}

// joinKeys writes keys between open and close, separated by commas, each
// appended by elem.
func joinKeys(keys []string, open, close byte, elem func([]byte, string) []byte) string {
	n := 2
	for _, k := range keys {
		n += len(k) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, open)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, k)
	}
	return string(append(b, close))
}

// appendJSONString appends s (valid UTF-8, as keys are) as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// slotWidth is the width of one item's slot in batchItems' slots.
const slotWidth = 52

// batchItems encodes batch items for UpsertEntries, UpsertEntriesKeepMetadata
// and InsertEntries (queries/sqlite/entries.sql): the keys as one JSON array
// of strings; the values and metadata (already checked JSON) laid end to
// end in texts, each value followed by its metadata; and one slot of
// slotWidth bytes per item in slots: the value's offset in texts (from 1,
// as substr counts) and length, the metadata's length (10 digits each), '1'
// and expires_at in 20 characters or '0' and 20 spaces, '1' or '0' for
// keep_ttl. The statements cut each item's fields out of the BLOBs by
// position and parse each value once (jsonb of its slice of texts); no JSON
// array is parsed per item.
func batchItems(items []batchItem) (keys string, texts, slots []byte) {
	n, t := 2, 0
	for _, it := range items {
		n += len(it.Key) + 3
		t += len(it.Value) + max(len(it.Metadata), 2)
	}
	b := make([]byte, 0, n)
	texts = make([]byte, 0, t)
	slots = make([]byte, 0, slotWidth*len(items))
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, it.Key)
		md := it.Metadata
		if md == nil {
			md = []byte("{}")
		}
		slots = appendPadded(slots, int64(len(texts)+1), 10)
		slots = appendPadded(slots, int64(len(it.Value)), 10)
		slots = appendPadded(slots, int64(len(md)), 10)
		texts = append(texts, it.Value...)
		texts = append(texts, md...)
		if it.Expiry.At.IsZero() {
			slots = append(slots, "0                    "...)
		} else {
			slots = append(slots, '1')
			slots = appendPadded(slots, micros(it.Expiry.At), 20)
		}
		if it.Expiry.Keep {
			slots = append(slots, '1')
		} else {
			slots = append(slots, '0')
		}
	}
	return string(append(b, ']')), texts, slots
}

// appendPadded appends v in exactly width characters: a '-' if negative,
// then its digits with leading zeros. v must fit (texts are far below 10
// digits of bytes; microseconds of an int64 take at most 19 digits).
func appendPadded(b []byte, v int64, width int) []byte {
	var d [20]byte
	u := uint64(v)
	neg := v < 0
	if neg {
		u = uint64(-v)
		width--
		b = append(b, '-')
	}
	i := len(d)
	for ; u > 0; u /= 10 {
		i--
		d[i] = byte('0' + u%10)
	}
	for range width - (len(d) - i) {
		b = append(b, '0')
	}
	return append(b, d[i:]...)
}

func (s sqliteQ) getEntries(ctx context.Context, ns string, keys []string, now time.Time, b *sdriver.ReadBudget) ([]row, bool, error) {
	// Scanned here rather than by sqlitedb.GetEntries, which allocates a
	// row per result.
	rows, err := s.db.QueryContext(ctx, sqlitedb.GetEntriesSQL, ns, jsonKeysExact(keys), micros(now))
	if err != nil {
		return nil, false, err
	}
	defer func() { _ = rows.Close() }()
	out := make([]row, 0, min(len(keys), 1024))
	// Scanned into variables outside the loop: a row declared in the loop
	// and scanned into escaped, one allocation per entry.
	var key, packed string
	cut := false
	for rows.Next() {
		if cut = over(b) != nil; cut {
			break
		}
		if err := rows.Scan(&key, &packed); err != nil {
			return nil, false, err
		}
		r := row{Key: key}
		if err := unpackEntry(packed, &r); err != nil {
			return nil, false, err
		}
		out = append(out, r)
		spend(b, len(r.Key)+len(r.Value)+len(r.Metadata))
	}
	if err := rows.Close(); err != nil {
		return nil, false, err
	}
	return out, cut, rows.Err()
}

// upsertEntries gives the items the revisions after the counter, in their
// order (the statement reads the counter; the triggers log the puts). In a
// transaction or alone (upsertBatch): the statement is atomic by itself.
func (s sqliteQ) upsertEntries(ctx context.Context, ns string, items []batchItem, keep bool, now time.Time, actor *string) ([]keyVersion, error) {
	keys, texts, slots := batchItems(items)
	if keep {
		rs, err := s.q.UpsertEntriesKeepMetadata(ctx, sqlitedb.UpsertEntriesKeepMetadataParams{Actor: actor, Now: micros(now), Items: keys, Texts: texts, Slots: slots, Namespace: ns})
		if err != nil {
			return nil, err
		}
		out := make([]keyVersion, len(rs))
		for i, r := range rs {
			out[i] = keyVersion{r.Key, r.Version, r.Revision, r.CreateRevision}
		}
		return out, nil
	}
	rs, err := s.q.UpsertEntries(ctx, sqlitedb.UpsertEntriesParams{Actor: actor, Now: micros(now), Items: keys, Texts: texts, Slots: slots, Namespace: ns})
	if err != nil {
		return nil, err
	}
	out := make([]keyVersion, len(rs))
	for i, r := range rs {
		out[i] = keyVersion{r.Key, r.Version, r.Revision, r.CreateRevision}
	}
	return out, nil
}

func (s sqliteQ) insertEntries(ctx context.Context, ns string, items []batchItem, now time.Time, actor *string) ([]keyVersion, error) {
	base, err := s.q.RevisionCounter(ctx)
	if err != nil {
		return nil, err
	}
	keys, texts, slots := batchItems(items)
	rs, err := s.q.InsertEntries(ctx, sqlitedb.InsertEntriesParams{Actor: actor, Now: micros(now), Base: base, Items: keys, Texts: texts, Slots: slots, Namespace: ns})
	if err != nil {
		return nil, err
	}
	out := make([]keyVersion, len(rs))
	for i, r := range rs {
		out[i] = keyVersion{r.Key, r.Version, r.Revision, r.CreateRevision}
	}
	return out, nil
}

// deleteEntries deletes, then logs the deletes in key order (the caller
// runs it in a transaction).
func (s sqliteQ) deleteEntries(ctx context.Context, ns string, keys []string, now time.Time) ([]keyVersion, error) {
	base, err := s.q.RevisionCounter(ctx)
	if err != nil {
		return nil, err
	}
	rs, err := s.q.DeleteEntries(ctx, sqlitedb.DeleteEntriesParams{Namespace: ns, Keys: jsonKeysExact(keys), Now: micros(now)})
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	slices.SortFunc(rs, func(a, b sqlitedb.DeleteEntriesRow) int { return strings.Compare(a.Key, b.Key) })
	out := make([]keyVersion, len(rs))
	chs := make([]change, len(rs))
	for i, r := range rs {
		rev := base + 1 + int64(i)
		out[i] = keyVersion{Key: r.Key, Version: r.Version, Revision: rev}
		chs[i] = change{Revision: rev, Kind: "delete", Namespace: ns, Key: r.Key, Version: r.Version, Prev: r.Revision}
	}
	return out, s.logChanges(ctx, chs, now)
}

func (s sqliteQ) ensureNamespace(ctx context.Context, ns storage.NamespaceName, now time.Time) error {
	return s.q.EnsureNamespace(ctx, sqlitedb.EnsureNamespaceParams{Name: ns.Name, Owner: owner(ns), Now: micros(now)})
}

func (s sqliteQ) createNamespace(ctx context.Context, ns storage.NamespaceName, md, indexes []byte, now time.Time) (bool, error) {
	_, err := s.q.CreateNamespace(ctx, sqlitedb.CreateNamespaceParams{Name: ns.Name, Owner: owner(ns), Metadata: string(md), Indexes: string(indexes), Now: micros(now)})
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// lockNamespace needs no lock on SQLite: the write transaction already holds
// the database's write lock.
func (s sqliteQ) lockNamespace(ctx context.Context, name string) (nsRow, error) {
	r, err := s.q.GetNamespace(ctx, name)
	if err != nil {
		return nsRow{}, noRow(err)
	}
	return nsRow{ID: r.ID, EntryCount: r.EntryCount}, nil
}

func (s sqliteQ) deleteNamespaceEntries(ctx context.Context, id int64) (int64, error) {
	return s.q.DeleteNamespaceEntries(ctx, id)
}

func (s sqliteQ) deleteNamespace(ctx context.Context, id int64) (int64, error) {
	return s.q.DeleteNamespace(ctx, id)
}

func (s sqliteQ) stats(ctx context.Context, now time.Time) (int64, int64, error) {
	r, err := s.q.StoreStats(ctx, micros(now))
	return r.Entries, r.Namespaces, err
}

func (s sqliteQ) expiredIn(ctx context.Context, id int64, now time.Time) (int64, error) {
	return s.q.CountExpiredInNamespace(ctx, sqlitedb.CountExpiredInNamespaceParams{ID: id, Now: micros(now)})
}

// capacityLock is a no-op: SQLite has one writer, and write transactions
// hold the write lock from BEGIN IMMEDIATE on.
func (sqliteQ) capacityLock(context.Context) error { return nil }

// boundedRows is queryRows: SQLite's rows are produced as they are read.
func (s sqliteQ) boundedRows(ctx context.Context, q string, args []any, scan func(r rowScanner) error) error {
	return s.queryRows(ctx, q, args, scan)
}

func (s sqliteQ) queryRows(ctx context.Context, q string, args []any, scan func(r rowScanner) error) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// queryRowsLocked is queryRows: a write transaction on SQLite already
// holds the single writer's lock.
func (s sqliteQ) queryRowsLocked(ctx context.Context, q string, args []any, scan func(r rowScanner) error) error {
	return s.queryRows(ctx, q, args, scan)
}

func (s sqliteQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// begin starts a transaction on a connection of its own: a write
// transaction on the writer with BEGIN IMMEDIATE, which takes the write lock
// at once, so no busy error can surface inside it; a read-only one on a
// reader with BEGIN, whose snapshot is taken at its first read. Both the wait
// for the connection and the wait for the lock are bounded by ctx; the
// transaction itself is not: it lives until Commit or Rollback (database/sql
// would roll it back when ctx ends, so it gets a context of its own, which
// ctx cancels only until BEGIN has run). Its statements come from the
// store's statement cache (txStmts).
func (e *sqliteEngine) begin(ctx context.Context, opts storage.TxOptions) (txConn, error) {
	db, cache := e.w, e.wc // BEGIN IMMEDIATE: _txlock=immediate
	counted := false       // in the WAL restarter's read-only count
	if opts.ReadOnly {
		db, cache = e.r, e.rc // BEGIN: database/sql's ReadOnly
		if e.walr != nil {
			if err := e.walr.enterRO(ctx); err != nil {
				return nil, err
			}
			counted = true
		}
	}
	leave := func() {
		if counted {
			counted = false
			e.walr.leaveRO()
		}
	}
	cache.warm(ctx)
	conn, err := db.Conn(ctx)
	if err != nil {
		leave()
		return nil, err
	}
	txCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	e.count(ctx)
	tx, err := conn.BeginTx(txCtx, &sql.TxOptions{ReadOnly: opts.ReadOnly})
	if !stop() && err == nil {
		// ctx ended as BEGIN ran: database/sql rolls the transaction back.
		_ = tx.Rollback()
		err = context.Cause(ctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			// The BEGIN's wait for the lock ended with ctx, through
			// txCtx: ctx's error (a deadline's too), not txCtx's.
			err = ctx.Err()
		}
		cancel()
		_ = conn.Close()
		leave()
		return nil, err
	}
	bound := e.bind(txStmts{c: cache, tx: tx})
	if e.writes != nil {
		// Both pools' connections are *readConn (sqlitewrite.go).
		bound = txDriverQ{bound.(sqliteQ), conn, e}
	}
	t := &sqliteTx{e: e, conn: conn, tx: tx, cancel: cancel, bound: bound, leave: leave, writer: !opts.ReadOnly}
	if t.writer {
		t.waits = e.w.Stats().WaitCount
	}
	return t, nil
}

// holds implements blocker: a read-write transaction holds the writer.
func (t *sqliteTx) holds() bool { return t.writer }

// waited implements blocker: a writer of this store began waiting for the
// writer connection since the transaction took it.
func (t *sqliteTx) waited(context.Context) bool { return t.e.w.Stats().WaitCount > t.waits }

// sqliteTx is an open SQLite transaction on a connection it holds.
type sqliteTx struct {
	e          *sqliteEngine
	conn       *sql.Conn
	tx         *sql.Tx
	cancel     context.CancelFunc // ends the transaction's context, once it has ended
	bound      querier
	savepoints int
	leave      func() // counts a read-only transaction out of the WAL restarter's drain (idempotent)
	writer     bool   // it holds the writer connection (read-write)
	waits      int64  // the writer pool's WaitCount when it took the connection
}

func (t *sqliteTx) q() querier { return t.bound }

func (t *sqliteTx) savepoint(ctx context.Context, fn func(q querier) error) error {
	t.savepoints++
	name := fmt.Sprintf("sp%d", t.savepoints)
	if _, err := t.bound.exec(ctx, "SAVEPOINT "+name); err != nil {
		return err
	}
	if err := fn(t.bound); err != nil {
		if _, rerr := t.bound.exec(context.WithoutCancel(ctx), "ROLLBACK TO "+name); rerr != nil {
			return errors.Join(err, rerr)
		}
		_, _ = t.bound.exec(context.WithoutCancel(ctx), "RELEASE "+name)
		return err
	}
	_, err := t.bound.exec(ctx, "RELEASE "+name)
	return err
}

// commit commits. The driver rolls back a COMMIT that failed and left the
// transaction open, before the connection goes back to the pool. A commit
// whose context has already ended rolls back and is the context's error,
// as on PostgreSQL (pgx sends nothing under an ended context): the
// driver's COMMIT does not read the context, and committed it.
func (t *sqliteTx) commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return errors.Join(err, t.rollback(ctx))
	}
	t.e.count(ctx)
	err := t.tx.Commit()
	t.cancel()
	err = errors.Join(err, t.conn.Close())
	t.leave()
	return err
}

func (t *sqliteTx) rollback(ctx context.Context) error {
	t.e.count(ctx)
	err := t.tx.Rollback()
	t.cancel()
	defer t.leave()
	if err != nil && !errors.Is(err, sql.ErrTxDone) && !strings.Contains(err.Error(), "no transaction is active") {
		// The connection's state is unknown: do not give it back to the pool.
		_ = t.conn.Raw(func(any) error { return driver.ErrBadConn })
		_ = t.conn.Close()
		return err
	}
	return t.conn.Close()
}

// The statements of Export and Restore (dumpQuerier).

func (s sqliteQ) dumpNamespaces(ctx context.Context, after string, limit int) ([]nsDump, error) {
	rs, err := s.q.DumpNamespaces(ctx, sqlitedb.DumpNamespacesParams{After: after, PageSize: int64(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]nsDump, len(rs))
	for i, r := range rs {
		ix, err := decodeIndexes([]byte(r.Indexes))
		if err != nil {
			return nil, err
		}
		out[i] = nsDump{ID: r.ID, NamespaceRecord: NamespaceRecord{Name: r.Name, Metadata: []byte(r.Metadata), CreatedAt: fromMicros(r.CreatedAt), Indexes: ix, Entries: r.EntryCount}}
	}
	return out, nil
}

func (s sqliteQ) dumpNamespace(ctx context.Context, name string) (nsDump, error) {
	r, err := s.q.GetNamespace(ctx, name)
	if err != nil {
		return nsDump{}, noRow(err)
	}
	ix, err := decodeIndexes([]byte(r.Indexes))
	if err != nil {
		return nsDump{}, err
	}
	return nsDump{ID: r.ID, NamespaceRecord: NamespaceRecord{Name: r.Name, Metadata: []byte(r.Metadata), CreatedAt: fromMicros(r.CreatedAt), Indexes: ix, Entries: r.EntryCount}}, nil
}

func (s sqliteQ) dumpEntries(ctx context.Context, nsID int64, after string, limit int, maxBytes int64, now time.Time) ([]Record, int64, error) {
	rs, err := s.q.DumpEntries(ctx, sqlitedb.DumpEntriesParams{NamespaceID: nsID, After: after, PageSize: int64(limit), MaxBytes: maxBytes, Now: micros(now)})
	if err != nil || len(rs) == 0 {
		return nil, 0, err
	}
	out := make([]Record, len(rs))
	for i, r := range rs {
		out[i] = Record{Key: r.Key, Value: []byte(r.Value), Metadata: []byte(r.Metadata), Version: r.Version,
			CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt), CreatedBy: deref(r.CreatedBy), UpdatedBy: deref(r.UpdatedBy),
			ExpiresAt: fromOptMicros(r.ExpiresAt)}
	}
	return out, rs[len(rs)-1].RunningBytes, nil
}

func (s sqliteQ) restoreNamespaceIDs(ctx context.Context, names []string) (map[int64]string, error) {
	rs, err := s.q.RestoreNamespaceIDs(ctx, jsonKeysExact(names))
	if err != nil {
		return nil, err
	}
	ids := make(map[int64]string, len(rs))
	for _, r := range rs {
		ids[r.ID] = r.Name
	}
	return ids, nil
}

func (s sqliteQ) restoreExisting(ctx context.Context, recs []Record) ([]Record, error) {
	n := 2
	for _, r := range recs {
		n += len(r.Namespace) + len(r.Key) + 8
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendJSONString(b, r.Namespace)
		b = append(b, ',')
		b = appendJSONString(b, r.Key)
		b = append(b, ']')
	}
	rs, err := s.q.RestoreExisting(ctx, string(append(b, ']')))
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(rs))
	for i, r := range rs {
		out[i] = Record{Namespace: r.Namespace, Key: r.Key, Value: []byte(r.Value), Metadata: []byte(r.Metadata), Version: r.Version,
			CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt), CreatedBy: deref(r.CreatedBy), UpdatedBy: deref(r.UpdatedBy),
			ExpiresAt: fromOptMicros(r.ExpiresAt)}
	}
	return out, nil
}

// restoreInsert binds recs as one JSON array of objects (values and
// metadata are checked JSON, embedded as they are).
func (s sqliteQ) restoreInsert(ctx context.Context, recs []*Record, _ time.Time) ([]idKey, error) {
	base, err := s.q.RevisionCounter(ctx)
	if err != nil {
		return nil, err
	}
	n := 2
	for _, r := range recs {
		n += len(r.Namespace) + len(r.Key) + len(r.Value) + len(r.Metadata) + len(r.CreatedBy) + len(r.UpdatedBy) + 96
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"n":`...)
		b = appendJSONString(b, r.Namespace)
		b = append(b, `,"k":`...)
		b = appendJSONString(b, r.Key)
		b = append(b, `,"v":`...)
		b = append(b, r.Value...)
		b = append(b, `,"m":`...)
		b = append(b, r.Metadata...)
		b = fmt.Appendf(b, `,"ver":%d,"c":%d,"u":%d`, r.Version, micros(r.CreatedAt), micros(r.UpdatedAt))
		if r.CreatedBy != "" {
			b = append(b, `,"cb":`...)
			b = appendJSONString(b, r.CreatedBy)
		}
		if r.UpdatedBy != "" {
			b = append(b, `,"ub":`...)
			b = appendJSONString(b, r.UpdatedBy)
		}
		if !r.ExpiresAt.IsZero() {
			b = fmt.Appendf(b, `,"x":%d`, micros(r.ExpiresAt))
		}
		b = append(b, '}')
	}
	rs, err := s.q.RestoreInsert(ctx, sqlitedb.RestoreInsertParams{Base: base, Records: string(append(b, ']'))})
	if err != nil {
		return nil, err
	}
	out := make([]idKey, len(rs))
	for i, r := range rs {
		out[i] = idKey{r.NamespaceID, r.Key}
	}
	return out, nil
}

func (s sqliteQ) restoreUpdateNamespace(ctx context.Context, id int64, md []byte, created time.Time) error {
	_, err := s.q.RestoreUpdateNamespace(ctx, sqlitedb.RestoreUpdateNamespaceParams{Metadata: string(md), CreatedAt: micros(created), ID: id})
	return err
}

func (s sqliteQ) restoreNamespaceIndexes(ctx context.Context, id int64, indexes []byte) error {
	_, err := s.q.RestoreNamespaceIndexes(ctx, sqlitedb.RestoreNamespaceIndexesParams{Indexes: string(indexes), ID: id})
	return err
}

// restorePlans is a no-op: SQLite plans each statement as it prepares it.
func (sqliteQ) restorePlans(context.Context) error { return nil }
