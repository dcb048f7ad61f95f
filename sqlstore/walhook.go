package sqlstore

import (
	"context"
	"errors"
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
}

// upsertEntry, insertEntry and updateEntryIf, the statements of every
// single Set, step their statement to SQLITE_DONE themselves (reading past
// its one row, stepRow) instead of running a second statement after it
// for the hook: one statement per write instead of two (the second was
// about 5% of a Set's CPU). Deletes and metadata changes run in a
// transaction (their change row is written by the engine), whose COMMIT
// steps to DONE.
func (w walHookQ) upsertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	return w.stepRow(ctx, sqlitedb.UpsertEntrySQL,
		key, paramText(value), optString(md), micros(now), actor, boolInt(exp.Keep), optMicros(exp.At), ns)
}

func (w walHookQ) insertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	return w.stepRow(ctx, sqlitedb.InsertEntrySQL,
		key, paramText(value), optString(md), micros(now), actor, optMicros(exp.At), ns)
}

func (w walHookQ) updateEntryIf(ctx context.Context, ns, key string, value, md []byte, exp expiry, c cond, now time.Time, actor *string) (wrote, error) {
	return w.stepRow(ctx, sqlitedb.UpdateEntryIfSQL,
		paramText(value), optString(md), micros(now), actor, boolInt(exp.Keep), optMicros(exp.At), ns, key, c.Version, c.Revision)
}

// stepRow runs a write statement returning at most one row of version,
// revision, create_revision, and steps it to SQLITE_DONE: that step
// commits and runs the WAL hook, and a commit error reaches the caller
// through rows.Err. No row is errNoRow, as with QueryRow.
func (w walHookQ) stepRow(ctx context.Context, stmt string, args ...any) (wrote, error) {
	rows, err := w.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return wrote{}, err
	}
	defer func() { _ = rows.Close() }()
	var v wrote
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return wrote{}, err
		}
		return wrote{}, errNoRow
	}
	if err := rows.Scan(&v.Version, &v.Revision, &v.CreateRevision); err != nil {
		return wrote{}, err
	}
	if rows.Next() { // SQLITE_DONE: the commit and its WAL hook
		return wrote{}, errors.New("sqlstore: write returned more than one row")
	}
	if err := rows.Err(); err != nil {
		return wrote{}, err
	}
	return v, nil
}
