package sqlstore

import (
	"context"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

var _ driver.NamespaceCounter = (*Store)(nil)

// CountNamespaces implements driver.NamespaceCounter: the namespaces whose
// names lie in rs, counted by one statement over the range of the unique
// index on their name, without reading their rows. The security layer
// asks it before each CreateNamespace of a principal under its quota.
func (s *Store) CountNamespaces(ctx context.Context, rs []driver.KeyRange) (int64, error) {
	const op = "countNamespaces"
	if _, err := s.start(ctx, op, "", 0, nil); err != nil {
		return 0, err
	}
	b := sq.Select("COUNT(*)").From("namespaces").Where(namespaceRanges(s.Dialect(), "name", rs))
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
