package storagedocstore

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/mycelia-kernel/storage"
	"gocloud.dev/docstore/driver"
)

// decodeEntry decodes a stored entry into doc: the whole document, or only
// the field paths fps (and, for a query, the key field). The revision is
// given when the document was written with a revision field or doc has
// one, and fps is empty or names it.
func (c *collection) decodeEntry(e storage.Entry, doc driver.Document, fps [][]string, query bool) error {
	tree, err := decodeJSON(e.Value)
	if err != nil {
		return err
	}
	m, ok := tree.(map[string]any)
	if !ok {
		return fmt.Errorf("storagedocstore: %q holds a %T, not a document: %w", e.Key, tree, storage.ErrInvalidValue)
	}
	wantRev := len(fps) == 0
	if len(fps) > 0 {
		if query && c.keyField != "" {
			fps = append(fps, []string{c.keyField})
		}
		out := map[string]any{}
		for _, fp := range fps {
			if len(fp) == 1 && fp[0] == c.revField {
				wantRev = true
				continue
			}
			project(m, out, escapePath(fp))
		}
		m = out
	}
	if wantRev && (doc.HasField(c.revField) || hadRevision(e)) {
		m[escapeKey(c.revField)] = e.Revision
	}
	return doc.Decode(decoder{m})
}

// project copies the value at the path fp of src, if any, into dst.
func project(src, dst map[string]any, fp []string) {
	for i, seg := range fp {
		v, ok := src[seg]
		if !ok {
			return
		}
		if i == len(fp)-1 {
			dst[seg] = v
			return
		}
		next, ok := v.(map[string]any)
		if !ok {
			return
		}
		d, ok := dst[seg].(map[string]any)
		if !ok {
			d = map[string]any{}
			dst[seg] = d
		}
		src, dst = next, d
	}
}

// queryOptions translates a docstore query into the engine's Query: its
// filters (joined by and), sort, offset and limit.
func (c *collection) queryOptions(q *driver.Query) (storage.Filter, []storage.Option, error) {
	var leaves []storage.Filter
	for _, f := range q.Filters {
		leaf, err := filterLeaf(f)
		if err != nil {
			return storage.Filter{}, nil, err
		}
		leaves = append(leaves, leaf)
	}
	var filter storage.Filter
	if len(leaves) == 1 {
		filter = leaves[0]
	} else if len(leaves) > 1 {
		filter = storage.And(leaves...)
	}
	opts := []storage.Option{c.nsOption}
	if q.OrderByField != "" {
		field := escapeKey(q.OrderByField)
		sf := storage.Desc(field)
		if q.OrderAscending {
			sf = storage.Asc(field)
		}
		opts = append(opts, storage.SortBy(sf))
	}
	return filter, opts, nil
}

var filterOps = map[string]storage.Operator{
	driver.EqualOp: storage.OpEq,
	">":            storage.OpGt,
	">=":           storage.OpGte,
	"<":            storage.OpLt,
	"<=":           storage.OpLte,
	"in":           storage.OpIn,
	"not-in":       storage.OpNin,
}

// filterLeaf translates one docstore filter. Values are strings, numbers,
// booleans and times (compared in their stored spelling); in and not-in
// take a slice or array of them. Anything else is ErrInvalidFilter.
func filterLeaf(f driver.Filter) (storage.Filter, error) {
	op, ok := filterOps[f.Op]
	if !ok {
		return storage.Filter{}, fmt.Errorf("storagedocstore: operator %q: %w", f.Op, storage.ErrInvalidFilter)
	}
	field := strings.Join(escapePath(f.FieldPath), ".")
	if op == storage.OpIn || op == storage.OpNin {
		v := reflect.ValueOf(f.Value)
		if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
			return storage.Filter{}, fmt.Errorf("storagedocstore: %s takes a slice, not %T: %w", f.Op, f.Value, storage.ErrInvalidFilter)
		}
		vals := make([]any, v.Len())
		for i := range vals {
			x, err := filterValue(v.Index(i).Interface())
			if err != nil {
				return storage.Filter{}, err
			}
			vals[i] = x
		}
		return storage.Filter{Field: field, Op: op, Value: vals}, nil
	}
	x, err := filterValue(f.Value)
	if err != nil {
		return storage.Filter{}, err
	}
	return storage.Filter{Field: field, Op: op, Value: x}, nil
}

