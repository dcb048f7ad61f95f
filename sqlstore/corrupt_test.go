package sqlstore

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/txmanager"
)

// corruptFixture fills a store with what every read path touches: a
// namespace with metadata and an indexed field, entries with metadata, an
// expiry and a history.
func corruptFixture(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	must(t, s.CreateNamespace(ctx, "n", storage.WithIndexes("f"), storage.WithNamespaceMetadata(map[string]any{"m": 1})))
	in := storage.InNamespace("n")
	for i, k := range []string{"k1", "k2", "k3"} {
		must(t, s.Set(ctx, k, map[string]any{"f": i, "g": "x"}, in, storage.WithMetadata(map[string]any{"a": i}), storage.WithTTL(time.Hour)))
		must(t, s.Set(ctx, k, map[string]any{"f": i + 10, "g": "y"}, in, storage.WithMetadata(map[string]any{"a": i})))
	}
	// A namespace without indexes, whose values no trigger reads.
	must(t, s.Set(ctx, "d", map[string]any{"g": "y"}, storage.InNamespace("p")))
}

// corruptOps runs the store's reads and writes on the fixture's data and
// records every error in l: each must wrap exactly one sentinel, with no
// driver text.
func corruptOps(t *testing.T, s *Store, l *faultLog) {
	ctx := t.Context()
	in := storage.InNamespace("n")
	rec := func(what string, err error) { l.typed(what, err, false) }
	_, err := s.Get(ctx, "k1", in)
	rec("Get", err)
	_, err = s.Has(ctx, "k2", in)
	rec("Has", err)
	_, err = s.GetMany(ctx, []string{"k1", "k2", "k3"}, in)
	rec("GetMany", err)
	_, err = s.List(ctx, in)
	rec("List", err)
	_, err = s.Query(ctx, storage.Gte("f", 0), in)
	rec("Query indexed", err)
	_, err = s.Query(ctx, storage.Eq("g", "y"), in, storage.SortBy(storage.Asc("f")))
	rec("Query sorted", err)
	_, err = s.Count(ctx, in)
	rec("Count", err)
	_, err = s.Count(ctx, in, storage.Where(storage.Gte("f", 0)))
	rec("Count filtered", err)
	_, err = s.GetMetadata(ctx, "k1", in)
	rec("GetMetadata", err)
	_, err = s.History(ctx, "k1", in)
	rec("History", err)
	_, err = s.Get(ctx, "k1", in, storage.AtRevision(2))
	rec("Get AtRevision", err)
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	for _, err := range s.Watch(wctx, storage.FromRevision(1)) {
		if err != nil {
			l.typed("Watch", err, true)
			break
		}
	}
	cancel()
	_, err = s.Get(ctx, "d", storage.InNamespace("p"))
	rec("Get p", err)
	_, err = s.Query(ctx, storage.Eq("g", "y"), storage.InNamespace("p"))
	rec("Query p", err)
	_, err = s.ListNamespaces(ctx)
	rec("ListNamespaces", err)
	_, err = s.Status(ctx)
	rec("Status", err)
	rec("Set", s.Set(ctx, "k1", map[string]any{"f": 5}, in))
	rec("SetMetadata", s.SetMetadata(ctx, "k2", map[string]any{"b": 1}, in, storage.Merge()))
	_, err = s.SetMany(ctx, []storage.Item{{Key: "k3", Value: 1}, {Key: "k4", Value: 2}}, in)
	rec("SetMany", err)
	rec("RunInTx", txmanager.RunInTx(ctx, s, storage.TxOptions{}, func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, "k2", in); err != nil {
			return err
		}
		return tx.Set(ctx, "k2", 3, in)
	}))
	rec("Delete", s.Delete(ctx, "k2", in))
	_, err = s.DeleteMany(ctx, []string{"k3"}, in)
	rec("DeleteMany", err)
	_, err = s.Sweep(ctx)
	rec("Sweep", err)
	rec("Clear", s.Clear(ctx, in))
	rec("DeleteNamespace", s.DeleteNamespace(ctx, "n", storage.Recursive()))
}

// wantCorruptOps runs corruptOps, and fails unless at least one operation
// returned ErrCorrupt.
func wantCorruptOps(t *testing.T, s *Store, l *faultLog) {
	t.Helper()
	corruptOps(t, s, l)
	l.report(t)
	if l.counts[storage.ErrCorrupt.Error()] == 0 {
		t.Errorf("no operation returned ErrCorrupt")
	}
}

