package security_test

import (
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestAbandonedTxsForgotten: a transaction begun through the store and
// never committed or rolled back, which the wrapped store rolls back when
// it idles (sqlstore's WithTxIdleTimeout), is forgotten too. Before, the
// store kept its ID and owner until a LookupTx of that ID: a client that
// abandons transactions (storeserver serves every caller through one
// security.Store) grew the server's memory without bound, one entry per
// abandoned transaction.
func TestAbandonedTxsForgotten(t *testing.T) {
	ctx := t.Context()
	inner, err := sqlstore.Open(ctx, "sqlite::memory:?readers=40", sqlstore.WithTxIdleTimeout(50*time.Millisecond),
		sqlstore.WithMaxOpenTx(1000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inner.Close() })
	pol := security.NewPolicy()
	if err := pol.ApplyAnonymous(security.Profile{Name: "anon", Scopes: map[string]string{"storage://namespace/*": "rw", "principal://*": "rw"}}); err != nil {
		t.Fatal(err)
	}
	st := security.NewStore(inner, pol, security.AllowAnonymous())
	const rounds, perRound = 12, 30
	for r := 0; r < rounds; r++ {
		for i := 0; i < perRound; i++ {
			if _, err := st.Begin(ctx, storage.TxOptions{ReadOnly: true}); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for inner.OpenTransactions() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := inner.OpenTransactions(); n > 0 {
			t.Fatalf("round %d: the engine still has %d open transactions", r, n)
		}
	}
	// One more Begin: the store may forget lazily, but what it keeps must
	// not grow with the transactions abandoned so far.
	tx, err := st.Begin(ctx, storage.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if n := security.TrackedTxs(st); n > 4*perRound {
		t.Fatalf("after %d abandoned transactions (none open) the store tracks %d; want at most %d",
			rounds*perRound, n, 4*perRound)
	}
	if _, err := st.LookupTx(tx.ID()); err != nil {
		t.Fatalf("LookupTx of the open transaction: %v", err)
	}
}
