package sqlstore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mycelia-kernel/storage"
)

// TestMigrationEntriesNamespaceCheck takes a populated PostgreSQL store
// (declared indexes, a namespace without) down to schema version 19 (the
// foreign key of entries.namespace_id), up to the latest (20 and later:
// the insert trigger checks, migration 00020; later versions leave the
// check alone) and down again. At each version an insert into entries
// under a namespace id that does not exist and the deletion of a namespace
// that still has entries fail with foreign_key_violation (23503), which
// the engine reads as a write that raced the deletion of its namespace,
// while inserts (plain SQL into both namespaces in one statement, and at
// 20 the store's Set and SetMany of new keys) keep entry_count and
// index_entries exact.
func TestMigrationEntriesNamespaceCheck(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	fillIndexedAndPlain(t, s, 20)
	must(t, s.Close())
	db, m := pgMigrator(t, dsn)
	round := 0
	check := func(step string, engine bool) {
		t.Helper()
		round++
		if engine {
			s := openTest(t, dsn, WithSweepInterval(-1), WithoutMigrate())
			for _, ns := range []string{"ix", "plain"} {
				in := storage.InNamespace(ns)
				must(t, s.Set(ctx, fmt.Sprintf("new%02d", round), map[string]any{"age": round}, in))
				items := []storage.Item{
					{Key: fmt.Sprintf("many%02da", round), Value: map[string]any{"age": round}},
					{Key: fmt.Sprintf("many%02db", round), Value: map[string]any{"age": -round}},
				}
				if _, err := s.SetMany(ctx, items, in); err != nil {
					t.Fatalf("%s: SetMany: %v", step, err)
				}
			}
			checkInvariants(t, s)
			must(t, s.Close())
		}
		// Plain SQL: one statement inserting into both namespaces.
		if _, err := db.ExecContext(ctx, `INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, revision, create_revision)
			SELECT n.id, 'sql' || $1::int || k, jsonb_build_object('age', $1::int), '{}', 1, now(), now(), 1, 1
			FROM namespaces n, (VALUES ('a'), ('b')) v(k) WHERE n.name IN ('ix', 'plain')`, round); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		var wrong int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM namespaces n
			WHERE n.entry_count <> (SELECT count(*) FROM entries e WHERE e.namespace_id = n.id)`).Scan(&wrong); err != nil || wrong != 0 {
			t.Errorf("%s: %d namespaces whose entry_count is wrong (%v)", step, wrong, err)
		}
		for _, ns := range []string{"ix", "plain"} {
			checkPGIndexEntries(t, db, step, ns)
		}
		for _, q := range []string{
			`INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, revision, create_revision)
			 VALUES ((SELECT max(id) + 1 FROM namespaces), 'orphan', '1', '{}', 1, now(), now(), 1, 1)`,
			`DELETE FROM namespaces WHERE name = 'plain'`,
		} {
			_, err := db.ExecContext(ctx, q)
			if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "23503" {
				t.Errorf("%s: %s: %v, want foreign_key_violation (23503)", step, q, err)
			}
		}
	}
	check("at the latest version", true)
	if _, err := m.DownTo(ctx, 19); err != nil {
		t.Fatal(err)
	}
	check("down at 19", false)
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	check("up at the latest version", true)
	if _, err := m.DownTo(ctx, 19); err != nil {
		t.Fatal(err)
	}
	check("down at 19 again", false)
}
