package sqlstore

import (
	"context"
	"fmt"
	"maps"

	sq "github.com/Masterminds/squirrel"

	storage "github.com/mycelia-kernel/storage"
)

// Query and Count name the namespace's id as a literal in their SQL
// (dialect.NamespaceCond), and the id of a declared field in
// index_entries (ix_field = <id>). Both are cached by namespace name
// (nsInfo). Namespace ids and field ids are never reused (migration
// 00028: a namespace's id and each field's id are one past the largest
// ever given), so a stale entry (the namespace deleted, perhaps
// re-created; an index dropped, perhaps declared again) names rows that no
// longer exist and selects none, never another namespace's or field's;
// and when a statement run with a cached entry finds nothing, the entry is
// read again and the statement run again if it changed. So too with an
// entry read just before the statement (not cached yet, or read again):
// another store can delete the namespace or drop the index in between
// (withNamespaceID); and a Query whose page takes two statements, whose
// second reads fewer rows than the first said, reads the entry again
// (queryPrep.short). A cache that does
// not know of a new index only makes a statement read entries without it:
// the answer is the same.
//
// An unlinked namespace's entries and index rows (a Clear or a
// DeleteNamespace, unlink.go) keep its old id until the purger deletes
// them, so an id is no longer enough: Query and Count also want a
// namespace row to have it (namespaceLive), and run again
// with the id read afresh when it has not. Get, Has and GetMany name the
// namespace by name, which finds only the live row. Likewise the rows of
// a field whose index SQLite's DropIndex is dropping a chunk at a time
// keep its id: a statement that reads them also wants the field still
// declared under that id (indexDrive.fieldLive, which implies namespaceLive
// there: indexDrive.liveConds).
//
// Point reads by a cached id gain nothing since: the check that the id is
// still the namespace's (a probe of namespaces, or of unlinked, in the
// statement) costs the server what finding the id by name does, and
// PostgreSQL's Has by its cached id (HasEntryByID, 2026-12-04 to
// 2026-12-05) cost 1-9% more server CPU than by name once it had that
// check (bench/results/2026-12-05-pgids.md). A namespace's name keeping
// its id (2026-12-04-pgget.md) would not do either: a namespace deleted and
// created again would see its unlinked entries until they are purged.

// nsInfo is what Query and Count know of a namespace: its id (0 when it is
// missing: ids start at 1) and the ids of its declared fields, by their
// declared spelling (driver.Field.Text).
type nsInfo struct {
	id     int64
	fields map[string]int64
	sig    string // fieldsSignature(fields), for the query cache's keys
}

func (a nsInfo) equal(b nsInfo) bool { return a.id == b.id && maps.Equal(a.fields, b.fields) }

// nsIDCache maps namespace names to nsInfo. Safe for concurrent use.
//
// It is bounded (genMap, about nsIDsMax names per generation): this store
// forgets a namespace it deletes, but not one another store on the same
// database deletes (two servers on one PostgreSQL, processes sharing a
// SQLite file), which it would otherwise keep for as long as it runs when
// namespaces come and go (one per session, say). A name not used for a
// generation is dropped and read again when needed (one statement), as
// drive.go's nsRows are; names in use stay however many others pass.
type nsIDCache struct {
	m genMap[string, nsInfo]
}

// nsIDsMax bounds how many namespace names a generation of nsIDCache keeps.
var nsIDsMax int64 = 4096

func (c *nsIDCache) get(name string) (nsInfo, bool) { return c.m.get(name, nsIDsMax) }

func (c *nsIDCache) put(name string, n nsInfo) { c.m.put(name, n, nsIDsMax) }

func (c *nsIDCache) forget(name string) { c.m.forget(name) }

// forgetAll drops every name (a Clear of every namespace gave each one
// that had entries a new id).
func (c *nsIDCache) forgetAll() { c.m.forgetAll() }

// readNamespaceID reads the id of namespace ns; 0 when it is missing.
func (x *ops) readNamespaceID(ctx context.Context, ns string) (int64, error) {
	n, err := x.readNamespace(ctx, ns)
	return n.id, err
}

