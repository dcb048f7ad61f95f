package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mycelia-kernel/storage"
)

// TestIndexTriggersWaitForCreateIndex checks, on PostgreSQL, the triggers
// of migration 00024 against a CreateIndex that holds the namespace row:
// an insert into entries (the insert trigger) and an update of an entry
// (the update trigger) of a namespace that declared nothing, by plain SQL,
// wait for the namespace row that CreateIndex's transaction holds FOR
// UPDATE after it recorded and filled the field. When it commits, the
// triggers must see the new declaration (from the newest version of the
// row) and index the write: index_entries must equal what index_rows
// computes from entries. A trigger that decided from its statement's
// snapshot (taken before the wait) would skip the write's index rows.
// (The engine's own writes wait earlier, for the revision lock that
// CreateIndex's transaction also holds; plain SQL takes no such lock.)
func TestIndexTriggersWaitForCreateIndex(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	t.Cleanup(func() { _ = s.Close() })
	db, _ := pgMigrator(t, dsn)
	for _, c := range []struct {
		name  string
		write string // the racing write; $1 the namespace
	}{
		{"insert", `INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, revision, create_revision)
			SELECT id, 'new', '{"age": 7}', '{}', 1, now(), now(), 1, 1 FROM namespaces WHERE name = $1`},
		{"update", `UPDATE entries SET value = '{"age": 7}' WHERE key = 'old' AND namespace_id = (SELECT id FROM namespaces WHERE name = $1)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			ns := "race" + c.name
			in := storage.InNamespace(ns)
			must(t, s.CreateNamespace(ctx, ns))
			must(t, s.Set(ctx, "old", map[string]any{"age": 1}, in))
			fields, err := parseIndexes([]string{"age"})
			must(t, err)
			filled := make(chan struct{})
			release := make(chan struct{})
			created := make(chan error, 1)
			go func() {
				// CreateIndex's transaction, paused before its commit.
				created <- s.yieldingTx(ctx, func(q querier) error {
					cur, err := s.declaredIn(ctx, q, ns)
					if err != nil {
						return err
					}
					if err := q.restoreNamespaceIndexes(ctx, cur.ID, encodeIndexes([]string{"age"})); err != nil {
						return err
					}
					if err := s.addIndexFields(ctx, q, cur.ID, fields); err != nil {
						return err
					}
					close(filled)
					<-release
					return nil
				})
			}()
			select {
			case <-filled:
			case err := <-created:
				t.Fatalf("CreateIndex: %v", err)
			}
			wrote := make(chan error, 1)
			go func() {
				_, err := db.ExecContext(ctx, c.write, ns)
				wrote <- err
			}()
			waitForLockWait(ctx, t, db, wrote)
			close(release)
			must(t, <-created)
			must(t, <-wrote)
			s.nsIDs.forget(ns)
			checkPGIndexEntries(t, db, c.name, ns)
			var n int
			must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM index_entries i JOIN namespaces n ON n.id = i.ix_ns
				WHERE n.name = $1 AND i.ix_num = 7`, ns).Scan(&n))
			if n != 1 {
				t.Errorf("%s: %d index rows with age 7, want 1", c.name, n)
			}
		})
	}
}

