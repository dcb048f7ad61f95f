package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

var _ storage.Indexer = (*Store)(nil)

// CreateIndex implements storage.Indexer. The index is built in chunks
// (buildIndex) and declared at the end, so that no transaction holds, for
// the whole fill, what every other namespace's writes need: SQLite's one
// writer (1 s at 100k entries), PostgreSQL's revision lock (4.8 s).
func (s *Store) CreateIndex(ctx context.Context, namespace, field string) error {
	const op = "createIndex"
	if err := s.writable(op, namespace); err != nil {
		return err
	}
	fields, err := s.indexArgs(ctx, op, namespace, field)
	if err != nil {
		return err
	}
	err = s.buildIndex(ctx, namespace, fields[0])
	s.nsIDs.forget(namespace)
	if err != nil {
		return s.failCtx(ctx, op, namespace, "", err)
	}
	return nil
}

// DropIndex implements storage.Indexer. On PostgreSQL the declaration,
// the field's row and its index_entries rows go in one transaction. On
// SQLite, where that transaction held the one writer, so every other
// namespace's writes, for the whole delete (6.9 s at 1M entries), one
// short transaction drops the declaration (queries stop using the index
// at its commit) and records the field under the spelling of a build
// (buildingPrefix), then the rows go indexBuildChunk at a time, each
// delete in a transaction of its own, and the record with the last rows
// (dropIndexBuild): when that fails (another process holds the write
// lock past busy_timeout), the store's purger deletes what is left, as a
// failed build's; a record left by a crash is not declared, and Open's
// reconcileIndexes, or the next CreateIndex of the field, deletes it with
// its rows.
func (s *Store) DropIndex(ctx context.Context, namespace, field string) error {
	const op = "dropIndex"
	if err := s.writable(op, namespace); err != nil {
		return err
	}
	fields, err := s.indexArgs(ctx, op, namespace, field)
	if err != nil {
		return err
	}
	chunked := s.Dialect() != dialect.Postgres
	marker := buildingPrefix + fields[0].Text
	var nsID, fieldID int64
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
		if !chunked {
			return s.dropIndexField(ctx, q, cur.ID, fields[0].Text)
		}
		// A build of the field left behind (its clean-up failed) goes
		// first, as a CreateIndex's takeover does.
		if err := s.dropIndexField(ctx, q, cur.ID, marker); err != nil {
			return err
		}
		have, err := s.indexFields(ctx, q, cur.ID)
		if err != nil {
			return err
		}
		id, ok := have[fields[0].Text]
		if !ok {
			return nil
		}
		nsID, fieldID = cur.ID, id
		_, err = q.exec(ctx, "UPDATE index_fields SET field = ? WHERE namespace_id = ? AND field_id = ?", marker, nsID, fieldID)
		return err
	})
	s.nsIDs.forget(namespace)
	if err != nil {
		return s.failCtx(ctx, op, namespace, "", err)
	}
	if fieldID != 0 {
		s.dropIndexBuild(ctx, nsID, fieldID, marker)
	}
	return nil
}

// dropIndexRows deletes the index_entries rows of field fieldID of
// namespace nsID on SQLite, indexBuildChunk at a time, each delete in a
// transaction of its own, until none is left or ctx ends (dropIndexBuild,
// its caller, then deletes the rest in one).
func (s *Store) dropIndexRows(ctx context.Context, nsID, fieldID int64) {
	for ctx.Err() == nil {
		// The chunk is the first indexBuildChunk rows in the primary
		// key's order, deleted as a range of it: each delete reads only
		// what it deletes.
		more := false
		if err := s.eng.inTx(ctx, func(q querier) error {
			var rank int64
			var num float64
			var str, key string
			if err := q.queryRows(ctx, `SELECT ix_rank, ix_num, ix_str, ix_key FROM index_entries WHERE ix_ns = ? AND ix_field = ?
ORDER BY ix_rank, ix_num, ix_str, ix_key LIMIT 1 OFFSET ?`, []any{nsID, fieldID, indexBuildChunk - 1},
				func(r rowScanner) error { more = true; return r.Scan(&rank, &num, &str, &key) }); err != nil || !more {
				return err
			}
			_, err := q.exec(ctx, `DELETE FROM index_entries WHERE ix_ns = ? AND ix_field = ? AND (ix_rank, ix_num, ix_str, ix_key) <= (?, ?, ?, ?)`,
				nsID, fieldID, rank, num, str, key)
			return err
		}); err != nil || !more {
			return
		}
		if dropIndexChunkHook != nil {
			dropIndexChunkHook()
		}
	}
}

