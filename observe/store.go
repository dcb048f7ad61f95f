package observe

import (
	"context"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// Store is an observed storage.Store, made by Wrap. It is safe for
// concurrent use when the wrapped store and the hook are.
type Store struct {
	ops
	inner storage.Store
}

var _ storage.Store = (*Store)(nil)

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() storage.Store { return s.inner }

// wrapTx returns tx observed by s's hook.
func (s *Store) wrapTx(tx storage.Tx) *Tx {
	return &Tx{ops: ops{inner: tx, hook: s.hook, txID: tx.ID()}, inner: tx}
}

// validNamespace is name when it is a valid namespace, else "" (the store
// refuses the call then).
func validNamespace(name string) string {
	if _, err := storage.ParseNamespace(name); err != nil {
		return ""
	}
	return name
}

// CreateNamespace implements storage.Store. Namespace: name. Rows: 1 on
// success, else 0.
func (s *Store) CreateNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	return s.run(ctx, OpCreateNamespace, validNamespace(name), nil, "", 1, func(ctx context.Context) error {
		return s.inner.CreateNamespace(ctx, name, opts...)
	})
}

// DeleteNamespace implements storage.Store. Namespace: name. Rows: -1
// (unknown: the entries a Recursive delete removes are not counted) on
// success, else 0.
func (s *Store) DeleteNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	return s.run(ctx, OpDeleteNamespace, validNamespace(name), nil, "", -1, func(ctx context.Context) error {
		return s.inner.DeleteNamespace(ctx, name, opts...)
	})
}

// ListNamespaces implements storage.Store. Rows: the namespaces returned.
func (s *Store) ListNamespaces(ctx context.Context, opts ...storage.Option) ([]storage.Namespace, error) {
	c := s.start(ctx, OpListNamespaces, "", nil, "", 0)
	list, err := s.inner.ListNamespaces(c.ctx, opts...)
	s.end(&c, int64(len(list)), err)
	return list, err
}

// Begin implements storage.Store; the transaction's operations are
// observed too, with Event.TxID set. Rows: 0.
func (s *Store) Begin(ctx context.Context, opts storage.TxOptions) (storage.Tx, error) {
	c := s.start(ctx, OpBegin, "", nil, "", 0)
	tx, err := s.inner.Begin(c.ctx, opts)
	if err != nil {
		s.end(&c, 0, err)
		return nil, err
	}
	c.ev.TxID = tx.ID()
	s.end(&c, 0, nil)
	return s.wrapTx(tx), nil
}

// LookupTx implements storage.Store. It has no context, so it is not
// reported; the transaction it returns is observed.
func (s *Store) LookupTx(id string) (storage.Tx, error) {
	tx, err := s.inner.LookupTx(id)
	if err != nil {
		return nil, err
	}
	return s.wrapTx(tx), nil
}

// Status implements storage.Store. Rows: 0.
func (s *Store) Status(ctx context.Context) (storage.Status, error) {
	c := s.start(ctx, OpStatus, "", nil, "", 0)
	st, err := s.inner.Status(c.ctx)
	s.end(&c, 0, err)
	return st, err
}

// Capabilities implements storage.Store; it is not reported.
func (s *Store) Capabilities() storage.Capabilities { return s.inner.Capabilities() }

// Close implements storage.Store; it is not reported.
func (s *Store) Close() error { return s.inner.Close() }

// Tx is an observed storage.Tx, returned by Store.Begin and Store.LookupTx.
type Tx struct {
	ops
	inner storage.Tx
}

var _ storage.Tx = (*Tx)(nil)

// Unwrap returns the wrapped transaction.
func (t *Tx) Unwrap() storage.Tx { return t.inner }

// ID implements storage.Tx.
func (t *Tx) ID() string { return t.inner.ID() }

// Isolation implements storage.Tx.
func (t *Tx) Isolation() storage.IsolationLevel { return t.inner.Isolation() }

// ReadOnly implements storage.Tx.
func (t *Tx) ReadOnly() bool { return t.inner.ReadOnly() }

// Commit implements storage.Tx. Rows: 0.
func (t *Tx) Commit(ctx context.Context) error {
	return t.run(ctx, OpCommit, "", nil, "", 0, t.inner.Commit)
}

// Rollback implements storage.Tx. Rows: 0.
func (t *Tx) Rollback(ctx context.Context) error {
	return t.run(ctx, OpRollback, "", nil, "", 0, t.inner.Rollback)
}

var _ driver.ProtectedClearer = (*Store)(nil)

// ClearUnless implements driver.ProtectedClearer, observed as a Clear of
// ns. When the inner store is not a driver.ProtectedClearer it returns an
// error wrapping storage.ErrUnsupported at once, unobserved (nothing was
// asked of the inner store). Rows: -1 (unknown) on success, else 0.
func (s *Store) ClearUnless(ctx context.Context, ns string, protected []storage.KeyRange) error {
	pc, ok := s.inner.(driver.ProtectedClearer)
	if !ok {
		return &storage.OpError{Op: OpClear, Namespace: ns, Err: storage.ErrUnsupported}
	}
	return s.run(ctx, OpClear, "", []storage.Option{storage.InNamespace(ns)}, "", -1, func(ctx context.Context) error {
		return pc.ClearUnless(ctx, ns, protected)
	})
}

// DeleteNamespaceUnless implements driver.ProtectedClearer, observed as a
// DeleteNamespace; unsupported as ClearUnless. Namespace: name. Rows: -1
// (unknown) on success, else 0.
func (s *Store) DeleteNamespaceUnless(ctx context.Context, name string, protected []storage.KeyRange, opts ...storage.NamespaceOption) error {
	pc, ok := s.inner.(driver.ProtectedClearer)
	if !ok {
		return &storage.OpError{Op: OpDeleteNamespace, Namespace: name, Err: storage.ErrUnsupported}
	}
	return s.run(ctx, OpDeleteNamespace, validNamespace(name), nil, "", -1, func(ctx context.Context) error {
		return pc.DeleteNamespaceUnless(ctx, name, protected, opts...)
	})
}
