package sqlstore

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/mycelia-kernel/storage/dialect"
)

// Clear (of one namespace, or of every namespace that has entries) and a
// DeleteNamespace of a namespace with entries unlink them
// (SQLite: migration 00033; PostgreSQL: 00034) instead of deleting them in
// their statement, which held SQLite's one writer, so every other
// namespace's writes, for the whole delete (5.5 s for a Clear of 100k
// entries with two indexes, bench/results/2026-12-04-writer-holds.md), and
// on PostgreSQL the store's revision lock, which every write takes
// (revlock.go; 2.9 s for the same Clear, 1.0 s for a DeleteNamespace). In
// the operation's own
// transaction the namespace row moves to a fresh id (Clear: with its name,
// metadata and declared fields, entry count 0) or is deleted
// (DeleteNamespace), and the old id, with the name it had, goes into
// unlinked. Every statement finds a namespace's entries through its row
// (by name, or by the id a cache read from it, checked against the row:
// namespaceLive), so the old entries are gone at once for readers and
// writers alike; the change log gets exactly the changes it got before.
// The purger then deletes the old id's index rows and entries in short
// transactions of purgeChunk rows each, writing the change_ends rows the
// delete trigger wrote before (it finds no namespace row for the old id,
// so writes none), which the key's history walks from; until then History
// walks from the unlinked entry itself (keyChainRevisions). What enumerates
// entries across namespaces skips unlinked ids: StoreStats (and so Status
// and the capacity), the sweeper. Clear of every namespace unlinks each
// one that has entries in its one transaction (SQLite: sqliteQ.clearAll,
// unlinkSQLite per namespace; PostgreSQL: one statement, ClearAll), which
// was one delete of every entry under the writer or the revision lock
// (TestUnlinkAllYieldsWriter); the caches of namespace ids forget every
// name.
//
// On PostgreSQL, Clear's one statement (ClearNamespace, or ClearAll for
// every namespace, queries/postgres/entries.sql) moves the row with UPDATE ... SET id =
// DEFAULT, under the revision lock as before; a DeleteNamespace records
// the old id in its transaction (unlinkPostgres), and the namespace's
// delete trigger (namespaces_entries_check) lets a row with an unlinked id
// go. The writes of the namespace take the revision lock before their
// statement's snapshot, so a write racing a Clear runs before it (and is
// unlinked with the rest) or after it (under the new id). The key's
// history is the change log's (changes_key), which the purge does not
// touch: it writes no change_ends there, and takes no revision, so not the
// revision lock. Several stores on one database share the purge: each
// step holds the unlinked row it works on FOR UPDATE SKIP LOCKED, so two
// never delete the same id's rows at once.

// purgeChunk is how many rows one purge transaction deletes (index rows,
// then entries); tests set another per store (withPurgeChunk).
const purgeChunk = 2000

// purgeRows is the store's purgeChunk.
func (s *Store) purgeRows() int {
	if s.cfg.purgeChunk > 0 {
		return s.cfg.purgeChunk
	}
	return purgeChunk
}

// purgeBacklog is how many unlinked namespaces may wait for the purger:
// a Clear or DeleteNamespace that leaves more purges in its caller, in the
// purger's short transactions, until no more are left (purgeAssist). The
// purger is one goroutine among the writers: on SQLite it gets one
// writer turn in as many as there are writers waiting, and a turn
// deletes purgeChunk rows, while a loop that fills namespaces with
// batches of 1000 and deletes them unlinks more than that per turn, so
// the rows left grew for as long as such a load lasted (the hour-long
// soak, bench/results/2026-12-05-soak3.md). Those who unlink now pay for
// what the purger cannot keep up with.
const purgeBacklog = 16

// purgeAssist purges in the caller (a Clear or DeleteNamespace that
// unlinked) while more than purgeBacklog namespaces wait for the purger.
// A failure is left to the purger, which tries again: the caller's
// operation is done.
func (s *Store) purgeAssist(ctx context.Context) {
	if s.purger == nil {
		return
	}
	for ctx.Err() == nil {
		var left int64
		if err := s.eng.quickReader().queryRows(ctx, `SELECT count(*) FROM unlinked`, nil, func(r rowScanner) error { return r.Scan(&left) }); err != nil || left <= purgeBacklog {
			return
		}
		if more, err := s.purgeStep(ctx); err != nil || !more {
			return
		}
	}
}

// purgeIdle is how often the purger looks for work it was not told of
// (an unlink committed by a transaction, or by another store on the
// database); tests set another per store (withPurgeIdle).
const purgeIdle = 2 * time.Second

