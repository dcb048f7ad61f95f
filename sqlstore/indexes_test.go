package sqlstore

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestIndexesUsed declares indexes on a namespace, fills it (and another
// namespace) with enough rows for the planner to care, and checks with
// EXPLAIN that the statements Query runs seek the index_entries B-tree
// for eq, in, ranges and startsWith, on numbers and on strings, never scan
// the entries table, and do not sort the matching rows where the index
// gives the order (a sort on the field, eq with the key order): with
// statistics from ANALYZE, and without any.
func TestIndexesUsed(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) { testIndexesUsed(t, c, true) })
	}
	for _, c := range configs {
		t.Run(c.name+"/no-statistics", func(t *testing.T) { testIndexesUsed(t, c, false) })
	}
	// The engine keeps its statements prepared: after five runs
	// PostgreSQL may plan them once for any parameters (a generic plan),
	// with no statistics to guide it on a fresh table, as users have.
	generic := testConfig{name: "postgres/generic-plans", dsn: func(t testing.TB) string {
		return testdb.Postgres(t, "t", "pool_max_conns", "8", "plan_cache_mode", "force_generic_plan")
	}}
	t.Run(generic.name, func(t *testing.T) { testIndexesUsed(t, generic, true) })
	t.Run(generic.name+"/no-statistics", func(t *testing.T) { testIndexesUsed(t, generic, false) })
}

