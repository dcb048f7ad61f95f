package sqlstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/txmanager"
)

// chaosOps are the operations of chaosOp, beyond raceOp's.
const chaosOps = 16

// chaosOp runs operation op of TestChaos: the calls raceOp does not make
// (Has, the iterators over pages, queries with sort, offset and a cursor
// of a previous page, every call inside a transaction, read-only
// transactions, LookupTx, History, Get at a revision, a Watch from a
// revision, Compact, Sweep, Export, Status, writes with a TTL, RunInTx),
// and passes each error it meets to check. Every error a race between
// well-formed calls can cause is in raceExpected, plus ErrReadOnly for a
// read-only transaction's write and ErrCompacted for the change log.
func chaosOp(ctx context.Context, s *Store, r *rand.Rand, op int, check func(string, error)) {
	nss := []string{"ra", "rb"}
	ns := nss[r.IntN(len(nss))]
	in := storage.InNamespace(ns)
	key := func() string { return fmt.Sprintf("k%d", r.IntN(40)) }
	switch op {
	case 0:
		_, err := s.Has(ctx, key(), in)
		check("Has", err)
	case 1:
		n := 0
		for _, err := range storage.ListAll(ctx, s, in, storage.Limit(1+r.IntN(5))) {
			check("ListAll", err)
			if n++; err != nil || n > 60 {
				break
			}
		}
	case 2:
		n := 0
		for _, err := range storage.QueryAll(ctx, s, storage.Gte("v", 0), in, storage.Limit(1+r.IntN(5)), storage.SortBy(storage.Desc("v"))) {
			check("QueryAll", err)
			if n++; err != nil || n > 60 {
				break
			}
		}
	case 3:
		res, err := s.Query(ctx, storage.All(), in, storage.Limit(3), storage.SortBy(storage.Asc("v")))
		check("Query sorted", err)
		if err == nil && res.Cursor != "" {
			_, err = s.Query(ctx, storage.All(), in, storage.Limit(3), storage.SortBy(storage.Asc("v")), storage.After(res.Cursor))
			check("Query after", err)
		}
		_, err = s.Query(ctx, storage.Exists("v", true), in, storage.Limit(3), storage.Offset(r.IntN(10)))
		check("Query offset", err)
		l, err := s.List(ctx, in, storage.Limit(3))
		check("List", err)
		if err == nil && l.Cursor != "" {
			_, err = s.List(ctx, in, storage.Limit(3), storage.After(l.Cursor))
			check("List after", err)
		}
	case 4, 5:
		// Every call inside a transaction, at a random level.
		level := storage.IsolationLevel(r.IntN(int(storage.LevelSerializable) + 1))
		what := "tx " + level.String()
		tx, err := s.Begin(ctx, storage.TxOptions{Isolation: level})
		check(what+" Begin", err)
		if err != nil {
			return
		}
		if got, lerr := s.LookupTx(tx.ID()); lerr == nil && got.ID() != tx.ID() {
			check(what+" LookupTx", fmt.Errorf("LookupTx(%s) found %s", tx.ID(), got.ID()))
		} else if lerr != nil && !errors.Is(lerr, storage.ErrTxNotFound) {
			check(what+" LookupTx", lerr)
		}
		steps := []func() error{
			func() error { _, err := tx.Get(ctx, key(), in); return notFoundOK(err) },
			func() error { _, err := tx.Has(ctx, key(), in); return err },
			func() error { return tx.Set(ctx, key(), map[string]int{"v": r.IntN(5)}, in) },
			func() error { return notFoundOK(tx.Delete(ctx, key(), in)) },
			func() error { _, err := tx.GetMany(ctx, []string{key(), key()}, in); return err },
			func() error {
				res, err := tx.SetMany(ctx, []storage.Item{{Key: key(), Value: map[string]int{"v": 1}}, {Key: key(), Value: map[string]int{"v": 2}}}, in)
				if err == nil {
					err = res.Err()
				}
				return err
			},
			func() error {
				res, err := tx.DeleteMany(ctx, []string{key(), key()}, in)
				if err == nil {
					err = notFoundOK(res.Err())
				}
				return err
			},
			func() error { _, err := tx.List(ctx, in, storage.Limit(5)); return err },
			func() error { _, err := tx.Query(ctx, storage.Eq("v", r.IntN(5)), in, storage.Limit(5)); return err },
			func() error { _, err := tx.Count(ctx, in); return err },
			func() error { _, err := tx.GetMetadata(ctx, key(), in); return notFoundOK(err) },
			func() error { return notFoundOK(tx.SetMetadata(ctx, key(), map[string]int{"m": 1}, in)) },
			func() error {
				if r.IntN(4) == 0 {
					return tx.Clear(ctx, in)
				}
				return nil
			},
			func() error {
				h, ok := tx.(storage.Historian)
				if !ok {
					return nil
				}
				_, err := h.History(ctx, key(), in)
				return err
			},
		}
		for range 1 + r.IntN(5) {
			if err = steps[r.IntN(len(steps))](); err != nil {
				break
			}
		}
		check(what+" op", err)
		if err != nil || r.IntN(5) == 0 {
			if rerr := txDoneOK(tx.Rollback(context.Background())); rerr != nil {
				check(fmt.Sprintf("%s Rollback (after %q; context: %q)", what, err, ctx.Err()), rerr)
			}
			return
		}
		check(what+" Commit", tx.Commit(ctx))
	case 6:
		tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true, Isolation: storage.LevelRepeatableRead})
		check("ro Begin", err)
		if err != nil {
			return
		}
		_, err = tx.Get(ctx, key(), in)
		check("ro Get", notFoundOK(err))
		if err := tx.Set(ctx, key(), 1, in); !errors.Is(err, storage.ErrReadOnly) && ctx.Err() == nil {
			check("ro Set", fmt.Errorf("a read-only transaction's Set: %w", err))
		}
		_, err = tx.Count(ctx, in)
		check("ro Count", err)
		check("ro Commit", tx.Commit(ctx))
	case 7:
		_, err := s.History(ctx, key(), in, storage.Limit(5), storage.OmitValues())
		check("History", err)
	case 8:
		st, err := s.Status(ctx)
		check("Status", err)
		if err == nil && st.Revision > 1 {
			_, err = s.Get(ctx, key(), in, storage.AtRevision(1+r.Int64N(st.Revision)))
			check("Get at", err)
		}
	case 9:
		st, err := s.Status(ctx)
		check("Status", err)
		if err != nil {
			return
		}
		wctx, cancel := context.WithTimeout(ctx, time.Duration(1+r.IntN(20))*time.Millisecond)
		defer cancel()
		for _, err := range s.Watch(wctx, in, storage.FromRevision(max(0, st.Revision-int64(r.IntN(50))))) {
			if err != nil {
				if wctx.Err() == nil || !errors.Is(err, wctx.Err()) {
					check("Watch from", err)
				}
				break
			}
		}
	case 10:
		_, err := s.Compact(ctx)
		check("Compact", err)
	case 11:
		_, err := s.Sweep(ctx)
		check("Sweep", err)
	case 12:
		o := ExportOptions{PageSize: 1 + r.IntN(8)}
		if r.IntN(2) == 0 {
			o.Namespace = ns
		}
		err := s.Export(ctx, o, func(NamespaceRecord) error { return nil }, func(Record) error { return nil })
		check("Export", err)
	case 13:
		check("Set TTL", s.Set(ctx, key(), map[string]int{"v": r.IntN(5)}, in, storage.WithTTL(time.Duration(1+r.IntN(5))*time.Millisecond)))
	case 14:
		err := txmanager.RunInTx(ctx, s, storage.TxOptions{Isolation: storage.LevelSerializable}, func(tx storage.Tx) error {
			n, err := tx.Count(ctx, in)
			if err != nil {
				return err
			}
			return tx.Set(ctx, key(), map[string]int64{"v": n % 5}, storage.InNamespace(nss[r.IntN(len(nss))]))
		})
		var re *txmanager.RetryError
		if errors.As(err, &re) {
			err = re.Unwrap()
		}
		check("RunInTx", err)
	case 15:
		check("CreateNamespace meta", s.CreateNamespace(ctx, ns, storage.WithNamespaceMetadata(map[string]int{"m": 1}), storage.WithIndexes("v", "w")))
		_, err := s.ListNamespaces(ctx)
		check("ListNamespaces", err)
	}
}