// unlinkSQLite unlinks namespace id (named name) in the caller's
// transaction: keep moves its row to a fresh id, else the caller deletes
// the row. The declared fields go with the row (Clear) or are deleted
// (DeleteNamespace); the index rows stay for the purger.
func unlinkSQLite(ctx context.Context, q querier, id int64, name string, keep bool, now time.Time) error {
	// The change log's new entries not yet folded into entry_count are
	// counted by name (namespace_counts): fold them now, as a namespace's
	// delete does (trigger namespaces_count_fold), so that none of the old
	// entries counts for the namespace under its new id.
	type stmt struct {
		q    string
		args []any
	}
	stmts := []stmt{
		{`UPDATE change_log_state SET counted_through = max(counted_through, COALESCE((SELECT max(revision) FROM changes), 0)) WHERE id = 1`, nil},
		{`INSERT INTO unlinked (id, name, unlinked_at) VALUES (?, ?, ?)`, []any{id, name, micros(now)}},
	}
	if keep {
		stmts = append(stmts,
			// index_fields references namespaces(id): checked at commit,
			// when both have moved.
			stmt{`PRAGMA defer_foreign_keys = ON`, nil},
			stmt{`UPDATE change_log_state SET namespace_seq = namespace_seq + 1 WHERE id = 1`, nil},
			stmt{`UPDATE namespaces SET id = (SELECT namespace_seq FROM change_log_state WHERE id = 1), entry_count = 0 WHERE id = ?`, []any{id}},
			// The declared fields; not the record of an index being built
			// (createindex.go), whose rows are the old id's: the build
			// fails at its end, as after a DeleteNamespace.
			stmt{`UPDATE index_fields SET namespace_id = (SELECT namespace_seq FROM change_log_state WHERE id = 1)
WHERE namespace_id = ? AND substr(field, 1, ` + strconv.Itoa(len(buildingPrefix)) + `) <> '` + buildingPrefix + `'`, []any{id}},
			stmt{`DELETE FROM index_fields WHERE namespace_id = ?`, []any{id}})
	} else {
		stmts = append(stmts, stmt{`DELETE FROM index_fields WHERE namespace_id = ?`, []any{id}})
	}
	for _, st := range stmts {
		if _, err := q.exec(ctx, st.q, st.args...); err != nil {
			return err
		}
	}
	return nil
}

// unlinkPostgres records namespace id (named name) as unlinked in the
// caller's transaction, which holds its row FOR UPDATE and deletes it
// next (DeleteNamespace); its declared fields, and the record of an index
// being built, are deleted (the build fails at its end). The index rows
// and entries stay for the purger.
func unlinkPostgres(ctx context.Context, q querier, id int64, name string, now time.Time) error {
	if _, err := q.exec(ctx, `INSERT INTO unlinked (id, name, unlinked_at) VALUES ($1, $2, $3)`, id, name, now); err != nil {
		return err
	}
	_, err := q.exec(ctx, `DELETE FROM index_fields WHERE namespace_id = $1`, id)
	return err
}

// purger deletes what unlinkSQLite, unlinkPostgres and PostgreSQL's
// ClearNamespace left, in the background.
type purger struct {
	kick chan struct{}
	stop chan struct{}
	once sync.Once
	done sync.WaitGroup
}

