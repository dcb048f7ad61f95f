package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mycelia-kernel/storage"
)

// pgHoldRow locks the row of key k in a transaction of its own (as a
// session of another application would) until the test ends.
func pgHoldRow(t *testing.T, dsn, k string) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, rawDSN(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM entries WHERE key = $1 FOR UPDATE`, k); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tx.Rollback(context.Background())
		_ = conn.Close(context.Background())
	})
}

// awaitLockWaiter waits until a session of dsn's database that matches
// where (SQL on pg_stat_activity) waits for a lock, and returns a
// connection of its own to act on it (closed at the test's end).
func awaitLockWaiter(t *testing.T, dsn, where string) *pgx.Conn {
	t.Helper()
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, rawDSN(t, dsn))
	must(t, err)
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		must(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND `+where).Scan(&n))
		if n > 0 {
			return admin
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session where %s waited for a lock", where)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitIdleTxGone waits (10 s at most) until no session of application
// name app is idle in a transaction: the server ended it
// (idle_in_transaction_session_timeout, pg_terminate_backend). A fixed
// sleep raced the server's timer, which a loaded machine may run late.
func awaitIdleTxGone(t *testing.T, dsn, app string) {
	t.Helper()
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, rawDSN(t, dsn))
	must(t, err)
	defer func() { _ = admin.Close(context.Background()) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		must(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE application_name = $1 AND state LIKE 'idle in transaction%'`, app).Scan(&n))
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not end the %d idle transactions of %s", n, app)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawDSN is dsn for a pgx connection of its own (without the pool's
// parameters).
func rawDSN(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	return u.String()
}

// withParams adds runtime parameters to a PostgreSQL DSN, as a DBA's
// ALTER ROLE ... SET or ALTER DATABASE ... SET would give every session.
func withParams(t *testing.T, dsn string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// wantSentinel fails unless err wraps exactly want among the sentinels,
// without driver text.
func wantSentinel(t *testing.T, what string, err, want error) {
	t.Helper()
	var l faultLog
	l.typed(what, err, false, want)
	l.report(t)
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		t.Logf("%s: %v (beneath: SQLSTATE %s %s)", what, err, pe.Code, pe.Message)
	} else {
		t.Logf("%s: %v", what, err)
	}
}

// TestPGRefused: statements the server refuses by its configuration or
// its administrator, not the caller: a statement_timeout (set on the role
// or database), pg_cancel_backend, idle_in_transaction_session_timeout, a
// privilege revoked, a temp_file_limit. Each is ErrUnavailable (the
// database refused to serve; the statement did not take effect), never
// the driver's text; the caller's own deadline is still its context's
// error.
func TestPGRefused(t *testing.T) {
	dsn := newPGSchema(t)
	ctx := t.Context()
	s0 := openTest(t, dsn, WithSweepInterval(-1))
	for _, k := range []string{"k1", "k2"} {
		must(t, s0.Set(ctx, k, map[string]any{"g": k}))
	}
	must(t, s0.Close())

	t.Run("statement_timeout", func(t *testing.T) {
		s := openTest(t, withParams(t, dsn, "statement_timeout", "300"), WithSweepInterval(-1))
		defer func() { _ = s.Close() }()
		pgHoldRow(t, dsn, "k1")
		wantSentinel(t, "Set", s.Set(ctx, "k1", 1), storage.ErrUnavailable)
		tx, err := s.Begin(ctx, storage.TxOptions{})
		must(t, err)
		wantSentinel(t, "tx Set", tx.Set(ctx, "k1", 2), storage.ErrUnavailable)
		_ = tx.Rollback(ctx)
		// The caller's deadline, shorter than the server's timeout, is
		// the caller's.
		s2 := openTest(t, withParams(t, dsn, "statement_timeout", "5000"), WithSweepInterval(-1))
		defer func() { _ = s2.Close() }()
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if err := s2.Set(dctx, "k1", 3); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Set with the caller's deadline: %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("pg_cancel_backend", func(t *testing.T) {
		s := openTest(t, dsn, WithSweepInterval(-1))
		defer func() { _ = s.Close() }()
		pgHoldRow(t, dsn, "k2")
		done := make(chan error, 1)
		go func() { done <- s.Set(ctx, "k2", 1) }()
		admin := awaitLockWaiter(t, dsn, "query LIKE '%entries%'")
		var n int
		must(t, admin.QueryRow(ctx, `SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query LIKE '%entries%'`).Scan(&n))
		wantSentinel(t, "Set", <-done, storage.ErrUnavailable)
	})

	t.Run("idle_in_transaction_session_timeout", func(t *testing.T) {
		s := openTest(t, withParams(t, dsn, "idle_in_transaction_session_timeout", "200", "application_name", "idletx"),
			WithSweepInterval(-1), WithTxIdleTimeout(time.Minute))
		defer func() { _ = s.Close() }()
		tx, err := s.Begin(ctx, storage.TxOptions{})
		must(t, err)
		must(t, tx.Set(ctx, "k3", 1))
		awaitIdleTxGone(t, dsn, "idletx")
		_, err = tx.Get(ctx, "k1")
		wantSentinel(t, "tx Get after the server's idle timeout", err, storage.ErrUnavailable)
		err = tx.Commit(ctx)
		var l faultLog
		l.typed("Commit", err, false, storage.ErrUnavailable, storage.ErrTxDone, storage.ErrTxConflict)
		l.report(t)
		if _, err := s.Get(ctx, "k3"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get k3 of the ended transaction: %v, want ErrNotFound", err)
		}
	})

	// A read-only transaction has nothing to commit: when its session
	// ended under it (the server idled it out, an administrator
	// terminated it), its Commit's outcome is known: ErrUnavailable, never
	// ErrCommitUnknown, which a caller takes for a write in doubt.
	t.Run("read-only commit after the session ended", func(t *testing.T) {
		for _, end := range []string{"idle timeout", "terminated"} {
			// The terminated session has no idle timeout: the server
			// ended it first when the administrator's connection took
			// over 200 ms to open (a loaded machine), and there was
			// nothing left to terminate.
			params := []string{"application_name", "rocommit"}
			if end == "idle timeout" {
				params = append(params, "idle_in_transaction_session_timeout", "200")
			}
			s := openTest(t, withParams(t, dsn, params...), WithSweepInterval(-1), WithTxIdleTimeout(time.Minute))
			tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
			must(t, err)
			if _, err := tx.Get(ctx, "k1"); err != nil {
				t.Fatal(err)
			}
			if end == "terminated" {
				admin, err := pgx.Connect(ctx, rawDSN(t, dsn))
				must(t, err)
				var n int
				must(t, admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = 'rocommit' AND state LIKE 'idle in transaction%'`).Scan(&n))
				_ = admin.Close(ctx)
				if n != 1 {
					t.Fatalf("terminated %d backends, want the transaction's", n)
				}
			}
			awaitIdleTxGone(t, dsn, "rocommit")
			err = tx.Commit(ctx)
			wantSentinel(t, "read-only Commit, session ended by "+end, err, storage.ErrUnavailable)
			_ = s.Close()
		}
	})

	t.Run("insufficient_privilege", func(t *testing.T) {
		var b [4]byte
		_, _ = rand.Read(b[:])
		role := "ro_" + hex.EncodeToString(b[:])
		admin, err := pgx.Connect(ctx, rawDSN(t, dsn))
		must(t, err)
		schema := admin.Config().RuntimeParams["search_path"]
		id := pgx.Identifier{role}.Sanitize()
		for _, q := range []string{
			`CREATE ROLE ` + id + ` LOGIN`,
			`GRANT USAGE ON SCHEMA ` + pgx.Identifier{schema}.Sanitize() + ` TO ` + id,
			`GRANT SELECT ON ALL TABLES IN SCHEMA ` + pgx.Identifier{schema}.Sanitize() + ` TO ` + id,
		} {
			if _, err := admin.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		t.Cleanup(func() {
			for _, q := range []string{`DROP OWNED BY ` + id, `DROP ROLE ` + id} {
				if _, err := admin.Exec(context.Background(), q); err != nil {
					t.Errorf("%s: %v", q, err)
				}
			}
			_ = admin.Close(context.Background())
		})
		u, err := url.Parse(dsn)
		must(t, err)
		u.User = url.User(role)
		s, err := Open(ctx, u.String(), WithSweepInterval(-1), WithoutMigrate())
		if err != nil {
			t.Fatalf("Open as a role that may only read: %v", err)
		}
		defer func() { _ = s.Close() }()
		if _, err := s.Get(ctx, "k1"); err != nil {
			t.Fatalf("Get as a role that may read: %v", err)
		}
		wantSentinel(t, "Set", s.Set(ctx, "k1", 1), storage.ErrUnavailable)
		_, err = s.SetMany(ctx, []storage.Item{{Key: "a", Value: 1}})
		wantSentinel(t, "SetMany", err, storage.ErrUnavailable)
		wantSentinel(t, "CreateNamespace", s.CreateNamespace(ctx, "x"), storage.ErrUnavailable)
	})

	t.Run("temp_file_limit", func(t *testing.T) {
		w := openTest(t, dsn, WithSweepInterval(-1))
		defer func() { _ = w.Close() }()
		big := strings.Repeat("x", 2000)
		items := make([]storage.Item, 400)
		for i := range items {
			items[i] = storage.Item{Key: "t" + hex.EncodeToString([]byte{byte(i >> 8), byte(i)}), Value: map[string]any{"g": hex.EncodeToString([]byte{byte(i * 7)}), "b": big}}
		}
		_, err := w.SetMany(ctx, items, storage.InNamespace("big"))
		must(t, err)
		s := openTest(t, withParams(t, dsn, "work_mem", "64", "temp_file_limit", "0"), WithSweepInterval(-1))
		defer func() { _ = s.Close() }()
		_, err = s.Query(ctx, storage.Filter{}, storage.InNamespace("big"), storage.SortBy(storage.Desc("g"), storage.Asc("b")), storage.Limit(400))
		wantSentinel(t, "Query sorted over the temp file limit", err, storage.ErrUnavailable)
	})
}

