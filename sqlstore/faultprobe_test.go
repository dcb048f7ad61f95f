package sqlstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/errprobe"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/observe"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/txmanager"
)

// probeAPI is one way in to a store: the store itself, or the store
// behind the security and observe layers (an observed, authorizing store,
// as a server stacks them), with the context a call of it needs.
type probeAPI struct {
	name string
	st   storage.Store
	ctx  func(context.Context) context.Context
}

// probeAPIs are the ways in to s: raw, and observe(security(s)) for a
// principal with rw on every plain namespace and on transactions (not an
// administrator: its Clear and recursive DeleteNamespace go to the
// store's ClearUnless and DeleteNamespaceUnless, the security layer's
// check for other principals' keys inside the store's write). The
// observe hook checks that
// every error it sees has a name of its own (observe.ErrorType is not
// "other"), and files those that do not with bad.
func probeAPIs(t *testing.T, s *Store, bad func(string, error)) []probeAPI {
	t.Helper()
	pol := security.NewPolicy()
	p, err := security.NewPKR("probe-pk", nil)
	must(t, err)
	must(t, pol.Apply(p, security.Profile{Name: "probe", Scopes: map[string]string{
		"storage://namespace/*": "rw", "storage://transactions": "rw"}}))
	hook := observe.EndFunc(func(_ context.Context, ev observe.Event) {
		if ev.Err != nil && observe.ErrorType(ev.Err) == "other" {
			bad("observe "+ev.Op+" ErrorType other", ev.Err)
		}
	})
	wrapped := observe.Wrap(security.NewStore(s, pol), hook)
	return []probeAPI{
		{name: "store", st: s, ctx: func(ctx context.Context) context.Context { return ctx }},
		{name: "wrapped", st: wrapped, ctx: func(ctx context.Context) context.Context { return security.WithPrincipal(ctx, p) }},
	}
}

// probeOps is the number of operations of probeOp.
const probeOps = 19