func testIndexesUsed(t *testing.T, c testConfig, analyze bool) {
	raceSkipsMemory(t, c)
	{
		{
			ctx := t.Context()
			dsn := c.dsn(t)
			s := openTest(t, dsn)
			if err := s.CreateNamespace(ctx, "idx", storage.WithIndexes("age", "profile.name")); err != nil {
				t.Fatal(err)
			}
			if !analyze && s.Dialect() == "postgres" {
				// No statistics: autovacuum must not gather them while
				// the test runs.
				for _, table := range []string{"entries", "index_entries"} {
					if _, err := s.eng.writer().exec(ctx, "ALTER TABLE "+table+" SET (autovacuum_enabled = false)"); err != nil {
						t.Fatal(err)
					}
				}
			}
			n := 20000
			if raceEnabled {
				n = 5000
			}
			// STORAGE_TEST_INDEX_ROWS sets another size (a multiple of
			// 5000), to look at the plans of a bigger namespace.
			if v, err := strconv.Atoi(os.Getenv("STORAGE_TEST_INDEX_ROWS")); err == nil && v > 0 {
				n = v
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
					stmt = "ANALYZE entries, index_entries"
				}
				if _, err := s.eng.writer().exec(ctx, stmt); err != nil {
					t.Fatal(err)
				}
				// SQLite connections read the statistics when they open;
				// Open adjusts them (sqliteStatistics in indexes.go),
				// which the in-memory store (never reopened) does here.
				if strings.HasPrefix(dsn, "sqlite::memory:") {
					if err := s.sqliteStatistics(ctx); err != nil {
						t.Fatal(err)
					}
				} else {
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
				want int // matches
				// sort, when set, is a sort with a limit (20, or limit); ordered
				// says the index gives that order, so no plan may sort
				// the matching rows.
				sort    []storage.SortField
				ordered bool
				// seek says the filter is an equality on the field, or an
				// in (a seek at each value): the plan must position the
				// index on every column before the key (SQLite: SEARCH
				// on all of them; PostgreSQL: the scan reads about as
				// many pages as rows match).
				seek bool
				// bounded, for a filter on one declared field and a sort
				// on another whose matches are fewer than the probe's K
				// (drive.go): the filter's field drives the statement,
				// which reads its matches only and never walks the sort
				// field's index (SQLite: the search of index_entries
				// bounds a column after the field; PostgreSQL: the plan
				// reads a few pages per match).
				bounded bool
				probe   int // the probe's K for the case (0: filterDriveRows)
				limit   int // the page's limit (0: 20)
			}{
				{"SortAsc", storage.All(), n, []storage.SortField{storage.Asc("age")}, true, false, false, 0, 0},
				{"SortDesc", storage.All(), n, []storage.SortField{storage.Desc("profile.name")}, true, false, false, 0, 0},
				{"EqNumber", storage.Eq("age", 500), n / 1000, nil, true, true, false, 0, 0},
				{"EqSortKey", storage.Eq("age", 500), n / 1000, []storage.SortField{storage.Asc("$key")}, true, true, false, 0, 0},
				{"EqSortKeyDesc", storage.Eq("age", 500), n / 1000, []storage.SortField{storage.Desc("$key")}, true, true, false, 0, 0},
				{"EqStringSortKey", storage.Eq("profile.name", "n00042"), n / 5000, []storage.SortField{storage.Asc("$key")}, true, true, false, 0, 0},
				{"RangeNumber", storage.And(storage.Gte("age", 10), storage.Lt("age", 12)), 2 * n / 1000, nil, false, false, false, 0, 0},
				{"InNumber", storage.In("age", 1, 2), 2 * n / 1000, nil, false, true, false, 0, 0},
				{"EqString", storage.Eq("profile.name", "n00042"), n / 5000, nil, true, true, false, 0, 0},
				{"InString", storage.In("profile.name", "n00042", "n00043"), 2 * n / 5000, nil, false, true, false, 0, 0},
				{"RangeString", storage.And(storage.Gt("profile.name", "n00100"), storage.Lte("profile.name", "n00103")), 3 * n / 5000, nil, false, false, false, 0, 0},
				{"RangeSortAsc", storage.And(storage.Gte("age", 100), storage.Lt("age", 400)), 300 * n / 1000, []storage.SortField{storage.Asc("age")}, true, false, false, 0, 0},
				{"RangeSortDesc", storage.And(storage.Gte("age", 100), storage.Lt("age", 400)), 300 * n / 1000, []storage.SortField{storage.Desc("age")}, true, false, false, 0, 0},
				{"RangeSortDescString", storage.Gte("profile.name", "n01000"), 4 * n / 5, []storage.SortField{storage.Desc("profile.name")}, true, false, false, 0, 0},
				{"SortDescNumber", storage.All(), n, []storage.SortField{storage.Desc("age")}, true, false, false, 0, 0},
				{"StartsWithSortDesc", storage.StartsWith("profile.name", "n0"), n, []storage.SortField{storage.Desc("profile.name")}, true, false, false, 0, 0},
				// A filter on one declared field, a sort on another: with
				// fewer matches than the probe's K the filter's field
				// drives and the few matches are sorted; with more the
				// sort's field drives and gives the order.
				{"EqSortOther", storage.Eq("age", 500), n / 1000, []storage.SortField{storage.Asc("profile.name")}, false, true, true, 0, 8},
				{"EqSortOtherDesc", storage.Eq("age", 500), n / 1000, []storage.SortField{storage.Desc("profile.name")}, false, true, true, 0, 8},
				{"EqStringSortOther", storage.Eq("profile.name", "n00042"), n / 5000, []storage.SortField{storage.Asc("age")}, false, true, true, 0, 2},
				{"EqSortOtherNone", storage.Eq("age", 5000), 0, []storage.SortField{storage.Asc("profile.name")}, false, true, true, 0, 0},
				{"InSortOther", storage.In("age", 1, 2), 2 * n / 1000, []storage.SortField{storage.Desc("profile.name")}, false, true, true, 0, 0},
				{"RangeSortOther", storage.And(storage.Gte("age", 10), storage.Lt("age", 12)), 2 * n / 1000, []storage.SortField{storage.Asc("profile.name")}, false, false, true, 0, 0},
				{"RangeSortOtherDense", storage.And(storage.Gte("age", 100), storage.Lt("age", 400)), 300 * n / 1000, []storage.SortField{storage.Asc("profile.name")}, true, false, false, 0, 0},
				{"RangeSortOtherDenseDesc", storage.And(storage.Gte("age", 100), storage.Lt("age", 400)), 300 * n / 1000, []storage.SortField{storage.Desc("profile.name")}, true, false, false, 0, 0},
				{"EqSortOtherDense", storage.Eq("profile.name", "n00042"), n / 5000, []storage.SortField{storage.Asc("age")}, true, false, false, 1, 2},
				{"SortAscString", storage.All(), n, []storage.SortField{storage.Asc("profile.name")}, true, false, false, 0, 0},
				{"StartsWith", storage.StartsWith("profile.name", "n0004"), 10 * n / 5000, nil, false, false, false, 0, 0},
				{"StartsWithSort", storage.StartsWith("profile.name", "n0"), n, []storage.SortField{storage.Asc("profile.name")}, true, false, false, 0, 0},
				{"StartsWithSortNarrow", storage.StartsWith("profile.name", "n004"), 100 * n / 5000, []storage.SortField{storage.Asc("profile.name")}, true, false, false, 0, 0},
				{"StartsWithSortNarrowDesc", storage.StartsWith("profile.name", "n004"), 100 * n / 5000, []storage.SortField{storage.Desc("profile.name")}, true, false, false, 0, 0},
			}
			resolve := func(t *testing.T, opts []storage.Option) (driver.CallOptions, nsInfo) {
				t.Helper()
				o, err := driver.ResolveOptions("query", driver.KindNamespace|driver.KindSort|driver.KindLimit|driver.KindCursor, opts)
				if err != nil {
					t.Fatal(err)
				}
				nsi, err := s.readNamespace(ctx, "idx")
				if err != nil {
					t.Fatal(err)
				}
				return o, nsi
			}
			var explainSQL func(t *testing.T, q string, args []any, analyze bool) string
			explain := func(t *testing.T, f storage.Filter, opts []storage.Option, analyze bool) (string, string) {
				t.Helper()
				o, nsi := resolve(t, opts)
				p, err := prepareQuery(f, o)
				if err != nil {
					t.Fatal(err)
				}
				q, args, _, err := s.buildQuery(ctx, &p, o, nsi, s.now())
				if err != nil {
					t.Fatal(err)
				}
				return explainSQL(t, q, args, analyze), q
			}
			// tieQuery returns the statement that reads the group of ties
			// cut by the end of the page opts asks for (reversedTies).
			tieQuery := func(t *testing.T, f storage.Filter, opts []storage.Option) (string, []any, bool) {
				t.Helper()
				o, nsi := resolve(t, opts)
				now := s.now()
				p, err := prepareQuery(f, o)
				if err != nil {
					t.Fatal(err)
				}
				q, args, sorts, err := s.buildQuery(ctx, &p, o, nsi, now)
				if err != nil {
					t.Fatal(err)
				}
				rows, _, err := s.queryRows(ctx, q, args, sorts, "idx", 0, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) <= o.Limit {
					return "", nil, false // the last page: no group is cut
				}
				q, args, err = s.buildTieQuery(p, o, nsi, now, rows[o.Limit].sortValues(sorts), 2)
				if err != nil {
					t.Fatal(err)
				}
				return q, args, true
			}
			explainSQL = func(t *testing.T, q string, args []any, analyze bool) string {
				t.Helper()
				pgStmt := "EXPLAIN "
				if analyze {
					pgStmt = "EXPLAIN (ANALYZE, BUFFERS) "
				}
				return explainPlan(t, s, pgStmt, q, args)
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if tc.probe > 0 {
						defer func(old int) { filterDriveRows = old }(filterDriveRows)
						filterDriveRows = tc.probe
					}
					limit := 20
					if tc.limit > 0 {
						limit = tc.limit
					}
					opts := []storage.Option{storage.InNamespace("idx"), storage.Limit(limit)}
					if tc.sort != nil {
						opts = append(opts, storage.SortBy(tc.sort...))
					}
					first, err := s.Query(ctx, tc.f, opts...)
					if err != nil {
						t.Fatal(err)
					}
					if want := min(limit, tc.want); len(first.Entries) != want {
						t.Errorf("Query = %d entries, want %d", len(first.Entries), want)
					}
					pages := map[string][]storage.Option{"first page": opts}
					if first.Cursor != "" {
						pages["cursor page"] = append(slices.Clone(opts), storage.After(first.Cursor))
					} else if tc.want > limit {
						t.Errorf("no cursor after a full page of %d matches", tc.want)
					}
					for page, popts := range pages {
						text, q := explain(t, tc.f, popts, s.Dialect() == "postgres" && os.Getenv("STORAGE_TEST_EXPLAIN_ANALYZE") != "")
						t.Logf("%s plan:\n%s\nSQL: %s", page, text, q)
						if tc.seek {
							if s.Dialect() == "postgres" {
								analyzed, _ := explain(t, tc.f, popts, true)
								checkPGSeek(t, s, page, analyzed, tc.want, seekDescents(tc.f))
							} else if !strings.Contains(text, "SEARCH ix USING PRIMARY KEY (ix_ns=? AND ix_field=? AND ix_rank=? AND ix_num=? AND ix_str=?") {
								t.Errorf("%s: the plan does not seek the index on every column before the key:\n%s\nSQL: %s", page, text, q)
							}
						}
						seek, scan := "SEARCH ix USING PRIMARY KEY (ix_ns=? AND ix_field=?", "SCAN entries"
						if s.Dialect() == "postgres" {
							seek, scan = "Index Cond: ((ix_ns = ", "Seq Scan on entries"
						}
						if !strings.Contains(text, seek) || strings.Contains(text, scan) {
							t.Errorf("%s: the plan does not seek index_entries, or scans entries:\n%s\nSQL: %s", page, text, q)
						}
						if s.Dialect() != "postgres" {
							checkRowidJoin(t, page, text, q)
						}
						if tc.bounded {
							checkFilterDrives(t, page, s, tc.f, text, q, explain, popts, tc.want)
						}
						// A sort of the matching rows: SQLite's "USE TEMP
						// B-TREE FOR ORDER BY" (or of each group of ties:
						// "FOR LAST TERM OF ORDER BY", "RIGHT-MOST TERM";
						// a descending sort with the key ascending did
						// that), PostgreSQL's Sort node (an Incremental
						// Sort over ties of a 256-character prefix is
						// fine).
						if tc.ordered && (strings.Contains(text, "USE TEMP B-TREE") ||
							strings.Contains(strings.ReplaceAll(text, "Incremental Sort", ""), "Sort  (")) {
							t.Errorf("%s: the plan sorts the matching rows instead of reading the index in order:\n%s\nSQL: %s", page, text, q)
						}
						// A descending sort reads ties from their end, and
						// the group cut by the page's end from its start:
						// a seek on the whole group, in key order.
						if o, _ := resolve(t, popts); tc.ordered && reversedTies(o) {
							q, args, ok := tieQuery(t, tc.f, popts)
							if !ok {
								continue
							}
							text := explainSQL(t, q, args, false)
							t.Logf("%s: the statement of the last group of ties:\n%s", page, text)
							if !strings.Contains(text, seek) || strings.Contains(text, scan) || strings.Contains(text, "USE TEMP B-TREE") ||
								strings.Contains(strings.ReplaceAll(text, "Incremental Sort", ""), "Sort  (") {
								t.Errorf("%s: the statement of the last group of ties does not read a declared index in key order:\n%s\nSQL: %s", page, text, q)
							}
							if s.Dialect() == "postgres" {
								checkPGSeek(t, s, page+" (last group of ties)", explainSQL(t, q, args, true), 2, 1)
							} else {
								checkRowidJoin(t, page+" (last group of ties)", text, q)
							}
							if s.Dialect() != "postgres" && !strings.Contains(text, "SEARCH ix USING PRIMARY KEY (ix_ns=? AND ix_field=? AND ix_rank=? AND ix_num=? AND ix_str=?") {
								t.Errorf("%s: the statement of the last group of ties does not seek every column before the key:\n%s\nSQL: %s", page, text, q)
							}
						}
					}
				})
			}
		}
	}
}

