package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/storetest"
)

// sqliteIndexRows renders index_entries, or (expected) the rows the
// declared fields give the entries as they are now, one string a row,
// sorted.
func sqliteIndexRows(t *testing.T, s *Store, expected bool) []string {
	t.Helper()
	var out []string
	err := s.eng.writer().queryRows(t.Context(), indexRowsQuery(expected), nil, func(r rowScanner) error {
		var v string
		err := r.Scan(&v)
		out = append(out, v)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// sqliteIndexRowsDB is sqliteIndexRows on a database opened without the
// engine.
func sqliteIndexRowsDB(t *testing.T, db *sql.DB, expected bool) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), indexRowsQuery(expected))
	must(t, err)
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var v string
		must(t, rows.Scan(&v))
		out = append(out, v)
	}
	must(t, rows.Err())
	slices.Sort(out)
	return out
}

// indexRowsQuery is the statement of sqliteIndexRows.
func indexRowsQuery(expected bool) string {
	if !expected {
		return `SELECT ix_ns || '|' || ix_field || '|' || ix_rank || '|' || ix_num || '|' || ix_str || '|' || ix_key || '|' || COALESCE(ix_exp, '-') || '|' || ix_entry
FROM index_entries`
	}
	return `SELECT namespace_id || '|' || field_id || '|' ||
       CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
              WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END || '|' ||
       CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0.0 END || '|' ||
       CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END || '|' || key || '|' || COALESCE(expires_at, '-') || '|' || entry_id
FROM (SELECT namespace_id, key, expires_at, entry_id, field_id, path, c, json_type(c, path) AS t
      FROM (SELECT e.namespace_id, e.key, e.expires_at, e.entry_id, f.field_id, f.path, CASE f.col WHEN 1 THEN e.metadata ELSE e.value END AS c
            FROM entries e JOIN index_fields f ON f.namespace_id = e.namespace_id))`
}

