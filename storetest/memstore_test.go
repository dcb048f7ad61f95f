package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// TestMemStore validates the suite against memStore, a reference
// implementation of the contract's semantics.
func TestMemStore(t *testing.T) {
	Run(t, Harness{
		Name: "memory",
		New: func(t *testing.T, cfg Config) storage.Store {
			return newMemStore(cfg)
		},
		Supports: Supports{Capacity: true, MaxValueSize: true},
		Check: func(t *testing.T, s storage.Store) {
			t.Helper()
			s.(*memStore).check(t)
		},
	})
}

// memStore is a map-based storage.Store that implements the contract's
// semantics in memory. It is safe for concurrent use; every operation holds
// mu for its whole duration, so each is atomic.
//
// Choices the contract leaves open, which the suite also asserts:
//   - an IfVersion Set on a missing key is ErrConflict; Delete and
//     SetMetadata report a missing key as ErrNotFound, IfVersion or not;
//   - within one SetMany or DeleteMany the last occurrence of a key wins
//     whole (its value and its metadata, nil included); earlier occurrences
//     are not validated;
//   - a SetMany whose new keys would pass the capacity fails every key that
//     did not already fail with ErrCapacityExceeded, atomic or not;
//   - when an atomic batch fails, the keys that did not fail themselves
//     carry an error that wraps the first failing key's error.
type memStore struct {
	cfg Config

	mu         sync.Mutex // protects the fields below
	closed     bool
	namespaces map[string]*memNamespace
	size       int64     // entries in all namespaces
	clock      time.Time // the last timestamp handed out
}

type memNamespace struct {
	owner     string
	metadata  []byte
	createdAt time.Time
	entries   map[string]*memEntry
}

type memEntry struct {
	value, metadata  []byte
	version          int64
	created, updated time.Time
}

var _ storage.Store = (*memStore)(nil)

func newMemStore(cfg Config) *memStore {
	m := &memStore{cfg: cfg, namespaces: map[string]*memNamespace{}}
	m.namespaces[storage.DefaultNamespace] = &memNamespace{
		metadata: []byte("{}"), createdAt: m.now(), entries: map[string]*memEntry{},
	}
	return m
}

// now returns the current time in microseconds, never before the last
// timestamp handed out. The caller holds mu (or owns m).
func (m *memStore) now() time.Time {
	t := time.Now().UTC().Truncate(time.Microsecond)
	if t.Before(m.clock) {
		t = m.clock
	}
	m.clock = t
	return t
}

// normalize re-encodes stored JSON the way a database might: object members
// sorted, whitespace dropped, numbers kept as written.
func normalize(b []byte) []byte {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		panic(fmt.Sprintf("memstore: normalize checked JSON: %v", err))
	}
	out, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("memstore: normalize checked JSON: %v", err))
	}
	return out
}

func opErr(op string, ns storage.NamespaceName, key string, err error) error {
	return &storage.OpError{Op: op, Namespace: ns.Name, Key: key, Err: err}
}

// enter starts operation op: it checks the context and that the store is
// open, and resolves opts. The caller holds mu.
func (m *memStore) enter(ctx context.Context, op string, allowed driver.OptionKind, opts []storage.Option) (driver.CallOptions, error) {
	if err := ctx.Err(); err != nil {
		return driver.CallOptions{}, &storage.OpError{Op: op, Err: err}
	}
	if m.closed {
		return driver.CallOptions{}, &storage.OpError{Op: op, Err: storage.ErrClosed}
	}
	c, err := driver.ResolveOptions(op, allowed, opts)
	if err != nil {
		return c, &storage.OpError{Op: op, Err: err}
	}
	return c, nil
}

// lookup returns the entry key of namespace ns, or nil. The caller holds mu.
func (m *memStore) lookup(ns, key string) *memEntry {
	if n := m.namespaces[ns]; n != nil {
		return n.entries[key]
	}
	return nil
}

func (m *memStore) entry(ns, key string, e *memEntry) storage.Entry {
	return storage.Entry{
		Namespace: ns, Key: key,
		Value: bytes.Clone(e.value), Metadata: bytes.Clone(e.metadata),
		Version: e.version, CreatedAt: e.created, UpdatedAt: e.updated,
	}
}

// encodeValue checks a value against the store's size limit.
func (m *memStore) encodeValue(v any) ([]byte, error) {
	b, err := driver.EncodeValue(v, m.cfg.MaxValueSize)
	if err != nil {
		return nil, err
	}
	return normalize(b), nil
}

