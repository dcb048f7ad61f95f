package sqlstore

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
)

// TestPGBeginWithFirstStatement: a PostgreSQL transaction sends its BEGIN
// with its first statement (pgLazyTx), not as a round trip of its own at
// Begin. Until its first statement the connection is idle, not idle in a
// transaction; the first statement's transaction began with it (not at
// Begin, 300 ms earlier); a transaction that ran nothing commits and
// rolls back without a word to the server. With the engine's eagerBegin
// (BEGIN sent at Begin, as before pgLazyTx) the same checks see the
// difference, so they can fail.
func TestPGBeginWithFirstStatement(t *testing.T) {
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	admin, _ := pgMigrator(t, dsn)
	ctx := t.Context()
	must(t, s.CreateNamespace(ctx, "n"))
	must(t, s.Set(ctx, "k", json.RawMessage(`{"a":1}`), storage.InNamespace("n")))
	e := s.eng.(*pgEngine)
	state := func(pid uint32) string {
		t.Helper()
		var st string
		must(t, admin.QueryRowContext(ctx, "SELECT state FROM pg_stat_activity WHERE pid = $1", pid).Scan(&st))
		return st
	}
	for _, eager := range []bool{false, true} {
		e.eagerBegin = eager
		tc, err := e.begin(ctx, storage.TxOptions{Isolation: storage.LevelRepeatableRead})
		must(t, err)
		tx := tc.(*pgTx)
		pid := tx.tx.(*pgLazyTx).c.Conn().PgConn().PID()
		wantIdle := "idle"
		if eager {
			wantIdle = "idle in transaction"
		}
		if st := state(pid); st != wantIdle {
			t.Errorf("eager %v: after Begin the connection is %q, want %q", eager, st, wantIdle)
		}
		time.Sleep(300 * time.Millisecond)
		var since float64
		var iso string
		must(t, tx.tx.QueryRow(ctx, "SELECT extract(epoch FROM statement_timestamp() - transaction_timestamp())::float8, current_setting('transaction_isolation')").Scan(&since, &iso))
		if late := since >= 0.25; late != eager {
			t.Errorf("eager %v: the first statement ran %.3f s after its transaction began", eager, since)
		}
		if iso != "repeatable read" {
			t.Errorf("eager %v: isolation %q, want repeatable read", eager, iso)
		}
		if st := state(pid); st != "idle in transaction" {
			t.Errorf("eager %v: after the first statement the connection is %q", eager, st)
		}
		// The rest of the transaction runs as before: a write, a read of
		// it, a savepoint; a failed statement fails the commit.
		if _, err := tx.tx.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		must(t, tx.savepoint(ctx, func(q querier) error {
			_, err := q.(pgQ).db.Exec(ctx, "SELECT 2")
			return err
		}))
		if _, err := tx.tx.Exec(ctx, "SELECT 1/0"); err == nil {
			t.Fatal("1/0 did not fail")
		}
		if err := tx.commit(ctx); !errors.Is(err, pgx.ErrTxCommitRollback) {
			t.Errorf("eager %v: commit after a failed statement: %v, want ErrTxCommitRollback", eager, err)
		}
		if err := tx.rollback(ctx); err != nil {
			t.Errorf("eager %v: rollback after commit: %v", eager, err)
		}
	}
	e.eagerBegin = false

	// Nothing run: Commit and Rollback send nothing and leave the
	// connection to the pool, outside a transaction.
	for _, end := range []string{"commit", "rollback"} {
		tc, err := e.begin(ctx, storage.TxOptions{})
		must(t, err)
		tx := tc.(*pgTx)
		c := tx.tx.(*pgLazyTx).c.Conn()
		if end == "commit" {
			must(t, tx.commit(ctx))
		} else {
			must(t, tx.rollback(ctx))
		}
		if st := c.PgConn().TxStatus(); st != 'I' {
			t.Errorf("%s of an empty transaction: connection status %c", end, st)
		}
	}

	// A savepoint first: BEGIN goes with it; rolled back to, the
	// transaction goes on and commits what came before and after.
	tc, err := e.begin(ctx, storage.TxOptions{})
	must(t, err)
	tx := tc.(*pgTx)
	boom := errors.New("boom")
	if err := tx.savepoint(ctx, func(q querier) error {
		if _, err := q.(pgQ).db.Exec(ctx, "SELECT 1/0"); err == nil {
			t.Error("1/0 did not fail")
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("savepoint: %v, want boom", err)
	}
	if _, err := tx.tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("after the savepoint's rollback: %v", err)
	}
	must(t, tx.commit(ctx))

	// Through the public API: a read-modify-write transaction.
	stx, err := s.Begin(ctx, storage.TxOptions{})
	must(t, err)
	if _, err := stx.Get(ctx, "k", storage.InNamespace("n")); err != nil {
		t.Fatal(err)
	}
	must(t, stx.Set(ctx, "k", json.RawMessage(`{"a":2}`), storage.InNamespace("n")))
	must(t, stx.Commit(ctx))
	got, err := s.Get(ctx, "k", storage.InNamespace("n"))
	must(t, err)
	if string(got.Value) != `{"a": 2}` && string(got.Value) != `{"a":2}` {
		t.Errorf("after the transaction: %s", got.Value)
	}
}
