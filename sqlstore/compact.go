package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mycelia-kernel/storage/dialect"
)

// Retention is how much of the change log a store keeps: the window in
// which Watch can resume, History lists a key's changes, and Get with
// AtRevision reads the past. A change leaves the window once it is more
// than Changes revisions behind the store's current revision, or older
// than Age, whichever comes first; a zero field sets no bound, and the zero
// Retention keeps every change. Compaction removes the oldest changes
// first, always a prefix of the log, so the log is complete after its
// oldest retained revision (Status.OldestRevision).
type Retention struct {
	Changes int64
	Age     time.Duration
}

// DefaultRetention keeps a million changes, or a day of them.
var DefaultRetention = Retention{Changes: 1_000_000, Age: 24 * time.Hour}

// WithRetention sets the change log's retention window (default
// DefaultRetention). The background sweeper compacts the log at each of
// its runs (WithSweepInterval); Compact does so by hand.
func WithRetention(r Retention) Option {
	return func(c *config) error {
		if r.Changes < 0 || r.Age < 0 {
			return fmt.Errorf("sqlstore: WithRetention(%+v): want bounds >= 0", r)
		}
		c.retention = r
		return nil
	}
}

// Compact removes the changes outside the retention window from the change
// log, oldest first, in batches of at most the sweep batch size
// (WithSweepBatch), each in a short transaction of its own (on SQLite the
// writer is held for one bounded DELETE), and returns how many it removed.
// The changes it removes can no longer be watched (a resume before them is
// ErrCompacted), listed by History, or read with AtRevision. Entries are
// never touched.
func (s *Store) Compact(ctx context.Context) (int64, error) {
	const op = "compact"
	if _, err := s.startWrite(ctx, op, "", 0, nil); err != nil {
		return 0, err
	}
	r := s.cfg.retention
	if r.Changes == 0 && r.Age == 0 {
		return 0, nil
	}
	var total int64
	for {
		n, err := s.compactBatch(ctx, s.now(), s.cfg.sweepBatch)
		if err != nil {
			return total, s.failCtx(ctx, op, "", "", err)
		}
		total += n
		if n < int64(s.cfg.sweepBatch) {
			return total, nil
		}
	}
}

// compactBatch removes at most limit changes from the start of the log,
// those outside the window at now, and raises compacted_through past them,
// in one transaction.
func (s *Store) compactBatch(ctx context.Context, now time.Time, limit int) (int64, error) {
	r := s.cfg.retention
	var n int64
	err := s.eng.inTx(ctx, func(q querier) error {
		n = 0
		st, err := s.logState(ctx, q)
		if err != nil {
			return err
		}
		// The rows after compacted_through, with it, from one snapshot
		// (PostgreSQL's read committed gives each statement its own): the
		// namespaces of every change removed are known (feed.removing),
		// even when another process's compaction runs beside this one.
		const through = "(SELECT compacted_through FROM change_log_state WHERE id = 1)"
		sel := "SELECT " + through + ", revision, created_at, namespace FROM changes WHERE revision > " + through +
			" ORDER BY revision LIMIT ?"
		if s.Dialect() == dialect.Postgres {
			sel = strings.Replace(sel, "?", "$1", 1)
		}
		cut, from := int64(0), int64(0)
		stop := false
		gone := map[string]int64{} // the last change of each namespace removed
		err = q.queryRows(ctx, sel, []any{limit}, func(row rowScanner) error {
			if stop {
				return nil
			}
			var rev int64
			var at time.Time
			var ns *string
			if s.Dialect() == dialect.SQLite {
				var us int64
				if err := row.Scan(&from, &rev, &us, &ns); err != nil {
					return err
				}
				at = fromMicros(us)
			} else if err := row.Scan(&from, &rev, &at, &ns); err != nil {
				return err
			}
			out := (r.Changes > 0 && rev <= st.head-r.Changes) || (r.Age > 0 && at.Before(now.Add(-r.Age)))
			if !out {
				stop = true
				return nil
			}
			cut = rev
			n++
			name := wholeStore
			if ns != nil {
				name = *ns
			}
			gone[name] = rev
			return nil
		})
		if err != nil || cut == 0 {
			return err
		}
		// Before the removal can be seen: a watch that finds the log
		// compacted past its position asks what was removed.
		s.feed.removing(from, cut, gone)
		del, upd := "DELETE FROM changes WHERE revision <= ?", "UPDATE change_log_state SET compacted_through = ? WHERE id = 1 AND compacted_through < ?"
		if s.Dialect() == dialect.Postgres {
			del, upd = "DELETE FROM changes WHERE revision <= $1", "UPDATE change_log_state SET compacted_through = $1 WHERE id = 1 AND compacted_through < $1"
		}
		if _, err := q.exec(ctx, del, cut); err != nil {
			return err
		}
		if s.Dialect() == dialect.SQLite {
			// The ends of lives whose changes are gone (migration 00015).
			if _, err := q.exec(ctx, "DELETE FROM change_ends WHERE revision <= ?", cut); err != nil {
				return err
			}
		}
		args := []any{cut, cut}
		if s.Dialect() == dialect.Postgres {
			args = args[:1]
		}
		_, err = q.exec(ctx, upd, args...)
		return err
	})
	return n, err
}
