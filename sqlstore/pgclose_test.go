package sqlstore

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestReplicaCloseHungStandby: Close of a store whose standby stopped
// answering ends in about pgCloseGrace. A read-only Begin that gave up on
// the hung standby (and ran on the primary) leaves pgx ending the
// standby's connection in the background, reading until the server closes
// it, for up to 15 seconds; pgxpool's Close waited for that, so Close took
// 15 seconds.
func TestReplicaCloseHungStandby(t *testing.T) {
	s, p := openProxiedReplica(t, 0)
	ctx := context.Background()
	_ = standbyTx(t, ctx, s).Rollback(ctx)
	for p.stall() {
	}
	defer p.unstallAll()
	tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("Begin read-only with the standby hung: %v", err)
	}
	if OnReplica(tx) {
		t.Fatalf("the transaction runs on the hung standby")
	}
	if _, err := tx.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get on the primary: %v", err)
	}
	_ = tx.Rollback(ctx)
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(start); took > pgCloseGrace+3*time.Second {
		t.Errorf("Close with the standby hung took %v; want about %v", took, pgCloseGrace)
	}
}

// TestPGCloseHungServer: Close of a store whose server stopped answering
// ends in about pgCloseGrace, with transactions open on it and an
// operation of one of them, without a deadline, waiting on the server.
// Close rolled the transactions back one after the other, each bounded by
// pgRollbackTimeout (5 s), and waited for ever for the operation, which
// holds its transaction.
func TestPGCloseHungServer(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	s, p := openProxied(t, WithSweepInterval(-1))
	ctx := context.Background()
	var txs []storage.Tx
	for range 4 {
		tx, err := s.Begin(ctx, storage.TxOptions{})
		must(t, err)
		if _, err := tx.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get: %v", err)
		}
		txs = append(txs, tx)
	}
	for p.stall() {
	}
	defer p.unstallAll()
	got := make(chan error, 1)
	go func() {
		_, err := txs[0].Get(ctx, "k")
		got <- err
	}()
	closed := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		_ = s.Close()
		closed <- time.Since(start)
	}()
	select {
	case took := <-closed:
		if took > pgCloseGrace+3*time.Second {
			t.Errorf("Close with the server hung took %v; want about %v", took, pgCloseGrace)
		}
	case <-time.After(30 * time.Second):
		p.unstallAll()
		t.Fatalf("Close with the server hung has not returned after 30 s")
	}
	select {
	case err := <-got:
		if err == nil || sentinels(err) != 1 {
			t.Errorf("Get cut by Close: %v; want one sentinel", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Get still waits after Close")
	}
}
