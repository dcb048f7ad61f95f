package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// TestPointReadsWithWriters runs Get, Has and GetMany (on SQLite through
// the driver's own statements, fastread.go) beside a writer that
// overwrites and deletes the same keys: every entry read is one the
// writer wrote (its value names its key, and its version counts the sets
// of the key since it was created), and no reader sees a key's value go
// back in time.
func TestPointReadsWithWriters(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			ctx := t.Context()
			const keys = 8
			key := func(i int) string { return fmt.Sprintf("k%d", i) }
			type val struct {
				K string `json:"k"`
				I int    `json:"i"` // the set's number, from 1 after each delete
			}
			all := make([]string, keys)
			for i := range all {
				all[i] = key(i)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the writer
				defer wg.Done()
				sets := make([]int, keys)
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					i := n % keys
					if n%29 == 28 {
						if err := s.Delete(ctx, key(i)); err != nil && !errors.Is(err, storage.ErrNotFound) {
							t.Errorf("Delete: %v", err)
							return
						}
						sets[i] = 0
						continue
					}
					sets[i]++
					if err := s.Set(ctx, key(i), val{K: key(i), I: sets[i]}); err != nil {
						t.Errorf("Set: %v", err)
						return
					}
				}
			}()
			check := func(k string, e storage.Entry) error {
				var v val
				if err := json.Unmarshal(e.Value, &v); err != nil {
					return fmt.Errorf("%s: %w (%s)", k, err, e.Value)
				}
				if v.K != k || e.Key != k || int64(v.I) != e.Version {
					return fmt.Errorf("%s: read %+v as key %q version %d", k, v, e.Key, e.Version)
				}
				return nil
			}
			errs := make(chan error, 4)
			for r := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					deadline := time.Now().Add(400 * time.Millisecond)
					for n := 0; time.Now().Before(deadline); n++ {
						k := key((n + r) % keys)
						var err error
						switch n % 3 {
						case 0:
							var e storage.Entry
							if e, err = s.Get(ctx, k); err == nil {
								err = check(k, e)
							} else if errors.Is(err, storage.ErrNotFound) {
								err = nil
							}
						case 1:
							_, err = s.Has(ctx, k)
						case 2:
							var res storage.GetManyResult
							if res, err = s.GetMany(ctx, all); err == nil {
								for k, e := range res.Entries {
									if err = check(k, e); err != nil {
										break
									}
								}
							}
						}
						if err != nil {
							errs <- fmt.Errorf("reader %d: %w", r, err)
							return
						}
					}
				}()
			}
			time.Sleep(450 * time.Millisecond)
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestPointReadsCancelled: Get, Has and GetMany with a context that has
// ended fail with its error, wrapped in an *OpError, and read nothing.
func TestPointReadsCancelled(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			must(t, s.Set(t.Context(), "k", 1))
			cancelled, cancel := context.WithCancel(t.Context())
			cancel()
			expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
			defer cancel2()
			for _, tc := range []struct {
				ctx  context.Context
				want error
			}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
				_, err := s.Get(tc.ctx, "k")
				_, herr := s.Has(tc.ctx, "k")
				_, merr := s.GetMany(tc.ctx, []string{"k"})
				for name, err := range map[string]error{"Get": err, "Has": herr, "GetMany": merr} {
					var oe *storage.OpError
					if !errors.Is(err, tc.want) || !errors.As(err, &oe) {
						t.Errorf("%s with an ended context: %v, want an *OpError wrapping %v", name, err, tc.want)
					}
				}
			}
			// The reads after them, with a live context, see the entry.
			if e, err := s.Get(t.Context(), "k"); err != nil || string(e.Value) != "1" {
				t.Errorf("Get after: %+v %v", e, err)
			}
		})
	}
}

// TestPointReadsRacingClose: Get, Has and GetMany racing Close succeed or
// fail with ErrClosed, and fail with ErrClosed after it; on SQLite every
// statement the reads prepared on the reader connections is finalized and
// every connection closed once the reads have returned, those in use when
// Close ran included (database/sql closes them as they are released).
func TestPointReadsRacingClose(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			ctx := t.Context()
			items := make([]storage.Item, 50)
			keys := make([]string, len(items))
			for i := range items {
				keys[i] = fmt.Sprint("k", i)
				items[i] = storage.Item{Key: keys[i], Value: json.RawMessage(`{"a":1}`)}
			}
			if res, err := s.SetMany(ctx, items); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			read := func(n int) error {
				switch n % 3 {
				case 0:
					_, err := s.Get(ctx, keys[n%len(keys)])
					return err
				case 1:
					_, err := s.Has(ctx, keys[n%len(keys)])
					return err
				default:
					_, err := s.GetMany(ctx, keys)
					return err
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, 6)
			for r := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := r; ; n++ {
						if err := read(n); err != nil {
							if !errors.Is(err, storage.ErrClosed) {
								errs <- fmt.Errorf("read racing Close: %w, want nil or ErrClosed", err)
							}
							return
						}
					}
				}()
			}
			time.Sleep(20 * time.Millisecond)
			must(t, s.Close())
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for n := range 3 {
				if err := read(n); !errors.Is(err, storage.ErrClosed) {
					t.Errorf("read %d after Close: %v, want ErrClosed", n, err)
				}
			}
			if e, ok := s.eng.(*sqliteEngine); ok {
				checkReadsReleased(t, e)
			}
		})
	}
}

