package sqlstore

import (
	"testing"

	"github.com/mycelia-kernel/storage"
)

func TestOpenTransactions(t *testing.T) {
	s := openTest(t, "sqlite::memory:")
	defer s.Close()
	ctx := t.Context()
	if n := s.OpenTransactions(); n != 0 {
		t.Fatalf("OpenTransactions = %d before any Begin", n)
	}
	tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.OpenTransactions(); n != 1 {
		t.Fatalf("OpenTransactions = %d with one open", n)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.OpenTransactions(); n != 0 {
		t.Fatalf("OpenTransactions = %d after Rollback", n)
	}
}
