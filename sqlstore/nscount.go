package sqlstore

import (
	"context"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

var (
	_ driver.NamespaceCounter = (*Store)(nil)
	_ driver.EntryCounter     = (*Store)(nil)
)

// CountNamespaces implements driver.NamespaceCounter: the namespaces whose
// names lie in rs, counted by one statement over the range of the unique
// index on their name, without reading their rows. The security layer
// asks it before each CreateNamespace of a principal under its quota.
func (s *Store) CountNamespaces(ctx context.Context, rs []driver.KeyRange) (int64, error) {
	const op = "countNamespaces"
	if _, err := s.start(ctx, op, "", 0, nil); err != nil {
		return 0, err
	}
	return s.countOverNamespaces(ctx, op, sq.Select("COUNT(*)").From("namespaces").
		Where(namespaceRanges(s.Dialect(), "name", rs)))
}

// CountEntries implements driver.EntryCounter: the sum of the entry counts
// of the namespaces whose names lie in rs, by one statement over the range
// of the unique index on their name, reading each namespace's stored count
// (on SQLite namespace_counts, which adds the change log's new entries not
// yet folded in, migration 00023), never its entries. Expired entries not
// yet swept count. The security layer asks it for a principal's entries
// under its quota (security.MaxEntriesPerPrincipal).
func (s *Store) CountEntries(ctx context.Context, rs []driver.KeyRange) (int64, error) {
	const op = "countEntries"
	if _, err := s.start(ctx, op, "", 0, nil); err != nil {
		return 0, err
	}
	b := sq.Select("CAST(COALESCE(SUM(entry_count), 0) AS BIGINT)").From("namespaces")
	if s.Dialect() == dialect.SQLite {
		b = sq.Select("CAST(COALESCE(SUM(c.entry_count), 0) AS INTEGER)").
			From("namespaces n").Join("namespace_counts c ON c.id = n.id")
		return s.countOverNamespaces(ctx, op, b.Where(namespaceRanges(s.Dialect(), "n.name", rs)))
	}
	return s.countOverNamespaces(ctx, op, b.Where(namespaceRanges(s.Dialect(), "name", rs)))
}

// countOverNamespaces runs b, a statement of one integer over the
// namespaces table, on a reader.
func (s *Store) countOverNamespaces(ctx context.Context, op string, b sq.SelectBuilder) (int64, error) {
	if s.Dialect() == dialect.Postgres {
		b = b.PlaceholderFormat(sq.Dollar)
	}
	text, args, err := b.ToSql()
	if err != nil {
		return 0, s.failCtx(ctx, op, "", "", err)
	}
	var n int64
	err = s.eng.reader().queryRows(ctx, text, args, func(r rowScanner) error { return r.Scan(&n) })
	if err != nil {
		return 0, s.failCtx(ctx, op, "", "", err)
	}
	return n, nil
}
