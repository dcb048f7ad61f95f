package sqlstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

var _ storage.Indexer = (*Store)(nil)

// CreateIndex implements storage.Indexer. The declaration is recorded and
// the index built: on SQLite in one transaction; on PostgreSQL the
// declaration is committed first (so a concurrent CreateIndex of the same
// field gets ErrIndexExists), then the index is built with CREATE INDEX
// CONCURRENTLY, and when the build fails or ctx ends the declaration is
// withdrawn and the INVALID index dropped in the background. Builds and
// drops run one at a time in a store and follow the declarations as they
// stand when they run (see indexMutex).
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
	var id int64
	sqlite := s.Dialect() == dialect.SQLite
	err = s.yieldingTx(ctx, func(q querier) error {
		cur, err := s.declaredIn(ctx, q, namespace)
		if err != nil {
			return err
		}
		if slices.Contains(cur.Indexes, f.Text) {
			return storage.ErrIndexExists
		}
		if len(cur.Indexes) >= storage.MaxIndexes {
			return storage.Invalidf(storage.ErrInvalidOption, "the namespace declares %d indexes, the maximum", storage.MaxIndexes)
		}
		id = cur.ID
		if err := q.restoreNamespaceIndexes(ctx, cur.ID, encodeIndexes(append(cur.Indexes, f.Text))); err != nil {
			return err
		}
		if sqlite {
			return s.sqliteCreateIndexes(ctx, q, cur.ID, fields)
		}
		return nil
	})
	if err == nil && sqlite {
		err = s.sqliteReloadStats(ctx)
	}
	if err != nil {
		return s.fail(op, namespace, "", err)
	}
	if sqlite {
		return nil
	}
	if err := s.pgCreateIndexes(ctx, id, fields); err != nil {
		undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return s.fail(op, namespace, "", errors.Join(err, s.undeclare(undo, namespace, f.Text)))
	}
	return nil
}

// DropIndex implements storage.Indexer. The declaration and, on SQLite, the
// index go in one transaction; PostgreSQL drops the index concurrently in
// the background after the declaration is withdrawn (DROP INDEX
// CONCURRENTLY waits for the transactions open on entries; answers never
// depend on the index).
func (s *Store) DropIndex(ctx context.Context, namespace, field string) error {
	const op = "dropIndex"
	if err := s.writable(op, namespace); err != nil {
		return err
	}
	fields, err := s.indexArgs(ctx, op, namespace, field)
	if err != nil {
		return err
	}
	name := ""
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
		name = indexName(s.compiler(), cur.ID, fields[0])
		if s.Dialect() == dialect.SQLite {
			_, err = q.exec(ctx, "DROP INDEX IF EXISTS "+name)
		}
		return err
	})
	if err != nil {
		return s.fail(op, namespace, "", err)
	}
	if s.Dialect() == dialect.Postgres {
		s.dropIndexesLater([]string{name})
	}
	return nil
}

// indexArgs starts operation op and validates its namespace and field,
// returned as a one-element slice.
func (s *Store) indexArgs(ctx context.Context, op, namespace, field string) ([]storage.Field, error) {
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

// undeclare withdraws the declaration of field from namespace after its
// build failed (PostgreSQL), if it is still there.
func (s *Store) undeclare(ctx context.Context, namespace, field string) error {
	return s.yieldingTx(ctx, func(q querier) error {
		cur, err := s.declaredIn(ctx, q, namespace)
		if errors.Is(err, storage.ErrNamespaceNotFound) {
			return nil
		}
		if err != nil || !slices.Contains(cur.Indexes, field) {
			return err
		}
		return q.restoreNamespaceIndexes(ctx, cur.ID, encodeIndexes(slices.DeleteFunc(cur.Indexes,
			func(t string) bool { return t == field })))
	})
}