// readNamespace reads the id of namespace ns and its declared fields, in
// one statement, and caches them.
func (x *ops) readNamespace(ctx context.Context, ns string) (nsInfo, error) {
	q, args, err := sq.Select("n.id", "f.field", "f.field_id").From("namespaces n").
		LeftJoin("index_fields f ON f.namespace_id = n.id").Where(sq.Eq{"n.name": ns}).
		PlaceholderFormat(x.compiler().PlaceholderFormat()).ToSql()
	if err != nil {
		return nsInfo{}, err
	}
	var n nsInfo
	err = x.sc.reader().queryRows(ctx, q, args, func(r rowScanner) error {
		var field *string
		var fid *int64
		if err := r.Scan(&n.id, &field, &fid); err != nil {
			return err
		}
		if field != nil && fid != nil {
			if n.fields == nil {
				n.fields = map[string]int64{}
			}
			n.fields[*field] = *fid
		}
		return nil
	})
	if n.fields != nil {
		n.sig = fieldsSignature(n.fields)
	}
	if err == nil && n.id != 0 {
		x.idCache().put(ns, n)
	}
	return n, err
}

// idCache is where readNamespace caches what it reads: the Store's cache,
// or inside a transaction the transaction's own. A transaction sees the
// namespaces it created; on SQLite their ids come from a counter that
// rolls back with it (migration 00028's namespace_seq), so after a
// rollback the next namespace created can take the same id, and a
// Store-wide entry for the rolled-back name would select that namespace's
// rows. Ids read outside transactions are committed, never reused, and
// safe in every scope.
func (x *ops) idCache() *nsIDCache {
	if l := x.sc.localIDs(); l != nil {
		return l
	}
	return &x.s.nsIDs
}

// cachedNamespace is what the scope's cache, then the Store's, knows of
// namespace ns.
func (x *ops) cachedNamespace(ns string) (nsInfo, bool) {
	if l := x.sc.localIDs(); l != nil {
		if n, ok := l.get(ns); ok {
			return n, true
		}
	}
	return x.s.nsIDs.get(ns)
}

// withNamespaceID runs run with what is known of namespace ns (id 0 when
// it is missing, which selects nothing). run reports whether it found any
// row. When it found none, what it ran with may have gone stale before
// its statement ran: a cached entry, or one read just before while
// another store (or a call of this one) deleted the namespace or dropped
// a declared index; so the entry is read again, and run runs again if it
// changed, up to namespaceRuns runs in all. A namespace read as missing
// and a statement that found nothing agree (the namespace was missing
// when it was read): that answer stands. When the entry changed again
// after the last run, that run's "nothing found" may be wrong (it ran on
// ids already stale: an index being dropped misses entries that were
// never deleted), so it is not answered: the call fails with
// errNamespaceOvertaken (ErrTxConflict; running it again may succeed).
func (x *ops) withNamespaceID(ctx context.Context, ns string, run func(n nsInfo) (found bool, err error)) error {
	n, cached := x.cachedNamespace(ns)
	if !cached {
		var err error
		if n, err = x.readNamespace(ctx, ns); err != nil {
			return err
		}
	}
	for runs := 1; ; runs++ {
		found, err := run(n)
		if err != nil || found || (!cached && n.id == 0) {
			return err
		}
		x.s.nsIDs.forget(ns)
		if l := x.sc.localIDs(); l != nil {
			l.forget(ns)
		}
		fresh, err := x.readNamespace(ctx, ns)
		if err != nil || fresh.equal(n) {
			return err
		}
		if runs == namespaceRuns {
			return errNamespaceOvertaken
		}
		n, cached = fresh, false
	}
}

// errNamespaceOvertaken fails a read whose namespace changed (deleted,
// cleared, an index created or dropped) between the reading of its ids and
// its statement on each of its namespaceRuns runs.
var errNamespaceOvertaken = fmt.Errorf("%w: the namespace changed during each of %d runs of the read", storage.ErrTxConflict, namespaceRuns)

// namespaceRuns bounds the runs of withNamespaceID's statement: each
// one after the first follows a change of the namespace's ids, which
// another change can overtake again.
const namespaceRuns = 8
