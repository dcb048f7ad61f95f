// Package faultload is a mixed workload for fault tests: single Set, Get
// and Delete, small SetMany and DeleteMany batches (atomic or not), a
// filtered Query, List, Count, GetMany, Has, History, Status, read-modify-write
// transactions (Begin/Commit and txmanager.RunInTx) and a Watch consumer,
// run against one namespace of a store while a test breaks the database
// under it (restarts, kills, terminated backends).
//
// Every error a call returns is checked against the storage contract for
// an outage: it must wrap exactly one documented sentinel that the
// operation may return then (ErrUnavailable; ErrCommitUnknown for a write
// outside a transaction and for Commit; ErrTxConflict inside a
// transaction; the operation's ordinary answers such as a Get's
// ErrNotFound), or be the context's error once the call's context ended,
// and its message must carry no driver text. Each key belongs to one
// worker, which remembers the key's last acknowledged state and the
// writes after it whose outcome is unknown (ErrCommitUnknown, a context
// that ended): reads must find one of those, and so must Check at the end.
// A write that failed with any other error did not take effect (the
// contract of ErrUnavailable), so it is not remembered as possible. The
// Watch consumer resumes after each error from the last revision it got,
// checks that revisions only grow, and rebuilds the namespace from the
// events: at the end it must hold what the store holds.
package faultload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/txmanager"
)

// absent is the model's state of a key that does not exist.
const absent = -1

// Config sets up a Load. The zero value of each field takes its default.
type Config struct {
	// Namespace is the namespace the load writes; it must be empty when
	// the load starts (default "faultload").
	Namespace string
	// OpTimeout bounds each call (default 3 s).
	OpTimeout time.Duration
	// Workers is the number of workers of each writing kind: single
	// writes and transactions (default 2); half as many (at least one)
	// write batches, and Set new keys.
	Workers int
	// Keys is the number of keys each worker owns (default 32).
	Keys int
}

func (c *Config) defaults() {
	if c.Namespace == "" {
		c.Namespace = "faultload"
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 3 * time.Second
	}
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Keys == 0 {
		c.Keys = 32
	}
}

// keyState is what a worker knows of one of its keys: the last
// acknowledged state (a value's n, or absent) and the states written
// after it whose outcome is unknown.
type keyState struct {
	acked int
	maybe []int
	log   []string // the last writes, "state:outcome", for a failure's report
}

func (k *keyState) possible(n int) bool { return n == k.acked || slices.Contains(k.maybe, n) }

// Load is a running workload.
type Load struct {
	s      storage.Store
	cfg    Config
	cancel context.CancelFunc
	wg     sync.WaitGroup

	acked atomic.Int64 // acknowledged writes (and commits)
	reads atomic.Int64 // successful reads

	mu     sync.Mutex                // protects the fields below
	hist   map[string]map[string]int // op → outcome → count
	bad    []string                  // contract violations
	models []map[string]*keyState    // one per worker, read after Stop

	watch *watcher // nil when the store is no storage.Watcher
}

