package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
)

// TestPGLockWaitAfterTheRevisionLock: the revision lock sets the
// transaction's lock_timeout from what is left of the call's context
// (revlock.go), so a lock wait later in the same transaction (a row lock a
// later statement waits for, a deferred trigger's at COMMIT) ends with
// 55P03 about when the context does. Its answer may reach the client
// before the timer that ends the context has run (a loaded machine: a
// laggingCtx here, whose deadline has passed and which ends 300 ms later):
// the call must still answer the context's error, not ErrTxConflict (the
// sentinel of a 55P03; TestPGWritePathsCancelledInFlight saw it once).
// Before the fix lockErr turned only the lock statement's own 55P03 into
// the context's error: every case here answered ErrTxConflict.
func TestPGLockWaitAfterTheRevisionLock(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	gate := installCommitGate(t, dsn)
	admin, err := pgxpool.New(ctx, dsn)
	must(t, err)
	t.Cleanup(admin.Close)
	in := storage.InNamespace

	// holdIndexFields holds the rows of namespace ns's declared fields
	// (FOR UPDATE, on another connection) until the function returned is
	// called: the statements that delete or rename them wait.
	holdIndexFields := func(t *testing.T, ns string) func() {
		t.Helper()
		tx, err := admin.Begin(ctx)
		must(t, err)
		var n int
		must(t, tx.QueryRow(ctx, `WITH l AS (SELECT 1 FROM index_fields f JOIN namespaces n ON n.id = f.namespace_id
			WHERE n.name = $1 FOR UPDATE OF f) SELECT count(*) FROM l`, ns).Scan(&n))
		if n == 0 {
			t.Fatalf("namespace %s has no index_fields rows to hold", ns)
		}
		return func() { _ = tx.Rollback(context.Background()) }
	}
	indexed := func(t *testing.T, ns string) {
		t.Helper()
		must(t, s.CreateNamespace(ctx, ns, storage.WithIndexes("age")))
	}

	cases := []struct {
		name string
		// prep readies ns and holds what the call waits for after its
		// revision lock, until the function it returns is called.
		prep func(t *testing.T, ns string) func()
		run  func(ctx context.Context, ns string) error
	}{
		// pgEngine.inTx (through yieldingTx): the revision lock comes with
		// the namespace's row lock, then the index records' DELETE waits.
		{name: "DeleteNamespace", prep: func(t *testing.T, ns string) func() {
			indexed(t, ns)
			return holdIndexFields(t, ns)
		}, run: func(ctx context.Context, ns string) error { return s.DeleteNamespace(ctx, ns) }},
		// pgEngine.inTx (through yieldingTx): the declaration is updated
		// under the revision lock, then the field's record's DELETE waits.
		{name: "DropIndex", prep: func(t *testing.T, ns string) func() {
			indexed(t, ns)
			return holdIndexFields(t, ns)
		}, run: func(ctx context.Context, ns string) error { return s.DropIndex(ctx, ns, "age") }},
		// pgEngine.inTx: the upsert under the revision lock, then COMMIT,
		// whose deferred trigger waits for the gate.
		{name: "SetManyCommit", prep: func(t *testing.T, ns string) func() {
			must(t, s.CreateNamespace(ctx, ns))
			return gate.close(t)
		}, run: func(ctx context.Context, ns string) error {
			res, err := s.SetMany(ctx, []storage.Item{{Key: "a", Value: 1}, {Key: "b", Value: 2}}, in(ns))
			if err == nil {
				err = res.Err()
			}
			return err
		}},
		// A caller's transaction: its Set takes the revision lock, then
		// its COMMIT's deferred trigger waits for the gate.
		{name: "TxCommit", prep: func(t *testing.T, ns string) func() {
			must(t, s.CreateNamespace(ctx, ns))
			return gate.close(t)
		}, run: func(ctx context.Context, ns string) error {
			tx, err := s.Begin(ctx, storage.TxOptions{})
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback(context.Background()) }()
			if err := tx.Set(ctx, "k", 1, in(ns)); err != nil {
				return fmt.Errorf("set: %w", err)
			}
			return tx.Commit(ctx)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range 2 {
				ns := fmt.Sprintf("lw-%s-%d", c.name, i)
				release := c.prep(t, ns)
				lag := 300 * time.Millisecond
				lctx := &laggingCtx{Context: context.Background(), deadline: time.Now().Add(400 * time.Millisecond), end: make(chan struct{})}
				ender := time.AfterFunc(time.Until(lctx.deadline)+lag, func() { close(lctx.end) })
				start := time.Now()
				err := c.run(lctx, ns)
				took := time.Since(start)
				release()
				ender.Stop()
				select {
				case <-lctx.end:
				default:
					close(lctx.end)
				}
				t.Logf("%s: %v after %v", ns, err, took.Round(time.Millisecond))
				if took < 350*time.Millisecond {
					t.Fatalf("%s answered after %v, before its deadline: it did not wait (%v)", ns, took, err)
				}
				if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, storage.ErrTxConflict) {
					t.Errorf("%s, its lock wait cut at its deadline: %v; want context.DeadlineExceeded, not ErrTxConflict", ns, err)
				}
			}
		})
	}

	// An earlier write's shorter context does not bound the COMMIT: a
	// caller's transaction whose Set had a context of 300 ms (its revision
	// lock set lock_timeout to that, for the rest of the transaction) and
	// whose COMMIT, with a context of 30 s, waits 1 s for the gate commits.
	// Before CommitBounded it failed with ErrTxConflict after about 300 ms.
	// Then the neighbouring case: a COMMIT whose own (shorter) context ends
	// while it waits answers the context's error.
	t.Run("EarlierShorterContext", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			commit time.Duration
		}{{"longer", 30 * time.Second}, {"shorter", 500 * time.Millisecond}} {
			ns := "lw-earlier-" + c.name
			must(t, s.CreateNamespace(ctx, ns))
			release := gate.close(t)
			tx, err := s.Begin(ctx, storage.TxOptions{})
			must(t, err)
			short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			must(t, tx.Set(short, "k", 1, in(ns)))
			cancel()
			cctx, cancelC := context.WithTimeout(ctx, c.commit)
			opened := make(chan struct{})
			time.AfterFunc(time.Second, func() { release(); close(opened) })
			start := time.Now()
			err = tx.Commit(cctx)
			took := time.Since(start)
			cancelC()
			<-opened
			_ = tx.Rollback(context.Background())
			t.Logf("%s: commit: %v after %v", c.name, err, took.Round(time.Millisecond))
			if c.name == "longer" {
				if err != nil || took < 900*time.Millisecond {
					t.Errorf("a COMMIT with 30 s left, after a Set with 300 ms: %v after %v; want nil once the gate opens (1 s)", err, took)
				}
				if _, gerr := s.Get(ctx, "k", in(ns)); gerr != nil {
					t.Errorf("the committed Set: %v", gerr)
				}
				continue
			}
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, storage.ErrTxConflict) || took > 900*time.Millisecond {
				t.Errorf("a COMMIT whose own 500 ms ended while it waited: %v after %v; want context.DeadlineExceeded at its deadline", err, took)
			}
		}
	})
}

