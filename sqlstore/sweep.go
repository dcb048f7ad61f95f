package sqlstore

import (
	"context"
	"sync"
	"time"

	"github.com/mycelia-kernel/storage/dialect"
)

// Expired rows.
//
// An entry whose expires_at has passed is invisible at once: every
// statement compares expires_at with the engine's clock, bound as a
// parameter. The rows stay until the sweeper deletes them, in batches of
// at most sweepBatch rows, oldest expiry first, each batch in a short
// transaction of its own (on SQLite the writer is held for one bounded
// DELETE, and left free after it for as long, so that other processes'
// writers get in between batches). Sweepers of several stores on one database (processes sharing a
// SQLite file, pools on one PostgreSQL) never delete a row twice: each
// DELETE re-checks expires_at against its clock on the row it deletes, and
// on PostgreSQL skips rows another sweeper holds (FOR UPDATE SKIP LOCKED).
// A row that a write revived (or gave a later expiry) before the sweeper
// reached it is no longer expired, and is left alone.
//
// sweepBatch is the single place where the sweeper deletes rows: a change
// feed that records removals as expire events hooks there, inside the
// batch's transaction. deleteExpiredKeys (Restore over expired keys) is the
// only other one.

// DefaultSweepInterval is how often the background sweeper runs.
const DefaultSweepInterval = 30 * time.Second

// DefaultSweepBatch is the most rows one sweeper statement deletes.
const DefaultSweepBatch = 500

// SweptRow is a row the sweeper deleted.
type SweptRow struct {
	NamespaceID int64
	Namespace   string
	Key         string
	Version     int64
	// Revision is the revision the row had; its expire change gets a new
	// one.
	Revision int64
}

// sweepSQLite and sweepPostgres skip unlinked namespaces' entries: the
// purger's (unlink.go).
const sweepSQLite = `DELETE FROM entries WHERE rowid IN (
    SELECT rowid FROM entries
    WHERE expires_at IS NOT NULL AND expires_at <= ? AND namespace_id IN (SELECT id FROM namespaces)
    ORDER BY expires_at
    LIMIT ?)
  AND expires_at IS NOT NULL AND expires_at <= ?
RETURNING namespace_id, (SELECT n.name FROM namespaces n WHERE n.id = namespace_id), key, version, revision`

const sweepPostgres = `DELETE FROM entries e
USING (
    SELECT namespace_id, key FROM entries
    WHERE expires_at IS NOT NULL AND expires_at <= $1
      AND EXISTS (SELECT 1 FROM namespaces n WHERE n.id = entries.namespace_id)
    ORDER BY expires_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED) d
WHERE e.namespace_id = d.namespace_id AND e.key = d.key AND e.expires_at <= $1
RETURNING e.namespace_id, (SELECT n.name FROM namespaces n WHERE n.id = e.namespace_id), e.key, e.version, e.revision`