// dropIndexChunkHook, when set (tests), runs after each chunk of
// dropIndexRows, outside its transaction.
var dropIndexChunkHook func()

// indexArgs starts operation op and validates its namespace and field,
// returned as a one-element slice.
func (s *Store) indexArgs(ctx context.Context, op, namespace, field string) ([]driver.Field, error) {
	if _, err := s.startWrite(ctx, op, "", 0, nil); err != nil {
		return nil, err
	}
	if _, err := storage.ParseNamespace(namespace); err != nil {
		return nil, s.failCtx(ctx, op, namespace, "", err)
	}
	fields, err := parseIndexes([]string{field})
	if err != nil {
		return nil, s.failCtx(ctx, op, namespace, "", err)
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

// indexBuildChunk is how many entries each transaction of buildIndex's
// fill indexes at most (fewer when they are slow: nextBuildChunk), and
// how many index rows each of dropIndexRows' deletes (a variable for the
// tests).
var indexBuildChunk = 2000

// indexBuildHook, when set (tests), runs after each chunk of the fill,
// outside its transaction; indexChunkHook inside it, after its fill.
var indexBuildHook, indexChunkHook func(chunk int)

// buildingPrefix starts the index_fields spelling of a field whose index
// is being built: not a field any query names (driver.ParseField refuses
// the root), so no query uses the rows before the build ends.
const buildingPrefix = "$building:"

// buildIndex declares field f of namespace and builds its index without
// holding, for the whole fill, SQLite's one writer or PostgreSQL's
// revision lock:
//
//  1. one transaction checks the namespace and its declarations, as
//     CreateIndex does, and records the field in index_fields under a
//     spelling no query uses (buildingPrefix): from its commit the
//     triggers index every write to the namespace for the field (on
//     PostgreSQL it also sets namespaces.index_building, which makes them
//     look for the namespace's fields when it declares none, migration
//     00032);
//  2. transactions of indexBuildChunk entries each fill the rows of the
//     entries in the next range of keys, leaving alone a row a trigger
//     wrote already (it is the same row), each giving the writer back to
//     the writes waiting for it (fillIndex);
//  3. one transaction checks again, renames the field to its own spelling
//     and declares it (namespaces.indexes): queries use the index and
//     ListNamespaces reports it from that commit, with every row in place.
//
// So CreateIndex still either declares a complete index or changes
// nothing anyone can see: on failure the field's rows and record are
// deleted; when that clean-up fails too (a full disk), the store's purger
// tries again until it is done (reclaimWithdrawn); after a crash, the
// next CreateIndex of the field or Open's reconcileIndexes deletes them
// (the field is not declared; until then the triggers keep its rows,
// which no query reads). A DeleteNamespace meanwhile fails the build with
// ErrNamespaceNotFound; a concurrent CreateIndex of the same field (the
// later one builds) or another store's Open that removes the record, with
// ErrTxConflict.
func (s *Store) buildIndex(ctx context.Context, namespace string, f driver.Field) error {
	marker := buildingPrefix + f.Text
	pg := s.Dialect() == dialect.Postgres
	p := s.compiler().IndexPath(f)
	var nsID, fieldID int64
	err := s.yieldingTx(ctx, func(q querier) error {
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
		if err := q.queryRows(ctx, s.placeholders("UPDATE namespaces SET field_seq = field_seq + 1 WHERE id = ? RETURNING field_seq"),
			[]any{nsID}, func(r rowScanner) error { return r.Scan(&fieldID) }); err != nil {
			return err
		}
		if pg {
			if _, err := q.exec(ctx, `INSERT INTO index_fields (namespace_id, field_id, field, col, tpath, jpath) VALUES ($1, $2, $3, $4, $5, CAST(CAST($6 AS text) AS jsonpath))`,
				nsID, fieldID, marker, p.Col, p.TPath, p.JPath); err != nil {
				return err
			}
			_, err := q.exec(ctx, "UPDATE namespaces SET index_building = true WHERE id = $1", nsID)
			return err
		}
		_, err = q.exec(ctx, `INSERT INTO index_fields (namespace_id, field_id, field, col, path) VALUES (?, ?, ?, ?, ?)`,
			nsID, fieldID, marker, p.Col, p.Path)
		return err
	})
	if err != nil {
		return err
	}
	if err = s.fillIndex(ctx, nsID, fieldID, f); err == nil {
		err = s.yieldingTx(ctx, func(q querier) error {
			cur, err := s.undeclaredIn(ctx, q, namespace, f.Text)
			if err != nil {
				return err
			}
			if cur.ID != nsID {
				return storage.ErrNamespaceNotFound // deleted, and created again by a write
			}
			n, err := q.exec(ctx, s.placeholders("UPDATE index_fields SET field = ? WHERE namespace_id = ? AND field_id = ? AND field = ?"),
				f.Text, nsID, fieldID, marker)
			if err != nil {
				return err
			}
			if n == 0 {
				return errIndexBuildLost
			}
			if err := q.restoreNamespaceIndexes(ctx, nsID, encodeIndexes(append(cur.Indexes, f.Text))); err != nil {
				return err
			}
			return s.syncIndexBuilding(ctx, q, nsID)
		})
	}
	if err != nil {
		s.dropIndexBuild(ctx, nsID, fieldID, marker)
	}
	return err
}

// dropIndexBuild deletes the rows and the record of the build of field
// fieldID (spelled marker) of namespace nsID, which failed or which
// DropIndex withdrew, whatever ctx says: nothing of it may stay. When that
// fails (another process holds SQLite's write lock past busy_timeout, the
// minute runs out, the disk is full, the connection is cut), the field
// goes to the purger, which tries again until it is done
// (reclaimWithdrawn): until then the triggers went on indexing every
// write of the namespace under the record, which only the next Open or
// CreateIndex of the field removed, and on PostgreSQL rows left without
// their record stayed for ever.
func (s *Store) dropIndexBuild(ctx context.Context, nsID, fieldID int64, marker string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	w := withdrawnField{nsID: nsID, fieldID: fieldID, marker: marker}
	if s.dropWithdrawn(cctx, w) != nil {
		s.withdrawn.add(w)
		s.purger.wake()
	}
}

// dropWithdrawn deletes the rows and the record of withdrawn field w. On
// SQLite the rows go indexBuildChunk at a time (dropIndexRows), the writer
// going back to other writes between them, then the rest with the record
// in one short transaction: a failed build's clean-up deleted every row it
// had built in one transaction, holding the one writer as long (seconds at
// 1M entries). On PostgreSQL one short transaction holding the namespace's
// row (which the triggers lock before they read index_fields) deletes the
// record, after which no write indexes the field, then the rows go, in a
// statement that holds no lock any write needs. Run again after a failure
// it deletes what is left: the record and the rows are those of w's field
// id alone, which no later build of the field reuses (field_seq).
func (s *Store) dropWithdrawn(ctx context.Context, w withdrawnField) error {
	if s.Dialect() != dialect.Postgres {
		s.dropIndexRows(ctx, w.nsID, w.fieldID)
		return s.eng.inTx(ctx, func(q querier) error {
			if _, err := q.exec(ctx, "DELETE FROM index_entries WHERE ix_ns = ? AND ix_field = ?", w.nsID, w.fieldID); err != nil {
				return err
			}
			_, err := q.exec(ctx, "DELETE FROM index_fields WHERE namespace_id = ? AND field_id = ? AND field = ?", w.nsID, w.fieldID, w.marker)
			return err
		})
	}
	err := s.yieldingTx(ctx, func(q querier) error {
		if _, err := q.exec(ctx, "SELECT 1 FROM namespaces WHERE id = $1 FOR UPDATE", w.nsID); err != nil {
			return err
		}
		if _, err := q.exec(ctx, "DELETE FROM index_fields WHERE namespace_id = $1 AND field_id = $2 AND field = $3", w.nsID, w.fieldID, w.marker); err != nil {
			return err
		}
		return s.syncIndexBuilding(ctx, q, w.nsID)
	})
	if err != nil {
		return err
	}
	_, err = s.eng.writer().exec(ctx, "DELETE FROM index_entries WHERE ix_ns = $1 AND ix_field = $2", w.nsID, w.fieldID)
	return err
}

// withdrawnField is the field id fieldID of namespace nsID, recorded in
// index_fields as marker, whose build failed or which DropIndex withdrew.
type withdrawnField struct {
	nsID, fieldID int64
	marker        string
}

// withdrawnFields are the withdrawn fields whose rows or record are left
// after dropIndexBuild failed, for the purger. Safe for concurrent use.
type withdrawnFields struct {
	mu   sync.Mutex // protects list
	list []withdrawnField
}

func (l *withdrawnFields) add(w withdrawnField) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, w)
}

