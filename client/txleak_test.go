package client_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestDroppedTxsForgotten: a transaction the program dropped without
// ending it (the server rolls it back when it idles), or one it looked up
// by ID and then let go, is not kept by the client. Before, the client held
// every *Tx it began or looked up until it was committed or rolled back
// through this client, so a long-running program that abandons
// transactions, or that looks up transactions other processes end, grew
// without bound. A transaction the program still holds stays known.
func TestDroppedTxsForgotten(t *testing.T) {
	ctx := t.Context()
	inner, err := sqlstore.Open(ctx, "sqlite::memory:?readers=40", sqlstore.WithTxIdleTimeout(50*time.Millisecond),
		sqlstore.WithMaxOpenTx(1000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inner.Close() })
	_, c := serve(t, inner)
	held, err := c.Begin(ctx, storage.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := 0; i < n; i++ {
		tx, err := c.Begin(ctx, storage.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.LookupTx(tx.ID()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for client.TrackedTxs(c) > 1 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := client.TrackedTxs(c); got != 1 {
		t.Fatalf("after %d dropped transactions the client tracks %d; want 1 (the one held)", n, got)
	}
	got, err := c.LookupTx(held.ID())
	if err != nil || got != held {
		t.Fatalf("LookupTx of the held transaction = %p, %v; want %p", got, err, held)
	}
	runtime.KeepAlive(held)
}