func filterValue(x any) (any, error) {
	if t, ok := x.(time.Time); ok {
		return formatTime(t)
	}
	v := reflect.ValueOf(x)
	switch v.Kind() {
	case reflect.String:
		return v.String(), nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint(), nil
	case reflect.Float32, reflect.Float64:
		return v.Float(), nil
	}
	return nil, fmt.Errorf("storagedocstore: a filter cannot compare with %v (%T): %w", x, x, storage.ErrInvalidFilter)
}

// RunGetQuery implements driver.Collection: one storage Query per page
// (the first one here, the next ones as the iterator reaches them), with
// After for the following pages.
func (c *collection) RunGetQuery(ctx context.Context, q *driver.Query) (driver.DocumentIterator, error) {
	filter, opts, err := c.queryOptions(q)
	if err != nil {
		return nil, err
	}
	if q.BeforeQuery != nil {
		if err := q.BeforeQuery(driver.AsFunc(&filter)); err != nil {
			return nil, err
		}
	}
	it := &iterator{c: c, q: q, filter: filter, opts: opts, left: q.Limit, offset: q.Offset}
	if q.Limit <= 0 {
		it.left = -1
	}
	if err := it.fetch(ctx); err != nil {
		return nil, err
	}
	return it, nil
}

type iterator struct {
	c      *collection
	q      *driver.Query
	filter storage.Filter
	opts   []storage.Option
	page   []storage.Entry
	cursor string
	done   bool
	left   int // results still allowed by the query's limit; -1: no limit
	offset int // the query's offset, for the first page only
}

// fetch reads the next page.
func (it *iterator) fetch(ctx context.Context) error {
	n := it.c.queryPage
	if it.left >= 0 && it.left < n {
		n = it.left
	}
	if n == 0 {
		it.done = true
		return nil
	}
	opts := append(it.opts[:len(it.opts):len(it.opts)], storage.Limit(n))
	if it.cursor != "" {
		opts = append(opts, storage.After(it.cursor))
	} else if it.offset > 0 {
		opts = append(opts, storage.Offset(it.offset))
	}
	res, err := it.c.store.Query(ctx, it.filter, opts...)
	if err != nil {
		return err
	}
	it.page, it.cursor = res.Entries, res.Cursor
	it.done = res.Cursor == ""
	if it.left >= 0 {
		it.left -= len(res.Entries)
	}
	return nil
}

// Next implements driver.DocumentIterator.
func (it *iterator) Next(ctx context.Context, doc driver.Document) error {
	for len(it.page) == 0 {
		if it.done {
			return io.EOF
		}
		if err := it.fetch(ctx); err != nil {
			return err
		}
	}
	e := it.page[0]
	it.page = it.page[1:]
	return it.c.decodeEntry(e, doc, it.q.FieldPaths, true)
}

// Stop implements driver.DocumentIterator.
func (it *iterator) Stop() { it.page, it.done = nil, true }

// As implements driver.DocumentIterator: it exposes nothing.
func (it *iterator) As(any) bool { return false }

// QueryPlan implements driver.Collection: the engine's filter, in its JSON
// form, and the other options.
func (c *collection) QueryPlan(q *driver.Query) (string, error) {
	filter, _, err := c.queryOptions(q)
	if err != nil {
		return "", err
	}
	b, err := filter.MarshalJSON()
	if err != nil {
		return "", err
	}
	plan := fmt.Sprintf("storage Query in namespace %q, filter %s", c.ns, b)
	if q.OrderByField != "" {
		plan += fmt.Sprintf(", sorted by %s (ascending: %v)", q.OrderByField, q.OrderAscending)
	}
	return plan + fmt.Sprintf(", offset %d, limit %d", q.Offset, q.Limit), nil
}
