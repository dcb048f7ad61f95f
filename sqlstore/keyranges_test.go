package sqlstore

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// keyRangesFixture fills namespace "kr" with hidden keys (many, in one run
// between visible ones) and a few visible ones, and returns the visible
// keys in order and the ranges that select them.
func keyRangesFixture(t *testing.T, s *Store, hidden int) ([]string, []storage.KeyRange) {
	t.Helper()
	ctx := t.Context()
	var items []storage.Item
	for i := range hidden {
		items = append(items, storage.Item{Key: fmt.Sprintf("principal://bob/data/k%05d", i), Value: i})
		if len(items) == 2000 || i == hidden-1 {
			if res, err := s.SetMany(ctx, items, storage.InNamespace("kr")); err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			items = items[:0]
		}
	}
	visible := []string{"a1", "a2", "principal://alice/data/x1", "principal://alice/data/x2",
		"principal://alice/data/x3", "principal://carol/data/y1", "z1", "z2", "z3"}
	for _, k := range append(slices.Clone(visible), "principal://bob-other/data/q", "principal://dave/data/w") {
		if err := s.Set(ctx, k, k, storage.InNamespace("kr")); err != nil {
			t.Fatal(err)
		}
	}
	ranges := []storage.KeyRange{
		{To: "principal://"},
		storage.PrefixRange("principal://carol/data/"),
		{From: "principal:/0"},
		storage.PrefixRange("principal://alice/data/"),
	}
	return visible, ranges
}

// TestListKeyRanges checks InKeyRanges on List, Query and Count on every
// configuration: full pages with exact cursors and offsets, patterns cut
// by the ranges, both ways List reads the spans (one UNION ALL arm per
// span, or one statement testing them with OR), and the same answers
// inside a transaction.
func TestListKeyRanges(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			visible, ranges := keyRangesFixture(t, s, 3000)
			in := storage.InNamespace("kr")
			kr := storage.InKeyRanges(ranges...)
			for _, arms := range []int{listArms, 0} {
				t.Run(fmt.Sprintf("arms=%d", arms), func(t *testing.T) {
					defer func(old int) { listArms = old }(listArms)
					listArms = arms
					for _, limit := range []int{1, 2, 4, 100} {
						var got []string
						opts := []storage.Option{in, kr, storage.Limit(limit)}
						for page := 0; ; page++ {
							res, err := s.List(ctx, opts...)
							if err != nil {
								t.Fatal(err)
							}
							if res.Cursor != "" && len(res.Keys) != limit {
								t.Fatalf("limit %d page %d: %d keys with a cursor, want a full page", limit, page, len(res.Keys))
							}
							got = append(got, res.Keys...)
							if res.Cursor == "" {
								break
							}
							opts = []storage.Option{in, kr, storage.Limit(limit), storage.After(res.Cursor)}
						}
						if !slices.Equal(got, visible) {
							t.Fatalf("limit %d: paged %q, want %q", limit, got, visible)
						}
					}
					for off := range len(visible) + 1 {
						res, err := s.List(ctx, in, kr, storage.Offset(off), storage.Limit(3))
						if err != nil {
							t.Fatal(err)
						}
						if want := visible[off:min(off+3, len(visible))]; !slices.Equal(res.Keys, want) {
							t.Fatalf("offset %d: %q, want %q", off, res.Keys, want)
						}
					}
					res, err := s.List(ctx, in, kr, storage.Offset(2))
					if err != nil || !slices.Equal(res.Keys, visible[2:]) || res.Cursor != "" {
						t.Fatalf("offset without limit: %q %q %v", res.Keys, res.Cursor, err)
					}
					for pat, want := range map[string][]string{
						"principal://*":            visible[2:6],
						"principal://a*/data/x?":   visible[2:5],
						"principal://bob/data/k0*": nil,
						"z2":                       {"z2"},
						"principal://dave/data/w":  nil,
						"*1":                       {"a1", "principal://alice/data/x1", "principal://carol/data/y1", "z1"},
					} {
						res, err := s.List(ctx, in, kr, storage.Pattern(pat), storage.Limit(2))
						if err != nil {
							t.Fatal(err)
						}
						if !slices.Equal(res.Keys, want[:min(2, len(want))]) {
							t.Errorf("pattern %q: %q, want %q", pat, res.Keys, want)
						}
					}
					res, err = s.List(ctx, in, storage.InKeyRanges())
					if err != nil || len(res.Keys) != 0 {
						t.Fatalf("no ranges: %q %v", res.Keys, err)
					}
				})
			}
			n, err := s.Count(ctx, in, kr)
			if err != nil || n != int64(len(visible)) {
				t.Fatalf("Count = %d, %v; want %d", n, err, len(visible))
			}
			n, err = s.Count(ctx, in, kr, storage.Where(storage.StartsWith("$key", "principal://")))
			if err != nil || n != 4 {
				t.Fatalf("Count with a filter = %d, %v; want 4", n, err)
			}
			var got []string
			opts := []storage.Option{in, kr, storage.Limit(2)}
			for {
				res, err := s.Query(ctx, storage.All(), opts...)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range res.Entries {
					got = append(got, e.Key)
				}
				if res.Cursor == "" {
					break
				}
				if len(res.Entries) != 2 {
					t.Fatalf("Query page of %d with a cursor", len(res.Entries))
				}
				opts = []storage.Option{in, kr, storage.Limit(2), storage.After(res.Cursor)}
			}
			if !slices.Equal(got, visible) {
				t.Fatalf("Query paged %q, want %q", got, visible)
			}
			tx, err := s.Begin(ctx, storage.TxOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(ctx) }()
			res, err := tx.List(ctx, in, kr, storage.Limit(3), storage.Offset(1))
			if err != nil || !slices.Equal(res.Keys, visible[1:4]) {
				t.Fatalf("tx List = %q, %v", res.Keys, err)
			}
			if n, err := tx.Count(ctx, in, kr); err != nil || n != int64(len(visible)) {
				t.Fatalf("tx Count = %d, %v", n, err)
			}
		})
	}
}

