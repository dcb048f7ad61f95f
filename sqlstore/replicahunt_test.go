package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/pgtest"
)

// openReplicaVia opens a store on a new schema whose standby (WithReplica)
// is reached at the address via returns for the standby's (a proxy's); it
// returns the primary's host too.
func openReplicaVia(t *testing.T, maxLag time.Duration, via func(host string) string, opts ...Option) (*Store, string) {
	t.Helper()
	primary := newPGSchema(t)
	u, err := url.Parse(pgtest.ReplicaDSN(t, primary))
	must(t, err)
	u.Host = via(u.Host)
	s := openTest(t, primary, append([]Option{WithReplica(u.String(), maxLag), WithSweepInterval(-1)}, opts...)...)
	pu, err := url.Parse(primary)
	must(t, err)
	return s, pu.Host
}

// openProxiedReplica opens a store on a new schema whose standby is
// reached through a cutProxy.
func openProxiedReplica(t *testing.T, maxLag time.Duration, opts ...Option) (*Store, *cutProxy) {
	t.Helper()
	var p *cutProxy
	s, _ := openReplicaVia(t, maxLag, func(host string) string {
		p = newCutProxy(t, host)
		return p.ln.Addr().String()
	}, opts...)
	return s, p
}

// onStandby begins a read-only transaction and reports where it ran; it
// fails the test unless it begins.
func onStandby(t *testing.T, ctx context.Context, s *Store) bool {
	t.Helper()
	tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("Begin read-only: %v", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	return OnReplica(tx)
}

// TestReplicaHungStandbyBegin: a standby that stops answering (its
// connections stall, no word, no close) right after a measure found it
// usable costs a read-only Begin a bounded moment, then the transaction
// runs on the primary. It used to wait on the standby as long as the
// caller's context allowed (forever under context.Background).
func TestReplicaHungStandbyBegin(t *testing.T) {
	s, p := openProxiedReplica(t, 0)
	defer s.Close()
	ctx := context.Background()
	_ = standbyTx(t, ctx, s).Rollback(ctx)
	// A fresh measure finds it usable; then every connection to it stalls.
	if st, err := s.ReplicaStatus(ctx); err != nil || !st.Usable {
		t.Fatalf("ReplicaStatus = %+v, %v", st, err)
	}
	for p.stall() {
	}
	defer p.unstallAll()
	bctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	tx, err := s.Begin(bctx, storage.TxOptions{ReadOnly: true})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Begin read-only with the standby hung: %v after %v; want the primary", err, took)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if OnReplica(tx) {
		t.Errorf("the transaction runs on the hung standby")
	}
	if took > 5*time.Second {
		t.Errorf("Begin read-only took %v with the standby hung; want about %v", took, replicaCheckTimeout)
	}
	if _, err := tx.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get on the primary: %v; want ErrNotFound", err)
	}
}

// cancelOnQuery cancels a context when a query whose text contains a
// string starts, once armed.
type cancelOnQuery struct {
	match  string
	armed  atomic.Bool
	cancel atomic.Pointer[context.CancelFunc]
}

func (c *cancelOnQuery) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if c.armed.Load() && strings.Contains(d.SQL, c.match) {
		if f := c.cancel.Load(); f != nil {
			c.armed.Store(false)
			(*f)()
		}
	}
	return ctx
}