// probeOp runs operation op through api (raw, the store's own calls that
// the layers do not have: Sweep, Compact, Export, Restore) and passes
// each error to check. The namespaces "pa" and "pb" hold data for the
// index builds and the deletes to work on.
func probeOp(ctx context.Context, api probeAPI, raw *Store, r *rand.Rand, op int, check func(string, error)) {
	ctx = api.ctx(ctx)
	st := api.st
	nss := []string{"pa", "pb"}
	ns := nss[r.IntN(len(nss))]
	in := storage.InNamespace(ns)
	key := func() string { return fmt.Sprintf("k%d", r.IntN(60)) }
	val := func() map[string]any { return map[string]any{"v": r.IntN(5), "w": strings.Repeat("x", r.IntN(200))} }
	rev := func() int64 {
		s, err := raw.Status(context.WithoutCancel(ctx))
		if err != nil || s.Revision < 2 {
			return 0
		}
		return max(0, s.Revision-int64(r.IntN(80)))
	}
	switch op {
	case 0:
		opts := []storage.Option{in}
		if r.IntN(3) == 0 {
			opts = append(opts, storage.WithTTL(time.Duration(1+r.IntN(20))*time.Millisecond))
		}
		check("Set", st.Set(ctx, key(), val(), opts...))
	case 1:
		opts := []storage.Option{in}
		what := "Get"
		if at := rev(); at > 0 && r.IntN(2) == 0 {
			opts = append(opts, storage.AtRevision(at))
			what = "Get AtRevision"
		}
		_, err := st.Get(ctx, key(), opts...)
		check(what, notFoundOK(err))
	case 2:
		check("Delete", notFoundOK(st.Delete(ctx, key(), in)))
	case 3:
		items := make([]storage.Item, 1+r.IntN(30))
		for i := range items {
			items[i] = storage.Item{Key: key(), Value: val()}
		}
		opts := []storage.Option{in}
		what := "SetMany"
		if r.IntN(2) == 0 {
			opts = append(opts, storage.Atomic())
			what += " atomic"
		}
		res, err := st.SetMany(ctx, items, opts...)
		check(what, err)
		for _, kr := range res.Results {
			check(what+" key", kr.Err)
		}
	case 4:
		keys := []string{key(), key(), key()}
		res, err := st.DeleteMany(ctx, keys, in, storage.Atomic())
		check("DeleteMany", err)
		for _, kr := range res.Results {
			check("DeleteMany key", notFoundOK(kr.Err))
		}
	case 5:
		h, ok := st.(storage.Historian)
		if !ok {
			return
		}
		opts := []storage.Option{in, storage.Limit(20)}
		if at := rev(); at > 0 {
			opts = append(opts, storage.FromRevision(at))
		}
		_, err := h.History(ctx, key(), opts...)
		check("History", err)
	case 6:
		w, ok := st.(storage.Watcher)
		if !ok {
			return
		}
		opts := []storage.Option{in}
		what := "Watch"
		if at := rev(); at > 0 && r.IntN(3) > 0 {
			opts = append(opts, storage.FromRevision(at))
			what = "Watch from"
		}
		if r.IntN(2) == 0 {
			opts = opts[1:] // every namespace
			what += " all"
		}
		wctx, cancel := context.WithTimeout(ctx, time.Duration(1+r.IntN(30))*time.Millisecond)
		defer cancel()
		n := 0
		for _, err := range w.Watch(wctx, opts...) {
			if err != nil {
				// A watch ends with its context's error when its
				// context ends; that is the caller's own.
				if wctx.Err() == nil || !errors.Is(err, wctx.Err()) {
					check(what, err)
				}
				break
			}
			if n++; n > 50 {
				break
			}
		}
	case 7:
		ix, ok := st.(storage.Indexer)
		if !ok {
			return
		}
		check("CreateIndex", ix.CreateIndex(ctx, ns, []string{"v", "w"}[r.IntN(2)]))
	case 8:
		ix, ok := st.(storage.Indexer)
		if !ok {
			return
		}
		check("DropIndex", ix.DropIndex(ctx, ns, []string{"v", "w"}[r.IntN(2)]))
	case 9:
		check("Clear", st.Clear(ctx, in))
	case 10:
		if r.IntN(2) == 0 {
			check("CreateNamespace", st.CreateNamespace(ctx, ns, storage.WithIndexes("v")))
			return
		}
		check("DeleteNamespace recursive", st.DeleteNamespace(ctx, ns, storage.Recursive()))
	case 11:
		err := txmanager.RunInTx(ctx, st, storage.TxOptions{Isolation: storage.IsolationLevel(r.IntN(int(storage.LevelSerializable) + 1))},
			func(tx storage.Tx) error {
				k := key()
				e, err := tx.Get(ctx, k, in)
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					return err
				}
				_ = e
				if _, err := tx.Count(ctx, in, storage.Where(storage.Eq("v", r.IntN(5)))); err != nil {
					return err
				}
				return tx.Set(ctx, k, val(), in)
			})
		check("RunInTx", err)
	case 12:
		tx, err := st.Begin(ctx, storage.TxOptions{Isolation: storage.IsolationLevel(r.IntN(int(storage.LevelSerializable) + 1))})
		check("Begin", err)
		if err != nil {
			return
		}
		items := []storage.Item{{Key: key(), Value: val()}, {Key: key(), Value: val()}}
		res, err := tx.SetMany(ctx, items, in)
		if err == nil {
			err = res.Err()
		}
		if err == nil {
			_, err = tx.Query(ctx, storage.Gte("v", r.IntN(5)), in, storage.Limit(10))
		}
		if err == nil && r.IntN(4) == 0 {
			err = tx.Clear(ctx, in)
		}
		check("tx op", err)
		if err != nil || r.IntN(4) == 0 {
			check("tx Rollback", txDoneOK(tx.Rollback(context.WithoutCancel(ctx))))
			return
		}
		check("Commit", tx.Commit(ctx))
	case 13:
		_, err := st.Query(ctx, storage.Eq("v", r.IntN(5)), in, storage.Limit(10), storage.SortBy(storage.Desc("v")))
		check("Query", err)
		_, err = st.Count(ctx, in, storage.Where(storage.Gte("v", r.IntN(5))))
		check("Count", err)
	case 14:
		if api.name != "store" {
			return
		}
		_, err := raw.Sweep(ctx)
		check("Sweep", err)
	case 15:
		if api.name != "store" {
			return
		}
		_, err := raw.Compact(ctx)
		check("Compact", err)
	case 16:
		if api.name != "store" {
			return
		}
		o := ExportOptions{PageSize: 1 + r.IntN(16)}
		if r.IntN(2) == 0 {
			o.Namespace = ns
		}
		err := raw.Export(ctx, o, func(NamespaceRecord) error { return nil }, func(Record) error { return nil })
		check("Export", err)
	case 17:
		if api.name != "store" {
			return
		}
		now := time.Now().UTC()
		recs := make([]Record, 1+r.IntN(30))
		perm := r.Perm(60)
		for i := range recs {
			recs[i] = Record{Namespace: ns, Key: fmt.Sprintf("k%d", perm[i]), Value: fmt.Appendf(nil, `{"v":%d}`, r.IntN(5)), Metadata: []byte(`{}`),
				Version: 1, CreatedAt: now, UpdatedAt: now}
		}
		_, err := raw.Restore(ctx, recs, ConflictMode(r.IntN(3)))
		check("Restore", err)
	case 18:
		_, err := st.ListNamespaces(ctx, storage.Limit(5))
		check("ListNamespaces", err)
		_, err = st.List(ctx, in, storage.Limit(10))
		check("List", err)
	}
}

