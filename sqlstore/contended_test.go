package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestTxContendedIdle: a read-write transaction that holds SQLite's
// writer, or PostgreSQL's revision lock, and runs nothing keeps every
// other writer of the store waiting until its idle timeout (a minute by
// default): one principal over the wire could stall every other's writes.
// With WithTxContendedIdleTimeout it is rolled back once it has been idle
// that long while another writer waits, and that writer goes on; a
// transaction idle with no writer waiting is left alone.
func TestTxContendedIdle(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			begin := func(s *Store) storage.Tx {
				t.Helper()
				tx, err := s.Begin(ctx, storage.TxOptions{})
				if err != nil {
					t.Fatal(err)
				}
				// PostgreSQL takes the revision lock at the first write.
				if err := tx.Set(ctx, "held", 1, storage.InNamespace("a")); err != nil {
					t.Fatal(err)
				}
				return tx
			}
			// Without it, the other writer waits as long as the transaction idles.
			plain := openTest(t, c.dsn(t))
			defer plain.Close()
			tx := begin(plain)
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			err := plain.Set(wctx, "k", 1, storage.InNamespace("b"))
			cancel()
			if err == nil {
				t.Fatalf("a write beside an idle write transaction did not wait")
			}
			_ = tx.Rollback(ctx)

			s := openTest(t, c.dsn(t), WithTxContendedIdleTimeout(300*time.Millisecond))
			defer s.Close()
			// Idle, nobody waiting: left alone.
			tx = begin(s)
			time.Sleep(time.Second)
			if _, err := tx.Get(ctx, "held", storage.InNamespace("a")); err != nil {
				t.Fatalf("an idle transaction no writer waited for: %v", err)
			}
			// Idle while another writer waits: rolled back, the writer goes on.
			start := time.Now()
			wctx, cancel = context.WithTimeout(ctx, 20*time.Second)
			err = s.Set(wctx, "k", 1, storage.InNamespace("b"))
			cancel()
			if err != nil {
				t.Fatalf("the waiting write: %v after %v", err, time.Since(start))
			}
			t.Logf("the waiting write took %v", time.Since(start))
			if _, err := tx.Get(ctx, "held", storage.InNamespace("a")); !errors.Is(err, storage.ErrTxDone) {
				t.Fatalf("the idle transaction after it blocked a writer: %v, want ErrTxDone", err)
			}
			if _, err := s.Get(ctx, "held", storage.InNamespace("a")); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("the rolled back write: %v, want ErrNotFound", err)
			}
		})
	}
}
