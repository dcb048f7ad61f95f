package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

// WatchModelConfig sizes WatchModel.
type WatchModelConfig struct {
	// Writers and Watchers are how many of each run (default 8 and 4).
	Writers, Watchers int
	// Duration is how long the writers write (default 2s).
	Duration time.Duration
	// Namespaces and Keys bound the names written (default 3 and 24).
	Namespaces, Keys int
	// NoTransactions leaves out the writers' transactions (for a backend
	// without them).
	NoTransactions bool
}

// WatchModel is the model check of Watch: cfg.Writers writers (single
// writes, batches, transactions, metadata changes, deletes, clears and
// recursive namespace deletes) run for cfg.Duration while cfg.Watchers
// watchers rebuild the store from its events; the first watcher breaks
// off at random and resumes from the last revision it saw, and any
// watcher cut off with ErrWatchLagged resumes the same way. At the end
// each watcher's namespaces and entries equal the store's, and every
// watcher saw every revision after its start exactly once, in order (the
// revisions of one store are consecutive).
//
// s must be empty but for the default namespace, implement
// storage.Watcher, and report its revision in Status.Revision.
func WatchModel(t *testing.T, s storage.Store, cfg WatchModelConfig) {
	t.Helper()
	w, ok := s.(storage.Watcher)
	if !ok {
		t.Fatalf("%T is no storage.Watcher", s)
	}
	if cfg.Writers == 0 {
		cfg.Writers = 8
	}
	if cfg.Watchers == 0 {
		cfg.Watchers = 4
	}
	if cfg.Duration == 0 {
		cfg.Duration = 2 * time.Second
	}
	if cfg.Namespaces == 0 {
		cfg.Namespaces = 3
	}
	if cfg.Keys == 0 {
		cfg.Keys = 24
	}
	ctx := context.Background()
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := st.Revision
	initial := modelSnapshot(t, s)

	wctx, stopWatchers := context.WithCancel(ctx)
	defer stopWatchers()
	models := make([]*watchState, cfg.Watchers)
	var wg sync.WaitGroup
	for i := range models {
		m := &watchState{ns: initial.clone(), last: start}
		models[i] = m
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.run(wctx, w, i == 0)
		}()
	}

	var writes atomic.Int64
	deadline := time.Now().Add(cfg.Duration)
	var ww sync.WaitGroup
	errs := make(chan error, cfg.Writers)
	for i := 0; i < cfg.Writers; i++ {
		ww.Add(1)
		go func() {
			defer ww.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			for time.Now().Before(deadline) {
				if err := modelWrite(ctx, s, rng, cfg); err != nil {
					errs <- err
					return
				}
				writes.Add(1)
			}
		}()
	}
	ww.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	st, err = s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head := st.Revision
	want := modelSnapshot(t, s)
	t.Logf("%d writes, revisions %d..%d", writes.Load(), start+1, head)

	// Wait for every watcher to reach the head.
	until := time.Now().Add(30 * time.Second)
	for _, m := range models {
		for m.position() < head && m.failure() == nil && time.Now().Before(until) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	stopWatchers()
	wg.Wait()
	for i, m := range models {
		if err := m.failure(); err != nil {
			t.Errorf("watcher %d: %v", i, err)
			continue
		}
		if m.last != head {
			t.Errorf("watcher %d stopped at revision %d, want %d", i, m.last, head)
			continue
		}
		if diff := want.diff(m.ns); diff != "" {
			t.Errorf("watcher %d: its state differs from the store's: %s", i, diff)
		}
		t.Logf("watcher %d: %d events, %d resumes (%d lagged)", i, m.events, m.resumes, m.lagged)
	}
}

// modelState is a store's namespaces and their entries' values.
type modelState map[string]map[string]string

func (m modelState) clone() modelState {
	out := modelState{}
	for ns, keys := range m {
		out[ns] = map[string]string{}
		for k, v := range keys {
			out[ns][k] = v
		}
	}
	return out
}

func (m modelState) diff(got modelState) string {
	for ns, keys := range m {
		g, ok := got[ns]
		if !ok {
			return fmt.Sprintf("namespace %q missing", ns)
		}
		for k, v := range keys {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s/%s missing", ns, k)
			}
			if !JSONEqual([]byte(gv), []byte(v)) {
				return fmt.Sprintf("%s/%s = %s, want %s", ns, k, gv, v)
			}
		}
		for k := range g {
			if _, ok := keys[k]; !ok {
				return fmt.Sprintf("%s/%s present, but deleted in the store", ns, k)
			}
		}
	}
	for ns := range got {
		if _, ok := m[ns]; !ok {
			return fmt.Sprintf("namespace %q present, but not in the store", ns)
		}
	}
	return ""
}

// modelSnapshot reads every namespace and entry of s.
func modelSnapshot(t *testing.T, s storage.Store) modelState {
	t.Helper()
	ctx := context.Background()
	nss, err := s.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := modelState{}
	for _, ns := range nss {
		out[ns.Name] = map[string]string{}
		for e, err := range storage.QueryAll(ctx, s, storage.Filter{}, storage.InNamespace(ns.Name)) {
			if err != nil {
				t.Fatal(err)
			}
			out[ns.Name][e.Key] = string(e.Value)
		}
	}
	return out
}

