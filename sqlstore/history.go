package sqlstore

import (
	"context"
	"errors"
	"time"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

var (
	_ storage.Historian = (*Store)(nil)
	_ storage.Historian = (*sqlTx)(nil)
)

// History implements storage.Historian: the key's changes in the
// retained window, read from the change log.
func (x *ops) History(ctx context.Context, key string, opts ...storage.Option) ([]storage.Event, error) {
	const op = "history"
	o, err := x.start(ctx, op, key, driver.KindNamespace|driver.KindRevision|driver.KindLimit|driver.KindOmitValues, opts)
	if err != nil {
		return nil, err
	}
	ns := o.Namespace.Name
	if err := storage.ValidateKey(key); err != nil {
		return nil, x.s.failCtx(ctx, op, ns, key, err)
	}
	if o.Set&driver.KindRevision != 0 && !o.RevisionFrom {
		return nil, x.s.failCtx(ctx, op, ns, key, driver.Invalidf(storage.ErrInvalidOption, "history takes FromRevision, not AtRevision"))
	}
	limit := storage.DefaultHistoryLimit
	if o.Limit >= 0 {
		limit = o.Limit
	}
	if limit == 0 {
		return []storage.Event{}, nil
	}
	lq, err := x.s.newLogQuery(o, &key)
	if err != nil {
		return nil, x.s.failCtx(ctx, op, ns, key, err)
	}
	q := x.sc.reader()
	// FromRevision(0) is every retained change, as no FromRevision.
	from := o.Set&driver.KindRevision != 0 && o.Revision != 0
	after := o.Revision
	if !from {
		st, err := x.s.logState(ctx, q)
		if err != nil {
			return nil, x.s.failCtx(ctx, op, ns, key, err)
		}
		after = st.compacted
	}
	batch := historyBatch
	if lq.byKey {
		// SQLite finds the key's changes by walking its chains (keyChain)
		// from their ends down to after, once per statement: the page in
		// one statement walks once. In batches, a page of 1000 walked 16
		// times, and paging through a key's history cost 16 walks of up
		// to all its changes per page (a key of 20,000 changes: 6 s). The
		// statement streams its rows and stops at historyPageBytes, so one
		// statement holds no more than batches did.
		batch = limit
	}
	for attempt := 0; ; attempt++ {
		evs, st, full, err := lq.tailBytes(ctx, q, after, min(limit, batch), historyPageBytes)
		if err != nil {
			return nil, x.s.failCtx(ctx, op, ns, key, err)
		}
		if from {
			if err := checkFrom(after, st); err != nil {
				return nil, x.s.failCtx(ctx, op, ns, key, err)
			}
		} else if st.compacted > after && attempt < 3 {
			// Compacted meanwhile: read again from the new start.
			after = st.compacted
			continue
		}
		if evs, err = historyRest(ctx, q, lq, evs, full, limit, batch); err != nil {
			return nil, x.s.failCtx(ctx, op, ns, key, err)
		}
		if evs == nil {
			evs = []storage.Event{}
		}
		return evs, nil
	}
}

// historyRest completes a History page whose first read, evs, asked for
// min(limit, batch) changes: it reads on, batch at a time,
// until the page holds limit changes, historyPageBytes (full), or the
// key's last change. A read that finds the log compacted past the page's
// last change ends the page there: the next page, from that change, is
// ErrCompacted.
func historyRest(ctx context.Context, q querier, lq *logQuery, evs []storage.Event, full bool, limit, batch int) ([]storage.Event, error) {
	var size int64
	for _, ev := range evs {
		size += eventSize(ev)
	}
	asked, got := min(limit, batch), len(evs)
	for !full && got == asked && len(evs) < limit {
		last := evs[len(evs)-1].Revision
		asked = min(limit-len(evs), batch)
		more, st, f, err := lq.tailBytes(ctx, q, last, asked, historyPageBytes-size)
		if err != nil {
			return nil, err
		}
		if st.compacted > last {
			break
		}
		for _, ev := range more {
			size += eventSize(ev)
		}
		evs, got, full = append(evs, more...), len(more), f
	}
	return evs, nil
}

// historyBatch is how many changes getAt reads at a time, and History
// per statement on PostgreSQL (an index range of changes_key from the
// page's start, so batches cost no more than one statement: the bound
// keeps a statement from sending many large values past the page's
// historyPageBytes before the read stops).
const historyBatch = 64

// historyPageBytes bounds what one History page, and one read of getAt,
// holds (eventSize: keys, values, metadata): a read stops once its events
// reach it, after the first. So a caller cannot make the store hold or
// send Limit large values at once (1000 revisions of a 16 MiB value would
// be 16 GB); it pages on with FromRevision.
const historyPageBytes = 4 << 20

// getAt is Get with AtRevision(r): the key as it was at revision r,
// rebuilt from the change log (and from the entry itself when it has not
// changed since r).
func (x *ops) getAt(ctx context.Context, ns, key string, r int64) (storage.Entry, error) {
	const op = "get"
	q := x.sc.reader()
	lq, err := x.s.keyStateQuery(ns, key)
	if err != nil {
		return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, err)
	}

	var e storage.Entry
	found := false // e holds the latest metadata change or put
	before := r
	for batch := historyBatch; ; {
		evs, st, full, err := lq.readBack(ctx, q, before, batch)
		if err != nil {
			return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, err)
		}
		if r > st.head {
			return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, &storage.FutureRevisionError{Requested: r, Current: st.head, At: true})
		}
		for _, ev := range evs {
			if ev.Revision <= st.compacted {
				break
			}
			switch ev.Type {
			case storage.EventPut:
				if !found {
					e = storage.Entry{Metadata: ev.Metadata, Version: ev.Version, UpdatedAt: ev.At,
						CreatedAt: ev.CreatedAt, ExpiresAt: ev.ExpiresAt}
					e.Revision = ev.Revision
				}
				e.Namespace, e.Key, e.Value = ns, key, ev.Value
				if ev.PrevRevision == 0 {
					// This put started the key's life: it is the creation
					// createRevisionAt would look up.
					e.CreateRevision = ev.Revision
				} else if e.CreateRevision, err = x.createRevisionAt(ctx, q, ns, key, e.Revision); err != nil {
					return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, err)
				}
				if !e.ExpiresAt.IsZero() {
					// Expired by the time of revision r: it was invisible
					// then, though not yet swept.
					at, ok, err := x.s.revisionTime(ctx, q, r)
					if err != nil {
						return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, err)
					}
					if ok && !e.ExpiresAt.After(at) {
						return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, storage.ErrNotFound)
					}
				}
				return e, nil
			case storage.EventMetadata:
				if !found {
					found = true
					e = storage.Entry{Metadata: ev.Metadata, Version: ev.Version, UpdatedAt: ev.At,
						CreatedAt: ev.CreatedAt, ExpiresAt: ev.ExpiresAt}
					e.Revision = ev.Revision
				}
			default: // delete, expire, clear, namespace_delete, namespace_create
				if found {
					return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, corruptRow("the change log holds a metadata change of a deleted key"))
				}
				return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, storage.ErrNotFound)
			}
		}
		if (len(evs) == batch || full) && evs[len(evs)-1].Revision > st.compacted+1 {
			before = evs[len(evs)-1].Revision - 1
			if lq.byKey {
				// Each read on SQLite walks the key's chains from their
				// ends (keyChain): doubling the batch keeps a read back
				// over many metadata changes to O(log n) walks, where
				// batches of historyBatch took n/64 walks of n steps.
				batch *= 2
			}
			continue
		}
		// The log after compacted_through holds no put of the key at or
		// before r.
		return x.beforeLog(ctx, q, lq, ns, key, r, st)
	}
}

