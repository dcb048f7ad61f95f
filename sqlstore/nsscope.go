package sqlstore

import (
	"context"
	"time"

	sq "github.com/Masterminds/squirrel"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// listNamespacesIn is ListNamespaces under driver.WithNamespaceScope: the
// namespaces whose names lie in rs, sorted by name, read by a condition
// of the statement (namespaces' name is unique, so each range is a range
// of its index). The security layer passes the ranges its caller may
// read: one principal's many namespaces then cost nothing to another's
// listing, which read and decoded every namespace's row and metadata
// before the layer dropped them.
func (s *Store) listNamespacesIn(ctx context.Context, rs []driver.KeyRange) ([]storage.Namespace, error) {
	d := s.Dialect()
	md := "CAST(json(metadata) AS TEXT)"
	if d == dialect.Postgres {
		md = "metadata"
	}
	b := sq.Select("name", "owner", md, "indexes", "created_at").From("namespaces").
		Where(namespaceRanges(d, "name", rs)).OrderBy("name")
	if d == dialect.Postgres {
		b = b.PlaceholderFormat(sq.Dollar)
	}
	text, args, err := b.ToSql()
	if err != nil {
		return nil, err
	}
	var out []storage.Namespace
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
		out = append(out, n)
		return nil
	})
	return out, err
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