// Start starts the workload on s. The namespace must hold nothing. The
// load stops, and its Watch consumer with it, at Check or when t ends.
func Start(t testing.TB, ctx context.Context, s storage.Store, cfg Config) *Load {
	t.Helper()
	cfg.defaults()
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatalf("faultload: Status: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{s: s, cfg: cfg, cancel: cancel, hist: map[string]map[string]int{}}
	if w, ok := s.(storage.Watcher); ok {
		wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
		l.watch = &watcher{l: l, w: w, cancel: wcancel, last: st.Revision, replica: map[string]int{}, done: make(chan struct{})}
		go l.watch.run(wctx)
	}
	for w := range cfg.Workers {
		l.worker(ctx, fmt.Sprintf("kv%d", w), l.kv)
		l.worker(ctx, fmt.Sprintf("tx%d", w), l.tx)
	}
	for w := range max(1, cfg.Workers/2) {
		l.worker(ctx, fmt.Sprintf("batch%d", w), l.batch)
		l.worker(ctx, fmt.Sprintf("new%d", w), l.fresh)
	}
	l.wg.Go(func() { l.query(ctx) })
	l.wg.Go(func() { l.otherReads(ctx) })
	t.Cleanup(l.close)
	return l
}

// close stops everything the load started and waits for it.
func (l *Load) close() {
	l.Stop()
	if l.watch != nil {
		l.watch.cancel()
		<-l.watch.done
	}
}

// Stopped reports whether every goroutine the load started has returned.
func (l *Load) Stopped() bool {
	if l.watch != nil {
		select {
		case <-l.watch.done:
		default:
			return false
		}
	}
	stopped := make(chan struct{})
	go func() { l.wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
		return true
	case <-time.After(time.Second):
		return false
	}
}

// worker starts a worker that owns the keys prefix/0 … prefix/Keys-1.
func (l *Load) worker(ctx context.Context, prefix string, step func(ctx context.Context, w *work)) {
	w := &work{prefix: prefix, model: map[string]*keyState{}, rnd: rand.New(rand.NewPCG(rand.Uint64(), 0))}
	for i := range l.cfg.Keys {
		w.model[w.key(i)] = &keyState{acked: absent}
	}
	l.mu.Lock()
	l.models = append(l.models, w.model)
	l.mu.Unlock()
	l.wg.Go(func() {
		for ctx.Err() == nil {
			w.n++
			step(ctx, w)
		}
	})
}

// work is one worker's state.
type work struct {
	prefix string
	model  map[string]*keyState
	rnd    *rand.Rand
	n      int // the next value written (values only grow)
}

func (w *work) key(i int) string { return fmt.Sprintf("%s/%d", w.prefix, i) }
func (w *work) pick() string     { return w.key(w.rnd.IntN(len(w.model))) }

// value is what a worker writes for n.
func (w *work) value(n int) map[string]any { return map[string]any{"n": n, "w": w.prefix} }

func decode(raw json.RawMessage) (int, error) {
	var v struct{ N *int }
	if err := json.Unmarshal(raw, &v); err != nil || v.N == nil {
		return 0, fmt.Errorf("value %s is not the load's", raw)
	}
	return *v.N, nil
}

// Outcomes of a write.
func (w *work) ack(k string, n int) {
	ks := w.model[k]
	ks.acked, ks.maybe = n, nil
}

func (w *work) unknown(k string, n int) {
	ks := w.model[k]
	ks.maybe = append(ks.maybe, n)
}

// wrote records the outcome of a write of state n to k that failed with
// err (nil: acknowledged) under ctx.
func (l *Load) wrote(ctx context.Context, w *work, k string, n int, err error) {
	ks := w.model[k]
	if len(ks.log) == 8 {
		ks.log = ks.log[1:]
	}
	outcome := "ok"
	if err != nil {
		outcome, _ = classify(ctx, err, nil)
	}
	ks.log = append(ks.log, fmt.Sprintf("%d:%s", n, outcome))
	switch {
	case err == nil:
		w.ack(k, n)
		l.acked.Add(1)
	case ctx.Err() != nil || errors.Is(err, storage.ErrCommitUnknown):
		w.unknown(k, n)
	}
}

// read checks a state read for k against the model.
func (l *Load) read(op string, w *work, k string, n int) {
	l.reads.Add(1)
	if ks := w.model[k]; !ks.possible(n) {
		l.violation("%s %s: read state %d, want %d or one of %v", op, k, n, ks.acked, ks.maybe)
	}
}

func (l *Load) violation(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bad = append(l.bad, fmt.Sprintf(format, args...))
}

// The allowed sentinels of each kind of call during an outage.
var (
	readErrs   = []error{storage.ErrUnavailable}
	writeErrs  = []error{storage.ErrUnavailable, storage.ErrCommitUnknown}
	inTxErrs   = []error{storage.ErrUnavailable, storage.ErrTxConflict}
	commitErrs = []error{storage.ErrUnavailable, storage.ErrTxConflict, storage.ErrCommitUnknown}
)

// record files err (nil: ok) of op under its histogram, and checks that it
// is typed: exactly one sentinel, among allowed, or the context's error
// once ctx ended, and no driver text in its message.
func (l *Load) record(ctx context.Context, op string, err error, allowed ...error) {
	label := "ok"
	var problem string
	if err != nil {
		label, problem = classify(ctx, err, allowed)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hist[op]
	if h == nil {
		h = map[string]int{}
		l.hist[op] = h
	}
	h[label]++
	if problem != "" {
		l.bad = append(l.bad, fmt.Sprintf("%s: %q: %s", op, err, problem))
	}
}

// classify names err's sentinel, and what is wrong with it if anything.
func classify(ctx context.Context, err error, allowed []error) (label, problem string) {
	var wrapped []error
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			wrapped = append(wrapped, s)
		}
	}
	isCtx := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	switch {
	case len(wrapped) == 0 && isCtx:
		if ctx.Err() == nil {
			return "context", "a context error while the call's context is live"
		}
		return "context", ""
	case len(wrapped) != 1:
		return "untyped", fmt.Sprintf("wraps %d sentinels %v (%T)", len(wrapped), wrapped, errors.Unwrap(err))
	}
	label = strings.TrimPrefix(wrapped[0].Error(), "storage: ")
	if !slices.Contains(allowed, wrapped[0]) {
		return label, "a sentinel this call may not return here"
	}
	for _, leak := range []string{"SQLSTATE", "failed to connect", "sql: ", "(SQLITE_", "pgx", "pgconn", "conn closed", "EOF"} {
		if strings.Contains(err.Error(), leak) {
			return label, fmt.Sprintf("carries driver text %q", leak)
		}
	}
	return label, ""
}