// probeWrites reports whether op (an api's name, then the op's) is a
// write whose outcome a lost connection may leave unknown: a single write
// outside a transaction (writeOps), a Commit or RunInTx, a key of a
// batch, and an index's creation or drop (whose last transaction declares
// or removes it: a server restarting during its COMMIT leaves that
// unknown, seen in TestProbeErrorsTypedRestart).
func probeWrites(op string) bool {
	_, what, _ := strings.Cut(op, " ")
	for _, w := range []string{"Set", "Delete", "SetMany", "DeleteMany", "Clear", "CreateNamespace", "DeleteNamespace", "Commit", "RunInTx", "Restore", "CreateIndex", "DropIndex"} {
		if what == w || strings.HasPrefix(what, w+" ") {
			return true
		}
	}
	return false
}

// probe runs, for d, eight workers that call probeOp at random through
// every api, a third with a context that expires within 5 ms and a third
// with one cancelled within 3 ms, while extra (a fault) runs beside them.
func probe(t *testing.T, s *Store, d time.Duration, allowed []error, extra func(ctx context.Context)) *errprobe.Tally {
	t.Helper()
	tally := &errprobe.Tally{Writes: probeWrites}
	apis := probeAPIs(t, s, func(what string, err error) { tally.Defect(fmt.Sprintf("%s: %q", what, err)) })
	seed := context.Background()
	for _, ns := range []string{"pa", "pb"} {
		_ = s.CreateNamespace(seed, ns, storage.WithIndexes("v"))
		items := make([]storage.Item, 60)
		for i := range items {
			items[i] = storage.Item{Key: fmt.Sprintf("k%d", i), Value: map[string]any{"v": i % 5, "w": "seed"}}
		}
		_, err := s.SetMany(seed, items, storage.InNamespace(ns))
		must(t, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var wg sync.WaitGroup
	var calls atomic.Int64
	opSet := probeOpSet(t)
	cancelShare := 3
	if os.Getenv("STORAGE_TEST_PROBE_NOCANCEL") != "" {
		cancelShare = 1 << 30
	}
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for ctx.Err() == nil {
				cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
				switch r.IntN(cancelShare) {
				case 0:
					cctx, ccancel = context.WithTimeout(ctx, time.Duration(r.IntN(5000))*time.Microsecond)
				case 1:
					cctx, ccancel = context.WithCancel(ctx)
					time.AfterFunc(time.Duration(r.IntN(3000))*time.Microsecond, ccancel)
				}
				var endedAt atomic.Int64
				stop := context.AfterFunc(cctx, func() { endedAt.Store(time.Now().UnixNano()) })
				api := apis[r.IntN(len(apis))]
				op := opSet[r.IntN(len(opSet))]
				probeOp(cctx, api, s, r, op, func(what string, err error) {
					var ago time.Duration
					if at := endedAt.Load(); at != 0 {
						ago = time.Since(time.Unix(0, at))
					}
					tally.Classify(cctx, api.name+" "+what, err, allowed, ago)
				})
				stop()
				ccancel()
				calls.Add(1)
			}
		})
	}
	if extra != nil {
		wg.Go(func() { extra(ctx) })
	}
	wg.Wait()
	t.Logf("%d calls", calls.Load())
	return tally
}