// keyStateQuery reads what made key's state at a revision: its own
// changes and the namespace's clears, deletes and creations (getAt). A
// creation tells that the key did not exist then: without it, a key
// that never existed before a namespace created in the log was later
// cleared or deleted was ErrCompacted at the revisions before, with
// nothing compacted (beforeLog could not tell it from a key alive since
// before the log).
func (s *Store) keyStateQuery(ns, key string) (*logQuery, error) {
	lq, err := s.newLogQuery(driver.CallOptions{}, nil)
	if err != nil {
		return nil, err
	}
	// The key's own changes and the namespace's clears, deletes and
	// creations.
	lq.cond = sq.And{sq.Expr("namespace = ?", ns), sq.Or{sq.Expr("key = ?", key),
		sq.Expr("key IS NULL AND kind IN ('clear', 'namespace_delete', 'namespace_create')")}}
	if s.Dialect() == dialect.SQLite && !s.logScan {
		// The key's chains and the namespace's rows (changes_scope).
		lq.cond = sq.And{lq.cond, sq.Expr("revision IN ("+keyChainRevisions+
			" UNION ALL SELECT revision FROM changes WHERE key IS NULL AND namespace = ? AND kind IN ('clear', 'namespace_delete', 'namespace_create'))",
			ns, key, ns, key, ns, key, ns, key, 0, ns)}
		lq.byKey = true
	}
	return lq, nil
}

