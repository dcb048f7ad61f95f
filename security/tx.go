package security

import (
	"context"

	"github.com/mycelia-kernel/storage"
)

// Tx is a transaction begun through an authorizing Store. It is bound to
// the principal that began it: a call from any other principal (or from no
// principal, for a transaction a named principal began) is denied before
// anything reaches the database, so a denial never aborts the
// transaction. Inside it the store's rules apply unchanged.
type Tx struct {
	inner storage.Tx
	store *Store
	owner string // public key of the principal that began it, "" anonymous
	rec   *txRecord
}

var _ storage.Tx = (*Tx)(nil)

func (t *Tx) guard(ctx context.Context, op string) (guard, context.Context, error) {
	sub, ctx, err := t.store.subject(ctx, op)
	if err != nil {
		return guard{}, ctx, err
	}
	if sub.pk != t.owner {
		return guard{}, ctx, opErr(op, "", "", storage.ErrPermissionDenied)
	}
	return guard{ops: t.inner, sub: sub, store: t.store, inTx: true, tx: &t.rec.entries}, ctx, nil
}

// Authorize reports whether the principal of ctx may use the transaction:
// nil for the principal that began it, else the same ErrPermissionDenied
// (or ErrUnauthenticated) every other call on it gets. ID, Isolation and
// ReadOnly take no context and so cannot check; a server that reports
// them (routes' lookupTransaction) calls Authorize first.
func (t *Tx) Authorize(ctx context.Context) error {
	_, _, err := t.guard(ctx, "lookupTransaction")
	return err
}

// ID implements storage.Tx.
func (t *Tx) ID() string { return t.inner.ID() }

// Isolation implements storage.Tx.
func (t *Tx) Isolation() storage.IsolationLevel { return t.inner.Isolation() }

// ReadOnly implements storage.Tx.
func (t *Tx) ReadOnly() bool { return t.inner.ReadOnly() }

// Commit implements storage.Tx; only the principal that began the
// transaction may commit it.
func (t *Tx) Commit(ctx context.Context) error {
	_, ctx, err := t.guard(ctx, "commit")
	if err != nil {
		return err
	}
	err = t.inner.Commit(ctx)
	t.store.forgetTx(t.inner.ID())
	return err
}

// Rollback implements storage.Tx; only the principal that began the
// transaction may roll it back.
func (t *Tx) Rollback(ctx context.Context) error {
	_, ctx, err := t.guard(ctx, "rollback")
	if err != nil {
		return err
	}
	err = t.inner.Rollback(ctx)
	t.store.forgetTx(t.inner.ID())
	return err
}

// Get implements storage.Tx.
func (t *Tx) Get(ctx context.Context, key string, opts ...storage.Option) (storage.Entry, error) {
	g, ctx, err := t.guard(ctx, "get")
	if err != nil {
		return storage.Entry{}, err
	}
	return g.Get(ctx, key, opts)
}

// Set implements storage.Tx.
func (t *Tx) Set(ctx context.Context, key string, value any, opts ...storage.Option) error {
	g, ctx, err := t.guard(ctx, "set")
	if err != nil {
		return err
	}
	return g.Set(ctx, key, value, opts)
}

// Delete implements storage.Tx.
func (t *Tx) Delete(ctx context.Context, key string, opts ...storage.Option) error {
	g, ctx, err := t.guard(ctx, "delete")
	if err != nil {
		return err
	}
	return g.Delete(ctx, key, opts)
}

// Has implements storage.Tx.
func (t *Tx) Has(ctx context.Context, key string, opts ...storage.Option) (bool, error) {
	g, ctx, err := t.guard(ctx, "has")
	if err != nil {
		return false, err
	}
	return g.Has(ctx, key, opts)
}

// GetMany implements storage.Tx.
func (t *Tx) GetMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.GetManyResult, error) {
	g, ctx, err := t.guard(ctx, "getMany")
	if err != nil {
		return storage.GetManyResult{}, err
	}
	return g.GetMany(ctx, keys, opts)
}

// SetMany implements storage.Tx.
func (t *Tx) SetMany(ctx context.Context, items []storage.Item, opts ...storage.Option) (storage.BatchResult, error) {
	g, ctx, err := t.guard(ctx, "setMany")
	if err != nil {
		return storage.BatchResult{}, err
	}
	return g.SetMany(ctx, items, opts)
}

// DeleteMany implements storage.Tx.
func (t *Tx) DeleteMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.BatchResult, error) {
	g, ctx, err := t.guard(ctx, "deleteMany")
	if err != nil {
		return storage.BatchResult{}, err
	}
	return g.DeleteMany(ctx, keys, opts)
}

// GetMetadata implements storage.Tx.
func (t *Tx) GetMetadata(ctx context.Context, key string, opts ...storage.Option) (storage.Metadata, error) {
	g, ctx, err := t.guard(ctx, "getMetadata")
	if err != nil {
		return storage.Metadata{}, err
	}
	return g.GetMetadata(ctx, key, opts)
}

// SetMetadata implements storage.Tx.
func (t *Tx) SetMetadata(ctx context.Context, key string, md any, opts ...storage.Option) error {
	g, ctx, err := t.guard(ctx, "setMetadata")
	if err != nil {
		return err
	}
	return g.SetMetadata(ctx, key, md, opts)
}

// Clear implements storage.Tx.
func (t *Tx) Clear(ctx context.Context, opts ...storage.Option) error {
	g, ctx, err := t.guard(ctx, "clear")
	if err != nil {
		return err
	}
	return g.Clear(ctx, opts)
}

// List implements storage.Tx.
func (t *Tx) List(ctx context.Context, opts ...storage.Option) (storage.ListResult, error) {
	g, ctx, err := t.guard(ctx, "list")
	if err != nil {
		return storage.ListResult{}, err
	}
	return g.List(ctx, opts)
}

// Query implements storage.Tx.
func (t *Tx) Query(ctx context.Context, f storage.Filter, opts ...storage.Option) (storage.QueryResult, error) {
	g, ctx, err := t.guard(ctx, "query")
	if err != nil {
		return storage.QueryResult{}, err
	}
	return g.Query(ctx, f, opts)
}

// Count implements storage.Tx.
func (t *Tx) Count(ctx context.Context, opts ...storage.Option) (int64, error) {
	g, ctx, err := t.guard(ctx, "count")
	if err != nil {
		return 0, err
	}
	return g.Count(ctx, opts)
}
