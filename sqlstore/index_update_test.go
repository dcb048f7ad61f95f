package sqlstore

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
)

// sqliteIndexRows renders index_entries, or (expected) the rows the
// declared fields give the entries as they are now, one string a row,
// sorted.
func sqliteIndexRows(t *testing.T, s *Store, expected bool) []string {
	t.Helper()
	q := `SELECT ix_ns || '|' || ix_field || '|' || ix_rank || '|' || ix_num || '|' || ix_str || '|' || ix_key || '|' || COALESCE(ix_exp, '-')
FROM index_entries`
	if expected {
		q = `SELECT namespace_id || '|' || field_id || '|' ||
       CASE t WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4
              WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END || '|' ||
       CASE WHEN t IN ('integer', 'real') THEN CAST(json_extract(c, path) AS REAL) ELSE 0.0 END || '|' ||
       CASE WHEN t = 'text' THEN json_extract(c, path) ELSE '' END || '|' || key || '|' || COALESCE(expires_at, '-')
FROM (SELECT namespace_id, key, expires_at, field_id, path, c, json_type(c, path) AS t
      FROM (SELECT e.namespace_id, e.key, e.expires_at, f.field_id, f.path, CASE f.col WHEN 1 THEN e.metadata ELSE e.value END AS c
            FROM entries e JOIN index_fields f ON f.namespace_id = e.namespace_id))`
	}
	var out []string
	err := s.eng.writer().queryRows(t.Context(), q, nil, func(r rowScanner) error {
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

// TestIndexRowsThroughUpdates (SQLite) checks index_entries against the
// rows the declared fields give the entries, after each of a sequence of
// writes that change an indexed field, its JSON type (1 and 1.0, a number
// and a string, an array for another), remove it, leave it as it was (with
// the rest of the value changed or not), change an indexed metadata field,
// and set, keep and clear the expiry: the update trigger (migration 00019)
// leaves unchanged rows alone and must still replace every changed one.
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
