package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/schema"
)

// TestRevisionsRepeatableReadNoConflict: on PostgreSQL a repeatable-read
// (or serializable) transaction whose snapshot predates another writer's
// commit overwrites other keys without a conflict (revisions come from a
// sequence, not a counter row read FOR UPDATE: migration 00010), and gets
// the next revision after that commit: revisions stay in commit order, and
// a watcher sees both changes. (Overwrites: a write that creates a key
// moves its namespace's entry_count, so two transactions that create keys
// in one namespace still conflict at these levels.)
func TestRevisionsRepeatableReadNoConflict(t *testing.T) {
	for _, level := range []storage.IsolationLevel{storage.LevelRepeatableRead, storage.LevelSerializable} {
		t.Run(level.String(), func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, newPGSchema(t), WithSweepInterval(-1))
			defer s.Close()
			for _, k := range []string{"a", "b", "z"} {
				must(t, s.Set(ctx, k, 1))
			}
			r0 := head(t, s)
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			all := pull(wctx, s, storage.FromRevision(r0))

			tx, err := s.Begin(ctx, storage.TxOptions{Isolation: level})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if _, err := tx.Get(ctx, "a"); err != nil { // takes the snapshot
				t.Fatal(err)
			}
			var other storage.WriteResult
			must(t, s.Set(ctx, "z", 1, storage.Written(&other)))
			var mine storage.WriteResult
			if err := tx.Set(ctx, "b", 2, storage.Written(&mine)); err != nil {
				t.Fatalf("Set in a %s transaction after another writer's commit: %v", level, err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if mine.Revision <= other.Revision {
				t.Errorf("the transaction's revision %d is not after the earlier commit's %d", mine.Revision, other.Revision)
			}
			if got := head(t, s); got != mine.Revision {
				t.Errorf("current revision %d, want %d", got, mine.Revision)
			}
			e, err := s.Get(ctx, "b")
			if err != nil || e.Revision != mine.Revision {
				t.Errorf("Get b: revision %d, %v; the write reported %d", e.Revision, err, mine.Revision)
			}
			for _, want := range []int64{other.Revision, mine.Revision} {
				if ev := next(t, all); ev.Revision != want {
					t.Fatalf("event at %d, want %d", ev.Revision, want)
				}
			}
		})
	}
}

// TestRevisionsNoOpTakesNone: on PostgreSQL a write that changes nothing
// (a delete of a missing key, a create-only write of an existing key, a
// compare-and-swap that fails, a clear of an empty namespace) takes no
// revision from the sequence: the next change is the next revision.
func TestRevisionsNoOpTakesNone(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, newPGSchema(t), WithSweepInterval(-1))
	defer s.Close()
	must(t, s.Set(ctx, "k", 1))
	r := head(t, s)
	_ = s.Delete(ctx, "missing")
	_ = s.Set(ctx, "k", 2, storage.NoOverwrite())
	_ = s.Set(ctx, "k", 2, storage.IfRevision(r+100))
	_ = s.Set(ctx, "missing", 2, storage.MustExist())
	if _, err := s.DeleteMany(ctx, []string{"missing1", "missing2"}); err != nil {
		t.Fatal(err)
	}
	must(t, s.CreateNamespace(ctx, "empty"))
	must(t, s.Clear(ctx, storage.InNamespace("empty")))
	var w storage.WriteResult
	must(t, s.Set(ctx, "k", 3, storage.Written(&w)))
	if w.Revision != r+2 { // r+1: the namespace "empty"
		t.Fatalf("revision %d after writes that changed nothing, want %d", w.Revision, r+2)
	}
}

