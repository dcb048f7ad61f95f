package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestCommitUnderEndedContext: a Commit whose context has already ended (by
// cancellation or by its deadline) rolls the transaction back and answers
// the context's error, on every dialect; the transaction is over (a later
// Commit is ErrTxDone) and nothing it wrote is kept. SQLite committed such
// a transaction and answered nil, where PostgreSQL rolled it back: the
// same code got two outcomes. A transaction that wrote nothing, read-only
// or not, answers the same.
func TestCommitUnderEndedContext(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			for _, end := range []struct {
				name string
				ctx  func() context.Context
				want error
			}{
				{"cancelled", func() context.Context {
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					return cctx
				}, context.Canceled},
				{"deadline", func() context.Context {
					dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
					t.Cleanup(cancel)
					return dctx
				}, context.DeadlineExceeded},
			} {
				for _, shape := range []struct {
					name  string
					opts  storage.TxOptions
					write bool
				}{
					{"wrote", storage.TxOptions{}, true},
					{"wrote serializable", storage.TxOptions{Isolation: storage.LevelSerializable}, true},
					{"read only", storage.TxOptions{ReadOnly: true}, false},
					{"wrote nothing", storage.TxOptions{}, false},
				} {
					what := end.name + "/" + shape.name
					key := "k-" + what
					tx, err := s.Begin(ctx, shape.opts)
					if err != nil {
						t.Fatalf("%s: Begin: %v", what, err)
					}
					if shape.write {
						if err := tx.Set(ctx, key, 1); err != nil {
							t.Fatalf("%s: Set: %v", what, err)
						}
					} else if _, err := tx.Get(ctx, "absent"); !errors.Is(err, storage.ErrNotFound) {
						t.Fatalf("%s: Get: %v", what, err)
					}
					if err := tx.Commit(end.ctx()); !errors.Is(err, end.want) {
						t.Errorf("%s: Commit under an ended context: %v, want %v", what, err, end.want)
					}
					if err := tx.Commit(ctx); !errors.Is(err, storage.ErrTxDone) {
						t.Errorf("%s: Commit again: %v, want ErrTxDone", what, err)
					}
					if _, err := s.LookupTx(tx.ID()); err == nil {
						t.Errorf("%s: the transaction is still open", what)
					}
					if _, err := s.Get(ctx, key); !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("%s: Get of what it wrote: %v, want ErrNotFound (rolled back)", what, err)
					}
				}
			}
			// The store goes on: a write and a transaction commit.
			if err := s.Set(ctx, "after", 1); err != nil {
				t.Fatal(err)
			}
			tx, err := s.Begin(ctx, storage.TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			must(t, tx.Set(ctx, "after-tx", 1))
			must(t, tx.Commit(ctx))
		})
	}
}