// waitForLockWait returns once a backend of the cluster waits for a row
// lock (a transaction id, as a row lock's wait is);
// it fails the test if done reports first or after 20 seconds.
func waitForLockWait(ctx context.Context, t *testing.T, db *sql.DB, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'transactionid' AND state = 'active'`).Scan(&n))
		if n > 0 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the write ended without waiting for the namespace row: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatal(fmt.Errorf("no backend waited for a lock within 20 s"))
}

// TestMigrationTriggerStatements takes a populated PostgreSQL store
// (declared indexes, a namespace without) from the latest schema version
// down to 23 (before migration 00024) and up again. At each version plain
// SQL inserts (into both namespaces in one statement), updates of an
// indexed value (one whose index row had gone missing) and deletes, and at the latest version the store's writes
// too (the engine needs that version), keep entry_count and index_entries
// exact; an insert into the change log still notifies; and the trigger
// functions are those of the version.
func TestMigrationTriggerStatements(t *testing.T) {
	ctx := t.Context()
	// Another store's schema, made first, holds functions of the same
	// names at the latest version: the checks below must read this
	// schema's (an unqualified pg_proc lookup read another test's and
	// failed CI at "down at 23").
	must(t, openTest(t, newPGSchema(t), WithSweepInterval(-1)).Close())
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	fillIndexedAndPlain(t, s, 20)
	must(t, s.Close())
	db, m := pgMigrator(t, dsn)
	pool, err := pgxpool.New(ctx, dsn)
	must(t, err)
	t.Cleanup(pool.Close)
	listener, err := pool.Acquire(ctx)
	must(t, err)
	t.Cleanup(listener.Release)
	// The channel is storage_changes up to version 26, the store's own
	// (storage_notify_channel()) from 00027 on: listen on both.
	var own string
	must(t, db.QueryRowContext(ctx, "SELECT 'storage_changes_' || 'storage_revision'::regclass::oid::text").Scan(&own))
	for _, ch := range []string{"storage_changes", own} {
		_, err = listener.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize())
		must(t, err)
	}
	round := 0
	check := func(step string, at24 bool) {
		t.Helper()
		round++
		for { // drain the notifications of earlier rounds
			wait, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, err := listener.Conn().WaitForNotification(wait)
			cancel()
			if err != nil {
				break
			}
		}
		if at24 {
			engineWrites(t, dsn, round)
		}
		for _, q := range []string{
			`INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, revision, create_revision)
			 SELECT n.id, 'sql' || $1::int || k, jsonb_build_object('age', $1::int), '{}', 1, now(), now(), 1, 1
			 FROM namespaces n, (VALUES ('a'), ('b')) v(k) WHERE n.name IN ('ix', 'plain')`,
			// k10's index row of age goes missing: the update's trigger
			// inserts the new one all the same.
			`DELETE FROM index_entries WHERE ix_key = 'k10' AND $1::int > 0 AND (ix_ns, ix_field) IN
			 (SELECT namespace_id, field_id FROM index_fields WHERE field = 'age')`,
			`UPDATE entries SET value = jsonb_build_object('age', 200 + $1::int) WHERE key = 'k10'`,
			`DELETE FROM entries WHERE key = 'k' || (10 + $1::int)`,
			`INSERT INTO changes (revision, kind, namespace, key, created_at) VALUES (1000000 + $1::int, 'put', 'plain', 'sql', now())`,
			`DELETE FROM changes WHERE revision = 1000000 + $1::int`,
		} {
			if _, err := db.ExecContext(ctx, q, round); err != nil {
				t.Fatalf("%s: %s: %v", step, q, err)
			}
		}
		var wrong int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM namespaces n
			WHERE n.entry_count <> (SELECT count(*) FROM entries e WHERE e.namespace_id = n.id)`).Scan(&wrong); err != nil || wrong != 0 {
			t.Errorf("%s: %d namespaces whose entry_count is wrong (%v)", step, wrong, err)
		}
		for _, ns := range []string{"ix", "plain"} {
			checkPGIndexEntries(t, db, step, ns)
		}
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := listener.Conn().WaitForNotification(wait)
		cancel()
		if err != nil {
			t.Errorf("%s: no notification on the store's channel: %v", step, err)
		}
		for fn, mark := range map[string]string{
			"changes_notify":       "done := pg_notify(",
			"entries_index_insert": "IF NOT indexed THEN",
			"entries_index_update": "IF NOT indexed THEN",
		} {
			var src string
			must(t, db.QueryRowContext(ctx, `SELECT p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
				WHERE p.proname = $1 AND n.nspname = current_schema()`, fn).Scan(&src))
			if strings.Contains(src, mark) != at24 {
				t.Errorf("%s: %s holds %q: %v, want %v", step, fn, mark, !at24, at24)
			}
		}
	}
	check("at the latest version", true)
	if _, err := m.DownTo(ctx, 23); err != nil {
		t.Fatal(err)
	}
	check("down at 23", false)
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	check("up at the latest version", true)
}

// engineWrites opens a store on dsn and writes in namespaces ix and plain
// (fillIndexedAndPlain): a Set of a new key, a Set over a live key that
// changes an indexed value, a SetMany of new keys and a Delete; then it
// checks the store's invariants.
func engineWrites(t *testing.T, dsn string, round int) {
	t.Helper()
	ctx := t.Context()
	s := openTest(t, dsn, WithSweepInterval(-1), WithoutMigrate())
	for _, ns := range []string{"ix", "plain"} {
		in := storage.InNamespace(ns)
		must(t, s.Set(ctx, fmt.Sprintf("new%02d", round), map[string]any{"age": round}, in))
		must(t, s.Set(ctx, "k01", map[string]any{"age": 100 + round}, in))
		items := []storage.Item{
			{Key: fmt.Sprintf("many%02da", round), Value: map[string]any{"age": round}},
			{Key: fmt.Sprintf("many%02db", round), Value: map[string]any{"age": -round}},
		}
		if res, err := s.SetMany(ctx, items, in); err != nil || !res.OK() {
			t.Fatalf("SetMany: %v %v", err, res.Err())
		}
		if err := s.Delete(ctx, fmt.Sprintf("k%02d", 1+round), in); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	checkInvariants(t, s)
	must(t, s.Close())
}
