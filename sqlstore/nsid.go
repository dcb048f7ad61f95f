package sqlstore

import (
	"context"
	"sync"

	sq "github.com/Masterminds/squirrel"
)

// Query and Count name the namespace's id as a literal in their SQL
// (dialect.NamespaceCond): a partial index (WHERE namespace_id = <id>) is
// used only by a statement that says so. The ids are cached by name. The
// statement checks the id against the name, so a stale id (the namespace
// deleted, perhaps re-created, perhaps its id reused) selects no rows; and
// when a statement run with a cached id finds nothing, the id is read
// again and the statement run again if it changed. Namespaces are never
// renamed, so a cached id is right for as long as the namespace lives.

// nsIDCache maps namespace names to ids. Safe for concurrent use.
type nsIDCache struct {
	m sync.Map // string → int64
}

func (c *nsIDCache) get(name string) (int64, bool) {
	v, ok := c.m.Load(name)
	if !ok {
		return 0, false
	}
	return v.(int64), true
}

func (c *nsIDCache) put(name string, id int64) { c.m.Store(name, id) }
func (c *nsIDCache) forget(name string)        { c.m.Delete(name) }

// readNamespaceID reads the id of namespace ns; 0 when it is missing (no
// namespace has id 0: ids start at 1).
func (x *ops) readNamespaceID(ctx context.Context, ns string) (int64, error) {
	q, args, err := sq.Select("id").From("namespaces").Where(sq.Eq{"name": ns}).
		PlaceholderFormat(x.compiler().PlaceholderFormat()).ToSql()
	if err != nil {
		return 0, err
	}
	var id int64
	err = x.sc.reader().queryRows(ctx, q, args, func(r rowScanner) error { return r.Scan(&id) })
	if err == nil && id != 0 {
		x.s.nsIDs.put(ns, id)
	}
	return id, err
}

// withNamespaceID runs run with the id of namespace ns (0 when it is
// missing, which selects nothing). run reports whether it found any row;
// when it found none with a cached id, the id is read again and run runs
// again if the id changed.
func (x *ops) withNamespaceID(ctx context.Context, ns string, run func(id int64) (found bool, err error)) error {
	id, cached := x.s.nsIDs.get(ns)
	if !cached {
		var err error
		if id, err = x.readNamespaceID(ctx, ns); err != nil {
			return err
		}
	}
	found, err := run(id)
	if err != nil || found || !cached {
		return err
	}
	x.s.nsIDs.forget(ns)
	fresh, err := x.readNamespaceID(ctx, ns)
	if err != nil || fresh == id {
		return err
	}
	_, err = run(fresh)
	return err
}