func notFoundOK(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}

func txDoneOK(err error) error {
	if errors.Is(err, storage.ErrTxDone) {
		return nil
	}
	return err
}

// chaos runs, for d, workers that call at random every operation of
// raceOp and chaosOp on stores, a share of them with a context that ends
// at a random point, and checks every error with log against allowed (and
// the context's error where the call's context ended). extra, when set,
// runs beside them until the run ends (a fault: backends terminated).
func chaos(t *testing.T, stores []*Store, d time.Duration, allowed []error, extra func(ctx context.Context)) *faultLog {
	t.Helper()
	log := &faultLog{}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var wg sync.WaitGroup
	var calls atomic.Int64
	var mu sync.Mutex
	var spent, slowest [raceOps + chaosOps]time.Duration
	var count [raceOps + chaosOps]int
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				cctx, ccancel := ctx, context.CancelFunc(func() {})
				switch r.IntN(6) {
				case 0:
					cctx, ccancel = context.WithTimeout(ctx, time.Duration(r.IntN(5000))*time.Microsecond)
				case 1:
					// Cancelled (not expired) at a random point.
					cctx, ccancel = context.WithCancel(ctx)
					time.AfterFunc(time.Duration(r.IntN(3000))*time.Microsecond, ccancel)
				}
				s := stores[r.IntN(len(stores))]
				op := r.IntN(raceOps + chaosOps)
				checkErr := func(what string, err error) {
					ok := allowed
					if cctx.Err() != nil {
						// A transaction whose context ended was rolled back.
						// A call whose context ended as its connection
						// failed answers the context's error, in a
						// transaction or not (TestTxOpEndedAsItsConnectionFailed,
						// TestCallEndedAsItsConnectionFailed), never
						// ErrUnavailable. A Begin (RunInTx's) that waited
						// for a place among the connections transactions
						// may hold until its context ended is
						// ErrTooManyTx, as documented (sqlstore/doc.go:
						// "waits for one as long as its context allows,
						// then fails with ErrTooManyTx"): CI saw it under
						// PgBouncer with backends terminated.
						ok = append(slices.Clone(ok), storage.ErrTxDone, storage.ErrTooManyTx)
					}
					log.typed(what, err, cctx.Err() != nil, ok...)
				}
				start := time.Now()
				if op < raceOps {
					raceOp(cctx, s, r, op, checkErr)
				} else {
					chaosOp(cctx, s, r, op-raceOps, checkErr)
				}
				took := time.Since(start)
				ccancel()
				calls.Add(1)
				mu.Lock()
				spent[op] += took
				count[op]++
				slowest[op] = max(slowest[op], took)
				mu.Unlock()
			}
		})
	}
	if extra != nil {
		wg.Go(func() { extra(ctx) })
	}
	wg.Wait()
	t.Logf("%d calls", calls.Load())
	for op := range spent {
		if count[op] > 0 {
			t.Logf("op %d: %d calls, %v in all, slowest %v", op, count[op], spent[op].Round(time.Millisecond), slowest[op].Round(time.Millisecond))
		}
	}
	return log
}

