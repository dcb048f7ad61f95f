package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestTwoStoresDifferential: two Stores on one database (two processes
// on one SQLite file, two servers on one PostgreSQL schema), each with its
// caches (namespace and field ids, compiled statements, entry counts for
// the probe). Store a makes random changes of the namespaces' shape and
// data: creates them with and without declared indexes, declares and drops
// indexes, deletes them and creates them again with other indexes, clears
// one or all, restores a namespace record (metadata, indexes) and entry
// records, writes entries with and without expiry, deletes some, and moves
// the shared clock past expiries. Right after each call of a returns,
// store b answers ListNamespaces as a does, and List, Count, Get, Has,
// GetMany, Query and Count with random filters and sorts as the reference
// evaluator does over a model of the data; a cursor page b read before
// the change continues after it; a read-only transaction b began before
// the change reads its snapshot (or, at read committed on PostgreSQL, the
// latest); on PostgreSQL a read-committed transaction of b that read
// before the change writes after it and commits, or fails with a
// conflict. Every error is a documented sentinel. Seeded
// (STORAGE_DIFF_SEED).
func TestTwoStoresDifferential(t *testing.T) {
	seed, steps := randomRun(t, 150, 30)
	for _, c := range configs[1:] { // two stores on one database
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			pg := c.name == "postgres"
			rng := rand.New(rand.NewPCG(seed, 0x2570))
			g := &docGen{r: rng}
			var clock atomic.Int64
			clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
			now := func() time.Time { return time.UnixMicro(clock.Load()).UTC() }
			dsn := c.dsn(t)
			a := openTest(t, dsn, WithClock(now))
			t.Cleanup(func() { _ = a.Close() })
			b := openTest(t, dsn, WithClock(now))
			t.Cleanup(func() { _ = b.Close() })
			defer func(old int) { indexBuildChunk = old }(indexBuildChunk)
			indexBuildChunk = 8

			// Watches of every namespace on both stores, and of m0 on b,
			// from the start: the same events whichever store is asked.
			wctx, wcancel := context.WithCancel(ctx)
			defer wcancel()
			watchA := startWatch(wctx, a)
			watchB := startWatch(wctx, b)
			watchB0 := startWatch(wctx, b, storage.InNamespace("m0"))

			m := twoModel{}
			nss := []string{"m0", "m1"}
			fields := []string{"a", "b", "s", "n", "o.x", "arr.0", "$metadata.m"}
			keys := make([]string, 24)
			for i := range keys {
				keys[i] = g.key(i)
			}
			subset := func() []string {
				var out []string
				for _, f := range fields {
					if rng.IntN(3) == 0 {
						out = append(out, f)
					}
				}
				return out
			}
			sentinel := func(what string, err error, allowed ...error) bool {
				t.Helper()
				if err == nil {
					return true
				}
				for _, e := range allowed {
					if errors.Is(err, e) {
						checkTyped(t, what, err)
						return false
					}
				}
				t.Fatalf("%s: %v (%T), want nil or one of %v", what, err, err, allowed)
				return false
			}
			write := func(ns string, n int) {
				items := make([]storage.Item, 0, n)
				seen := map[string]bool{}
				for range n {
					k := keys[rng.IntN(len(keys))]
					if seen[k] {
						continue
					}
					seen[k] = true
					it := storage.Item{Key: k, Value: json.RawMessage(g.doc(0)), Metadata: g.metadata()}
					if rng.IntN(3) == 0 {
						it.TTL = time.Duration(1+rng.IntN(3)) * time.Minute
					}
					items = append(items, it)
				}
				res, err := a.SetMany(ctx, items, storage.InNamespace(ns))
				if err != nil || !res.OK() {
					t.Fatalf("SetMany: %v %v", err, res.Err())
				}
				for _, it := range items {
					md, _ := json.Marshal(it.Metadata)
					e := twoEntry{value: string(it.Value.(json.RawMessage)), md: string(md)}
					if it.TTL > 0 {
						e.exp = now().Add(it.TTL)
					}
					m.set(ns, it.Key, e)
				}
			}

			for step := range steps {
				ns := nss[rng.IntN(len(nss))]
				in := storage.InNamespace(ns)
				// Before the change: a first page of b, and b's
				// transactions that straddle it.
				pf, psort := twoFilter(g)
				page, perr := b.Query(ctx, pf, qopts(ns, psort, storage.Limit(1+rng.IntN(4)))...)
				sentinel("first page", perr)
				before := m.clone()
				var rtx storage.Tx
				var rlevel storage.IsolationLevel
				if rng.IntN(3) == 0 {
					rlevel = []storage.IsolationLevel{storage.LevelReadCommitted, storage.LevelRepeatableRead, storage.LevelSerializable}[rng.IntN(3)]
					var err error
					rtx, err = b.Begin(ctx, storage.TxOptions{ReadOnly: true, Isolation: rlevel})
					must(t, err)
					twoCheckData(t, ctx, rtx, before, ns, "read-only tx, before", g, rng) // its snapshot, and its cache
				}
				var wtx storage.Tx
				if pg && rng.IntN(4) == 0 {
					var err error
					wtx, err = b.Begin(ctx, storage.TxOptions{Isolation: storage.LevelReadCommitted})
					must(t, err)
					twoCheckData(t, ctx, wtx, before, ns, "read-write tx, before", g, rng)
				}

				// The change, by a.
				var what string
				switch op := rng.IntN(11); op {
				case 0, 1:
					what = "write"
					write(ns, 1+rng.IntN(6))
				case 2:
					what = "delete"
					ks := []string{keys[rng.IntN(len(keys))], keys[rng.IntN(len(keys))]}
					if ks[0] == ks[1] {
						ks = ks[:1]
					}
					_, err := a.DeleteMany(ctx, ks, in)
					sentinel(what, err, storage.ErrNamespaceNotFound)
					for _, k := range ks {
						m.del(ns, k)
					}
				case 3:
					what = "tick"
					clock.Add(time.Minute.Microseconds())
				case 4:
					ix := subset()
					what = fmt.Sprintf("createNamespace %v", ix)
					if sentinel(what, a.CreateNamespace(ctx, ns, withIndexes(ix, storage.WithNamespaceMetadata(map[string]any{"step": step}))...),
						storage.ErrNamespaceExists) {
						write(ns, rng.IntN(5))
					}
				case 5:
					f := fields[rng.IntN(len(fields))]
					what = "createIndex " + f
					sentinel(what, a.CreateIndex(ctx, ns, f), storage.ErrIndexExists, storage.ErrNamespaceNotFound)
				case 6:
					f := fields[rng.IntN(len(fields))]
					what = "dropIndex " + f
					sentinel(what, a.DropIndex(ctx, ns, f), storage.ErrIndexNotFound, storage.ErrNamespaceNotFound)
				case 7:
					ix := subset()
					what = fmt.Sprintf("deleteNamespace, create again with %v", ix)
					sentinel(what, a.DeleteNamespace(ctx, ns, storage.Recursive()), storage.ErrNamespaceNotFound)
					m.clear(ns)
					if rng.IntN(3) != 0 {
						must(t, a.CreateNamespace(ctx, ns, withIndexes(ix)...))
						write(ns, rng.IntN(6))
					}
				case 8:
					if rng.IntN(4) == 0 {
						what = "clear all"
						must(t, a.Clear(ctx))
						m = twoModel{}
					} else {
						what = "clear"
						sentinel(what, a.Clear(ctx, in), storage.ErrNamespaceNotFound)
						m.clear(ns)
					}
				case 9:
					ix := subset()
					what = fmt.Sprintf("restoreNamespace %v", ix)
					md, _ := json.Marshal(map[string]any{"restored": step})
					_, err := a.RestoreNamespace(ctx, NamespaceRecord{Name: ns, Metadata: md, CreatedAt: now(), Indexes: ix}, ConflictOverwrite)
					must(t, err)
				case 10:
					what = "restore records"
					var recs []Record
					seen := map[string]bool{}
					for range 1 + rng.IntN(4) {
						k := keys[rng.IntN(len(keys))]
						if seen[k] {
							continue
						}
						seen[k] = true
						md, _ := json.Marshal(g.metadata())
						r := Record{Namespace: ns, Key: k, Value: json.RawMessage(g.doc(0)), Metadata: md, Version: 1, CreatedAt: now(), UpdatedAt: now()}
						if rng.IntN(3) == 0 {
							r.ExpiresAt = now().Add(time.Duration(1+rng.IntN(2)) * time.Minute)
						}
						recs = append(recs, r)
					}
					_, err := a.Restore(ctx, recs, ConflictOverwrite)
					must(t, err)
					for _, r := range recs {
						m.set(ns, r.Key, twoEntry{value: string(r.Value), md: string(r.Metadata), exp: r.ExpiresAt})
					}
				}
				when := fmt.Sprintf("step %d (seed %d) after a's %s of %s", step, seed, what, ns)

				// After it, b: its transactions first.
				if wtx != nil {
					k := keys[rng.IntN(len(keys))]
					v := json.RawMessage(fmt.Sprintf(`{"tx":%d}`, step))
					err := wtx.Set(ctx, k, v, in, storage.WithMetadata(map[string]any{}))
					if err == nil {
						twoCheckData(t, ctx, wtx, m.with(ns, k, twoEntry{value: string(v), md: "{}"}), ns, when+": read-write tx, its write", g, rng)
						err = wtx.Commit(ctx)
					} else {
						_ = wtx.Rollback(ctx)
					}
					if sentinel(when+": read-write tx", err, storage.ErrTxConflict, storage.ErrConflict, storage.ErrAborted) {
						m.set(ns, k, twoEntry{value: string(v), md: "{}"})
					}
				}
				if rtx != nil {
					want := before
					if pg && rlevel == storage.LevelReadCommitted {
						want = m
					}
					twoCheckData(t, ctx, rtx, want, ns, fmt.Sprintf("%s: read-only tx at %v", when, rlevel), g, rng)
					must(t, rtx.Rollback(ctx))
				}

				// b's namespaces are a's.
				la, err := a.ListNamespaces(ctx)
				must(t, err)
				lb, err := b.ListNamespaces(ctx)
				must(t, err)
				if ja, jb := mustJSON(la), mustJSON(lb); ja != jb {
					t.Fatalf("%s: b's namespaces\n%s\na's\n%s", when, jb, ja)
				}
				for _, n := range nss {
					twoCheckData(t, ctx, b, m, n, when, g, rng)
				}
				// The page read before, continued.
				if page.Cursor != "" {
					last := page.Entries[len(page.Entries)-1]
					var got []string
					cur := page.Cursor
					for cur != "" {
						res, err := b.Query(ctx, pf, qopts(ns, psort, storage.Limit(3), storage.After(cur))...)
						sentinel(when+": next page", err)
						for _, e := range res.Entries {
							if e.Key != last.Key {
								got = append(got, e.Key)
							}
						}
						cur = res.Cursor
					}
					want := m.after(t, ns, pf, psort, last, now())
					if !slices.Equal(got, want) {
						fj, _ := json.Marshal(pf)
						t.Fatalf("%s: pages after %s (filter %s, sort %v):\n got %v\nwant %v", when, last.Key, fj, psort, got, want)
					}
				}
			}

			// The watches: b's events are a's, those of m0 too, and
			// replayed they hold what the model holds.
			st, err := a.Status(ctx)
			must(t, err)
			evA, evB := watchA.upTo(t, st.Revision), watchB.upTo(t, st.Revision)
			if ja, jb := mustJSON(evA), mustJSON(evB); ja != jb {
				t.Fatalf("b's watch differs from a's:\n%s\n%s", jb, ja)
			}
			var want0 []storage.Event
			for _, ev := range evA {
				if ev.Namespace == "m0" {
					want0 = append(want0, ev)
				}
			}
			last0 := int64(0)
			if len(want0) > 0 {
				last0 = want0[len(want0)-1].Revision
			}
			if ja, jb := mustJSON(want0), mustJSON(watchB0.upTo(t, last0)); ja != jb {
				t.Fatalf("b's watch of m0 differs from a's events of m0:\n%s\n%s", jb, ja)
			}
			replay := twoModel{}
			for _, ev := range evB {
				switch ev.Type {
				case storage.EventPut, storage.EventMetadata:
					replay.set(ev.Namespace, ev.Key, twoEntry{value: string(ev.Value), md: string(ev.Metadata), exp: ev.ExpiresAt})
				case storage.EventDelete, storage.EventExpire:
					replay.del(ev.Namespace, ev.Key)
				case storage.EventClear, storage.EventNamespaceDelete:
					replay.clear(ev.Namespace)
				}
			}
			for _, ns := range nss {
				got, want := replay.live(ns, now()), m.live(ns, now())
				if len(got) != len(want) {
					t.Fatalf("%s: b's watch replayed holds %d live entries, the model %d", ns, len(got), len(want))
				}
				for i := range got {
					if got[i].Key != want[i].Key || !storetest.JSONEqual(got[i].Value, want[i].Value) || !storetest.JSONEqual(got[i].Metadata, want[i].Metadata) {
						t.Fatalf("%s: b's watch replayed holds %s=%s %s, the model %s=%s %s", ns, got[i].Key, got[i].Value, got[i].Metadata, want[i].Key, want[i].Value, want[i].Metadata)
					}
				}
			}
			t.Logf("%d steps, %d events", steps, len(evA))
		})
	}
}

