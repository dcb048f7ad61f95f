package schema

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib" // and database/sql driver "pgx"
	"modernc.org/sqlite"             // database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Environment of a re-executed test binary acting as one migrator.
const (
	envChild   = "SCHEMA_TEST_CHILD"   // dialect
	envChildDB = "SCHEMA_TEST_CHILDDB" // SQLite file or Postgres DSN
	envStartAt = "SCHEMA_TEST_START"   // unix nanoseconds to start at
)

func TestMain(m *testing.M) {
	if d := os.Getenv(envChild); d != "" {
		os.Exit(childMigrate(Dialect(d), os.Getenv(envChildDB), os.Getenv(envStartAt)))
	}
	os.Exit(m.Run())
}

// childMigrate runs one Up as its own process and reports on stdout how many
// migrations it applied.
func childMigrate(d Dialect, target, startAt string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := openDialect(d, target)
	if err != nil {
		fmt.Println("error: open:", err)
		return 1
	}
	defer db.Close()
	if err := pingBusy(ctx, db, d); err != nil {
		fmt.Println("error: ping:", err)
		return 1
	}
	if ns, err := strconv.ParseInt(startAt, 10, 64); err == nil {
		time.Sleep(time.Until(time.Unix(0, ns)))
	}
	res, err := Up(ctx, d, db)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("applied", len(res))
	return 0
}

// pingBusy opens a first connection, as sqlstore and the migrate CLI do: a
// new SQLite file is switched to WAL mode by the DSN, which fails at once
// with SQLITE_BUSY (the busy timeout does not cover it) while another
// process opens the same new file, so busy errors are retried.
func pingBusy(ctx context.Context, db *sql.DB, d Dialect) error {
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || d != SQLite || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func openDialect(d Dialect, target string) (*sql.DB, error) {
	if d == SQLite {
		return sql.Open("sqlite", sqliteDSN(target))
	}
	return sql.Open("pgx", target)
}

func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
}

