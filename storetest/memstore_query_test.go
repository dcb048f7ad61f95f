package storetest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// The memStore's List, Query and Count: the reference evaluator over a
// snapshot of the namespace. Its cursors are the position of the last
// result (the key, or the key and the sort values re-derived from the
// entry), with the same refusal rules as the engine's.

// memPositions remembers the last entry of each page a memStore query
// returned, by key and fingerprint, so that a cursor survives the deletion
// of that entry.
var memPositions sync.Map

type memCursor struct {
	Op, Hash, Key string
}

func memHash(parts ...any) string {
	b, _ := json.Marshal(parts)
	return string(b)
}

func (c memCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeMemCursor(s, op, hash string) (memCursor, error) {
	var c memCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Op != op || c.Hash != hash {
		return c, driver.Invalidf(storage.ErrInvalidOption, "After: the cursor belongs to another %s", op)
	}
	return c, nil
}

func (m *memStore) snapshot(ns string) []storage.Entry {
	var out []storage.Entry
	if n := m.namespaces[ns]; n != nil {
		for k, e := range n.entries {
			out = append(out, m.entry(ns, k, e))
		}
	}
	slices.SortFunc(out, func(a, b storage.Entry) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func page[T any](items []T, o driver.CallOptions) ([]T, bool) {
	if o.Offset >= len(items) {
		items = nil
	} else {
		items = items[o.Offset:]
	}
	if o.Limit >= 0 && len(items) > o.Limit {
		return items[:o.Limit], o.Limit > 0
	}
	return items, false
}

// budgeted cuts a page (items, more: whether more follow) at its MaxBytes:
// after the item that makes the bytes read reach it.
func budgeted[T any](items []T, more bool, o driver.CallOptions, size func(T) int) ([]T, bool) {
	b := driver.ReadBudget{Max: o.MaxBytes}
	for i, it := range items {
		if b.Add(size(it)) && i < len(items)-1 {
			return items[:i+1], true
		}
	}
	return items, more
}

func (m *memStore) List(ctx context.Context, opts ...storage.Option) (storage.ListResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	const op = "list"
	c, err := m.enter(ctx, op, driver.KindNamespace|driver.KindPattern|driver.KindLimit|driver.KindOffset|driver.KindCursor|driver.KindMaxBytes, opts)
	if err != nil {
		return storage.ListResult{}, err
	}
	hash := memHash(op, c.Namespace.Name, c.Pattern, c.Set&driver.KindPattern != 0)
	after, hasAfter := "", false
	if c.Cursor != "" {
		cur, err := decodeMemCursor(c.Cursor, op, hash)
		if err != nil {
			return storage.ListResult{}, opErr(op, c.Namespace, "", err)
		}
		after, hasAfter = cur.Key, true
	}
	keys := []string{}
	for _, e := range m.snapshot(c.Namespace.Name) {
		if c.Set&driver.KindPattern != 0 && !RefMatchPattern(c.Pattern, e.Key) {
			continue
		}
		if hasAfter && e.Key <= after {
			continue
		}
		keys = append(keys, e.Key)
	}
	keys, more := page(keys, c)
	keys, more = budgeted(keys, more, c, func(k string) int { return len(k) })
	res := storage.ListResult{Keys: keys}
	if more {
		res.Cursor = memCursor{Op: op, Hash: hash, Key: keys[len(keys)-1]}.encode()
	}
	return res, nil
}

func (m *memStore) Query(ctx context.Context, f storage.Filter, opts ...storage.Option) (storage.QueryResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	const op = "query"
	c, err := m.enter(ctx, op, driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindOffset|driver.KindCursor|driver.KindMaxBytes, opts)
	if err != nil {
		return storage.QueryResult{}, err
	}
	x, err := f.Compile()
	if err != nil {
		return storage.QueryResult{}, opErr(op, c.Namespace, "", err)
	}
	fj, _ := json.Marshal(f)
	hash := memHash(op, c.Namespace.Name, json.RawMessage(fj), c.Sort)
	var matched []storage.Entry
	all := m.snapshot(c.Namespace.Name)
	for _, e := range all {
		if RefMatch(x, e) {
			matched = append(matched, e)
		}
	}
	if err := RefSort(matched, c.Sort); err != nil {
		return storage.QueryResult{}, opErr(op, c.Namespace, "", err)
	}
	if c.Cursor != "" {
		cur, err := decodeMemCursor(c.Cursor, op, hash)
		if err != nil {
			return storage.QueryResult{}, opErr(op, c.Namespace, "", err)
		}
		// The cursor's entry may have changed or be gone: sort the entry as
		// it was among the current ones and continue after it.
		pos, ok := memPositions.Load(cur.Key + "\x00" + hash)
		if !ok {
			return storage.QueryResult{}, opErr(op, c.Namespace, "", driver.Invalidf(storage.ErrInvalidOption, "After: unknown cursor"))
		}
		last := pos.(storage.Entry)
		withLast := append(slices.Clone(matched), last)
		if err := RefSort(withLast, c.Sort); err != nil {
			return storage.QueryResult{}, opErr(op, c.Namespace, "", err)
		}
		i := slices.IndexFunc(withLast, func(e storage.Entry) bool {
			return e.Key == last.Key && e.Version == last.Version && string(e.Value) == string(last.Value)
		})
		rest := withLast[i+1:]
		matched = slices.DeleteFunc(slices.Clone(rest), func(e storage.Entry) bool { return e.Key == last.Key })
	}
	entries, more := page(matched, c)
	entries, more = budgeted(entries, more, c, func(e storage.Entry) int { return len(e.Key) + len(e.Value) + len(e.Metadata) })
	if entries == nil {
		entries = []storage.Entry{}
	}
	res := storage.QueryResult{Entries: entries}
	if more {
		last := entries[len(entries)-1]
		memPositions.Store(last.Key+"\x00"+hash, last)
		res.Cursor = memCursor{Op: op, Hash: hash, Key: last.Key}.encode()
	}
	return res, nil
}

func (m *memStore) Count(ctx context.Context, opts ...storage.Option) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	const op = "count"
	c, err := m.enter(ctx, op, driver.KindNamespace|driver.KindFilter, opts)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range m.snapshot(c.Namespace.Name) {
		if RefMatch(c.Filter, e) {
			n++
		}
	}
	return n, nil
}