// checkFilterDrives checks that Query's statement q (text, its plan) for
// filter f, which restricts one declared field and is sorted by another,
// is driven by the filter's field and reads about its want matches only:
// it names that field's id, and on SQLite its search of index_entries
// bounds a column after the field, on PostgreSQL it reads a few pages per
// match (explain runs EXPLAIN ANALYZE for opts). Driven by the sort's
// field, it walked that field's index testing each row.
func checkFilterDrives(t *testing.T, page string, s *Store, f storage.Filter, text, q string,
	explain func(*testing.T, storage.Filter, []storage.Option, bool) (string, string), opts []storage.Option, want int) {
	t.Helper()
	nsi, err := s.readNamespace(t.Context(), "idx")
	if err != nil {
		t.Fatal(err)
	}
	x, err := f.Compile()
	if err != nil {
		t.Fatal(err)
	}
	d, ok := filterIndex(s.compiler(), x, nsi, "")
	if !ok || !strings.Contains(q, "ix.ix_field = "+strconv.FormatInt(d.fid, 10)+" ") {
		t.Errorf("%s: the statement is not driven by the filter's field %s:\n%s\nSQL: %s", page, d.field.Text, text, q)
	}
	if s.Dialect() == "postgres" {
		analyzed, _ := explain(t, f, opts, true)
		checkPGSeek(t, s, page, analyzed, want, seekDescents(f))
	} else if !regexp.MustCompile(`SEARCH ix USING PRIMARY KEY \(ix_ns=\? AND ix_field=\? AND ix_rank=\? AND ix_num[=<>]`).MatchString(text) {
		t.Errorf("%s: the plan does not bound its search of index_entries by the filter:\n%s\nSQL: %s", page, text, q)
	}
}

