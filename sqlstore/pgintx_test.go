package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
)

// TestPGInternalTxBeginWithFirstStatement: the engine's own transactions
// (inTx: SetMany, an atomic DeleteMany, a capacity-checked write) send
// their BEGIN with their first statement (pgLazyTx), one round trip fewer
// than with the engine's eagerBegin (BEGIN alone first, as
// pgx.BeginFunc did before). Each runs under both settings on the same
// store, and does the same work under both.
func TestPGInternalTxBeginWithFirstStatement(t *testing.T) {
	dsn := newPGSchema(t)
	var n atomic.Int64
	s := openTest(t, dsn, WithSweepInterval(-1), withRoundTripCounter(&n))
	t.Cleanup(func() { _ = s.Close() })
	capped := openTest(t, dsn, WithSweepInterval(-1), withRoundTripCounter(&n), WithCapacity(1_000_000))
	t.Cleanup(func() { _ = capped.Close() })
	ctx := t.Context()
	must(t, s.CreateNamespace(ctx, "n"))
	items := func(k int, tag string) []storage.Item {
		out := make([]storage.Item, k)
		for i := range out {
			out[i] = storage.Item{Key: tag + strconv.Itoa(i), Value: json.RawMessage(`{"a":1}`)}
		}
		return out
	}
	keys := func(k int, tag string) []string {
		out := make([]string, k)
		for i := range out {
			out[i] = tag + strconv.Itoa(i)
		}
		return out
	}
	ops := []struct {
		name string
		run  func(st *Store, tag string) error
	}{
		{"SetMany(3)", func(st *Store, tag string) error {
			_, err := st.SetMany(ctx, items(3, tag), storage.InNamespace("n"))
			return err
		}},
		{"SetMany(200)", func(st *Store, tag string) error { // through COPY (copyMin)
			_, err := st.SetMany(ctx, items(200, tag), storage.InNamespace("n"))
			return err
		}},
		{"DeleteMany(3, Atomic)", func(st *Store, tag string) error {
			if _, err := st.SetMany(ctx, items(3, tag), storage.InNamespace("n")); err != nil {
				return err
			}
			n.Store(0) // count the DeleteMany alone
			res, err := st.DeleteMany(ctx, keys(3, tag), storage.InNamespace("n"), storage.Atomic())
			if err == nil {
				err = res.Err()
			}
			return err
		}},
		{"capacity Set", func(st *Store, tag string) error {
			return st.Set(ctx, tag, json.RawMessage(`{"a":1}`), storage.InNamespace("n"))
		}},
	}
	for _, op := range ops {
		st := s
		if op.name == "capacity Set" {
			st = capped
		}
		e := st.eng.(*pgEngine)
		count := func(eager bool, round int) int64 {
			t.Helper()
			e.eagerBegin = eager
			defer func() { e.eagerBegin = false }()
			n.Store(0)
			if err := op.run(st, fmt.Sprintf("%s-%v-%d-", op.name, eager, round)); err != nil {
				t.Fatalf("%s (eager %v): %v", op.name, eager, err)
			}
			return n.Load()
		}
		// The first round prepares the statements on the connections.
		count(false, 0)
		count(true, 0)
		lazy, eager := count(false, 1), count(true, 1)
		t.Logf("%s: %d round trips, %d with BEGIN alone", op.name, lazy, eager)
		if lazy != eager-1 {
			t.Errorf("%s: %d round trips, want one fewer than with BEGIN alone (%d)", op.name, lazy, eager)
		}
	}
}

