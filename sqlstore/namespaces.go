package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// CreateNamespace implements storage.Store.
func (s *Store) CreateNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	const op = "createNamespace"
	defer s.feed.signal()
	if _, err := s.startWrite(ctx, op, 0, nil); err != nil {
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
	indexes := encodeIndexes(indexTexts(o.Indexes))
	if s.Dialect() == dialect.SQLite || len(o.Indexes) == 0 {
		// One transaction: the namespace and its indexes, or nothing.
		err = s.eng.inTx(ctx, func(q querier) error {
			created, err := q.createNamespace(ctx, ns, md, indexes, s.now())
			if err != nil {
				return err
			}
			if !created {
				return storage.ErrNamespaceExists
			}
			if len(o.Indexes) == 0 {
				return nil
			}
			n, err := q.lockNamespace(ctx, ns.Name)
			if err != nil {
				return err
			}
			return s.sqliteCreateIndexes(ctx, q, n.ID, o.Indexes)
		})
		if err == nil && len(o.Indexes) > 0 {
			err = s.sqliteReloadStats(ctx)
		}
		if err != nil {
			return s.fail(op, name, "", err)
		}
		return nil
	}
	// PostgreSQL builds concurrently, outside a transaction: the namespace
	// first, then its indexes; when a build fails, the namespace is
	// removed again (unless a write has filled it meanwhile: then it stays,
	// without the declared indexes).
	created, err := s.eng.writer().createNamespace(ctx, ns, md, indexes, s.now())
	if err != nil {
		return s.fail(op, name, "", err)
	}
	if !created {
		return s.fail(op, name, "", storage.ErrNamespaceExists)
	}
	id, err := s.readNamespaceID(ctx, ns.Name)
	if err == nil {
		err = s.pgCreateIndexes(ctx, id, o.Indexes)
	}
	if err != nil {
		return s.fail(op, name, "", errors.Join(err, s.undoCreateNamespace(ctx, id)))
	}
	return nil
}

// undoCreateNamespace removes namespace id after its indexes failed to
// build, if it is still empty, and otherwise forgets its declared indexes;
// its indexes are dropped in the background (dropIndexesLater). It runs
// even when ctx has ended, for at most 10 seconds.
func (s *Store) undoCreateNamespace(ctx context.Context, id int64) error {
	if id == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var n int64
	err := s.eng.inTx(ctx, func(q querier) error {
		if err := q.lockRevisions(ctx); err != nil {
			return err
		}
		var err error
		n, err = q.exec(ctx, "DELETE FROM namespaces WHERE id = $1 AND entry_count = 0", id)
		return err
	})
	if err == nil && n == 0 {
		err = s.eng.writer().restoreNamespaceIndexes(ctx, id, encodeIndexes(nil))
	}
	if err == nil {
		err = s.dropNamespaceIndexesLater(ctx, id)
	}
	return err
}

// dropNamespaceIndexesLater drops the indexes of namespace id (PostgreSQL,
// after the namespace or its declarations are gone) in the background.
func (s *Store) dropNamespaceIndexesLater(ctx context.Context, id int64) error {
	names, err := s.physicalIndexes(ctx, s.eng.writer(), nsIndexPrefix(id))
	if err == nil {
		s.dropIndexesLater(names)
	}
	return err
}

// DeleteNamespace implements storage.Store.
func (s *Store) DeleteNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	const op = "deleteNamespace"
	defer s.feed.signal()
	if _, err := s.startWrite(ctx, op, 0, nil); err != nil {
		return err
	}
	if _, err := storage.ParseNamespace(name); err != nil {
		return s.fail(op, name, "", err)
	}
	o, err := storage.ResolveNamespaceOptions(op, opts)
	if err != nil {
		return s.fail(op, name, "", err)
	}
	var id int64
	err = s.yieldingTx(ctx, func(q querier) error {
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
		if _, err = q.deleteNamespace(ctx, n.ID); err != nil {
			return err
		}
		id = n.ID
		if s.Dialect() == dialect.SQLite {
			// With the namespace, in its transaction: SQLite may give
			// its id to the next namespace.
			names, err := s.physicalIndexes(ctx, q, nsIndexPrefix(n.ID))
			if err != nil {
				return err
			}
			for _, ix := range names {
				if _, err := q.exec(ctx, "DROP INDEX IF EXISTS "+ix); err != nil {
					return err
				}
			}
		}
		return nil
	})
	s.nsIDs.forget(name)
	if err != nil {
		return s.fail(op, name, "", err)
	}
	if s.Dialect() == dialect.Postgres && id != 0 {
		// After the commit, concurrently, in the background: DROP INDEX
		// CONCURRENTLY waits for the transactions open on entries.
		// PostgreSQL never reuses an id, so an index a failure leaves
		// behind serves nothing; Open drops it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.dropNamespaceIndexesLater(ctx, id); err != nil {
			return s.fail(op, name, "", err)
		}
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
