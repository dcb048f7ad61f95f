package sqlstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// cancelOutcome reads what became of one write of TestCancelAnywhere:
// "new" when all of it is there, "old" when none of it is, anything else
// (a description) when part of it is.
type cancelOutcome func(ctx context.Context) string

// cancelCase is one recorded call of TestCancelAnywhere: what it was, its
// error and the outcome it must have.
type cancelCase struct {
	what    string
	err     error
	ctxErr  error
	outcome cancelOutcome
	// raced: the write went to the namespace the racer deletes, so only
	// an error's outcome is known (nothing of it there).
	raced bool
}

// TestCancelAnywhere: every write (and read) of the store and of its
// transactions, called with a context cancelled, or whose deadline passes,
// at a random moment (before the call, while it waits for another writer's
// lock or a connection, on the wire, in its COMMIT), beside a writer that
// holds the write lock for random spans and index builds: every error is
// the context's or one documented sentinel, never driver text; a write
// that answered nil is there, one that answered an error other than
// ErrCommitUnknown is not, and none is there in part (checked at once and
// again at the end); afterwards no transaction, connection or goroutine
// is left, no server session is left in a transaction or holding an
// advisory lock, and a write succeeds at once.
func TestCancelAnywhere(t *testing.T) {
	smallIndexChunks(t)
	type cfg struct {
		name string
		open func(t *testing.T) (*Store, func(ctx context.Context) string)
	}
	cfgs := []cfg{
		{"sqlite-file", func(t *testing.T) (*Store, func(context.Context) string) {
			return openTest(t, testdb.SQLiteFile(t), WithSweepInterval(-1)), nil
		}},
		{"sqlite-memory", func(t *testing.T) (*Store, func(context.Context) string) {
			return openTest(t, "sqlite::memory:", WithSweepInterval(-1)), nil
		}},
		{"postgres", func(t *testing.T) (*Store, func(context.Context) string) {
			var b [4]byte
			_, _ = crand.Read(b[:])
			app := "cancel_" + hex.EncodeToString(b[:])
			dsn := testdb.Postgres(t, "t", "pool_max_conns", "6", "application_name", app)
			return openTest(t, dsn, WithSweepInterval(-1)), serverLeftovers(t, "application_name", app)
		}},
		// With a capacity every write runs a transaction of its own that
		// counts the entries; SetMany goes through COPY.
		{"sqlite-file-capacity", func(t *testing.T) (*Store, func(context.Context) string) {
			return openTest(t, testdb.SQLiteFile(t), WithSweepInterval(-1), WithCapacity(1_000_000)), nil
		}},
		{"postgres-capacity", func(t *testing.T) (*Store, func(context.Context) string) {
			var b [4]byte
			_, _ = crand.Read(b[:])
			app := "cancel_" + hex.EncodeToString(b[:])
			dsn := testdb.Postgres(t, "t", "pool_max_conns", "6", "application_name", app)
			return openTest(t, dsn, WithSweepInterval(-1), WithCapacity(1_000_000), withCopyMin(2)), serverLeftovers(t, "application_name", app)
		}},
		{"pgbouncer", func(t *testing.T) (*Store, func(context.Context) string) {
			if os.Getenv("STORAGE_TEST_PGBOUNCER_DSN") == "" {
				t.Skip("STORAGE_TEST_PGBOUNCER_DSN not set")
			}
			// Each exec mode that works through a pooler, in turn.
			mode := bouncerExecModes[time.Now().UnixNano()%int64(len(bouncerExecModes))]
			t.Logf("pgx exec mode %s", mode)
			c := bouncerConfig(mode)
			dsn := c.dsn(t)
			u, err := url.Parse(dsn)
			must(t, err)
			return openTest(t, dsn, append(c.opts(t, dsn), WithSweepInterval(-1))...), serverLeftovers(t, "usename", u.User.Username())
		}},
	}
	for _, c := range cfgs {
		t.Run(c.name, func(t *testing.T) {
			if raceEnabled && c.name == "sqlite-memory" {
				t.Skip("under -race sqlite-file runs the same calls")
			}
			before := runtime.NumGoroutine()
			s, leftovers := c.open(t)
			defer s.Close()
			cancelAnywhere(t, s)
			checkReleased(t, s, before+4)
			if leftovers != nil {
				var got string
				ok := waitUntil(5*time.Second, func() bool { got = leftovers(t.Context()); return got == "" })
				if !ok {
					t.Errorf("after the run, on the server: %s", got)
				}
			}
			// The writer is free: a write succeeds at once.
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			start := time.Now()
			if err := s.Set(ctx, "after", 1); err != nil {
				t.Errorf("a Set after the run: %v", err)
			} else if d := time.Since(start); d > time.Second {
				t.Errorf("a Set after the run took %v", d)
			}
			checkInvariants(t, s)
		})
	}
}

