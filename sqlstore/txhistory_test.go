package sqlstore

import (
	"context"
	"errors"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestTxHistoryIsAnOperation: History inside a transaction is one of its
// operations like Get: a context that ended rolls the transaction back
// (Commit is then ErrTxDone), as it does for every other operation. It
// used to run beside the transaction's lock: on PostgreSQL a context
// that ended mid-History closed the connection under an open
// transaction, whose Rollback then answered ErrUnavailable although the
// server was up (TestChaos), and a History beside another operation of
// the transaction shared its connection.
func TestTxHistoryIsAnOperation(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t))
			defer s.Close()
			bg := context.Background()
			in := storage.InNamespace("h")
			if err := s.Set(bg, "k", 1, in); err != nil {
				t.Fatal(err)
			}
			tx, err := s.Begin(bg, storage.TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Set(bg, "k", 2, in); err != nil {
				t.Fatal(err)
			}
			evs, err := tx.(storage.Historian).History(bg, "k", in)
			if err != nil || len(evs) == 0 {
				t.Fatalf("History in the transaction: %d events, %v", len(evs), err)
			}
			done, cancel := context.WithCancel(bg)
			cancel()
			if _, err := tx.(storage.Historian).History(done, "k", in); !errors.Is(err, context.Canceled) {
				t.Fatalf("History with a cancelled context: %v", err)
			}
			if err := tx.Commit(bg); !errors.Is(err, storage.ErrTxDone) {
				t.Errorf("Commit after History's context ended: %v, want ErrTxDone (rolled back, as after Get's)", err)
			}
			if e, err := s.Get(bg, "k", in); err != nil || string(e.Value) != "1" {
				t.Errorf("after the rollback: %s, %v; want 1", e.Value, err)
			}
			if n := s.OpenTransactions(); n != 0 {
				t.Errorf("%d transactions open", n)
			}
		})
	}
}