// chaosAllowed are the sentinels TestChaos accepts without a fault of the
// server: raceExpected, a read-only transaction's ErrReadOnly, the change
// log's ErrCompacted.
var chaosAllowed = append(slices.Clone(raceExpected), storage.ErrReadOnly, storage.ErrCompacted)

// chaosDuration is a few seconds, or STORAGE_TEST_CHAOS (a duration) for a
// long run.
func chaosDuration(t *testing.T) time.Duration {
	d := 3 * time.Second
	if testing.Short() {
		d = 1500 * time.Millisecond
	}
	if v := os.Getenv("STORAGE_TEST_CHAOS"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("STORAGE_TEST_CHAOS: %v", err)
		}
	}
	return d
}

// checkReleased checks that, once the calls of a chaos run returned,
// nothing is left behind: no open transaction, no connection in use, and
// the goroutines back near the baseline.
func checkReleased(t *testing.T, s *Store, goroutines int) {
	t.Helper()
	ok := waitUntil(10*time.Second, func() bool {
		return s.OpenTransactions() == 0 && connsInUse(s) == 0 && runtime.NumGoroutine() <= goroutines+8
	})
	if !ok {
		t.Errorf("after the run: %d open transactions, %d connections in use, %d goroutines (%d before)",
			s.OpenTransactions(), connsInUse(s), runtime.NumGoroutine(), goroutines)
		buf := make([]byte, 1<<20)
		t.Logf("%s", buf[:runtime.Stack(buf, true)])
	}
}

