package sqlstore

import (
	"container/list"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// The compiled-query cache.
//
// Query, Count and List build their SQL once per shape of call and keep
// it: a later call of the same shape only extracts its values and binds
// them (List writes its key itself: listQuery).
// The shape (a stmtKey) is written in one walk of the call: the
// statement's kind; the namespace's id and declared fields (their ids
// appear in the SQL); the filter's shape as dialect.Compiler.Shape writes
// it (operators, paths, scalar kinds, list lengths, and every decision
// the compiler takes on a value); the key ranges; the sort, limit and
// offset; the cursor's form; and which of the call's values are equal.
// The same walk collects the values (dialect.Input). On a miss the
// statement is written by a planning compiler, whose parameters say which
// Input each comes from and how (dialect.Param): the plan keeps, for each
// parameter, the position of the first Input equal to it (the key records
// the equalities, so the position is right for every call of that key)
// and the transform, or a constant.
//
// Entries never go stale: everything the SQL depends on is in the key. A
// namespace dropped and re-created, or whose indexes change, has another
// id or other field ids, so its calls have other keys; the old entries
// age out. The cache is a bounded LRU (WithQueryCache, default
// DefaultQueryCacheSize statements, each of at most maxCachedStatement
// bytes of SQL and key), safe for concurrent use;
// Store.QueryCacheStats reports its hits and misses.

// DefaultQueryCacheSize is the number of statements the query cache keeps
// by default.
const DefaultQueryCacheSize = 1024

// maxCachedStatement bounds the SQL, and the key, of a statement the
// query cache keeps (bytes): larger ones (long in-lists, many key ranges)
// are built on every call, so the cache holds at most
// size × 2 × maxCachedStatement bytes of text.
const maxCachedStatement = 16 << 10

// QueryCacheStats are the counters of a store's compiled-query cache.
type QueryCacheStats struct {
	Hits     uint64 // calls whose statement was in the cache
	Misses   uint64 // calls whose statement was built
	Entries  int    // statements held
	Capacity int    // the most statements held (0: the cache is off)
}

// QueryCacheStats returns the counters of the store's compiled-query
// cache (WithQueryCache): all zero when it is off.
func (s *Store) QueryCacheStats() QueryCacheStats {
	q := s.qcache
	if q == nil {
		return QueryCacheStats{}
	}
	q.mu.Lock()
	n := q.lru.Len()
	q.mu.Unlock()
	return QueryCacheStats{Hits: q.hits.Load(), Misses: q.misses.Load(), Entries: n, Capacity: q.max}
}

// queryCache is a bounded LRU of statement plans by key.
type queryCache struct {
	max          int
	mu           sync.Mutex
	lru          list.List // of *qcEntry, most recently used first
	m            map[string]*list.Element
	hits, misses atomic.Uint64
}

type qcEntry struct {
	key  string
	plan *stmtPlan
}

// newQueryCache returns a cache of at most n statements; nil when n is 0.
func newQueryCache(n int) *queryCache {
	if n <= 0 {
		return nil
	}
	return &queryCache{max: n, m: make(map[string]*list.Element)}
}

// get returns the plan of key, or nil, and counts the hit or miss.
func (q *queryCache) get(key []byte) *stmtPlan {
	var p *stmtPlan
	q.mu.Lock()
	if el, ok := q.m[string(key)]; ok {
		q.lru.MoveToFront(el)
		p = el.Value.(*qcEntry).plan
	}
	q.mu.Unlock()
	if p == nil {
		q.misses.Add(1)
	} else {
		q.hits.Add(1)
	}
	return p
}

// put stores the plan of key, evicting the least recently used beyond
// max. A plan already there stays: plans of one key are the same.
func (q *queryCache) put(key string, p *stmtPlan) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if el, ok := q.m[key]; ok {
		q.lru.MoveToFront(el)
		return
	}
	q.m[key] = q.lru.PushFront(&qcEntry{key: key, plan: p})
	for q.lru.Len() > q.max {
		last := q.lru.Back()
		delete(q.m, last.Value.(*qcEntry).key)
		q.lru.Remove(last)
	}
}

// stmtPlan is a cached statement: its SQL, how to bind its parameters,
// and (Query) its sort columns, which depend on the shape only.
type stmtPlan struct {
	sql   string
	args  []dialect.PlanArg
	sorts []sortCol
}

// stmtKey is the key of a call being built (see above) and its Inputs.
type stmtKey struct {
	b  []byte
	in []dialect.Input
}

// stmtKeys recycles stmtKeys: a key is built on every call, and nothing
// keeps it after the call (the cache keeps a copy of its bytes).
var stmtKeys = sync.Pool{New: func() any {
	return &stmtKey{b: make([]byte, 0, 256), in: make([]dialect.Input, 0, 16)}
}}

// getStmtKey returns an empty key; release it when the statement is built.
func getStmtKey() *stmtKey {
	k := stmtKeys.Get().(*stmtKey)
	k.b, k.in = k.b[:0], k.in[:0]
	return k
}

