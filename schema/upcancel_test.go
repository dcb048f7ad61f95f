package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// runTally classifies the errors of migration runs racing each other.
type runTally struct {
	mu     sync.Mutex
	counts map[string]int
	bad    []string
}

// add records the error of run op (nil is fine): the context's, when it
// ended (a *MigrationError for it included), or one wrapping exactly one
// sentinel, one of allowed; outside a *MigrationError, without goose's or
// the driver's text.
func (l *runTally) add(op string, err error, ended bool, allowed ...error) {
	if err == nil {
		return
	}
	var wrapped []error
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			wrapped = append(wrapped, s)
		}
	}
	isCtx := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	switch {
	case len(wrapped) == 0 && isCtx && ended:
		l.counts["context"]++
	case len(wrapped) != 1:
		l.bad = append(l.bad, fmt.Sprintf("%s: %q (%T) wraps %d sentinels %v (context ended: %v)", op, err, err, len(wrapped), wrapped, ended))
	default:
		l.counts[op+" "+wrapped[0].Error()]++
		if !slices.Contains(allowed, wrapped[0]) {
			l.bad = append(l.bad, fmt.Sprintf("%s: unexpected %q (context ended: %v)", op, err, ended))
		}
	}
	if me := (*MigrationError)(nil); errors.As(err, &me) {
		return // the database's words, for the operator
	}
	for _, leak := range []string{"SQLSTATE", "sql: ", "(SQLITE_", "goose"} {
		if strings.Contains(err.Error(), leak) {
			l.bad = append(l.bad, fmt.Sprintf("%s: %q carries driver text %q", op, err, leak))
		}
	}
}

func (l *runTally) report(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("errors: %v", l.counts)
	for _, b := range l.bad {
		t.Error(b)
	}
}

// pgOpener opens *sql.DB handles on a new PostgreSQL database, closed
// when the test ends.
func pgOpener(t *testing.T) func() *sql.DB {
	dsn := postgresDSN(t)
	return func() *sql.DB {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
}

// upRacingDeadlines runs migrators at once on one database, each calling
// Up again and again with a context that ends at a random point (before
// the lock, while waiting for it, in a migration's statement, at its
// commit): every error is the context's or wraps exactly one sentinel,
// and carries no driver text; an Up with no deadline afterwards applies
// what is left, each migration applied once.
func upRacingDeadlines(t *testing.T, d Dialect, open func() *sql.DB) {
	t.Helper()
	dbs := make([]*sql.DB, 4)
	for i := range dbs {
		dbs[i] = open()
	}
	var tally runTally
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			for range 6 {
				ctx, cancel := context.WithTimeout(t.Context(), time.Duration(r.IntN(60_000))*time.Microsecond)
				_, err := Up(ctx, d, db)
				ended := ctx.Err() != nil
				cancel()
				// ErrUnavailable: the context ended as the lock was
				// awaited.
				if ended {
					tally.add("Up", err, ended, storage.ErrUnavailable)
				} else {
					tally.add("Up", err, ended)
				}
			}
		})
	}
	wg.Wait()
	tally.report(t)
	// No migrator is left holding the lock (TestFailedLockLeavesNoLock):
	// the last Up takes it at once.
	if _, err := Up(t.Context(), d, dbs[0], WithLockTimeout(10*time.Second)); err != nil {
		t.Fatalf("Up after the race: %v", err)
	}
	checkAppliedOnce(t, d, dbs[0])
	if n := countDefault(t, dbs[0]); n != 1 {
		t.Errorf("default namespace rows = %d, want 1", n)
	}
}

func TestUpRacingDeadlinesSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	upRacingDeadlines(t, SQLite, func() *sql.DB { return openSQLite(t, path) })
}

func TestUpRacingDeadlinesPostgres(t *testing.T) {
	upRacingDeadlines(t, Postgres, pgOpener(t))
}

// grantThenFail is a session locker whose lock the server grants but
// whose caller sees an error: the context ended after
// pg_try_advisory_lock ran on the server and before its answer was read
// (database/sql's Rows closed by the context).
type grantThenFail struct{ id int64 }

func (l grantThenFail) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, l.id).Scan(&ok); err != nil || !ok {
		return fmt.Errorf("lock granted %v: %w", ok, err)
	}
	return fmt.Errorf("failed to execute pg_try_advisory_lock: %w", context.Canceled)
}

func (grantThenFail) SessionUnlock(context.Context, *sql.Conn) error { return nil }

