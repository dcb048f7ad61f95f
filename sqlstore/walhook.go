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
// After each of them walHookQ runs one statement that steps to DONE on the
// same connection, which hands SQLite the commit it missed: SQLite then
// checkpoints (PASSIVE) exactly when it would have, with its own page
// count. Transactions need nothing: their COMMIT steps to DONE.
type walHookQ struct {
	sqliteQ
}

// walHookStmt returns no row, so its first step is SQLITE_DONE.
const walHookStmt = "SELECT 1 WHERE 0"

func (w walHookQ) done(ctx context.Context, err error) error {
	if err != nil {
		return err
	}
	// The write has committed: its outcome does not depend on this.
	_, _ = w.db.ExecContext(context.WithoutCancel(ctx), walHookStmt)
	return nil
}

// upsertEntry, the statement of every plain Set, steps its statement to
// SQLITE_DONE itself (reading past its one row) instead of running
// walHookStmt after it: one statement per Set instead of two (the second
// was about 5% of a Set's CPU).
func (w walHookQ) upsertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	rows, err := w.db.QueryContext(ctx, sqlitedb.UpsertEntrySQL,
		key, paramText(value), optString(md), micros(now), actor, boolInt(exp.Keep), optMicros(exp.At), ns)
	if err != nil {
		return wrote{}, err
	}
	defer func() { _ = rows.Close() }()
	var v wrote
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return wrote{}, err
		}
		return wrote{}, errNoRow // no namespace: the caller creates it
	}
	if err := rows.Scan(&v.Version, &v.Revision, &v.CreateRevision); err != nil {
		return wrote{}, err
	}
	if rows.Next() { // SQLITE_DONE: the commit and its WAL hook
		return wrote{}, errors.New("sqlstore: upsert returned more than one row")
	}
	if err := rows.Err(); err != nil {
		return wrote{}, err
	}
	return v, nil
}

func (w walHookQ) insertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	v, err := w.sqliteQ.insertEntry(ctx, ns, key, value, md, exp, now, actor)
	return v, w.done(ctx, err)
}

func (w walHookQ) updateEntryIf(ctx context.Context, ns, key string, value, md []byte, exp expiry, c cond, now time.Time, actor *string) (wrote, error) {
	v, err := w.sqliteQ.updateEntryIf(ctx, ns, key, value, md, exp, c, now, actor)
	return v, w.done(ctx, err)
}