// probeOpSet is every op of probeOp, or those STORAGE_TEST_PROBE_OPS
// lists ("3,12"), to narrow a defect down.
func probeOpSet(t *testing.T) []int {
	v := os.Getenv("STORAGE_TEST_PROBE_OPS")
	if v == "" {
		out := make([]int, probeOps)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 0 || n >= probeOps {
			t.Fatalf("STORAGE_TEST_PROBE_OPS: %q", f)
		}
		out = append(out, n)
	}
	return out
}

// probeAllowed are the sentinels a race between well-formed calls may
// cause (TestChaos's), with no fault of the database.
var probeAllowed = slices.Clone(chaosAllowed)

// TestProbeErrorsTyped: every operation, through the store and through
// the observe and security layers, with contexts that end at random
// points, against namespace deletes, clears and index builds (SQLite on a
// file, PostgreSQL): every error wraps exactly one sentinel a race may
// cause, or is the context's once the call's context ended; never
// ErrUnavailable for a caller's own context.
func TestProbeErrorsTyped(t *testing.T) {
	smallIndexChunks(t)
	for _, c := range configs {
		if c.name == "sqlite-memory" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithRetention(Retention{Changes: 200}), WithTxIdleTimeout(500*time.Millisecond))
			defer s.Close()
			tally := probe(t, s, errprobe.Duration(t), probeAllowed, nil)
			tally.Report(t, c.name)
		})
	}
}

// TestProbeErrorsTypedTerminate is TestProbeErrorsTyped on PostgreSQL
// while another connection terminates the store's backends at random:
// ErrUnavailable and ErrCommitUnknown besides.
func TestProbeErrorsTypedTerminate(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	smallIndexChunks(t)
	var b [4]byte
	_, _ = crand.Read(b[:])
	app := "probe_" + hex.EncodeToString(b[:])
	dsn := testdb.Postgres(t, "t", "pool_max_conns", "8", "application_name", app)
	s := openTest(t, dsn, WithRetention(Retention{Changes: 200}), WithTxIdleTimeout(500*time.Millisecond))
	defer s.Close()
	allowed := append(slices.Clone(probeAllowed), storage.ErrUnavailable, storage.ErrCommitUnknown)
	var killed int
	tally := probe(t, s, errprobe.Duration(t), allowed, func(ctx context.Context) { killed = terminator(t, ctx, app) })
	t.Logf("%d backends terminated", killed)
	tally.Report(t, "terminate")
}

