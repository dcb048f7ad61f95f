package main

import (
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
		switch {
		case b.Pool != nil:
			st := b.Pool.Stat()
			// pgxpool counts an acquire that found no idle connection as
			// "empty": the caller waited for one to be made or released.
			add("postgres", int64(st.IdleConns()), int64(st.AcquiredConns()), int64(st.MaxConns()),
				st.EmptyAcquireCount(), st.EmptyAcquireWaitTime().Seconds())
		case b.Writer != nil:
			w := b.Writer.Stats()
			add("sqlite_writer", int64(w.Idle), int64(w.InUse), int64(w.MaxOpenConnections), w.WaitCount, w.WaitDuration.Seconds())
			if b.Reader != nil && b.Reader != b.Writer {
				r := b.Reader.Stats()
				add("sqlite_reader", int64(r.Idle), int64(r.InUse), int64(r.MaxOpenConnections), r.WaitCount, r.WaitDuration.Seconds())
			}
		}
		if len(conns.Samples) > 0 {
			fams = append(fams, conns, maxConns, waits, waited)
		}
		return fams
	}
}