// TestPGInternalTxFaults: an internal transaction (SetMany) whose first
// batch (BEGIN and the first statement) fails returns a typed error and
// leaves the pool healthy: its connection is back in the pool or
// discarded, none stays acquired or in a transaction, and later calls
// succeed. The faults: the context cancelled before the first batch is
// sent, cancelled while it runs (blocked on the revision lock), the
// transaction's backend terminated before its first statement.
func TestPGInternalTxFaults(t *testing.T) {
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	admin, _ := pgMigrator(t, dsn)
	ctx := t.Context()
	must(t, s.CreateNamespace(ctx, "n"))
	e := s.eng.(*pgEngine)
	var seq int
	setMany := func(ctx context.Context) error {
		seq++
		its := []storage.Item{
			{Key: fmt.Sprintf("a%d", seq), Value: json.RawMessage(`{"a":1}`)},
			{Key: fmt.Sprintf("b%d", seq), Value: json.RawMessage(`{"b":1}`)},
		}
		res, err := s.SetMany(ctx, its, storage.InNamespace("n"))
		if err == nil {
			err = res.Err()
		}
		return err
	}
	// healthy checks the pool after a fault on the transaction of backend
	// pid, terminated when dead.
	healthy := func(t *testing.T, what string, pid uint32, dead bool) {
		t.Helper()
		// A connection the pool discards counts as acquired until it is
		// closed, which the pool does in the background.
		for deadline := time.Now().Add(5 * time.Second); e.pool.Stat().AcquiredConns() != 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if st := e.pool.Stat(); st.AcquiredConns() != 0 {
			t.Errorf("%s: %d connections still acquired 5 s later", what, st.AcquiredConns())
		}
		// Every idle connection of the pool is open, outside a
		// transaction, and not the terminated backend's.
		idle := e.pool.AcquireAllIdle(ctx)
		for _, c := range idle {
			pc := c.Conn().PgConn()
			if c.Conn().IsClosed() || pc.TxStatus() != 'I' || (dead && pc.PID() == pid) {
				t.Errorf("%s: the pool kept connection %d (closed %v, status %c)", what, pc.PID(), c.Conn().IsClosed(), pc.TxStatus())
			}
			c.Release()
		}
		// The transaction's backend is not left in a transaction (other
		// tests may share the server: only this one is looked at).
		var inTx bool
		must(t, admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE pid = $1 AND state LIKE 'idle in transaction%')`, pid).Scan(&inTx))
		if inTx {
			t.Errorf("%s: backend %d idle in a transaction", what, pid)
		}
		// Later calls succeed, more of them than the pool has connections.
		for i := range int(e.pool.Config().MaxConns) + 2 {
			if err := setMany(ctx); err != nil {
				t.Fatalf("%s: SetMany %d afterwards: %v", what, i, err)
			}
		}
		if st := e.pool.Stat(); st.AcquiredConns() != 0 || st.TotalConns() > e.pool.Config().MaxConns {
			t.Errorf("%s: afterwards %d acquired, %d in all", what, st.AcquiredConns(), st.TotalConns())
		}
	}
	must(t, setMany(ctx))

	// With eagerBegin, BEGIN is sent alone (as pgx.BeginFunc did): the
	// same faults give the same errors.
	for _, eager := range []bool{false, true} {
		e.eagerBegin = eager
		name := func(s string) string { return fmt.Sprintf("%s, eager %v", s, eager) }
		t.Run(name("cancelled before the first batch"), func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var pid uint32
			e.txAcquired = func(c *pgxpool.Conn) { pid = c.Conn().PgConn().PID(); cancel() }
			err := setMany(cctx)
			e.txAcquired = nil
			var oe *storage.OpError
			if !errors.Is(err, context.Canceled) || !errors.As(err, &oe) || oe.Op != "setMany" {
				t.Fatalf("SetMany: %v (%T), want a setMany OpError wrapping context.Canceled", err, err)
			}
			healthy(t, "cancelled before", pid, false)
		})

		t.Run(name("cancelled while the first batch runs"), func(t *testing.T) {
			// The revision lock, the first statement's companion in the first
			// batch, is held elsewhere: the batch waits on the server.
			hold, err := admin.Conn(ctx)
			must(t, err)
			defer hold.Close()
			_, err = hold.ExecContext(ctx, "SELECT pg_advisory_lock($1)", e.lockKey)
			must(t, err)
			var pid atomic.Uint32
			e.txAcquired = func(c *pgxpool.Conn) { pid.Store(c.Conn().PgConn().PID()) }
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- setMany(cctx) }()
			waitLock(t, admin, &pid)
			e.txAcquired = nil
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("SetMany did not end 10 s after its context was cancelled")
			}
			t.Logf("SetMany cancelled while its first batch waited: %v", err)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("SetMany: %v, want context.Canceled", err)
			}
			var oe *storage.OpError
			if !errors.As(err, &oe) {
				t.Errorf("SetMany: %T, want an OpError", err)
			}
			_, err = hold.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", e.lockKey)
			must(t, err)
			// The server ends the cancelled backend (or its statement): wait
			// until it waits for nothing.
			waitGone(t, admin, pid.Load(), "state = 'active' OR state LIKE 'idle in transaction%'")
			healthy(t, "cancelled during", pid.Load(), false)
		})

		t.Run(name("backend terminated before the first statement"), func(t *testing.T) {
			var pid uint32
			e.txAcquired = func(c *pgxpool.Conn) {
				pid = c.Conn().PgConn().PID()
				var ok bool
				must(t, admin.QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok))
				if !ok {
					t.Errorf("pg_terminate_backend(%d): false", pid)
				}
				waitGone(t, admin, pid, "true")
			}
			err := setMany(ctx)
			e.txAcquired = nil
			t.Logf("SetMany on a terminated backend: %v", err)
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("SetMany on a terminated backend: %v, want ErrUnavailable", err)
			}
			var oe *storage.OpError
			if !errors.As(err, &oe) || oe.Op != "setMany" {
				t.Errorf("SetMany: %T, want a setMany OpError", err)
			}
			healthy(t, "terminated", pid, true)
		})
	}
	e.eagerBegin = false
}

// waitLock waits until the backend *pid (once set) waits for a lock.
func waitLock(t *testing.T, admin *sql.DB, pid *atomic.Uint32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p := pid.Load()
		if p == 0 {
			continue
		}
		var waiting bool
		must(t, admin.QueryRowContext(t.Context(),
			"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock')", p).Scan(&waiting))
		if waiting {
			return
		}
	}
	t.Fatal("the transaction's first batch never waited for the revision lock")
}

// waitGone waits until no backend pid is in pg_stat_activity where cond.
func waitGone(t *testing.T, admin *sql.DB, pid uint32, cond string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var there bool
		must(t, admin.QueryRowContext(t.Context(),
			"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND ("+cond+"))", pid).Scan(&there))
		if !there {
			return
		}
	}
	t.Fatalf("backend %d still there (%s) after 10 s", pid, cond)
}

// TestPGInTxReleases: inTx gives its connection back on every path: a
// transaction that ran nothing sends nothing (not even BEGIN) and leaves
// the connection idle in the pool; one whose fn failed or panicked after a
// statement rolls back and leaves it idle too.
func TestPGInTxReleases(t *testing.T) {
	dsn := newPGSchema(t)
	var n atomic.Int64
	s := openTest(t, dsn, WithSweepInterval(-1), withRoundTripCounter(&n))
	e := s.eng.(*pgEngine)
	t.Cleanup(func() {
		if e.pool.Stat().AcquiredConns() == 0 { // else Close waits for the leaked connection forever
			_ = s.Close()
		}
	})
	ctx := t.Context()
	var conn *pgx.Conn
	e.txAcquired = func(c *pgxpool.Conn) { conn = c.Conn() }
	defer func() { e.txAcquired = nil }()
	idle := func(what string) {
		t.Helper()
		if st := e.pool.Stat(); st.AcquiredConns() != 0 {
			t.Errorf("%s: %d connections still acquired", what, st.AcquiredConns())
		}
		if conn.IsClosed() || conn.PgConn().TxStatus() != 'I' {
			t.Errorf("%s: connection closed %v, status %c", what, conn.IsClosed(), conn.PgConn().TxStatus())
		}
	}

	n.Store(0)
	must(t, e.inTx(ctx, func(querier) error { return nil }))
	if got := n.Load(); got != 0 {
		t.Errorf("an empty transaction sent %d statements", got)
	}
	idle("empty")

	boom := errors.New("boom")
	err := e.inTx(ctx, func(q querier) error {
		if _, err := q.exec(ctx, "SELECT 1"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("inTx: %v, want boom", err)
	}
	idle("failed")

	func() {
		defer func() {
			if r, _ := recover().(error); !errors.Is(r, boom) {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		_ = e.inTx(ctx, func(q querier) error {
			if _, err := q.exec(ctx, "SELECT 1"); err != nil {
				return err
			}
			panic(boom)
		})
	}()
	idle("panicked")
}