// take removes and returns the list.
func (l *withdrawnFields) take() []withdrawnField {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.list
	l.list = nil
	return out
}

// reclaimWithdrawn (the purger) deletes what failed clean-ups of
// withdrawn fields left; what fails again stays for the next try (and
// what the store holds at Close, for the next Open's reconcileIndexes).
func (s *Store) reclaimWithdrawn(ctx context.Context) error {
	var first error
	for _, w := range s.withdrawn.take() {
		if err := s.dropWithdrawn(ctx, w); err != nil {
			s.withdrawn.add(w)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// syncIndexBuilding sets namespaces.index_building of namespace nsID
// (PostgreSQL, migration 00032) to whether it records a field being
// built, with q, in a transaction that holds the namespace's row FOR
// UPDATE (so that this statement, which reads after the lock was granted,
// sees every build recorded before and none can start until it commits).
// Nothing on SQLite.
func (x *ops) syncIndexBuilding(ctx context.Context, q querier, nsID int64) error {
	if x.s.Dialect() != dialect.Postgres {
		return nil
	}
	_, err := q.exec(ctx, `UPDATE namespaces n SET index_building = b.b
FROM (SELECT EXISTS (SELECT 1 FROM index_fields f WHERE f.namespace_id = $1 AND starts_with(f.field, '`+buildingPrefix+`')) AS b) b
WHERE n.id = $1 AND n.index_building <> b.b`, nsID)
	return err
}

// errIndexBuildLost: the record of an index being built was removed
// before the build ended (a DeleteNamespace; another store's Open, which
// takes it for the remains of a crash).
var errIndexBuildLost = fmt.Errorf("%w: the index being built was removed meanwhile", storage.ErrTxConflict)

// fillIndex fills the rows of field fieldID (f) of namespace nsID, a
// chunk of entries per transaction (at most indexBuildChunk, fewer when
// chunks take longer than indexChunkTarget: nextBuildChunk), in key
// order.
//
// On PostgreSQL no chunk takes the revision lock or the namespace's row.
// Each holds the field's index_fields row FOR SHARE (a DeleteNamespace, a
// failed build's clean-up or a takeover that deletes it waits for the
// chunk, or the chunk sees it gone and fails) and the entries of its range
// FOR SHARE: a concurrent write of one of them either committed before the
// chunk read it (the chunk reads its newest version; the write's trigger,
// which saw the field, wrote the same row already: ON CONFLICT DO NOTHING)
// or waits for the chunk's commit, and its trigger then finds the chunk's
// row and updates or deletes it. Entries inserted after the chunk read its
// range are indexed by their triggers. Each chunk runs as a yielding
// transaction: a write transaction that holds an entry of the range and
// waits for one the chunk holds makes the chunk give way, not a deadlock.
// On SQLite the one writer excludes the writes; INSERT OR IGNORE leaves
// alone the rows triggers wrote between two chunks.
func (s *Store) fillIndex(ctx context.Context, nsID, fieldID int64, f driver.Field) error {
	pg := s.Dialect() == dialect.Postgres
	held := "SELECT (SELECT count(*) FROM index_fields WHERE namespace_id = ?1 AND field_id = ?2), (SELECT count(*) FROM namespaces WHERE id = ?1)"
	next := "SELECT key FROM entries WHERE namespace_id = ? AND key > ? ORDER BY key LIMIT 1 OFFSET ?"
	if pg {
		held = `SELECT (SELECT count(*) FROM (SELECT 1 FROM index_fields WHERE namespace_id = $1 AND field_id = $2 FOR SHARE) f),
       (SELECT count(*) FROM namespaces WHERE id = $1)`
		next = "SELECT key FROM entries WHERE namespace_id = $1 AND key > $2 ORDER BY key LIMIT 1 OFFSET $3"
	}
	// fill fills the range of keys after after, up to upTo (nil: the end).
	fill := func(q querier, after string, upTo *string) error {
		p := s.compiler().IndexPath(f)
		var err error
		switch {
		case pg && upTo == nil:
			_, err = q.exec(ctx, pgFillRange(false), nsID, fieldID, after)
		case pg:
			_, err = q.exec(ctx, pgFillRange(true), nsID, fieldID, after, *upTo)
		case upTo == nil:
			_, err = q.exec(ctx, sqliteFillRange(false), fieldID, p.Col, p.Path, nsID, after)
		default:
			_, err = q.exec(ctx, sqliteFillRange(true), fieldID, p.Col, p.Path, nsID, after, *upTo)
		}
		return err
	}
	after := ""               // below every key: keys are not empty
	n := nextBuildChunk(0, 0) // then as nextBuildChunk says
	for chunk := 0; ; chunk++ {
		if chunk > 0 && indexBuildHook != nil {
			indexBuildHook(chunk)
		}
		var upTo *string
		var took time.Duration
		err := s.yieldingTx(ctx, func(q querier) error {
			start := time.Now()
			defer func() { took = time.Since(start) }()
			var ok, ns int64
			if err := q.queryRows(ctx, held, []any{nsID, fieldID}, func(r rowScanner) error { return r.Scan(&ok, &ns) }); err != nil {
				return err
			}
			if ns == 0 {
				return storage.ErrNamespaceNotFound // deleted meanwhile
			}
			if ok == 0 {
				return errIndexBuildLost
			}
			upTo = nil
			if err := q.queryRows(ctx, next, []any{nsID, after, n - 1}, func(r rowScanner) error { return r.Scan(&upTo) }); err != nil {
				return err
			}
			if err := fill(q, after, upTo); err != nil {
				return err
			}
			if indexChunkHook != nil {
				indexChunkHook(chunk)
			}
			return nil
		})
		if err != nil || upTo == nil {
			return err
		}
		after = *upTo
		n = nextBuildChunk(n, took)
	}
}

// indexChunkTarget is how long a chunk of an index build should hold its
// transaction (on SQLite, the one writer, which every write of the store
// waits for). A chunk of indexBuildChunk entries takes 10-40 ms on small
// values, but what it reads grows with the values: over entries of
// 200 KB, 2000 of them are 400 MB of JSON to parse, seconds of the
// writer held, during which another principal's set of one entry waited
// (TestIndexBuildChunkTimeBounded). So the chunk's size follows the time
// its predecessor took.
var indexChunkTarget = 25 * time.Millisecond

// indexBuildChunkFirst is the size of a build's first chunk: small, as
// nothing is known yet of what a chunk of its entries costs.
const indexBuildChunkFirst = 64

// nextBuildChunk is the size of the chunk after one of n entries that
// held its transaction for took (n 0: the first chunk's,
// indexBuildChunkFirst): what indexChunkTarget allows at that pace, at
// most twice n (a chunk's time varies with its values) and
// indexBuildChunk, at least one entry. With indexChunkTarget 0 (tests
// that count chunks) every chunk is indexBuildChunk entries.
func nextBuildChunk(n int, took time.Duration) int {
	switch {
	case indexChunkTarget <= 0:
		return indexBuildChunk
	case n == 0:
		return min(indexBuildChunkFirst, indexBuildChunk)
	case took <= 0:
		return min(2*n, indexBuildChunk)
	}
	m := int(float64(n) * float64(indexChunkTarget) / float64(took))
	return max(1, min(m, 2*n, indexBuildChunk))
}

// pgFillRange fills the rows of field $2 of namespace $1 for its entries
// whose keys are after $3 and, with upTo, at most $4, locking them FOR
// SHARE (fillIndex). Two statements, not one with "$4 IS NULL OR", so
// that each chunk's scan of the entries' key index ends at its range.
func pgFillRange(upTo bool) string {
	s := `INSERT INTO index_entries
SELECT r.* FROM (SELECT namespace_id, key, value, metadata, expires_at FROM entries
                 WHERE namespace_id = $1 AND key > $3`
	if upTo {
		s += ` AND key <= $4`
	}
	return s + ` FOR SHARE) e
JOIN index_fields f ON f.namespace_id = e.namespace_id AND f.field_id = $2
CROSS JOIN LATERAL index_rows(e.namespace_id, e.key, e.value, e.metadata, e.expires_at, f) r
ON CONFLICT DO NOTHING`
}
