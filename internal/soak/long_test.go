package soak

// TestSoakLong is the hour-long soak (bench/results/2026-12-05-soak3.md):
// what TestSoak's load did not reach, for longer. It is opt-in:
//
//	STORAGE_SOAK_LONG=60m STORAGE_SOAK_DIALECT=sqlite go test -run TestSoakLong -v -timeout 90m ./internal/soak/
//
// (STORAGE_TEST_POSTGRES_DSN and STORAGE_SOAK_DIALECT=postgres for the
// PostgreSQL run; STORAGE_SOAK_IDLE, default 5m, how long it samples after
// the load; STORAGE_SOAK_EVERY, default 30s, the sampling period;
// STORAGE_SOAK_DB, default soaklong, the PostgreSQL database it drops and
// creates.) The load: long-lived watches that resume from their last
// revision after each drop while the sweeper compacts the log by its
// retention window; TTL entries expiring and swept; CreateIndex and
// DropIndex on namespaces with data; namespaces filled and deleted
// recursively (the unlink and purge path); Clear; Get at past revisions
// and History; transactions committed, rolled back and abandoned to the
// idle timeout; batches of 1000; a namespace exported and imported under
// another name now and then; an HTTP client beside the engine. Each sample
// is one SAMPLE line of the test's log.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/sqlstore"
)