// release returns k to the pool (a very large one is left to the
// collector); k must not be used after.
func (k *stmtKey) release() {
	if cap(k.b) > 4<<10 || cap(k.in) > 256 {
		return
	}
	clear(k.in[:cap(k.in)]) // no strings kept alive by the pool
	stmtKeys.Put(k)
}

// newStmtKey starts the key of a statement of kind with filter e on the
// namespace nsi (o.Namespace) as of now, with o's key ranges. The
// namespace is its id, a literal of the statement (dialect.NamespaceCond):
// its name is no input.
func (x *ops) newStmtKey(kind byte, e driver.Expr, o driver.CallOptions, nsi nsInfo, now time.Time) *stmtKey {
	k := getStmtKey()
	k.in = append(k.in, dialect.TimeInput(now))
	k.b = append(k.b, kind, 'N')
	k.b = strconv.AppendInt(k.b, nsi.id, 10)
	k.b = append(k.b, nsi.signature()...)
	k.b = append(k.b, 'F')
	k.b, k.in = x.compiler().Shape(k.b, e, k.in)
	if o.Set&driver.KindKeyRanges != 0 {
		k.b = append(k.b, 'R')
		k.b = strconv.AppendInt(k.b, int64(len(o.KeyRanges)), 10)
		for _, r := range o.KeyRanges {
			k.b = append(k.b, '0'+b2i(r.From == ""), '0'+b2i(r.To == ""))
			k.in = append(k.in, dialect.StrInput(r.From), dialect.StrInput(r.To))
		}
	}
	return k
}

// query adds Query's sort, limit, offset and cursor (with, for each of
// its strings, whether it shares c's indexed prefix: IndexKeyset).
func (k *stmtKey) query(c *dialect.Compiler, p queryPrep, o driver.CallOptions) {
	k.b = append(k.b, 'S')
	for i, f := range o.SortFields {
		k.b = strconv.AppendInt(k.b, int64(len(f.Text)), 10)
		k.b = append(k.b, ':')
		k.b = append(k.b, f.Text...)
		k.b = append(k.b, '0'+b2i(o.Sort[i].Desc))
	}
	k.b = append(k.b, 'L')
	k.b = strconv.AppendInt(k.b, int64(o.Limit), 10)
	k.b = append(k.b, 'O')
	k.b = strconv.AppendInt(k.b, int64(o.Offset), 10)
	if p.cur != nil {
		k.b = append(k.b, 'C')
		for i, v := range p.cur.Vals {
			k.b = strconv.AppendInt(k.b, v.Rank, 10)
			in, ok := cursorInput(o.SortFields[i], v)
			k.b = append(k.b, '0'+b2i(ok), '0'+b2i(in.S.Kind == driver.KindString && c.SharesPrefix(in.S.Str)))
			k.in = append(k.in, in)
		}
		if p.pastGroup {
			k.b = append(k.b, 'G')
		} else {
			k.in = append(k.in, dialect.StrInput(p.cur.Key))
		}
	}
}

func b2i(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// cached returns the statement of key k: from the cache, binding k's
// Inputs, or written by build (with a planning compiler) and kept. With
// the cache off, build writes it with the plain compiler.
func (x *ops) cached(k *stmtKey, build func(c *dialect.Compiler) (string, []any, []sortCol, error)) (string, []any, []sortCol, error) {
	c := x.compiler()
	qc := x.s.qcache
	if qc == nil {
		return build(c)
	}
	k.b = dialect.AppendEqualities(k.b, k.in)
	if p := qc.get(k.b); p != nil {
		return p.sql, c.BindPlan(p.args, k.in), p.sorts, nil
	}
	q, params, sorts, err := build(c.Planner())
	if err != nil {
		return "", nil, nil, err
	}
	plan, args, ok := c.MakePlan(params, k.in)
	if ok && len(q) <= maxCachedStatement && len(k.b) <= maxCachedStatement {
		qc.put(string(k.b), &stmtPlan{sql: q, args: plan, sorts: sorts})
	}
	return q, args, sorts, nil
}

// signature is the part of the key that names nsi's declared fields and
// their ids.
func (n nsInfo) signature() string {
	if n.sig != "" || len(n.fields) == 0 {
		return n.sig
	}
	return fieldsSignature(n.fields)
}

func fieldsSignature(fields map[string]int64) string {
	var b []byte
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
		b = strconv.AppendInt(b, fields[f], 10)
	}
	return string(b)
}

// WithQueryCache sets how many compiled statements the query cache keeps
// (default DefaultQueryCacheSize); 0 turns it off. See
// Store.QueryCacheStats.
func WithQueryCache(n int) Option {
	return func(c *config) error {
		if n < 0 || n > math.MaxInt32 {
			return fmt.Errorf("sqlstore: WithQueryCache(%d): want >= 0", n)
		}
		c.queryCache = n
		return nil
	}
}