// TestDriverReadsPrepareOnce: on SQLite the point reads prepare each
// statement once per reader connection and run it again on later calls;
// Close finalizes them (no read running).
func TestDriverReadsPrepareOnce(t *testing.T) {
	for _, c := range configs[:2] {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			ctx := t.Context()
			must(t, s.Set(ctx, "k", 1))
			e := s.eng.(*sqliteEngine)
			reads := func() {
				t.Helper()
				for range 20 {
					if _, err := s.Get(ctx, "k"); err != nil {
						t.Fatal(err)
					}
					if ok, err := s.Has(ctx, "k"); err != nil || !ok {
						t.Fatal(ok, err)
					}
					if res, err := s.GetMany(ctx, []string{"k", "x"}); err != nil || len(res.Entries) != 1 {
						t.Fatal(res, err)
					}
				}
			}
			// stmts are the statements cached on one reader connection.
			stmts := func() (st [numStmts]queryStmt) {
				conn, err := e.r.Conn(ctx)
				must(t, err)
				defer conn.Close()
				must(t, conn.Raw(func(dc any) error { st = dc.(*readConn).st; return nil }))
				return st
			}
			reads()
			st := e.reads.stats
			opened, prepared := st.connsOpened.Load(), st.stmtsPrepared.Load()
			if prepared == 0 || prepared > numReads*opened {
				t.Fatalf("%d statements prepared on %d connections, want 1 to %d per connection", prepared, opened, numReads)
			}
			first := stmts()
			reads()
			if got := st.stmtsPrepared.Load(); got != prepared && st.connsOpened.Load() == opened {
				t.Errorf("%d statements prepared after more reads on the same %d connections, want %d", got, opened, prepared)
			}
			if again := stmts(); first != again && st.connsOpened.Load() == 1 {
				t.Errorf("the statements on the one connection changed: %v, then %v", first, again)
			}
			must(t, s.Close())
			checkReadsReleased(t, e)
		})
	}
}

// checkReadsReleased fails t unless every reader connection e opened is
// closed and every point-read statement prepared on them finalized.
func checkReadsReleased(t *testing.T, e *sqliteEngine) {
	t.Helper()
	st := e.reads.stats
	if o, c := st.connsOpened.Load(), st.connsClosed.Load(); o != c {
		t.Errorf("%d reader connections opened, %d closed", o, c)
	}
	if p, d := st.stmtsPrepared.Load(), st.stmtsDone.Load(); p != d {
		t.Errorf("%d point-read statements prepared, %d finalized", p, d)
	}
}