// serverLeftovers returns a function that describes the sessions of the
// server whose column (application_name, usename) is value and that are
// in a transaction, running a statement or holding an advisory lock; ""
// when there is none.
func serverLeftovers(t *testing.T, column, value string) func(ctx context.Context) string {
	admin := pgAdminDSN(t)
	return func(ctx context.Context) string {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return "connect: " + err.Error()
		}
		defer conn.Close(context.Background())
		rows, err := conn.Query(ctx, `SELECT a.pid, coalesce(a.state, ''), left(coalesce(a.query, ''), 80),
				(SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory')
			FROM pg_stat_activity a WHERE a.`+column+` = $1 AND a.pid <> pg_backend_pid()
				AND (a.state <> 'idle' OR a.xact_start IS NOT NULL
					OR EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory'))`, value)
		if err != nil {
			return "query: " + err.Error()
		}
		var out []string
		for rows.Next() {
			var pid, locks int64
			var state, query string
			if err := rows.Scan(&pid, &state, &query, &locks); err != nil {
				return "scan: " + err.Error()
			}
			out = append(out, fmt.Sprintf("pid %d %s (%d advisory locks): %s", pid, state, locks, query))
		}
		if err := rows.Err(); err != nil {
			return "rows: " + err.Error()
		}
		return strings.Join(out, "; ")
	}
}