func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// postgresDSN returns a DSN for a new, empty database that is dropped when
// the test ends. Without STORAGE_TEST_POSTGRES_DSN the test is skipped, or
// fails when CI=true.
func postgresDSN(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("STORAGE_TEST_POSTGRES_DSN")
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("STORAGE_TEST_POSTGRES_DSN is not set but CI=true: PostgreSQL tests must run in CI")
		}
		t.Skip(`PostgreSQL tests need a server: export STORAGE_TEST_POSTGRES_DSN="$(bash .ci/postgres.sh)"`)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("STORAGE_TEST_POSTGRES_DSN: %v", err)
	}
	adm, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = adm.Close() })
	name := fmt.Sprintf("schema_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := adm.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := adm.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func openPostgres(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", postgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// sourceVersions lists the versions of d's embedded migrations.
func sourceVersions(t *testing.T, d Dialect, db *sql.DB) []int64 {
	t.Helper()
	p, err := NewProvider(d, db)
	if err != nil {
		t.Fatal(err)
	}
	var vs []int64
	for _, s := range p.ListSources() {
		vs = append(vs, s.Version)
	}
	if len(vs) == 0 {
		t.Fatal("no embedded migrations")
	}
	return vs
}

// checkAppliedOnce checks that goose recorded version 0 and every migration
// exactly once.
func checkAppliedOnce(t *testing.T, d Dialect, db *sql.DB) {
	t.Helper()
	rows, err := db.Query(`SELECT version_id, count(*) FROM ` + VersionTable + ` GROUP BY version_id ORDER BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int64]int64{}
	for rows.Next() {
		var v, n int64
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		got[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[int64]int64{0: 1}
	for _, v := range sourceVersions(t, d, db) {
		want[v] = 1
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s rows per version = %v, want %v", VersionTable, got, want)
	}
}

func latest(t *testing.T, d Dialect, db *sql.DB) int64 {
	vs := sourceVersions(t, d, db)
	return vs[len(vs)-1]
}

func mustVersion(t *testing.T, d Dialect, db *sql.DB) int64 {
	t.Helper()
	v, err := Version(context.Background(), d, db)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	return v
}

func countDefault(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM namespaces WHERE name = 'default'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// lifecycle: up on a fresh database, idempotent second up, Version, down to
// zero and up again.
func lifecycle(t *testing.T, d Dialect, db *sql.DB, opts ...Option) {
	ctx := context.Background()
	if v := mustVersion(t, d, db); v != 0 {
		t.Fatalf("fresh Version = %d, want 0", v)
	}
	var exists bool
	if err := db.QueryRow(map[Dialect]string{
		SQLite:   `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'goose_db_version')`,
		Postgres: `SELECT to_regclass('goose_db_version') IS NOT NULL`,
	}[d]).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("Version created the goose version table")
	}

	res, err := Up(ctx, d, db, opts...)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	want := latest(t, d, db)
	if len(res) != len(sourceVersions(t, d, db)) {
		t.Fatalf("Up applied %d migrations, want %d", len(res), len(sourceVersions(t, d, db)))
	}
	for _, r := range res {
		if r.Error != nil {
			t.Fatalf("migration %d: %v", r.Source.Version, r.Error)
		}
	}
	if v := mustVersion(t, d, db); v != want {
		t.Fatalf("Version after Up = %d, want %d", v, want)
	}
	if n := countDefault(t, db); n != 1 {
		t.Fatalf("default namespace rows = %d, want 1", n)
	}

	res, err = Up(ctx, d, db, opts...)
	if err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if len(res) != 0 {
		t.Fatalf("second Up applied %d migrations, want none", len(res))
	}
	if v := mustVersion(t, d, db); v != want {
		t.Fatalf("Version after second Up = %d, want %d", v, want)
	}
	checkAppliedOnce(t, d, db)

	p, err := NewProvider(d, db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("DownTo(0): %v", err)
	}
	if v := mustVersion(t, d, db); v != 0 {
		t.Fatalf("Version after DownTo(0) = %d, want 0", v)
	}
	if _, err := db.Exec(`SELECT 1 FROM namespaces`); err == nil {
		t.Fatal("namespaces still exists after DownTo(0)")
	}

	res, err = Up(ctx, d, db, opts...)
	if err != nil {
		t.Fatalf("Up after down: %v", err)
	}
	if len(res) != len(sourceVersions(t, d, db)) {
		t.Fatalf("Up after down applied %d, want %d", len(res), len(sourceVersions(t, d, db)))
	}
	if v := mustVersion(t, d, db); v != want {
		t.Fatalf("Version = %d, want %d", v, want)
	}
	if n := countDefault(t, db); n != 1 {
		t.Fatalf("default namespace rows = %d, want 1", n)
	}
	checkAppliedOnce(t, d, db)
}

func TestLifecycleSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	lifecycle(t, SQLite, openSQLite(t, path), WithSQLiteFile(path))
	if _, err := os.Stat(path + LockFileSuffix); err != nil {
		t.Errorf("lock file: %v", err)
	}
}

func TestLifecycleSQLitePathFromConnection(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	lifecycle(t, SQLite, openSQLite(t, path)) // no WithSQLiteFile
	if _, err := os.Stat(path + LockFileSuffix); err != nil {
		t.Errorf("lock file from PRAGMA database_list: %v", err)
	}
}

func TestLifecycleSQLiteMemory(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: one in-memory database
	cwd, _ := os.Getwd()
	lifecycle(t, SQLite, db)
	if m, _ := filepath.Glob(filepath.Join(cwd, "*"+LockFileSuffix)); len(m) != 0 {
		t.Errorf("in-memory database created lock files %v", m)
	}
}

func TestLifecyclePostgres(t *testing.T) {
	lifecycle(t, Postgres, openPostgres(t))
}

// TestUpPostgresFromPool follows the package documentation: the engine's pgx
// pool, wrapped by stdlib.OpenDBFromPool, which must stay open afterwards.
func TestUpPostgresFromPool(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, postgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	db := stdlib.OpenDBFromPool(pool)
	if _, err := Up(ctx, Postgres, db); err != nil {
		t.Fatalf("Up: %v", err)
	}
	v, err := Version(ctx, Postgres, db)
	if err != nil || v != latest(t, Postgres, db) {
		t.Fatalf("Version = %d, %v", v, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM namespaces`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("pool after closing the *sql.DB: %d namespaces, %v", n, err)
	}
}

func TestUnknownDialect(t *testing.T) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := Up(context.Background(), "mysql", db); err == nil {
		t.Fatal("Up with an unknown dialect succeeded")
	}
	if _, err := Version(context.Background(), "mysql", db); err == nil {
		t.Fatal("Version with an unknown dialect succeeded")
	}
}

const migrators = 4