// TestMigrationIndexTriggersOnce takes a SQLite store with declared
// indexes, populated at the latest version, down to 29 (the schema then
// that of a store made at 29, the rows unchanged) and up again, updating
// entries with plain SQL at each version (an indexed field through the
// JSON types, removed, a field no index covers, indexed metadata, the
// expiry, a namespace without indexes): index_entries stays exact with
// 00029's triggers and with 00030's.
func TestMigrationIndexTriggersOnce(t *testing.T) {
	ctx := t.Context()
	dsn := testdb.SQLiteFile(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	fillIndexedAndPlain(t, s, 8)
	must(t, s.Close())
	db, m := sqliteMigrator(t, strings.TrimPrefix(dsn, "sqlite:"))
	round := 0
	update := func(step string) {
		t.Helper()
		round++
		for _, q := range []string{
			`UPDATE entries SET value = jsonb_set(value, '$.age', CASE ?1 % 4 WHEN 0 THEN json('true') WHEN 1 THEN 1 WHEN 2 THEN json('null') ELSE 'x' END),
			        revision = revision + 1000 * ?1 WHERE key IN ('k00', 'k03')`,
			`UPDATE entries SET value = jsonb_set(value, '$.other', ?1), revision = revision + 1000 * ?1 WHERE key = 'k01'`,
			`UPDATE entries SET metadata = jsonb_set(metadata, '$.team', 'x' || ?1), revision = revision + 1000 * ?1 WHERE key IN ('k02', 'k04')`,
			`UPDATE entries SET value = CASE ?1 % 2 WHEN 0 THEN jsonb_remove(value, '$.age') ELSE jsonb_set(value, '$.age', ?1) END,
			        revision = revision + 1000 * ?1 WHERE key = 'k05'`,
			`UPDATE entries SET expires_at = 4000000000000000 + ?1 WHERE key IN ('k06', 'k00')`,
		} {
			if _, err := db.ExecContext(ctx, q, round); err != nil {
				t.Fatalf("%s: %s: %v", step, q, err)
			}
		}
		got, want := sqliteIndexRowsDB(t, db, false), sqliteIndexRowsDB(t, db, true)
		if !slices.Equal(got, want) || len(got) == 0 {
			t.Fatalf("%s: index_entries\n%s\nwant\n%s", step, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	update("at the latest version")
	latest := downChecked(t, db, m, 29)
	update("at 29")
	update("at 29 again")
	upChecked(t, db, m, latest)
	update("up again")
	update("up again, twice")
}

// TestIndexRowsThroughUpdates (SQLite) checks index_entries against the
// rows the declared fields give the entries, after each of a sequence of
// writes that change an indexed field, its JSON type (1 and 1.0, a number
// and a string, an array for another), remove it, leave it as it was (with
// the rest of the value changed or not), change an indexed metadata field,
// and set, keep and clear the expiry, batches that move several keys to
// other JSON types, and (in SQL) a key renamed and an entry moved to
// another namespace: the update trigger (migration 00019) leaves
// unchanged rows alone and must still replace every changed one. Rows carry the expiry and entry id.
func TestIndexRowsThroughUpdates(t *testing.T) {
	for _, c := range configs {
		if !strings.HasPrefix(c.name, "sqlite") {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
			s := openTest(t, c.dsn(t), WithClock(clock.Now), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			if err := s.CreateNamespace(ctx, "ix", storage.WithIndexes("n", "a.b", "$metadata.m")); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateNamespace(ctx, "plain"); err != nil {
				t.Fatal(err)
			}
			in := storage.InNamespace("ix")
			later := clock.Now().Add(time.Hour)
			steps := []struct {
				name string
				do   func() error
			}{
				{"insert", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":1,"a":{"b":"x"},"s":"p"}`), in) }},
				{"same value", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":1,"a":{"b":"x"},"s":"p"}`), in) }},
				{"other field", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":1,"a":{"b":"x"},"s":"q"}`), in) }},
				{"n changes", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":2,"a":{"b":"x"}}`), in) }},
				{"n real, same number", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":2.0,"a":{"b":"x"}}`), in) }},
				{"n real", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":2.5,"a":{"b":"x"}}`), in) }},
				{"n string", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":"2.5","a":{"b":"x"}}`), in) }},
				{"n array", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":[1],"a":{"b":"x"}}`), in) }},
				{"n other array", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":[2],"a":{"b":"x"}}`), in) }},
				{"n null", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":null,"a":{"b":"x"}}`), in) }},
				{"n true", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":true,"a":{"b":"x"}}`), in) }},
				{"n false", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":false,"a":{"b":"x"}}`), in) }},
				{"n missing", func() error { return s.Set(ctx, "k", json.RawMessage(`{"a":{"b":"x"}}`), in) }},
				{"a.b changes", func() error { return s.Set(ctx, "k", json.RawMessage(`{"a":{"b":"y"}}`), in) }},
				{"metadata", func() error {
					return s.Set(ctx, "k", json.RawMessage(`{"n":3,"a":{"b":"y"}}`), in, storage.WithMetadata(map[string]any{"m": 7}))
				}},
				{"metadata kept", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":3,"a":{"b":"y"}}`), in) }},
				{"metadata changes", func() error { return s.SetMetadata(ctx, "k", map[string]any{"m": "seven"}, in) }},
				{"expiry set", func() error {
					return s.Set(ctx, "k", json.RawMessage(`{"n":3,"a":{"b":"y"}}`), in, storage.ExpiresAt(later))
				}},
				{"expiry kept, n changes", func() error {
					return s.Set(ctx, "k", json.RawMessage(`{"n":4,"a":{"b":"y"}}`), in, storage.KeepTTL())
				}},
				{"expiry moved", func() error {
					return s.Set(ctx, "k", json.RawMessage(`{"n":4,"a":{"b":"y"}}`), in, storage.ExpiresAt(later.Add(time.Hour)))
				}},
				{"expiry cleared", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":4,"a":{"b":"y"}}`), in) }},
				{"second key", func() error { return s.Set(ctx, "k2", json.RawMessage(`{"n":4,"a":{"b":"y"}}`), in) }},
				{"batch", func() error {
					_, err := s.SetMany(ctx, []storage.Item{
						{Key: "k", Value: json.RawMessage(`{"n":4,"a":{"b":"y"}}`)},
						{Key: "k2", Value: json.RawMessage(`{"n":5,"a":{"b":"y"}}`)},
					}, in)
					return err
				}},
				{"conditional", func() error {
					e, err := s.Get(ctx, "k", in)
					if err != nil {
						return err
					}
					return s.Set(ctx, "k", json.RawMessage(`{"n":6}`), in, storage.IfVersion(e.Version))
				}},
				{"merge", func() error { return s.Set(ctx, "k", json.RawMessage(`{"a":{"b":"z"}}`), in, storage.Merge()) }},
				{"merge, nothing indexed", func() error { return s.Set(ctx, "k", json.RawMessage(`{"s":1}`), in, storage.Merge()) }},
				{"expired, then set", func() error {
					if err := s.Set(ctx, "k3", json.RawMessage(`{"n":9}`), in, storage.ExpiresAt(clock.Now().Add(time.Second))); err != nil {
						return err
					}
					clock.Advance(2 * time.Second)
					return s.Set(ctx, "k3", json.RawMessage(`{"n":9}`), in)
				}},
				{"unindexed namespace", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":1}`), storage.InNamespace("plain")) }},
				{"delete", func() error { return s.Delete(ctx, "k2", in) }},
				{"batch, each key to another type", func() error {
					_, err := s.SetMany(ctx, []storage.Item{
						{Key: "k", Value: json.RawMessage(`{"n":"x","a":{"b":1}}`)},
						{Key: "k3", Value: json.RawMessage(`{"n":null,"a":{"b":[1]}}`)},
						{Key: "k4", Value: json.RawMessage(`{"n":true,"a":{"b":{"c":1}}}`), Metadata: map[string]any{"m": 1.5}},
						{Key: "k5", Value: json.RawMessage(`{"n":{"o":1},"a":"b"}`)},
					}, in)
					return err
				}},
				// Pairs of values whose JSON (or SQL) values compare
				// equal across types: null and missing, true and 1,
				// false and 0, a number and its string.
				{"batch, null to missing, true to 1", func() error {
					_, err := s.SetMany(ctx, []storage.Item{
						{Key: "k", Value: json.RawMessage(`{"n":null,"a":{"b":"1"}}`)},
						{Key: "k3", Value: json.RawMessage(`{"a":{"b":null}}`)},
						{Key: "k4", Value: json.RawMessage(`{"n":1,"a":{"b":false}}`), Metadata: map[string]any{"m": "1.5"}},
						{Key: "k5", Value: json.RawMessage(`{"n":-0.5,"a":{"b":"\u00e9"}}`)},
					}, in)
					return err
				}},
				{"batch, missing to null, 1 to 0, to false", func() error {
					_, err := s.SetMany(ctx, []storage.Item{
						{Key: "k", Value: json.RawMessage(`{"a":{"b":1}}`)},
						{Key: "k3", Value: json.RawMessage(`{"n":null,"a":{"b":false}}`)},
						{Key: "k4", Value: json.RawMessage(`{"n":0,"a":{"b":0}}`)},
						{Key: "k5", Value: json.RawMessage(`{"n":1e300,"a":{"b":"1"}}`)},
					}, in)
					return err
				}},
				{"batch, 0 to false, 1 to true, number to string", func() error {
					_, err := s.SetMany(ctx, []storage.Item{
						{Key: "k", Value: json.RawMessage(`{"a":{"b":true}}`)},
						{Key: "k3", Value: json.RawMessage(`{"n":null,"a":{"b":"false"}}`)},
						{Key: "k4", Value: json.RawMessage(`{"n":false,"a":{"b":"0"}}`)},
						{Key: "k5", Value: json.RawMessage(`{"n":"1e300","a":{"b":1}}`)},
					}, in)
					return err
				}},
				{"metadata removed", func() error { return s.SetMetadata(ctx, "k4", map[string]any{}, in) }},
				// No statement of the engine changes an entry's key or
				// namespace; the update trigger's move case, in SQL.
				{"key renamed", func() error {
					return sqlExec(ctx, s, `UPDATE entries SET key = 'k9', value = value, revision = revision + 100000 WHERE key = 'k4'`)
				}},
				{"key renamed, value changed", func() error {
					return sqlExec(ctx, s, `UPDATE entries SET key = 'k8', value = jsonb('{"n":8}'), revision = revision + 100000 WHERE key = 'k5'`)
				}},
				{"namespace moved", func() error {
					if err := s.CreateNamespace(ctx, "ix2", storage.WithIndexes("a.b", "n")); err != nil {
						return err
					}
					return sqlExec(ctx, s, `UPDATE entries SET namespace_id = (SELECT id FROM namespaces WHERE name = 'ix2'), value = value, revision = revision + 200000 WHERE key = 'k9'`)
				}},
			}
			for _, st := range steps {
				if err := st.do(); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				got, want := sqliteIndexRows(t, s, false), sqliteIndexRows(t, s, true)
				if !slices.Equal(got, want) {
					t.Fatalf("after %s: index_entries\n%s\nwant\n%s", st.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if len(got) == 0 {
					t.Fatalf("after %s: no index rows", st.name)
				}
			}
		})
	}
}

// sqlExec runs q on s's writer connection.
func sqlExec(ctx context.Context, s *Store, q string) error {
	_, err := s.eng.writer().exec(ctx, q)
	return err
}

// TestIndexUpdateRewritesChangedFieldsOnly (SQLite): an update that moves one
// of three declared fields deletes and inserts that field's index row alone
// (migration 00029); before, the rows of all three were rewritten. A
// temporary trigger on the writer's connection counts index_entries rows
// deleted and inserted; TestIndexRowsThroughUpdates checks the rows.
func TestIndexUpdateRewritesChangedFieldsOnly(t *testing.T) {
	for _, c := range configs {
		if !strings.HasPrefix(c.name, "sqlite") {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			if err := s.CreateNamespace(ctx, "ix", storage.WithIndexes("n", "a.b", "$metadata.m")); err != nil {
				t.Fatal(err)
			}
			in := storage.InNamespace("ix")
			md := storage.WithMetadata(map[string]any{"m": 1})
			if err := s.Set(ctx, "k", json.RawMessage(`{"n":1,"a":{"b":"x"}}`), in, md); err != nil {
				t.Fatal(err)
			}
			w := s.eng.writer()
			for _, q := range []string{
				`CREATE TEMP TABLE ix_writes (deleted INTEGER NOT NULL, inserted INTEGER NOT NULL)`,
				`INSERT INTO ix_writes VALUES (0, 0)`,
				`CREATE TEMP TRIGGER ix_writes_delete AFTER DELETE ON main.index_entries BEGIN UPDATE ix_writes SET deleted = deleted + 1; END`,
				`CREATE TEMP TRIGGER ix_writes_insert AFTER INSERT ON main.index_entries BEGIN UPDATE ix_writes SET inserted = inserted + 1; END`,
			} {
				if _, err := w.exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			counts := func() (del, ins int64) {
				t.Helper()
				err := w.queryRows(ctx, `SELECT deleted, inserted FROM ix_writes`, nil, func(r rowScanner) error { return r.Scan(&del, &ins) })
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.exec(ctx, `UPDATE ix_writes SET deleted = 0, inserted = 0`); err != nil {
					t.Fatal(err)
				}
				return del, ins
			}
			steps := []struct {
				name     string
				do       func() error
				del, ins int64
			}{
				{"n moves", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":2,"a":{"b":"x"}}`), in) }, 1, 1},
				{"a.b moves", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":2,"a":{"b":"y"}}`), in) }, 1, 1},
				{"nothing indexed moves", func() error { return s.Set(ctx, "k", json.RawMessage(`{"n":2,"a":{"b":"y"},"s":1}`), in) }, 0, 0},
				{"metadata moves", func() error {
					return s.Set(ctx, "k", json.RawMessage(`{"n":2,"a":{"b":"y"}}`), in, storage.WithMetadata(map[string]any{"m": 2}))
				}, 1, 1},
				{"two move, in a batch", func() error {
					_, err := s.SetMany(ctx, []storage.Item{{Key: "k", Value: json.RawMessage(`{"n":3,"a":{"b":"z"}}`)}}, in)
					return err
				}, 2, 2},
				{"n to a real of the same number", func() error {
					return s.Set(ctx, "k", json.RawMessage(`{"n":3.0,"a":{"b":"z"}}`), in)
				}, 1, 1},
			}
			for _, st := range steps {
				if err := st.do(); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if del, ins := counts(); del != st.del || ins != st.ins {
					t.Errorf("%s: %d index rows deleted, %d inserted; want %d, %d", st.name, del, ins, st.del, st.ins)
				}
				if got, want := sqliteIndexRows(t, s, false), sqliteIndexRows(t, s, true); !slices.Equal(got, want) {
					t.Fatalf("after %s: index_entries\n%s\nwant\n%s", st.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
		})
	}
}