func (c *cancelOnQuery) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestReplicaCancelledMeasure: a read-only Begin whose context ends while
// it measures the standby fails with the context's error, and does not
// make the standby unusable for the other callers: the next Begin still
// runs there. The failed measure used to be recorded as the standby's
// state (not usable, "context canceled") until the next measure, a
// second later, sending every read-only transaction to the primary.
func TestReplicaCancelledMeasure(t *testing.T) {
	tr := &cancelOnQuery{match: "pg_current_wal_lsn"}
	s, _ := openProxiedReplica(t, 0, withPgxTracer(tr))
	defer s.Close()
	ctx := context.Background()
	_ = standbyTx(t, ctx, s).Rollback(ctx)
	// The last measure is old: the next read-only Begin measures again,
	// and its context ends as it does.
	e := s.eng.(*pgEngine)
	e.replica.mu.Lock()
	e.replica.last.CheckedAt = time.Now().Add(-time.Hour)
	e.replica.mu.Unlock()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr.cancel.Store(&cancel)
	tr.armed.Store(true)
	tx, err := s.Begin(cctx, storage.TxOptions{ReadOnly: true})
	if err == nil {
		_ = tx.Rollback(ctx)
		t.Fatalf("Begin under a context cancelled during the measure began (on the standby %v)", OnReplica(tx))
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Begin under a cancelled context: %v; want context.Canceled", err)
	}
	if tr.armed.Load() {
		t.Fatal("the Begin did not measure the standby")
	}
	if !onStandby(t, ctx, s) {
		e.replica.mu.Lock()
		st := e.replica.last
		e.replica.mu.Unlock()
		t.Errorf("after another caller's cancelled Begin, a read-only transaction ran on the primary; standby state %+v", st)
	}
}

// TestReplicaCutMidTx: the standby's connection lost under a read-only
// transaction: its reads fail with ErrUnavailable (one sentinel, no
// driver text), the next read-only Begin gets a transaction (the
// standby's pool reconnects or the primary serves), and the store holds
// no more standby connections than before.
func TestReplicaCutMidTx(t *testing.T) {
	s, p := openProxiedReplica(t, 0)
	defer s.Close()
	ctx := context.Background()
	must(t, s.Set(ctx, "k", 1))
	e := s.eng.(*pgEngine)
	for round := range 5 {
		tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
		must(t, err)
		if !OnReplica(tx) {
			_ = tx.Rollback(ctx)
			t.Fatalf("round %d: not on the standby", round)
		}
		for p.cut() {
		}
		_, err = tx.Get(ctx, "k")
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("round %d: Get on a cut standby: %v; want ErrUnavailable", round, err)
		}
		if n := sentinels(err); n != 1 {
			t.Errorf("round %d: Get on a cut standby: %v wraps %d sentinels; want 1", round, err, n)
		}
		if err := tx.Rollback(ctx); err != nil && !errors.Is(err, storage.ErrUnavailable) && !errors.Is(err, storage.ErrTxDone) {
			t.Errorf("round %d: Rollback: %v", round, err)
		}
		tx, err = s.Begin(ctx, storage.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: Begin after the cut: %v", round, err)
		}
		if _, err := tx.Get(ctx, "k"); err != nil && !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("round %d: Get after the cut: %v", round, err)
		}
		_ = tx.Rollback(ctx)
	}
	// pgx gives a broken connection back to its pool on a goroutine of
	// its own: wait for the pools to settle, then for the gates.
	deadline := time.Now().Add(10 * time.Second)
	for e.replica.pool.Stat().AcquiredConns() != 0 || e.pool.Stat().AcquiredConns() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the cuts: %d standby and %d primary connections still acquired; want 0",
				e.replica.pool.Stat().AcquiredConns(), e.pool.Stat().AcquiredConns())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, g := range []*txGate{s.txConns, s.roConns} {
		if g == nil {
			continue
		}
		g.mu.Lock()
		used := g.used
		g.mu.Unlock()
		if used != 0 {
			t.Errorf("after the cuts: %d places of a transaction gate still taken; want 0", used)
		}
	}
}

