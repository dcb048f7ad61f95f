package sqlstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestTxClearAfterRolledBackClear: a Clear inside a transaction, of one
// namespace or of every one, with and without a declared index, after an
// earlier transaction's Clear of it was rolled back and a key was set and
// deleted outside (the delete's transaction warms the statements the
// rolled-back one met), clears. On SQLite the Clear of a namespace with an
// index failed with ErrTxConflict ("the namespace was deleted meanwhile",
// FOREIGN KEY constraint failed): the PRAGMA defer_foreign_keys that
// unlinkSQLite runs came from the statement cache, prepared elsewhere, and
// SQLite applies that pragma when it prepares it, so it was off.
func TestTxClearAfterRolledBackClear(t *testing.T) {
	for _, c := range configs {
		for _, all := range []bool{false, true} {
			for _, idx := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/all=%v/idx=%v", c.name, all, idx), func(t *testing.T) {
					ctx := context.Background()
					s := openTest(t, c.dsn(t))
					defer s.Close()
					must(t, s.CreateNamespace(ctx, "cl", indexedIf(idx, "n")...))
					ns := storage.InNamespace("cl")
					var clearOpts []storage.Option
					if !all {
						clearOpts = append(clearOpts, ns)
					}
					must(t, s.Set(ctx, "a", map[string]int{"n": 1}, ns))
					tx, err := s.Begin(ctx, storage.TxOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if err := tx.Clear(ctx, clearOpts...); err != nil {
						t.Fatal(err)
					}
					_ = tx.Rollback(ctx)
					if n, _ := s.Count(ctx, ns); n != 1 {
						t.Fatalf("after the rollback: %d entries", n)
					}
					must(t, s.Set(ctx, "y", 1, ns))
					must(t, s.Delete(ctx, "y", ns))
					tx, err = s.Begin(ctx, storage.TxOptions{})
					if err != nil {
						t.Fatal(err)
					}
					defer func() { _ = tx.Rollback(ctx) }()
					if err := tx.Clear(ctx, clearOpts...); err != nil {
						t.Fatalf("Clear: %v", err)
					}
					if err := tx.Commit(ctx); err != nil {
						t.Fatal(err)
					}
					if n, _ := s.Count(ctx, ns); n != 0 {
						t.Errorf("after the Clear: %d entries", n)
					}
					if idx {
						if n, _ := s.Count(ctx, ns, storage.Where(storage.Gte("n", 0))); n != 0 {
							t.Errorf("after the Clear: the index counts %d", n)
						}
					}
				})
			}
		}
	}
}