// TestDiscardedReaderConnsFinalize: a reader connection that database/sql
// discards (here through ErrBadConn, as after a statement its context
// interrupted) finalizes its point reads' statements before the driver
// closes its SQLite handle, so the handle is closed, not left a zombie
// with the database, WAL and shared-memory files open. With Close not
// finalizing them (as the reverted 5bfc066 did not), the 400 discarded
// connections here left 404 files open, still open after the store's Close.
func TestDiscardedReaderConnsFinalize(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts open files through /proc/self/fd")
	}
	ctx := t.Context()
	dir := t.TempDir()
	s := openTest(t, "sqlite:"+filepath.Join(dir, "d.db")+"?readers=2", WithSweepInterval(-1))
	defer s.Close()
	must(t, s.Set(ctx, "k", 1))
	e := s.eng.(*sqliteEngine)
	rounds := 200
	if raceEnabled {
		rounds = 40 // each round opens three connections: slow under -race
	}
	for range rounds {
		if _, err := s.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Has(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetMany(ctx, []string{"k"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Count(ctx); err != nil { // a dynamic statement
			t.Fatal(err)
		}
		// Discard both reader connections, and the point reader.
		var conns []*sql.Conn
		for _, db := range []*sql.DB{e.r, e.r, e.p} {
			c, err := db.Conn(ctx)
			must(t, err)
			conns = append(conns, c)
		}
		for _, c := range conns {
			_ = c.Raw(func(any) error { return driver.ErrBadConn })
			_ = c.Close()
		}
	}
	st := e.reads.stats
	if n := st.connsClosed.Load(); n < int64(3*rounds) {
		t.Fatalf("%d reader connections closed, want at least %d (each discarded)", n, 3*rounds)
	}
	if p, d := st.stmtsPrepared.Load(), st.stmtsDone.Load(); p < int64(rounds*(numReads+1)) || p != d {
		t.Errorf("%d statements prepared, %d finalized; want every one of at least %d finalized", p, d, rounds*(numReads+1))
	}
	if n := openFilesUnder(t, dir); n > 12 {
		t.Errorf("%d files of the store's directory open after %d discarded reader connections, want at most 12", n, 3*rounds)
	}
	must(t, s.Close())
	checkReadsReleased(t, e)
	if n := openFilesUnder(t, dir); n != 0 {
		t.Errorf("%d files of the store's directory open after Close", n)
	}
}

// TestReadConnCloseFinalizesFirst: readConn.Close finalizes its
// statements before it closes the driver's connection, and the SQLite
// handle is then closed (its files are). The control: a driver connection
// closed with a statement left unfinalized keeps its files open.
func TestReadConnCloseFinalizesFirst(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts open files through /proc/self/fd")
	}
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "d.db")
	s := openTest(t, "sqlite:"+path)
	must(t, s.Set(ctx, "k", 1))
	must(t, s.Close())
	if n := openFilesUnder(t, dir); n != 0 {
		t.Fatalf("%d files open after the store's Close", n)
	}
	o := dialect.DefaultSQLiteOptions
	connect := func() sqliteConn {
		t.Helper()
		base, err := sqlite.NewConnector(dialect.SQLiteDriverDSN(path, o, false))
		must(t, err)
		dc, err := base.Connect(ctx)
		must(t, err)
		return dc.(sqliteConn)
	}
	var log []string
	rc := &readConn{c: orderConn{connect(), &log}, stats: &readStats{}}
	args := keyArgs(storage.DefaultNamespace, "k", time.Now())
	for k := range numReads {
		a := args
		if k == readGetMany {
			a = []driver.NamedValue{args[0], {Ordinal: 2, Value: jsonKeysExact([]string{"k"})}, args[2]}
		}
		rows := 0
		must(t, rc.read(ctx, k, a, func([]driver.Value) error { rows++; return nil }))
		if rows != 1 {
			t.Errorf("statement %d: %d rows, want 1", k, rows)
		}
	}
	// A dynamic statement (Query's, Count's, …), kept too.
	if vals, err := driverValues(ctx, rc, "SELECT key FROM entries WHERE key = ?", []driver.NamedValue{{Ordinal: 1, Value: "k"}}); err != nil || !slices.Equal(vals, []string{"k"}) {
		t.Fatalf("dynamic statement: %v %v", vals, err)
	}
	if n := openFilesUnder(t, dir); n == 0 {
		t.Fatal("no file open on a live connection: the check cannot see a handle")
	}
	must(t, rc.Close())
	want := []string{"finalize", "finalize", "finalize", "finalize", "close"}
	if !slices.Equal(log, want) {
		t.Errorf("Close did %v, want %v", log, want)
	}
	if rc.st != [numStmts]queryStmt{} || len(rc.dyn) != 0 || rc.stats.stmtsDone.Load() != numReads+1 {
		t.Errorf("after Close: statements %v and %d dynamic, %d finalized", rc.st, len(rc.dyn), rc.stats.stmtsDone.Load())
	}
	if _, err := driverValues(ctx, rc, "SELECT 1", nil); !errors.Is(err, driver.ErrBadConn) {
		t.Errorf("dynamic statement on a closed readConn: %v, want driver.ErrBadConn", err)
	}
	if n := openFilesUnder(t, dir); n != 0 {
		t.Errorf("%d files open after readConn.Close", n)
	}
	if err := rc.read(ctx, readGet, args, func([]driver.Value) error { return nil }); !errors.Is(err, driver.ErrBadConn) {
		t.Errorf("read on a closed readConn: %v, want driver.ErrBadConn", err)
	}

	// The control, what the reverted change did: the handle stays open
	// (leaked until the process ends; the files are in t.TempDir).
	dc := connect()
	st, err := dc.PrepareContext(ctx, readSQL[readGet])
	must(t, err)
	_ = st // never finalized
	must(t, dc.Close())
	if n := openFilesUnder(t, dir); n == 0 {
		t.Error("control: a connection closed with a statement unfinalized left no file open; the check above proves nothing")
	}
}

// orderConn and orderStmt record the order of their Closes.
type orderConn struct {
	sqliteConn
	log *[]string
}

func (c orderConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return orderStmt{st.(queryStmt), c.log}, nil
}

func (c orderConn) Close() error {
	*c.log = append(*c.log, "close")
	return c.sqliteConn.Close()
}

type orderStmt struct {
	queryStmt
	log *[]string
}