// sentinels counts the storage sentinels err wraps.
func sentinels(err error) int {
	n := 0
	for _, s := range storage.Sentinels() {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

// standbyTx begins a read-only transaction and fails the test unless it
// runs on the standby.
func standbyTx(t *testing.T, ctx context.Context, s *Store) storage.Tx {
	t.Helper()
	tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
	must(t, err)
	if !OnReplica(tx) {
		_ = tx.Rollback(ctx)
		t.Fatal("a read-only transaction did not run on the standby")
	}
	return tx
}

// TestReplicaLaggingSnapshotConsistent: a standby whose replay is paused
// while the primary declares an index, writes and deletes keys and
// namespaces (and the store's caches learn of them from the primary)
// still answers a read-only transaction with one snapshot, its own: a
// Query agrees with its List and Gets (filtered in the test), Count with
// List, cursor pages with one page, and every error wraps one sentinel.
func TestReplicaLaggingSnapshotConsistent(t *testing.T) {
	s, _ := openProxiedReplica(t, 0)
	defer s.Close()
	ctx := context.Background()
	must(t, s.CreateNamespace(ctx, "ns"))
	must(t, s.CreateNamespace(ctx, "gone"))
	for i := range 20 {
		must(t, s.Set(ctx, fmt.Sprintf("k%02d", i), map[string]any{"n": i}, storage.InNamespace("ns")))
	}
	must(t, s.Set(ctx, "g", 1, storage.InNamespace("gone")))
	// Wait until the standby has it all.
	deadline := time.Now().Add(15 * time.Second)
	for {
		tx := standbyTx(t, ctx, s)
		n, err := tx.Count(ctx, storage.InNamespace("ns"))
		_ = tx.Rollback(ctx)
		if err == nil && n == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby never had the 20 keys: %d, %v", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	replicaExec(t, "SELECT pg_wal_replay_pause()")
	t.Cleanup(func() { replicaExec(t, "SELECT pg_wal_replay_resume()") })

	// The primary moves on; reads outside transactions (the primary) fill
	// the store's caches with its state.
	must(t, s.CreateIndex(ctx, "ns", "n"))
	for i := 20; i < 30; i++ {
		must(t, s.Set(ctx, fmt.Sprintf("k%02d", i), map[string]any{"n": i}, storage.InNamespace("ns")))
	}
	must(t, s.Delete(ctx, "k03", storage.InNamespace("ns")))
	must(t, s.DeleteNamespace(ctx, "gone", storage.Recursive()))
	must(t, s.CreateNamespace(ctx, "gone"))
	must(t, s.Set(ctx, "g", 2, storage.InNamespace("gone")))
	must(t, s.CreateNamespace(ctx, "new"))
	if r, err := s.Query(ctx, storage.Gt("n", 5), storage.InNamespace("ns")); err != nil || len(r.Entries) != 24 {
		t.Fatalf("Query on the primary: %d entries, %v; want 24", len(r.Entries), err)
	}
	if e, err := s.Get(ctx, "g", storage.InNamespace("gone")); err != nil || string(e.Value) != "2" {
		t.Fatalf("Get gone/g on the primary: %s, %v", e.Value, err)
	}

	check := func(what string, err error) {
		t.Helper()
		if err != nil && sentinels(err) != 1 {
			t.Errorf("%s: %v wraps %d sentinels; want 1", what, err, sentinels(err))
		}
	}
	tx := standbyTx(t, ctx, s)
	defer func() { _ = tx.Rollback(ctx) }()
	l, err := tx.List(ctx, storage.InNamespace("ns"))
	check("List", err)
	if err != nil || len(l.Keys) != 20 {
		t.Fatalf("List on the paused standby: %d keys, %v; want its 20", len(l.Keys), err)
	}
	n, err := tx.Count(ctx, storage.InNamespace("ns"))
	check("Count", err)
	if err != nil || n != 20 {
		t.Errorf("Count on the paused standby: %d, %v; want 20", n, err)
	}
	var want []string
	for _, k := range l.Keys {
		e, err := tx.Get(ctx, k, storage.InNamespace("ns"))
		check("Get "+k, err)
		if err != nil {
			t.Fatalf("Get %s: %v", k, err)
		}
		var v struct{ N int }
		must(t, json.Unmarshal(e.Value, &v))
		if v.N > 5 {
			want = append(want, k)
		}
	}
	q, err := tx.Query(ctx, storage.Gt("n", 5), storage.InNamespace("ns"))
	check("Query", err)
	var got []string
	for _, e := range q.Entries {
		got = append(got, e.Key)
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Query n>5 on the paused standby: %v, %v; want %v (its own List filtered)", got, err, want)
	}
	// Paged by 4.
	var paged []string
	after := ""
	for range 20 {
		opts := []storage.Option{storage.InNamespace("ns"), storage.Limit(4)}
		if after != "" {
			opts = append(opts, storage.After(after))
		}
		r, err := tx.Query(ctx, storage.Gt("n", 5), opts...)
		check("Query page", err)
		if err != nil {
			break
		}
		for _, e := range r.Entries {
			paged = append(paged, e.Key)
		}
		if after = r.Cursor; after == "" {
			break
		}
	}
	if !slices.Equal(paged, want) {
		t.Errorf("Query n>5 by pages of 4 on the paused standby: %v; want %v", paged, want)
	}
	e, err := tx.Get(ctx, "g", storage.InNamespace("gone"))
	check("Get gone/g", err)
	if err != nil || string(e.Value) != "1" {
		t.Errorf("Get gone/g on the paused standby: %s, %v; want its 1", e.Value, err)
	}
	h, err := tx.(storage.Historian).History(ctx, "g", storage.InNamespace("gone"))
	check("History gone/g", err)
	if err != nil || len(h) == 0 {
		t.Errorf("History gone/g on the paused standby: %d events, %v; want its own", len(h), err)
	}
	_, err = tx.Get(ctx, "x", storage.InNamespace("new"))
	check("Get new/x", err)
	if !errors.Is(err, storage.ErrNamespaceNotFound) && !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get in a namespace the standby has not replayed: %v", err)
	}
	n, err = tx.Count(ctx, storage.InNamespace("new"))
	check("Count new", err)
	t.Logf("Count of a namespace the standby has not replayed: %d, %v", n, err)
}

// TestReplicaStatusErrTyped: the reason ReplicaStatus gives for a standby
// it could not measure, and an Open whose standby cannot be reached,
// wrap one sentinel (ErrUnavailable) with no driver text, as every other
// error of the store does; the standby's outage reaches read-only Begins
// as no error at all.
func TestReplicaStatusErrTyped(t *testing.T) {
	s, p := openProxiedReplica(t, 0)
	defer s.Close()
	ctx := context.Background()
	_ = standbyTx(t, ctx, s).Rollback(ctx)
	// The standby goes away: its connections are cut and no new one is
	// accepted.
	_ = p.ln.Close()
	for p.cut() {
	}
	// A Begin that finds the standby failing (its pooled connection cut)
	// records why.
	if onStandby(t, ctx, s) {
		t.Error("a read-only transaction ran on the standby that went away")
	}
	e := s.eng.(*pgEngine)
	e.replica.mu.Lock()
	failed := e.replica.last
	e.replica.mu.Unlock()
	st, err := s.ReplicaStatus(ctx)
	if err != nil || st.Usable || st.Err == nil {
		t.Fatalf("ReplicaStatus = %+v, %v; want not usable, with the reason", st, err)
	}
	for what, err := range map[string]error{"ReplicaStatus.Err": st.Err, "after a failed Begin": failed.Err} {
		if err == nil {
			continue
		}
		if !errors.Is(err, storage.ErrUnavailable) || sentinels(err) != 1 {
			t.Errorf("%s = %v; want it to wrap ErrUnavailable only", what, err)
		}
		if strings.Contains(err.Error(), "failed to connect") || strings.Contains(err.Error(), "dial") || strings.Contains(err.Error(), "closed pool") {
			t.Errorf("%s = %q: the driver's text", what, err)
		}
	}

	// Open with a standby that cannot be reached.
	primary := newPGSchema(t)
	ln := newCutProxy(t, "127.0.0.1:1")
	addr := ln.ln.Addr().String()
	_ = ln.ln.Close()
	u, err := url.Parse(pgtest.ReplicaDSN(t, primary))
	must(t, err)
	u.Host = addr
	octx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s2, err := Open(octx, primary, WithReplica(u.String(), 0))
	if err == nil {
		_ = s2.Close()
		t.Fatal("Open with an unreachable standby succeeded")
	}
	if !errors.Is(err, storage.ErrUnavailable) || sentinels(err) != 1 {
		t.Errorf("Open with an unreachable standby: %v; want it to wrap ErrUnavailable only", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("Open with an unreachable standby: %q; want it to name the standby's address %s", err, addr)
	}
}

// shortRollbacks bounds ROLLBACK by d for the test.
func shortRollbacks(t *testing.T, d time.Duration) {
	old := pgRollbackTimeout
	t.Cleanup(func() { pgRollbackTimeout = old })
	pgRollbackTimeout = d
}

// TestReplicaHungStandbyEnd: a transaction on a standby that stops
// answering ends in bounded time: Commit by its context's deadline;
// Rollback and the idle timeout's rollback by pgRollbackTimeout (a
// rollback is not stopped by its caller's context, but is bounded).
// Rollback used to wait for the server for ever, whatever its context,
// and so did the reaper (and Close, which rolls back what is open).
func TestReplicaHungStandbyEnd(t *testing.T) {
	shortRollbacks(t, 500*time.Millisecond)
	for _, how := range []string{"commit", "rollback", "idle"} {
		t.Run(how, func(t *testing.T) {
			s, p := openProxiedReplica(t, 0, WithTxIdleTimeout(300*time.Millisecond))
			defer s.Close()
			ctx := context.Background()
			tx := standbyTx(t, ctx, s)
			if _, err := tx.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Get: %v", err)
			}
			for p.stall() {
			}
			defer p.unstallAll()
			ectx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			var err error
			switch how {
			case "commit":
				err = tx.Commit(ectx)
			case "rollback":
				err = tx.Rollback(ectx)
			case "idle":
				// The reaper rolls it back; LookupTx misses it once it did.
				for {
					if _, err = s.LookupTx(tx.ID()); err != nil {
						break
					}
					if time.Since(start) > 10*time.Second {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				if !errors.Is(err, storage.ErrTxNotFound) {
					t.Errorf("the idle transaction on a hung standby is still open after %v: %v", time.Since(start), err)
				}
				err = nil
			}
			took := time.Since(start)
			if took > 3*time.Second {
				t.Errorf("%s of a transaction on a hung standby took %v (%v)", how, took, err)
			}
			if err != nil && sentinels(err) != 1 && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: %v wraps %d sentinels", how, err, sentinels(err))
			}
		})
	}
}

// TestReplicaStalenessBound: "reads on the standby are stale by up to
// maxLag". A measure found the standby caught up; its replay then stops,
// the primary commits a write, and more than maxLag later (well within
// ReplicaCheckInterval) a read-only transaction begins: it must see the
// write, on the primary or on the standby. The last measure used to be
// trusted for the whole interval, so the transaction ran on the standby,
// a whole interval behind whatever maxLag said.
func TestReplicaStalenessBound(t *testing.T) {
	const maxLag = 300 * time.Millisecond
	s, _ := openProxiedReplica(t, maxLag)
	defer s.Close()
	ctx := context.Background()
	t.Cleanup(func() { replicaExec(t, "SELECT pg_wal_replay_resume()") })
	// A usable measure of the standby with its replay paused. Other tests
	// write to the primary meanwhile (CI runs packages side by side on one
	// server), so a paused standby falls behind at once: take the measure
	// right after the pause, and start again when it came too late.
	var measured time.Time
	for attempt := 1; ; attempt++ {
		replicaExec(t, "SELECT pg_wal_replay_resume()")
		must(t, s.Set(ctx, "k", 1))
		waitStandbyServes(t, s, "k", "1")
		replicaExec(t, "SELECT pg_wal_replay_pause()")
		st, err := s.ReplicaStatus(ctx)
		if err == nil && st.Usable {
			measured = time.Now()
			break
		}
		if attempt == 20 {
			t.Skipf("no usable measure of the paused standby in %d attempts (the primary is too busy): %+v, %v", attempt, st, err)
		}
	}
	must(t, s.Set(ctx, "k", 2))
	// The write is older than maxLag: reads may no longer miss it.
	time.Sleep(time.Until(measured.Add(maxLag + 50*time.Millisecond)))
	v, on, err := readOnlyGet(t, s, storage.LevelRepeatableRead, "k")
	if err != nil || v != "2" {
		t.Errorf("read-only Get %v after the measure, more than maxLag %v after a committed write: %q, %v, on the standby %v; want 2",
			time.Since(measured), maxLag, v, err, on)
	}
}

// switchProxy forwards TCP connections to a target that the test can
// change; switching cuts the connections open.
type switchProxy struct {
	ln     net.Listener
	target atomic.Pointer[string]
	mu     sync.Mutex
	conns  []net.Conn
}

func newSwitchProxy(t *testing.T, target string) *switchProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &switchProxy{ln: ln}
	p.target.Store(&target)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			sc, err := net.Dial("tcp", *p.target.Load())
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, sc)
			p.mu.Unlock()
			wg.Go(func() { pipe(sc, c, nil, nil) })
			wg.Go(func() { pipe(c, sc, nil, nil) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		p.cutAll()
		wg.Wait()
	})
	return p
}

func (p *switchProxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// switchTo sends the new connections to target and cuts the open ones.
func (p *switchProxy) switchTo(target string) {
	p.target.Store(&target)
	p.cutAll()
}

// openSwitchedReplica opens a store on a new schema whose standby is
// reached through a switchProxy; it returns the primary's host too.
func openSwitchedReplica(t *testing.T, maxLag time.Duration) (*Store, *switchProxy, string) {
	t.Helper()
	var p *switchProxy
	s, primaryHost := openReplicaVia(t, maxLag, func(host string) string {
		p = newSwitchProxy(t, host)
		return p.ln.Addr().String()
	})
	return s, p, primaryHost
}

// measureUntil measures the standby until ok accepts it.
func measureUntil(t *testing.T, s *Store, what string, ok func(ReplicaStatus) bool) ReplicaStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := s.ReplicaStatus(context.Background())
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby never measured %s: %+v, %v", what, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicaBecamePrimary: the standby DSN reaching the store's primary
// itself (a failover made it the primary, not in recovery) serves
// read-only transactions, which read the latest writes.
func TestReplicaBecamePrimary(t *testing.T) {
	s, p, primaryHost := openSwitchedReplica(t, 200*time.Millisecond)
	defer s.Close()
	ctx := context.Background()
	p.switchTo(primaryHost)
	measureUntil(t, s, "usable, out of recovery", func(st ReplicaStatus) bool { return st.Usable && !st.InRecovery })
	must(t, s.Set(ctx, "k", 7))
	v, on, err := readOnlyGet(t, s, storage.LevelRepeatableRead, "k")
	if !on || err != nil || v != "7" {
		t.Errorf("read-only Get with the standby DSN on the primary: %q, %v, on the standby %v; want 7 there", v, err, on)
	}
}

// EnvPromotedDSN names a server of the test server's cluster that is not
// in recovery and not the test server (a standby promoted apart from it;
// e.g. a pg_basebackup of it started without standby.signal), for
// TestReplicaPromotedApart.
const envPromotedDSN = "STORAGE_TEST_PROMOTED_DSN"

// TestReplicaPromotedApart: a standby promoted apart from the primary (a
// split brain) no longer replays the primary's writes: it must not serve
// read-only transactions, and ReplicaStatus says why (ErrUnavailable).
// It used to measure as caught up (lag 0: "not in recovery") and serve
// them for ever, missing every later write.
func TestReplicaPromotedApart(t *testing.T) {
	promoted := os.Getenv(envPromotedDSN)
	if promoted == "" {
		t.Skip(envPromotedDSN + " not set")
	}
	pu, err := url.Parse(promoted)
	must(t, err)
	s, p, _ := openSwitchedReplica(t, 0)
	defer s.Close()
	ctx := context.Background()
	p.switchTo(pu.Host)
	// Once its connections to the standby, cut by the switch, are gone,
	// a measure reaches the promoted server: it serves (before) or is
	// refused as promoted.
	st := measureUntil(t, s, "out of recovery", func(st ReplicaStatus) bool {
		return st.Usable || st.Err != nil && strings.Contains(st.Err.Error(), promotedApart)
	})
	if st.Usable || !errors.Is(st.Err, storage.ErrUnavailable) || sentinels(st.Err) != 1 {
		t.Errorf("ReplicaStatus of a standby promoted apart: %+v; want not usable, ErrUnavailable", st)
	}
	must(t, s.Set(ctx, "k", 8))
	v, on, err := readOnlyGet(t, s, storage.LevelRepeatableRead, "k")
	if on || err != nil || v != "8" {
		t.Errorf("read-only Get with the standby promoted apart: %q, %v, on the standby %v; want 8 from the primary", v, err, on)
	}
}

// TestReplicaMeasureWhileBusy: with every place the read-only
// transactions may take on the standby held, the standby can still be
// measured: ReplicaStatus reports it usable, not "cannot be reached". The
// transactions could hold all of its pool's connections, so the measure
// waited for one until its timeout and recorded the standby as failed,
// sending every read-only transaction to the primary for a second.
func TestReplicaMeasureWhileBusy(t *testing.T) {
	s, _ := openProxiedReplica(t, 0)
	defer s.Close()
	ctx := context.Background()
	var held []storage.Tx
	defer func() {
		for _, tx := range held {
			_ = tx.Rollback(ctx)
		}
	}()
	for range s.roConns.places {
		tx := standbyTx(t, ctx, s)
		held = append(held, tx)
		if _, err := tx.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get: %v", err)
		}
	}
	st, err := s.ReplicaStatus(ctx)
	if err != nil || !st.Usable || st.Err != nil {
		t.Errorf("ReplicaStatus with %d read-only transactions on the standby: %+v, %v; want usable", len(held), st, err)
	}
}

// TestReplicaOutagesNoLeak: standby outages (hung connections, cut ones)
// leave no goroutine and no connection behind once the standby is back:
// the count of goroutines returns to its level before them.
func TestReplicaOutagesNoLeak(t *testing.T) {
	s, p := openProxiedReplica(t, 0)
	defer s.Close()
	ctx := context.Background()
	e := s.eng.(*pgEngine)
	settled := func() int {
		// pgx ends broken connections on goroutines of its own.
		for e.replica.pool.Stat().AcquiredConns() != 0 || e.pool.Stat().AcquiredConns() != 0 {
			time.Sleep(10 * time.Millisecond)
		}
		return runtime.NumGoroutine()
	}
	for range 3 {
		onStandby(t, ctx, s)
	}
	base := settled()
	for round := range 6 {
		if _, err := s.ReplicaStatus(ctx); err != nil {
			t.Fatal(err)
		}
		if round%2 == 0 {
			for p.stall() {
			}
		} else {
			for p.cut() {
			}
		}
		tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
		must(t, err)
		_, _ = tx.Get(ctx, "k")
		_ = tx.Rollback(ctx)
		p.unstallAll()
		// Back: a measure finds it again.
		measureUntil(t, s, "usable", func(st ReplicaStatus) bool { return st.Usable })
		onStandby(t, ctx, s)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := settled()
		if n <= base+4 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the outages, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := e.replica.pool.Stat().TotalConns(); n > e.replica.pool.Config().MaxConns {
		t.Errorf("standby pool: %d connections", n)
	}
}

// TestReplicaStatusCancelled: ReplicaStatus whose context ends while it
// measures answers the context's error, not a status blaming the standby
// ("cannot be reached") with no error.
func TestReplicaStatusCancelled(t *testing.T) {
	tr := &cancelOnQuery{match: "pg_current_wal_lsn"}
	s, _ := openProxiedReplica(t, 0, withPgxTracer(tr))
	defer s.Close()
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr.cancel.Store(&cancel)
	tr.armed.Store(true)
	st, err := s.ReplicaStatus(cctx)
	if tr.armed.Load() {
		t.Fatal("ReplicaStatus did not measure the standby")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ReplicaStatus under a context cancelled while it measured: %+v, %v; want context.Canceled", st, err)
	}
	if st, err := s.ReplicaStatus(context.Background()); err != nil || !st.Usable {
		t.Errorf("ReplicaStatus after: %+v, %v; want usable", st, err)
	}
}

// TestReplicaFlappingTyped: read-only transactions from several goroutines
// while the standby's connections are cut and stalled at random: every
// Begin succeeds (the primary takes over), every error of a read wraps
// exactly one sentinel (ErrUnavailable) or is its context's, and nothing
// is left acquired afterwards.
func TestReplicaFlappingTyped(t *testing.T) {
	shortRollbacks(t, 500*time.Millisecond)
	s, p := openProxiedReplica(t, 0)
	defer s.Close()
	ctx := context.Background()
	must(t, s.Set(ctx, "k", 1))
	// maxLag 0 is any lag: wait until the standby has k.
	waitStandbyServes(t, s, "k", "1")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var onStandbyN, onPrimaryN, failed atomic.Int64
	for range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				octx, cancel := context.WithTimeout(ctx, 2*time.Second)
				tx, err := s.Begin(octx, storage.TxOptions{ReadOnly: true})
				if err != nil {
					cancel()
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Begin: %v", err)
					}
					continue
				}
				if OnReplica(tx) {
					onStandbyN.Add(1)
				} else {
					onPrimaryN.Add(1)
				}
				e, err := tx.Get(octx, "k")
				switch {
				case err == nil:
					if string(e.Value) != "1" {
						t.Errorf("Get: %s", e.Value)
					}
				case errors.Is(err, context.DeadlineExceeded) && sentinels(err) == 0:
					failed.Add(1)
				case errors.Is(err, storage.ErrUnavailable) && sentinels(err) == 1:
					failed.Add(1)
				default:
					t.Errorf("Get: %v (%d sentinels)", err, sentinels(err))
				}
				if err := tx.Rollback(ctx); err != nil && (!errors.Is(err, storage.ErrUnavailable) || sentinels(err) != 1) {
					t.Errorf("Rollback: %v", err)
				}
				cancel()
			}
		})
	}
	for i := range 12 {
		switch i % 3 {
		case 0:
			p.cut()
		case 1:
			p.stall()
		case 2:
			p.unstallAll()
		}
		time.Sleep(250 * time.Millisecond)
	}
	p.unstallAll()
	close(stop)
	wg.Wait()
	t.Logf("%d on the standby, %d on the primary, %d reads failed", onStandbyN.Load(), onPrimaryN.Load(), failed.Load())
	e := s.eng.(*pgEngine)
	deadline := time.Now().Add(10 * time.Second)
	for e.replica.pool.Stat().AcquiredConns() != 0 || e.pool.Stat().AcquiredConns() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d standby and %d primary connections still acquired", e.replica.pool.Stat().AcquiredConns(), e.pool.Stat().AcquiredConns())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