// checkRowidJoin checks that a SQLite statement q driven by a declared
// index (text, its EXPLAIN QUERY PLAN) reads each entry by the rowid that
// its index row carries (ix_entry, migration 00021): one descent of the
// entries table per row, never one of its (namespace_id, key) index first.
func checkRowidJoin(t *testing.T, page, text, q string) {
	t.Helper()
	if !strings.Contains(text, "SEARCH entries USING INTEGER PRIMARY KEY (rowid=?)") || strings.Contains(text, "sqlite_autoindex_entries") {
		t.Errorf("%s: the plan does not read entries by the rowid of the index row:\n%s\nSQL: %s", page, text, q)
	}
}

// checkPGSeek checks that a PostgreSQL plan run by EXPLAIN (ANALYZE,
// BUFFERS) for an equality (or an in, a range) matching want rows, which
// must position the index_entries B-tree descents times (once per value of
// an in, else once), read the pages such a seek reads, not a scan of the
// index (which a B-tree does when it cannot position on the columns before
// the compared one). The budget is what the plan must read, measured on
// the store (pgSeekCosts), so it holds at any size: at 1M entries a
// descent of index_entries is one level deeper than at 100k, and 2,000
// matches span about 28 leaf pages, not 3.
func checkPGSeek(t *testing.T, s *Store, page, plan string, want, descents int) {
	t.Helper()
	pages := planPages(t, page, plan)
	c := pgSeekCosts(t, s)
	// Each row: the heap page of its index_entries row (until a vacuum
	// marks it all-visible: Heap Fetches), a descent of entries' primary
	// key and the entry's heap page.
	perRow := 1 + c.entriesDescent + 1
	// Each descent of index_entries reads root to leaf; the matches lie
	// side by side in the leaves from there, at least half as dense as the
	// index's average (a page is about half full after a split).
	index := descents*c.indexDescent + int(math.Ceil(2*float64(want)*c.indexPagesPerRow))
	// The InitPlans (the field's id and the namespace's: up to 4 pages),
	// the row a statement reads past those counted (a page reads its
	// limit plus one: 5 pages) and 3 for the matches straddling leaf
	// boundaries. Before this budget was measured it was a constant 20 for
	// all of the index's pages, short at 1M entries, where 2,000 matches
	// of an in or a range read 34-37 (2 descents of 4 pages, 26-28 leaves,
	// 3 pages of InitPlans).
	const fixed = 12
	if limit := want*perRow + index + fixed; pages > limit {
		t.Errorf("%s: the seek read %d pages for %d matching rows, %d descents (at most %d: %d a row, %d in index_entries, %d fixed):\n%s",
			page, pages, want, descents, limit, perRow, index, fixed, plan)
	} else {
		t.Logf("%s: the seek read %d pages for %d matching rows, %d descents (at most %d)", page, pages, want, descents, limit)
	}
}