// TestInKeyRangesInvalid checks the validation of InKeyRanges.
func TestInKeyRangesInvalid(t *testing.T) {
	for _, rs := range [][]storage.KeyRange{
		{{From: "b", To: "a"}},
		{{From: "a", To: "a"}},
		{{From: "a\x00"}},
		{{To: "\xff"}},
		make([]storage.KeyRange, 1025),
	} {
		if _, err := driver.ResolveOptions("list", driver.KindKeyRanges, []storage.Option{storage.InKeyRanges(rs...)}); err == nil {
			t.Errorf("InKeyRanges(%d ranges starting %q) accepted", len(rs), rs[0])
		}
	}
	o, err := driver.ResolveOptions("list", driver.KindKeyRanges, []storage.Option{storage.InKeyRanges(
		storage.KeyRange{From: "m", To: "p"}, storage.KeyRange{From: "a", To: "c"}, storage.KeyRange{From: "b", To: "d"},
		storage.KeyRange{From: "d", To: "e"}, storage.KeyRange{From: "x"}, storage.KeyRange{From: "y", To: "z"})})
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.KeyRange{{From: "a", To: "e"}, {From: "m", To: "p"}, {From: "x"}}
	if !slices.Equal(o.KeyRanges, want) {
		t.Fatalf("normalized = %q, want %q", o.KeyRanges, want)
	}
}

// TestListKeyRangesBounded checks with EXPLAIN that a List page over key
// ranges reads the primary key only inside the ranges: SQLite searches
// the primary key for every span (no scan), and PostgreSQL's index scans,
// run with EXPLAIN ANALYZE, read no more rows than the page needs, with
// thousands of keys outside the ranges between the visible ones.
func TestListKeyRangesBounded(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			raceSkipsMemory(t, c)
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			visible, ranges := analyzedKeyRanges(t, s, 5000)
			for _, page := range []struct {
				name  string
				after string
			}{{"first", ""}, {"after a2", "a2"}, {"after x3", "principal://alice/data/x3"}} {
				opts := []storage.Option{storage.InNamespace("kr"), storage.InKeyRanges(ranges...), storage.Limit(2)}
				if page.after != "" {
					opts = append(opts, storage.After(encodeCursor(cursor{Op: "list", Hash: fingerprint("list", "kr", "", false), Key: page.after})))
				}
				q, args := listSQL(t, s, opts)
				res, err := s.List(ctx, opts...)
				if err != nil {
					t.Fatal(err)
				}
				i := 0
				if page.after != "" {
					i = slices.Index(visible, page.after) + 1
				}
				if !slices.Equal(res.Keys, visible[i:i+2]) {
					t.Fatalf("%s page: %q, want %q", page.name, res.Keys, visible[i:i+2])
				}
				// One lower bound on key per arm: SQLite searches from only
				// one of two and filters every row read up to the other, so a
				// cursor bound beside a span's start read all the keys
				// between them (EXPLAIN QUERY PLAN shows "key>?" either way).
				for i, arm := range strings.Split(q, " UNION ALL ") {
					if n := len(regexp.MustCompile(`\bkey >=? `).FindAllString(arm, -1)); n > 1 {
						t.Errorf("%s page: arm %d has %d lower bounds on key: %s", page.name, i, n, arm)
					}
				}
				plan := explainPlan(t, s, "EXPLAIN (ANALYZE, COSTS OFF) ", q, args)
				t.Logf("%s page plan:\n%s", page.name, plan)
				if s.Dialect() == "postgres" {
					read, removed := pgRowsRead(plan, `Index (?:Only )?Scan`)
					if read == 0 || read > 4*3 || removed > 4*3 {
						t.Errorf("%s page: index scans returned %d rows and filters removed %d, want at most 3 per span:\n%s", page.name, read, removed, plan)
					}
					continue
				}
				if strings.Contains(plan, "SCAN entries") || strings.Count(plan, "SEARCH entries") < 2 {
					t.Errorf("%s page: want a primary-key search per span, no scan:\n%s", page.name, plan)
				}
				for _, line := range strings.Split(plan, "\n") {
					// listLiveCond's lookups of the expired rows search the
					// partial index entries_expires_at.
					if strings.Contains(line, "SEARCH entries") && !strings.Contains(line, "entries_expires_at") &&
						!strings.Contains(line, "key>") && !strings.Contains(line, "key<") {
						t.Errorf("%s page: a search not bounded by key: %s", page.name, line)
					}
				}
			}
		})
	}
}