func TestSoakLong(t *testing.T) {
	d := os.Getenv("STORAGE_SOAK_LONG")
	if d == "" {
		t.Skip("STORAGE_SOAK_LONG=<duration> runs the long soak")
	}
	dur, err := time.ParseDuration(d)
	if err != nil {
		t.Fatal(err)
	}
	cfg := longConfig{load: dur, idle: 5 * time.Minute, every: 30 * time.Second}
	if v := os.Getenv("STORAGE_SOAK_IDLE"); v != "" {
		if cfg.idle, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	if v := os.Getenv("STORAGE_SOAK_EVERY"); v != "" {
		if cfg.every, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	eachDialect(t, "soaklong", func(t *testing.T, dsn, path, pgdsn string) { soakLong(t, dsn, path, pgdsn, cfg) })
}

type longConfig struct {
	load, idle, every time.Duration
}

// longCounters are what the load did, for the samples.
type longCounters struct {
	ops, events, resumes, compacted, lagged, nsCycles, clears, exports, indexes, batches, abandoned atomic.Int64
}

type longSampler struct {
	t      *testing.T
	s      *sqlstore.Store
	path   string // SQLite file
	sqlite *sql.DB
	pg     *pgx.Conn
	start  time.Time
	c      *longCounters
}

func (sm *longSampler) scalar(ctx context.Context, q string) string {
	var n int64
	var err error
	if sm.sqlite != nil {
		err = sm.sqlite.QueryRowContext(ctx, q).Scan(&n)
	} else {
		err = sm.pg.QueryRow(ctx, q).Scan(&n)
	}
	if err != nil {
		return "err"
	}
	return fmt.Sprint(n)
}

func (sm *longSampler) sample(phase string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, fds, load := procStats()
	var b strings.Builder
	fmt.Fprintf(&b, "SAMPLE %s t=%5.0fs ops=%d ev=%d resumes=%d compacted=%d lagged=%d nscycles=%d clears=%d exports=%d idx=%d batches=%d abandoned=%d",
		phase, time.Since(sm.start).Seconds(), sm.c.ops.Load(), sm.c.events.Load(), sm.c.resumes.Load(), sm.c.compacted.Load(), sm.c.lagged.Load(),
		sm.c.nsCycles.Load(), sm.c.clears.Load(), sm.c.exports.Load(), sm.c.indexes.Load(), sm.c.batches.Load(), sm.c.abandoned.Load())
	fmt.Fprintf(&b, " rss=%s heap=%dKB heapobj=%d sys=%dKB gor=%d fds=%d opentx=%d", rss, ms.HeapAlloc>>10, ms.HeapObjects, ms.Sys>>10,
		runtime.NumGoroutine(), fds, sm.s.OpenTransactions())
	be := sm.s.Backend()
	for _, tb := range []string{"entries", "changes", "change_ends", "namespaces", "index_fields", "index_entries", "unlinked"} {
		fmt.Fprintf(&b, " %s=%s", tb, sm.scalar(ctx, "SELECT count(*) FROM "+tb))
	}
	// rows whose namespace row is gone: unlinked and not yet purged
	// (listed in unlinked), or left behind (not listed)
	fmt.Fprintf(&b, " orphan_entries=%s orphan_ix=%s lost_entries=%s lost_ix=%s",
		sm.scalar(ctx, "SELECT count(*) FROM entries e WHERE NOT EXISTS (SELECT 1 FROM namespaces n WHERE n.id = e.namespace_id)"),
		sm.scalar(ctx, "SELECT count(*) FROM index_entries e WHERE NOT EXISTS (SELECT 1 FROM namespaces n WHERE n.id = e.ix_ns)"),
		sm.scalar(ctx, "SELECT count(*) FROM entries e WHERE NOT EXISTS (SELECT 1 FROM namespaces n WHERE n.id = e.namespace_id) AND NOT EXISTS (SELECT 1 FROM unlinked u WHERE u.id = e.namespace_id)"),
		sm.scalar(ctx, "SELECT count(*) FROM index_entries e WHERE NOT EXISTS (SELECT 1 FROM namespaces n WHERE n.id = e.ix_ns) AND NOT EXISTS (SELECT 1 FROM unlinked u WHERE u.id = e.ix_ns)"))
	if sm.sqlite != nil {
		st := be.Writer.Stats()
		rst := be.Reader.Stats()
		fmt.Fprintf(&b, " wconns=%d rconns=%d(inuse %d)", st.OpenConnections, rst.OpenConnections, rst.InUse)
		if fi, err := os.Stat(sm.path + "-wal"); err == nil {
			fmt.Fprintf(&b, " wal=%dKB", fi.Size()>>10)
		}
		if fi, err := os.Stat(sm.path); err == nil {
			fmt.Fprintf(&b, " db=%dKB", fi.Size()>>10)
		}
		fmt.Fprintf(&b, " pages=%s freelist=%s", sm.scalar(ctx, "PRAGMA page_count"), sm.scalar(ctx, "PRAGMA freelist_count"))
		if ents, err := os.ReadDir(filepath.Dir(sm.path)); err == nil {
			fmt.Fprintf(&b, " dirfiles=%d", len(ents))
		}
	} else {
		ps := be.Pool.Stat()
		fmt.Fprintf(&b, " poolconns=%d(idle %d)", ps.TotalConns(), ps.IdleConns())
		var conns, idleTx int64
		_ = sm.pg.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE state LIKE 'idle in transaction%') FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()").Scan(&conns, &idleTx)
		var dbsize, tmpFiles, tmpBytes int64
		_ = sm.pg.QueryRow(ctx, "SELECT pg_database_size(current_database()), temp_files, temp_bytes FROM pg_stat_database WHERE datname = current_database()").Scan(&dbsize, &tmpFiles, &tmpBytes)
		fmt.Fprintf(&b, " backends=%d idleintx=%d db=%dKB tempfiles=%d tempbytes=%dKB", conns, idleTx, dbsize>>10, tmpFiles, tmpBytes>>10)
		rows, err := sm.pg.Query(ctx, `SELECT relname, pg_table_size(relid), pg_indexes_size(relid), n_live_tup, n_dead_tup,
COALESCE(extract(epoch FROM now() - greatest(last_autovacuum, last_vacuum))::bigint, -1), autovacuum_count
FROM pg_stat_user_tables WHERE relname IN ('entries','changes','index_entries','namespaces','unlinked','index_fields') ORDER BY relname`)
		if err == nil {
			for rows.Next() {
				var name string
				var tsz, isz, live, dead, ago, avc int64
				if rows.Scan(&name, &tsz, &isz, &live, &dead, &ago, &avc) == nil {
					fmt.Fprintf(&b, " %s:tbl=%dKB,idx=%dKB,live=%d,dead=%d,vac_ago=%ds,autovac=%d", name, tsz>>10, isz>>10, live, dead, ago, avc)
				}
			}
			rows.Close()
		}
	}
	st, _ := sm.s.Status(ctx)
	qc := sm.s.QueryCacheStats()
	fmt.Fprintf(&b, " rev=%d oldest=%d size=%d nss=%d qcache=%d/%d", st.Revision, st.OldestRevision, st.Size, st.Namespaces, qc.Entries, qc.Capacity)
	fmt.Fprintf(&b, " load=%s", strings.ReplaceAll(load, " ", ","))
	sm.t.Log(b.String())
}

func soakLong(t *testing.T, dsn, path, pgdsn string, cfg longConfig) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, dsn,
		sqlstore.WithSweepInterval(5*time.Second),
		sqlstore.WithTxIdleTimeout(time.Second),
		sqlstore.WithRetention(sqlstore.Retention{Changes: 50000, Age: 2 * time.Minute}),
		sqlstore.WithMaxOpenTx(64),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &longCounters{}
	sm := &longSampler{t: t, s: s, path: path, start: time.Now(), c: c}
	sm.sqlite, sm.pg = samplerDB(t, path, pgdsn)
	baseGor := runtime.NumGoroutine()
	sm.sample("start")

	// an HTTP client beside the engine (storeserver's stack in process)
	_, srv, cl := serve(t, s, map[string]string{"storage://namespace/*": "rw", "storage://transactions": "rw"},
		httpapi.Config{Logger: slog.New(slog.DiscardHandler)})

	lctx, stop := context.WithTimeout(ctx, cfg.load)
	defer stop()
	ru := newRunner(lctx, &c.ops)
	loop, note := ru.loop, ru.note
	nss := []string{"w0", "w1", "w2", "w3"}
	for _, ns := range nss {
		if err := s.CreateNamespace(ctx, ns, storage.WithIndexes("n")); err != nil {
			t.Fatal(err)
		}
	}
	val, key := soakValue, soakKey
	items := soakItems
	var ss storage.Store = s
	for i, st := range []storage.Store{ss, ss, cl} {
		pre := fmt.Sprint(i)
		ru.writers(pre, st, nss, &c.abandoned)
		// readers, and the past: Get at a past revision, History
		loop("read"+pre, func(r *rand.Rand) {
			ns := storage.InNamespace(nss[r.IntN(len(nss))])
			switch r.IntN(6) {
			case 0:
				_, err := st.Get(lctx, key(r), ns)
				if errors.Is(err, storage.ErrNotFound) {
					err = nil
				}
				note("get", err)
			case 1, 2:
				stt, err := s.Status(lctx)
				if err != nil || stt.Revision <= stt.OldestRevision {
					note("status", err)
					return
				}
				rev := stt.OldestRevision + r.Int64N(stt.Revision-stt.OldestRevision+1)
				_, err = st.Get(lctx, key(r), ns, storage.AtRevision(rev))
				if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrCompacted) {
					err = nil
				}
				note("get-at", err)
			case 3:
				if h, ok := st.(storage.Historian); ok {
					_, err := h.History(lctx, key(r), ns, storage.Limit(50))
					if errors.Is(err, storage.ErrCompacted) {
						err = nil
					}
					note("history", err)
				}
			default:
				f := storage.Gt("n", r.IntN(10000))
				res, err := st.Query(lctx, f, ns, storage.Limit(1+r.IntN(30)), storage.SortBy(storage.Desc("n")))
				note("query", err)
				if err == nil && res.Cursor != "" {
					_, err = st.Query(lctx, f, ns, storage.Limit(30), storage.SortBy(storage.Desc("n")), storage.After(res.Cursor))
					note("query-page", err)
				}
			}
			time.Sleep(time.Duration(r.IntN(3)) * time.Millisecond)
		})
		// long-lived watches that resume from their last revision after
		// each drop; slow now and then, so that they fall behind the
		// retention window
		w := st.(storage.Watcher)
		for j := 0; j < 3; j++ {
			var ns string
			switch j {
			case 1:
				ns = nss[i%len(nss)]
			case 2:
				ns = "q0" // quiet: a resume behind compaction may lose none of its changes
			}
			ru.wg.Add(1)
			go func() {
				defer ru.wg.Done()
				r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(j)))
				var last int64
				for lctx.Err() == nil {
					wctx, cancel := context.WithTimeout(lctx, time.Duration(5+r.IntN(55))*time.Second)
					opts := []storage.Option{storage.OmitValues()}
					if ns != "" {
						opts = append(opts, storage.InNamespace(ns))
					}
					if last > 0 {
						opts = append(opts, storage.FromRevision(last))
						c.resumes.Add(1)
					}
					slow := r.IntN(10) == 0
					for ev, err := range w.Watch(wctx, opts...) {
						if err != nil {
							switch {
							case errors.Is(err, storage.ErrCompacted):
								c.compacted.Add(1)
								last = 0
							case errors.Is(err, storage.ErrWatchLagged):
								c.lagged.Add(1)
							default:
								note("watch", err)
							}
							break
						}
						c.events.Add(1)
						last = ev.Revision
						if slow {
							time.Sleep(time.Millisecond)
						}
					}
					cancel()
					if r.IntN(3) == 0 {
						// away for a while: compaction may pass the position
						select {
						case <-lctx.Done():
						case <-time.After(time.Duration(10+r.IntN(80)) * time.Second):
						}
					}
				}
			}()
		}
	}
	// the quiet namespace: a write every 10-50 s
	loop("quiet", func(r *rand.Rand) {
		select {
		case <-lctx.Done():
			return
		case <-time.After(time.Duration(10+r.IntN(40)) * time.Second):
		}
		note("quiet-set", s.Set(lctx, key(r), val(r), storage.InNamespace("q0")))
	})
	ru.indexChurn(s, nss, &c.indexes)
	// namespaces created, filled (batches of 1000) and deleted
	// recursively: the unlink and purge path
	for j := 0; j < 2; j++ {
		loop(fmt.Sprintf("ns%d", j), func(r *rand.Rand) {
			name := fmt.Sprintf("tmp-%d-%x", j, r.Uint64())
			if err := s.CreateNamespace(lctx, name, storage.WithIndexes("n", "tag")); err != nil {
				note("createns", err)
				return
			}
			for b := 0; b < 1+r.IntN(3); b++ {
				_, err := s.SetMany(lctx, items(r, 1000), storage.InNamespace(name))
				note("ns-setmany", err)
				c.batches.Add(1)
			}
			_, err := s.Query(lctx, storage.Gt("n", 10), storage.InNamespace(name), storage.SortBy(storage.Asc("n")), storage.Limit(20))
			note("ns-query", err)
			note("deletens", s.DeleteNamespace(lctx, name, storage.Recursive()))
			c.nsCycles.Add(1)
			time.Sleep(time.Duration(r.IntN(500)) * time.Millisecond)
		})
	}
	// Clear: a namespace filled with batches of 1000, then cleared;
	// DeleteMany of 1000
	loop("clear", func(r *rand.Rand) {
		ns := storage.InNamespace("c0")
		its := items(r, 1000)
		_, err := s.SetMany(lctx, its, ns)
		note("c-setmany", err)
		c.batches.Add(1)
		if r.IntN(2) == 0 {
			keys := make([]string, len(its))
			for j, it := range its {
				keys[j] = it.Key
			}
			_, err := s.DeleteMany(lctx, keys, ns)
			note("c-deletemany", err)
		} else {
			note("clear", s.Clear(lctx, ns))
			c.clears.Add(1)
		}
		time.Sleep(time.Duration(500+r.IntN(1500)) * time.Millisecond)
	})
	// export a namespace now and then, import it under another name, drop it
	loop("export", func(r *rand.Rand) {
		select {
		case <-lctx.Done():
			return
		case <-time.After(time.Duration(20+r.IntN(40)) * time.Second):
		}
		src := nss[r.IntN(len(nss))]
		dst := fmt.Sprintf("imp-%x", r.Uint64())
		var recs []sqlstore.Record
		err := s.Export(lctx, sqlstore.ExportOptions{Namespace: src}, func(nr sqlstore.NamespaceRecord) error {
			nr.Name = dst
			_, err := s.RestoreNamespace(lctx, nr, sqlstore.ConflictFail)
			return err
		}, func(rec sqlstore.Record) error {
			rec.Namespace = dst
			recs = append(recs, rec)
			if len(recs) == 1000 {
				_, err := s.Restore(lctx, recs, sqlstore.ConflictOverwrite)
				recs = recs[:0]
				return err
			}
			return nil
		})
		if err == nil && len(recs) > 0 {
			_, err = s.Restore(lctx, recs, sqlstore.ConflictOverwrite)
		}
		note("export-import", err)
		note("import-delete", s.DeleteNamespace(lctx, dst, storage.Recursive()))
		c.exports.Add(1)
	})

	tick := time.NewTicker(cfg.every)
	defer tick.Stop()
	for lctx.Err() == nil {
		select {
		case <-tick.C:
			sm.sample("load")
		case <-lctx.Done():
		}
	}
	ru.wg.Wait()
	sm.sample("end")
	_ = cl.Close()
	srv.CloseClientConnections()
	srv.Close()
	for i := 0; i < int(cfg.idle/cfg.every); i++ {
		time.Sleep(cfg.every)
		runtime.GC()
		sm.sample("idle")
	}
	ru.report(t, "soaklong")
	t.Logf("goroutines: base %d, after idle %d", baseGor, runtime.NumGoroutine())
}
