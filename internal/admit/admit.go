// Package admit shares a capacity among keys (principals) fairly: the
// servers' admission of requests into the store, and of request bytes.
//
// A Gate holds at most Total units at once, of which one key holds at most
// PerKey. A request that does not fit waits in its key's queue, in the
// order it came; when units free up, the next request served is the head
// of the queue of the key served least recently (a key that holds nothing
// and waits for nothing is forgotten, so a key that comes back is served
// before every key served since), among the keys with room under PerKey.
// So one key's request waits behind at most about one request of each
// other key, not behind all of theirs, however many each sends; within a
// key, requests are served in the order they came; a large request at the
// head is not overtaken by smaller ones of later keys.
//
// A request may also belong to a class (writes, beside reads) whose units
// are bounded apart (ClassTotal): a key whose head's class is full is
// passed over until it is not, so that requests of that class stuck in
// the store (writes waiting for a writer) cannot keep every other class
// out.
package admit

import (
	"context"
	"errors"
	"sync"
)

// ErrQueueFull is the error of a request whose key already has
// MaxWaitingPerKey requests waiting.
var ErrQueueFull = errors.New("admit: too many requests waiting")

// Gate is a capacity shared fairly among keys (see the package
// documentation). Set its fields before first use; it is safe for
// concurrent use.
type Gate struct {
	// Total bounds the units held at once by all keys.
	Total int64
	// PerKey bounds the units one key holds at once (at most Total).
	PerKey int64
	// MaxWaitingPerKey bounds the requests of one key that wait at once;
	// one beyond fails at once with ErrQueueFull. 0 means no bound.
	MaxWaitingPerKey int
	// ClassTotal bounds the units held at once by the requests of each
	// class (AcquireClass) but 0, which only Total bounds.
	ClassTotal []int64

	mu      sync.Mutex
	used    int64
	classes []int64 // units held by class (1 on)
	waiting int     // requests waiting, all keys
	seq     uint64
	keys    map[string]*keyState
	queued  []*keyState // the keys with requests waiting
}

type keyState struct {
	key    string
	used   int64
	served uint64 // seq of its last grant; 0: never since it was forgotten
	queue  []*waiter
}

type waiter struct {
	class   int
	weight  int64
	seq     uint64
	ready   chan struct{} // closed when granted
	granted bool
}

// Stats are a Gate's figures at one moment.
type Stats struct {
	Held    int64 // units held
	Waiting int   // requests waiting
	// Keys are the keys the gate keeps state for: those holding units or
	// waiting for them (a key is forgotten after its last release).
	Keys int
	// Kept are the units left to Total (AcquireSplit's leaveTotal) that
	// their keys still count under PerKey, not released yet.
	Kept int64
}

// Stats returns the units held, the requests waiting and the keys known.
func (g *Gate) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	var perKey int64
	for _, ks := range g.keys {
		perKey += ks.used
	}
	return Stats{Held: g.used, Waiting: g.waiting, Keys: len(g.keys), Kept: perKey - g.used}
}

// Acquire takes weight units for key, waiting for its turn until ctx ends
// (then it returns ctx's error); release gives them back (call it once).
// A weight above PerKey or Total counts as the smaller of the two, so that
// it is served alone rather than never.
func (g *Gate) Acquire(ctx context.Context, key string, weight int64) (release func(), err error) {
	return g.AcquireClass(ctx, key, 0, weight)
}

// AcquireClass is Acquire for a request of class c: 0, or 1 to
// len(ClassTotal), the units of which ClassTotal[c-1] bounds too.
func (g *Gate) AcquireClass(ctx context.Context, key string, c int, weight int64) (release func(), err error) {
	_, release, err = g.AcquireSplit(ctx, key, c, weight)
	return release, err
}

