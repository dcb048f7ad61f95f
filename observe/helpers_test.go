package observe_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/observe"
)

// configs are the databases the engine-backed tests run on.
var configs = testdb.Configs("obs", "pool_max_conns", "8")

// recorder is a Hook that keeps every event. Its Start marks the context,
// and its End counts the ends whose context lacks the mark.
type recorder struct {
	mu          sync.Mutex
	starts      []observe.Event
	ends        []observe.Event
	unmarkedEnd int
}

type markKey struct{}

func (r *recorder) Start(ctx context.Context, ev observe.Event) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, ev)
	return context.WithValue(ctx, markKey{}, ev.Op)
}

func (r *recorder) End(ctx context.Context, ev observe.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Value(markKey{}) != ev.Op {
		r.unmarkedEnd++
	}
	r.ends = append(r.ends, ev)
}

// last returns the latest completed event and how many events completed.
func (r *recorder) last() (observe.Event, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ends) == 0 {
		return observe.Event{}, 0
	}
	return r.ends[len(r.ends)-1], len(r.ends)
}

// checkEvent verifies the invariants every completed event keeps.
func checkEvent(t testing.TB, ev observe.Event) {
	t.Helper()
	if !slices.Contains(observe.Ops(), ev.Op) {
		t.Errorf("event with unknown Op %q: %+v", ev.Op, ev)
	}
	if ev.Start.IsZero() || ev.Duration <= 0 {
		t.Errorf("%s: Start %v, Duration %v: want both set", ev.Op, ev.Start, ev.Duration)
	}
	if ev.Rows < -1 || (ev.Err != nil && ev.Rows != 0 && ev.Keys == 0) {
		t.Errorf("%s: Rows %d with Err %v", ev.Op, ev.Rows, ev.Err)
	}
	if ns := ev.Namespace(); ns != "" {
		if _, err := storage.ParseNamespace(ns); err != nil {
			t.Errorf("%s: Namespace %q: %v", ev.Op, ns, err)
		}
	}
}

// fields are the comparable fields of an event, the namespace resolved,
// without its times and error.
type fields struct {
	Op, Namespace, Key, TxID string
	Keys                     int
	Rows                     int64
}

func fieldsOf(ev observe.Event) fields {
	return fields{Op: ev.Op, Namespace: ev.Namespace(), Key: ev.Key, TxID: ev.TxID, Keys: ev.Keys, Rows: ev.Rows}
}

// getOnly is a store whose Get answers at once, to measure the wrapper
// alone; its other methods are the embedded nil interface's (they panic).
type getOnly struct{ storage.Store }

func (getOnly) Get(_ context.Context, key string, _ ...storage.Option) (storage.Entry, error) {
	return storage.Entry{Key: key}, nil
}
