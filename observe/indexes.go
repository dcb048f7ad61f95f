package observe

import (
	"context"

	"github.com/mycelia-kernel/storage"
)

var _ storage.Indexer = (*Store)(nil)

// CreateIndex implements storage.Indexer (ErrUnsupported when the inner
// store cannot index). Namespace: namespace. Rows: 1 on success, else 0.
func (s *Store) CreateIndex(ctx context.Context, namespace, field string) error {
	return s.indexOp(ctx, OpCreateIndex, namespace, func(ctx context.Context, ix storage.Indexer) error {
		return ix.CreateIndex(ctx, namespace, field)
	})
}

// DropIndex implements storage.Indexer. Namespace: namespace. Rows: 1 on
// success, else 0.
func (s *Store) DropIndex(ctx context.Context, namespace, field string) error {
	return s.indexOp(ctx, OpDropIndex, namespace, func(ctx context.Context, ix storage.Indexer) error {
		return ix.DropIndex(ctx, namespace, field)
	})
}

func (s *Store) indexOp(ctx context.Context, op, namespace string, fn func(context.Context, storage.Indexer) error) error {
	return s.run(ctx, op, validNamespace(namespace), nil, "", 1, func(ctx context.Context) error {
		ix, ok := s.inner.(storage.Indexer)
		if !ok {
			return &storage.OpError{Op: op, Namespace: namespace, Err: storage.ErrUnsupported}
		}
		return fn(ctx, ix)
	})
}