// cutProxy forwards TCP connections to a server and, when cut, closes
// one of them (both sides) at random: the connection is lost with no
// word from the server, as when a network path or a proxy fails.
type cutProxy struct {
	ln      net.Listener
	mu      sync.Mutex
	conns   map[net.Conn]net.Conn
	stalled map[net.Conn]chan struct{} // the server's answers held back, until closed
	wg      sync.WaitGroup
	down    atomic.Int64 // the bytes the server sent
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &cutProxy{ln: ln, conns: map[net.Conn]net.Conn{}, stalled: map[net.Conn]chan struct{}{}}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			sconn, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c] = sconn
			p.mu.Unlock()
			p.wg.Go(func() { pipe(sconn, c, nil, nil) })
			p.wg.Go(func() { pipe(c, sconn, func() { p.hold(c) }, &p.down); p.drop(c) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			_ = c.Close()
			_ = p.conns[c].Close()
		}
		for c, ch := range p.stalled {
			close(ch)
			delete(p.stalled, c)
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// pipe copies src to dst until either ends; before each write it calls
// hold (when set), which blocks while the connection is stalled. It adds
// the bytes copied to n (when set).
func pipe(dst, src net.Conn, hold func(), n *atomic.Int64) {
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		if hold != nil {
			hold()
		}
		if k > 0 {
			if n != nil {
				n.Add(int64(k))
			}
			if _, werr := dst.Write(buf[:k]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
}

func (p *cutProxy) drop(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	if ch, ok := p.stalled[c]; ok {
		close(ch)
		delete(p.stalled, c)
	}
}

// hold blocks while c is stalled.
func (p *cutProxy) hold(c net.Conn) {
	p.mu.Lock()
	ch := p.stalled[c]
	p.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// stall holds back the server's answers on one connection at random (the
// server, or the path to it, stops answering without closing it); it
// reports whether there was one.
func (p *cutProxy) stall() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if _, ok := p.stalled[c]; !ok {
			p.stalled[c] = make(chan struct{})
			return true
		}
	}
	return false
}

// unstallAll cuts every stalled connection (as a client's or kernel's
// keepalive would, in the end).
func (p *cutProxy) unstallAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, ch := range p.stalled {
		close(ch)
		delete(p.stalled, c)
		_ = c.Close()
		if sc := p.conns[c]; sc != nil {
			_ = sc.Close()
		}
		delete(p.conns, c)
	}
}

// cut closes one connection at random; it reports whether there was one.
func (p *cutProxy) cut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, s := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok && rand.IntN(2) == 0 {
			_ = tc.SetLinger(0) // a reset, not a clean end
		}
		_ = c.Close()
		_ = s.Close()
		delete(p.conns, c)
		if ch, ok := p.stalled[c]; ok {
			close(ch)
			delete(p.stalled, c)
		}
		return true
	}
	return false
}

// proxiedStore opens a store on a PostgreSQL schema through a cutProxy.
func proxiedStore(t *testing.T) (*Store, *cutProxy) {
	t.Helper()
	smallIndexChunks(t)
	return openProxied(t, WithRetention(Retention{Changes: 200}), WithTxIdleTimeout(500*time.Millisecond))
}

// openProxied opens a store with opts on a new PostgreSQL schema through
// a cutProxy.
func openProxied(t *testing.T, opts ...Option) (*Store, *cutProxy) {
	t.Helper()
	u, err := url.Parse(newPGSchema(t))
	must(t, err)
	p := newCutProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	return openTest(t, u.String(), opts...), p
}

// TestProbeErrorsTypedCut is TestProbeErrorsTyped on PostgreSQL through
// a proxy that cuts the store's connections at random (no word from the
// server: a reset or an end of stream): ErrUnavailable and
// ErrCommitUnknown besides.
func TestProbeErrorsTypedCut(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	s, p := proxiedStore(t)
	defer s.Close()
	allowed := append(slices.Clone(probeAllowed), storage.ErrUnavailable, storage.ErrCommitUnknown)
	var cuts int
	tally := probe(t, s, errprobe.Duration(t), allowed, func(ctx context.Context) {
		for ctx.Err() == nil {
			if p.cut() {
				cuts++
			}
			time.Sleep(time.Duration(5+rand.IntN(30)) * time.Millisecond)
		}
	})
	t.Logf("%d connections cut", cuts)
	tally.Report(t, "cut")
}

