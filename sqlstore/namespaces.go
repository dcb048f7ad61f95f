package sqlstore

import (
	"context"
	"errors"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// CreateNamespace implements storage.Store.
func (s *Store) CreateNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	const op = "createNamespace"
	defer s.feed.signalIn(name)
	if _, err := s.startWrite(ctx, op, "", 0, nil); err != nil {
		return err
	}
	ns, err := storage.ParseNamespace(name)
	if err != nil {
		return s.failCtx(ctx, op, name, "", err)
	}
	o, err := driver.ResolveNamespaceOptions(op, opts)
	if err != nil {
		return s.failCtx(ctx, op, name, "", err)
	}
	md := o.Metadata
	if md == nil {
		md = []byte("{}")
	}
	indexes := encodeIndexes(indexTexts(o.Indexes))
	// One transaction: the namespace and its indexes, or nothing.
	err = s.yieldingTx(ctx, func(q querier) error {
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
		return s.addIndexFields(ctx, q, n.ID, o.Indexes)
	})
	s.nsIDs.forget(ns.Name)
	if err != nil {
		return s.failCtx(ctx, op, name, "", err)
	}
	return nil
}

// DeleteNamespace implements storage.Store.
func (s *Store) DeleteNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	return s.deleteNamespace(ctx, name, opts, nil)
}

// deleteNamespace is DeleteNamespace, refused with driver.ErrProtected
// when the namespace holds a live entry in one of the ranges protected
// (none: no check; see DeleteNamespaceUnless).
func (s *Store) deleteNamespace(ctx context.Context, name string, opts []storage.NamespaceOption, protected []storage.KeyRange) error {
	const op = "deleteNamespace"
	defer s.feed.signalIn(name)
	if _, err := s.startWrite(ctx, op, "", 0, nil); err != nil {
		return err
	}
	if _, err := storage.ParseNamespace(name); err != nil {
		return s.failCtx(ctx, op, name, "", err)
	}
	o, err := driver.ResolveNamespaceOptions(op, opts)
	if err != nil {
		return s.failCtx(ctx, op, name, "", err)
	}
	unlinked := false
	err = s.yieldingTx(ctx, func(q querier) error {
		unlinked = false
		n, err := q.lockNamespace(ctx, name)
		if errors.Is(err, errNoRow) {
			return storage.ErrNamespaceNotFound
		}
		if err != nil {
			return err
		}
		if n.EntryCount > 0 {
			// The namespace's row is locked (on PostgreSQL after the
			// revision lock): no write to it commits before this one.
			if err := s.refuseProtected(ctx, q, name, protected, s.now()); err != nil {
				return err
			}
			// entry_count counts the expired rows not yet swept too.
			expired, err := q.expiredIn(ctx, n.ID, s.now())
			if err != nil {
				return err
			}
			if !o.Recursive && n.EntryCount > expired {
				return storage.ErrNamespaceNotEmpty
			}
			// The purger deletes its entries and index rows
			// (unlink.go).
			unlinked = true
			unlink := func() error { return unlinkSQLite(ctx, q, n.ID, name, false, s.now()) }
			if s.Dialect() == dialect.Postgres {
				unlink = func() error { return unlinkPostgres(ctx, q, n.ID, name, s.now()) }
			}
			if err := unlink(); err != nil {
				return err
			}
			if _, err = q.deleteNamespace(ctx, n.ID); err != nil {
				return err
			}
			return s.stampNamespaceChange(ctx, q, name, "namespace_delete")
		}
		// Its index rows first: its entries' triggers then find no
		// declared field.
		if err := s.dropNamespaceIndexes(ctx, q, n.ID); err != nil {
			return err
		}
		if n.EntryCount > 0 {
			if _, err := q.deleteNamespaceEntries(ctx, n.ID); err != nil {
				return err
			}
		}
		if _, err = q.deleteNamespace(ctx, n.ID); err != nil {
			return err
		}
		return s.stampNamespaceChange(ctx, q, name, "namespace_delete")
	})
	s.nsIDs.forget(name)
	if err != nil {
		return s.failCtx(ctx, op, name, "", err)
	}
	if unlinked {
		s.purger.wake()
		s.purgeAssist(ctx)
	}
	return nil
}

// stampNamespaceChange sets the time of the change of kind
// (namespace_delete, namespace_metadata) that a write of the namespace's
// row just logged (in the same transaction) to the store's clock: the
// database's trigger (migration 00007) stamps it with the database's own
// (clock_timestamp(), unixepoch), which put the event's At, and the
// expiries Get with AtRevision decides at its revision, on another clock
// than every other change's (WithClock, or a server whose clock is not
// the engine's host's). The change is the namespace's last of its kind
// (changes_scope on SQLite).
func (s *Store) stampNamespaceChange(ctx context.Context, q querier, name, kind string) error {
	var at any = s.now().UTC()
	if s.Dialect() == dialect.SQLite {
		at = micros(s.now())
	}
	_, err := q.exec(ctx, s.placeholders("UPDATE changes SET created_at = ? WHERE revision = "+
		"(SELECT max(revision) FROM changes WHERE namespace = ? AND key IS NULL AND kind = ?)"), at, name, kind)
	return err
}

// ListNamespaces implements storage.Store. Every page is one keyset
// statement on the namespaces' unique name index (nsscope.go).
func (s *Store) ListNamespaces(ctx context.Context, opts ...storage.Option) ([]storage.Namespace, error) {
	const op = "listNamespaces"
	if _, err := s.start(ctx, op, "", 0, nil); err != nil {
		return nil, err
	}
	p, err := driver.ResolveNamespacePage(opts)
	if err != nil {
		return nil, s.failCtx(ctx, op, "", "", err)
	}
	rs, scoped := driver.NamespaceScope(ctx)
	if !scoped {
		rs = nil
	}
	list, err := s.listNamespaces(ctx, scoped, rs, p)
	if err != nil {
		return nil, s.failCtx(ctx, op, "", "", err)
	}
	return list, nil
}