// cancelAnywhere runs TestCancelAnywhere's calls on s.
func cancelAnywhere(t *testing.T, s *Store) {
	bg := t.Context()
	seed, rounds := seededRun(t, "STORAGE_TEST_CANCEL_SEED", "STORAGE_TEST_CANCEL_ROUNDS", 450, 3)
	t.Logf("seed %d, %d rounds (STORAGE_TEST_CANCEL_SEED, STORAGE_TEST_CANCEL_ROUNDS)", seed, rounds)
	must(t, s.CreateNamespace(bg, "c"))
	must(t, s.CreateNamespace(bg, "hold"))
	must(t, s.CreateNamespace(bg, "big"))
	var items []storage.Item
	for i := range 300 {
		items = append(items, storage.Item{Key: fmt.Sprintf("b%03d", i), Value: map[string]int{"v": i % 7, "w": i}})
	}
	res, err := s.SetMany(bg, items, storage.InNamespace("big"))
	must(t, err)
	must(t, res.Err())
	var histRevs []int64 // the revisions of hist's five changes
	for v := range 5 {
		var w storage.WriteResult
		must(t, s.Set(bg, "hist", v, storage.InNamespace("big"), storage.Written(&w)))
		histRevs = append(histRevs, w.Revision)
	}

	// The contender, every other 100 ms: a transaction that writes and
	// holds the write lock (SQLite's writer, PostgreSQL's revision lock)
	// for a random span, and index builds and drops on a namespace of 300
	// entries.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var contErr []string
	var contMu sync.Mutex
	wg.Go(func() {
		cr := rand.New(rand.NewPCG(seed+1, 7))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if time.Now().UnixMilli()/100%2 == 0 {
				// Every other 100 ms the calls run alone.
				time.Sleep(5 * time.Millisecond)
				continue
			}
			var err error
			switch cr.IntN(4) {
			case 0:
				if err = s.CreateIndex(bg, "big", "w"); errors.Is(err, storage.ErrIndexExists) {
					err = s.DropIndex(bg, "big", "w")
				}
			default:
				var tx storage.Tx
				tx, err = s.Begin(bg, storage.TxOptions{})
				if err == nil {
					err = tx.Set(bg, "h", i, storage.InNamespace("hold"))
					time.Sleep(time.Duration(cr.IntN(4000)) * time.Microsecond)
					if err == nil {
						err = tx.Commit(bg)
					} else {
						_ = tx.Rollback(bg)
					}
				}
				time.Sleep(time.Duration(cr.IntN(3000)) * time.Microsecond)
			}
			if err != nil && !errors.Is(err, storage.ErrTxConflict) {
				contMu.Lock()
				contErr = append(contErr, err.Error())
				contMu.Unlock()
			}
		}
	})

	// The contexts end within longest µs: PostgreSQL's calls take longer,
	// and more so beside the contender.
	longest := 20000.0
	if s.Dialect() == dialect.Postgres {
		longest *= 3
	}
	if raceEnabled {
		longest *= 5 // calls run slower
	}
	// Three callers at once, so that single writes are grouped too.
	// The racer: deletes namespace "race", and all in it, every few ms.
	wg.Go(func() {
		rr := rand.New(rand.NewPCG(seed+2, 9))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(rr.IntN(5000)) * time.Microsecond):
			}
			err := s.DeleteNamespace(bg, "race", storage.Recursive())
			if err != nil && !errors.Is(err, storage.ErrNamespaceNotFound) && !errors.Is(err, storage.ErrTxConflict) {
				contMu.Lock()
				contErr = append(contErr, "racer: "+err.Error())
				contMu.Unlock()
			}
		}
	})

	if s.Dialect() == dialect.Postgres {
		rounds /= 2 // slower calls: the test's time
	}
	log := &faultLog{}
	var cases []cancelCase
	var casesMu sync.Mutex
	var callers sync.WaitGroup
	for w := range 3 {
		callers.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for j := range rounds / 3 {
				// The call's context, made once what it needs is ready.
				var ctx context.Context
				cancel := context.CancelFunc(func() {})
				arm := func() context.Context {
					ctx, cancel = cancelCtx(bg, r, longest)
					return ctx
				}
				c := cancelOp(bg, arm, t, s, r, w*rounds+j, histRevs)
				c.ctxErr = ctx.Err()
				cancel()
				allowed := []error{storage.ErrTxDone, storage.ErrTooManyTx, storage.ErrTxConflict}
				if c.ctxErr == nil {
					allowed = []error{storage.ErrTxConflict}
				}
				if c.raced {
					// The namespace went while the write ran.
					allowed = append(allowed, storage.ErrNamespaceNotFound)
				}
				log.typed(c.what, c.err, c.ctxErr != nil, allowed...)
				if c.err != nil && c.ctxErr == nil && !errors.Is(c.err, storage.ErrTxConflict) && (!c.raced || !errors.Is(c.err, storage.ErrNamespaceNotFound)) {
					t.Errorf("%s: %v with its context live", c.what, c.err)
				}
				if c.outcome != nil {
					checkCancelOutcome(t, bg, c, "at once")
					casesMu.Lock()
					cases = append(cases, c)
					casesMu.Unlock()
				}
			}
		})
	}
	callers.Wait()
	close(stop)
	wg.Wait()
	log.report(t)
	for _, e := range contErr {
		t.Errorf("the contender: %s", e)
	}
	// The server had time to finish what it was asked to cancel.
	time.Sleep(200 * time.Millisecond)
	n := map[string]int{}
	for _, c := range cases {
		checkCancelOutcome(t, bg, c, "at the end")
		switch {
		case c.err == nil:
			n["nil"]++
		case errors.Is(c.err, storage.ErrCommitUnknown):
			n["unknown"]++
		default:
			n["error"]++
		}
	}
	t.Logf("writes by answer: %v", n)
}

// cancelCtx is a context that is cancelled, or whose deadline passes, at a
// random moment of the next longest µs, spread evenly over its orders of
// magnitude (or before the call).
func cancelCtx(parent context.Context, r *rand.Rand, longest float64) (context.Context, context.CancelFunc) {
	d := time.Duration(math.Exp(r.Float64()*math.Log(longest))) * time.Microsecond
	switch r.IntN(5) {
	case 0:
		ctx, cancel := context.WithCancel(parent)
		cancel()
		return ctx, cancel
	case 1, 2:
		return context.WithTimeout(parent, d)
	default:
		ctx, cancel := context.WithCancel(parent)
		tm := time.AfterFunc(d, cancel)
		return ctx, func() { tm.Stop(); cancel() }
	}
}

