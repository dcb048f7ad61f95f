package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
)

// TestSoakChurn (opt-in: STORAGE_SOAK_CHURN=<duration>, then
// STORAGE_SOAK_IDLE, default 1m, of idle) drives a store with a compressed
// churn of what a long-running store meets, through the engine and over
// HTTP (storeserver's stack in process, anonymous), and samples what it
// holds inside and outside: many distinct query shapes, namespaces
// created, queried and deleted by the thousand, watches opened and
// dropped, transactions abandoned, TTL entries, a short change-log
// retention. See bench/results/2026-12-06-soak-churn.md.
func TestSoakChurn(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("STORAGE_SOAK_CHURN"))
	if err != nil {
		t.Skip("STORAGE_SOAK_CHURN=<duration> runs it")
	}
	idle := time.Minute
	if v, err := time.ParseDuration(os.Getenv("STORAGE_SOAK_IDLE")); err == nil {
		idle = v
	}
	every := 15 * time.Second
	if v, err := time.ParseDuration(os.Getenv("STORAGE_SOAK_EVERY")); err == nil {
		every = v
	}
	for _, c := range configs[1:] {
		if only := os.Getenv("STORAGE_SOAK_DIALECT"); only != "" && !strings.HasPrefix(c.name, only) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			dsn := c.dsn(t)
			s := openTest(t, dsn, WithSweepInterval(5*time.Second), WithTxIdleTimeout(time.Second), WithMaxOpenTx(64),
				WithRetention(Retention{Changes: 20000, Age: time.Minute}))
			defer s.Close()
			soakChurn(t, s, dsn, d, idle, every)
		})
	}
}

