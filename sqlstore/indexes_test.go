package sqlstore

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestIndexesUsed declares indexes on a namespace, fills it (and another
// namespace) with enough rows for the planner to care, and checks with
// EXPLAIN that the statements Query runs use them for eq and for ranges,
// on numbers and on strings: with statistics from ANALYZE, and (SQLite)
// with the statistics the engine seeds.
func TestIndexesUsed(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) { testIndexesUsed(t, c, true) })
	}
	for _, c := range configs[:2] {
		t.Run(c.name+"/seeded-statistics", func(t *testing.T) { testIndexesUsed(t, c, false) })
	}
}

func testIndexesUsed(t *testing.T, c testConfig, analyze bool) {
	{
		{
			ctx := t.Context()
			dsn := c.dsn(t)
			s := openTest(t, dsn)
			if err := s.CreateNamespace(ctx, "idx", storage.WithIndexes("age", "profile.name")); err != nil {
				t.Fatal(err)
			}
			n := 20000
			if raceEnabled {
				n = 5000
			}
			for _, nsName := range []string{"idx", "other"} {
				items := make([]storage.Item, 0, 5000)
				flush := func() {
					res, err := s.SetMany(ctx, items, storage.InNamespace(nsName))
					if err != nil || !res.OK() {
						t.Fatalf("SetMany: %v %v", err, res.Err())
					}
					items = items[:0]
				}
				for i := range n {
					items = append(items, storage.Item{Key: fmt.Sprintf("k%06d", i),
						Value: map[string]any{"age": i % 1000, "profile": map[string]any{"name": fmt.Sprintf("n%05d", i%5000)}}})
					if len(items) == cap(items) {
						flush()
					}
				}
				if len(items) > 0 {
					flush()
				}
			}
			if analyze {
				stmt := "ANALYZE"
				if s.Dialect() == "postgres" {
					stmt = "ANALYZE entries"
				}
				if _, err := s.eng.writer().exec(ctx, stmt); err != nil {
					t.Fatal(err)
				}
				// SQLite connections read the statistics when they open.
				if !strings.HasPrefix(dsn, "sqlite::memory:") {
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					s = openTest(t, dsn)
				}
			}
			defer s.Close()
			if !analyze {
				// A reader connection that predates the indexes plans its
				// first statement after the schema change before it has
				// reloaded the statistics; warm it.
				if _, err := s.Count(ctx, storage.InNamespace("idx"), storage.Where(storage.Eq("age", -1))); err != nil {
					t.Fatal(err)
				}
			}
			cases := []struct {
				name string
				f    storage.Filter
				want int
				// sort, when set, is a sort with a limit of 20 that the
				// sort index must serve without sorting the namespace.
				sort []storage.SortField
			}{
				{"SortAsc", storage.All(), 20, []storage.SortField{storage.Asc("age")}},
				{"SortDesc", storage.All(), 20, []storage.SortField{storage.Desc("profile.name")}},
				{"EqNumber", storage.Eq("age", 500), n / 1000, nil},
				{"RangeNumber", storage.And(storage.Gte("age", 10), storage.Lt("age", 12)), 2 * n / 1000, nil},
				{"InNumber", storage.In("age", 1, 2), 2 * n / 1000, nil},
				{"EqString", storage.Eq("profile.name", "n00042"), n / 5000, nil},
				{"RangeString", storage.And(storage.Gt("profile.name", "n00100"), storage.Lte("profile.name", "n00103")), 3 * n / 5000, nil},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					opts := []storage.Option{storage.InNamespace("idx")}
					if tc.sort != nil {
						opts = append(opts, storage.SortBy(tc.sort...), storage.Limit(20))
					}
					o, err := storage.ResolveOptions("query", storage.KindNamespace|storage.KindSort|storage.KindLimit, opts)
					if err != nil {
						t.Fatal(err)
					}
					id, err := s.readNamespaceID(ctx, "idx")
					if err != nil {
						t.Fatal(err)
					}
					q, args, _, _, err := s.buildQuery(tc.f, o, id, s.now())
					if err != nil {
						t.Fatal(err)
					}
					explain := "EXPLAIN QUERY PLAN "
					if s.Dialect() == "postgres" {
						explain = "EXPLAIN "
					}
					var plan []string
					err = s.eng.reader().queryRows(ctx, explain+q, args, func(r rowScanner) error {
						if s.Dialect() == "postgres" {
							var line string
							if err := r.Scan(&line); err != nil {
								return err
							}
							plan = append(plan, line)
							return nil
						}
						var id, parent, unused int64
						var detail string
						if err := r.Scan(&id, &parent, &unused, &detail); err != nil {
							return err
						}
						plan = append(plan, detail)
						return nil
					})
					if err != nil {
						t.Fatalf("EXPLAIN: %v", err)
					}
					text := strings.Join(plan, "\n")
					t.Logf("plan:\n%s", text)
					if !strings.Contains(text, "entries_ns") {
						t.Errorf("the plan does not use a declared index:\n%s\nSQL: %s", text, q)
					}
					// A full sort of the namespace: SQLite's "USE TEMP B-TREE
					// FOR ORDER BY" (a sort of the key tiebreak alone is "FOR LAST TERM
					// OF ORDER BY"), PostgreSQL's Sort node (an
					// Incremental Sort of the tiebreak is fine).
					if tc.sort != nil && (strings.Contains(text, "TEMP B-TREE FOR ORDER BY") ||
						strings.Contains(strings.ReplaceAll(text, "Incremental Sort", ""), "Sort  (")) {
						t.Errorf("the plan sorts the namespace instead of reading the sort index:\n%s\nSQL: %s", text, q)
					}
					res, err := s.Query(ctx, tc.f, opts...)
					if err != nil {
						t.Fatal(err)
					}
					if len(res.Entries) != tc.want {
						t.Errorf("Query = %d entries, want %d", len(res.Entries), tc.want)
					}
				})
			}
		}
	}
}
