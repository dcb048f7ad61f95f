package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestIndexExactAfterOverwrites overwrites entries in a namespace with
// declared indexes (a field of the value, one of the metadata) and in one
// without, then declares and drops indexes on the existing data and
// overwrites again: an indexed field changed, a field nobody indexes
// changed, the same value again, the metadata alone, an expiry given,
// kept, and taken away, SetMany over existing and new keys, deletes.
// After each step every declared index answers Query and Count as the
// reference evaluator does over the namespace's entries, and on
// PostgreSQL index_entries holds exactly the rows (with the expiry copy)
// that index_rows computes from entries (migration 00018: the update
// trigger fires per row, only when the value, metadata or expiry changed,
// and does nothing in a namespace that declares no field).
func TestIndexExactAfterOverwrites(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := c.dsn(t)
			s := openTest(t, dsn, WithSweepInterval(-1))
			t.Cleanup(func() { _ = s.Close() })
			var db *sql.DB
			if s.Dialect() == "postgres" {
				db, _ = pgMigrator(t, dsn)
			}
			fillIndexedAndPlain(t, s, 30)
			fields := map[string][]string{"ix": {"age", "$metadata.team"}, "plain": nil}
			check := func(step string) {
				t.Helper()
				for ns, fs := range fields {
					checkDeclaredIndexes(ctx, t, s, db, step, ns, fs)
				}
			}
			overwrite := func(ns string) {
				t.Helper()
				in := storage.InNamespace(ns)
				must(t, s.Set(ctx, "k00", map[string]any{"age": 9, "other": 0}, in))   // indexed field changed
				must(t, s.Set(ctx, "k01", map[string]any{"age": 1, "other": 100}, in)) // another field changed
				must(t, s.Set(ctx, "k02", map[string]any{"age": 2, "other": 2}, in))   // the same value
				must(t, s.Set(ctx, "k03", map[string]any{"age": 3, "other": 3}, in,    // metadata alone
					storage.WithMetadata(map[string]any{"team": "t9"})))
				must(t, s.Set(ctx, "k04", map[string]any{"age": 4, "other": 4}, in, storage.WithTTL(time.Hour))) // expiry given
				must(t, s.Set(ctx, "k04", map[string]any{"age": 8, "other": 4}, in, storage.KeepTTL()))          // kept, field changed
				must(t, s.Set(ctx, "k05", map[string]any{"age": 0, "other": 5}, in, storage.WithTTL(time.Hour)))
				must(t, s.Set(ctx, "k05", map[string]any{"age": 0, "other": 5}, in)) // expiry taken away
				must(t, s.Set(ctx, "k06", map[string]any{"age": "six"}, in))         // number to string
				must(t, s.Set(ctx, "k07", map[string]any{"other": 7}, in))           // field gone
				res, err := s.SetMany(ctx, []storage.Item{
					{Key: "k08", Value: map[string]any{"age": 7}},
					{Key: "k09", Value: map[string]any{"age": 4, "other": 9}},
					{Key: "k10", Value: map[string]any{"age": 7}, Metadata: map[string]any{"team": "t7"}},
					{Key: "k50", Value: map[string]any{"age": 7}},
				}, in)
				if err != nil || !res.OK() {
					t.Fatalf("SetMany: %v %v", err, res.Err())
				}
				must(t, s.Delete(ctx, "k11", in))
			}
			check("filled")
			overwrite("ix")
			overwrite("plain")
			check("overwritten")

			// Indexes declared and dropped on namespaces that hold data.
			must(t, s.CreateIndex(ctx, "plain", "age"))
			must(t, s.DropIndex(ctx, "ix", "$metadata.team"))
			fields["plain"], fields["ix"] = []string{"age"}, []string{"age"}
			check("indexes changed")
			for _, ns := range []string{"ix", "plain"} {
				in := storage.InNamespace(ns)
				must(t, s.Set(ctx, "k12", map[string]any{"age": 1}, in))
				must(t, s.Set(ctx, "k13", map[string]any{"age": 3}, in, storage.WithMetadata(map[string]any{"team": "t0"})))
				must(t, s.Set(ctx, "k14", map[string]any{"age": 4, "other": 14}, in, storage.WithTTL(2*time.Hour)))
				must(t, s.Set(ctx, "k00", map[string]any{"age": 2}, in))
			}
			check("overwritten again")
		})
	}
}

// fillIndexedAndPlain creates namespace "ix", which declares "age" and
// "$metadata.team", and "plain", which declares nothing, and writes n
// entries k00, k01, ... to each: value {"age": i%5, "other": i}, metadata
// {"team": "t" + i%3}.
func fillIndexedAndPlain(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := t.Context()
	must(t, s.CreateNamespace(ctx, "ix", storage.WithIndexes("age", "$metadata.team")))
	must(t, s.CreateNamespace(ctx, "plain"))
	for _, ns := range []string{"ix", "plain"} {
		items := make([]storage.Item, n)
		for i := range items {
			items[i] = storage.Item{Key: fmt.Sprintf("k%02d", i), Value: map[string]any{"age": i % 5, "other": i},
				Metadata: map[string]any{"team": fmt.Sprint("t", i%3)}}
		}
		if res, err := s.SetMany(ctx, items, storage.InNamespace(ns)); err != nil || !res.OK() {
			t.Fatalf("SetMany: %v %v", err, res.Err())
		}
	}
}

