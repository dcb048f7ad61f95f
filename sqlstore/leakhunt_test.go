package sqlstore

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// openFDs is the number of the process's open file descriptors (-1
// when /proc does not say).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// pgBackends is the number of the server's sessions whose
// application_name is app.
func pgBackends(t *testing.T, app string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, pgAdminDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()", app).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStoreCyclesLeakNothing: stores opened and closed one after another
// in one process, each left with what a careless caller leaves (a watch
// still ranged over, a transaction neither committed nor rolled back, a
// cursor page not followed), give back every goroutine, file descriptor
// and PostgreSQL session at Close.
func TestStoreCyclesLeakNothing(t *testing.T) {
	for _, c := range configs[1:] {
		t.Run(c.name, func(t *testing.T) {
			app := fmt.Sprintf("cycles%d", time.Now().UnixNano()%1e9)
			dsn := c.dsn(t)
			if c.name == "postgres" {
				dsn = testdb.Postgres(t, "t", "pool_max_conns", "4", "application_name", app)
			}
			cycle := func() {
				ctx := t.Context()
				s := openTest(t, dsn)
				must(t, s.Set(ctx, "k", 1))
				tx, err := s.Begin(ctx, storage.TxOptions{})
				must(t, err)
				must(t, tx.Set(ctx, "t", 1))
				res, err := s.List(ctx, storage.Limit(1))
				must(t, err)
				_ = res
				started := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					n := 0
					for _, err := range s.Watch(context.Background(), storage.FromRevision(0)) {
						if n++; n == 1 {
							close(started)
						}
						if err != nil {
							return
						}
					}
				}()
				select {
				case <-started:
				case <-time.After(10 * time.Second):
					t.Fatal("the watch delivered nothing")
				}
				must(t, s.Close())
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("a watch ranged over did not end at Close")
				}
			}
			cycle() // what stays for the process (caches, the driver's pools)
			runtime.GC()
			time.Sleep(100 * time.Millisecond)
			g0, fd0 := runtime.NumGoroutine(), openFDs()
			const n = 20
			for range n {
				cycle()
			}
			ok := waitUntil(10*time.Second, func() bool {
				return runtime.NumGoroutine() <= g0+2 && openFDs() <= fd0+2
			})
			if !ok {
				buf := make([]byte, 1<<20)
				t.Errorf("after %d stores opened and closed: %d goroutines (%d before), %d fds (%d before)\n%s",
					n, runtime.NumGoroutine(), g0, openFDs(), fd0, buf[:runtime.Stack(buf, true)])
			}
			if c.name == "postgres" {
				if !waitUntil(10*time.Second, func() bool { return pgBackends(t, app) == 0 }) {
					t.Errorf("after %d stores opened and closed: %d sessions of the server still open", n, pgBackends(t, app))
				}
			}
		})
	}
}

// TestOpenFailureLeaksNothing: an Open that fails late (its context ends
// while it reconciles the declared indexes) leaves no goroutine, file
// descriptor or PostgreSQL session behind, however often a process tries
// (nor does one whose context ends at any other point)
// (a server retrying its start): the transactions' idle reaper, started
// before the reconciliation, was left running.
func TestOpenFailureLeaksNothing(t *testing.T) {
	for _, c := range configs[1:] {
		t.Run(c.name, func(t *testing.T) {
			app := fmt.Sprintf("openfail%d", time.Now().UnixNano()%1e9)
			dsn := c.dsn(t)
			if c.name == "postgres" {
				dsn = testdb.Postgres(t, "t", "pool_max_conns", "4", "application_name", app)
			}
			s := openTest(t, dsn)
			must(t, s.CreateNamespace(t.Context(), "x", storage.WithIndexes("n")))
			must(t, s.Close())
			defer func() { reconcileHook = nil }()
			fail := func() {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				reconcileHook = cancel
				if s, err := Open(ctx, dsn); err == nil {
					_ = s.Close()
					t.Fatal("Open succeeded with its context cancelled")
				}
				reconcileHook = nil
			}
			fail()
			runtime.GC()
			time.Sleep(100 * time.Millisecond)
			g0, fd0 := runtime.NumGoroutine(), openFDs()
			const n = 20
			for range n {
				fail()
			}
			// And Opens whose context ends anywhere: in the connections'
			// setup, the migrations, the reconciliation.
			for i := range 40 {
				ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i)*time.Millisecond)
				if s, err := Open(ctx, dsn); err == nil {
					_ = s.Close()
				}
				cancel()
			}
			if !waitUntil(10*time.Second, func() bool { return runtime.NumGoroutine() <= g0+2 && openFDs() <= fd0+2 }) {
				buf := make([]byte, 1<<20)
				t.Errorf("after %d failed Opens: %d goroutines (%d before), %d fds (%d before)\n%s",
					n, runtime.NumGoroutine(), g0, openFDs(), fd0, buf[:runtime.Stack(buf, true)])
			}
			if c.name == "postgres" {
				if !waitUntil(10*time.Second, func() bool { return pgBackends(t, app) == 0 }) {
					t.Errorf("after %d failed Opens: %d sessions of the server still open", n, pgBackends(t, app))
				}
			}
		})
	}
}
