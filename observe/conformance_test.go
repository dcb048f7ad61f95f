package observe_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/observe"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// pairs matches the events of two observe layers, Wrap(Wrap(engine,
// inner), outer): the outer Start puts a call ID in the context, which the
// inner layer must receive from the outer wrapper and see again at End.
// Every call the suite makes through the outer layer must reach the inner
// one exactly once, with the same fields and the very same error.
type pairs struct {
	next   atomic.Int64
	mu     sync.Mutex
	outer  map[int64]observe.Event
	inner  map[int64]observe.Event
	lost   int // inner events without a call ID
	starts int // outer starts
}

type callIDKey struct{}

func newPairs() *pairs {
	return &pairs{outer: map[int64]observe.Event{}, inner: map[int64]observe.Event{}}
}

type outerHook struct{ p *pairs }

func (h outerHook) Start(ctx context.Context, _ observe.Event) context.Context {
	h.p.mu.Lock()
	h.p.starts++
	h.p.mu.Unlock()
	return context.WithValue(ctx, callIDKey{}, h.p.next.Add(1))
}

func (h outerHook) End(ctx context.Context, ev observe.Event) { h.p.record(ctx, ev, h.p.outer) }

type innerHook struct{ p *pairs }

func (innerHook) Start(ctx context.Context, _ observe.Event) context.Context { return ctx }

func (h innerHook) End(ctx context.Context, ev observe.Event) { h.p.record(ctx, ev, h.p.inner) }

func (p *pairs) record(ctx context.Context, ev observe.Event, into map[int64]observe.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := ctx.Value(callIDKey{}).(int64)
	if !ok {
		p.lost++
		return
	}
	into[id] = ev
}

// check verifies the pairing when the store is done with, and adds the
// operations seen to ops.
func (p *pairs) check(t *testing.T, ops *sync.Map) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lost != 0 || p.starts != len(p.outer) || len(p.outer) != len(p.inner) {
		t.Errorf("observe: %d outer starts, %d outer ends, %d inner ends, %d inner ends without a call ID",
			p.starts, len(p.outer), len(p.inner), p.lost)
	}
	for id, out := range p.outer {
		in, ok := p.inner[id]
		if !ok {
			t.Errorf("observe: call %d (%s) did not reach the inner layer", id, out.Op)
			continue
		}
		checkEvent(t, out)
		checkEvent(t, in)
		if in.Err != out.Err { //nolint:errorlint // identity: the error must pass through unchanged
			t.Errorf("observe: %s: inner Err %v, outer Err %v: want the same error", out.Op, in.Err, out.Err)
		}
		if in.Duration > out.Duration || in.Start.Before(out.Start) {
			t.Errorf("observe: %s: inner event %v+%v not within outer %v+%v", out.Op, in.Start, in.Duration, out.Start, out.Duration)
		}
		if fi, fo := fieldsOf(in), fieldsOf(out); fi != fo {
			t.Errorf("observe: events differ\ninner %+v\nouter %+v", fi, fo)
		}
		ops.Store(out.Op, true)
	}
}

// TestConformance runs the storetest suite through two observe layers over
// the engine: the wrapper must be transparent (the suite checks results and
// errors), and every call must be observed once per layer with matching
// events.
func TestConformance(t *testing.T) {
	for _, c := range []testdb.Config{configs[0], configs[2]} { // sqlite-memory, postgres
		t.Run(c.Name, func(t *testing.T) {
			var ops sync.Map
			var opened atomic.Int64
			storetest.Run(t, teststore.Harness(c.Name+"+observe", func(t *testing.T, opts ...sqlstore.Option) storage.Store {
				p := newPairs()
				t.Cleanup(func() { p.check(t, &ops) })
				inner := observe.Wrap(teststore.Open(t, c.DSN(t), opts...), innerHook{p})
				opened.Add(1)
				return observe.Wrap(inner, outerHook{p})
			}))
			if t.Failed() {
				return
			}
			if opened.Load() == 0 {
				// c.DSN skipped every test (no PostgreSQL server; with
				// CI=true it fails them instead): there is nothing to count.
				t.Skip("no store was opened: every test of the suite was skipped")
			}
			// The suite uses every operation but transactions (which
			// TestEveryOperation covers) and watch and history (which
			// TestEveryOperation and TestWatchObserved cover).
			for _, op := range observe.Ops() {
				switch op {
				case observe.OpBegin, observe.OpCommit, observe.OpRollback, observe.OpWatch, observe.OpHistory:
					continue
				}
				if _, ok := ops.Load(op); !ok {
					t.Errorf("the suite made no %q call through the wrapper", op)
				}
			}
		})
	}
}
