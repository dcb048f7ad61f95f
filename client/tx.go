package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
)

// Tx is a transaction on the server, driven by messages that carry its ID.
// Its operations run one at a time, like those of the server's Tx.
type Tx struct {
	ops
	s   *Store
	id  string
	iso storage.IsolationLevel
	ro  bool

	mu        sync.Mutex // serializes operations; protects done and committed
	done      bool
	committed bool
}

// ID implements storage.Tx.
func (t *Tx) ID() string { return t.id }

// Isolation implements storage.Tx: the level the server reported.
func (t *Tx) Isolation() storage.IsolationLevel { return t.iso }

// ReadOnly implements storage.Tx.
func (t *Tx) ReadOnly() bool { return t.ro }

// finishLocked marks the transaction ended. t.mu must be held.
func (t *Tx) finishLocked() {
	t.done = true
	t.s.forget(t.id)
}

// abandonTimeout bounds the rollback sent for a transaction whose
// operation's context ended.
const abandonTimeout = 5 * time.Second

// abandonLocked ends the transaction after an operation whose context
// ended, as the server does, and tells the server in case the message never
// reached it. t.mu must be held.
func (t *Tx) abandonLocked(ctx context.Context) {
	if t.done {
		return
	}
	t.finishLocked()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abandonTimeout)
	defer cancel()
	_ = t.end(rctx, routes.RouteRollback)
}

// end sends the message that ends the transaction: route is
// storage://commit or storage://rollback.
func (t *Tx) end(ctx context.Context, route string) error {
	id := t.id
	return t.s.call(ctx, route, routes.TxRequest{TransactionID: &id}, &routes.Envelope{})
}

// Commit implements storage.Tx: storage://commit. Committing again after a
// successful commit returns nil; after a rollback, ErrTxDone. A transport
// failure while committing is storage.ErrCommitUnknown (wrapping the
// transport's error): the commit may or may not have happened.
func (t *Tx) Commit(ctx context.Context) error {
	const op = "commit"
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		if t.committed {
			return nil
		}
		return &storage.OpError{Op: op, Err: storage.ErrTxDone}
	}
	if err := t.s.usable(op); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		t.abandonLocked(ctx)
		return &storage.OpError{Op: op, Err: err}
	}
	err := t.end(ctx, routes.RouteCommit)
	var te *TransportError
	if errors.As(err, &te) && ctx.Err() != nil {
		// The caller left with the commit on the way: it may never
		// have reached the server, which would keep the transaction
		// until its idle timeout. Its outcome stays unknown to the
		// caller (its context's error).
		t.abandonLocked(ctx)
	}
	t.finishLocked()
	switch {
	case err == nil:
		t.committed = true
		return nil
	case errors.As(err, &te):
		// ErrCommitUnknown, or ErrUnavailable when the commit was never
		// sent (the server rolls the transaction back when it idles).
		return &storage.OpError{Op: op, Err: te}
	case routes.CodeOf(err) == routes.CodeTxNotFound:
		return &storage.OpError{Op: op, Err: storage.ErrTxDone}
	}
	return err
}

// Rollback implements storage.Tx: storage://rollback. It is safe after
// Commit and safe to call twice; a transaction the server no longer knows
// is already rolled back.
func (t *Tx) Rollback(ctx context.Context) error {
	const op = "rollback"
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil
	}
	err := t.end(ctx, routes.RouteRollback)
	t.finishLocked()
	if err != nil && routes.CodeOf(err) != routes.CodeTxNotFound {
		var oe *storage.OpError
		if errors.As(err, &oe) {
			return err
		}
		return &storage.OpError{Op: op, Err: err}
	}
	return nil
}
