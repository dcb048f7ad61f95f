package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
)

// TestPGCombinedWriteCallerGoneInDoubt: a write whose caller's context
// ends once its batch was sent, where the batch does not answer within
// lockGrace (another write of the batch sleeps on the server), is
// ErrCommitUnknown after lockGrace, not the context's error and not a wait
// for the batch: the batch then commits, and the write with it.
func TestPGCombinedWriteCallerGoneInDoubt(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	in := storage.InNamespace("gone")
	must(t, s.CreateNamespace(ctx, "gone"))
	e := s.eng.(*pgEngine)
	release := combTurn(t, s)
	slow := make(chan error, 1)
	go func() {
		_, err := e.writes.q.wdb.Exec(ctx, "SELECT pg_sleep(3)")
		slow <- err
	}()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	set := make(chan error, 1)
	go func() { set <- s.Set(cctx, "k", 1, in) }()
	release(2)
	// Sent: the batch's sleep runs on the server.
	waitBackends(t, dsn, "state = 'active' AND query LIKE '%pg_sleep(3)%'", 1)
	start := time.Now()
	cancel()
	err := <-set
	took := time.Since(start)
	if !errors.Is(err, storage.ErrCommitUnknown) {
		t.Fatalf("a write whose caller left once its batch was sent: %v, want ErrCommitUnknown", err)
	}
	if took < lockGrace-50*time.Millisecond || took > lockGrace+time.Second {
		t.Fatalf("answered %v after its context ended, want about lockGrace (%v)", took, lockGrace)
	}
	must(t, <-slow)
	if _, err := s.Get(ctx, "k", in); err != nil {
		t.Fatalf("the batch committed, its write is not there: %v", err)
	}
}

// TestPGWriteCancelledInFlight: a write outside a transaction whose
// caller cancels it while it waits on the server (here for the revision
// lock, which a transaction holds) may still commit: the server goes on
// with it once the lock is free, whether or not its connection was cut.
// Its caller must not be told it failed (the context's error) when it
// then commits: either the server's answer, or ErrCommitUnknown. Before,
// the cancellation cut the connection at once and the caller got
// "context canceled" for a write that committed when the transaction did.
func TestPGWriteCancelledInFlight(t *testing.T) {
	for _, c := range []struct {
		name                string
		combining, viaBatch bool
	}{{"combining", true, false}, {"alone", false, false}, {"batch", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			withRevViaBatch(c.viaBatch, func() { cancelledInFlight(t, c.combining) })
		})
	}
}

func cancelledInFlight(t *testing.T, combining bool) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	opts := []Option{WithSweepInterval(-1)}
	if !combining {
		opts = append(opts, WithoutWriteCombining())
	}
	s := openTest(t, dsn, opts...)
	t.Cleanup(func() { _ = s.Close() })
	in := storage.InNamespace("inflight")
	must(t, s.CreateNamespace(ctx, "inflight"))
	tx, err := s.Begin(ctx, storage.TxOptions{})
	must(t, err)
	must(t, tx.Set(ctx, "held", 1, in))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	set := make(chan error, 1)
	go func() { set <- s.Set(cctx, "k", 1, in) }()
	waitBackends(t, dsn, "wait_event_type = 'Lock'", 1)
	start := time.Now()
	cancel()
	err = <-set
	took := time.Since(start)
	must(t, tx.Commit(ctx))
	// The server's backend, if it goes on, writes as soon as the
	// transaction's commit frees the lock.
	var got error
	for range 50 {
		if _, got = s.Get(ctx, "k", in); got == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("Set answered %v after its cancellation: %v; then Get: %v", took.Round(time.Millisecond), err, got)
	switch {
	case errors.Is(err, storage.ErrCommitUnknown):
	case err == nil && got != nil:
		t.Fatalf("the Set succeeded, the key is not there: %v", got)
	case err != nil && got == nil:
		t.Fatalf("the Set failed (%v) and committed", err)
	}
	if took > lockGrace+time.Second {
		t.Fatalf("answered %v after its cancellation, want at most about lockGrace (%v)", took, lockGrace)
	}
}

// waitBackends waits until n backends of dsn's database (but the
// asker's) match the condition where on pg_stat_activity.
func waitBackends(t *testing.T, dsn, where string, n int) {
	t.Helper()
	ctx := t.Context()
	admin, err := pgxpool.New(ctx, dsn)
	must(t, err)
	defer admin.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		must(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND `+where).Scan(&got))
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backends with %s, want %d", got, where, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
