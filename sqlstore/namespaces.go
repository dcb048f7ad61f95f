package sqlstore

import (
	"context"
	"errors"

	"github.com/mycelia-kernel/storage"
)

// CreateNamespace implements storage.Store.
func (s *Store) CreateNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	const op = "createNamespace"
	if _, err := s.start(ctx, op, 0, nil); err != nil {
		return err
	}
	ns, err := storage.ParseNamespace(name)
	if err != nil {
		return s.fail(op, name, "", err)
	}
	o, err := storage.ResolveNamespaceOptions(op, opts)
	if err != nil {
		return s.fail(op, name, "", err)
	}
	md := o.Metadata
	if md == nil {
		md = []byte("{}")
	}
	created, err := s.eng.writer().createNamespace(ctx, ns, md, encodeIndexes(indexTexts(o.Indexes)), s.now())
	if err != nil {
		return s.fail(op, name, "", err)
	}
	if !created {
		return s.fail(op, name, "", storage.ErrNamespaceExists)
	}
	if len(o.Indexes) > 0 {
		if err := s.createIndexes(ctx, o.Indexes); err != nil {
			return s.fail(op, name, "", err)
		}
	}
	return nil
}

// DeleteNamespace implements storage.Store.
func (s *Store) DeleteNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	const op = "deleteNamespace"
	if _, err := s.start(ctx, op, 0, nil); err != nil {
		return err
	}
	if _, err := storage.ParseNamespace(name); err != nil {
		return s.fail(op, name, "", err)
	}
	o, err := storage.ResolveNamespaceOptions(op, opts)
	if err != nil {
		return s.fail(op, name, "", err)
	}
	err = s.eng.inTx(ctx, func(q querier) error {
		n, err := q.lockNamespace(ctx, name)
		if errors.Is(err, errNoRow) {
			return storage.ErrNamespaceNotFound
		}
		if err != nil {
			return err
		}
		if n.EntryCount > 0 {
			// entry_count counts the expired rows not yet swept too.
			expired, err := q.expiredIn(ctx, n.ID, s.now())
			if err != nil {
				return err
			}
			if !o.Recursive && n.EntryCount > expired {
				return storage.ErrNamespaceNotEmpty
			}
			if _, err := q.deleteNamespaceEntries(ctx, n.ID); err != nil {
				return err
			}
		}
		_, err = q.deleteNamespace(ctx, n.ID)
		return err
	})
	if err != nil {
		return s.fail(op, name, "", err)
	}
	return nil
}

// ListNamespaces implements storage.Store.
func (s *Store) ListNamespaces(ctx context.Context) ([]storage.Namespace, error) {
	const op = "listNamespaces"
	if _, err := s.start(ctx, op, 0, nil); err != nil {
		return nil, err
	}
	list, err := s.eng.reader().listNamespaces(ctx)
	if err != nil {
		return nil, s.fail(op, "", "", err)
	}
	return list, nil
}