// AcquireSplit is AcquireClass whose units can be given back in two
// steps: leaveTotal gives them back to Total (and ClassTotal) while the
// key still counts them under PerKey; release gives back the rest (call
// each once, leaveTotal before release or not at all). A server's request
// leaves Total when it is done with the store, and keeps its key's place
// while its answer is written, so that a client reading slowly holds its
// own places, not everyone's.
func (g *Gate) AcquireSplit(ctx context.Context, key string, c int, weight int64) (leaveTotal, release func(), err error) {
	weight = min(weight, g.PerKey, g.Total)
	if c > 0 {
		weight = min(weight, g.ClassTotal[c-1])
	}
	g.mu.Lock()
	if g.keys == nil {
		g.keys = make(map[string]*keyState)
	}
	ks := g.keys[key]
	if ks == nil {
		ks = &keyState{key: key}
		g.keys[key] = ks
	}
	if g.MaxWaitingPerKey > 0 && len(ks.queue) >= g.MaxWaitingPerKey {
		g.forget(ks)
		g.mu.Unlock()
		return nil, nil, ErrQueueFull
	}
	g.seq++
	w := &waiter{class: c, weight: weight, seq: g.seq, ready: make(chan struct{})}
	if len(ks.queue) == 0 {
		g.queued = append(g.queued, ks)
	}
	ks.queue = append(ks.queue, w)
	g.waiting++
	g.dispatch()
	g.mu.Unlock()
	left := false // under g.mu
	leaveTotal = func() { g.leaveTotal(c, weight, &left) }
	release = func() { g.release(ks, c, weight, &left) }
	select {
	case <-w.ready:
		return leaveTotal, release, nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	if w.granted {
		// Granted meanwhile: give it back.
		g.mu.Unlock()
		release()
		return nil, nil, ctx.Err()
	}
	for i, x := range ks.queue {
		if x == w {
			ks.queue = append(ks.queue[:i], ks.queue[i+1:]...)
			break
		}
	}
	g.waiting--
	if len(ks.queue) == 0 {
		g.unqueue(ks)
	}
	g.forget(ks)
	// w may have been the head that kept the others waiting.
	g.dispatch()
	g.mu.Unlock()
	return nil, nil, ctx.Err()
}

// leaveTotal gives weight units of class c back to Total, once (*left).
func (g *Gate) leaveTotal(c int, weight int64, left *bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if *left {
		return
	}
	*left = true
	g.used -= weight
	if c > 0 {
		g.classes[c-1] -= weight
	}
	g.dispatch()
}

func (g *Gate) release(ks *keyState, c int, weight int64, left *bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !*left {
		*left = true
		g.used -= weight
		if c > 0 {
			g.classes[c-1] -= weight
		}
	}
	ks.used -= weight
	g.forget(ks)
	g.dispatch()
}

// forget drops ks when it holds nothing and waits for nothing.
func (g *Gate) forget(ks *keyState) {
	if ks.used == 0 && len(ks.queue) == 0 && g.keys[ks.key] == ks {
		delete(g.keys, ks.key)
	}
}

func (g *Gate) unqueue(ks *keyState) {
	for i, x := range g.queued {
		if x == ks {
			g.queued = append(g.queued[:i], g.queued[i+1:]...)
			return
		}
	}
}

// dispatch grants what it can, in turn: the key served least recently
// first (its head's arrival breaking ties), among those with room under
// PerKey and their head's ClassTotal; it stops at the first head that
// does not fit in Total.
func (g *Gate) dispatch() {
	if len(g.classes) != len(g.ClassTotal) {
		g.classes = make([]int64, len(g.ClassTotal))
	}
	for {
		var next *keyState
		for _, ks := range g.queued {
			h := ks.queue[0]
			if ks.used+h.weight > g.PerKey || (h.class > 0 && g.classes[h.class-1]+h.weight > g.ClassTotal[h.class-1]) {
				continue
			}
			if next == nil || ks.served < next.served ||
				(ks.served == next.served && ks.queue[0].seq < next.queue[0].seq) {
				next = ks
			}
		}
		if next == nil || g.used+next.queue[0].weight > g.Total {
			return
		}
		w := next.queue[0]
		next.queue[0] = nil
		next.queue = next.queue[1:]
		g.waiting--
		if len(next.queue) == 0 {
			next.queue = nil
			g.unqueue(next)
		}
		g.used += w.weight
		next.used += w.weight
		if w.class > 0 {
			g.classes[w.class-1] += w.weight
		}
		g.seq++
		next.served = g.seq
		w.granted = true
		close(w.ready)
	}
}