// wake tells the purger there may be work.
func (p *purger) wake() {
	if p == nil {
		return
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// purgerOff (tests) opens stores without a purger: what is unlinked stays
// until purgeWait.
var purgerOff bool

func (s *Store) startPurger() {
	if purgerOff {
		return
	}
	p := &purger{kick: make(chan struct{}, 1), stop: make(chan struct{})}
	s.purger = p
	ctx, cancel := context.WithCancel(background(context.Background()))
	p.done.Add(2)
	go func() {
		defer p.done.Done()
		<-p.stop
		cancel()
	}()
	idle := purgeIdle
	if s.cfg.purgeIdle > 0 {
		idle = s.cfg.purgeIdle
	}
	go func() {
		defer p.done.Done()
		pause := idle
		// The first look waits a pause too (or a wake): Open's own
		// statements come first.
		t := time.NewTimer(idle)
		select {
		case <-p.stop:
			t.Stop()
			return
		case <-p.kick:
			t.Stop()
		case <-t.C:
		}
		for {
			rerr := s.reclaimWithdrawn(ctx)
			more, err := s.purgeStep(ctx)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				err = rerr
			}
			wait := time.Duration(0)
			switch {
			case err != nil:
				// Tried again later (the writer busy, the disk full, the
				// store closing): the unlinked row stays until its purge is
				// done.
				wait = pause
				pause = min(2*pause, time.Minute)
			case !more:
				wait, pause = idle, idle
			default:
				pause = idle
			}
			if wait == 0 {
				continue
			}
			t := time.NewTimer(wait)
			select {
			case <-p.stop:
				t.Stop()
				return
			case <-p.kick:
				t.Stop()
			case <-t.C:
			}
		}
	}()
}

func (s *Store) stopPurger() {
	if s.purger == nil {
		return
	}
	s.purger.once.Do(func() { close(s.purger.stop) })
	s.purger.done.Wait()
}

// purgeStep runs one purge transaction: up to purgeChunk index rows of
// the first unlinked id, else up to purgeChunk of its entries (in key
// order; on SQLite with the change_ends rows of their lives), else the
// removal of its unlinked row. It reports whether anything may be left.
func (s *Store) purgeStep(ctx context.Context) (bool, error) {
	// Looked for with a reader first: a write transaction with nothing to
	// do would still take the writer, and make an idle write transaction
	// look contended (WithTxContendedIdleTimeout).
	var left int64
	if err := s.eng.quickReader().queryRows(ctx, `SELECT count(*) FROM unlinked`, nil, func(r rowScanner) error { return r.Scan(&left) }); err != nil || left == 0 {
		return false, err
	}
	if s.Dialect() == dialect.Postgres {
		return s.purgeStepPostgres(ctx)
	}
	more := false
	err := s.eng.inTx(ctx, func(q querier) error {
		var id int64
		var name string
		found := false
		err := q.queryRows(ctx, `SELECT id, name FROM unlinked ORDER BY id LIMIT 1`, nil, func(r rowScanner) error {
			found = true
			return r.Scan(&id, &name)
		})
		if err != nil || !found {
			return err
		}
		more = true
		n, err := q.exec(ctx, `DELETE FROM index_entries WHERE (ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key) IN (
    SELECT ix_ns, ix_field, ix_rank, ix_num, ix_str, ix_key FROM index_entries WHERE ix_ns = ? LIMIT ?)`, id, s.purgeRows())
		if err != nil || n > 0 {
			return err
		}
		var last string
		got := false
		err = q.queryRows(ctx, `SELECT max(key) FROM (SELECT key FROM entries WHERE namespace_id = ? ORDER BY key LIMIT ?) HAVING count(*) > 0`,
			[]any{id, s.purgeRows()}, func(r rowScanner) error {
				got = true
				return r.Scan(&last)
			})
		if err != nil {
			return err
		}
		if !got {
			// A CreateIndex under way when the namespace was cleared may
			// have indexed entries since the index rows went (at most
			// its last chunk): with the entries gone, none can come.
			if _, err := q.exec(ctx, `DELETE FROM index_entries WHERE ix_ns = ?`, id); err != nil {
				return err
			}
			_, err := q.exec(ctx, `DELETE FROM unlinked WHERE id = ?`, id)
			return err
		}
		// What trigger change_ends_delete wrote when the namespace's row
		// was there: where each key's last life ended.
		if _, err := q.exec(ctx, `INSERT OR IGNORE INTO change_ends (namespace, key, revision)
SELECT ?, key, revision FROM entries WHERE namespace_id = ? AND key <= ?`, name, id, last); err != nil {
			return err
		}
		_, err = q.exec(ctx, `DELETE FROM entries WHERE namespace_id = ? AND key <= ?`, id, last)
		return err
	})
	return more, err
}

// purgeStepPostgres is purgeStep on PostgreSQL: the first unlinked id no
// other store's purger holds (FOR UPDATE SKIP LOCKED), in a transaction
// that takes no revision (its statements go around revDB) and locks only
// the unlinked row and the rows it deletes, which no write can reach (no
// namespace has their id). The entries' delete trigger finds no namespace
// row and no declared field for the id: it changes nothing else.
func (s *Store) purgeStepPostgres(ctx context.Context) (bool, error) {
	more := false
	err := s.eng.inTx(ctx, func(q querier) error {
		var id int64
		found := false
		err := q.queryRows(ctx, `SELECT id FROM unlinked ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`, nil, func(r rowScanner) error {
			found = true
			return r.Scan(&id)
		})
		if err != nil || !found {
			return err
		}
		more = true
		n, err := q.exec(ctx, `DELETE FROM index_entries WHERE ctid = ANY (ARRAY (
    SELECT ctid FROM index_entries WHERE ix_ns = $1 LIMIT $2))`, id, s.purgeRows())
		if err != nil || n > 0 {
			return err
		}
		n, err = q.exec(ctx, `DELETE FROM entries WHERE namespace_id = $1 AND key = ANY (ARRAY (
    SELECT key FROM entries WHERE namespace_id = $1 ORDER BY key LIMIT $2))`, id, s.purgeRows())
		if err != nil || n > 0 {
			return err
		}
		// A CreateIndex under way when the namespace was cleared may have
		// indexed entries since the index rows went (its chunk in flight
		// holds the record of the build FOR SHARE, which the Clear moves
		// or deletes, so the Clear waited for it; this is for safety):
		// with the entries gone, none can come.
		if _, err := q.exec(ctx, `DELETE FROM index_entries WHERE ix_ns = $1`, id); err != nil {
			return err
		}
		_, err = q.exec(ctx, `DELETE FROM unlinked WHERE id = $1`, id)
		return err
	})
	return more, err
}

// purgeWait (tests) runs the purge to its end in the caller's goroutine.
func (s *Store) purgeWait(ctx context.Context) error {
	for {
		more, err := s.purgeStep(ctx)
		if err != nil || !more {
			return err
		}
	}
}
