package sqlstore

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mycelia-kernel/storage"
)

// readGate holds the places among the watch reads (Store.watchReads,
// watchReadPlaces), shared fairly among the actors whose watches wait
// for one (storage.ActorFromContext of the watch's context; "" is one
// actor like the others): a place given back goes to the actors that
// wait in turn, round-robin, and to each actor's waiters in the order
// they came. So a read of one actor waits for about one read of each
// other actor waiting, not for every read of an actor whose many watches
// wait (the 16 streams of one principal over HTTP, their reads slow).
// The channel it replaces served its waiters in the order they came, so
// that one principal's watches kept another's behind all of their reads
// (TestHostileWatchReads in package httpapi; TestReadGateFair).
//
// Without waiters a place is taken and given back by one compare-and-swap
// of state, no lock and no allocation; only a read that must wait takes
// mu (and allocates its waiter).
type readGate struct {
	places uint64
	// state is the places taken (low 32 bits) and the waiters (high 32
	// bits). The waiters change only under mu; while there are any, every
	// place is taken, and one given back goes to a waiter under mu (so
	// the places taken change only under mu too).
	state atomic.Uint64

	mu     sync.Mutex
	actors map[string]*gateActor // the actors that wait, by name
	turn   []*gateActor          // the actors that wait, the next served first
}

// gateActor is an actor that waits for a place: its waiters, first come
// first.
type gateActor struct {
	name  string
	queue []*gateWaiter
}

type gateWaiter struct {
	ready   chan struct{} // closed when given a place
	granted bool          // under mu
}

const gateWaiter1 = 1 << 32 // one waiter in readGate.state

func newReadGate(places int) *readGate { return &readGate{places: uint64(max(1, places))} }

// acquire takes a place, waiting for its turn as long as ctx allows; false
// when ctx ended first (it holds no place then).
func (g *readGate) acquire(ctx context.Context) bool {
	if s := g.state.Load(); s < g.places && g.state.CompareAndSwap(s, s+1) {
		return true // no waiter (s < places < 1<<32) and a place free
	}
	return g.wait(ctx)
}

func (g *readGate) wait(ctx context.Context) bool {
	g.mu.Lock()
	for {
		s := g.state.Load()
		if s < g.places {
			if g.state.CompareAndSwap(s, s+1) {
				g.mu.Unlock()
				return true
			}
			continue
		}
		if g.state.CompareAndSwap(s, s+gateWaiter1) {
			break
		}
	}
	name := storage.ActorFromContext(ctx)
	a := g.actors[name]
	if a == nil {
		if g.actors == nil {
			g.actors = make(map[string]*gateActor)
		}
		a = &gateActor{name: name}
		g.actors[name] = a
		g.turn = append(g.turn, a)
	}
	w := &gateWaiter{ready: make(chan struct{})}
	a.queue = append(a.queue, w)
	g.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-ctx.Done():
	}
	g.mu.Lock()
	if w.granted {
		// Given a place as ctx ended: the next waiter takes it.
		g.mu.Unlock()
		g.release()
		return false
	}
	a.queue = slices.DeleteFunc(a.queue, func(x *gateWaiter) bool { return x == w })
	if len(a.queue) == 0 {
		g.drop(a)
	}
	g.state.Add(^uint64(gateWaiter1 - 1)) // one waiter fewer
	g.mu.Unlock()
	return false
}

// release gives back a place acquire took: to the next waiter if any.
func (g *readGate) release() {
	if s := g.state.Load(); s < gateWaiter1 && g.state.CompareAndSwap(s, s-1) {
		return // no waiter
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		s := g.state.Load()
		if s < gateWaiter1 {
			if g.state.CompareAndSwap(s, s-1) {
				return
			}
			continue
		}
		// Waiters: the place goes to the head of the actor whose turn it
		// is, and that actor goes last. No one else changes state while
		// there are waiters and mu is held.
		a := g.turn[0]
		w := a.queue[0]
		a.queue[0] = nil
		a.queue = a.queue[1:]
		copy(g.turn, g.turn[1:])
		g.turn[len(g.turn)-1] = a
		if len(a.queue) == 0 {
			g.drop(a)
		}
		g.state.Add(^uint64(gateWaiter1 - 1)) // one waiter fewer
		w.granted = true
		close(w.ready)
		return
	}
}

// drop forgets a, which waits no more. mu must be held.
func (g *readGate) drop(a *gateActor) {
	g.turn = slices.DeleteFunc(g.turn, func(x *gateActor) bool { return x == a })
	delete(g.actors, a.name)
}

// waiting is how many reads wait for a place; held how many places are
// taken.
func (g *readGate) waiting() int { return int(g.state.Load() >> 32) }
func (g *readGate) held() int    { return int(uint32(g.state.Load())) }
