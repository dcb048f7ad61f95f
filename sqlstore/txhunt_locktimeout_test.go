package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	storage "github.com/mycelia-kernel/storage"
)

// TestTxLockTimeoutIsPerStatement: on PostgreSQL a write in a caller's
// transaction sets lock_timeout from its own context for the rest of the
// transaction (revlock.go); a later read of the transaction, under a
// context without a deadline, that waits for a lock (here a table lock
// another session holds, as a DBA's maintenance would) must wait for as
// long as it takes, not fail (and abort the transaction) at the earlier
// write's deadline.
func TestTxLockTimeoutIsPerStatement(t *testing.T) {
	dsn := newPGSchema(t)
	s := openTest(t, dsn)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	must(t, s.CreateNamespace(ctx, "a"))
	must(t, s.CreateNamespace(ctx, "b", storage.WithIndexes("n")))
	must(t, s.Set(ctx, "k", map[string]any{"n": 1}, storage.InNamespace("b")))

	tx, err := s.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = tx.Set(wctx, "w", 1, storage.InNamespace("a")) // lock_timeout ≈ 500 ms from here on
	cancel()
	if err != nil {
		t.Fatal(err)
	}

	// Another session takes index_entries, which the write did not touch,
	// and holds it 2.5 s: five times the write's bound.
	conn, err := pgx.Connect(ctx, rawDSN(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	ltx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ltx.Exec(ctx, "SET LOCAL lock_timeout = '5s'; LOCK TABLE index_entries IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatalf("setup: lock index_entries: %v", err)
	}
	const hold = 2500 * time.Millisecond
	released := make(chan struct{})
	go func() {
		defer close(released)
		time.Sleep(hold)
		_ = ltx.Commit(context.Background())
	}()

	start := time.Now()
	res, err := tx.Query(context.Background(), storage.Eq("n", 1), storage.InNamespace("b"))
	waited := time.Since(start)
	<-released
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("Query after %v (a write before it had a 500 ms context) = %d entries, %v; want 1, nil", waited.Round(time.Millisecond), len(res.Entries), err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}
