package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestExpiryDifferential runs one seeded random sequence of calls with
// expiries against the engine and against the client over a second
// engine on the same kind of database, on one controllable clock, and
// compares after every call what each caller sees: each call's error
// (which must wrap exactly one sentinel), version and Written result; then
// List, Count (whole and filtered), GetMany (values, versions, created,
// updated and expiry times, metadata) and Query by a filter on a declared
// index, sorted and paged by cursor, in two namespaces. The calls: Set
// with WithTTL, ExpiresAt (to the microsecond), KeepTTL or none, create-
// only, IfVersion, replace-only and Merge; SetMany with each item's own
// expiry, the batch's, Atomic; Delete, DeleteMany, SetMetadata,
// GetMetadata, Clear, Sweep, clock steps forward and back, and
// transactions of several of them that commit or roll back (the reads
// above then run inside the transaction too). At the end the store is
// rebuilt from Watch (from revision 0, through each caller) as a consumer
// would (puts, metadata changes, deletes, expire events, clears, hiding
// the entries whose event's ExpiresAt has passed) and compared with what
// GetMany reads. Every configuration's trace must also be the same as
// SQLite's (both dialects alike). Seeded: STORAGE_EXPIRY_DIFF_SEED
// reproduces a run (the seed is logged); STORAGE_EXPIRY_DIFF_STEPS sets
// the number of steps (default 150; 50 under -race).
func TestExpiryDifferential(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STORAGE_EXPIRY_DIFF_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STORAGE_EXPIRY_DIFF_SEED: %v", err)
		}
		seed = v
	}
	steps := 150
	if raceEnabled {
		steps = 50
	}
	if s := os.Getenv("STORAGE_EXPIRY_DIFF_STEPS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("STORAGE_EXPIRY_DIFF_STEPS: %v", err)
		}
		steps = v
	}
	t.Logf("seed %d (rerun with STORAGE_EXPIRY_DIFF_SEED=%d), %d steps", seed, seed, steps)
	traces := map[string]string{}
	for _, c := range testdb.Except(configs, "sqlite-file") {
		t.Run(c.Name, func(t *testing.T) {
			clock := storetest.NewClock(expT0)
			eng := teststore.Open(t, c.DSN(t), sqlstore.WithClock(clock.Now), sqlstore.WithSweepInterval(-1))
			behind := teststore.Open(t, c.DSN(t), sqlstore.WithClock(clock.Now), sqlstore.WithSweepInterval(-1))
			_, cl := serve(t, behind)
			callers := []expCaller{{"engine", eng, eng}, {"client", cl, behind}}
			var out []string
			for _, p := range callers {
				clock.Set(expT0)
				r := &expRun{t: t, p: p, clock: clock, rng: rand.New(rand.NewPCG(seed, 1))}
				r.run(steps)
				r.rebuild()
				out = append(out, r.trace.String())
			}
			if line, a, b := firstDiff(out[0], out[1]); line >= 0 {
				t.Errorf("engine and client differ at line %d:\n%s\n--- client ---\n%s", line, a, b)
			}
			traces[c.Name] = out[0]
		})
	}
	if sq, pg := traces["sqlite-memory"], traces["postgres"]; sq != "" && pg != "" {
		if line, a, b := firstDiff(sq, pg); line >= 0 {
			t.Errorf("SQLite and PostgreSQL differ at line %d:\n%s\n--- postgres ---\n%s", line, a, b)
		}
	}
}

var expT0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

type expCaller struct {
	name string
	s    storage.Store
	eng  *sqlstore.Store // the engine behind s: Sweep
}

type expRun struct {
	t     *testing.T
	p     expCaller
	clock *storetest.Clock
	rng   *rand.Rand
	trace strings.Builder
}

var (
	expKeys = []string{"a", "b", "c", "d", "e", "f"}
	expNSs  = []string{"x", "y"}
)

func (r *expRun) log(f string, a ...any) {
	fmt.Fprintf(&r.trace, f+"\n", a...)
	if strings.Contains(fmt.Sprintf(f, a...), "BAD(") {
		r.t.Errorf("%s: %s", r.p.name, fmt.Sprintf(f, a...))
	}
}