// connsInUse is the number of the store's connections taken from its pools.
func connsInUse(s *Store) int {
	switch e := s.eng.(type) {
	case *pgEngine:
		return int(e.pool.Stat().AcquiredConns())
	case *sqliteEngine:
		return e.w.Stats().InUse + e.r.Stats().InUse
	}
	return 0
}

// TestChaos: every public operation of the store and of its
// transactions, from eight workers on two stores of one database, with
// contexts that expire or are cancelled at random points, against
// namespace deletes, clears, index builds and drops, compaction and
// imports (raceOp's and chaosOp's mix): every error wraps exactly one
// sentinel a race can cause, or is the context's, and carries no driver
// text; afterwards nothing is left open. STORAGE_TEST_CHAOS=1m runs it
// longer.
func TestChaos(t *testing.T) {
	chaosConfigs(t, func(t *testing.T, dsn string, s *Store) {
		// The second store has a capacity: its writes run
		// transactions of their own that count the entries.
		s2 := openTest(t, dsn, WithRetention(Retention{Changes: 50}), WithCapacity(1_000_000))
		defer s2.Close()
		before := runtime.NumGoroutine()
		log := chaos(t, []*Store{s, s2}, chaosDuration(t), chaosAllowed, nil)
		log.report(t)
		checkReleased(t, s, before)
		checkReleased(t, s2, before)
		checkIndexes(t, s)
		checkInvariants(t, s)
	})
}

// chaosConfigs runs run for each configuration on a file (SQLite's,
// PostgreSQL), with small index chunks, on a store of a new database
// that keeps 50 changes and ends transactions idle for 200ms, closed when
// run returns.
func chaosConfigs(t *testing.T, run func(t *testing.T, dsn string, s *Store)) {
	smallIndexChunks(t)
	for _, c := range configs {
		if c.name == "sqlite-memory" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			dsn := c.dsn(t)
			s := openTest(t, dsn, WithRetention(Retention{Changes: 50}), WithTxIdleTimeout(200*time.Millisecond))
			defer s.Close()
			run(t, dsn, s)
		})
	}
}

// smallIndexChunks builds indexes in chunks of 16 entries until the test
// ends, so that builds interleave with the other calls.
func smallIndexChunks(t *testing.T) {
	old := indexBuildChunk
	t.Cleanup(func() { indexBuildChunk = old })
	indexBuildChunk = 16
}

// chaosKilled runs the chaos on two stores of dsn (opened with opts)
// while kill terminates their backends and returns how many: besides the
// races' sentinels, ErrUnavailable and ErrCommitUnknown; the fault must
// have hit calls; afterwards nothing is left open and every kind of call
// succeeds again.
func chaosKilled(t *testing.T, dsn string, opts []Option, kill func(ctx context.Context) int) {
	t.Helper()
	smallIndexChunks(t)
	s := openTest(t, dsn, append(slices.Clone(opts), WithRetention(Retention{Changes: 50}), WithTxIdleTimeout(200*time.Millisecond))...)
	defer s.Close()
	s2 := openTest(t, dsn, opts...)
	defer s2.Close()
	before := runtime.NumGoroutine()
	allowed := append(slices.Clone(chaosAllowed), storage.ErrUnavailable, storage.ErrCommitUnknown)
	var killed int
	log := chaos(t, []*Store{s, s2}, chaosDuration(t), allowed, func(ctx context.Context) { killed = kill(ctx) })
	t.Logf("%d backends terminated", killed)
	log.report(t)
	log.wantFaultSeen(t, killed)
	checkReleased(t, s, before)
	checkReleased(t, s2, before)
	// Through PgBouncer 1.18 the chaos's cancel requests can make the
	// pooler exit (pgbouncer/pgbouncer#822); .ci/pgbouncer.sh starts it
	// again, and the checks wait for it.
	pgtest.WaitListening(t, dsn, 10*time.Second)
	s.eng.(*pgEngine).resetPools()
	checkCallsSucceed(t, s)
	checkIndexes(t, s)
	checkInvariants(t, s)
}

