package main

import (
	"database/sql"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// storeMetrics reports the store's open transactions and its connection
// pools' figures at each scrape of /metrics.
func storeMetrics(s *sqlstore.Store) func() []httpapi.Family {
	return func() []httpapi.Family {
		fams := []httpapi.Family{{Name: "storage_open_transactions", Help: "Transactions open on the store.", Type: "gauge",
			Samples: []httpapi.Sample{{Value: float64(s.OpenTransactions())}}}}
		b := s.Backend()
		conns := httpapi.Family{Name: "storage_pool_connections", Help: "Database connections, by pool and state.", Type: "gauge"}
		maxConns := httpapi.Family{Name: "storage_pool_max_connections", Help: "Most connections a pool may open.", Type: "gauge"}
		waits := httpapi.Family{Name: "storage_pool_waits_total", Help: "Times a caller had to wait for a connection.", Type: "counter"}
		waited := httpapi.Family{Name: "storage_pool_wait_seconds_total", Help: "Time callers waited for a connection.", Type: "counter"}
		add := func(pool string, idle, inUse, max, waitCount int64, waitSeconds float64) {
			p := [2]string{"pool", pool}
			conns.Samples = append(conns.Samples,
				httpapi.Sample{Labels: [][2]string{p, {"state", "idle"}}, Value: float64(idle)},
				httpapi.Sample{Labels: [][2]string{p, {"state", "in_use"}}, Value: float64(inUse)})
			maxConns.Samples = append(maxConns.Samples, httpapi.Sample{Labels: [][2]string{p}, Value: float64(max)})
			waits.Samples = append(waits.Samples, httpapi.Sample{Labels: [][2]string{p}, Value: float64(waitCount)})
			waited.Samples = append(waited.Samples, httpapi.Sample{Labels: [][2]string{p}, Value: waitSeconds})
		}
		pg := func(name string, pool *pgxpool.Pool) {
			if pool == nil {
				return
			}
			st := pool.Stat()
			// pgxpool counts an acquire that found no idle connection as
			// "empty": the caller waited for one to be made or released.
			add(name, int64(st.IdleConns()), int64(st.AcquiredConns()), int64(st.MaxConns()),
				st.EmptyAcquireCount(), st.EmptyAcquireWaitTime().Seconds())
		}
		lite := func(name string, db *sql.DB) {
			if db == nil {
				return
			}
			st := db.Stats()
			add(name, int64(st.Idle), int64(st.InUse), int64(st.MaxOpenConnections), st.WaitCount, st.WaitDuration.Seconds())
		}
		switch {
		case b.Pool != nil:
			// The pool and the lanes beside it (the package docs of
			// sqlstore, "Connections"): the server may hold all of them.
			pg("postgres", b.Pool)
			pg("postgres_point_reads", b.PointReads)
			pg("postgres_writes", b.Writes)
		case b.Writer != nil:
			lite("sqlite_writer", b.Writer)
			if b.Reader != b.Writer {
				lite("sqlite_reader", b.Reader)
				lite("sqlite_point_reader", b.PointReader)
			}
		}
		if len(conns.Samples) > 0 {
			fams = append(fams, conns, maxConns, waits, waited)
		}
		return fams
	}
}