// encodeMetadata checks metadata against the store's size limit; nil for
// none.
func (m *memStore) encodeMetadata(md any) ([]byte, error) {
	b, err := driver.EncodeMetadata(md, m.cfg.MaxValueSize)
	if b == nil || err != nil {
		return nil, err
	}
	return normalize(b), nil
}

func (m *memStore) checkMetadata(b []byte) ([]byte, error) {
	b, err := driver.CheckMetadataJSON(b, m.cfg.MaxValueSize)
	if err != nil {
		return nil, err
	}
	return normalize(b), nil
}

// put writes one validated value; md nil keeps the stored metadata. The
// caller holds mu and has checked NoOverwrite, IfVersion and capacity.
func (m *memStore) put(ns storage.NamespaceName, key string, value, md []byte) int64 {
	n := m.namespaces[ns.Name]
	if n == nil {
		n = &memNamespace{owner: ns.Owner, metadata: []byte("{}"), createdAt: m.now(), entries: map[string]*memEntry{}}
		m.namespaces[ns.Name] = n
	}
	now := m.now()
	e := n.entries[key]
	if e == nil {
		e = &memEntry{metadata: []byte("{}"), created: now}
		n.entries[key] = e
		m.size++
	}
	e.value = bytes.Clone(value)
	if md != nil {
		e.metadata = bytes.Clone(md)
	}
	e.version++
	e.updated = now
	return e.version
}

func (m *memStore) full(newKeys int64) bool {
	return m.cfg.Capacity > 0 && m.size+newKeys > m.cfg.Capacity
}

func conflict(e *memEntry, want int64) error {
	if e == nil {
		return fmt.Errorf("%w: expected version %d, key is missing", storage.ErrConflict, want)
	}
	return fmt.Errorf("%w: expected version %d, key is at %d", storage.ErrConflict, want, e.version)
}

func (m *memStore) Get(ctx context.Context, key string, opts ...storage.Option) (storage.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.enter(ctx, "get", driver.KindNamespace, opts)
	if err != nil {
		return storage.Entry{}, err
	}
	if err := storage.ValidateKey(key); err != nil {
		return storage.Entry{}, opErr("get", c.Namespace, key, err)
	}
	e := m.lookup(c.Namespace.Name, key)
	if e == nil {
		return storage.Entry{}, opErr("get", c.Namespace, key, storage.ErrNotFound)
	}
	return m.entry(c.Namespace.Name, key, e), nil
}

func (m *memStore) Set(ctx context.Context, key string, value any, opts ...storage.Option) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.enter(ctx, "set", driver.KindNamespace|driver.KindMetadata|driver.KindNoOverwrite|driver.KindIfVersion|driver.KindMerge, opts)
	if err != nil {
		return err
	}
	fail := func(err error) error { return opErr("set", c.Namespace, key, err) }
	if err := storage.ValidateKey(key); err != nil {
		return fail(err)
	}
	b, err := m.encodeValue(value)
	if err != nil {
		return fail(err)
	}
	if c.Merge {
		if c.NoOverwrite {
			return fail(driver.Invalidf(storage.ErrInvalidOption, "Merge with NoOverwrite"))
		}
		var target []byte
		if e := m.lookup(c.Namespace.Name, key); e != nil {
			target = e.value
		}
		merged, err := jsonx.MergePatch(target, b)
		if err != nil {
			return fail(driver.Invalidf(storage.ErrInvalidValue, "%v", err))
		}
		if b, err = m.encodeValue(json.RawMessage(merged)); err != nil {
			return fail(err)
		}
	}
	var md []byte
	if c.Metadata != nil {
		if md, err = m.checkMetadata(c.Metadata); err != nil {
			return fail(err)
		}
	}
	e := m.lookup(c.Namespace.Name, key)
	switch {
	case e != nil && c.NoOverwrite:
		return fail(storage.ErrAlreadyExists)
	case c.IfVersion != 0 && (e == nil || e.version != c.IfVersion):
		return fail(conflict(e, c.IfVersion))
	case e == nil && m.full(1):
		return fail(storage.ErrCapacityExceeded)
	}
	m.put(c.Namespace, key, b, md)
	return nil
}

func (m *memStore) Delete(ctx context.Context, key string, opts ...storage.Option) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.enter(ctx, "delete", driver.KindNamespace|driver.KindIfVersion, opts)
	if err != nil {
		return err
	}
	if err := storage.ValidateKey(key); err != nil {
		return opErr("delete", c.Namespace, key, err)
	}
	e := m.lookup(c.Namespace.Name, key)
	switch {
	case e == nil:
		return opErr("delete", c.Namespace, key, storage.ErrNotFound)
	case c.IfVersion != 0 && e.version != c.IfVersion:
		return opErr("delete", c.Namespace, key, conflict(e, c.IfVersion))
	}
	delete(m.namespaces[c.Namespace.Name].entries, key)
	m.size--
	return nil
}