// checkDeclaredIndexes compares what each declared field of namespace ns answers
// (Query and Count by Eq on every value the entries hold) with the
// reference evaluator over the namespace's entries; on PostgreSQL it also
// compares index_entries with index_rows over entries, row for row.
func checkDeclaredIndexes(ctx context.Context, t *testing.T, s *Store, db *sql.DB, step, ns string, fields []string) {
	t.Helper()
	in := storage.InNamespace(ns)
	all, err := s.Query(ctx, storage.All(), in)
	must(t, err)
	for _, field := range fields {
		values := map[string]any{}
		for _, e := range all.Entries {
			var v any
			switch field {
			case "age":
				v = decodeField(t, e.Value, "age")
			default:
				v = decodeField(t, e.Metadata, "team")
			}
			if v != nil {
				values[fmt.Sprint(v)] = v
			}
		}
		values["absent"] = 12345
		for _, v := range values {
			f := storage.Eq(field, v)
			x, err := f.Compile()
			must(t, err)
			var want []string
			for _, e := range all.Entries {
				if storetest.RefMatch(x, e) {
					want = append(want, e.Key)
				}
			}
			res, err := s.Query(ctx, f, in)
			must(t, err)
			var got []string
			for _, e := range res.Entries {
				got = append(got, e.Key)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s: Query(%s = %v) = %v, want %v", step, ns, field, v, got, want)
			}
			n, err := s.Count(ctx, in, storage.Where(f))
			if err != nil || n != int64(len(want)) {
				t.Errorf("%s: %s: Count(%s = %v) = %d, %v; want %d", step, ns, field, v, n, err, len(want))
			}
		}
	}
	if db != nil {
		checkPGIndexEntries(t, db, step, ns)
	}
}

// checkPGIndexEntries compares index_entries of namespace ns with the rows
// index_rows gives its entries and declared fields, row for row (PostgreSQL).
func checkPGIndexEntries(t *testing.T, db *sql.DB, step, ns string) {
	t.Helper()
	var missing, extra int
	err := db.QueryRowContext(t.Context(), `WITH want AS (
    SELECT r.* FROM entries e JOIN index_fields f ON f.namespace_id = e.namespace_id
    CROSS JOIN LATERAL index_rows(e.namespace_id, e.key, e.value, e.metadata, e.expires_at, f) r
    WHERE e.namespace_id = (SELECT id FROM namespaces WHERE name = $1)
), have AS (
    SELECT * FROM index_entries WHERE ix_ns = (SELECT id FROM namespaces WHERE name = $1)
)
SELECT (SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM have) m),
       (SELECT count(*) FROM (SELECT * FROM have EXCEPT ALL SELECT * FROM want) x)`, ns).Scan(&missing, &extra)
	must(t, err)
	if missing != 0 || extra != 0 {
		t.Errorf("%s: %s: index_entries lacks %d rows and holds %d stale ones", step, ns, missing, extra)
	}
}

// decodeField is the top-level field name of JSON object doc, nil when
// absent.
func decodeField(t *testing.T, doc json.RawMessage, name string) any {
	t.Helper()
	var m map[string]any
	must(t, json.Unmarshal(doc, &m))
	return m[name]
}

// TestMigrationIndexUpdateRow takes a PostgreSQL store with declared
// indexes down to schema version 17 (the statement update trigger), up to
// 18 (the row trigger) and down again, updating entries at each version
// with plain SQL (an indexed field, a field no index covers, metadata
// alone, expiry alone, a namespace without indexes): index_entries stays
// exact through both triggers and both directions.
func TestMigrationIndexUpdateRow(t *testing.T) {
	ctx := t.Context()
	dsn := newPGSchema(t)
	s := openTest(t, dsn, WithSweepInterval(-1))
	fillIndexedAndPlain(t, s, 20)
	must(t, s.Close())
	db, m := pgMigrator(t, dsn)
	round := 0
	update := func(step string) {
		t.Helper()
		round++
		for _, q := range []string{
			`UPDATE entries SET value = jsonb_set(value, '{age}', to_jsonb(10 * $1::int + 1)) WHERE key IN ('k00', 'k05')`,
			`UPDATE entries SET value = jsonb_set(value, '{other}', to_jsonb($1::int)) WHERE key = 'k01'`,
			`UPDATE entries SET metadata = jsonb_build_object('team', 'x' || $1::int) WHERE key IN ('k02', 'k06')`,
			`UPDATE entries SET expires_at = now() + make_interval(hours => $1::int) WHERE key IN ('k03', 'k07')`,
			`UPDATE entries SET expires_at = NULL WHERE key = 'k07' AND $1::int % 2 = 0`,
			`UPDATE entries SET version = version + $1::int WHERE key = 'k04'`,
		} {
			if _, err := db.ExecContext(ctx, q, round); err != nil {
				t.Fatalf("%s: %s: %v", step, q, err)
			}
		}
		for _, ns := range []string{"ix", "plain"} {
			checkPGIndexEntries(t, db, step, ns)
		}
	}
	if _, err := m.DownTo(ctx, 17); err != nil {
		t.Fatal(err)
	}
	update("at 17")
	if _, err := m.UpTo(ctx, 18); err != nil {
		t.Fatal(err)
	}
	update("at 18")
	update("at 18 again")
	if _, err := m.DownTo(ctx, 17); err != nil {
		t.Fatal(err)
	}
	update("down at 17")
}