// TestProbeErrorsTypedDiskFull is TestProbeErrorsTyped on SQLite on a
// small disk that a filler fills and empties again: ErrStorageFull
// besides (needs root, as TestDiskFull).
func TestProbeErrorsTypedDiskFull(t *testing.T) {
	smallIndexChunks(t)
	dir := smallDisk(t, 16<<20)
	s := openTest(t, "sqlite:"+filepath.Join(dir, "store.db"), WithRetention(Retention{Changes: 200}), WithTxIdleTimeout(500*time.Millisecond))
	defer s.Close()
	allowed := append(slices.Clone(probeAllowed), storage.ErrStorageFull)
	tally := probe(t, s, errprobe.Duration(t), allowed, func(ctx context.Context) {
		filler := filepath.Join(dir, "filler")
		for ctx.Err() == nil {
			fill(t, filler, -1)
			time.Sleep(150 * time.Millisecond)
			_ = os.Remove(filler)
			time.Sleep(150 * time.Millisecond)
		}
		_ = os.Remove(filler)
	})
	tally.Report(t, "disk full")
	if tally.Count(storage.ErrStorageFull) == 0 {
		t.Errorf("no call saw the disk full: the filler did not fill it")
	}
}

// TestProbeErrorsTypedRestart is TestProbeErrorsTyped on PostgreSQL while
// the server restarts (pg_ctl restart -m fast), then crashes and comes
// back (stop -m immediate, a second away, start): ErrUnavailable and
// ErrCommitUnknown besides. Gated like TestFaultsPostgresRestart:
// STORAGE_TEST_PG_RESTART=1 and STORAGE_TEST_PG_DIR, run alone.
func TestProbeErrorsTypedRestart(t *testing.T) {
	dir := restartableServer(t)
	smallIndexChunks(t)
	s := openTest(t, newPGSchema(t), WithRetention(Retention{Changes: 200}), WithTxIdleTimeout(500*time.Millisecond))
	defer s.Close()
	allowed := append(slices.Clone(probeAllowed), storage.ErrUnavailable, storage.ErrCommitUnknown)
	d := max(errprobe.Duration(t), 8*time.Second)
	tally := probe(t, s, d, allowed, func(ctx context.Context) {
		time.Sleep(d / 8)
		restartThenCrash(t, dir, d/8)
	})
	tally.Report(t, "restart")
	if tally.Count(storage.ErrUnavailable) == 0 {
		t.Errorf("no call saw the server away: the restart did not happen under load")
	}
	checkCallsSucceed(t, s)
}

// TestProbeErrorsTypedStall is TestProbeErrorsTyped on PostgreSQL through
// a proxy that holds back the server's answers on a connection at random
// (a server or a path that stops answering without closing), and after a
// while cuts the stalled connections: a call whose deadline passes while
// it waits answers the context's error, never ErrUnavailable (the probe
// flags one from a call whose context ended more than 100 ms before it returned).
func TestProbeErrorsTypedStall(t *testing.T) {
	if os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
		t.Skip("STORAGE_TEST_POSTGRES_DSN not set")
	}
	s, p := proxiedStore(t)
	defer s.Close()
	allowed := append(slices.Clone(probeAllowed), storage.ErrUnavailable, storage.ErrCommitUnknown)
	var stalls int
	tally := probe(t, s, errprobe.Duration(t), allowed, func(ctx context.Context) {
		for i := 0; ctx.Err() == nil; i++ {
			if p.stall() {
				stalls++
			}
			time.Sleep(time.Duration(20+rand.IntN(40)) * time.Millisecond)
			if i%8 == 7 {
				p.unstallAll()
			}
		}
		p.unstallAll()
	})
	t.Logf("%d connections stalled", stalls)
	tally.Report(t, "stall")
}