// sweepBatch deletes at most limit rows that have expired at now, oldest
// expiry first, in one transaction, logs them as expire changes (in the
// order deleted), and returns them.
func (s *Store) sweepBatch(ctx context.Context, now time.Time, limit int) ([]SweptRow, error) {
	var q string
	var args []any
	if s.Dialect() == dialect.SQLite {
		q, args = sweepSQLite, []any{micros(now), limit, micros(now)}
	} else {
		q, args = sweepPostgres, []any{now, limit}
	}
	var rows []SweptRow
	err := s.eng.inTx(ctx, func(tx querier) error {
		rows = rows[:0]
		if err := tx.lockRevisions(ctx); err != nil {
			return err
		}
		err := tx.queryRows(ctx, q, args, func(r rowScanner) error {
			var sr SweptRow
			if err := r.Scan(&sr.NamespaceID, &sr.Namespace, &sr.Key, &sr.Version, &sr.Revision); err != nil {
				return err
			}
			rows = append(rows, sr)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.logExpired(ctx, rows, now)
	})
	if err != nil {
		return nil, err
	}
	if s.cfg.onSweep != nil && len(rows) > 0 {
		s.cfg.onSweep(rows)
	}
	return rows, nil
}

// Sweep deletes every row that has expired by the store's clock, in
// batches (see the background sweeper, WithSweepInterval), and returns how
// many it deleted. Expired entries are invisible whether or not they were
// swept: Sweep only reclaims their space.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	const op = "sweep"
	defer s.feed.signal()
	if _, err := s.startWrite(ctx, op, "", 0, nil); err != nil {
		return 0, err
	}
	var total int64
	for {
		start := time.Now()
		rows, err := s.sweepBatch(ctx, s.now(), s.cfg.sweepBatch)
		if err != nil {
			return total, s.failCtx(ctx, op, "", "", err)
		}
		total += int64(len(rows))
		if len(rows) < s.cfg.sweepBatch {
			return total, nil
		}
		if err := s.sweepPause(ctx, time.Since(start)); err != nil {
			return total, s.failCtx(ctx, op, "", "", err)
		}
	}
}

// sweepPause leaves SQLite's writer free between two sweep batches for as
// long as the last one held it. A writer of this store gets the writer
// connection as soon as a batch ends (it waits in the pool), but another
// process's writer waits on SQLite's file lock and only tries again after
// its busy handler's sleep (up to 100 ms): without a pause the next batch
// took the lock first every time, and such a writer waited for the whole
// sweep (TestSweepLetsWritersIn). PostgreSQL queues waiters on the
// revision lock in order, so it needs no pause.
func (s *Store) sweepPause(ctx context.Context, held time.Duration) error {
	if s.Dialect() != dialect.SQLite {
		return nil
	}
	t := time.NewTimer(max(held, time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deleteExpiredKeys deletes the rows of keys in namespace ns that have
// expired at now, and logs them as expire changes.
func (s *Store) deleteExpiredKeys(ctx context.Context, q querier, ns string, keys []string, now time.Time) (int64, error) {
	var stmt string
	var args []any
	if s.Dialect() == dialect.SQLite {
		stmt, args = `DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = ?)
  AND key IN (SELECT j.value FROM json_each(?) AS j)
  AND expires_at IS NOT NULL AND expires_at <= ?
RETURNING key, version, revision`, []any{ns, jsonKeysExact(keys), micros(now)}
	} else {
		stmt, args = `DELETE FROM entries
WHERE namespace_id = (SELECT id FROM namespaces WHERE name = $1)
  AND key = ANY($2::text[]) AND expires_at <= $3
RETURNING key, version, revision`, []any{ns, keys, now}
	}
	if err := q.lockRevisions(ctx); err != nil {
		return 0, err
	}
	var rows []SweptRow
	err := q.queryRows(ctx, stmt, args, func(r rowScanner) error {
		sr := SweptRow{Namespace: ns}
		if err := r.Scan(&sr.Key, &sr.Version, &sr.Revision); err != nil {
			return err
		}
		rows = append(rows, sr)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int64(len(rows)), q.logExpired(ctx, rows, now)
}

// sweeper runs sweeps in the background until stopped.
type sweeper struct {
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// startSweeper starts the background sweeper, unless it is off.
func (s *Store) startSweeper() {
	if s.cfg.sweepInterval < 0 {
		return
	}
	sw := &sweeper{stop: make(chan struct{})}
	s.sweeper = sw
	// The writers compact the log past its count window, and margin,
	// beside the sweeper (compact.go); not when the sweeper is off (the
	// log is compacted by hand).
	s.assist.on = s.cfg.retention.Changes > 0
	if s.assist.on {
		// Where the log stands: no look is due before it could be past
		// its margin (a failed read leaves a look due at 256 changes).
		if st, err := s.logState(context.Background(), s.eng.reader()); err == nil {
			s.noteLog(st)
		}
	}
	sw.done.Add(1)
	go func() {
		defer sw.done.Done()
		t := time.NewTicker(s.cfg.sweepInterval)
		defer t.Stop()
		for {
			select {
			case <-sw.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithCancel(background(context.Background()))
			go func() {
				select {
				case <-sw.stop:
				case <-ctx.Done():
				}
				cancel()
			}()
			// A failed sweep (the database unreachable, the store closing)
			// is tried again at the next tick.
			_, _ = s.Sweep(ctx)
			// And the change log is compacted to its retention window.
			_, _ = s.Compact(ctx)
			cancel()
		}
	}()
}

// stopSweeper stops the background sweeper and waits for it.
func (s *Store) stopSweeper() {
	if s.sweeper == nil {
		return
	}
	s.sweeper.once.Do(func() { close(s.sweeper.stop) })
	s.sweeper.done.Wait()
}
