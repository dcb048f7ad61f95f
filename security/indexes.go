package security

import (
	"context"

	"github.com/mycelia-kernel/storage"
)

var _ storage.Indexer = (*Store)(nil)

// CreateIndex implements storage.Indexer: it needs write on the namespace
// (as CreateNamespace with WithIndexes does), and ErrUnsupported when the
// inner store cannot index. The number of indexes per namespace is bounded
// by storage.MaxIndexes.
func (s *Store) CreateIndex(ctx context.Context, namespace, field string) error {
	return s.indexOp(ctx, "createIndex", namespace, func(ctx context.Context, ix storage.Indexer) error {
		return ix.CreateIndex(ctx, namespace, field)
	})
}

// DropIndex implements storage.Indexer: it needs write on the namespace.
func (s *Store) DropIndex(ctx context.Context, namespace, field string) error {
	return s.indexOp(ctx, "dropIndex", namespace, func(ctx context.Context, ix storage.Indexer) error {
		return ix.DropIndex(ctx, namespace, field)
	})
}

func (s *Store) indexOp(ctx context.Context, op, namespace string, fn func(context.Context, storage.Indexer) error) error {
	sub, ctx, err := s.subject(ctx, op)
	if err != nil {
		return err
	}
	ns, err := storage.ParseNamespace(namespace)
	if err != nil {
		return opErr(op, "", "", err)
	}
	if !sub.namespace(ns).Has(Write) {
		return denied(op, namespace, "")
	}
	ix, ok := s.inner.(storage.Indexer)
	if !ok {
		return opErr(op, namespace, "", storage.ErrUnsupported)
	}
	return fn(ctx, ix)
}