// createRevisionAt is the revision of the creation of the key's life
// that holds its change at revision rev: the latest put of the key at or
// before rev that started a life (prev_revision NULL: the put of a key that
// did not exist, a write over an entry whose expiry had passed, an
// import), read back along the log's per-key index (changes_key; on
// SQLite back along prev_revision from the change at rev itself,
// createRevisionSQLite). When
// compaction removed it, the live entry's CreateRevision if its life began
// at or before rev (then it is the same life: a later creation would have
// replaced it); else 0, unknown.
func (x *ops) createRevisionAt(ctx context.Context, q querier, ns, key string, rev int64) (int64, error) {
	var created int64
	stmt, args := x.placeholders(createRevisionSQL), []any{ns, key, rev}
	if x.s.Dialect() == dialect.SQLite && !x.s.logScan {
		stmt, args = createRevisionSQLite, []any{rev}
	}
	err := q.queryRows(ctx, stmt, args, func(row rowScanner) error { return row.Scan(&created) })
	if err != nil || created > 0 {
		return created, err
	}
	// Compacted away (or made before the store had a log).
	cur, err := q.getEntry(ctx, ns, key, x.s.now())
	switch {
	case err == nil && cur.CreateRevision <= rev:
		return cur.CreateRevision, nil
	case err == nil || errors.Is(err, errNoRow):
		return 0, nil
	}
	return 0, err
}

// createRevisionSQL is createRevisionAt's lookup (placeholders: namespace,
// key, revision).
const createRevisionSQL = "SELECT revision FROM changes WHERE namespace = ? AND key = ? AND revision <= ? " +
	"AND kind = 'put' AND prev_revision IS NULL ORDER BY revision DESC LIMIT 1"

// createRevisionSQLite is createRevisionSQL on SQLite (placeholder: the
// revision of a put or metadata change of the key, which getAt read): the
// walk back along prev_revision from that change to the put that started
// its life, the one change of the life without a prev_revision. Every
// change it passes is the key's and of that life (a put over a live entry
// and a metadata change link to the entry's previous change), so it takes
// one step per change of the life between, where a walk of the key's
// chains from their roots (keyChainRevisions) took one per change of the
// key after the floor, and getAt had just taken that walk to find rev. A
// change removed by compaction ends the walk without a row.
const createRevisionSQLite = "WITH RECURSIVE life(r, p, kind) AS (" +
	"SELECT revision, prev_revision, kind FROM changes WHERE revision = ? " +
	"UNION ALL SELECT c.revision, c.prev_revision, c.kind FROM life JOIN changes c ON c.revision = life.p" +
	") SELECT r FROM life WHERE p IS NULL AND kind = 'put'"

