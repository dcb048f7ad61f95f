package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// serveThrough serves a fresh SQLite store to a client whose transport is
// wrap of the server's.
func serveThrough(t *testing.T, wrap func(client.Transport) client.Transport) (*sqlstore.Store, *client.Store) {
	t.Helper()
	inner, err := sqlstore.Open(t.Context(), "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inner.Close() })
	mux, _ := serve(t, inner)
	c, err := client.New(t.Context(), wrap(mux))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return inner, c
}

// slowAnswer is a transport whose answers to beginTransaction come back
// late: the server has begun the transaction, its answer is on the way
// (a slow network, a loaded proxy). A call whose context ends meanwhile
// gets its context's error, as an HTTP transport's would.
type slowAnswer struct{ client.Transport }

func (s slowAnswer) Call(ctx context.Context, route string, body []byte) ([]byte, error) {
	out, err := s.Transport.Call(ctx, route, body)
	if route == routes.RouteBeginTransaction {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return out, err
}

// TestBeginCallerLeftRolledBack: a Begin whose caller leaves while the
// server's answer is on the way returns its context's error, and the
// transaction the server began is rolled back once the answer comes.
// Before, the client dropped the answer with the transaction's ID, and
// the transaction stayed open on the server until its idle timeout (a
// minute by default), on SQLite holding the one writer if it wrote.
func TestBeginCallerLeftRolledBack(t *testing.T) {
	inner, c := serveThrough(t, func(m client.Transport) client.Transport { return slowAnswer{m} })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Begin(ctx, storage.TxOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Begin whose caller left: %v, want its context's error", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for inner.OpenTransactions() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := inner.OpenTransactions(); n != 0 {
		t.Errorf("%d transactions left open on the server", n)
	}
	// A Begin whose answer comes in time is as before.
	tx, err := c.Begin(t.Context(), storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Set(t.Context(), "k", 1); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// lostCommit is a transport whose commits never reach the server: a call
// waits for its context to end (a network that swallows the message).
type lostCommit struct{ client.Transport }

func (l lostCommit) Call(ctx context.Context, route string, body []byte) ([]byte, error) {
	if route == routes.RouteCommit {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return l.Transport.Call(ctx, route, body)
}

// TestCommitCallerLeftRolledBack: a Commit whose caller leaves before the
// message reached the server returns its context's error and rolls the
// transaction back on the server (as an operation whose context ended
// does). Before, the client forgot the transaction and the server kept it
// open until its idle timeout.
func TestCommitCallerLeftRolledBack(t *testing.T) {
	inner, c := serveThrough(t, func(m client.Transport) client.Transport { return lostCommit{m} })
	tx, err := c.Begin(t.Context(), storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Set(t.Context(), "k", 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := tx.Commit(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Commit whose caller left: %v, want its context's error", err)
	}
	if n := inner.OpenTransactions(); n != 0 {
		t.Errorf("%d transactions left open on the server", n)
	}
	if _, err := inner.Get(t.Context(), "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get after the rollback: %v, want ErrNotFound", err)
	}
}