func (m *memStore) Has(ctx context.Context, key string, opts ...storage.Option) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.enter(ctx, "has", driver.KindNamespace, opts)
	if err != nil {
		return false, err
	}
	if err := storage.ValidateKey(key); err != nil {
		return false, opErr("has", c.Namespace, key, err)
	}
	return m.lookup(c.Namespace.Name, key) != nil, nil
}

func (m *memStore) GetMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.GetManyResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.enter(ctx, "getMany", driver.KindNamespace|driver.KindMaxBytes, opts)
	if err != nil {
		return storage.GetManyResult{}, err
	}
	res := storage.GetManyResult{Entries: map[string]storage.Entry{}, Errors: map[string]error{}}
	var valid []string
	seen := map[string]bool{}
	for _, k := range keys {
		if err := storage.ValidateKey(k); err != nil {
			res.Errors[k] = opErr("getMany", c.Namespace, k, err)
		} else if !seen[k] {
			seen[k] = true
			valid = append(valid, k)
		}
	}
	b := driver.ReadBudget{Max: c.MaxBytes}
	for i, k := range valid {
		if e := m.lookup(c.Namespace.Name, k); e != nil {
			en := m.entry(c.Namespace.Name, k, e)
			res.Entries[k] = en
			if b.Add(len(k)+len(en.Value)+len(en.Metadata)) && i < len(valid)-1 {
				res.Unread = valid[i+1:]
				break
			}
		} else {
			res.Errors[k] = opErr("getMany", c.Namespace, k, storage.ErrNotFound)
		}
	}
	return res, nil
}

// distinct returns the distinct keys in first-occurrence order and, for
// each, the index of its last occurrence.
func distinct(n int, key func(int) string) ([]string, map[string]int) {
	var order []string
	last := map[string]int{}
	for i := range n {
		k := key(i)
		if _, seen := last[k]; !seen {
			order = append(order, k)
		}
		last[k] = i
	}
	return order, last
}

// abort gives every result without an error one that says the atomic
// batch failed, and reports whether any result failed.
func abort(op string, ns storage.NamespaceName, results []storage.KeyResult) bool {
	first := slices.IndexFunc(results, func(r storage.KeyResult) bool { return r.Err != nil })
	if first < 0 {
		return false
	}
	cause := results[first]
	for i := range results {
		if results[i].Err == nil {
			results[i].Err = opErr(op, ns, results[i].Key,
				fmt.Errorf("not written, atomic batch failed at key %q: %w", cause.Key, cause.Err))
		}
	}
	return true
}

func (m *memStore) SetMany(ctx context.Context, items []storage.Item, opts ...storage.Option) (storage.BatchResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.enter(ctx, "setMany", driver.KindNamespace|driver.KindMetadata|driver.KindNoOverwrite|driver.KindAtomic, opts)
	if err != nil {
		return storage.BatchResult{}, err
	}
	var batchMD []byte
	if c.Metadata != nil {
		if batchMD, err = m.checkMetadata(c.Metadata); err != nil {
			return storage.BatchResult{}, opErr("setMany", c.Namespace, "", err)
		}
	}
	order, last := distinct(len(items), func(i int) string { return items[i].Key })
	results := make([]storage.KeyResult, len(order))
	values := make([][]byte, len(order))
	mds := make([][]byte, len(order))
	var newKeys int64
	for i, k := range order {
		results[i].Key = k
		fail := func(err error) { results[i].Err = opErr("setMany", c.Namespace, k, err) }
		it := items[last[k]]
		if err := storage.ValidateKey(k); err != nil {
			fail(err)
			continue
		}
		v, err := m.encodeValue(it.Value)
		if err != nil {
			fail(err)
			continue
		}
		md, err := m.encodeMetadata(it.Metadata)
		if err != nil {
			fail(err)
			continue
		}
		if md == nil {
			md = batchMD
		}
		e := m.lookup(c.Namespace.Name, k)
		if e != nil && c.NoOverwrite {
			fail(storage.ErrAlreadyExists)
			continue
		}
		if e == nil {
			newKeys++
		}
		values[i], mds[i] = v, md
	}
	if m.full(newKeys) {
		for i := range results {
			if results[i].Err == nil {
				results[i].Err = opErr("setMany", c.Namespace, results[i].Key, storage.ErrCapacityExceeded)
			}
		}
		return storage.BatchResult{Results: results}, nil
	}
	if c.Atomic && abort("setMany", c.Namespace, results) {
		return storage.BatchResult{Results: results}, nil
	}
	for i := range results {
		if results[i].Err == nil {
			results[i].Version = m.put(c.Namespace, results[i].Key, values[i], mds[i])
		}
	}
	return storage.BatchResult{Results: results}, nil
}

