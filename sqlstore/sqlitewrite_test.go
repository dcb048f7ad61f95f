package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/sqlitedb"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestWriterStmtsKept: the SQLite writer's connection prepares the driver
// statements of single Sets and of the transactions' Get, Has and Set once
// (sqlitewrite.go), prepares one again after a failure its context did
// not cause, and finalizes every one when the store closes.
func TestWriterStmtsKept(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, testdb.SQLiteFile(t), WithSweepInterval(-1))
	e := s.eng.(*sqliteEngine)
	st := e.writes.stats
	var keys []string // the keys written, for fresh names
	work := func() {
		t.Helper()
		for i := range 20 {
			k := fmt.Sprintf("k%d", i%5)
			must(t, s.Set(ctx, k, i))
			en, err := s.Get(ctx, k)
			must(t, err)
			must(t, s.Set(ctx, k, i, storage.IfVersion(en.Version)))
			must(t, s.Set(ctx, fmt.Sprintf("out%d-%d", len(keys), i), i, storage.NoOverwrite()))
			tx, err := s.Begin(ctx, storage.TxOptions{})
			must(t, err)
			en, err = tx.Get(ctx, k)
			must(t, err)
			if ok, err := tx.Has(ctx, k); err != nil || !ok {
				t.Fatal(ok, err)
			}
			keys = append(keys, k)
			must(t, tx.Set(ctx, k, en.Value, storage.IfVersion(en.Version)))
			must(t, tx.Set(ctx, fmt.Sprintf("in%d-%d", len(keys), i), 1, storage.NoOverwrite()))
			must(t, tx.Commit(ctx))
		}
	}
	work()
	opened, prepared := st.connsOpened.Load(), st.stmtsPrepared.Load()
	if opened != 1 || prepared == 0 || prepared > numStmts {
		t.Fatalf("%d statements prepared on %d writer connections, want 1 to %d on 1", prepared, opened, numStmts)
	}
	work()
	if got := st.stmtsPrepared.Load(); got != prepared {
		t.Errorf("%d statements prepared after more writes, want %d", got, prepared)
	}

	// A write that fails, not by its context: its statement is finalized
	// and prepared again for the next one.
	_, err := e.writer().exec(ctx, `CREATE TRIGGER refuse BEFORE INSERT ON entries WHEN NEW.key = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END`)
	must(t, err)
	done := st.stmtsDone.Load()
	if err := s.Set(ctx, "refused", 1); err == nil {
		t.Fatal("Set of a refused key succeeded")
	}
	if got := st.stmtsDone.Load(); got != done+1 {
		t.Errorf("%d statements finalized after a failed write, want %d", got, done+1)
	}
	must(t, s.Set(ctx, "k0", 1))
	if got := st.stmtsPrepared.Load(); got != prepared+1 {
		t.Errorf("%d statements prepared after a failed write and another, want %d", got, prepared+1)
	}

	// A cancelled context fails with its error before or as the
	// statement runs, and the store goes on.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Set(cctx, "k1", 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Set with a cancelled context: %v, want context.Canceled", err)
	}
	must(t, s.Set(ctx, "k1", 2))

	must(t, s.Close())
	if p, d := st.stmtsPrepared.Load(), st.stmtsDone.Load(); p != d {
		t.Errorf("after Close: %d writer statements prepared, %d finalized", p, d)
	}
	if o, c := st.connsOpened.Load(), st.connsClosed.Load(); o != c {
		t.Errorf("after Close: %d writer connections opened, %d closed", o, c)
	}
}

// legacySQLiteWrites puts back, on st, the SQLite writes as they ran
// before sqlitewrite.go, for TestWriteCost's "before": a single Set's
// write through database/sql's statement (the statement cache), and a
// transaction's statements through its *sql.Tx (txStmts).
func legacySQLiteWrites(st *Store) {
	e := st.eng.(*sqliteEngine)
	e.wq = legacyWalHookQ{e.wq.(walHookQ)}
	e.writes = nil
}

type legacyWalHookQ struct{ walHookQ }

func (w legacyWalHookQ) upsertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	return w.legacyStepRow(ctx, sqlitedb.UpsertEntrySQL,
		key, paramText(value), optString(md), micros(now), actor, boolInt(exp.Keep), optMicros(exp.At), ns)
}

func (w legacyWalHookQ) insertEntry(ctx context.Context, ns, key string, value, md []byte, exp expiry, now time.Time, actor *string) (wrote, error) {
	return w.legacyStepRow(ctx, sqlitedb.InsertEntrySQL,
		key, paramText(value), optString(md), micros(now), actor, optMicros(exp.At), ns)
}

func (w legacyWalHookQ) updateEntryIf(ctx context.Context, ns, key string, value, md []byte, exp expiry, c cond, now time.Time, actor *string) (wrote, error) {
	return w.legacyStepRow(ctx, sqlitedb.UpdateEntryIfSQL,
		paramText(value), optString(md), micros(now), actor, boolInt(exp.Keep), optMicros(exp.At), ns, key, c.Version, c.Revision)
}

func (w legacyWalHookQ) legacyStepRow(ctx context.Context, stmt string, args ...any) (wrote, error) {
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
	if rows.Next() {
		return wrote{}, errors.New("sqlstore: write returned more than one row")
	}
	return v, rows.Err()
}