// TestCorruptRows changes the rows of every table the engine reads from
// outside the engine, to values of the wrong type or shape, and runs every
// operation: each error must be a documented sentinel (ErrCorrupt for what
// cannot be read), never the driver's text or an untyped error.
func TestCorruptRows(t *testing.T) {
	// quiet: the engine reads around the change (no error needed).
	type change struct {
		sqlite, pg string
		quiet      bool
	}
	changes := []change{
		{`UPDATE entries SET expires_at = 'infinity'`, ``, false},
		{`UPDATE entries SET created_at = 'x'`, ``, false},
		{`UPDATE entries SET updated_at = 1.5`, ``, false},
		{`UPDATE entries SET version = 'v'`, ``, false},
		{`UPDATE entries SET revision = 'r'`, ``, false},
		{`UPDATE entries SET create_revision = x'00'`, ``, false},
		{`UPDATE entries SET value = 'not json' WHERE key = 'd'`, ``, false},
		{`UPDATE entries SET value = x'ff00ff' WHERE key = 'd'`, ``, false},
		{`UPDATE entries SET metadata = 'not json'`, `UPDATE entries SET metadata = '[1]'`, false},
		{`UPDATE entries SET metadata = x'ff'`, `UPDATE entries SET metadata = '"s"'`, false},
		{`UPDATE entries SET key = x'ff' WHERE key = 'k1'`, ``, true},
		{`UPDATE entries SET created_by = 1`, ``, true},
		{`UPDATE changes SET value = 'not json'`, ``, false},
		{`UPDATE changes SET metadata = x'ff'`, ``, false},
		{``, `UPDATE changes SET metadata = '1'`, true},
		{`UPDATE changes SET created_at = 'x'`, ``, false},
		{`UPDATE changes SET version = 'x'`, ``, false},
		{`UPDATE changes SET expires_at = 'x'`, ``, false},
		{`UPDATE changes SET prev_revision = 'x'`, ``, false},
		{`UPDATE changes SET entry_created_at = 'x'`, ``, false},
		{`UPDATE namespaces SET metadata = 'not json'`, `UPDATE namespaces SET metadata = '[1]'`, false},
		{`UPDATE namespaces SET created_at = 'x'`, ``, false},
		{`UPDATE namespaces SET entry_count = 'x'`, `UPDATE namespaces SET entry_count = -5`, true},
		{`UPDATE namespaces SET indexes = 'not json'`, `UPDATE namespaces SET indexes = '{"x": 1}'`, false},
		{`UPDATE namespaces SET owner = 1`, ``, true},
		{`UPDATE index_entries SET ix_num = 'x'`, ``, false},
		{`UPDATE index_entries SET ix_entry = 'x'`, ``, true},
		{`UPDATE index_fields SET path = 'x'`, ``, false},
		{`UPDATE change_log_state SET compacted_through = 'x'`, ``, false},
		{`ALTER TABLE entries DROP COLUMN created_by`, `ALTER TABLE entries DROP COLUMN created_by`, false},
		{`DROP TABLE change_ends`, `ALTER TABLE changes RENAME TO changes_old`, false},
		{``, `ALTER TABLE namespaces RENAME TO ns_old`, false},
		{``, `ALTER TABLE entries ALTER COLUMN version TYPE text`, false},
		{``, `ALTER TABLE changes ALTER COLUMN created_at TYPE text`, false},
	}
	for _, c := range configs {
		if c.name == "sqlite-memory" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			pg := c.name == "postgres"
			for _, ch := range changes {
				q := ch.sqlite
				if pg {
					q = ch.pg
				}
				if q == "" {
					continue
				}
				t.Run(q, func(t *testing.T) {
					s := openTest(t, c.dsn(t), WithSweepInterval(-1))
					defer func() { _ = s.Close() }()
					corruptFixture(t, s)
					var err error
					if pg {
						_, err = s.Backend().Pool.Exec(t.Context(), q)
					} else {
						err = sqliteOutside(t, s.Backend().Writer, q)
					}
					if err != nil {
						t.Fatalf("%s: %v", q, err)
					}
					if ch.quiet {
						var l faultLog
						corruptOps(t, s, &l)
						l.report(t)
						return
					}
					wantCorruptOps(t, s, &faultLog{})
				})
			}
		})
	}
}

// sqliteOutside runs q as a tool outside the engine would: without the
// engine's triggers (dropped for the statement, then created again), so
// that it changes only what it names.
func sqliteOutside(t *testing.T, db *sql.DB, q string) error {
	ctx := t.Context()
	rows, err := db.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger'`)
	if err != nil {
		return err
	}
	var names, texts []string
	for rows.Next() {
		var n, q string
		if err := rows.Scan(&n, &q); err != nil {
			return err
		}
		names, texts = append(names, n), append(texts, q)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, n := range names {
		if _, err := db.ExecContext(ctx, `DROP TRIGGER "`+n+`"`); err != nil {
			return err
		}
	}
	_, err = db.ExecContext(ctx, q)
	for _, text := range texts {
		if _, err := db.ExecContext(ctx, text); err != nil {
			t.Fatal(err)
		}
	}
	return err
}