func (m *memStore) DeleteMany(ctx context.Context, keys []string, opts ...storage.Option) (storage.BatchResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.enter(ctx, "deleteMany", driver.KindNamespace|driver.KindAtomic, opts)
	if err != nil {
		return storage.BatchResult{}, err
	}
	order, _ := distinct(len(keys), func(i int) string { return keys[i] })
	results := make([]storage.KeyResult, len(order))
	for i, k := range order {
		results[i].Key = k
		if err := storage.ValidateKey(k); err != nil {
			results[i].Err = opErr("deleteMany", c.Namespace, k, err)
		} else if m.lookup(c.Namespace.Name, k) == nil {
			results[i].Err = opErr("deleteMany", c.Namespace, k, storage.ErrNotFound)
		}
	}
	if c.Atomic && abort("deleteMany", c.Namespace, results) {
		return storage.BatchResult{Results: results}, nil
	}
	for _, r := range results {
		if r.Err == nil {
			delete(m.namespaces[c.Namespace.Name].entries, r.Key)
			m.size--
		}
	}
	return storage.BatchResult{Results: results}, nil
}

func decodeObject(b []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("memstore: stored metadata %s: %v", b, err))
	}
	return m
}

func (m *memStore) GetMetadata(ctx context.Context, key string, opts ...storage.Option) (storage.Metadata, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.enter(ctx, "getMetadata", driver.KindNamespace, opts)
	if err != nil {
		return storage.Metadata{}, err
	}
	if err := storage.ValidateKey(key); err != nil {
		return storage.Metadata{}, opErr("getMetadata", c.Namespace, key, err)
	}
	e := m.lookup(c.Namespace.Name, key)
	if e == nil {
		return storage.Metadata{}, opErr("getMetadata", c.Namespace, key, storage.ErrNotFound)
	}
	return storage.Metadata{User: decodeObject(e.metadata), Version: e.version, CreatedAt: e.created, UpdatedAt: e.updated}, nil
}

func (m *memStore) SetMetadata(ctx context.Context, key string, md any, opts ...storage.Option) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.enter(ctx, "setMetadata", driver.KindNamespace|driver.KindMerge|driver.KindIfVersion, opts)
	if err != nil {
		return err
	}
	fail := func(err error) error { return opErr("setMetadata", c.Namespace, key, err) }
	if err := storage.ValidateKey(key); err != nil {
		return fail(err)
	}
	b, err := m.encodeMetadata(md)
	if err != nil {
		return fail(err)
	}
	if b == nil {
		b = []byte("{}")
	}
	e := m.lookup(c.Namespace.Name, key)
	switch {
	case e == nil:
		return fail(storage.ErrNotFound)
	case c.IfVersion != 0 && e.version != c.IfVersion:
		return fail(conflict(e, c.IfVersion))
	}
	if c.Merge {
		merged, err := jsonx.MergePatch(e.metadata, b)
		if err != nil {
			return fail(driver.Invalidf(storage.ErrInvalidValue, "%v", err))
		}
		if b, err = m.checkMetadata(merged); err != nil {
			return fail(err)
		}
	}
	m.put(c.Namespace, key, e.value, b)
	return nil
}

func (m *memStore) Clear(ctx context.Context, opts ...storage.Option) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.enter(ctx, "clear", driver.KindNamespace, opts)
	if err != nil {
		return err
	}
	for name, n := range m.namespaces {
		if c.Set&driver.KindNamespace == 0 || name == c.Namespace.Name {
			m.size -= int64(len(n.entries))
			n.entries = map[string]*memEntry{}
		}
	}
	return nil
}

// enterNamespace starts a namespace operation. The caller holds mu.
func (m *memStore) enterNamespace(ctx context.Context, op, name string, opts []storage.NamespaceOption) (storage.NamespaceName, driver.NamespaceOptions, error) {
	if err := ctx.Err(); err != nil {
		return storage.NamespaceName{}, driver.NamespaceOptions{}, &storage.OpError{Op: op, Err: err}
	}
	if m.closed {
		return storage.NamespaceName{}, driver.NamespaceOptions{}, &storage.OpError{Op: op, Err: storage.ErrClosed}
	}
	ns, err := storage.ParseNamespace(name)
	if err != nil {
		return ns, driver.NamespaceOptions{}, &storage.OpError{Op: op, Err: err}
	}
	o, err := driver.ResolveNamespaceOptions(op, opts)
	if err != nil {
		return ns, o, opErr(op, ns, "", err)
	}
	return ns, o, nil
}