// checkCancelOutcome fails t unless c's write has the outcome its answer
// says.
func checkCancelOutcome(t *testing.T, bg context.Context, c cancelCase, when string) {
	t.Helper()
	got := c.outcome(bg)
	switch {
	case got != "new" && got != "old":
		t.Errorf("%s (answered %v, context %v): partly there %s: %s", c.what, c.err, c.ctxErr, when, got)
	case c.err == nil && got != "new" && !c.raced:
		t.Errorf("%s answered nil (context %v) but is not there %s", c.what, c.ctxErr, when)
	case c.err != nil && !errors.Is(c.err, storage.ErrCommitUnknown) && got != "old":
		t.Errorf("%s answered %q (context %v) but is there %s", c.what, c.err, c.ctxErr, when)
	}
}

// keysAre is the outcome of keys of namespace ns that hold old before the
// write (nil: missing) and new after it (nil: missing).
func keysAre(s *Store, ns string, keys []string, old, new any) cancelOutcome {
	enc := func(v any) string {
		if v == nil {
			return "<missing>"
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	return func(ctx context.Context) string {
		var got []string
		nNew, nOld := 0, 0
		for _, k := range keys {
			e, err := s.Get(ctx, k, storage.InNamespace(ns))
			v := "<missing>"
			switch {
			case err == nil:
				v = string(e.Value)
			case !errors.Is(err, storage.ErrNotFound):
				return "get: " + err.Error()
			}
			if v == enc(new) {
				nNew++
			}
			if v == enc(old) {
				nOld++
			}
			got = append(got, k+"="+v)
		}
		switch {
		case nNew == len(keys):
			return "new"
		case nOld == len(keys):
			return "old"
		}
		return strings.Join(got, ", ")
	}
}

// nsIs is the outcome of a namespace's existence, its entry count and
// whether it has an index on field ("" for none).
func nsIs(s *Store, ns, field string, oldThere, newThere bool, oldN, newN int64) cancelOutcome {
	return func(ctx context.Context) string {
		list, err := s.ListNamespaces(ctx)
		if err != nil {
			return "list: " + err.Error()
		}
		there, indexed := false, false
		for _, n := range list {
			if n.Name == ns {
				there = true
				indexed = slices.Contains(n.Indexes, field)
			}
		}
		var cnt int64
		if there {
			if cnt, err = s.Count(ctx, storage.InNamespace(ns)); err != nil {
				return "count: " + err.Error()
			}
		}
		state := fmt.Sprintf("there %v, %d entries, index %v", there, cnt, indexed)
		is := func(th bool, n int64, idx bool) bool {
			return there == th && (!th || cnt == n) && (field == "" || !th || indexed == idx)
		}
		switch {
		case is(newThere, newN, true):
			return "new"
		case is(oldThere, oldN, false):
			return "old"
		}
		return state
	}
}

// cancelOp runs call i of TestCancelAnywhere under ctx, having readied
// what it needs under bg.
func cancelOp(bg context.Context, arm func() context.Context, t *testing.T, s *Store, r *rand.Rand, i int, histRevs []int64) cancelCase {
	op := r.IntN(22)
	ns := "c"
	if slices.Contains([]int{0, 1, 2, 8, 9, 18}, op) && r.IntN(3) == 0 {
		ns = "race"
	}
	c := cancelCall(bg, arm, t, s, r, i, histRevs, op, ns)
	if ns == "race" && c.outcome != nil {
		// A key there with the new value: the write happened.
		out := c.outcome
		c.raced, c.outcome = true, func(ctx context.Context) string {
			if o := out(ctx); o == "new" || strings.Contains(o, `="new"`) {
				return "new"
			}
			return "old"
		}
	}
	return c
}

// cancelCall is call op of cancelOp, in namespace ns (its key writes).
func cancelCall(bg context.Context, arm func() context.Context, t *testing.T, s *Store, r *rand.Rand, i int, histRevs []int64, op int, ns string) cancelCase {
	in := storage.InNamespace(ns)
	k := fmt.Sprintf("k%d", i)
	put := func(keys ...string) {
		for _, k := range keys {
			must(t, s.Set(bg, k, "old", in))
		}
	}
	fresh := func(n int) []string {
		keys := make([]string, n)
		for j := range keys {
			keys[j] = fmt.Sprintf("k%d-%d", i, j)
		}
		return keys
	}
	nsWith := func(n int) string {
		ns := fmt.Sprintf("n%d", i)
		must(t, s.CreateNamespace(bg, ns))
		for j := range n {
			must(t, s.Set(bg, fmt.Sprintf("e%d", j), map[string]int{"v": j}, storage.InNamespace(ns)))
		}
		return ns
	}
	switch op {
	case 0:
		// Written: the answer carries the revision the write committed at.
		var w storage.WriteResult
		ctx := arm()
		err := s.Set(ctx, k, "new", in, storage.Written(&w))
		if err == nil && ns != "race" {
			if e, gerr := s.Get(bg, k, in); gerr != nil || e.Revision != w.Revision || w.Revision == 0 {
				t.Errorf("Set Written answered nil, revision %d; the entry: %d %v", w.Revision, e.Revision, gerr)
			}
		}
		return cancelCase{what: "Set Written", err: err, outcome: keysAre(s, ns, []string{k}, nil, "new")}
	case 1:
		ctx := arm()
		return cancelCase{what: "Set NoOverwrite", err: s.Set(ctx, k, "new", in, storage.NoOverwrite()), outcome: keysAre(s, ns, []string{k}, nil, "new")}
	case 2:
		ctx := arm()
		return cancelCase{what: "Set TTL", err: s.Set(ctx, k, "new", in, storage.WithTTL(time.Hour)), outcome: keysAre(s, ns, []string{k}, nil, "new")}
	case 3:
		put(k)
		ctx := arm()
		return cancelCase{what: "Set IfVersion", err: s.Set(ctx, k, "new", in, storage.IfVersion(1)), outcome: keysAre(s, ns, []string{k}, "old", "new")}
	case 4:
		put(k)
		e, err := s.Get(bg, k, in)
		must(t, err)
		ctx := arm()
		return cancelCase{what: "Set IfRevision", err: s.Set(ctx, k, "new", in, storage.IfRevision(e.Revision)), outcome: keysAre(s, ns, []string{k}, "old", "new")}
	case 5:
		put(k)
		ctx := arm()
		return cancelCase{what: "Set MustExist", err: s.Set(ctx, k, "new", in, storage.MustExist()), outcome: keysAre(s, ns, []string{k}, "old", "new")}
	case 6:
		put(k)
		ctx := arm()
		return cancelCase{what: "Delete", err: s.Delete(ctx, k, in), outcome: keysAre(s, ns, []string{k}, "old", nil)}
	case 7:
		put(k)
		ctx := arm()
		err := s.SetMetadata(ctx, k, map[string]string{"m": "new"}, in)
		return cancelCase{what: "SetMetadata", err: err, outcome: func(ctx context.Context) string {
			md, err := s.GetMetadata(ctx, k, in)
			if err != nil {
				return err.Error()
			}
			if md.User["m"] == "new" {
				return "new"
			}
			if len(md.User) == 0 {
				return "old"
			}
			return fmt.Sprint(md.User)
		}}
	case 8, 9:
		keys := fresh(1 + r.IntN(6))
		var its []storage.Item
		for _, k := range keys {
			its = append(its, storage.Item{Key: k, Value: "new"})
		}
		opts := []storage.Option{in}
		what := "SetMany"
		if r.IntN(2) == 0 {
			opts, what = append(opts, storage.Atomic()), what+" Atomic"
		}
		if r.IntN(2) == 0 {
			opts, what = append(opts, storage.NoOverwrite()), what+" NoOverwrite"
		}
		ctx := arm()
		res, err := s.SetMany(ctx, its, opts...)
		if err == nil {
			err = res.Err() // fresh keys: any failure is of the whole
		}
		return cancelCase{what: what, err: err, outcome: keysAre(s, ns, keys, nil, "new")}
	case 10:
		keys := fresh(1 + r.IntN(6))
		put(keys...)
		opts := []storage.Option{in}
		what := "DeleteMany"
		if r.IntN(2) == 0 {
			opts, what = append(opts, storage.Atomic()), what+" Atomic"
		}
		ctx := arm()
		res, err := s.DeleteMany(ctx, keys, opts...)
		if err == nil {
			err = res.Err()
		}
		return cancelCase{what: what, err: err, outcome: keysAre(s, ns, keys, "old", nil)}
	case 11:
		ns := nsWith(3)
		ctx := arm()
		return cancelCase{what: "Clear", err: s.Clear(ctx, storage.InNamespace(ns)), outcome: nsIs(s, ns, "", true, true, 3, 0)}
	case 12:
		ns := fmt.Sprintf("n%d", i)
		var opts []storage.NamespaceOption
		field := ""
		if r.IntN(2) == 0 {
			opts, field = append(opts, storage.WithIndexes("v")), "v"
		}
		ctx := arm()
		return cancelCase{what: "CreateNamespace", err: s.CreateNamespace(ctx, ns, opts...), outcome: nsIs(s, ns, field, false, true, 0, 0)}
	case 13:
		ns := nsWith(r.IntN(3))
		n, err := s.Count(bg, storage.InNamespace(ns))
		must(t, err)
		ctx := arm()
		return cancelCase{what: "DeleteNamespace", err: s.DeleteNamespace(ctx, ns, storage.Recursive()), outcome: nsIs(s, ns, "", true, false, n, 0)}
	case 14:
		ns := nsWith(20 + r.IntN(40))
		n, err := s.Count(bg, storage.InNamespace(ns))
		must(t, err)
		ctx := arm()
		return cancelCase{what: "CreateIndex", err: s.CreateIndex(ctx, ns, "v"), outcome: nsIs(s, ns, "v", true, true, n, n)}
	case 15:
		ns := nsWith(5)
		must(t, s.CreateIndex(bg, ns, "v"))
		// DropIndex: "old" is without the index, so old and new swap.
		out := nsIs(s, ns, "v", true, true, 5, 5)
		swap := func(ctx context.Context) string {
			switch o := out(ctx); o {
			case "new":
				return "old"
			case "old":
				return "new"
			default:
				return o
			}
		}
		return cancelCase{what: "DropIndex", err: s.DropIndex(arm(), ns, "v"), outcome: swap}
	case 16, 17:
		// A transaction at a random level: its calls and its Commit under
		// ctx, or its calls under ctx and its Commit under bg.
		level := storage.IsolationLevel(r.IntN(int(storage.LevelSerializable) + 1))
		keys := fresh(2)
		put(keys[1])
		ctx := arm()
		beginCtx, commitCtx := ctx, ctx
		what := "tx " + level.String()
		switch r.IntN(3) {
		case 1:
			commitCtx, what = bg, what+" (Commit live)"
		case 2:
			// Begin under ctx, the rest under bg: ctx's end after Begin
			// answered does not touch the transaction, or ends it.
			ctx, commitCtx, what = bg, bg, what+" (Begin only)"
		}
		tx, err := s.Begin(beginCtx, storage.TxOptions{Isolation: level})
		if err != nil {
			return cancelCase{what: what + " Begin", err: err}
		}
		steps := []func() error{
			func() error { _, err := tx.Get(ctx, keys[1], in); return err },
			func() error { return tx.Set(ctx, keys[0], "new", in) },
			func() error { return tx.Delete(ctx, keys[1], in) },
			func() error { _, err := tx.Count(ctx, in); return err },
		}
		for j, f := range steps {
			if err = f(); err != nil {
				what = fmt.Sprintf("%s step %d", what, j)
				break
			}
		}
		if err == nil {
			err = tx.Commit(commitCtx)
			what += " Commit"
		} else {
			// A call whose context ended rolled the transaction back: a
			// Commit now says so (ErrTxDone), and commits nothing.
			ended := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
			if _, lerr := s.LookupTx(tx.ID()); ended && !errors.Is(lerr, storage.ErrTxNotFound) {
				t.Errorf("%s: LookupTx after the call that failed with %v: %v, want ErrTxNotFound", what, err, lerr)
			}
			if cerr := tx.Commit(bg); ended && !errors.Is(cerr, storage.ErrTxDone) {
				t.Errorf("%s: Commit after the call that failed with %v: %v, want ErrTxDone", what, err, cerr)
			}
			_ = tx.Rollback(bg)
		}
		return cancelCase{what: what, err: err, outcome: func(ctx context.Context) string {
			a := keysAre(s, ns, keys[:1], nil, "new")(ctx)
			b := keysAre(s, ns, keys[1:], "old", nil)(ctx)
			if a == b {
				return a
			}
			return a + " / " + b
		}}
	case 18:
		keys := fresh(1 + r.IntN(5))
		now := time.Now().UTC().Truncate(time.Microsecond)
		var recs []Record
		for _, k := range keys {
			recs = append(recs, Record{Namespace: ns, Key: k, Value: []byte(`"new"`), Metadata: []byte(`{}`), Version: 1, CreatedAt: now, UpdatedAt: now})
		}
		ctx := arm()
		_, err := s.Restore(ctx, recs, ConflictMode(r.IntN(3)))
		return cancelCase{what: "Restore", err: err, outcome: keysAre(s, ns, keys, nil, "new")}
	case 19:
		ns := fmt.Sprintf("n%d", i)
		ctx := arm()
		_, err := s.RestoreNamespace(ctx, NamespaceRecord{Name: ns, Metadata: []byte(`{}`), CreatedAt: time.Now().UTC(), Indexes: []string{"v"}}, ConflictFail)
		return cancelCase{what: "RestoreNamespace", err: err, outcome: nsIs(s, ns, "v", false, true, 0, 0)}
	case 20:
		// Reads of what does not change (the 300 entries of "big", the
		// history of "hist"): one that answers nil answers all of it.
		ctx := arm()
		return cancelRead(ctx, s, r, histRevs)
	default:
		ctx := arm()
		// A read-only transaction, ended by Rollback under ctx.
		tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true, Isolation: storage.LevelRepeatableRead})
		if err != nil {
			return cancelCase{what: "ro Begin", err: err}
		}
		bad := ""
		var gm storage.GetManyResult
		if gm, err = tx.GetMany(ctx, []string{"b001", "b009", "x"}, storage.InNamespace("big")); err == nil {
			bad = checkGetMany(gm)
			var q storage.QueryResult
			if q, err = tx.Query(ctx, storage.Eq("v", 1), storage.InNamespace("big"), storage.Limit(20)); err == nil && len(q.Entries) != 20 {
				bad += fmt.Sprintf("; Query: %d entries, want 20", len(q.Entries))
			}
		}
		if rerr := tx.Rollback(ctx); err == nil {
			err = rerr
		}
		if err == nil && bad != "" {
			t.Errorf("ro tx answered nil: %s", bad)
		}
		return cancelCase{what: "ro tx", err: err}
	}
}