// TestChaosTerminate is TestChaos on PostgreSQL while another connection
// terminates the stores' backends at random (pg_terminate_backend): a
// call may also fail with ErrUnavailable, or ErrCommitUnknown for a write
// whose answer was lost, never with pgx's text; afterwards nothing is left
// open and every kind of call succeeds again.
func TestChaosTerminate(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	var b [4]byte
	_, _ = crand.Read(b[:])
	app := "chaos_" + hex.EncodeToString(b[:])
	dsn := testdb.Postgres(t, "t", "pool_max_conns", "8", "application_name", app)
	chaosKilled(t, dsn, nil, func(ctx context.Context) int { return terminator(t, ctx, app) })
}

// TestChaosPostgresRestart is TestChaos while the server restarts (pg_ctl
// restart -m fast) and then crashes and comes back (stop -m immediate, a
// second down, start), with a Watch consumer that resumes from the last
// revision it saw after each error: every error is typed (ErrUnavailable
// while the server is away), the watch ends with a typed error and, once
// resumed, goes on in revision order with no duplicate and sees the
// writes made after the restart; afterwards nothing is left open. Gated
// like TestFaultsPostgresRestart: STORAGE_TEST_PG_RESTART=1 and
// STORAGE_TEST_PG_DIR, run alone.
func TestChaosPostgresRestart(t *testing.T) {
	dir := restartableServer(t)
	smallIndexChunks(t)
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithRetention(Retention{Changes: 100_000}), WithTxIdleTimeout(200*time.Millisecond))
	defer s.Close()
	s2 := openTest(t, dsn)
	defer s2.Close()
	before := runtime.NumGoroutine()
	allowed := append(slices.Clone(chaosAllowed), storage.ErrUnavailable, storage.ErrCommitUnknown)
	wlog := &faultLog{}
	var wmu sync.Mutex
	var last int64
	var resumed, afterRestart int
	restarted := make(chan struct{})
	wctx, stopWatch := context.WithCancel(t.Context())
	var wwg sync.WaitGroup
	wwg.Go(func() { // the watch consumer
		from := int64(-1)
		for wctx.Err() == nil {
			opts := []storage.Option{storage.InNamespace("stable")}
			if from >= 0 {
				opts = append(opts, storage.FromRevision(from))
			}
			for ev, err := range s2.Watch(wctx, opts...) {
				if err != nil {
					if wctx.Err() == nil {
						wlog.typed("Watch", err, false, storage.ErrUnavailable)
						resumed++
					}
					time.Sleep(50 * time.Millisecond)
					break
				}
				wmu.Lock()
				if ev.Revision <= last {
					wlog.typed("Watch", fmt.Errorf("revision %d after %d", ev.Revision, last), false)
				}
				last, from = ev.Revision, ev.Revision
				select {
				case <-restarted:
					afterRestart++
				default:
				}
				wmu.Unlock()
			}
		}
	})
	wwg.Go(func() { // a writer the watch follows
		for i := 0; wctx.Err() == nil; i++ {
			err := s.Set(wctx, fmt.Sprintf("w%d", i%20), i, storage.InNamespace("stable"))
			wlog.typed("Set stable", err, wctx.Err() != nil, storage.ErrUnavailable, storage.ErrCommitUnknown)
			time.Sleep(5 * time.Millisecond)
		}
	})
	d := max(chaosDuration(t), 6*time.Second)
	log := chaos(t, []*Store{s, s2}, d, allowed, func(ctx context.Context) {
		time.Sleep(d / 8)
		restartThenCrash(t, dir, d/8)
		close(restarted)
	})
	// The watch sees the writes made once the server is back.
	if !waitUntil(20*time.Second, func() bool { wmu.Lock(); defer wmu.Unlock(); return afterRestart > 10 }) {
		t.Errorf("the watch saw %d events after the restart", afterRestart)
	}
	stopWatch()
	wwg.Wait()
	t.Logf("the watch resumed %d times, last revision %d", resumed, last)
	log.report(t)
	wlog.report(t)
	log.mu.Lock()
	saw := log.counts[storage.ErrUnavailable.Error()]
	log.mu.Unlock()
	if saw == 0 || resumed == 0 {
		t.Errorf("%d calls saw the server away, the watch ended %d times: the restart did not happen under load", saw, resumed)
	}
	checkReleased(t, s, before)
	checkReleased(t, s2, before)
	checkCallsSucceed(t, s)
	checkIndexes(t, s)
	checkInvariants(t, s)
}

