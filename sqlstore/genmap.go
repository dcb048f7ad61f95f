package sqlstore

import (
	"sync"
	"sync/atomic"
)

// genMap is a bounded cache safe for concurrent use, in two generations:
// put stores in the current one; when that holds more than its bound's
// worth of keys it becomes the old generation (the previous old one is
// dropped) and a new current one starts. get finds a key in either and
// moves one found in the old generation to the current one. So a key used
// at least once per generation stays, however many other keys come and go
// (a hot namespace among sessions' namespaces that are created, used once
// and deleted by another store), and the map holds at most about twice the
// bound. Dropping everything at the bound, as this replaced, made the hot
// keys miss again each time, a statement each.
//
// The zero value is empty and ready. Counts are approximate under
// concurrent puts of one new key (each may count it), which only rotates
// a little early.
type genMap[K comparable, V any] struct {
	mu  sync.Mutex // rotation and the first generation's creation
	cur atomic.Pointer[generation]
	old atomic.Pointer[generation]
}

type generation struct {
	m sync.Map
	n atomic.Int64
}

// current is the current generation, made on first use.
func (c *genMap[K, V]) current() *generation {
	if g := c.cur.Load(); g != nil {
		return g
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.cur.Load()
	if g == nil {
		g = &generation{}
		c.cur.Store(g)
	}
	return g
}

func (c *genMap[K, V]) get(k K, bound int64) (V, bool) {
	if g := c.cur.Load(); g != nil {
		if v, ok := g.m.Load(k); ok {
			return v.(V), true
		}
	}
	if o := c.old.Load(); o != nil {
		if v, ok := o.m.Load(k); ok {
			c.put(k, v.(V), bound)
			return v.(V), true
		}
	}
	var zero V
	return zero, false
}

// put stores v for k in the current generation, which is rotated out once
// it holds more than bound keys.
func (c *genMap[K, V]) put(k K, v V, bound int64) {
	g := c.current()
	if _, loaded := g.m.Swap(k, v); loaded || g.n.Add(1) <= bound {
		return
	}
	c.mu.Lock()
	if c.cur.Load() == g {
		c.old.Store(g)
		c.cur.Store(&generation{})
	}
	c.mu.Unlock()
}

// forget drops k from both generations; it reports whether either held it.
func (c *genMap[K, V]) forget(k K) bool {
	found := false
	for _, g := range [2]*generation{c.cur.Load(), c.old.Load()} {
		if g == nil {
			continue
		}
		if _, ok := g.m.LoadAndDelete(k); ok {
			g.n.Add(-1)
			found = true
		}
	}
	return found
}

// forgetAll drops every key.
func (c *genMap[K, V]) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.old.Store(nil)
	c.cur.Store(&generation{})
}

// len counts the keys held, in both generations (a key in both counts
// twice): for tests of the bound.
func (c *genMap[K, V]) len() int {
	n := 0
	for _, g := range [2]*generation{c.cur.Load(), c.old.Load()} {
		if g != nil {
			g.m.Range(func(any, any) bool { n++; return true })
		}
	}
	return n
}
