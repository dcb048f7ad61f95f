package storetest

import (
	"context"

	"github.com/mycelia-kernel/storage"
)

// InTx wraps s so that every data operation (the methods of storage.Ops)
// runs in a transaction of its own: Begin, the operation, then Commit, or
// Rollback when the operation fails. Running the suite on InTx(store)
// checks that the operations behave the same inside transactions as on the
// store. The other methods are s's own.
func InTx(s storage.Store) *TxStore { return &TxStore{Store: s} }

// TxStore is the store InTx returns; Store is the wrapped store.
//
// TxStore is a storage.Indexer: declaring and dropping an index is not an
// operation of storage.Tx (PostgreSQL builds with CREATE INDEX
// CONCURRENTLY, which cannot run in a transaction), so CreateIndex and
// DropIndex run on the wrapped store, and ErrUnsupported when it is not an
// Indexer (the suite's Indexes group then skips). The data operations the
// Indexes group checks, queries on the indexed fields included, run in
// transactions as every other.
type TxStore struct{ storage.Store }

var _ storage.Indexer = (*TxStore)(nil)

// CreateIndex implements storage.Indexer on the wrapped store.
func (s *TxStore) CreateIndex(ctx context.Context, namespace, field string) error {
	ix, ok := s.Store.(storage.Indexer)
	if !ok {
		return storage.ErrUnsupported
	}
	return ix.CreateIndex(ctx, namespace, field)
}

// DropIndex implements storage.Indexer on the wrapped store.
func (s *TxStore) DropIndex(ctx context.Context, namespace, field string) error {
	ix, ok := s.Store.(storage.Indexer)
	if !ok {
		return storage.ErrUnsupported
	}
	return ix.DropIndex(ctx, namespace, field)
}

func inTx[T any](s storage.Store, ctx context.Context, fn func(tx storage.Tx) (T, error)) (T, error) {
	var zero T
	tx, err := s.Begin(ctx, storage.TxOptions{})
	if err != nil {
		return zero, err
	}
	v, err := fn(tx)
	if err != nil {
		_ = tx.Rollback(ctx)
		return v, err
	}
	if err := tx.Commit(ctx); err != nil {
		return zero, err
	}
	return v, nil
}

type none struct{}

func (s *TxStore) Get(ctx context.Context, key string, opts ...storage.Option) (storage.Entry, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.Entry, error) { return tx.Get(ctx, key, opts...) })
}

func (s *TxStore) Set(ctx context.Context, key string, value any, opts ...storage.Option) error {
	_, err := inTx(s.Store, ctx, func(tx storage.Tx) (none, error) { return none{}, tx.Set(ctx, key, value, opts...) })
	return err
}

func (s *TxStore) Delete(ctx context.Context, key string, opts ...storage.Option) error {
	_, err := inTx(s.Store, ctx, func(tx storage.Tx) (none, error) { return none{}, tx.Delete(ctx, key, opts...) })
	return err
}

func (s *TxStore) Has(ctx context.Context, key string, opts ...storage.Option) (bool, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (bool, error) { return tx.Has(ctx, key, opts...) })
}

func (s *TxStore) GetMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.GetManyResult, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.GetManyResult, error) { return tx.GetMany(ctx, keys, opts...) })
}

func (s *TxStore) SetMany(ctx context.Context, items []storage.Item, opts ...storage.Option) (storage.BatchResult, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.BatchResult, error) { return tx.SetMany(ctx, items, opts...) })
}

func (s *TxStore) DeleteMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.BatchResult, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.BatchResult, error) { return tx.DeleteMany(ctx, keys, opts...) })
}

func (s *TxStore) GetMetadata(ctx context.Context, key string, opts ...storage.Option) (storage.Metadata, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.Metadata, error) { return tx.GetMetadata(ctx, key, opts...) })
}

func (s *TxStore) SetMetadata(ctx context.Context, key string, md any, opts ...storage.Option) error {
	_, err := inTx(s.Store, ctx, func(tx storage.Tx) (none, error) { return none{}, tx.SetMetadata(ctx, key, md, opts...) })
	return err
}

func (s *TxStore) Clear(ctx context.Context, opts ...storage.Option) error {
	_, err := inTx(s.Store, ctx, func(tx storage.Tx) (none, error) { return none{}, tx.Clear(ctx, opts...) })
	return err
}

func (s *TxStore) List(ctx context.Context, opts ...storage.Option) (storage.ListResult, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.ListResult, error) { return tx.List(ctx, opts...) })
}

func (s *TxStore) Query(ctx context.Context, f storage.Filter, opts ...storage.Option) (storage.QueryResult, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (storage.QueryResult, error) { return tx.Query(ctx, f, opts...) })
}

func (s *TxStore) Count(ctx context.Context, opts ...storage.Option) (int64, error) {
	return inTx(s.Store, ctx, func(tx storage.Tx) (int64, error) { return tx.Count(ctx, opts...) })
}