func (s orderStmt) Close() error {
	*s.log = append(*s.log, "finalize")
	return s.queryStmt.Close()
}

// TestPointReadsSpillToIdleReaders: the point readers are a lane of their
// own, not a cap on point reads. With every point reader in use and the
// readers idle, a Get runs on a reader at once (it waited for a point
// reader: readers/2 connections served every Get and Has of a store
// whose other readers were free). With the readers in use as well, it
// waits for a point reader, the lane the reads that last cannot take.
func TestPointReadsSpillToIdleReaders(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, "sqlite:"+t.TempDir()+"/spill.db?readers=4")
	defer s.Close()
	must(t, s.Set(ctx, "k", 1))
	e := s.eng.(*sqliteEngine)
	hold := func(db *sql.DB, n int) func() { return holdConns(t, db, n) }
	releasePoint := hold(e.p, pointReaders(4))
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := s.Get(gctx, "k")
	cancel()
	if err != nil {
		t.Fatalf("Get with every point reader in use and the readers idle: %v, want it served by a reader", err)
	}
	releaseReaders := hold(e.r, 4)
	gctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = s.Get(gctx, "k")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get with every point reader and reader in use: %v, want it to wait (its deadline)", err)
	}
	releasePoint()
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Errorf("Get on a free point reader, the readers in use: %v", err)
	}
	releaseReaders()
}

// TestQuickReadsBesideBusyReaders: with every reader held by reads that
// last (one principal's scans, watches and read-only transactions can hold
// them all up to their timeouts), the engine's short reads are served on
// the point reads' lane: Status (storeserver's /readyz), GetMetadata, a
// write's compaction assist and a DeleteNamespace's purge assist. Before,
// each waited for a reader: Status and GetMetadata until their deadlines,
// the writes as long as their callers' contexts let them.
func TestQuickReadsBesideBusyReaders(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, "sqlite:"+t.TempDir()+"/quick.db?readers=4", WithRetention(Retention{Changes: 100}))
	defer s.Close()
	s.stopPurger()
	e := s.eng.(*sqliteEngine)
	// within runs fn with a context of 3 s and fails when it took more
	// than 1 s: before, it waited for a reader until that context ended.
	within := func(what string, fn func(ctx context.Context) error) {
		t.Helper()
		release := holdConns(t, e.r, 4)
		defer release()
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		start := time.Now()
		if err := fn(cctx); err != nil {
			t.Errorf("%s with every reader in use: %v", what, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s with every reader in use took %v: it waited for a reader", what, d)
		}
	}

	must(t, s.Set(ctx, "k", 1, storage.WithMetadata(map[string]any{"m": 1})))
	within("Status", func(ctx context.Context) error {
		st, err := s.Status(ctx)
		if err == nil && (!st.Healthy || st.Size != 1 || st.Revision == 0 || st.SchemaVersion == 0) {
			return fmt.Errorf("status %+v: want healthy, 1 entry, a revision and a schema version", st)
		}
		return err
	})
	within("GetMetadata", func(ctx context.Context) error {
		_, err := s.GetMetadata(ctx, "k")
		return err
	})

	// The compaction assist: 3000 changes written, nothing owed yet.
	tx := tx3(t, s, nil)
	tx.(*sqlTx).changes = 0
	must(t, tx.Commit(ctx))
	before := logLen(t, s)
	within("a write's compaction assist", func(ctx context.Context) error {
		s.wroteChanges(ctx, 1000)
		return nil
	})
	if n := logLen(t, s); n > before-2000 || n < 100 {
		t.Errorf("the compaction assist left %d changes of %d; want at most %d, and the window's 100", n, before, before-2000)
	}

	// The purge assist: more than purgeBacklog namespaces unlinked, the
	// purger stopped.
	for i := range purgeBacklog + 1 {
		ns := fmt.Sprintf("tmp-%d", i)
		must(t, s.Set(ctx, "a", 1, storage.InNamespace(ns)))
		must(t, s.DeleteNamespace(ctx, ns, storage.Recursive()))
	}
	must(t, s.Set(ctx, "a", 1, storage.InNamespace("last")))
	within("DeleteNamespace's purge assist", func(ctx context.Context) error {
		return s.DeleteNamespace(ctx, "last", storage.Recursive())
	})
	var unlinked int64
	must(t, s.eng.reader().queryRows(ctx, `SELECT count(*) FROM unlinked`, nil, func(r rowScanner) error { return r.Scan(&unlinked) }))
	if unlinked > purgeBacklog {
		t.Errorf("%d namespaces unlinked after the purge assist; want at most %d", unlinked, purgeBacklog)
	}
}

// holdConns takes n connections of db and returns what gives them back.
func holdConns(t *testing.T, db *sql.DB, n int) func() {
	t.Helper()
	var conns []*sql.Conn
	for range n {
		c, err := db.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
}