// TestFailedLockLeavesNoLock: a migrator whose SessionLock fails after
// the server granted the advisory lock (its context ended as the answer
// came back) must not give the connection back to the pool with the
// session's lock held: every other migrator would wait for it until its
// lock timeout (ErrUnavailable), for as long as the pool keeps the
// connection. A run of upRacingDeadlines under -race saw the final Up
// wait its 5 minutes for such a lock.
func TestFailedLockLeavesNoLock(t *testing.T) {
	open := pgOpener(t)
	db := open()
	db.SetMaxOpenConns(1)
	id, err := postgresLockID(db)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	l := sentinelLocker{grantThenFail{id}}
	if err := l.SessionLock(t.Context(), conn); !errors.Is(err, context.Canceled) {
		t.Fatalf("SessionLock: %v", err)
	}
	_ = conn.Close() // as goose does: the connection goes back to the pool
	check := open()
	held := func() (n int) {
		err := check.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = $1`, id).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// A closed connection's session ends (and its locks go) a moment
	// later.
	deadline := time.Now().Add(5 * time.Second)
	for held() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := held(); n != 0 {
		t.Fatalf("after a failed SessionLock the pool's connection still holds the migration lock")
	}
	// And a migrator on the same pool takes the lock at once.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := Up(ctx, Postgres, db, WithLockTimeout(time.Second)); err != nil {
		t.Fatalf("Up: %v", err)
	}
}

// TestContextErrorWithoutGooseText: a run whose context ended fails with
// the context's error, its message without goose's and the driver's
// words (a partial migration, a transaction already rolled back, a
// connection already closed), as upRacingDeadlines saw them.
func TestContextErrorWithoutGooseText(t *testing.T) {
	cause := errors.Join(fmt.Errorf("partial migration error (type:sql,version:3): %w", context.DeadlineExceeded), sql.ErrTxDone,
		fmt.Errorf("failed to execute pg_advisory_unlock: %w", sql.ErrConnDone))
	for _, d := range []Dialect{SQLite, Postgres} {
		err := classify(d, cause)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sql.ErrTxDone) {
			t.Errorf("%s: %v does not wrap the context's error and the cause", d, err)
		}
		if err.Error() != context.DeadlineExceeded.Error() {
			t.Errorf("%s: message %q, want the context's alone", d, err)
		}
		for _, s := range storage.Sentinels() {
			if errors.Is(err, s) {
				t.Errorf("%s: %v wraps %v", d, err, s)
			}
		}
	}
}

// migratorsRacing runs two Migrators at once on one database, each
// calling Up, UpTo, Down, Redo and Status at random, a share of them with
// a context that ends at a random point: every error is the context's
// (or a *MigrationError for it) or wraps exactly one sentinel such a race
// may cause, without goose's or the driver's text outside a
// *MigrationError; a plain Up afterwards brings the schema to the latest
// version, each migration applied once.
func migratorsRacing(t *testing.T, d Dialect, open func() *sql.DB) {
	t.Helper()
	var tally runTally
	var wg sync.WaitGroup
	var first *sql.DB
	for i := range 2 {
		db := open()
		if i == 0 {
			first = db
		}
		m, err := NewMigrator(d, db)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			for range 12 {
				ctx, cancel := context.WithCancel(t.Context())
				if r.IntN(2) == 0 {
					ctx, cancel = context.WithTimeout(t.Context(), time.Duration(r.IntN(40_000))*time.Microsecond)
				}
				var err error
				op := []string{"Up", "UpTo", "Down", "Redo", "Status"}[r.IntN(5)]
				switch op {
				case "Up":
					_, err = m.Up(ctx)
				case "UpTo":
					_, err = m.UpTo(ctx, 1+r.Int64N(m.Latest()))
				case "Down":
					_, err = m.Down(ctx)
				case "Redo":
					_, err = m.Redo(ctx)
				case "Status":
					_, err = m.Status(ctx)
				}
				ended := ctx.Err() != nil
				cancel()
				// Redo with nothing applied: the other migrator went
				// down meanwhile. ErrUnavailable: a connection that
				// could not be made in time on a loaded machine (a dial
				// timeout), or the context ended as the lock was
				// awaited.
				tally.add(op, err, ended, storage.ErrNotFound, storage.ErrUnavailable)
			}
		})
	}
	wg.Wait()
	tally.report(t)
	if _, err := Up(t.Context(), d, first, WithLockTimeout(10*time.Second)); err != nil {
		t.Fatalf("Up after the race: %v", err)
	}
	checkAppliedOnce(t, d, first)
}

func TestMigratorsRacingSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	migratorsRacing(t, SQLite, func() *sql.DB { return openSQLite(t, path) })
}

func TestMigratorsRacingPostgres(t *testing.T) {
	migratorsRacing(t, Postgres, pgOpener(t))
}

// TestMigratorAfterFailedVersionTable: a Migrator whose first run failed
// as goose created its version table (here an event trigger refuses the
// CREATE TABLE; in migratorsRacing, the run's context ended there) runs again
// once it may be created. goose creates the table once per Provider (a
// sync.Once), the failed attempt included, and the Migrator kept that
// Provider: every later call failed with ErrCorrupt ("relation
// goose_db_version does not exist").
func TestMigratorAfterFailedVersionTable(t *testing.T) {
	db := pgOpener(t)()
	for _, q := range []string{
		`CREATE FUNCTION refuse() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$`,
		`CREATE EVENT TRIGGER refuse ON ddl_command_start WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION refuse()`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Skipf("%s: %v (an event trigger takes a superuser)", q, err)
		}
	}
	m, err := NewMigrator(Postgres, db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err = m.Up(ctx)
	cancel()
	if err == nil {
		t.Fatal("Up with the version table refused succeeded")
	}
	t.Logf("Up: %v", err)
	if _, err := db.ExecContext(t.Context(), `DROP EVENT TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(t.Context()); err != nil {
		t.Fatalf("Up once the table may be created: %v", err)
	}
	checkAppliedOnce(t, Postgres, db)
}

// TestConnectTimeoutIsUnavailable: a connection the driver gives up
// making by its own deadline (connect_timeout, a server that accepts and
// never answers), the caller's context still alive, is ErrUnavailable:
// the context error the driver wraps is not the caller's. It was returned
// bare, wrapping no sentinel, as if the caller's context had ended (seen
// in TestMigratorsRacingPostgres on a loaded machine: "schema: version:
// context deadline exceeded" with the context alive).
func TestConnectTimeoutIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts, and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	db, err := sql.Open("pgx", "postgres://u@"+ln.Addr().String()+"/db?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Version(t.Context(), Postgres, db)
	if !errors.Is(err, storage.ErrUnavailable) || t.Context().Err() != nil {
		t.Errorf("Version: %v, want ErrUnavailable", err)
	}
	_, err = Up(t.Context(), Postgres, db, WithLockTimeout(time.Second))
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Up: %v, want ErrUnavailable", err)
	}
}