// TestPGCommitAfterAnAbortedStatement: the Commit of a caller's
// transaction that wrote, after a statement of it failed at the server
// (the transaction is aborted), is ErrTxConflict, rolled back (the
// server's ROLLBACK answer, pgx.ErrTxCommitRollback), and the connection
// goes back to the pool idle. With the lock_timeout sent before the COMMIT
// (CommitBounded) the server refused the setting (25P02) and skipped the
// COMMIT: the transaction stayed open, and the pool closed the connection.
func TestPGCommitAfterAnAbortedStatement(t *testing.T) {
	s := openTest(t, newPGSchema(t))
	defer func() { _ = s.Close() }()
	ctx := t.Context()
	for _, deadline := range []bool{false, true} {
		cctx := ctx
		if deadline {
			var cancel context.CancelFunc
			cctx, cancel = context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
		}
		tx, err := s.Begin(ctx, storage.TxOptions{})
		must(t, err)
		must(t, tx.Set(cctx, "k", 1))
		if _, err := tx.(*sqlTx).conn.q().exec(ctx, "SELECT 1/0"); err == nil {
			t.Fatal("SELECT 1/0 succeeded")
		}
		err = tx.Commit(cctx)
		if !errors.Is(err, storage.ErrTxConflict) || !errors.Is(err, pgx.ErrTxCommitRollback) {
			t.Errorf("deadline %v: Commit after an aborted statement: %v; want ErrTxConflict, rolled back", deadline, err)
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("deadline %v: the rolled back Set: %v", deadline, err)
		}
	}
}

// TestLockErr: a 55P03 is the context's error when the context has ended
// or its deadline is within lockErrSlack (once the context reads as
// ended), a conflict when the deadline is further, or there is none; an
// unknown outcome, and any other error, stay as they are.
func TestLockErr(t *testing.T) {
	lockTimeout := fmt.Errorf("statement: %w", &pgconn.PgError{Code: "55P03"})
	other := &pgconn.PgError{Code: "40001"}
	unknown := &dbError{storage.ErrCommitUnknown, "unknown", lockTimeout}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	far, cancelFar := context.WithTimeout(context.Background(), time.Hour)
	defer cancelFar()
	soon, cancelSoon := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelSoon()
	lagging := &laggingCtx{Context: context.Background(), deadline: time.Now().Add(-time.Millisecond), end: make(chan struct{})}
	time.AfterFunc(30*time.Millisecond, func() { close(lagging.end) })
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want error
	}{
		{"nil", ended, nil, nil},
		{"ended", ended, lockTimeout, context.Canceled},
		{"deadline within the slack", soon, lockTimeout, context.DeadlineExceeded},
		{"deadline passed, context not ended yet", lagging, lockTimeout, context.DeadlineExceeded},
		{"deadline far", far, lockTimeout, lockTimeout},
		{"no deadline", context.Background(), lockTimeout, lockTimeout},
		{"another error", ended, other, other},
		{"unknown outcome", ended, unknown, unknown},
		{"not a server error", ended, pgx.ErrNoRows, pgx.ErrNoRows},
	}
	for _, c := range cases {
		got := lockErr(c.ctx, c.err)
		if got != c.want { //nolint:errorlint // the very error
			t.Errorf("%s: lockErr = %v, want %v", c.name, got, c.want)
		}
	}
}