func soakChurn(t *testing.T, s *Store, dsn string, d, idle, every time.Duration) {
	mux := routes.NewMux()
	policy := security.NewPolicy()
	if err := policy.ApplyAnonymous(security.Profile{Name: "anon", Scopes: map[string]string{"storage://namespace/*": "rw", "storage://transactions": "rw"}}); err != nil {
		t.Fatal(err)
	}
	routes.Register(mux, security.NewStore(s, policy, security.AllowAnonymous()))
	srv := httptest.NewServer(httpapi.NewHandler(mux, httpapi.Config{AllowAnonymous: true, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	tr, err := httpapi.NewTransport(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(context.Background(), tr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var ops, nsCycles, watches, abandoned atomic.Int64
	var mu sync.Mutex
	errs := map[string]int{}
	note := func(kind string, err error) {
		ops.Add(1)
		if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
			errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrCompacted) || errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrTxConflict) {
			return
		}
		k := kind + ": " + err.Error()
		if len(k) > 160 {
			k = k[:160]
		}
		mu.Lock()
		errs[k]++
		mu.Unlock()
	}
	var wg sync.WaitGroup
	loop := func(name string, f func(r *rand.Rand)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(len(name))))
			for ctx.Err() == nil {
				f(r)
			}
		}()
	}
	fixed := []string{"w0", "w1", "w2", "w3"}
	for _, ns := range fixed {
		_ = s.CreateNamespace(ctx, ns, storage.WithIndexes("n"))
	}
	value := func(r *rand.Rand) map[string]any {
		return map[string]any{"n": r.IntN(1000), "tag": fmt.Sprintf("t%d", r.IntN(10)), fmt.Sprintf("f%d", r.IntN(5000)): r.IntN(10)}
	}
	stores := []storage.Store{s, cl}
	for si, st := range stores {
		pre := fmt.Sprint(si)
		// writes with TTLs into the fixed namespaces
		loop("set"+pre, func(r *rand.Rand) {
			opts := []storage.Option{storage.InNamespace(fixed[r.IntN(len(fixed))])}
			if r.IntN(3) == 0 {
				opts = append(opts, storage.WithTTL(time.Duration(1+r.IntN(4))*time.Second))
			}
			if r.IntN(6) == 0 {
				its := make([]storage.Item, 20)
				for j := range its {
					its[j] = storage.Item{Key: fmt.Sprintf("k%04d", r.IntN(5000)), Value: value(r)}
				}
				_, err := st.SetMany(ctx, its, opts...)
				note("setmany", err)
				return
			}
			note("set", st.Set(ctx, fmt.Sprintf("k%04d", r.IntN(5000)), value(r), opts...))
		})
		// query shapes: a filter on one of 5000 sparse fields, sorts, counts
		loop("query"+pre, func(r *rand.Rand) {
			in := storage.InNamespace(fixed[r.IntN(len(fixed))])
			f := fmt.Sprintf("f%d", r.IntN(5000))
			switch r.IntN(4) {
			case 0:
				_, err := st.Query(ctx, storage.Eq(f, r.IntN(10)), in, storage.Limit(10))
				note("query", err)
			case 1:
				_, err := st.Query(ctx, storage.And(storage.Gt("n", r.IntN(1000)), storage.Eq("tag", "t1")), in, storage.SortBy(storage.Desc(f)), storage.Limit(5))
				note("query", err)
			case 2:
				_, err := st.Count(ctx, in, storage.Where(storage.Gte(f, 3)))
				note("count", err)
			default:
				tx, err := st.Begin(ctx, storage.TxOptions{ReadOnly: r.IntN(2) == 0})
				if err != nil {
					note("begin", err)
					return
				}
				_, err = tx.Query(ctx, storage.Eq(f, 1), in)
				note("txquery", err)
				note("rollback", tx.Rollback(ctx))
			}
		})
		// namespaces created, filled, queried and deleted
		for k := range 3 {
			loop(fmt.Sprintf("ns%s%d", pre, k), func(r *rand.Rand) {
				ns := fmt.Sprintf("s%s-%x", pre, r.Uint64())
				in := storage.InNamespace(ns)
				var err error
				if r.IntN(2) == 0 {
					err = st.CreateNamespace(ctx, ns, storage.WithIndexes("n", "tag"))
				}
				note("createns", err)
				its := make([]storage.Item, 1+r.IntN(30))
				for j := range its {
					its[j] = storage.Item{Key: fmt.Sprint(j), Value: value(r)}
				}
				_, err = st.SetMany(ctx, its, in)
				note("nsfill", err)
				_, err = st.Query(ctx, storage.Gt("n", 10), in, storage.SortBy(storage.Asc("n")))
				note("nsquery", err)
				_, err = st.Count(ctx, in, storage.Where(storage.Eq("tag", "t2")))
				note("nscount", err)
				if r.IntN(3) == 0 {
					note("clear", st.Clear(ctx, in))
				}
				note("deletens", st.DeleteNamespace(ctx, ns, storage.Recursive()))
				nsCycles.Add(1)
			})
		}
		// transactions: committed, rolled back, abandoned (1 in 5)
		loop("tx"+pre, func(r *rand.Rand) {
			tx, err := st.Begin(ctx, storage.TxOptions{})
			if err != nil {
				note("begin", err)
				time.Sleep(20 * time.Millisecond)
				return
			}
			in := storage.InNamespace(fixed[r.IntN(len(fixed))])
			note("txset", tx.Set(ctx, fmt.Sprintf("k%04d", r.IntN(5000)), value(r), in))
			switch r.IntN(5) {
			case 0:
				abandoned.Add(1)
			case 1:
				note("rollback", tx.Rollback(ctx))
			default:
				note("commit", tx.Commit(ctx))
			}
			time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
		})
		// watches opened and dropped: one namespace, a churned one, or all
		for w := range 2 {
			loop(fmt.Sprintf("watch%s%d", pre, w), func(r *rand.Rand) {
				var opts []storage.Option
				switch r.IntN(3) {
				case 0:
					opts = append(opts, storage.InNamespace(fixed[r.IntN(len(fixed))]))
				case 1:
					opts = append(opts, storage.InNamespace(fmt.Sprintf("gone-%x", r.Uint64())))
				}
				wctx, wcancel := context.WithTimeout(ctx, time.Duration(20+r.IntN(500))*time.Millisecond)
				watches.Add(1)
				n, stop := 0, r.IntN(50)
				for _, err := range st.(storage.Watcher).Watch(wctx, opts...) {
					if err != nil {
						note("watch", err)
						break
					}
					if n++; n > stop {
						break
					}
				}
				wcancel()
			})
		}
	}

	sample := func(phase string, start time.Time) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fds := -1
		if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
			fds = len(ents)
		}
		load := ""
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			load = strings.Join(strings.Fields(string(b))[:3], ",")
		}
		st := s.QueryCacheStats()
		s.feed.mu.Lock()
		feed := fmt.Sprintf("byNS=%d scoped=%d nsRev=%d steps=%d gone=%d", len(s.feed.byNS), len(s.feed.scoped), len(s.feed.nsRev), len(s.feed.steps), len(s.feed.gone))
		s.feed.mu.Unlock()
		line := fmt.Sprintf("%s t=%4.0fs ops=%d nscycles=%d watches=%d abandoned=%d heap=%dKB heapobj=%d gor=%d fds=%d opentx=%d qcache=%d nsIDs=%d nsRows=%d %s",
			phase, time.Since(start).Seconds(), ops.Load(), nsCycles.Load(), watches.Load(), abandoned.Load(), m.HeapAlloc>>10, m.HeapObjects,
			runtime.NumGoroutine(), fds, s.OpenTransactions(), st.Entries, s.nsIDs.m.len(), s.nsRows.len(), feed)
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		count := func(q string) string {
			var n int64
			var err error
			switch e := s.eng.(type) {
			case *sqliteEngine:
				err = e.r.QueryRowContext(cctx, q).Scan(&n)
			case *pgEngine:
				err = e.pool.QueryRow(cctx, q).Scan(&n)
			}
			if err != nil {
				return "err"
			}
			return fmt.Sprint(n)
		}
		tables := []string{"entries", "changes", "namespaces", "index_fields", "index_entries", "unlinked"}
		switch e := s.eng.(type) {
		case *sqliteEngine:
			tables = append(tables, "change_ends")
			e.wc.mu.RLock()
			wc := len(e.wc.m)
			e.wc.mu.RUnlock()
			e.rc.mu.RLock()
			rc := len(e.rc.m)
			e.rc.mu.RUnlock()
			rs := e.reads.stats
			path := strings.TrimPrefix(strings.SplitN(dsn, "?", 2)[0], "sqlite:")
			size := func(p string) int64 {
				fi, err := os.Stat(p)
				if err != nil {
					return -1
				}
				return fi.Size() >> 10
			}
			line += fmt.Sprintf(" wcache=%d rcache=%d readerstmts=%d readers=%d db=%dKB wal=%dKB", wc, rc,
				rs.stmtsPrepared.Load()-rs.stmtsDone.Load(), rs.connsOpened.Load()-rs.connsClosed.Load(), size(path), size(path+"-wal"))
		case *pgEngine:
			prepared := func(p *pgxpool.Pool) string {
				var out []string
				for _, c := range p.AcquireAllIdle(cctx) {
					var n int
					if err := c.QueryRow(cctx, "SELECT count(*) FROM pg_prepared_statements").Scan(&n); err != nil {
						out = append(out, "err")
					} else {
						out = append(out, fmt.Sprint(n))
					}
					c.Release()
				}
				return fmt.Sprintf("%d/%d[%s]", p.Stat().TotalConns(), p.Stat().MaxConns(), strings.Join(out, ","))
			}
			line += fmt.Sprintf(" pool=%s points=%s writes=%s backends=%s idleintx=%s dbsize=%sKB", prepared(e.pool), prepared(e.points.pool), prepared(e.writes.pool),
				count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"),
				count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'"),
				count("SELECT pg_database_size(current_database()) / 1024"))
		}
		for _, tb := range tables {
			line += fmt.Sprintf(" %s=%s", tb, count("SELECT count(*) FROM "+tb))
		}
		line += " orphan_ix=" + count("SELECT count(*) FROM index_entries ie WHERE NOT EXISTS (SELECT 1 FROM namespaces n WHERE n.id = ie.ix_ns)")
		line += " load=" + load
		t.Log(line)
	}
	start := time.Now()
	sample("start", start)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			sample("load", start)
		}
	}
	wg.Wait()
	sample("end", start)
	for end := time.Now().Add(idle); time.Now().Before(end); {
		time.Sleep(every)
		sample("idle", start)
	}
	t.Logf("ops %d, namespace cycles %d, watches %d, abandoned %d", ops.Load(), nsCycles.Load(), watches.Load(), abandoned.Load())
	for k, n := range errs {
		t.Logf("ERR %6d %s", n, k)
	}
}