// opCtx is the context of one call: OpTimeout, but not ended by Stop,
// which lets the calls under way finish; a call cancelled there could
// still commit after Check read the store (its outcome is unknown).
func (l *Load) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), l.cfg.OpTimeout)
}

// pause slows a worker down after an error, so that an outage is not a
// busy loop.
func pause(ctx context.Context) {
	t := time.NewTimer(20 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// kv runs a Set (half the time), a Get or a Delete of one of w's keys.
func (l *Load) kv(ctx context.Context, w *work) {
	in := storage.InNamespace(l.cfg.Namespace)
	k := w.pick()
	octx, cancel := l.opCtx(ctx)
	defer cancel()
	var err error
	switch r := w.rnd.IntN(10); {
	case r < 5:
		err = l.s.Set(octx, k, w.value(w.n), in)
		l.wrote(octx, w, k, w.n, err)
		l.record(octx, "Set", err, writeErrs...)
	case r < 8:
		var e storage.Entry
		e, err = l.s.Get(octx, k, in)
		switch {
		case err == nil:
			n, derr := decode(e.Value)
			if derr != nil {
				l.violation("Get %s: %v", k, derr)
			}
			l.read("Get", w, k, n)
		case errors.Is(err, storage.ErrNotFound):
			l.read("Get", w, k, absent)
		}
		l.record(octx, "Get", err, append(readErrs, storage.ErrNotFound)...)
	default:
		err = l.s.Delete(octx, k, in)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			l.read("Delete", w, k, absent) // nothing was deleted: the key was absent
			l.wrote(octx, w, k, absent, nil)
		default:
			l.wrote(octx, w, k, absent, err)
		}
		l.record(octx, "Delete", err, append(writeErrs, storage.ErrNotFound)...)
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		pause(ctx)
	}
}

// fresh Sets a key never written before: a crash must keep every one
// acknowledged, not only the last state of a few keys.
func (l *Load) fresh(ctx context.Context, w *work) {
	k := fmt.Sprintf("%s/n%07d", w.prefix, w.n)
	w.model[k] = &keyState{acked: absent}
	octx, cancel := l.opCtx(ctx)
	defer cancel()
	err := l.s.Set(octx, k, w.value(w.n), storage.InNamespace(l.cfg.Namespace))
	l.wrote(octx, w, k, w.n, err)
	l.record(octx, "Set new", err, writeErrs...)
	if err != nil {
		pause(ctx)
	}
}

// batch runs a SetMany (two times in three) or a DeleteMany of three of
// w's keys, atomic or not.
func (l *Load) batch(ctx context.Context, w *work) {
	opts := []storage.Option{storage.InNamespace(l.cfg.Namespace)}
	op := "SetMany"
	if w.n%2 == 0 {
		opts = append(opts, storage.Atomic())
		op += " atomic"
	}
	del := w.n%3 == 0
	if del {
		op = "Delete" + op[3:]
	}
	first := w.rnd.IntN(len(w.model))
	items := make([]storage.Item, 3)
	keys := make([]string, len(items))
	for i := range items {
		keys[i] = w.key((first + i) % len(w.model))
		items[i] = storage.Item{Key: keys[i], Value: w.value(w.n)}
	}
	octx, cancel := l.opCtx(ctx)
	defer cancel()
	var res storage.BatchResult
	var err error
	state := w.n
	if del {
		state = absent
		res, err = l.s.DeleteMany(octx, keys, opts...)
	} else {
		res, err = l.s.SetMany(octx, items, opts...)
	}
	if err == nil && len(res.Results) != len(items) {
		l.violation("%s: %d results for %d items", op, len(res.Results), len(items))
	}
	for i, k := range keys {
		kerr := err
		if err == nil && i < len(res.Results) {
			kerr = res.Results[i].Err
			if del && errors.Is(kerr, storage.ErrNotFound) {
				l.read(op, w, k, absent) // nothing to delete: the key was absent
				kerr = nil
			}
			if kerr != nil {
				l.record(octx, op+" key", kerr, append(writeErrs, storage.ErrAborted)...)
			}
		}
		l.wrote(octx, w, k, state, kerr)
	}
	l.record(octx, op, err, writeErrs...)
	if err != nil || res.Err() != nil {
		pause(ctx)
	}
}

// otherReads runs the other reads, in turn: List, Count, GetMany, Has,
// History, Status.
func (l *Load) otherReads(ctx context.Context) {
	in := storage.InNamespace(l.cfg.Namespace)
	for i := 0; ctx.Err() == nil; i++ {
		octx, cancel := l.opCtx(ctx)
		var op string
		var err error
		switch i % 6 {
		case 0:
			op = "List"
			_, err = l.s.List(octx, in, storage.Limit(50))
		case 1:
			op = "Count"
			_, err = l.s.Count(octx, in)
		case 2:
			op = "GetMany"
			_, err = l.s.GetMany(octx, []string{"kv0/0", "kv0/1", "batch0/2"}, in)
		case 3:
			op = "Has"
			_, err = l.s.Has(octx, "kv1/3", in)
		case 4:
			op = "History"
			if h, ok := l.s.(storage.Historian); ok {
				_, err = h.History(octx, "tx0/1", in)
			}
		case 5:
			op = "Status"
			_, err = l.s.Status(octx)
		}
		cancel()
		l.record(octx, op, err, readErrs...)
		if err != nil {
			pause(ctx)
			continue
		}
		l.reads.Add(1)
		time.Sleep(5 * time.Millisecond)
	}
}

// tx increments one of w's keys in a transaction: by hand (Begin, Get,
// Set, Commit) every other time, else with txmanager.RunInTx.
func (l *Load) tx(ctx context.Context, w *work) {
	in := storage.InNamespace(l.cfg.Namespace)
	k := w.pick()
	octx, cancel := l.opCtx(ctx)
	defer cancel()
	rmw := func(tx storage.Tx) (int, error) {
		e, err := tx.Get(octx, k, in)
		cur := absent
		switch {
		case err == nil:
			n, derr := decode(e.Value)
			if derr != nil {
				l.violation("tx Get %s: %v", k, derr)
			}
			cur = n
		case !errors.Is(err, storage.ErrNotFound):
			l.record(octx, "tx Get", err, inTxErrs...)
			return 0, err
		}
		l.read("tx Get", w, k, cur)
		l.record(octx, "tx Get", nil)
		err = tx.Set(octx, k, w.value(w.n), in)
		l.record(octx, "tx Set", err, inTxErrs...)
		return w.n, err
	}
	if w.n%2 == 0 {
		tx, err := l.s.Begin(octx, storage.TxOptions{})
		l.record(octx, "Begin", err, readErrs...)
		if err != nil {
			pause(ctx)
			return
		}
		n, err := rmw(tx)
		if err != nil {
			// The connection may be gone: the transaction rolled back
			// anyway, and Rollback may say that it could not be reached.
			l.record(octx, "Rollback", tx.Rollback(context.WithoutCancel(octx)), readErrs...)
			pause(ctx)
			return
		}
		err = tx.Commit(octx)
		// A commit that failed otherwise than ErrCommitUnknown rolled back
		// (the package documentation of sqlstore, Errors): even one whose
		// context ended is settled.
		if err != nil && !errors.Is(err, storage.ErrCommitUnknown) {
			l.wrote(context.Background(), w, k, n, err)
		} else {
			l.wrote(octx, w, k, n, err)
		}
		l.record(octx, "Commit", err, commitErrs...)
		if err != nil {
			pause(ctx)
		}
		return
	}
	n := w.n // every attempt writes it
	attempts := 0
	err := txmanager.RunInTx(octx, l.s, storage.TxOptions{}, func(tx storage.Tx) error {
		attempts++
		_, err := rmw(tx)
		return err
	})
	var re *txmanager.RetryError
	if err != nil && txmanager.Retryable(err) && !errors.As(err, &re) && octx.Err() == nil && attempts > 0 {
		l.violation("RunInTx returned the retryable %q after %d attempts without retrying", err, attempts)
	}
	if err != nil && !errors.Is(err, storage.ErrCommitUnknown) && octx.Err() == nil {
		l.wrote(context.Background(), w, k, n, err)
	} else {
		l.wrote(octx, w, k, n, err)
	}
	l.record(octx, "RunInTx", err, commitErrs...)
	if err != nil {
		pause(ctx)
	}
}

// query runs filtered queries over the namespace.
func (l *Load) query(ctx context.Context) {
	in := storage.InNamespace(l.cfg.Namespace)
	for i := 0; ctx.Err() == nil; i++ {
		octx, cancel := l.opCtx(ctx)
		res, err := l.s.Query(octx, storage.Gte("n", i%100), in, storage.Limit(20))
		cancel()
		l.record(octx, "Query", err, readErrs...)
		if err != nil {
			pause(ctx)
			continue
		}
		l.reads.Add(1)
		for _, e := range res.Entries {
			if n, err := decode(e.Value); err != nil || n < i%100 {
				l.violation("Query n >= %d found %s=%s", i%100, e.Key, e.Value)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Acked returns the number of writes (and commits) acknowledged so far.
func (l *Load) Acked() int64 { return l.acked.Load() }

// Reads returns the number of successful reads so far.
func (l *Load) Reads() int64 { return l.reads.Load() }

// Count returns how many calls of op ended with outcome ("ok", or a
// sentinel's text without "storage: ", or "context", "untyped").
func (l *Load) Count(op, outcome string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hist[op][outcome]
}

// Total returns how many calls of any op ended with outcome.
func (l *Load) Total(outcome string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, h := range l.hist {
		n += h[outcome]
	}
	return n
}

// Stop stops the writers and readers and waits for them; the Watch
// consumer goes on until Check.
func (l *Load) Stop() {
	l.cancel()
	l.wg.Wait()
}

// Histogram renders the outcomes of each op, one line per op.
func (l *Load) Histogram() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ops := make([]string, 0, len(l.hist))
	for op := range l.hist {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var b strings.Builder
	for _, op := range ops {
		h := l.hist[op]
		outcomes := make([]string, 0, len(h))
		for o := range h {
			outcomes = append(outcomes, o)
		}
		sort.Slice(outcomes, func(i, j int) bool {
			if h[outcomes[i]] != h[outcomes[j]] {
				return h[outcomes[i]] > h[outcomes[j]]
			}
			return outcomes[i] < outcomes[j]
		})
		fmt.Fprintf(&b, "\n  %-12s", op)
		for _, o := range outcomes {
			fmt.Fprintf(&b, " %s=%d", o, h[o])
		}
	}
	return b.String()
}

// Check, after Stop and once the database serves again, reports every
// contract violation the load saw, checks that each key holds its last
// acknowledged state or one written after it with an unknown outcome, and
// that the Watch consumer, once it caught up, holds what the store holds.
func (l *Load) Check(t testing.TB) {
	t.Helper()
	l.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := storage.InNamespace(l.cfg.Namespace)
	final := map[string]int{}
	diag := map[string]string{}
	for _, m := range l.models {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		res := storage.GetManyResult{Entries: map[string]storage.Entry{}, Errors: map[string]error{}}
		for part := range slices.Chunk(keys, 500) {
			r, err := l.s.GetMany(ctx, part, in)
			if err != nil {
				t.Fatalf("GetMany after the load: %v", err)
			}
			maps.Copy(res.Entries, r.Entries)
			maps.Copy(res.Errors, r.Errors)
		}
		for _, k := range keys {
			n := absent
			if e, ok := res.Entries[k]; ok {
				var derr error
				if n, derr = decode(e.Value); derr != nil {
					t.Errorf("%s: %v", k, derr)
				}
				final[k] = n
				diag[k] = fmt.Sprintf("revision %d version %d; writes %v", e.Revision, e.Version, m[k].log)
			} else if !errors.Is(res.Errors[k], storage.ErrNotFound) {
				t.Errorf("GetMany %s: %v", k, res.Errors[k])
			}
			if ks := m[k]; !ks.possible(n) {
				t.Errorf("%s holds state %d, want the acknowledged %d or one of %v (unknown outcomes)", k, n, ks.acked, ks.maybe)
			}
		}
	}
	if l.watch != nil {
		l.watch.check(t, ctx, final, diag)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, b := range l.bad {
		if i == 20 {
			t.Errorf("... and %d more", len(l.bad)-20)
			break
		}
		t.Error(b)
	}
}

// watcher is the Watch consumer.
type watcher struct {
	l      *Load
	w      storage.Watcher
	cancel context.CancelFunc // ends the consumer (check calls it)

	mu      sync.Mutex
	last    int64          // the last revision received
	replica map[string]int // the namespace rebuilt from the events
	resumes int
	events  map[string][]string // each key's events, "revision:type", for a failure's report
	starts  []int64             // the revision each watch resumed from
	done    chan struct{}       // closed when run returns
}

const marker = "faultload-marker"

func (c *watcher) run(ctx context.Context) {
	defer close(c.done)
	in := storage.InNamespace(c.l.cfg.Namespace)
	for ctx.Err() == nil {
		c.mu.Lock()
		from := c.last
		c.starts = append(c.starts, from)
		c.mu.Unlock()
		for ev, err := range c.w.Watch(ctx, in, storage.FromRevision(from)) {
			if err != nil {
				c.l.record(ctx, "Watch", err, storage.ErrUnavailable, storage.ErrWatchLagged)
				break
			}
			c.apply(ev)
		}
		c.mu.Lock()
		c.resumes++
		c.mu.Unlock()
		pause(ctx)
	}
}

func (c *watcher) apply(ev storage.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Revision <= c.last {
		c.l.violation("Watch: revision %d after %d (a duplicate or out of order)", ev.Revision, c.last)
		return
	}
	c.last = ev.Revision
	if c.events == nil {
		c.events = map[string][]string{}
	}
	c.events[ev.Key] = append(c.events[ev.Key], fmt.Sprintf("%d:%s", ev.Revision, ev.Type))
	switch ev.Type {
	case storage.EventPut:
		if ev.Key == marker {
			c.replica[marker] = 0
			return
		}
		n, err := decode(ev.Value)
		if err != nil {
			c.l.violation("Watch: %s: %v", ev.Key, err)
		}
		c.replica[ev.Key] = n
	case storage.EventDelete, storage.EventExpire:
		delete(c.replica, ev.Key)
	case storage.EventClear, storage.EventNamespaceDelete:
		clear(c.replica)
	}
}

// check writes a marker, waits until the consumer has seen it, stops it
// and compares what it rebuilt with final (the namespace's keys and
// states).
func (c *watcher) check(t testing.TB, ctx context.Context, final map[string]int, diag map[string]string) {
	t.Helper()
	defer c.cancel()
	in := storage.InNamespace(c.l.cfg.Namespace)
	if err := c.l.s.Set(ctx, marker, true, in); err != nil {
		t.Errorf("Set %s after the load: %v", marker, err)
		return
	}
	seen := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.replica[marker]
		return ok
	}
	for !seen() {
		if ctx.Err() != nil {
			t.Errorf("the Watch consumer did not receive the marker written after the load")
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.cancel()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.replica, marker)
	c.l.mu.Lock()
	if c.l.hist["Watch"] == nil {
		c.l.hist["Watch"] = map[string]int{}
	}
	c.l.hist["Watch"]["resumed"] = c.resumes - 1 // the last one is the stop
	c.l.mu.Unlock()
	diff := 0
	for k, n := range final {
		if r, ok := c.replica[k]; !ok || r != n {
			diff++
			if diff <= 10 {
				t.Errorf("Watch replica: %s = %d (present %v), the store holds %d (%s); watched %v; history %s", k, r, ok, n, diag[k], c.events[k], c.history(ctx, k))
			}
		}
	}
	for k, r := range c.replica {
		if _, ok := final[k]; !ok {
			diff++
			if diff <= 10 {
				t.Errorf("Watch replica holds %s = %d, absent from the store; watched %v; history %s", k, r, c.events[k], c.history(ctx, k))
			}
		}
	}
	if diff > 0 {
		t.Errorf("the Watch replica differs from the store on %d keys; the watches started after the revisions %v", diff, c.starts)
	}
}

// history renders the store's history of k, for a failure's report.
func (c *watcher) history(ctx context.Context, k string) string {
	h, ok := c.l.s.(storage.Historian)
	if !ok {
		return "(no History)"
	}
	evs, err := h.History(ctx, k, storage.InNamespace(c.l.cfg.Namespace))
	if err != nil {
		return err.Error()
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = fmt.Sprintf("%d:%s:%s", ev.Revision, ev.Type, ev.Value)
	}
	return fmt.Sprint(out)
}