func (m *memStore) CreateNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ns, o, err := m.enterNamespace(ctx, "createNamespace", name, opts)
	if err != nil {
		return err
	}
	md := []byte("{}")
	if o.Metadata != nil {
		if md, err = m.checkMetadata(o.Metadata); err != nil {
			return opErr("createNamespace", ns, "", err)
		}
	}
	if m.namespaces[ns.Name] != nil {
		return opErr("createNamespace", ns, "", storage.ErrNamespaceExists)
	}
	m.namespaces[ns.Name] = &memNamespace{owner: ns.Owner, metadata: md, createdAt: m.now(), entries: map[string]*memEntry{}}
	return nil
}

func (m *memStore) DeleteNamespace(ctx context.Context, name string, opts ...storage.NamespaceOption) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ns, o, err := m.enterNamespace(ctx, "deleteNamespace", name, opts)
	if err != nil {
		return err
	}
	n := m.namespaces[ns.Name]
	switch {
	case n == nil:
		return opErr("deleteNamespace", ns, "", storage.ErrNamespaceNotFound)
	case len(n.entries) > 0 && !o.Recursive:
		return opErr("deleteNamespace", ns, "", storage.ErrNamespaceNotEmpty)
	}
	m.size -= int64(len(n.entries))
	delete(m.namespaces, ns.Name)
	return nil
}

func (m *memStore) ListNamespaces(ctx context.Context, opts ...storage.Option) ([]storage.Namespace, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, &storage.OpError{Op: "listNamespaces", Err: err}
	}
	if m.closed {
		return nil, &storage.OpError{Op: "listNamespaces", Err: storage.ErrClosed}
	}
	p, err := driver.ResolveNamespacePage(opts)
	if err != nil {
		return nil, &storage.OpError{Op: "listNamespaces", Err: err}
	}
	list := []storage.Namespace{}
	for _, name := range slices.Sorted(maps.Keys(m.namespaces)) {
		if name <= p.After || p.Full(len(list)) {
			continue
		}
		n := m.namespaces[name]
		ns := storage.Namespace{Name: name, Owner: n.owner, CreatedAt: n.createdAt}
		if !p.OmitMetadata {
			ns.Metadata = decodeObject(n.metadata)
		}
		list = append(list, ns)
	}
	return list, nil
}

func (m *memStore) Status(ctx context.Context) (storage.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return storage.Status{}, &storage.OpError{Op: "status", Err: err}
	}
	if m.closed {
		return storage.Status{}, &storage.OpError{Op: "status", Err: storage.ErrClosed}
	}
	return storage.Status{
		Healthy: true, Size: m.size, Capacity: m.cfg.Capacity,
		Namespaces: int64(len(m.namespaces)), Dialect: "memory", SchemaVersion: 1,
	}, nil
}

func (m *memStore) Capabilities() storage.Capabilities {
	return storage.Capabilities{Metadata: true, Batches: true, Capacity: true}
}

// The reference store has no transactions; it says so in Capabilities.
func (m *memStore) Begin(context.Context, storage.TxOptions) (storage.Tx, error) {
	return nil, &storage.OpError{Op: "begin", Err: storage.ErrUnsupported}
}

func (m *memStore) LookupTx(string) (storage.Tx, error) {
	return nil, &storage.OpError{Op: "lookupTx", Err: storage.ErrUnsupported}
}

func (m *memStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// check verifies memStore's invariants, as a Harness.Check does.
func (m *memStore) check(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for name, ns := range m.namespaces {
		if _, err := storage.ParseNamespace(name); err != nil {
			t.Errorf("memstore: stored namespace %q: %v", name, err)
		}
		for k, e := range ns.entries {
			n++
			if e.version < 1 || e.updated.Before(e.created) || !jsonx.IsObject(e.metadata) {
				t.Errorf("memstore: entry %q/%q: version %d, created %v, updated %v, metadata %s",
					name, k, e.version, e.created, e.updated, e.metadata)
			}
		}
	}
	if n != m.size {
		t.Errorf("memstore: size is %d, entries are %d", m.size, n)
	}
	if m.cfg.Capacity > 0 && m.size > m.cfg.Capacity {
		t.Errorf("memstore: %d entries, capacity %d", m.size, m.cfg.Capacity)
	}
}