// expErr names the one sentinel err wraps ("ok" for nil; txErrName).
func expErr(err error) string {
	if err == nil {
		return "ok"
	}
	return txErrName(err)
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

// expiry picks an expiry option (ok false: none). A TTL is whole
// milliseconds (the client sends any other rounded up to one, as it
// documents); times to the microsecond come as ExpiresAt.
func (r *expRun) expiry() (opt storage.Option, name string, ok bool) {
	switch r.rng.IntN(6) {
	case 0, 1:
		d := time.Duration(r.rng.IntN(3000)) * time.Millisecond
		return storage.WithTTL(d), "ttl" + d.String(), true
	case 2:
		d := time.Duration(r.rng.IntN(3000)-100) * time.Millisecond
		if r.rng.IntN(4) == 0 {
			d = time.Duration(r.rng.IntN(2000)) * time.Microsecond
		}
		return storage.ExpiresAt(r.clock.Now().Add(d)), "at" + d.String(), true
	case 3:
		return storage.KeepTTL(), "keep", true
	}
	return storage.Option{}, "", false
}

func (r *expRun) run(steps int) {
	ctx := context.Background()
	for _, ns := range expNSs {
		r.log("create %s %s", ns, expErr(r.p.s.CreateNamespace(ctx, ns, storage.WithIndexes("n"))))
	}
	for step := range steps {
		r.log("step %d", step)
		if r.rng.IntN(8) != 0 {
			r.step(r.p.s, false)
			r.reads(r.p.s)
			continue
		}
		tx, err := r.p.s.Begin(ctx, storage.TxOptions{})
		if err != nil {
			r.log("begin %s", expErr(err))
			continue
		}
		for range 1 + r.rng.IntN(4) {
			r.step(tx, true)
		}
		r.reads(tx)
		if r.rng.IntN(3) == 0 {
			r.log("rollback %s", expErr(tx.Rollback(ctx)))
		} else {
			r.log("commit %s", expErr(tx.Commit(ctx)))
		}
		r.reads(r.p.s)
	}
}

func (r *expRun) step(ops storage.Ops, inTx bool) {
	ctx := context.Background()
	rng := r.rng
	ns := expNSs[rng.IntN(len(expNSs))]
	in := storage.InNamespace(ns)
	k := expKeys[rng.IntN(len(expKeys))]
	n := rng.IntN(10)
	opts := []storage.Option{in}
	exp, en, hasExp := r.expiry()
	if hasExp {
		opts = append(opts, exp)
	}
	v := map[string]any{"n": n}
	switch rng.IntN(14) {
	case 0, 1, 2:
		var w storage.WriteResult
		err := ops.Set(ctx, k, v, append(opts, storage.Written(&w))...)
		r.log("set %s/%s %s: %s v%d new %v", ns, k, en, expErr(err), w.Version, w.CreateRevision == w.Revision)
	case 3:
		r.log("set-create-only %s/%s %s: %s", ns, k, en, expErr(ops.Set(ctx, k, v, append(opts, storage.NoOverwrite())...)))
	case 4:
		r.log("set-if-version %s/%s %s: %s", ns, k, en, expErr(ops.Set(ctx, k, v, append(opts, storage.IfVersion(int64(1+rng.IntN(3))))...)))
	case 5:
		r.log("set-must-exist %s/%s %s: %s", ns, k, en, expErr(ops.Set(ctx, k, v, append(opts, storage.MustExist())...)))
	case 6:
		var items []storage.Item
		for range 3 {
			it := storage.Item{Key: expKeys[rng.IntN(len(expKeys))], Value: map[string]any{"n": rng.IntN(10)}}
			switch rng.IntN(4) {
			case 0:
				it.TTL = time.Duration(rng.IntN(3000)) * time.Millisecond
			case 1:
				it.KeepTTL = true
			case 2:
				it.ExpiresAt = r.clock.Now().Add(time.Duration(rng.IntN(3000)-100) * time.Millisecond)
			}
			items = append(items, it)
		}
		if rng.IntN(3) == 0 {
			opts = append(opts, storage.Atomic())
		}
		res, err := ops.SetMany(ctx, items, opts...)
		var rs []string
		for _, x := range res.Results {
			rs = append(rs, fmt.Sprintf("%s:%s:v%d", x.Key, expErr(x.Err), x.Version))
		}
		r.log("setMany %s %s: %s %v", ns, en, expErr(err), rs)
	case 7:
		r.log("delete %s/%s: %s", ns, k, expErr(ops.Delete(ctx, k, in)))
	case 8:
		r.log("setMetadata %s/%s: %s", ns, k, expErr(ops.SetMetadata(ctx, k, map[string]any{"m": n}, in)))
	case 9:
		d := time.Duration(rng.IntN(1500)) * time.Millisecond
		r.clock.Advance(d)
		r.log("advance %v", d)
	case 10:
		if rng.IntN(2) == 0 && !inTx {
			c, err := r.p.eng.Sweep(ctx)
			r.log("sweep %d %s", c, expErr(err))
			break
		}
		md, err := ops.GetMetadata(ctx, k, in)
		r.log("getMetadata %s/%s: %s v%d expires %v %v", ns, k, expErr(err), md.Version, md.ExpiresAt, md.User)
	case 11:
		if rng.IntN(4) == 0 {
			r.log("clear %s: %s", ns, expErr(ops.Clear(ctx, in)))
			break
		}
		res, err := ops.DeleteMany(ctx, []string{k, expKeys[rng.IntN(len(expKeys))]}, in)
		r.log("deleteMany %s: %s %s", ns, expErr(err), expErr(res.Err()))
	case 12:
		r.log("merge %s/%s %s: %s", ns, k, en, expErr(ops.Set(ctx, k, v, append(opts, storage.Merge())...)))
	case 13:
		if rng.IntN(5) == 0 {
			d := time.Duration(rng.IntN(500)) * time.Millisecond
			r.clock.Advance(-d)
			r.log("back %v", d)
		}
	}
}

func (r *expRun) reads(ops storage.Ops) {
	ctx := context.Background()
	for _, ns := range expNSs {
		in := storage.InNamespace(ns)
		l, err := ops.List(ctx, in)
		r.log(" list %s: %v %s", ns, l.Keys, expErr(err))
		c, err := ops.Count(ctx, in)
		cf, errf := ops.Count(ctx, in, storage.Where(storage.Gt("n", 3)))
		r.log(" count %d %s, n>3 %d %s", c, expErr(err), cf, expErr(errf))
		gm, err := ops.GetMany(ctx, expKeys, in)
		var gs []string
		for _, k := range expKeys {
			e, ok := gm.Entries[k]
			if !ok {
				gs = append(gs, k+":"+expErr(gm.Errors[k]))
				continue
			}
			gs = append(gs, fmt.Sprintf("%s=%s v%d created %v updated %v expires %v md %s", k, compactJSON(e.Value), e.Version,
				e.CreatedAt.Sub(expT0), e.UpdatedAt.Sub(expT0), e.ExpiresAt, compactJSON(e.Metadata)))
		}
		r.log(" getMany %s: %s %v", ns, expErr(err), gs)
		var qs []string
		after := ""
		for range len(expKeys) + 1 {
			qo := []storage.Option{in, storage.SortBy(storage.SortField{Field: "n"}), storage.Limit(2)}
			if after != "" {
				qo = append(qo, storage.After(after))
			}
			q, err := ops.Query(ctx, storage.Gte("n", 2), qo...)
			if err != nil {
				qs = append(qs, expErr(err))
				break
			}
			for _, e := range q.Entries {
				qs = append(qs, e.Key)
			}
			if q.Cursor == "" {
				break
			}
			after = q.Cursor
		}
		r.log(" query %s: %v", ns, qs)
	}
}

// rebuild replays the caller's Watch from revision 0 and compares what it
// holds with the store.
func (r *expRun) rebuild() {
	ctx := context.Background()
	w, ok := r.p.s.(storage.Watcher)
	if !ok {
		r.t.Fatalf("%s: no Watch", r.p.name)
	}
	var end storage.WriteResult
	if err := r.p.s.Set(ctx, "end", 0, storage.InNamespace("zz-end"), storage.Written(&end)); err != nil {
		r.t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	state := map[string]storage.Event{}
	var last int64
	for ev, err := range w.Watch(wctx, storage.FromRevision(0)) {
		if err != nil {
			r.t.Fatalf("%s: Watch: %v", r.p.name, err)
		}
		if ev.Revision <= last {
			r.t.Errorf("%s: event %d after %d", r.p.name, ev.Revision, last)
		}
		last = ev.Revision
		if ev.Revision >= end.Revision {
			break
		}
		id := ev.Namespace + "/" + ev.Key
		switch ev.Type {
		case storage.EventPut:
			state[id] = ev
		case storage.EventMetadata:
			ev.Value = state[id].Value
			state[id] = ev
		case storage.EventDelete, storage.EventExpire:
			if _, ok := state[id]; !ok {
				r.t.Errorf("%s: %s event %d of %s, which no put made", r.p.name, ev.Type, ev.Revision, id)
			}
			delete(state, id)
		case storage.EventClear, storage.EventNamespaceDelete:
			for k := range state {
				if strings.HasPrefix(k, ev.Namespace+"/") {
					delete(state, k)
				}
			}
		}
	}
	var rebuilt, read []string
	for id, ev := range state {
		if ev.ExpiresAt.IsZero() || ev.ExpiresAt.After(r.clock.Now()) {
			rebuilt = append(rebuilt, fmt.Sprintf("%s=%s v%d", id, compactJSON(ev.Value), ev.Version))
		}
	}
	for _, ns := range expNSs {
		gm, err := r.p.s.GetMany(ctx, expKeys, storage.InNamespace(ns))
		if err != nil {
			r.t.Fatal(err)
		}
		for k, e := range gm.Entries {
			read = append(read, fmt.Sprintf("%s/%s=%s v%d", ns, k, compactJSON(e.Value), e.Version))
		}
	}
	slices.Sort(rebuilt)
	slices.Sort(read)
	if !slices.Equal(rebuilt, read) {
		r.t.Errorf("%s: rebuilt from Watch %v, the store holds %v", r.p.name, rebuilt, read)
	}
}

// firstDiff returns the first line where a and b differ (-1: none) and
// the lines around it in each.
func firstDiff(a, b string) (int, string, string) {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(la), len(lb)) {
		if i >= len(la) || i >= len(lb) || la[i] != lb[i] {
			lo := max(0, i-12)
			return i, strings.Join(la[lo:min(len(la), i+3)], "\n"), strings.Join(lb[lo:min(len(lb), i+3)], "\n")
		}
	}
	return -1, "", ""
}
