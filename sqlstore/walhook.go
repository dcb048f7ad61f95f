package sqlstore

import (
	"context"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/mycelia-kernel/storage/internal/sqlitedb"
)

// walHookQ is the querier of the SQLite writer pool outside transactions.
//
// SQLite checkpoints its WAL automatically (wal_autocheckpoint, 1000 pages)
// from the WAL hook, which it calls only when a statement steps to
// SQLITE_DONE in autocommit mode. A single write with RETURNING, read
// through database/sql's QueryRow, steps once (SQLITE_ROW) and is then
// reset: it commits in the reset, and the hook never runs. Every write of
// the store is such a statement, so a store that saw only single writes
// never checkpointed while open and its WAL grew without bound (issue 16).
// walHookQ steps each of them to DONE itself (stepRow), which hands SQLite
// the commit it would otherwise miss: SQLite then checkpoints (PASSIVE)
// exactly when it would have, with its own page count. Transactions need
// nothing: their COMMIT steps to DONE.
type walHookQ struct {
	sqliteQ
	d    *driverReads    // the writer pool's
	comb *sqliteCombiner // the group commit of single Sets (combine.go); nil: off
}

// query runs write statement k: alone when no other single Set is on the
// writer (or its batch did not commit), else in a batch with the others
// that waited (combine.go).
func (w walHookQ) query(ctx context.Context, k int, args []driver.NamedValue, each func([]driver.Value) error) error {
	if w.comb == nil {
		return w.alone(ctx, k, args, each)
	}
	t, held := w.comb.enter(ctx, &sqliteJob{k: k, args: args})
	switch {
	case held:
		defer w.comb.release()
		return w.alone(ctx, k, args, each)
	case t.alone:
		return w.alone(ctx, k, args, each)
	case t.err != nil:
		return t.err
	}
	for _, row := range t.job.rows {
		if err := each(row); err != nil {
			return err
		}
	}
	return nil
}

// alone runs write statement k by itself, in autocommit mode, on the
// writer connection (readConn.write): the caller's context bounds both
// the wait for the connection (a write whose caller gives up first is
// never sent) and the statement, whose wait for another process's lock
// ends with it (the driver's busy handler gives up, and the statement is
// interrupted): a caller who cancels, or whose deadline passes, while
// another process holds the lock has its answer at once, the context's
// error, and nothing was written.
func (w walHookQ) alone(ctx context.Context, k int, args []driver.NamedValue, each func([]driver.Value) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return w.d.on(ctx, w.d.pointPool(), func(rc *readConn) error { return rc.write(ctx, k, args, each) })
}

// upsertEntry, insertEntry and updateEntryIf, the statements of every
// single Set, step their statement to SQLITE_DONE themselves (reading past
// its one row, stepRow) instead of running a second statement after it
// for the hook: one statement per write instead of two (the second was
// about 5% of a Set's CPU). Deletes and metadata changes run in a
// transaction (their change row is written by the engine), whose COMMIT
// steps to DONE. The three run on the driver statements the writer
// connection keeps (d, sqlitewrite.go), not database/sql's.
func (w walHookQ) upsertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	return stepRow(w.query, ctx, writeUpsert, upsertArgs(ns, key, value, md, exp, now, actor))
}

func (w walHookQ) insertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	return stepRow(w.query, ctx, writeInsert, insertArgs(ns, key, value, md, exp, now, actor))
}

func (w walHookQ) updateEntryIf(ctx context.Context, ns, key string, value, md []byte, exp expiry, c cond, now time.Time, actor *string) (wrote, error) {
	return stepRow(w.query, ctx, writeUpdateIf, updateIfArgs(ns, key, value, md, exp, c, now, actor))
}

// batchWriter is the writer of a SQLite store outside transactions
// (walHookQ): it writes a SetMany's items in one statement of their own.
type batchWriter interface {
	upsertBatch(ctx context.Context, ns string, items []batchItem, keep bool, now time.Time, actor *string) ([]keyVersion, error)
}

// upsertBatch runs upsertEntries alone, in autocommit mode: the statement
// reads the revision counter and writes every item or, on an error,
// nothing, by itself, and commits when it steps to SQLITE_DONE (so the WAL
// hook runs), as a single Set does. Inside a transaction the same
// multi-row write makes SQLite keep a statement journal, a copy of every
// page the statement changes so that it can undo the statement alone,
// which spills to a temporary file past 64 KiB: alone the statement is the
// transaction and needs none (bench/results/2026-12-04-sqbatch2.md). No
// rows and no error: the namespace does not exist (the statement selects
// it by name), and nothing was written.
//
// It runs on the writer connection through the driver (readConn.writeText),
// as a single Set does, so that a caller whose context ends as it commits
// is not told it did not write: through database/sql, whose rows close
// when the context ends (the reset then commits the statement), a
// SetMany cancelled as it ran answered the context's error though it had
// written (16 in 400 cancelled SetManys of 50 items).
func (w walHookQ) upsertBatch(ctx context.Context, ns string, items []batchItem, keep bool, now time.Time, actor *string) ([]keyVersion, error) {
	keys, texts, slots := batchItems(items)
	q := sqlitedb.UpsertEntriesSQL
	if keep {
		q = sqlitedb.UpsertEntriesKeepMetadataSQL
	}
	args := ordinals(texts, slots, micros(now), optActor(actor), keys, ns)
	out := make([]keyVersion, 0, len(items))
	err := w.d.on(ctx, w.d.db, func(rc *readConn) error {
		return rc.writeText(ctx, q, args, func(v []driver.Value) error {
			var kv keyVersion
			var ok [4]bool
			kv.Key, ok[0] = v[0].(string)
			kv.Version, ok[1] = v[1].(int64)
			kv.Revision, ok[2] = v[2].(int64)
			kv.CreateRevision, ok[3] = v[3].(int64)
			if !ok[0] || !ok[1] || !ok[2] || !ok[3] {
				return corruptRow(fmt.Sprintf("a batch write returned %T, %T, %T, %T for key, version, revision, create_revision", v[0], v[1], v[2], v[3]))
			}
			out = append(out, kv)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