// watchState is one watcher of the model.
type watchState struct {
	ns   modelState
	last int64

	mu      sync.Mutex // protects pos and err, read while the watcher runs
	pos     int64
	err     error
	events  int
	resumes int
	lagged  int
}

func (m *watchState) position() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos
}

func (m *watchState) failure() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

func (m *watchState) fail(err error) {
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
}

// run watches from m.last until ctx ends; with flaky it breaks off now and
// then and resumes.
func (m *watchState) run(ctx context.Context, w storage.Watcher, flaky bool) {
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	for ctx.Err() == nil {
		breakAfter := -1
		if flaky {
			breakAfter = rng.IntN(200)
		}
		n := 0
		resume := false
		for ev, err := range w.Watch(ctx, storage.FromRevision(m.last)) {
			if err != nil {
				if errors.Is(err, storage.ErrWatchLagged) {
					var le *storage.LaggedError
					if !errors.As(err, &le) || le.Last != m.last {
						m.fail(fmt.Errorf("lagged error %w does not name the last revision %d", err, m.last))
						return
					}
					m.lagged++
					resume = true
					break
				}
				m.fail(err)
				return
			}
			if ev.Revision != m.last+1 {
				m.fail(fmt.Errorf("event %+v after revision %d: a revision skipped or seen twice", ev, m.last))
				return
			}
			if err := m.apply(ev); err != nil {
				m.fail(err)
				return
			}
			m.last = ev.Revision
			m.events++
			m.mu.Lock()
			m.pos = m.last
			m.mu.Unlock()
			n++
			if n == breakAfter {
				resume = true
				break
			}
		}
		if !resume {
			return // ctx ended
		}
		m.resumes++
	}
}

func (m *watchState) apply(ev storage.Event) error {
	switch ev.Type {
	case storage.EventPut:
		if ev.Value == nil {
			return fmt.Errorf("put without a value: %+v", ev)
		}
		if m.ns[ev.Namespace] == nil {
			m.ns[ev.Namespace] = map[string]string{}
		}
		m.ns[ev.Namespace][ev.Key] = string(ev.Value)
	case storage.EventDelete, storage.EventExpire:
		if _, ok := m.ns[ev.Namespace][ev.Key]; !ok {
			return fmt.Errorf("%s of a key the watcher does not hold: %+v", ev.Type, ev)
		}
		delete(m.ns[ev.Namespace], ev.Key)
	case storage.EventClear:
		if ev.Namespace == "" {
			for ns := range m.ns {
				m.ns[ns] = map[string]string{}
			}
		} else if m.ns[ev.Namespace] != nil {
			m.ns[ev.Namespace] = map[string]string{}
		}
	case storage.EventNamespaceCreate:
		if m.ns[ev.Namespace] == nil {
			m.ns[ev.Namespace] = map[string]string{}
		}
	case storage.EventNamespaceDelete:
		delete(m.ns, ev.Namespace)
	case storage.EventMetadata, storage.EventNamespaceMetadata:
	default:
		return fmt.Errorf("unknown event type %q", ev.Type)
	}
	return nil
}

// modelWrite makes one random write.
func modelWrite(ctx context.Context, s storage.Store, rng *rand.Rand, cfg WatchModelConfig) error {
	ns := storage.InNamespace(fmt.Sprintf("m%d", rng.IntN(cfg.Namespaces)))
	key := func() string { return fmt.Sprintf("k%d", rng.IntN(cfg.Keys)) }
	val := func() map[string]any { return map[string]any{"n": rng.IntN(1000), "s": fmt.Sprint(rng.Uint32())} }
	ok := func(err error) error {
		if err == nil || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrNamespaceNotFound) ||
			errors.Is(err, storage.ErrTxConflict) {
			return nil
		}
		return err
	}
	switch p := rng.IntN(100); {
	case p < 40:
		return ok(s.Set(ctx, key(), val(), ns))
	case p < 55:
		items := make([]storage.Item, 1+rng.IntN(4))
		for i := range items {
			items[i] = storage.Item{Key: key(), Value: val()}
		}
		res, err := s.SetMany(ctx, items, ns)
		if err != nil {
			return ok(err)
		}
		return ok(res.Err())
	case p < 65 && !cfg.NoTransactions:
		tx, err := s.Begin(ctx, storage.TxOptions{})
		if err != nil {
			return ok(err)
		}
		err = tx.Set(ctx, key(), val(), ns)
		if err == nil {
			err = ok(tx.Delete(ctx, key(), ns))
		}
		if err == nil {
			err = tx.Set(ctx, key(), val(), ns)
		}
		if err != nil || rng.IntN(5) == 0 {
			_ = tx.Rollback(ctx)
			return ok(err)
		}
		return ok(tx.Commit(ctx))
	case p < 80:
		return ok(s.Delete(ctx, key(), ns))
	case p < 85:
		res, err := s.DeleteMany(ctx, []string{key(), key()}, ns)
		if err != nil {
			return ok(err)
		}
		for _, kr := range res.Results {
			if err := ok(kr.Err); err != nil {
				return err
			}
		}
		return nil
	case p < 93:
		return ok(s.SetMetadata(ctx, key(), map[string]any{"m": rng.IntN(9)}, ns))
	case p < 96:
		return ok(s.Clear(ctx, ns))
	default:
		return ok(s.DeleteNamespace(ctx, fmt.Sprintf("m%d", rng.IntN(cfg.Namespaces)), storage.Recursive()))
	}
}
