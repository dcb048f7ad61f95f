package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
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
// its runs (WithSweepInterval); Compact does so by hand. While the sweeper
// runs and Changes is set, the log stays within Changes + a margin (an
// eighth of Changes, at least the sweep batch) while writes run, however
// many writers there are: once it is past that, the writes compact in
// their callers, each removing up to twice the changes written (the
// compaction assist, see the package documentation). Age alone is left
// to the sweeper.
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

// compactCheckEvery is how many changes the store's writes add between
// two looks of the compaction assist at the change log's length (one read
// of change_log_state): a write that adds fewer only counts them.
const compactCheckEvery = 256

// compactAssistChunk is the most changes one assist transaction removes,
// in sweep batches: on SQLite it bounds how long an assist holds the
// writer at a time.
const compactAssistChunk = 4

// compactAssist is the writers' share of compaction. The sweeper is one
// goroutine among the writers: on SQLite it gets one writer turn in as
// many as there are writers waiting, and a turn removes at most the sweep
// batch (500 changes by default), while a writer of batches of 1000 adds
// 1000 a turn, so the log grew for as long as such a load lasted (897k
// changes for a retention of 50k after the hour-long soak,
// bench/results/2026-12-05-soak3.md) and drained only when the writes
// stopped. Those who write now pay for what the sweeper cannot keep up
// with.
//
// Every write outside a transaction, and every commit, adds the changes it
// wrote to owed: no read on the write path. The write that takes owed to
// compactCheckEvery or more takes the whole of it and reads the log's
// state; when the log holds more than Retention.Changes + compactMargin,
// it removes up to twice what it took (at most what is outside the window)
// with compactBatch, in transactions of at most compactAssistChunk sweep
// batches, before it returns. A writer thus removes twice what it adds
// before it writes again, whatever the number of writers or how the
// writer turns fall: the log stays within the window, the margin, and
// what the writers have in flight (each about its last write and
// compactCheckEvery). Writes that find the log within the margin forgive
// what they took; the sweeper compacts the rest at its next run.
type compactDebt struct {
	on   bool // the sweeper runs and Retention.Changes > 0
	owed atomic.Int64
	// slack is how many changes the log could take, at the last look (and
	// at Open), before it is past Changes + compactMargin: no look is due
	// before owed reaches it, so a log far inside its window is not read.
	slack atomic.Int64
}

// compactMargin is how many changes past Retention.Changes the log may
// hold before writes assist: an eighth of Changes, at least the sweep
// batch.
func (s *Store) compactMargin() int64 {
	return max(s.cfg.retention.Changes/8, int64(s.cfg.sweepBatch))
}

// wroteChanges counts n changes a write added to the log, after it (its
// transaction's commit), and assists compaction when the count says it is
// time. Its failures are the sweeper's to retry: the write is done.
func (s *Store) wroteChanges(ctx context.Context, n int) {
	if !s.assist.on {
		return
	}
	if owed := s.assist.owed.Add(int64(n)); owed < compactCheckEvery || owed < s.assist.slack.Load() {
		return
	}
	s.compactAssist(ctx)
}

// noteLog records where the log stands (st): no look is due before this
// store's writes could take it past its margin. It returns how many
// changes the log holds outside its window.
func (s *Store) noteLog(st logState) int64 {
	outside := st.head - st.compacted - s.cfg.retention.Changes
	s.assist.slack.Store(s.compactMargin() - outside)
	return outside
}

// compactAssist takes what is owed and pays it, if the log is past its
// margin.
func (s *Store) compactAssist(ctx context.Context) {
	owed := s.assist.owed.Swap(0)
	if owed <= 0 {
		return // another writer took it
	}
	if ctx.Err() != nil {
		s.assist.owed.Add(owed) // for the next writer
		return
	}
	st, err := s.logState(ctx, s.eng.quickReader())
	if err != nil {
		return
	}
	outside := s.noteLog(st)
	if outside <= s.compactMargin() {
		return
	}
	if _, err := s.startWrite(ctx, "compact", "", 0, nil); err != nil {
		return
	}
	left := min(2*owed, outside)
	chunk := int64(compactAssistChunk * s.cfg.sweepBatch)
	for left > 0 && ctx.Err() == nil {
		limit := min(left, chunk)
		n, err := s.compactBatch(ctx, s.now(), int(limit))
		if err != nil || n < limit {
			return
		}
		left -= n
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