// watchLog collects the events of a watch.
type watchLog struct {
	mu     sync.Mutex
	events []storage.Event
	err    error
}

// startWatch watches s from its first revision with opts until ctx ends.
func startWatch(ctx context.Context, s *Store, opts ...storage.Option) *watchLog {
	w := &watchLog{}
	go func() {
		for ev, err := range s.Watch(ctx, append([]storage.Option{storage.FromRevision(0)}, opts...)...) {
			w.mu.Lock()
			if err != nil {
				w.err = err
			} else {
				w.events = append(w.events, ev)
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// upTo waits (at most 10 s) for the watch to reach revision rev and
// returns its events up to it.
func (w *watchLog) upTo(t *testing.T, rev int64) []storage.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		evs, err := slices.Clone(w.events), w.err
		w.mu.Unlock()
		if err != nil {
			checkTyped(t, "watch", err)
			t.Fatalf("watch: %v", err)
		}
		n := len(evs)
		for n > 0 && evs[n-1].Revision > rev {
			n--
		}
		if rev == 0 || (n > 0 && evs[n-1].Revision == rev) {
			return evs[:n]
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch: %d events, the last at revision %v; want revision %d", n, evs[max(n-1, 0):n], rev)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// twoEntry is an entry of twoModel.
type twoEntry struct {
	value, md string
	exp       time.Time // zero: none
}

// twoModel is the data of TestTwoStoresDifferential: by namespace, by key.
type twoModel map[string]map[string]twoEntry

func (m twoModel) set(ns, k string, e twoEntry) {
	if m[ns] == nil {
		m[ns] = map[string]twoEntry{}
	}
	m[ns][k] = e
}

func (m twoModel) del(ns, k string) { delete(m[ns], k) }
func (m twoModel) clear(ns string)  { delete(m, ns) }

func (m twoModel) clone() twoModel {
	out := twoModel{}
	for ns, es := range m {
		out[ns] = maps.Clone(es)
	}
	return out
}

// with is a copy of m with entry e at ns/k.
func (m twoModel) with(ns, k string, e twoEntry) twoModel {
	out := m.clone()
	out.set(ns, k, e)
	return out
}

// live is ns's entries live at now, in key order.
func (m twoModel) live(ns string, now time.Time) []storage.Entry {
	var out []storage.Entry
	for _, k := range slices.Sorted(maps.Keys(m[ns])) {
		e := m[ns][k]
		if !e.exp.IsZero() && !e.exp.After(now) {
			continue
		}
		out = append(out, storage.Entry{Namespace: ns, Key: k, Value: json.RawMessage(e.value), Metadata: json.RawMessage(e.md)})
	}
	return out
}

// query is the reference's answer to Query(f, SortBy(sort...)) on ns.
func (m twoModel) query(t *testing.T, ns string, f storage.Filter, sort []storage.SortField, now time.Time) []storage.Entry {
	t.Helper()
	x, err := f.Compile()
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	var out []storage.Entry
	for _, e := range m.live(ns, now) {
		if storetest.RefMatch(x, e) {
			out = append(out, e)
		}
	}
	if err := storetest.RefSort(out, sort); err != nil {
		t.Fatal(err)
	}
	return out
}

// after is the keys of the reference's answer that sort after the
// position of entry last (as it was when a page ended on it), last's own
// key left out (its entry may have changed).
func (m twoModel) after(t *testing.T, ns string, f storage.Filter, sort []storage.SortField, last storage.Entry, now time.Time) []string {
	t.Helper()
	var out []string
	for _, e := range m.query(t, ns, f, sort, now) {
		if e.Key == last.Key {
			continue
		}
		pair := []storage.Entry{e, last}
		if err := storetest.RefSort(pair, sort); err != nil {
			t.Fatal(err)
		}
		if pair[0].Key == last.Key {
			out = append(out, e.Key)
		}
	}
	return out
}

// twoFilter is a random valid filter and sort of docGen, with no $version
// (the model keeps no versions).
func twoFilter(g *docGen) (storage.Filter, []storage.SortField) {
	for {
		f := g.filter(0)
		sort := g.sort()
		fj, _ := json.Marshal(f)
		if _, err := f.Compile(); err != nil || strings.Contains(string(fj), "$version") {
			continue
		}
		if slices.ContainsFunc(sort, func(s storage.SortField) bool { return s.Field == "$version" }) {
			continue
		}
		return f, sort
	}
}

// twoCheckData requires x's answers on namespace ns to be the model m's:
// List, Count, point reads of a few keys, and Query and Count with random
// filters and sorts.
func twoCheckData(t *testing.T, ctx context.Context, x storage.Ops, m twoModel, ns, when string, g *docGen, rng *rand.Rand) {
	t.Helper()
	var now time.Time
	switch s := x.(type) {
	case *Store:
		now = s.now()
	case *sqlTx:
		now = s.s.now()
	}
	in := storage.InNamespace(ns)
	live := m.live(ns, now)
	var want []string
	byKey := map[string]storage.Entry{}
	for _, e := range live {
		want = append(want, e.Key)
		byKey[e.Key] = e
	}
	l, err := x.List(ctx, in)
	if err != nil || !slices.Equal(l.Keys, want) {
		t.Fatalf("%s: %s: List = %v, %v; want %v", when, ns, l.Keys, err, want)
	}
	if n, err := x.Count(ctx, in); err != nil || n != int64(len(want)) {
		t.Fatalf("%s: %s: Count = %d, %v; want %d", when, ns, n, err, len(want))
	}
	// Point reads: two live keys (if any) and a missing one.
	var ks []string
	for range 2 {
		if len(want) > 0 {
			ks = append(ks, want[rng.IntN(len(want))])
		}
	}
	ks = append(ks, "nokey")
	ks = slices.Compact(slices.Sorted(slices.Values(ks)))
	many, err := x.GetMany(ctx, ks, in)
	if err != nil {
		t.Fatalf("%s: %s: GetMany: %v", when, ns, err)
	}
	for _, k := range ks {
		w, ok := byKey[k]
		e, gerr := x.Get(ctx, k, in)
		has, herr := x.Has(ctx, k, in)
		me, mok := many.Entries[k]
		switch {
		case ok && (gerr != nil || herr != nil || !has || !mok || !storetest.JSONEqual(e.Value, w.Value) ||
			!storetest.JSONEqual(me.Value, w.Value) || !storetest.JSONEqual(e.Metadata, w.Metadata)):
			t.Fatalf("%s: %s/%s: Get = %s %s, %v; Has = %v, %v; GetMany %v; want %s %s", when, ns, k, e.Value, e.Metadata, gerr, has, herr, mok, w.Value, w.Metadata)
		case !ok && (!errors.Is(gerr, storage.ErrNotFound) || herr != nil || has || mok || !errors.Is(many.Errors[k], storage.ErrNotFound)):
			t.Fatalf("%s: %s/%s: Get = %v; Has = %v, %v; GetMany %v, %v; want not found", when, ns, k, gerr, has, herr, mok, many.Errors[k])
		}
	}
	if h, ok := x.(storage.Historian); !ok {
		t.Fatalf("%T has no History", x)
	} else if _, err := h.History(ctx, ks[0], in); err != nil {
		t.Fatalf("%s: %s: History: %v", when, ns, err)
	}
	for range 3 {
		f, sort := twoFilter(g)
		var ref []string
		for _, e := range m.query(t, ns, f, sort, now) {
			ref = append(ref, e.Key)
		}
		res, err := x.Query(ctx, f, qopts(ns, sort)...)
		var got []string
		for _, e := range res.Entries {
			got = append(got, e.Key)
		}
		if err != nil || !slices.Equal(got, ref) {
			fj, _ := json.Marshal(f)
			t.Fatalf("%s: %s: Query(%s, sort %v) = %v, %v; want %v", when, ns, fj, sort, got, err, ref)
		}
		if n, err := x.Count(ctx, in, storage.Where(f)); err != nil || n != int64(len(ref)) {
			fj, _ := json.Marshal(f)
			t.Fatalf("%s: %s: Count(%s) = %d, %v; want %d", when, ns, fj, n, err, len(ref))
		}
	}
}

// checkTyped requires err to wrap exactly one documented sentinel.
func checkTyped(t *testing.T, what string, err error) {
	t.Helper()
	var wrapped []error
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			wrapped = append(wrapped, s)
		}
	}
	if len(wrapped) != 1 {
		t.Errorf("%s: %q wraps %d sentinels %v", what, err, len(wrapped), wrapped)
	}
}

// qopts are the options of a Query on ns sorted by sort (none: no
// SortBy), then more.
func qopts(ns string, sort []storage.SortField, more ...storage.Option) []storage.Option {
	o := []storage.Option{storage.InNamespace(ns)}
	if len(sort) > 0 {
		o = append(o, storage.SortBy(sort...))
	}
	return append(o, more...)
}

// withIndexes is WithIndexes(ix...) when ix names fields, then more.
func withIndexes(ix []string, more ...storage.NamespaceOption) []storage.NamespaceOption {
	if len(ix) == 0 {
		return more
	}
	return append([]storage.NamespaceOption{storage.WithIndexes(ix...)}, more...)
}
