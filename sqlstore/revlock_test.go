package sqlstore

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
)

// ctxBatcher is a pgBatcher that records the context of each batch and
// answers every statement with the error of that context once it ends:
// what pgx does with a server that never answers.
type ctxBatcher struct{ got chan context.Context }

func (ctxBatcher) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, errors.New("unused")
}
func (ctxBatcher) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errors.New("unused")
}
func (ctxBatcher) QueryRow(context.Context, string, ...any) pgx.Row { return nil }
func (b ctxBatcher) SendBatch(ctx context.Context, _ *pgx.Batch) pgx.BatchResults {
	b.got <- ctx
	return waitResults{ctx}
}

type waitResults struct{ ctx context.Context }

func (w waitResults) Exec() (pgconn.CommandTag, error) {
	<-w.ctx.Done()
	return pgconn.CommandTag{}, w.ctx.Err()
}
func (w waitResults) Query() (pgx.Rows, error) { <-w.ctx.Done(); return nil, w.ctx.Err() }
func (w waitResults) QueryRow() pgx.Row        { return nil }
func (waitResults) Close() error               { return nil }

// TestRevDBWaitsForTheServerPastTheDeadline: the batch of a write (the
// revision lock, then the statement) is not abandoned at the caller's
// deadline, when the server may still be waiting for the lock and would
// run the write after the caller was told it failed (CI: "the given-up
// Set ran after all"), but at most lockGrace after it; a cancellation
// ends it at once.
func TestRevDBWaitsForTheServerPastTheDeadline(t *testing.T) {
	b := ctxBatcher{got: make(chan context.Context, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	d, _ := ctx.Deadline()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := revDB{db: b}.Exec(ctx, "SELECT 1")
		done <- err
	}()
	wctx := <-b.got
	wd, ok := wctx.Deadline()
	if !ok || wd.Before(d.Add(lockGrace)) {
		t.Fatalf("the batch's deadline is %v (ok %v), want the caller's plus lockGrace, %v", wd, ok, d.Add(lockGrace))
	}
	<-ctx.Done()
	select {
	case err := <-done:
		t.Fatalf("the write gave up at the caller's deadline: %v", err)
	case <-time.After(lockGrace / 2):
	}
	err := <-done
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 50*time.Millisecond+lockGrace+time.Second {
		t.Fatalf("the write waited %v", el)
	}

	// A cancellation is passed on at once.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	go func() {
		_, err := revDB{db: b}.Exec(ctx2, "SELECT 1")
		done <- err
	}()
	<-b.got
	cancel2()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled write still waits")
	}
}

func (waitResults) Tx() pgx.Tx { return nil }

// TestRevisionLockPerStore checks that the revision lock is the store's
// own: a transaction that wrote in one store (and holds its lock to its
// end) does not hold up a write to a store in another schema of the same
// database, and still holds up a write to its own store. Up to schema
// version 25 every store took the same key, and the other store's Set
// waited for the transaction to end.
func TestRevisionLockPerStore(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	ctx := t.Context()
	a := openTest(t, newPGSchema(t))
	defer a.Close()
	b := openTest(t, newPGSchema(t))
	defer b.Close()
	if a.eng.(*pgEngine).lockKey == b.eng.(*pgEngine).lockKey {
		t.Fatalf("two stores have the same revision lock key %d", a.eng.(*pgEngine).lockKey)
	}
	tx, err := a.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := tx.Set(ctx, "held", 1); err != nil {
		t.Fatal(err)
	}

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := b.Set(wctx, "other", 1); err != nil {
		t.Fatalf("a write to another store waited for this store's transaction: %v after %v", err, time.Since(start))
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("a write to another store took %v", el)
	}

	// The store's own writers still wait for the transaction.
	sctx, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if err := a.Set(sctx, "same", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a write to the same store during the transaction: %v, want context.DeadlineExceeded", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(ctx, "same", 1); err != nil {
		t.Fatal(err)
	}
}

// TestNotifyChannelPerStore: the change feed's wake-ups are the store's
// own (migration 00027). A process listening on store A's channel gets a
// notification for A's writes and none for the writes of store B, in
// another schema of the same database. Up to version 26 every store
// notified on storage_changes, so a write in one store woke the watchers
// of all.
func TestNotifyChannelPerStore(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	ctx := t.Context()
	dsnA := newPGSchema(t)
	a := openTest(t, dsnA)
	defer a.Close()
	b := openTest(t, newPGSchema(t))
	defer b.Close()
	chA, chB := a.eng.(*pgEngine).channel, b.eng.(*pgEngine).channel
	if chA == chB || chA == "" {
		t.Fatalf("stores have notification channels %q and %q", chA, chB)
	}
	pc, err := pgxpool.ParseConfig(dsnA) // the DSN carries pool settings
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, pc.ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{chA}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	notified := func(within time.Duration) bool {
		wctx, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		_, err := conn.WaitForNotification(wctx)
		return err == nil
	}

	if err := b.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if notified(500 * time.Millisecond) {
		t.Fatal("a write to store B notified store A's channel")
	}
	if err := a.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if !notified(10 * time.Second) {
		t.Fatal("a write to store A did not notify its channel")
	}
}