// concurrentProcesses re-executes the test binary as separate migrator
// processes that all start at the same instant.
func concurrentProcesses(t *testing.T, d Dialect, target string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes")
	}
	start := time.Now().Add(time.Second).UnixNano()
	type out struct {
		text string
		err  error
	}
	outs := make([]out, migrators)
	var wg sync.WaitGroup
	for i := range migrators {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(),
				envChild+"="+string(d), envChildDB+"="+target,
				envStartAt+"="+strconv.FormatInt(start, 10))
			b, err := cmd.CombinedOutput()
			outs[i] = out{string(b), err}
		})
	}
	wg.Wait()
	applied := 0
	for i, o := range outs {
		if o.err != nil {
			t.Errorf("migrator %d: %v\n%s", i, o.err, o.text)
			continue
		}
		var n int
		sc := bufio.NewScanner(strings.NewReader(o.text))
		found := false
		for sc.Scan() {
			if _, err := fmt.Sscanf(sc.Text(), "applied %d", &n); err == nil {
				found = true
				applied += n
			}
		}
		if !found {
			t.Errorf("migrator %d said %q", i, o.text)
		}
	}
	db, err := openDialect(d, target)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if want := len(sourceVersions(t, d, db)); applied != want {
		t.Errorf("migrators applied %d migrations in all, want %d", applied, want)
	}
	checkAppliedOnce(t, d, db)
	if n := countDefault(t, db); n != 1 {
		t.Errorf("default namespace rows = %d, want 1", n)
	}
}

// concurrentHandles runs the migrators as goroutines of this process, each
// with its own *sql.DB.
func concurrentHandles(t *testing.T, d Dialect, open func() *sql.DB) {
	t.Helper()
	start := make(chan struct{})
	applied := make([]int, migrators)
	errs := make([]error, migrators)
	dbs := make([]*sql.DB, migrators)
	for i := range dbs {
		dbs[i] = open()
		if err := dbs[i].Ping(); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range migrators {
		wg.Go(func() {
			<-start
			res, err := Up(context.Background(), d, dbs[i])
			applied[i], errs[i] = len(res), err
		})
	}
	close(start)
	wg.Wait()
	total := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
		total += applied[i]
	}
	if want := len(sourceVersions(t, d, dbs[0])); total != want {
		t.Errorf("migrators applied %d migrations in all, want %d", total, want)
	}
	checkAppliedOnce(t, d, dbs[0])
}

func TestConcurrentSQLiteProcesses(t *testing.T) {
	concurrentProcesses(t, SQLite, filepath.Join(t.TempDir(), "app.db"))
}

func TestConcurrentSQLiteHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	concurrentHandles(t, SQLite, func() *sql.DB { return openSQLite(t, path) })
}

func TestConcurrentPostgresProcesses(t *testing.T) {
	concurrentProcesses(t, Postgres, postgresDSN(t))
}

func TestConcurrentPostgresHandles(t *testing.T) {
	dsn := postgresDSN(t)
	concurrentHandles(t, Postgres, func() *sql.DB {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	})
}

// holdLock takes the migration lock of the SQLite database at path, as
// another migrator would; unlockFile releases it, and the end of the test.
func holdLock(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path+LockFileSuffix, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if ok, err := tryLockFile(f); !ok || err != nil {
		t.Fatalf("take lock: %v %v", ok, err)
	}
	return f
}

// TestSQLiteLockWaits holds the migration lock and checks that Up waits for
// it, gives up with the context or the lock timeout, and proceeds once the
// lock is released.
func TestSQLiteLockWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	db := openSQLite(t, path)
	f := holdLock(t, path)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := Up(ctx, SQLite, db, WithSQLiteFile(path)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Up with the lock held and a short context: %v, want DeadlineExceeded", err)
	}
	_, err := Up(context.Background(), SQLite, db, WithSQLiteFile(path), WithLockTimeout(100*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "still held") {
		t.Fatalf("Up with the lock held and a short lock timeout: %v", err)
	}
	if v := mustVersion(t, SQLite, db); v != 0 {
		t.Fatalf("Version = %d while locked out, want 0", v)
	}

	done := make(chan error, 1)
	go func() {
		_, err := Up(context.Background(), SQLite, db, WithSQLiteFile(path))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Up finished while the lock was held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := unlockFile(f); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Up after release: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Up did not proceed after the lock was released")
	}
	checkAppliedOnce(t, SQLite, db)
}
