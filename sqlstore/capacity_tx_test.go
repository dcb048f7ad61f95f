package sqlstore

import (
	"context"
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/txmanager"
)

// TestCapacityAcrossSnapshots: two repeatable-read (or serializable)
// transactions, each adding one entry to its own namespace, begin before
// either commits. Each alone fits the capacity; together they would pass
// it. The store must never hold more than its capacity: one of them fails
// with ErrTxConflict (Postgres) or waits for the other and then sees the
// full count (SQLite).
func TestCapacityAcrossSnapshots(t *testing.T) {
	for _, c := range configs {
		for _, level := range []storage.IsolationLevel{storage.LevelRepeatableRead, storage.LevelSerializable} {
			t.Run(c.name+"/"+level.String(), func(t *testing.T) {
				ctx := context.Background()
				s := openTest(t, c.dsn(t), WithCapacity(2))
				defer s.Close()
				if err := s.Set(ctx, "first", 1); err != nil {
					t.Fatal(err)
				}
				opts := storage.TxOptions{Isolation: level}
				if s.Dialect() == "sqlite" {
					// One writer at a time: the second transaction begins
					// after the first commits and sees its entry.
					for i, ns := range []string{"n1", "n2"} {
						err := txmanager.RunInTx(ctx, s, opts, func(tx storage.Tx) error {
							return tx.Set(ctx, "k", i, storage.InNamespace(ns))
						})
						if i == 1 && !errors.Is(err, storage.ErrCapacityExceeded) {
							t.Fatalf("second write: %v, want ErrCapacityExceeded", err)
						}
					}
				} else {
					t1, err := s.Begin(ctx, opts)
					if err != nil {
						t.Fatal(err)
					}
					t2, err := s.Begin(ctx, opts)
					if err != nil {
						t.Fatal(err)
					}
					// Take both snapshots before either writes.
					_, _ = t1.Has(ctx, "first")
					_, _ = t2.Has(ctx, "first")
					if err := t1.Set(ctx, "k", 1, storage.InNamespace("n1")); err != nil {
						t.Fatal(err)
					}
					if err := t1.Commit(ctx); err != nil {
						t.Fatal(err)
					}
					err = t2.Set(ctx, "k", 2, storage.InNamespace("n2"))
					if err == nil {
						err = t2.Commit(ctx)
					}
					_ = t2.Rollback(ctx)
					if !errors.Is(err, storage.ErrTxConflict) && !errors.Is(err, storage.ErrCapacityExceeded) {
						t.Fatalf("second transaction: %v, want ErrTxConflict or ErrCapacityExceeded", err)
					}
					// Retried, it sees the full store.
					err = txmanager.RunInTx(ctx, s, opts, func(tx storage.Tx) error {
						return tx.Set(ctx, "k", 2, storage.InNamespace("n2"))
					})
					if !errors.Is(err, storage.ErrCapacityExceeded) {
						t.Fatalf("retried: %v, want ErrCapacityExceeded", err)
					}
				}
				st, err := s.Status(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if st.Size != 2 {
					t.Errorf("the store holds %d entries, capacity 2", st.Size)
				}
				checkInvariants(t, s)
			})
		}
	}
}