// listSQL returns the statement and arguments List runs for opts.
func listSQL(t *testing.T, s *Store, opts []storage.Option) (string, []any) {
	t.Helper()
	o, err := driver.ResolveOptions("list", driver.AllOptionKinds, opts)
	if err != nil {
		t.Fatal(err)
	}
	q, args, err := s.listQuery(o)
	if err != nil {
		t.Fatal(err)
	}
	return q, args
}

// analyzedKeyRanges is keyRangesFixture with the tables analyzed, so that
// the plans are those of a store with data.
func analyzedKeyRanges(t *testing.T, s *Store, hidden int) ([]string, []storage.KeyRange) {
	t.Helper()
	visible, ranges := keyRangesFixture(t, s, hidden)
	stmt := "ANALYZE"
	if s.Dialect() == "postgres" {
		stmt = "ANALYZE entries"
	}
	if _, err := s.eng.writer().exec(t.Context(), stmt); err != nil {
		t.Fatal(err)
	}
	return visible, ranges
}

// pgRowsRead sums the rows that PostgreSQL's scans (nodes matching scan)
// returned and that filters removed, in an EXPLAIN ANALYZE plan.
func pgRowsRead(plan, scan string) (read, removed int) {
	for _, m := range regexp.MustCompile(scan+`.*actual time=\S+ rows=(\d+)`).FindAllStringSubmatch(plan, -1) {
		n, _ := strconv.Atoi(m[1])
		read += n
	}
	for _, m := range regexp.MustCompile(`Rows Removed by Filter: (\d+)`).FindAllStringSubmatch(plan, -1) {
		n, _ := strconv.Atoi(m[1])
		removed += n
	}
	return read, removed
}

