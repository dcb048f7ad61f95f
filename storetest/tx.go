package storetest

import (
	"context"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// txTests check the transaction lifecycle every backend with transactions
// shares (Supports.Transactions). They use the store only while no
// transaction is open, so that they hold on a backend with one connection.
var txTests = []test{
	{"RollbackLeavesNothing", testTxRollbackLeavesNothing},
	{"CommitKeepsWrites", testTxCommitKeepsWrites},
	{"DoneAfterEnd", testTxDoneAfterEnd},
	{"CommitTwice", testTxCommitTwice},
	{"Lookup", testTxLookup},
	{"ReadOnlyRefusesWrites", testTxReadOnly},
	{"AtomicBatchRollsBackAlone", testTxAtomicBatch},
}

// needTransactions skips t unless the harness declares
// Supports.Transactions.
func (s *suite) needTransactions(t *testing.T) {
	t.Helper()
	if !s.h.Supports.Transactions {
		t.Skipf("%s does not declare Supports.Transactions", s.name())
	}
}

// begin opens a transaction on a fresh store and rolls it back at the end
// of the test, whatever happened.
func (s *suite) begin(t *testing.T, opts storage.TxOptions) (storage.Store, storage.Tx) {
	t.Helper()
	s.needTransactions(t)
	st := s.newStore(t)
	tx, err := st.Begin(t.Context(), opts)
	if err != nil {
		t.Fatalf("Begin(%+v): %v", opts, err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return st, tx
}

func testTxRollbackLeavesNothing(t *testing.T, s *suite) {
	ctx := t.Context()
	st, tx := s.begin(t, storage.TxOptions{})
	noErr(t, tx.Set(ctx, "a", 1), "tx.Set")
	noErr(t, tx.Set(ctx, "b", 2, ns("txns")), "tx.Set in a new namespace")
	if _, err := tx.SetMany(ctx, []storage.Item{{Key: "c", Value: 3}, {Key: "d", Value: 4}}); err != nil {
		t.Fatalf("tx.SetMany: %v", err)
	}
	if ok, err := tx.Has(ctx, "c"); err != nil || !ok {
		t.Errorf("tx.Has(c) inside the transaction = %v, %v; want its own write", ok, err)
	}
	noErr(t, tx.Rollback(ctx), "Rollback")
	for _, k := range []string{"a", "c", "d"} {
		wantMissing(t, st, k)
	}
	wantMissing(t, st, "b", ns("txns"))
	wantSize(t, st, 0)
}

func testTxCommitKeepsWrites(t *testing.T, s *suite) {
	ctx := t.Context()
	st, tx := s.begin(t, storage.TxOptions{})
	noErr(t, tx.Set(ctx, "a", 1), "tx.Set")
	noErr(t, tx.Set(ctx, "a", 2), "tx.Set again")
	noErr(t, tx.Commit(ctx), "Commit")
	wantEntry(t, st, "a", "2", 2)
}

func testTxDoneAfterEnd(t *testing.T, s *suite) {
	ctx := t.Context()
	for _, end := range []string{"commit", "rollback"} {
		t.Run(end, func(t *testing.T) {
			_, tx := s.begin(t, storage.TxOptions{})
			noErr(t, tx.Set(ctx, "a", 1), "tx.Set")
			if end == "commit" {
				noErr(t, tx.Commit(ctx), "Commit")
			} else {
				noErr(t, tx.Rollback(ctx), "Rollback")
			}
			_, err := tx.Get(ctx, "a")
			wantErr(t, err, storage.ErrTxDone, "Get after "+end)
			wantErr(t, tx.Set(ctx, "b", 1), storage.ErrTxDone, "Set after "+end)
			_, err = tx.Query(ctx, storage.All())
			wantErr(t, err, storage.ErrTxDone, "Query after "+end)
			noErr(t, tx.Rollback(ctx), "Rollback after "+end)
		})
	}
}

func testTxCommitTwice(t *testing.T, s *suite) {
	ctx := t.Context()
	st, tx := s.begin(t, storage.TxOptions{})
	noErr(t, tx.Set(ctx, "a", 1), "tx.Set")
	noErr(t, tx.Commit(ctx), "Commit")
	noErr(t, tx.Commit(ctx), "Commit after Commit")
	wantEntry(t, st, "a", "1", 1)

	_, tx2 := s.begin(t, storage.TxOptions{})
	noErr(t, tx2.Rollback(ctx), "Rollback")
	wantErr(t, tx2.Commit(ctx), storage.ErrTxDone, "Commit after Rollback")
}

func testTxLookup(t *testing.T, s *suite) {
	ctx := t.Context()
	st, tx := s.begin(t, storage.TxOptions{})
	if tx.ID() == "" {
		t.Fatal("Tx.ID is empty")
	}
	got, err := st.LookupTx(tx.ID())
	if err != nil {
		t.Fatalf("LookupTx(open) = %v", err)
	}
	if got.ID() != tx.ID() {
		t.Errorf("LookupTx returned transaction %q, want %q", got.ID(), tx.ID())
	}
	noErr(t, got.Set(ctx, "via-lookup", 1), "Set through the looked-up Tx")
	if ok, err := tx.Has(ctx, "via-lookup"); err != nil || !ok {
		t.Errorf("the write through LookupTx is not in the transaction: %v, %v", ok, err)
	}
	noErr(t, tx.Commit(ctx), "Commit")
	_, err = st.LookupTx(tx.ID())
	wantErr(t, err, storage.ErrTxNotFound, "LookupTx after Commit")
	_, err = st.LookupTx("no-such-transaction")
	wantErr(t, err, storage.ErrTxNotFound, "LookupTx of an unknown ID")
	wantEntry(t, st, "via-lookup", "1", 1)
}

func testTxReadOnly(t *testing.T, s *suite) {
	ctx := t.Context()
	st := s.newStore(t)
	s.needTransactions(t)
	mustSet(t, st, "a", 1)
	tx, err := st.Begin(ctx, storage.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("Begin(ReadOnly): %v", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if !tx.ReadOnly() {
		t.Error("Tx.ReadOnly() = false for a read-only transaction")
	}
	if _, err := tx.Get(ctx, "a"); err != nil {
		t.Errorf("Get in a read-only transaction: %v", err)
	}
	wantErr(t, tx.Set(ctx, "a", 2), storage.ErrReadOnly, "Set")
	wantErr(t, tx.Delete(ctx, "a"), storage.ErrReadOnly, "Delete")
	_, err = tx.SetMany(ctx, []storage.Item{{Key: "b", Value: 1}})
	wantErr(t, err, storage.ErrReadOnly, "SetMany")
	wantErr(t, tx.SetMetadata(ctx, "a", map[string]any{"x": 1}), storage.ErrReadOnly, "SetMetadata")
	wantErr(t, tx.Clear(ctx), storage.ErrReadOnly, "Clear")
	noErr(t, tx.Commit(ctx), "Commit")
	wantEntry(t, st, "a", "1", 1)
}

func testTxAtomicBatch(t *testing.T, s *suite) {
	ctx := t.Context()
	st, tx := s.begin(t, storage.TxOptions{})
	noErr(t, tx.Set(ctx, "before", 1), "tx.Set")
	res, err := tx.SetMany(ctx, []storage.Item{{Key: "b1", Value: 1}, {Key: "", Value: 2}}, storage.Atomic())
	if err == nil && res.OK() {
		t.Fatal("an atomic batch with an invalid key succeeded")
	}
	noErr(t, tx.Set(ctx, "after", 2), "tx.Set after the failed batch: the transaction goes on")
	noErr(t, tx.Commit(ctx), "Commit")
	wantEntry(t, st, "before", "1", 1)
	wantEntry(t, st, "after", "2", 1)
	wantMissing(t, st, "b1")
}