// TestMigrationRevisionSequence migrates a PostgreSQL store at schema
// version 9 (revisions from the counter row) to 10 (the sequence): the
// current revision carries over, the next write takes the next revision,
// and Down to 9 brings the counter back at the sequence's value, from
// which writes go on after migrating up again.
func TestMigrationRevisionSequence(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	db, m := pgMigrator(t, dsn)
	if _, err := m.UpTo(ctx, 9); err != nil {
		t.Fatal(err)
	}
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Three namespaces (the triggers log them), then an entry and its put,
	// as the engine of version 9 writes them.
	exec(`INSERT INTO namespaces (name, metadata, indexes, created_at) VALUES ('a', '{}', '[]', now()), ('b', '{}', '[]', now())`)
	exec(`WITH r AS (SELECT storage_next_revision() AS r),
	up AS (INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, revision, create_revision)
	       SELECT n.id, 'k', '1', '{}', 1, now(), now(), r.r, r.r FROM namespaces n, r WHERE n.name = 'default')
	INSERT INTO changes (revision, kind, namespace, key, value, metadata, version, created_at)
	SELECT r.r, 'put', 'default', 'k', '1', '{}', 1, now() FROM r`)
	var at9 int64
	if err := db.QueryRowContext(ctx, `SELECT current FROM revision_counter WHERE id = 1`).Scan(&at9); err != nil || at9 != 4 {
		t.Fatalf("revision at version 9: %d, %v; want 4", at9, err)
	}

	s := openTest(t, dsn, WithSweepInterval(-1))
	if v, err := s.eng.schemaVersion(ctx); err != nil || v < 10 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if got := head(t, s); got != at9 {
		t.Errorf("current revision after the migration %d, want %d", got, at9)
	}
	e, err := s.Get(ctx, "k")
	if err != nil || e.Revision != at9 {
		t.Fatalf("Get k: revision %d, %v", e.Revision, err)
	}
	var w storage.WriteResult
	must(t, s.Set(ctx, "k", 2, storage.IfRevision(at9), storage.Written(&w)))
	if w.Revision != at9+1 {
		t.Errorf("first write after the migration: revision %d, want %d", w.Revision, at9+1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := m.DownTo(ctx, 9); err != nil {
		t.Fatal(err)
	}
	var back int64
	if err := db.QueryRowContext(ctx, `SELECT current FROM revision_counter WHERE id = 1`).Scan(&back); err != nil || back != at9+1 {
		t.Fatalf("counter after Down: %d, %v; want %d", back, err, at9+1)
	}
	exec(`SELECT storage_next_revision()`) // version 9's function works again
	s = openTest(t, dsn, WithSweepInterval(-1))
	defer s.Close()
	must(t, s.Set(ctx, "k", 3, storage.Written(&w)))
	if w.Revision != at9+3 {
		t.Errorf("write after Down and Up: revision %d, want %d", w.Revision, at9+3)
	}
}

// TestMigrationRevisionTakeExpressions migrates a PostgreSQL store at
// schema version 15 to 16 (storage_take_revisions as simple expressions)
// with the last taker of revisions a transaction that rolled back: the
// first write after the migration takes its revisions again, as version
// 15's function would have; a rollback under version 16's function is
// given back too; and Down to 15 restores a function that goes on from
// the sequences as they are.
func TestMigrationRevisionTakeExpressions(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	db, m := pgMigrator(t, dsn)
	if _, err := m.UpTo(ctx, 15); err != nil {
		t.Fatal(err)
	}
	// At version 15, a transaction takes three revisions and rolls back.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var before int64
	if err := tx.QueryRowContext(ctx, `SELECT storage_take_revisions(3)`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, dsn, WithSweepInterval(-1))
	if v, err := s.eng.schemaVersion(ctx); err != nil || v < 16 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	var w storage.WriteResult
	must(t, s.Set(ctx, "k", 1, storage.Written(&w)))
	if w.Revision != before+1 {
		t.Errorf("first write after the migration: revision %d, want %d (the rolled-back revisions taken again)", w.Revision, before+1)
	}
	tx2, err := s.Begin(ctx, storage.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	must(t, tx2.Set(ctx, "a", 1))
	must(t, tx2.Set(ctx, "b", 1))
	if err := tx2.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, s.Set(ctx, "k", 2, storage.Written(&w)))
	if w.Revision != before+2 {
		t.Errorf("write after a rolled-back transaction: revision %d, want %d", w.Revision, before+2)
	}
	if got := head(t, s); got != w.Revision {
		t.Errorf("current revision %d, want %d", got, w.Revision)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := m.DownTo(ctx, 15); err != nil {
		t.Fatal(err)
	}
	var taken int64
	if err := db.QueryRowContext(ctx, `SELECT storage_take_revisions(1)`).Scan(&taken); err != nil || taken != w.Revision {
		t.Fatalf("version 15's function after Down: took after %d, %v; want after %d", taken, err, w.Revision)
	}
}

// pgMigrator opens the schema of dsn and a migrator on it (closed at the
// test's end).
func pgMigrator(t *testing.T, dsn string) (*sql.DB, *schema.Migrator) {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	m, err := schema.NewMigrator(schema.Postgres, db)
	if err != nil {
		t.Fatal(err)
	}
	return db, m
}

// TestMigrationEntriesStatementTriggers migrates a PostgreSQL store at
// schema version 16, with entries written there, to 17 (the entry count
// kept by the index statement triggers, the count triggers dropped): the
// count carries on through inserts, upserts that update, creates and
// deletes, and a declared index stays exact; Down to 16 brings the count
// triggers back, which count on from there.
func TestMigrationEntriesStatementTriggers(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	db, m := pgMigrator(t, dsn)
	if _, err := m.UpTo(ctx, 16); err != nil {
		t.Fatal(err)
	}
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	count := func(want int64) {
		t.Helper()
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT entry_count FROM namespaces WHERE name = 'people'`).Scan(&n); err != nil || n != want {
			t.Fatalf("entry_count %d, %v; want %d", n, err, want)
		}
	}
	exec(`INSERT INTO namespaces (name, metadata, indexes, created_at) VALUES ('people', '{}', '[]', now())`)
	exec(`INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, revision, create_revision)
	SELECT n.id, 'k' || lpad(i::text, 2, '0'), jsonb_build_object('age', i % 10), '{}', 1, now(), now(), 0, 0
	FROM namespaces n, generate_series(0, 49) i WHERE n.name = 'people'`)
	exec(`DELETE FROM entries WHERE key IN ('k45', 'k46', 'k47', 'k48', 'k49')`)
	count(45)

	s := openTest(t, dsn, WithSweepInterval(-1))
	if v, err := s.eng.schemaVersion(ctx); err != nil || v < 17 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	in := storage.InNamespace("people")
	must(t, s.CreateIndex(ctx, "people", "age"))
	must(t, s.Set(ctx, "k00", map[string]int{"age": 7}, in)) // the update path: no new entry
	must(t, s.Set(ctx, "k50", map[string]int{"age": 7}, in))
	_, err := s.SetMany(ctx, []storage.Item{{Key: "k51", Value: map[string]int{"age": 7}}, {Key: "k01", Value: map[string]int{"age": 7}}}, in)
	must(t, err)
	must(t, s.Delete(ctx, "k17", in))
	count(46)
	res, err := s.Query(ctx, storage.Eq("age", 7), in)
	must(t, err)
	var keys []string
	for _, e := range res.Entries {
		keys = append(keys, e.Key)
	}
	if want := []string{"k00", "k01", "k07", "k27", "k37", "k50", "k51"}; !slices.Equal(keys, want) {
		t.Errorf("age 7: %v, want %v", keys, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := m.DownTo(ctx, 16); err != nil {
		t.Fatal(err)
	}
	exec(`INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, revision, create_revision)
	SELECT n.id, 'k60', '{"age": 1}', '{}', 1, now(), now(), 0, 0 FROM namespaces n WHERE n.name = 'people'`)
	exec(`DELETE FROM entries WHERE key IN ('k50', 'k51')`)
	count(45)
}
