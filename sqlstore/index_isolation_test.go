package sqlstore

import (
	"fmt"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestIndexesOfOtherNamespacesCostNothing declares two indexes in each of
// 200 namespaces and checks, structurally (not by timing), that a write to
// a namespace that declared nothing does no more work than before: on
// SQLite the bytecode of an insert, an update and a delete on entries is
// as long as with no index declared anywhere (a per-namespace index on
// entries adds its maintenance to every statement); on PostgreSQL the
// number of indexes on entries is unchanged, and such writes (set,
// setMetadata, delete) leave index_entries untouched in their transaction
// (pg_stat_xact_user_tables), while the same writes in an indexed
// namespace do touch it.
func TestIndexesOfOtherNamespacesCostNothing(t *testing.T) {
	for _, c := range configs[1:] {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			if err := s.CreateNamespace(ctx, "plain"); err != nil {
				t.Fatal(err)
			}
			before := writeWork(t, s)
			for i := range 200 {
				if err := s.CreateNamespace(ctx, fmt.Sprintf("t%03d", i), storage.WithIndexes("age", "$metadata.tag")); err != nil {
					t.Fatal(err)
				}
			}
			after := writeWork(t, s)
			if before != after {
				t.Errorf("a write to entries: %s with no index declared, %s with 200 namespaces declaring 2 each", before, after)
			}
			if s.Dialect() != "postgres" {
				// And every write path leaves index_entries alone in an
				// unindexed namespace, and keeps it in an indexed one.
				for _, ns := range []string{"plain", "t007"} {
					if err := s.Set(ctx, "k", map[string]any{"age": 1}, storage.InNamespace(ns)); err != nil {
						t.Fatal(err)
					}
					if err := s.SetMetadata(ctx, "k", map[string]any{"tag": "x"}, storage.InNamespace(ns)); err != nil {
						t.Fatal(err)
					}
				}
				if got, want := physicalIndexes(t, s), 400; len(got) != want {
					t.Errorf("%d declared fields, want %d", len(got), want)
				}
				return
			}
			pool := s.Backend().Pool
			touched := func(ns string) int64 {
				t.Helper()
				tx, err := pool.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = tx.Rollback(ctx) }()
				id, err := s.readNamespaceID(ctx, ns)
				if err != nil {
					t.Fatal(err)
				}
				for _, stmt := range []string{
					`INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at, revision, create_revision) SELECT $1, 'k', '{"age": 1}', '{}', 1, now(), now(), r, r FROM storage_next_revision() AS r`,
					`UPDATE entries SET metadata = '{"tag": "x"}' WHERE namespace_id = $1 AND key = 'k'`,
					`DELETE FROM entries WHERE namespace_id = $1 AND key = 'k'`,
				} {
					if _, err := tx.Exec(ctx, stmt, id); err != nil {
						t.Fatal(err)
					}
				}
				var n int64
				if err := tx.QueryRow(ctx, `SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables WHERE relid = 'index_entries'::regclass`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := touched("plain"); n != 0 {
				t.Errorf("writes to an unindexed namespace changed %d index_entries rows", n)
			}
			if n := touched("t007"); n == 0 {
				t.Errorf("writes to an indexed namespace changed no index_entries row")
			}
		})
	}
}

// writeWork describes the work of a write to entries: SQLite, the number
// of instructions of an insert, an update and a delete; PostgreSQL, the
// number of indexes on entries.
func writeWork(t *testing.T, s *Store) string {
	t.Helper()
	ctx := t.Context()
	if s.Dialect() == "postgres" {
		var n int
		if err := s.Backend().Pool.QueryRow(ctx, `SELECT count(*) FROM pg_index WHERE indrelid = 'entries'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d indexes on entries", n)
	}
	out := ""
	for _, stmt := range []string{
		`INSERT INTO entries (namespace_id, key, value, metadata, version, created_at, updated_at) VALUES (1, ?, jsonb('{}'), jsonb('{}'), 1, 0, 0)`,
		`UPDATE entries SET value = jsonb('{}'), metadata = jsonb('{}') WHERE namespace_id = 1 AND key = ?`,
		`DELETE FROM entries WHERE namespace_id = 1 AND key = ?`,
	} {
		n := 0
		err := s.eng.reader().queryRows(ctx, "EXPLAIN "+stmt, []any{"k"}, func(r rowScanner) error {
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf("%d ", n)
	}
	return out + "instructions"
}