// topBuffers finds the buffer counts of a plan's top node, among the
// lines of its own (Index Cond, Heap Fetches…) before its children's.
var topBuffers = regexp.MustCompile(`\A\S.*\n(?:  [A-Z].*\n)*?  Buffers: shared hit=(\d+)(?: read=(\d+))?`)

// planPages returns the pages a plan run by EXPLAIN (ANALYZE, BUFFERS)
// read: its top node's shared hits plus a tenth of its reads.
func planPages(t *testing.T, page, plan string) int {
	t.Helper()
	m := topBuffers.FindStringSubmatch(plan)
	if m == nil {
		t.Fatalf("%s: no buffer counts in the plan:\n%s", page, plan)
	}
	hit, _ := strconv.Atoi(m[1])
	read, _ := strconv.Atoi(m[2] + "0")
	return hit + read/10
}

// seekCosts are what a seek reads on a PostgreSQL store: the pages of a
// descent (root to leaf) of entries' primary key and of index_entries',
// and index_entries' pages per row.
type seekCosts struct {
	entriesDescent, indexDescent int
	indexPagesPerRow             float64
}

var (
	seekCostsMu sync.Mutex
	seekCostsOf = map[*Store]seekCosts{}
)

// pgSeekCosts measures s's seekCosts once: a descent is what a lookup of
// a key that is not there reads (EXPLAIN (ANALYZE, BUFFERS)), so the
// depth of each B-tree as the data made it.
func pgSeekCosts(t *testing.T, s *Store) seekCosts {
	t.Helper()
	seekCostsMu.Lock()
	defer seekCostsMu.Unlock()
	if c, ok := seekCostsOf[s]; ok {
		return c
	}
	descent := func(q string) int {
		return planPages(t, q, explainPlan(t, s, "EXPLAIN (ANALYZE, BUFFERS) ", q, nil))
	}
	c := seekCosts{
		entriesDescent: descent("SELECT key FROM entries WHERE namespace_id = -1 AND key = ''"),
		indexDescent: descent("SELECT ix_key FROM index_entries WHERE ix_ns = -1 AND ix_field = 0 AND ix_rank = 0 AND ix_num = 0 " +
			"AND ix_str = '' AND ix_key = ''"),
	}
	var pages, rows float64
	if err := s.eng.reader().queryRows(t.Context(), "SELECT pg_relation_size('index_entries_pkey') / current_setting('block_size')::float8, "+
		"(SELECT count(*) FROM index_entries)::float8", nil, func(r rowScanner) error { return r.Scan(&pages, &rows) }); err != nil {
		t.Fatal(err)
	}
	c.indexPagesPerRow = pages / max(rows, 1)
	t.Logf("seek costs: a descent of entries' primary key %d pages, of index_entries' %d, %.4f index pages a row",
		c.entriesDescent, c.indexDescent, c.indexPagesPerRow)
	seekCostsOf[s] = c
	return c
}

