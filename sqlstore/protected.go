package sqlstore

import (
	"context"
	"time"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

var _ driver.ProtectedClearer = (*Store)(nil)

// ClearUnless implements driver.ProtectedClearer: Clear of namespace ns,
// refused with driver.ErrProtected when ns holds a live entry in one of
// the ranges protected. The check is the first statement of the clear's
// transaction (ops.clear).
func (s *Store) ClearUnless(ctx context.Context, ns string, protected []storage.KeyRange) error {
	return s.clear(ctx, []storage.Option{storage.InNamespace(ns)}, protected)
}

// DeleteNamespaceUnless implements driver.ProtectedClearer:
// DeleteNamespace, refused with driver.ErrProtected when the namespace
// holds a live entry in one of the ranges protected. The check runs in the
// delete's transaction, after the namespace's row is locked (on
// PostgreSQL that statement takes the revision lock first).
func (s *Store) DeleteNamespaceUnless(ctx context.Context, name string, protected []storage.KeyRange, opts ...storage.NamespaceOption) error {
	return s.deleteNamespace(ctx, name, opts, protected)
}

// refuseProtected returns driver.ErrProtected when namespace ns holds an
// entry live at now whose key lies in one of the ranges protected (none:
// nil, without a statement). It runs one statement, after the write lock
// (querier.queryRowsLocked): an EXISTS per range, each a range scan of
// the primary key (namespace_id, key) that stops at the first live entry,
// so that the entries outside the ranges (the caller's own, however many)
// are never read under the lock.
func (x *ops) refuseProtected(ctx context.Context, q querier, ns string, protected []storage.KeyRange, now time.Time) error {
	if len(protected) == 0 {
		return nil
	}
	text, args, err := protectedStatement(x.compiler(), ns, protected, now)
	if err != nil {
		return err
	}
	var found int64
	if err := q.queryRowsLocked(ctx, text, args, func(r rowScanner) error { return r.Scan(&found) }); err != nil {
		return err
	}
	if found != 0 {
		return driver.ErrProtected
	}
	return nil
}

// protectedStatement writes refuseProtected's statement: whether namespace
// ns holds an entry live at now in one of ranges.
func protectedStatement(c *dialect.Compiler, ns string, ranges []storage.KeyRange, now time.Time) (string, []any, error) {
	or := sq.Or{}
	for _, r := range ranges {
		sub := sq.Select("1").From("entries").
			Where("namespace_id = (SELECT id FROM namespaces WHERE name = ?)", ns).
			Where(spanCondOn(c, "key", r, nil)).Where(liveCond(c, now))
		or = append(or, sq.Expr("EXISTS (?)", sub))
	}
	b := sq.Select().Column(sq.Expr("CASE WHEN ? THEN 1 ELSE 0 END", balancedOr(or)))
	return b.PlaceholderFormat(c.PlaceholderFormat()).ToSql()
}