// keyChainRevisions (SQLite) selects the revisions of the changes of one
// key (placeholders: namespace, key, three times; then the floor: a walk
// stops below it, 0 for all) still in the log,
// without a per-key index of the log (migrations/sqlite 00015): from the
// live entry's revision, from the last revisions of its ended lives
// (change_ends, and the entries of an unlinked namespace of its name that
// the purger has not yet deleted, whose change_ends it writes as it
// deletes them, unlink.go) and from its delete and expire rows (the partial index
// changes_ends), back along prev_revision. A row that compaction removed
// ends a walk; so does a put that started a life (no prev_revision).
// Every row reached is the key's: a put, metadata change, delete or
// expiry links only to a change of its own key. The walk steps are UNION
// ALL: two roots may walk the same chain (a delete row and the end it
// recorded), which repeats revisions but costs less than keeping the walk
// free of them (a key of 5000 changes: History of its oldest 100 in 19 ms
// against 30); the IN that uses the list does not care. A walk costs
// about one step per change of the key above the floor, where changes_key
// (PostgreSQL) read only the rows asked for: History from the start of a
// key with 5000 changes went from about 2 ms to 19 ms, from 400
// revisions before the head about 1.2 ms to 1.5 ms (the floor prunes).
const keyChainRevisions = "WITH RECURSIVE chain(r) AS (" +
	"SELECT e.revision FROM entries e JOIN namespaces n ON n.id = e.namespace_id WHERE n.name = ? AND e.key = ? " +
	"UNION SELECT e.revision FROM entries e JOIN unlinked u ON u.id = e.namespace_id WHERE u.name = ? AND e.key = ? " +
	"UNION SELECT revision FROM change_ends WHERE namespace = ? AND key = ? " +
	"UNION SELECT revision FROM changes WHERE namespace = ? AND key = ? AND kind IN ('delete', 'expire') " +
	"UNION ALL SELECT c.prev_revision FROM chain JOIN changes c ON c.revision = chain.r WHERE c.prev_revision > ?" +
	") SELECT r FROM chain"

// keyChain is the condition "the row is one of the key's changes after
// revision after" on SQLite (keyChainRevisions): the walks stop there.
func keyChain(ns, key string, after int64) sq.Sqlizer {
	return sq.Expr("revision IN ("+keyChainRevisions+")", ns, key, ns, key, ns, key, ns, key, after)
}

// beforeLog answers getAt when the key's state at r predates the log: the
// entry itself when its last change is at or before r; not found when the
// key's first change after r, with none compacted between, shows it did
// not exist; else ErrCompacted.
func (x *ops) beforeLog(ctx context.Context, q querier, lq *logQuery, ns, key string, r int64, st logState) (storage.Entry, error) {
	const op = "get"
	// The row as it is, expired or not: one that expired since r (not
	// yet swept, so no change says so) was the key's state at r. Read
	// as of now, it answered ErrNotFound at r.
	cur, err := q.getEntry(ctx, ns, key, time.Unix(0, 0))
	switch {
	case err == nil:
		if e := toEntry(ns, cur); e.Revision <= r {
			return x.aliveAt(ctx, q, e, r, st)
		}
	case !errors.Is(err, errNoRow):
		return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, err)
	}
	evs, now, err := lq.tail(ctx, q, r, 1)
	if err != nil {
		return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, err)
	}
	if r < now.compacted {
		// Changes after r were compacted: the first retained one (or
		// none) says nothing of the key at r. Before, a creation (a put
		// of a new life, a namespace's creation) after the compacted
		// ones answered ErrNotFound for a key that existed at r.
		return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, compacted(r, now))
	}
	created := len(evs) > 0 && evs[0].Key != "" && evs[0].PrevRevision == 0 && evs[0].Type == storage.EventPut
	if created && now.compacted > 0 {
		// Its next change created it, but that says nothing of a life
		// that expired before (a put over an expired row starts a new
		// life) whose changes were compacted: it answered ErrNotFound
		// for a key live at r.
		return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, compacted(r, now))
	}
	if len(evs) == 0 || created || evs[0].Type == storage.EventNamespaceCreate {
		// Nothing changed the key after r and it does not exist, or its
		// next change created it (and nothing was compacted), or the
		// namespace was created after r.
		return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, storage.ErrNotFound)
	}
	return storage.Entry{}, x.s.failCtx(ctx, op, ns, key, compacted(r, st))
}

