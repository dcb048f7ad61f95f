package sqlstore

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
)

// pgCtl runs pg_ctl on the test server's data directory as its owner.
// restartableServer is the data directory of the server of
// STORAGE_TEST_POSTGRES_DSN, for the tests that restart it; it skips the
// test unless STORAGE_TEST_PG_RESTART=1 and STORAGE_TEST_PG_DIR are set
// (such a test runs alone: other tests would see the restart) and the
// test runs as root (pg_ctl runs as the postgres user).
func restartableServer(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("STORAGE_TEST_PG_DIR")
	if os.Getenv("STORAGE_TEST_PG_RESTART") != "1" || dir == "" {
		t.Skip("restarts the PostgreSQL server: set STORAGE_TEST_PG_RESTART=1 and STORAGE_TEST_PG_DIR, and run it alone")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run pg_ctl as the postgres user")
	}
	return dir
}

// restartThenCrash restarts the server in dir (pg_ctl restart -m fast),
// waits up, then crashes it (stop -m immediate) and, a second later,
// starts it again with the options it ran with.
func restartThenCrash(t *testing.T, dir string, up time.Duration) {
	t.Helper()
	pgCtl(t, dir, "restart", "-m", "fast")
	time.Sleep(up)
	pgCtl(t, dir, "stop", "-m", "immediate")
	time.Sleep(time.Second)
	pgCtl(t, dir, "restart")
}

func pgCtl(t *testing.T, dir string, args ...string) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Errorf("pg_ctl not found")
		return
	}
	// -l: the server it starts must not hold our output pipe open.
	args = append([]string{"-u", "postgres", "--", bins[len(bins)-1], "-D", dir, "-w", "-t", "60", "-l", filepath.Join(dir, "server.log")}, args...)
	cmd := exec.Command("runuser", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("pg_ctl %v: %v\n%s", args, err, out)
	}
}

// TestFaultsPostgresRestart: the fault harness while the server restarts
// (pg_ctl restart -m fast) and then crashes and comes back (stop -m
// immediate, a second down, start). Every error is typed: ErrUnavailable
// while the server is away, ErrCommitUnknown only for writes and commits on
// the wire when it went, conflicts; nothing acknowledged is lost and the pool
// recovers. It restarts the server, so it runs only when asked to:
// STORAGE_TEST_PG_RESTART=1 with STORAGE_TEST_PG_DIR naming the data
// directory of the server of STORAGE_TEST_POSTGRES_DSN (.ci/postgres.sh
// starts one), and alone: other tests would see the restart.
func TestFaultsPostgresRestart(t *testing.T) {
	dir := restartableServer(t)
	s := openTest(t, newPGSchema(t))
	defer s.Close()
	allowed := []error{storage.ErrTxConflict, storage.ErrNotFound, storage.ErrUnavailable, storage.ErrCommitUnknown}
	log := runFaults(t, s, 6*time.Second, allowed, func(ctx context.Context) {
		time.Sleep(700 * time.Millisecond)
		restartThenCrash(t, dir, 700*time.Millisecond)
	})
	log.report(t)
	log.mu.Lock()
	defer log.mu.Unlock()
	if log.counts[storage.ErrUnavailable.Error()] == 0 {
		t.Errorf("no call saw the server away (ErrUnavailable): the restart did not happen under load")
	}
}

// pgDeadlocks reads PostgreSQL's count of deadlocks detected in the test
// database. Backends report it when they exit: close the stores first.
func pgDeadlocks(t *testing.T) int64 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pgAdminDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int64
	if _, err := conn.Exec(t.Context(), "SELECT pg_stat_clear_snapshot()"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(t.Context(), "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFaultsNoDeadlock (issue 16): on PostgreSQL a recursive
// DeleteNamespace (and Clear) against concurrent writers, single, batch
// and in transactions, serializes with them instead of deadlocking (it
// deadlocked with batch inserts until deadlock_timeout, about once a
// second). The run is the fault harness; the server's deadlock count must
// not move.
func TestFaultsNoDeadlock(t *testing.T) {
	dsn := newPGSchema(t)
	before := pgDeadlocks(t)
	s := openTest(t, dsn)
	allowed := []error{storage.ErrTxConflict, storage.ErrNotFound}
	log := runFaults(t, s, 3*time.Second, allowed, nil)
	log.report(t)
	t.Logf("deletes and clears gave way %d times", s.yields.Load())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var after int64
	for range 20 { // the backends report as they exit
		time.Sleep(250 * time.Millisecond)
		if after = pgDeadlocks(t); after > before {
			break
		}
	}
	if after != before {
		t.Errorf("PostgreSQL detected %d deadlocks during the run", after-before)
	}
}
