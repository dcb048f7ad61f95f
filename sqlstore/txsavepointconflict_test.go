package sqlstore

import (
	"context"
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestTxConflictInSavepointAbortsTx: a write of a PostgreSQL transaction at
// repeatable-read or serializable that fails with ErrTxConflict (another
// writer committed a change to a key the transaction read) aborts the
// transaction, whichever statement failed: one run under a savepoint (an
// Atomic or checked batch, a write of a store with a capacity) too. Every
// later operation and the Commit fail with ErrTxConflict and nothing of the
// transaction is written, as after a plain Set's conflict. Before, the
// savepoint was rolled back and the transaction went on: Commit returned
// nil and wrote the transaction's other writes, though the write had said
// the database aborted the transaction.
func TestTxConflictInSavepointAbortsTx(t *testing.T) {
	c := configs[2]
	if c.name != "postgres" {
		t.Fatalf("configs[2] is %s", c.name)
	}
	writes := []struct {
		name     string
		capacity bool
		write    func(ctx context.Context, tx storage.Tx, rev int64) error
	}{
		{"Set", false, func(ctx context.Context, tx storage.Tx, _ int64) error { return tx.Set(ctx, "k", 3) }},
		{"SetManyAtomic", false, func(ctx context.Context, tx storage.Tx, rev int64) error {
			r, err := tx.SetMany(ctx, []storage.Item{{Key: "k", Value: 3, IfRevision: rev}, {Key: "n", Value: 1}}, storage.Atomic())
			if err == nil {
				err = r.Err()
			}
			return err
		}},
		{"SetManyChecked", false, func(ctx context.Context, tx storage.Tx, rev int64) error {
			r, err := tx.SetMany(ctx, []storage.Item{{Key: "k", Value: 3, IfRevision: rev}, {Key: "n", Value: 1}})
			if err == nil {
				err = r.Err()
			}
			return err
		}},
		{"SetManyMustExist", false, func(ctx context.Context, tx storage.Tx, _ int64) error {
			r, err := tx.SetMany(ctx, []storage.Item{{Key: "k", Value: 3}}, storage.MustExist())
			if err == nil {
				err = r.Err()
			}
			return err
		}},
		{"DeleteManyAtomic", false, func(ctx context.Context, tx storage.Tx, _ int64) error {
			r, err := tx.DeleteMany(ctx, []string{"k"}, storage.Atomic())
			if err == nil {
				err = r.Err()
			}
			return err
		}},
		{"SetWithCapacity", true, func(ctx context.Context, tx storage.Tx, _ int64) error { return tx.Set(ctx, "k", 3) }},
		{"SetManyWithCapacity", true, func(ctx context.Context, tx storage.Tx, _ int64) error {
			r, err := tx.SetMany(ctx, []storage.Item{{Key: "k", Value: 3}})
			if err == nil {
				err = r.Err()
			}
			return err
		}},
	}
	for _, level := range []storage.IsolationLevel{storage.LevelRepeatableRead, storage.LevelSerializable} {
		for _, w := range writes {
			t.Run(level.String()+"/"+w.name, func(t *testing.T) {
				ctx := context.Background()
				var opts []Option
				if w.capacity {
					opts = append(opts, WithCapacity(100))
				}
				s := openTest(t, c.dsn(t), opts...)
				defer s.Close()
				if err := s.Set(ctx, "k", 1); err != nil {
					t.Fatal(err)
				}
				tx, err := s.Begin(ctx, storage.TxOptions{Isolation: level})
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = tx.Rollback(ctx) }()
				e, err := tx.Get(ctx, "k") // the snapshot
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Set(ctx, "k", 2); err != nil { // another writer
					t.Fatal(err)
				}
				// With a capacity every write touches the capacity's guard
				// row, which the other writer changed: the first write
				// conflicts (under its savepoint).
				first := tx.Set(ctx, "other", 1)
				if w.capacity {
					if !errors.Is(first, storage.ErrTxConflict) {
						t.Fatalf("first write: %v, want ErrTxConflict", first)
					}
					first = tx.Set(ctx, "other2", 1)
					if !errors.Is(first, storage.ErrTxConflict) {
						t.Errorf("write after the conflict: %v, want ErrTxConflict", first)
					}
				} else if first != nil {
					t.Fatal(first)
				} else if err := w.write(ctx, tx, e.Revision); !errors.Is(err, storage.ErrTxConflict) {
					t.Fatalf("write: %v, want ErrTxConflict", err)
				}
				_, gerr := tx.Get(ctx, "other")
				cerr := tx.Commit(ctx)
				ok, _ := s.Has(ctx, "other")
				if !errors.Is(gerr, storage.ErrTxConflict) || !errors.Is(cerr, storage.ErrTxConflict) || ok {
					t.Errorf("after the conflict: Get %v, Commit %v (want ErrTxConflict both); the transaction's other write committed: %v", gerr, cerr, ok)
				}
				if got, _ := s.Get(ctx, "k"); string(got.Value) != "2" {
					t.Errorf("k = %s, want the other writer's 2", got.Value)
				}
			})
		}
	}
}