// aliveAt is e, the key's entry, unchanged since before r, as it was at
// r: ErrNotFound when it had expired by r's time; when r's time went with
// the compacted log, e if it was still live at the oldest retained
// change's time (later than r's), else ErrCompacted.
func (x *ops) aliveAt(ctx context.Context, q querier, e storage.Entry, r int64, st logState) (storage.Entry, error) {
	const op = "get"
	if e.ExpiresAt.IsZero() {
		return e, nil
	}
	at, ok, err := x.s.revisionTime(ctx, q, r)
	if err == nil && !ok {
		at, ok, err = x.s.oldestChangeTime(ctx, q)
		if err == nil && ok && !e.ExpiresAt.After(at) {
			return storage.Entry{}, x.s.failCtx(ctx, op, e.Namespace, e.Key, compacted(r, st))
		}
	}
	switch {
	case err != nil:
		return storage.Entry{}, x.s.failCtx(ctx, op, e.Namespace, e.Key, err)
	case ok && !e.ExpiresAt.After(at):
		return storage.Entry{}, x.s.failCtx(ctx, op, e.Namespace, e.Key, storage.ErrNotFound)
	case !ok && !e.ExpiresAt.After(x.s.now()):
		// An empty log: r's time is unknown, and it has expired.
		return storage.Entry{}, x.s.failCtx(ctx, op, e.Namespace, e.Key, compacted(r, st))
	}
	return e, nil
}

// readBack reads the rows at or before `before` that pass the query
// (at most limit, and no more once they hold historyPageBytes), newest
// first, and the log's state, from one snapshot; full when it stopped at
// historyPageBytes.
func (lq *logQuery) readBack(ctx context.Context, q querier, before int64, limit int) ([]storage.Event, logState, bool, error) {
	return lq.read(ctx, q, lq.inner(0, before, limit, true), "c.revision DESC", historyPageBytes)
}

// revisionTime is the time of revision r by the log: that of the last
// change at or before r (a revision may be unused, migrations/postgres
// 00010); false when the log holds none.
func (s *Store) revisionTime(ctx context.Context, q querier, r int64) (time.Time, bool, error) {
	return s.changeTime(ctx, q, "SELECT created_at FROM changes WHERE revision <= ? ORDER BY revision DESC LIMIT 1", r)
}

// oldestChangeTime is the time of the oldest change the log retains;
// false when it holds none.
func (s *Store) oldestChangeTime(ctx context.Context, q querier) (time.Time, bool, error) {
	return s.changeTime(ctx, q, "SELECT created_at FROM changes ORDER BY revision LIMIT 1")
}

// changeTime is the time of the change stmt selects, if any.
func (s *Store) changeTime(ctx context.Context, q querier, stmt string, args ...any) (time.Time, bool, error) {
	var at time.Time
	found := false
	err := q.queryRows(ctx, s.placeholders(stmt), args, func(row rowScanner) error {
		found = true
		if s.Dialect() == dialect.Postgres {
			if err := row.Scan(&at); err != nil {
				return err
			}
			at = at.UTC()
			return nil
		}
		var us int64
		if err := row.Scan(&us); err != nil {
			return err
		}
		at = fromMicros(us)
		return nil
	})
	return at, found, err
}
