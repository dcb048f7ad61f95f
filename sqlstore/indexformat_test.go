package sqlstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/internal/testdb"
)

// The index format of the first per-namespace indexes (migration 00006,
// before the number and string keys were made non-NULL and PostgreSQL's
// index lost its leading namespace_id): the expressions of field "age",
// as that version wrote them.
var indexFormat1 = map[string][]string{
	"sqlite": {
		`(CASE json_type(value, '$."age"') WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4 WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)`,
		`(CASE WHEN json_type(value, '$."age"') IN ('integer', 'real') THEN CAST(json_extract(value, '$."age"') AS REAL) END)`,
		`(CASE WHEN json_type(value, '$."age"') = 'text' THEN json_extract(value, '$."age"') END)`,
	},
	"postgres": {
		`(CASE jsonb_typeof((value -> 'age')) WHEN 'null' THEN 1 WHEN 'boolean' THEN CASE WHEN (value -> 'age') = 'true'::jsonb THEN 3 ELSE 2 END WHEN 'number' THEN 4 WHEN 'string' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)`,
		`(CASE WHEN jsonb_typeof((value -> 'age')) = 'number' THEN CASE WHEN abs((value -> 'age')::numeric) >= 1.797693134862315807937289714053e308 THEN sign((value -> 'age')::numeric)::float8 * 'Infinity'::float8 WHEN abs((value -> 'age')::numeric) <= 2.4703282292062327208828439643411e-324 THEN 0::float8 ELSE (value -> 'age')::numeric::float8 END END)`,
		`left((CASE WHEN jsonb_typeof((value -> 'age')) = 'string' THEN (value -> 'age') #>> '{}' END COLLATE "C"), 256)`,
	},
}

// TestIndexFormatUpgrade opens a store whose declared index was built in
// the previous index format (as a store made before this version has it):
// Open drops it (and, on PostgreSQL, its extended statistics) and builds
// the index of the current format, which queries then use, with the same
// answers.
func TestIndexFormatUpgrade(t *testing.T) {
	for _, c := range []testConfig{{name: "sqlite-file", dsn: testdb.SQLiteFile}, {name: "postgres", dsn: newPGSchema}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := c.dsn(t)
			s := openTest(t, dsn)
			if err := s.CreateNamespace(ctx, "people", storage.WithIndexes("age")); err != nil {
				t.Fatal(err)
			}
			var items []storage.Item
			for i := range 60 {
				var age any = i % 10
				switch i % 3 {
				case 1:
					age = fmt.Sprintf("s%d", i%10)
				case 2:
					if i%4 == 0 {
						age = nil
					}
				}
				items = append(items, storage.Item{Key: fmt.Sprintf("k%02d", i), Value: map[string]any{"age": age}})
			}
			if res, err := s.SetMany(ctx, items, storage.InNamespace("people")); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			id, err := s.readNamespaceID(ctx, "people")
			if err != nil {
				t.Fatal(err)
			}
			fld, err := storage.ParseField("age")
			if err != nil {
				t.Fatal(err)
			}
			current := indexName(s.compiler(), id, fld)

			// Put the store back in the previous format.
			old := indexFormat1[string(s.Dialect())]
			sum := sha256.Sum256([]byte(strings.Join(old, ", ")))
			oldName := nsIndexPrefix(id) + hex.EncodeToString(sum[:10])
			w := s.eng.writer()
			exec := func(q string) {
				t.Helper()
				if _, err := w.exec(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			cols := "namespace_id, " + strings.Join(old, ", ") + ", key"
			if s.Dialect() == "postgres" {
				exec("DROP INDEX " + current)
				exec("DROP STATISTICS IF EXISTS " + current + "_st")
				exec("CREATE INDEX " + oldName + " ON entries (namespace_id, (" + strings.Join(old, "), (") + "), key) WHERE namespace_id = " + fmt.Sprint(id))
				exec("CREATE STATISTICS " + oldName + "_st ON (" + strings.Join(old, "), (") + ") FROM entries")
			} else {
				exec("DROP INDEX " + current)
				exec("CREATE INDEX " + oldName + " ON entries (" + cols + ") WHERE namespace_id = " + fmt.Sprint(id))
			}
			if have, err := s.physicalIndexes(ctx, w, nsIndexPrefix(id)); err != nil || !slices.Equal(have, []string{oldName}) {
				t.Fatalf("before reopening: indexes %v, %v; want [%s]", have, err, oldName)
			}
			want := queryKeys(t, s, storage.Eq("age", 3), storage.InNamespace("people"))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = openTest(t, dsn)
			defer s.Close()
			w = s.eng.writer()
			have, err := s.physicalIndexes(ctx, w, nsIndexPrefix(id))
			if err != nil || !slices.Equal(have, []string{current}) {
				t.Fatalf("after reopening: indexes %v, %v; want [%s] (the current format only)", have, err, current)
			}
			if s.Dialect() == "postgres" {
				var stats []string
				err := w.queryRows(ctx, `SELECT stxname FROM pg_statistic_ext WHERE stxnamespace = current_schema()::regnamespace ORDER BY stxname`, nil,
					func(r rowScanner) error {
						var n string
						err := r.Scan(&n)
						stats = append(stats, n)
						return err
					})
				if err != nil || !slices.Equal(stats, []string{current + "_st"}) {
					t.Fatalf("extended statistics %v, %v; want [%s_st]", stats, err, current)
				}
			}
			got := queryKeys(t, s, storage.Eq("age", 3), storage.InNamespace("people"))
			if !slices.Equal(got, want) || len(got) != 4 {
				t.Errorf("eq after the rebuild = %v, want %v (4 keys)", got, want)
			}
			o, err := storage.ResolveOptions("query", storage.KindNamespace, []storage.Option{storage.InNamespace("people")})
			if err != nil {
				t.Fatal(err)
			}
			q, args, _, _, err := s.buildQuery(storage.Eq("age", 3), o, id, s.now())
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			err = s.eng.inTx(ctx, func(tx querier) error {
				stmt := "EXPLAIN QUERY PLAN "
				if s.Dialect() == "postgres" {
					stmt = "EXPLAIN "
					if _, err := tx.exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
						return err
					}
				}
				return tx.queryRows(ctx, stmt+q, args, func(r rowScanner) error {
					var line string
					if s.Dialect() == "postgres" {
						err := r.Scan(&line)
						plan = append(plan, line)
						return err
					}
					var a, b, c int64
					err := r.Scan(&a, &b, &c, &line)
					plan = append(plan, line)
					return err
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if text := strings.Join(plan, "\n"); !strings.Contains(text, current) {
				t.Errorf("the plan does not use the rebuilt index %s:\n%s", current, text)
			}
		})
	}
}

func queryKeys(t *testing.T, s *Store, f storage.Filter, opts ...storage.Option) []string {
	t.Helper()
	res, err := s.Query(t.Context(), f, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range res.Entries {
		keys = append(keys, e.Key)
	}
	return keys
}
