package routes_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
)

// leavingStore is a store whose Begin succeeds as the caller leaves: it
// cancels the request's context once the transaction has begun.
type leavingStore struct {
	storage.Store
	cancel context.CancelFunc
}

func (s leavingStore) Begin(ctx context.Context, opts storage.TxOptions) (storage.Tx, error) {
	tx, err := s.Store.Begin(ctx, opts)
	s.cancel()
	return tx, err
}

// TestBeginCallerLeft: a beginTransaction whose caller left (its request's
// context ended) while the transaction began answers canceled and rolls
// the transaction back. Before, it answered the transaction's ID to nobody
// and the transaction stayed open until its idle timeout (a minute by
// default), on SQLite holding the one writer if it wrote; TestWireChaos
// found them after clients' Begin calls timed out.
func TestBeginCallerLeft(t *testing.T) {
	_, s := newMux(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	m := routes.NewMux()
	routes.Register(m, leavingStore{Store: s, cancel: cancel})
	out, err := m.Call(ctx, routes.RouteBeginTransaction, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Error *struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(out, &v); err != nil || v.Error == nil || v.Error.Code != routes.CodeCanceled {
		t.Errorf("beginTransaction whose caller left: %s, want code %s", out, routes.CodeCanceled)
	}
	if n := s.OpenTransactions(); n != 0 {
		t.Errorf("%d transactions left open", n)
	}
}
