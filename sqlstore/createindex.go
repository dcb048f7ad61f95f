package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

var _ storage.Indexer = (*Store)(nil)

// CreateIndex implements storage.Indexer. On PostgreSQL the declaration,
// the field's index_fields row and its index_entries rows are written in
// one transaction that holds the namespace's row: concurrent writes to the
// namespace are indexed either by their trigger or by the fill. On SQLite,
// whose one writer that transaction would hold for the whole fill (1 s at
// 100k entries: every other namespace's writes waited), the index is built
// in chunks (buildIndexSQLite) and declared at the end.
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
	if s.Dialect() == dialect.SQLite {
		err = s.buildIndexSQLite(ctx, namespace, f)
		s.nsIDs.forget(namespace)
		if err != nil {
			return s.fail(op, namespace, "", err)
		}
		return nil
	}
	err = s.yieldingTx(ctx, func(q querier) error {
		cur, err := s.undeclaredIn(ctx, q, namespace, f.Text)
		if err != nil {
			return err
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

// undeclaredIn is declaredIn for a CreateIndex of field: ErrIndexExists
// when namespace declares it, ErrInvalidOption when it declares
// storage.MaxIndexes fields.
func (s *Store) undeclaredIn(ctx context.Context, q querier, namespace, field string) (nsDump, error) {
	cur, err := s.declaredIn(ctx, q, namespace)
	if err != nil {
		return nsDump{}, err
	}
	if slices.Contains(cur.Indexes, field) {
		return nsDump{}, storage.ErrIndexExists
	}
	if len(cur.Indexes) >= storage.MaxIndexes {
		return nsDump{}, driver.Invalidf(storage.ErrInvalidOption, "the namespace declares %d indexes, the maximum", storage.MaxIndexes)
	}
	return cur, nil
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

// indexBuildChunk is how many entries each transaction of
// buildIndexSQLite indexes (a variable for the tests).
var indexBuildChunk = 2000

// indexBuildHook, when set (tests), runs after each chunk of
// fillIndexSQLite, outside its transaction.
var indexBuildHook func(chunk int)

// buildingPrefix starts the index_fields spelling of a field whose index
// is being built: not a field any query names (driver.ParseField refuses
// the root), so no query uses the rows before the build ends.
const buildingPrefix = "$building:"

// buildIndexSQLite declares field f of namespace and builds its index
// without holding SQLite's one writer for the whole fill:
//
//  1. one transaction checks the namespace and its declarations, as
//     CreateIndex does, and records the field in index_fields under a
//     spelling no query uses (buildingPrefix): from its commit the
//     triggers index every write to the namespace for the field;
//  2. transactions of indexBuildChunk entries each fill the rows of the
//     entries in the next range of keys (INSERT OR IGNORE: a row a trigger
//     wrote already is the same row), each giving the writer back to the
//     writes waiting for it;
//  3. one transaction checks again, renames the field to its own spelling
//     and declares it (namespaces.indexes): queries use the index and
//     ListNamespaces reports it from that commit, with every row in place.
//
// So CreateIndex still either declares a complete index or changes
// nothing anyone can see: on failure the field's rows and record are
// deleted; after a crash, or when that clean-up fails too (a full disk),
// the next CreateIndex of the field or Open's reconcileIndexes deletes
// them (the field is not declared; until then the triggers keep its rows,
// which no query reads). A DeleteNamespace meanwhile fails the build with
// ErrNamespaceNotFound; a concurrent CreateIndex of the same field (the
// later one builds) or another store's Open that removes the record, with
// ErrTxConflict.
func (s *Store) buildIndexSQLite(ctx context.Context, namespace string, f driver.Field) error {
	marker := buildingPrefix + f.Text
	var nsID, fieldID int64
	err := s.eng.inTx(ctx, func(q querier) error {
		cur, err := s.undeclaredIn(ctx, q, namespace, f.Text)
		if err != nil {
			return err
		}
		// Another build of the field, under way (it will fail with
		// errIndexBuildLost) or left by a build whose clean-up failed (a
		// full disk): this one takes over.
		if err := s.dropIndexField(ctx, q, cur.ID, marker); err != nil {
			return err
		}
		nsID = cur.ID
		if err := q.queryRows(ctx, "UPDATE namespaces SET field_seq = field_seq + 1 WHERE id = ? RETURNING field_seq",
			[]any{nsID}, func(r rowScanner) error { return r.Scan(&fieldID) }); err != nil {
			return err
		}
		p := s.compiler().IndexPath(f)
		_, err = q.exec(ctx, `INSERT INTO index_fields (namespace_id, field_id, field, col, path) VALUES (?, ?, ?, ?, ?)`,
			nsID, fieldID, marker, p.Col, p.Path)
		return err
	})
	if err != nil {
		return err
	}
	if err = s.fillIndexSQLite(ctx, nsID, fieldID, f); err == nil {
		err = s.eng.inTx(ctx, func(q querier) error {
			cur, err := s.undeclaredIn(ctx, q, namespace, f.Text)
			if err != nil {
				return err
			}
			if cur.ID != nsID {
				return storage.ErrNamespaceNotFound // deleted, and created again by a write
			}
			n, err := q.exec(ctx, "UPDATE index_fields SET field = ? WHERE namespace_id = ? AND field_id = ? AND field = ?",
				f.Text, nsID, fieldID, marker)
			if err != nil {
				return err
			}
			if n == 0 {
				return errIndexBuildLost
			}
			return q.restoreNamespaceIndexes(ctx, nsID, encodeIndexes(append(cur.Indexes, f.Text)))
		})
	}
	if err != nil {
		// Nothing of the build may stay: its rows and its record go, in
		// one short transaction (as DropIndex's), whatever ctx says.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_ = s.eng.inTx(cctx, func(q querier) error {
			if _, err := q.exec(cctx, "DELETE FROM index_entries WHERE ix_ns = ? AND ix_field = ?", nsID, fieldID); err != nil {
				return err
			}
			_, err := q.exec(cctx, "DELETE FROM index_fields WHERE namespace_id = ? AND field_id = ? AND field = ?", nsID, fieldID, marker)
			return err
		})
	}
	return err
}

// errIndexBuildLost: the record of an index being built was removed
// before the build ended (a DeleteNamespace; another store's Open, which
// takes it for the remains of a crash).
var errIndexBuildLost = fmt.Errorf("%w: the index being built was removed meanwhile", storage.ErrTxConflict)

// fillIndexSQLite fills the rows of field fieldID (f) of namespace nsID,
// indexBuildChunk entries per transaction, in key order.
func (s *Store) fillIndexSQLite(ctx context.Context, nsID, fieldID int64, f driver.Field) error {
	p := s.compiler().IndexPath(f)
	after := "" // below every key: keys are not empty
	for chunk := 0; ; chunk++ {
		if chunk > 0 && indexBuildHook != nil {
			indexBuildHook(chunk)
		}
		last := false
		err := s.eng.inTx(ctx, func(q querier) error {
			var ok, ns int64
			if err := q.queryRows(ctx, "SELECT (SELECT count(*) FROM index_fields WHERE namespace_id = ?1 AND field_id = ?2), (SELECT count(*) FROM namespaces WHERE id = ?1)",
				[]any{nsID, fieldID}, func(r rowScanner) error { return r.Scan(&ok, &ns) }); err != nil {
				return err
			}
			if ns == 0 {
				return storage.ErrNamespaceNotFound // deleted meanwhile
			}
			if ok == 0 {
				return errIndexBuildLost
			}
			var upTo *string
			if err := q.queryRows(ctx, "SELECT key FROM entries WHERE namespace_id = ? AND key > ? ORDER BY key LIMIT 1 OFFSET ?",
				[]any{nsID, after, indexBuildChunk - 1}, func(r rowScanner) error { return r.Scan(&upTo) }); err != nil {
				return err
			}
			if upTo == nil {
				last = true
				_, err := q.exec(ctx, sqliteFillRange(false), fieldID, p.Col, p.Path, nsID, after)
				return err
			}
			_, err := q.exec(ctx, sqliteFillRange(true), fieldID, p.Col, p.Path, nsID, after, *upTo)
			after = *upTo
			return err
		})
		if err != nil || last {
			return err
		}
	}
}