// seekDescents is how many times a seek for f positions the index: once
// per value of an in, else once.
func seekDescents(f storage.Filter) int {
	if vs, ok := f.Value.([]any); ok && f.Op == storage.OpIn {
		return max(len(vs), 1)
	}
	return 1
}

// TestSQLiteStatistics: after an ANALYZE, the next Open leaves no STAT4
// samples (with them SQLite prepares every Query again at each call, as
// its bound values are compared with indexed columns: an indexed eq took
// about twice the CPU) and marks index_entries noskipscan, and answers do
// not change.
func TestSQLiteStatistics(t *testing.T) {
	ctx := t.Context()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "stat.db")
	s := openTest(t, dsn)
	if err := s.CreateNamespace(ctx, "idx", storage.WithIndexes("age")); err != nil {
		t.Fatal(err)
	}
	items := make([]storage.Item, 0, 3000)
	for i := range cap(items) {
		items = append(items, storage.Item{Key: fmt.Sprintf("k%05d", i), Value: map[string]any{"age": i % 300}})
	}
	if res, err := s.SetMany(ctx, items, storage.InNamespace("idx")); err != nil || !res.OK() {
		t.Fatalf("SetMany: %v %v", err, res.Err())
	}
	query := func(s *Store) []string {
		t.Helper()
		page, err := s.Query(ctx, storage.And(storage.Gte("age", 10), storage.Lt("age", 13)), storage.InNamespace("idx"),
			storage.SortBy(storage.Desc("age")), storage.Limit(25))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, e := range page.Entries {
			keys = append(keys, e.Key)
		}
		return keys
	}
	want := query(s)
	count := func(s *Store, stmt string) int64 {
		t.Helper()
		var n int64
		if err := s.eng.writer().queryRows(ctx, stmt, nil, func(r rowScanner) error { return r.Scan(&n) }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := s.eng.writer().exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	if n := count(s, "SELECT count(*) FROM sqlite_stat4"); n == 0 {
		t.Fatal("ANALYZE wrote no STAT4 samples: the driver's SQLite changed, look again at sqliteStatistics")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dsn)
	defer s.Close()
	if n := count(s, "SELECT count(*) FROM sqlite_stat4"); n != 0 {
		t.Fatalf("after Open sqlite_stat4 holds %d rows", n)
	}
	if n := count(s, "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'index_entries' AND stat NOT LIKE '%noskipscan%'"); n != 0 {
		t.Fatalf("%d statistics of index_entries lack noskipscan", n)
	}
	if n := count(s, "SELECT count(*) FROM sqlite_stat1"); n == 0 {
		t.Fatal("sqlite_stat1 is empty: Open should keep it")
	}
	if got := query(s); !slices.Equal(got, want) {
		t.Fatalf("after ANALYZE and Open: %v, want %v", got, want)
	}
}
