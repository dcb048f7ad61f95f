package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestWritesBesideBusyReaders: with every SQLite reader held by reads that
// last (scans, watches, read-only transactions, up to their timeouts),
// every write, the point reads and the engine's own work (Status, Sweep,
// Compact, index builds) go on without waiting for a reader: they run on
// the writer or on the point reads' lane. Queries, lists, History, Get at
// a past revision and watches read on the readers, and wait.
func TestWritesBesideBusyReaders(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, "sqlite:"+t.TempDir()+"/busy.db?readers=4", WithRetention(Retention{Changes: 1000}))
	defer s.Close()
	must(t, s.CreateNamespace(ctx, "ix", storage.WithIndexes("n")))
	for i := range 50 {
		must(t, s.Set(ctx, string(rune('a'+i%26))+string(rune('a'+i/26)), map[string]any{"n": i}, storage.InNamespace("ix")))
	}
	must(t, s.Set(ctx, "k", 1))
	e := s.eng.(*sqliteEngine)
	ops := busyOps(t, s)
	for _, o := range ops {
		release := holdConns(t, e.r, 4)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		start := time.Now()
		err := o.fn(cctx)
		d := time.Since(start)
		cancel()
		release()
		if err != nil || d > time.Second {
			t.Errorf("%s with every reader in use: %v after %v; want it served without a reader", o.name, err, d)
		}
	}
}

// busyOp is an operation run while the connections long reads use are
// held.
type busyOp struct {
	name string
	fn   func(ctx context.Context) error
}

// busyOps are the operations that must go on while every connection the
// reads that last use is held: the writes, the point reads and the
// engine's own work, on s, whose namespace "ix" indexes n and holds a,
// b and others, and whose key k exists.
func busyOps(t *testing.T, s *Store) []busyOp {
	return []busyOp{
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, "k"); return err }},
		{"Set", func(ctx context.Context) error { return s.Set(ctx, "k", 2) }},
		{"SetNewNs", func(ctx context.Context) error { return s.Set(ctx, "k", 2, storage.InNamespace("fresh")) }},
		{"SetIx", func(ctx context.Context) error {
			return s.Set(ctx, "zz", map[string]any{"n": 3}, storage.InNamespace("ix"))
		}},
		{"SetMany", func(ctx context.Context) error {
			_, err := s.SetMany(ctx, []storage.Item{{Key: "a", Value: 1}, {Key: "b", Value: 2}})
			return err
		}},
		{"DeleteMany", func(ctx context.Context) error { _, err := s.DeleteMany(ctx, []string{"a", "b"}); return err }},
		{"Delete", func(ctx context.Context) error { return s.Delete(ctx, "k") }},
		{"SetMetadata", func(ctx context.Context) error {
			must(t, s.Set(ctx, "k", 1))
			return s.SetMetadata(ctx, "k", map[string]any{"x": 1})
		}},
		{"CreateNamespace", func(ctx context.Context) error { return s.CreateNamespace(ctx, "n2") }},
		{"CreateIndex", func(ctx context.Context) error { return s.CreateIndex(ctx, "ix", "m") }},
		{"DropIndex", func(ctx context.Context) error { return s.DropIndex(ctx, "ix", "m") }},
		{"Clear", func(ctx context.Context) error { return s.Clear(ctx, storage.InNamespace("n2")) }},
		{"DeleteNamespace", func(ctx context.Context) error { return s.DeleteNamespace(ctx, "n2") }},
		{"TxRW", func(ctx context.Context) error {
			tx, err := s.Begin(ctx, storage.TxOptions{})
			if err != nil {
				return err
			}
			if _, err := tx.Get(ctx, "k"); err != nil {
				return err
			}
			if err := tx.Set(ctx, "k", 5); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}},
		{"Status", func(ctx context.Context) error { _, err := s.Status(ctx); return err }},
		{"GetMetadata", func(ctx context.Context) error { _, err := s.GetMetadata(ctx, "k"); return err }},
		{"Has", func(ctx context.Context) error { _, err := s.Has(ctx, "k"); return err }},
		{"GetMany", func(ctx context.Context) error { _, err := s.GetMany(ctx, []string{"k", "a"}); return err }},
		{"Sweep", func(ctx context.Context) error { _, err := s.Sweep(ctx); return err }},
		{"Compact", func(ctx context.Context) error { _, err := s.Compact(ctx); return err }},
	}
}
