package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/txmanager"
)

// TestTxWriteAfterNamespaceDeleted: a repeatable-read or serializable
// transaction whose snapshot predates a DeleteNamespace (recursive, of a
// namespace with entries) of the namespace it then writes fails with
// ErrTxConflict, whatever the write (Set, SetMany replacing, keeping
// metadata, NoOverwrite), writes nothing, and RunInTx's next attempt
// succeeds. On PostgreSQL a batch re-created the namespace while the
// snapshot still showed the deleted row, wrote under both, gave both the
// same revisions, and failed on the change log's primary key: ErrCorrupt
// ("a constraint failed on rows the engine did not write"), which RunInTx
// does not retry (TestProbeErrorsTyped found it).
func TestTxWriteAfterNamespaceDeleted(t *testing.T) {
	writes := []struct {
		name  string
		write func(ctx context.Context, tx storage.Tx, in storage.Option) error
	}{
		{"Set", func(ctx context.Context, tx storage.Tx, in storage.Option) error { return tx.Set(ctx, "k", 2, in) }},
		{"SetMany", func(ctx context.Context, tx storage.Tx, in storage.Option) error {
			res, err := tx.SetMany(ctx, []storage.Item{{Key: "k", Value: 2}, {Key: "j", Value: 2}}, in)
			if err == nil {
				err = res.Err()
			}
			return err
		}},
		{"SetMany existing key", func(ctx context.Context, tx storage.Tx, in storage.Option) error {
			res, err := tx.SetMany(ctx, []storage.Item{{Key: "k", Value: 2}}, in)
			if err == nil {
				err = res.Err()
			}
			return err
		}},
		{"SetMany metadata", func(ctx context.Context, tx storage.Tx, in storage.Option) error {
			res, err := tx.SetMany(ctx, []storage.Item{{Key: "k", Value: 2, Metadata: map[string]int{"m": 1}}, {Key: "j", Value: 2}}, in)
			if err == nil {
				err = res.Err()
			}
			return err
		}},
		{"SetMany NoOverwrite", func(ctx context.Context, tx storage.Tx, in storage.Option) error {
			res, err := tx.SetMany(ctx, []storage.Item{{Key: "k", Value: 2}, {Key: "j", Value: 2}}, in, storage.NoOverwrite())
			if err == nil {
				err = res.Err()
			}
			return err
		}},
	}
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	// PostgreSQL alone: on SQLite a transaction holds the one writer, so
	// the delete could not run inside it (and no snapshot predates it).
	{
		{
			s := openTest(t, newPGSchema(t))
			defer s.Close()
			ctx := t.Context()
			for i, w := range writes {
				for _, level := range []storage.IsolationLevel{storage.LevelRepeatableRead, storage.LevelSerializable} {
					ns := fmt.Sprintf("n%d%s", i, level)
					in := storage.InNamespace(ns)
					items := make([]storage.Item, 50)
					for j := range items {
						items[j] = storage.Item{Key: fmt.Sprintf("a%02d", j), Value: 1}
					}
					items = append(items, storage.Item{Key: "k", Value: 1})
					_, err := s.SetMany(ctx, items, in)
					must(t, err)
					must(t, s.Set(ctx, "other", 1, storage.InNamespace("other")))
					attempts := 0
					err = txmanager.RunInTx(ctx, s, storage.TxOptions{Isolation: level}, func(tx storage.Tx) error {
						attempts++
						// The snapshot: a read of another namespace.
						if _, err := tx.Get(ctx, "other", storage.InNamespace("other")); err != nil {
							return err
						}
						if attempts == 1 {
							if err := s.DeleteNamespace(ctx, ns, storage.Recursive()); err != nil {
								return fmt.Errorf("DeleteNamespace: %w", err)
							}
						}
						err := w.write(ctx, tx, in)
						if attempts == 1 && !errors.Is(err, storage.ErrTxConflict) {
							t.Errorf("%s %s after the namespace was deleted: %v, want ErrTxConflict", w.name, level, err)
						}
						return err
					})
					if err != nil {
						t.Errorf("%s %s: RunInTx: %v (after %d attempts)", w.name, level, err, attempts)
						continue
					}
					e, err := s.Get(ctx, "k", in)
					if err != nil || string(e.Value) != "2" {
						t.Errorf("%s %s: k after the transaction: %s, %v; want 2", w.name, level, e.Value, err)
					}
					n, err := s.Count(ctx, in)
					if want := map[bool]int64{true: 2, false: 1}[w.name != "Set" && w.name != "SetMany existing key"]; err != nil || n != want {
						t.Errorf("%s %s: %d entries, %v; want %d", w.name, level, n, err, want)
					}
				}
			}
		}
	}
}
