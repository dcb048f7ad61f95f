package sqlstore

import (
	"context"
	"errors"
	"slices"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

var _ storage.Indexer = (*Store)(nil)

// CreateIndex implements storage.Indexer. The declaration, the field's
// index_fields row and its index_entries rows are written in one
// transaction that holds the namespace's row: concurrent writes to the
// namespace are indexed either by their trigger or by the fill; writes to
// other namespaces go on.
func (s *Store) CreateIndex(ctx context.Context, namespace, field string) error {
	const op = "createIndex"
	if err := s.writable(op, namespace); err != nil {
		return err
	}
	fields, err := s.indexArgs(ctx, op, namespace, field)
	if err != nil {
		return err
	}
	f := fields[0]
	err = s.yieldingTx(ctx, func(q querier) error {
		cur, err := s.declaredIn(ctx, q, namespace)
		if err != nil {
			return err
		}
		if slices.Contains(cur.Indexes, f.Text) {
			return storage.ErrIndexExists
		}
		if len(cur.Indexes) >= storage.MaxIndexes {
			return driver.Invalidf(storage.ErrInvalidOption, "the namespace declares %d indexes, the maximum", storage.MaxIndexes)
		}
		if err := q.restoreNamespaceIndexes(ctx, cur.ID, encodeIndexes(append(cur.Indexes, f.Text))); err != nil {
			return err
		}
		return s.addIndexFields(ctx, q, cur.ID, fields)
	})
	s.nsIDs.forget(namespace)
	if err != nil {
		return s.fail(op, namespace, "", err)
	}
	return nil
}

// DropIndex implements storage.Indexer: the declaration, the field's row
// and its index_entries rows go in one transaction.
func (s *Store) DropIndex(ctx context.Context, namespace, field string) error {
	const op = "dropIndex"
	if err := s.writable(op, namespace); err != nil {
		return err
	}
	fields, err := s.indexArgs(ctx, op, namespace, field)
	if err != nil {
		return err
	}
	err = s.yieldingTx(ctx, func(q querier) error {
		cur, err := s.declaredIn(ctx, q, namespace)
		if err != nil {
			return err
		}
		if !slices.Contains(cur.Indexes, fields[0].Text) {
			return storage.ErrIndexNotFound
		}
		if err := q.restoreNamespaceIndexes(ctx, cur.ID, encodeIndexes(slices.DeleteFunc(cur.Indexes,
			func(t string) bool { return t == fields[0].Text }))); err != nil {
			return err
		}
		return s.dropIndexField(ctx, q, cur.ID, fields[0].Text)
	})
	s.nsIDs.forget(namespace)
	if err != nil {
		return s.fail(op, namespace, "", err)
	}
	return nil
}

// indexArgs starts operation op and validates its namespace and field,
// returned as a one-element slice.
func (s *Store) indexArgs(ctx context.Context, op, namespace, field string) ([]driver.Field, error) {
	if _, err := s.startWrite(ctx, op, 0, nil); err != nil {
		return nil, err
	}
	if _, err := storage.ParseNamespace(namespace); err != nil {
		return nil, s.fail(op, namespace, "", err)
	}
	fields, err := parseIndexes([]string{field})
	if err != nil {
		return nil, s.fail(op, namespace, "", err)
	}
	return fields, nil
}

// declaredIn locks namespace (in q's transaction) and reads its id and
// declared fields. ErrNamespaceNotFound when it is missing.
func (s *Store) declaredIn(ctx context.Context, q querier, namespace string) (nsDump, error) {
	if _, err := q.lockNamespace(ctx, namespace); errors.Is(err, errNoRow) {
		return nsDump{}, storage.ErrNamespaceNotFound
	} else if err != nil {
		return nsDump{}, err
	}
	return q.dumpNamespace(ctx, namespace)
}
