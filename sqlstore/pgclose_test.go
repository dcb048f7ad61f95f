package sqlstore

import (
	"context"
	"errors"
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