// explainPlan returns the plan of statement q: SQLite's EXPLAIN QUERY
// PLAN, or on PostgreSQL what pgStmt (an EXPLAIN with its options) says.
func explainPlan(t *testing.T, s *Store, pgStmt, q string, args []any) string {
	t.Helper()
	pg := s.Dialect() == "postgres"
	stmt := "EXPLAIN QUERY PLAN "
	if pg {
		stmt = pgStmt
	}
	var plan []string
	err := s.eng.reader().queryRows(t.Context(), stmt+q, args, func(r rowScanner) error {
		if pg {
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
		t.Fatalf("EXPLAIN: %v\n%s", err, q)
	}
	return strings.Join(plan, "\n")
}

// TestManyKeyRanges runs List, Query and Count with the most key ranges
// InKeyRanges takes, on each configured dialect: SQLite refused the
// statement (an OR chain deeper than its limit of 1000).
func TestManyKeyRanges(t *testing.T) {
	for _, c := range configs {
		if c.name == "sqlite-file" || c.name == "postgres" && os.Getenv("STORAGE_TEST_POSTGRES_DSN") == "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			var rs []storage.KeyRange
			for i := range 1024 { // storage.maxKeyRanges
				rs = append(rs, storage.KeyRange{From: fmt.Sprintf("m%04d", i), To: fmt.Sprintf("m%04d~", i)})
			}
			for _, k := range []string{"m0000", "m0500x", "m1023", "m1024", "a"} {
				if err := s.Set(ctx, k, map[string]any{"n": 1}); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{"m0000", "m0500x", "m1023"}
			l, err := s.List(ctx, storage.InKeyRanges(rs...))
			if err != nil || !slices.Equal(l.Keys, want) {
				t.Fatalf("List: %v, %v", l.Keys, err)
			}
			q, err := s.Query(ctx, storage.Eq("n", 1), storage.InKeyRanges(rs...), storage.Limit(2))
			if err != nil || len(q.Entries) != 2 || q.Entries[0].Key != "m0000" {
				t.Fatalf("Query: %+v, %v", q.Entries, err)
			}
			n, err := s.Count(ctx, storage.InKeyRanges(rs...))
			if err != nil || n != 3 {
				t.Fatalf("Count = %d, %v", n, err)
			}
		})
	}
}

// TestQueryKeyRanges checks Query over InKeyRanges against the keys the
// ranges let through, on every configuration: every limit and offset of a
// paging through (each page's cursor into the next), with and without a
// filter, and the statement's shape: a key-ordered query over several
// spans reads each span as an arm of a UNION ALL (its lower bound on key
// the cursor's or the span's start, not both), so a page past thousands of hidden keys does not read them
// (issue 15, item 5, for Query). On SQLite each arm is a primary-key
// search bounded by key; on PostgreSQL the index scans return at most a
// page's rows per arm.
func TestQueryKeyRanges(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			raceSkipsMemory(t, c)
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			visible, ranges := analyzedKeyRanges(t, s, 5000)
			in, kr := storage.InNamespace("kr"), storage.InKeyRanges(ranges...)
			for _, f := range []storage.Filter{storage.All(), storage.Ne("$key", "principal://alice/data/x2")} {
				want := slices.DeleteFunc(slices.Clone(visible), func(k string) bool { return f.Op != "" && k == "principal://alice/data/x2" })
				for limit := 1; limit <= 4; limit++ {
					for off := 0; off <= 3; off++ {
						var got []string
						opts := []storage.Option{in, kr, storage.Limit(limit), storage.Offset(off)}
						for range len(visible) + 2 {
							res, err := s.Query(ctx, f, opts...)
							if err != nil {
								t.Fatalf("Query limit %d offset %d: %v", limit, off, err)
							}
							for _, e := range res.Entries {
								got = append(got, e.Key)
							}
							if res.Cursor == "" {
								break
							}
							opts = []storage.Option{in, kr, storage.Limit(limit), storage.Offset(off), storage.After(res.Cursor)}
						}
						// Each page skips off entries after the cursor.
						var exp []string
						for i := off; i < len(want); {
							end := min(i+limit, len(want))
							exp = append(exp, want[i:end]...)
							i = end + off
						}
						if !slices.Equal(got, exp) {
							t.Errorf("filter %v limit %d offset %d: %q, want %q", f, limit, off, got, exp)
						}
					}
				}
			}

			// The statement of a page after x3 (bob's keys lie between
			// alice's and the next span) and of the first page.
			first, err := s.Query(ctx, storage.All(), in, kr, storage.Limit(5))
			if err != nil {
				t.Fatal(err)
			}
			for _, page := range []struct {
				name   string
				cursor string
			}{{"first", ""}, {"after x3", first.Cursor}} {
				if page.name != "first" && first.Entries[4].Key != "principal://alice/data/x3" {
					t.Fatalf("first page %v", first.Entries)
				}
				opts := []storage.Option{in, kr, storage.Limit(2)}
				if page.cursor != "" {
					opts = append(opts, storage.After(page.cursor))
				}
				o, err := driver.ResolveOptions("query", driver.AllOptionKinds, opts)
				if err != nil {
					t.Fatal(err)
				}
				p, err := prepareQuery(storage.All(), o)
				if err != nil {
					t.Fatal(err)
				}
				nsi, err := s.readNamespace(ctx, "kr")
				if err != nil {
					t.Fatal(err)
				}
				q, args, _, err := s.buildQuery(ctx, &p, o, nsi, s.now())
				if err != nil {
					t.Fatal(err)
				}
				if len(strings.Split(q, " UNION ALL ")) < 2 {
					t.Errorf("%s page: not one arm per span: %s", page.name, q)
				}
				plan := explainPlan(t, s, "EXPLAIN (ANALYZE, COSTS OFF) ", q, args)
				t.Logf("%s page plan:\n%s", page.name, plan)
				if s.Dialect() == "postgres" {
					read, removed := pgRowsRead(plan, `(?:Index (?:Only )?Scan|Seq Scan)`)
					if read > 4*3 || removed > 4*3 {
						t.Errorf("%s page: scans returned %d rows and filters removed %d, want at most 3 per span:\n%s", page.name, read, removed, plan)
					}
					continue
				}
				if strings.Contains(plan, "SCAN entries") || strings.Count(plan, "SEARCH entries") < 2 {
					t.Errorf("%s page: want a primary-key search per span, no scan:\n%s", page.name, plan)
				}
				// Before: one MULTI-INDEX OR that read every row of every
				// span after the cursor and sorted them for the page.
				if strings.Contains(plan, "MULTI-INDEX OR") || !strings.Contains(plan, "MERGE (UNION ALL)") {
					t.Errorf("%s page: want the spans' limited arms merged in key order:\n%s", page.name, plan)
				}
			}
		})
	}
}
