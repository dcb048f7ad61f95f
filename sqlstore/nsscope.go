package sqlstore

import (
	"context"
	"time"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// listNamespaces reads one page of ListNamespaces: the namespaces after
// p.After, sorted by name, at most p.Limit of them, with one keyset
// statement,
//
//	SELECT … FROM namespaces WHERE name > $after [AND ranges]
//	ORDER BY name LIMIT $n
//
// that walks the range of the namespaces' unique name index (byte order:
// SQLite's BINARY, PostgreSQL's COLLATE "C"), never an offset: a page
// costs its own rows however deep it is (TestListNamespacesKeysetPlan).
// OmitMetadata leaves the metadata column unread.
//
// scoped is set under driver.WithNamespaceScope: the namespaces whose
// names lie in rs, read by a condition of the statement (each range is a
// range of the name index). The security layer passes the ranges its
// caller may read: one principal's many namespaces then cost nothing to
// another's listing, which read and decoded every namespace's row and
// metadata before the layer dropped them.
func (s *Store) listNamespaces(ctx context.Context, scoped bool, rs []driver.KeyRange, p driver.NamespacePage) ([]storage.Namespace, error) {
	if p.Limit == 0 {
		return []storage.Namespace{}, nil
	}
	d := s.Dialect()
	text, args, err := namespacePageQuery(d, scoped, rs, p)
	if err != nil {
		return nil, err
	}
	out := []storage.Namespace{}
	err = s.eng.reader().queryRows(ctx, text, args, func(r rowScanner) error {
		var (
			name       string
			owner      *string
			mdb, ixb   []byte
			created    time.Time
			createdUS  int64
			createdDst any = &createdUS
		)
		if d == dialect.Postgres {
			createdDst = &created
		}
		if err := r.Scan(&name, &owner, &mdb, &ixb, createdDst); err != nil {
			return err
		}
		if d == dialect.Postgres {
			created = utc(created)
		} else {
			created = fromMicros(createdUS)
		}
		n, err := namespaceOf(name, owner, mdb, ixb, created)
		if err != nil {
			return err
		}
		if p.OmitMetadata {
			n.Metadata = nil
		}
		out = append(out, n)
		return nil
	})
	return out, err
}

// namespacePageQuery is listNamespaces' statement and its arguments.
func namespacePageQuery(d dialect.Name, scoped bool, rs []driver.KeyRange, p driver.NamespacePage) (string, []any, error) {
	b := sq.Select(namespaceColumns(d, p.OmitMetadata)...).From("namespaces").OrderBy(nameColumn(d))
	if scoped {
		b = b.Where(namespaceRanges(d, "name", rs))
	}
	if p.After != "" {
		b = b.Where(sq.Expr(nameColumn(d)+" > ?", p.After))
	}
	if p.Limit > 0 {
		b = b.Limit(uint64(p.Limit))
	}
	if d == dialect.Postgres {
		b = b.PlaceholderFormat(sq.Dollar)
	}
	return b.ToSql()
}

// namespaceColumns are the columns listNamespaces scans: name, owner,
// metadata (the empty object when omitted), indexes, created_at.
func namespaceColumns(d dialect.Name, omitMetadata bool) []string {
	md := "CAST(json(metadata) AS TEXT)"
	switch {
	case omitMetadata:
		md = "'{}'"
	case d == dialect.Postgres:
		md = "metadata"
	}
	return []string{"name", "owner", md, "indexes", "created_at"}
}

// nameColumn is the namespaces' name compared in byte order, as its
// unique index orders it (the column is COLLATE "C" on PostgreSQL).
func nameColumn(d dialect.Name) string {
	if d == dialect.Postgres {
		return `name COLLATE "C"`
	}
	return "name"
}

// namespaceOf builds a Namespace from its row's columns.
func namespaceOf(name string, owner *string, metadata, indexes []byte, created time.Time) (storage.Namespace, error) {
	md, err := decodeObject(metadata)
	if err != nil {
		return storage.Namespace{}, err
	}
	ix, err := decodeIndexes(indexes)
	if err != nil {
		return storage.Namespace{}, err
	}
	n := storage.Namespace{Name: name, Metadata: md, CreatedAt: created, Indexes: ix}
	if owner != nil {
		n.Owner = *owner
	}
	return n, nil
}