// checkGetMany describes what is wrong with a GetMany of b001, b009 and x
// in "big"; "" when nothing is.
func checkGetMany(gm storage.GetManyResult) string {
	if len(gm.Entries) != 2 || len(gm.Errors) != 1 || !errors.Is(gm.Errors["x"], storage.ErrNotFound) || len(gm.Unread) != 0 {
		return fmt.Sprintf("GetMany: %d entries, errors %v, unread %v", len(gm.Entries), gm.Errors, gm.Unread)
	}
	return ""
}

// cancelRead is a read of TestCancelAnywhere under ctx: its error, and, when
// it answered nil, whether it answered all it should.
func cancelRead(ctx context.Context, s *Store, r *rand.Rand, histRevs []int64) cancelCase {
	big := storage.InNamespace("big")
	var err error
	what, bad := "", ""
	switch r.IntN(11) {
	case 0:
		what = "Get"
		var e storage.Entry
		var m map[string]int
		if e, err = s.Get(ctx, "b001", big); err == nil && (e.Decode(&m) != nil || m["v"] != 1 || m["w"] != 1 || len(m) != 2) {
			bad = "value " + string(e.Value)
		}
	case 1:
		what = "GetMany"
		var gm storage.GetManyResult
		if gm, err = s.GetMany(ctx, []string{"b001", "b009", "x"}, big); err == nil {
			bad = checkGetMany(gm)
		}
	case 2:
		what = "Query pages"
		var q storage.QueryResult
		q, err = s.Query(ctx, storage.Gte("v", 2), big, storage.Limit(50), storage.SortBy(storage.Desc("w")))
		if err == nil && (len(q.Entries) != 50 || q.Cursor == "") {
			bad = fmt.Sprintf("page 1: %d entries, cursor %q", len(q.Entries), q.Cursor)
		} else if err == nil {
			if q, err = s.Query(ctx, storage.Gte("v", 2), big, storage.Limit(50), storage.SortBy(storage.Desc("w")), storage.After(q.Cursor)); err == nil && len(q.Entries) != 50 {
				bad = fmt.Sprintf("page 2: %d entries", len(q.Entries))
			}
		}
	case 3:
		what = "List pages"
		var l storage.ListResult
		l, err = s.List(ctx, big, storage.Limit(100))
		if err == nil && (len(l.Keys) != 100 || l.Cursor == "") {
			bad = fmt.Sprintf("page 1: %d keys, cursor %q", len(l.Keys), l.Cursor)
		} else if err == nil {
			if l, err = s.List(ctx, big, storage.Limit(100), storage.After(l.Cursor)); err == nil && (len(l.Keys) != 100 || l.Keys[0] != "b100") {
				bad = fmt.Sprintf("page 2: %d keys from %v", len(l.Keys), l.Keys[:min(1, len(l.Keys))])
			}
		}
	case 4:
		what = "Count Has"
		var n int64
		if n, err = s.Count(ctx, big, storage.Where(storage.Eq("v", 3))); err == nil && n != 43 {
			bad = fmt.Sprintf("count %d, want 43", n)
		} else if err == nil {
			var ok bool
			if ok, err = s.Has(ctx, "b299", big); err == nil && !ok {
				bad = "Has: false"
			}
		}
	case 5:
		what = "History"
		var evs []storage.Event
		if evs, err = s.History(ctx, "hist", storage.InNamespace("big")); err == nil && len(evs) != 5 {
			bad = fmt.Sprintf("%d events, want 5", len(evs))
		}
	case 6:
		what = "Get AtRevision"
		var e storage.Entry
		if e, err = s.Get(ctx, "hist", storage.InNamespace("big"), storage.AtRevision(histRevs[2])); err == nil && string(e.Value) != "2" {
			bad = "value " + string(e.Value)
		}
	case 7:
		// A consumer that takes its time: the context may end between
		// pages, in the callback.
		what = "Export"
		n := 0
		err = s.Export(ctx, ExportOptions{Namespace: "big", PageSize: 40}, func(NamespaceRecord) error { return nil }, func(Record) error {
			n++
			time.Sleep(20 * time.Microsecond)
			return nil
		})
		if err == nil && n != 301 {
			bad = fmt.Sprintf("%d records, want 301", n)
		}
	case 8:
		what = "ListNamespaces Status"
		var nss []storage.Namespace
		if nss, err = s.ListNamespaces(ctx); err == nil {
			if !slices.ContainsFunc(nss, func(n storage.Namespace) bool { return n.Name == "big" }) {
				bad = "no namespace big"
			}
			var st storage.Status
			if st, err = s.Status(ctx); err == nil && (!st.Healthy || st.Revision == 0) {
				bad += fmt.Sprintf("; status %+v", st)
			}
		}
	case 9:
		what = "Sweep Compact"
		if _, err = s.Sweep(ctx); err == nil {
			_, err = s.Compact(ctx)
		}
	default:
		what = "Watch"
		n := 0
		for ev, werr := range s.Watch(ctx, storage.InNamespace("big"), storage.FromRevision(histRevs[0]-1)) {
			if werr != nil {
				err = werr
				break
			}
			if ev.Key != "hist" {
				continue
			}
			if n >= len(histRevs) || ev.Revision != histRevs[n] {
				bad = fmt.Sprintf("event %d at revision %d, want %d", n, ev.Revision, histRevs[n])
				break
			}
			n++
			time.Sleep(100 * time.Microsecond)
		}
	}
	if err == nil && bad != "" {
		err = fmt.Errorf("%s answered nil but wrong: %s (context ended: %t)", what, bad, ctx.Err() != nil)
	}
	return cancelCase{what: what, err: err}
}