// TestChaosPgBouncer is TestChaos through PgBouncer in transaction
// pooling mode (STORAGE_TEST_PGBOUNCER_DSN) while another connection
// terminates the role's server backends at random, under the pooler:
// what the pooler answers for a server connection that went (its own
// errors, not the server's) is ErrUnavailable or ErrCommitUnknown too,
// and so is the pooler's own exit, which Debian 12's PgBouncer 1.18 makes
// now and then under the chaos's cancel requests (a FATAL assertion,
// pgbouncer/pgbouncer#822; .ci/pgbouncer.sh restarts it).
func TestChaosPgBouncer(t *testing.T) {
	c := bouncerConfig("cache_describe")
	dsn := c.dsn(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	chaosKilled(t, dsn, c.opts(t, dsn), func(ctx context.Context) int { return terminateWhere(t, ctx, "usename", u.User.Username()) })
}

// TestChaosServerTimeouts is TestChaos on PostgreSQL with the timeouts a
// DBA sets on a role or database: a lock_timeout short enough to fire
// under the chaos's contention, a statement_timeout, and an
// idle_in_transaction_session_timeout that ends the sessions of
// transactions left idle: besides the races' sentinels, ErrTxConflict
// (a lock not granted in time), ErrUnavailable (a statement or a session
// the server ended) and ErrCommitUnknown (a COMMIT on such a session),
// never the driver's text.
func TestChaosServerTimeouts(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	smallIndexChunks(t)
	base := newPGSchema(t)
	openTest(t, base).Close() // migrated without the timeouts
	dsn := withParams(t, base, "lock_timeout", "5ms", "statement_timeout", "300ms", "idle_in_transaction_session_timeout", "100ms")
	s := openTest(t, dsn, WithRetention(Retention{Changes: 50}))
	defer s.Close()
	s2 := openTest(t, dsn, WithRetention(Retention{Changes: 50}))
	defer s2.Close()
	before := runtime.NumGoroutine()
	// ErrCommitUnknown: a COMMIT on a session the server ended for
	// idling (25P03, which may arrive as the connection closes) is
	// reported conservatively as unknown when the server cannot settle
	// it (a transaction that wrote without taking the revision lock); a
	// read-only transaction's is ErrUnavailable (TestPGRefused).
	allowed := append(slices.Clone(chaosAllowed), storage.ErrUnavailable, storage.ErrCommitUnknown)
	log := chaos(t, []*Store{s, s2}, chaosDuration(t), allowed, nil)
	log.report(t)
	checkReleased(t, s, before)
	checkReleased(t, s2, before)
	// What the run left is checked through a store without the timeouts:
	// the checks' own transactions (Sweep's) idle between statements, and
	// their statements wait for locks and run, longer than the server
	// allows on a loaded machine, which ends them (ErrUnavailable,
	// ErrTxConflict, as documented) whatever the run left.
	check := openTest(t, base)
	defer check.Close()
	checkIndexes(t, check)
	checkInvariants(t, check)
}
