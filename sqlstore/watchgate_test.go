package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// TestReadGateFair: actor A holds both places and 15 reads of A wait, then
// one of B: as places come back one at a time, B's read is served second
// (after the head of A, whose turn came first), not after all of A's.
// With the channel the gate replaced, whose waiters were served in the
// order they came, B's read was served 16th.
func TestReadGateFair(t *testing.T) {
	g := newReadGate(2)
	ctxA := storage.ContextWithActor(t.Context(), "alice")
	ctxB := storage.ContextWithActor(t.Context(), "bob")
	for range 2 {
		if !g.acquire(ctxA) {
			t.Fatal("acquire of a free place failed")
		}
	}
	served := make(chan string, 16)
	var wg sync.WaitGroup
	defer wg.Wait()
	queue := func(ctx context.Context, id string, n int) {
		wg.Go(func() {
			if g.acquire(ctx) {
				served <- id
			}
		})
		if !waitUntil(time.Minute, func() bool { return g.waiting() == n }) {
			t.Fatalf("waiter %s not queued in a minute", id)
		}
	}
	for i := range 15 {
		queue(ctxA, fmt.Sprintf("a%d", i), i+1)
	}
	queue(ctxB, "b", 16)
	var order []string
	for range 16 {
		g.release()
		select {
		case id := <-served:
			order = append(order, id)
		case <-time.After(time.Minute):
			t.Fatalf("no waiter served in a minute after a release (served %v)", order)
		}
	}
	for i, id := range order {
		if id == "b" {
			if i > 1 {
				t.Errorf("bob's read served %d of 16, after %d of alice's (order %v): want within the first two", i+1, i, order)
			}
		}
	}
	// A's reads in the order they came.
	next := 0
	for _, id := range order {
		if id != "b" {
			if want := fmt.Sprintf("a%d", next); id != want {
				t.Errorf("alice's reads served out of order: %v", order)
				break
			}
			next++
		}
	}
	for range 2 {
		g.release()
	}
	if g.held() != 0 || g.waiting() != 0 || len(g.turn) != 0 || len(g.actors) != 0 {
		t.Errorf("after all released: held %d, waiting %d, turn %d, actors %d", g.held(), g.waiting(), len(g.turn), len(g.actors))
	}
}

// TestReadGateCancel: many goroutines of a few actors take and give back
// places, many of them giving up while they wait (some just as they are
// given a place): never more places held than there are, none lost, no
// waiter left behind.
func TestReadGateCancel(t *testing.T) {
	const places, workers, rounds = 3, 48, 200
	g := newReadGate(places)
	var in, most atomic.Int64
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			ctx := storage.ContextWithActor(t.Context(), fmt.Sprint("actor", i%4))
			for range rounds {
				c, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(200))*time.Microsecond)
				if g.acquire(c) {
					n := in.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					if rand.IntN(2) == 0 {
						time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
					}
					in.Add(-1)
					g.release()
				}
				cancel()
			}
		})
	}
	wg.Wait()
	if m := most.Load(); m > places {
		t.Errorf("%d places held at once, of %d", m, places)
	}
	if g.held() != 0 || g.waiting() != 0 || len(g.turn) != 0 || len(g.actors) != 0 {
		t.Errorf("after all released: held %d, waiting %d, turn %d, actors %d", g.held(), g.waiting(), len(g.turn), len(g.actors))
	}
	// Every place is still there.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for range places {
		if !g.acquire(ctx) {
			t.Fatal("a place was lost")
		}
	}
	short, cancel2 := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel2()
	if g.acquire(short) {
		t.Error("a place beyond the gate's")
	}
}

// BenchmarkReadGate: a place taken and given back without contention, by
// the gate and by the channel it replaced.
func BenchmarkReadGate(b *testing.B) {
	ctx := storage.ContextWithActor(context.Background(), "alice")
	b.Run("gate", func(b *testing.B) {
		g := newReadGate(2)
		b.ReportAllocs()
		for b.Loop() {
			if !g.acquire(ctx) {
				b.Fatal("no place")
			}
			g.release()
		}
	})
	b.Run("chan", func(b *testing.B) {
		ch := make(chan struct{}, 2)
		b.ReportAllocs()
		for b.Loop() {
			select {
			case ch <- struct{}{}:
			case <-ctx.Done():
				b.Fatal("no place")
			}
			<-ch
		}
	})
}
