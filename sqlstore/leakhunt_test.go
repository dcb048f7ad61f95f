package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
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

// eachLeakConfig runs, for each configuration on a file or a server,
// setup once, cycle once (what stays for the process: caches, the
// driver's pools), then cycle n times more, and fails the test unless the
// goroutines and file descriptors come back to what they were after the
// first, and no session of the server named after the test is left. what
// says what the cycles did.
func eachLeakConfig(t *testing.T, what string, setup func(t *testing.T, dsn string), cycle func(t *testing.T, dsn string, i int)) {
	for _, c := range configs[1:] {
		t.Run(c.name, func(t *testing.T) {
			app := fmt.Sprintf("leak%d", time.Now().UnixNano()%1e9)
			dsn := c.dsn(t)
			if c.name == "postgres" {
				dsn = testdb.Postgres(t, "t", "pool_max_conns", "4", "application_name", app)
			}
			if setup != nil {
				setup(t, dsn)
			}
			cycle(t, dsn, 0)
			runtime.GC()
			time.Sleep(100 * time.Millisecond)
			g0, fd0 := runtime.NumGoroutine(), openFDs()
			const n = 10
			for i := range n {
				cycle(t, dsn, i+1)
			}
			if !waitUntil(10*time.Second, func() bool { return runtime.NumGoroutine() <= g0+2 && openFDs() <= fd0+2 }) {
				buf := make([]byte, 1<<20)
				t.Errorf("after %d %s: %d goroutines (%d before), %d fds (%d before)\n%s",
					n, what, runtime.NumGoroutine(), g0, openFDs(), fd0, buf[:runtime.Stack(buf, true)])
			}
			if c.name == "postgres" {
				if !waitUntil(10*time.Second, func() bool { return pgBackends(t, app) == 0 }) {
					t.Errorf("after %d %s: %d sessions of the server still open", n, what, pgBackends(t, app))
				}
			}
		})
	}
}

// TestStoreCyclesLeakNothing: stores opened and closed one after another
// in one process, each left with what a careless caller leaves (a watch
// still ranged over, a transaction neither committed nor rolled back, a
// cursor page not followed), give back every goroutine, file descriptor
// and PostgreSQL session at Close.
func TestStoreCyclesLeakNothing(t *testing.T) {
	eachLeakConfig(t, "stores opened and closed", nil, func(t *testing.T, dsn string, _ int) {
		ctx := t.Context()
		s := openTest(t, dsn)
		must(t, s.Set(ctx, "k", 1))
		tx, err := s.Begin(ctx, storage.TxOptions{})
		must(t, err)
		must(t, tx.Set(ctx, "t", 1))
		_, err = s.List(ctx, storage.Limit(1)) // a cursor not followed
		must(t, err)
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
	})
}

// TestDropIndexLeftoversReclaimed: a DropIndex whose clean-up of the
// field's rows fails (on SQLite another process holds the write lock
// past busy_timeout) still drops the declaration and reports success;
// what it left (the field's record, under which the triggers go on
// indexing every write, and its rows) is reclaimed by the running
// store's purger, not only by the next Open or CreateIndex of the field.
func TestDropIndexLeftoversReclaimed(t *testing.T) {
	smallIndexChunks(t)
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	s := openTest(t, "sqlite:"+path+"?busy_timeout=100", withPurgeIdle(20*time.Millisecond))
	defer s.Close()
	in := storage.InNamespace("x")
	must(t, s.CreateNamespace(ctx, "x", storage.WithIndexes("n")))
	items := make([]storage.Item, 100)
	for i := range items {
		items[i] = storage.Item{Key: fmt.Sprintf("k%03d", i), Value: map[string]any{"n": i}}
	}
	res, err := s.SetMany(ctx, items, in)
	must(t, err)
	must(t, res.Err())

	other, err := sql.Open("sqlite", path)
	must(t, err)
	defer other.Close()
	conn, err := other.Conn(ctx)
	must(t, err)
	defer conn.Close()
	locked := false
	dropIndexChunkHook = func() {
		if !locked {
			locked = true
			_, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE")
			must(t, err)
		}
	}
	defer func() { dropIndexChunkHook = nil }()
	must(t, s.DropIndex(ctx, "x", "n"))
	dropIndexChunkHook = nil
	if !locked {
		t.Fatal("the drop ran no chunk")
	}
	count := func(q string) int64 {
		var n int64
		if err := s.eng.(*sqliteEngine).r.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	left := count("SELECT count(*) FROM index_entries")
	t.Logf("left by the drop: %d index rows, %d records", left, count("SELECT count(*) FROM index_fields"))
	_, err = conn.ExecContext(ctx, "ROLLBACK")
	must(t, err)
	// The store goes on writing to the namespace.
	for i := range 20 {
		must(t, s.Set(ctx, fmt.Sprintf("w%03d", i), map[string]any{"n": i}, in))
	}
	if !waitUntil(5*time.Second, func() bool {
		return count("SELECT count(*) FROM index_entries") == 0 && count("SELECT count(*) FROM index_fields") == 0
	}) {
		t.Errorf("5 s after a DropIndex whose clean-up failed (%d index rows left then): %d index rows and %d records of index_fields still there",
			left, count("SELECT count(*) FROM index_entries"), count("SELECT count(*) FROM index_fields"))
	}
	checkInvariants(t, s)
}

// TestOpenFailureLeaksNothing: an Open that fails late (its context ends
// while it reconciles the declared indexes) leaves no goroutine, file
// descriptor or PostgreSQL session behind, however often a process tries
// (a server retrying its start), nor does one whose context ends at any
// other point: the transactions' idle reaper, started before the
// reconciliation, was left running.
func TestOpenFailureLeaksNothing(t *testing.T) {
	defer func() { reconcileHook = nil }()
	eachLeakConfig(t, "failed Opens", func(t *testing.T, dsn string) {
		s := openTest(t, dsn)
		must(t, s.CreateNamespace(t.Context(), "x", storage.WithIndexes("n")))
		must(t, s.Close())
	}, func(t *testing.T, dsn string, i int) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		reconcileHook = cancel
		if s, err := Open(ctx, dsn); err == nil {
			_ = s.Close()
			t.Fatal("Open succeeded with its context cancelled")
		}
		reconcileHook = nil
		// And Opens whose context ends anywhere: in the connections'
		// setup, the migrations, the reconciliation.
		for j := range 2 {
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(2*i+j)*time.Millisecond)
			if s, err := Open(ctx, dsn); err == nil {
				_ = s.Close()
			}
			cancel()
		}
	})
}