// endedCtx is a context whose Err reports Canceled once ended is set,
// while its Done never closes: the driver does not see it end, so the
// connection's failure and the caller's cancellation meet in one call, as
// they do when a cancel reaches a connection that breaks (seen once under
// load in TestChaos: a transaction's Set whose context ended answered
// ErrUnavailable).
type endedCtx struct {
	context.Context
	ended atomic.Bool
}

func (c *endedCtx) Done() <-chan struct{} { return nil }
func (c *endedCtx) Err() error {
	if c.ended.Load() {
		return context.Canceled
	}
	return nil
}

// TestTxOpEndedAsItsConnectionFailed: an operation of a transaction whose
// context ended while its connection failed returns the context's error,
// as every operation whose caller gave up does, not ErrUnavailable; the
// transaction is over.
func TestTxOpEndedAsItsConnectionFailed(t *testing.T) {
	dsn := newPGSchema(t)
	ctx := t.Context()
	s := openTest(t, withParams(t, dsn, "application_name", "txended"), WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	must(t, s.Set(ctx, "k", 1))
	pgHoldRow(t, dsn, "k")
	tx, err := s.Begin(ctx, storage.TxOptions{})
	must(t, err)
	ectx := &endedCtx{Context: ctx}
	done := make(chan error, 1)
	go func() { done <- tx.Set(ectx, "k", 2) }()
	admin := awaitLockWaiter(t, dsn, "application_name = 'txended'")
	ectx.ended.Store(true)
	var n int
	must(t, admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = 'txended' AND wait_event_type = 'Lock'`).Scan(&n))
	err = <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("tx Set whose context ended as its connection failed: %v, want the context's error", err)
	}
	if err := tx.Commit(ctx); !errors.Is(err, storage.ErrTxDone) {
		t.Errorf("Commit after: %v, want ErrTxDone", err)
	}
}

// TestCallEndedAsItsConnectionFailed: a call outside a transaction whose
// context ended while its connection failed (its backend terminated) or
// while the server cancelled its statement returns the context's error, as
// every call whose caller gave up does, not ErrUnavailable; with a live
// context the same failures stay ErrUnavailable. (TestChaos tolerated
// ErrUnavailable for such calls.) The call waits for a lock held by
// another session (ACCESS EXCLUSIVE on entries) until the test acts.
func TestCallEndedAsItsConnectionFailed(t *testing.T) {
	dsn := newPGSchema(t)
	ctx := t.Context()
	s := openTest(t, withParams(t, dsn, "application_name", "callended"), WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	must(t, s.Set(ctx, "k", 1))
	holder, err := pgx.Connect(ctx, rawDSN(t, dsn))
	must(t, err)
	t.Cleanup(func() { _ = holder.Close(context.Background()) })
	htx, err := holder.Begin(ctx)
	must(t, err)
	_, err = htx.Exec(ctx, `LOCK TABLE entries IN ACCESS EXCLUSIVE MODE`)
	must(t, err)
	t.Cleanup(func() { _ = htx.Rollback(context.Background()) })
	for _, c := range []struct {
		name, fn string
		ended    bool
	}{
		{"terminated, context ended", "pg_terminate_backend", true},
		{"cancelled, context ended", "pg_cancel_backend", true},
		{"terminated, context live", "pg_terminate_backend", false},
		{"cancelled, context live", "pg_cancel_backend", false},
	} {
		ectx := &endedCtx{Context: ctx}
		done := make(chan error, 1)
		go func() {
			_, err := s.Get(ectx, "k")
			done <- err
		}()
		admin := awaitLockWaiter(t, dsn, "application_name = 'callended'")
		ectx.ended.Store(c.ended)
		var n int
		must(t, admin.QueryRow(ctx, `SELECT count(`+c.fn+`(pid)) FROM pg_stat_activity
WHERE application_name = 'callended' AND wait_event_type = 'Lock'`).Scan(&n))
		err := <-done
		switch {
		case n != 1:
			t.Errorf("%s: %d sessions signalled, want 1", c.name, n)
		case c.ended && (!errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrUnavailable)):
			t.Errorf("%s: Get = %v, want the context's error", c.name, err)
		case !c.ended && !errors.Is(err, storage.ErrUnavailable):
			t.Errorf("%s: Get = %v, want ErrUnavailable", c.name, err)
		}
		var oe *storage.OpError
		if !errors.As(err, &oe) || oe.Op != "get" {
			t.Errorf("%s: Get = %#v, want a *storage.OpError of get", c.name, err)
		}
	}
}
