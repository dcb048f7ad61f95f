package sqlstore

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
	"github.com/mycelia-kernel/storage/driver"
)

// TestPinnedSortReadsOneColumn: a sort on a path field whose type the
// filter pins to numbers or strings reads one column of the field's
// value (the number or the string: the type rank is the pinned one and
// the other column NULL on every row), where it read three (rank, number,
// string) before; a sort the filter does not pin still reads the three.
// Each query is walked in pages of 3 through its cursors, on a declared
// field (the index's columns) and an undeclared one (the JSON), and the
// keys must come in the order computed here: by the field, then by key.
func TestPinnedSortReadsOneColumn(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			var mu sync.Mutex
			var stmts []string
			s := openTest(t, c.dsn(t), WithSweepInterval(-1), withQueryHook(func(q string, _ []any) {
				mu.Lock()
				stmts = append(stmts, q)
				mu.Unlock()
			}))
			defer s.Close()
			in := storage.InNamespace("pin")
			must(t, s.CreateNamespace(ctx, "pin", storage.WithIndexes("n", "s")))
			type doc struct {
				key string
				n   int
				s   string
			}
			var docs []doc
			var items []storage.Item
			for i := range 40 {
				d := doc{key: fmt.Sprintf("k%02d", i), n: i % 7, s: fmt.Sprintf("%c%d", 'a'+rune(i%3), i%5)}
				docs = append(docs, d)
				// Both fields as m and t too, undeclared; a few entries
				// hold other types at the fields (not matched by the
				// typed filters).
				v := map[string]any{"n": d.n, "s": d.s, "m": d.n, "t": d.s}
				if i%9 == 0 {
					v = map[string]any{"n": "x", "s": 1, "m": "x", "t": 1}
				}
				items = append(items, storage.Item{Key: d.key, Value: v})
			}
			res, err := s.SetMany(ctx, items, in)
			if err != nil || !res.OK() {
				t.Fatalf("SetMany: %v %v", err, res.Err())
			}
			c := s.compiler()
			cases := []struct {
				name    string
				f       storage.Filter
				field   string
				desc    bool
				keep    func(int, doc) bool
				less    func(a, b doc) int
				col     int // the one value column read, -1: three
				indexed bool
			}{
				{"number desc", storage.And(storage.Gte("n", 2), storage.Lt("n", 6)), "n", true,
					func(i int, d doc) bool { return i%9 != 0 && d.n >= 2 && d.n < 6 }, func(a, b doc) int { return cmp.Compare(b.n, a.n) }, 1, true},
				{"number asc", storage.Gte("m", 3), "m", false,
					func(i int, d doc) bool { return i%9 != 0 && d.n >= 3 }, func(a, b doc) int { return cmp.Compare(a.n, b.n) }, 1, false},
				{"string asc", storage.StartsWith("s", "b"), "s", false,
					func(i int, d doc) bool { return i%9 != 0 && strings.HasPrefix(d.s, "b") }, func(a, b doc) int { return strings.Compare(a.s, b.s) }, 2, true},
				{"string desc", storage.Gte("t", "b"), "t", true,
					func(i int, d doc) bool { return i%9 != 0 && d.s >= "b" }, func(a, b doc) int { return strings.Compare(b.s, a.s) }, 2, false},
				{"unpinned", storage.Exists("n", true), "n", true, nil, nil, -1, true},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					fld, err := driver.ParseField(tc.field)
					must(t, err)
					exprs := c.ValueExprs(fld)
					// pinnedCol: the index's column itself, read for a
					// pinned sort the index drives (IndexPinnedValueExpr)
					// in place of IndexValueExprs' CASE on the rank.
					pinnedCol := ""
					if tc.indexed {
						exprs = c.IndexValueExprs(fld)
						if tc.col >= 0 {
							rank := dialect.RankNumber
							if tc.col == 2 {
								rank = dialect.RankString
							}
							var ok bool
							if pinnedCol, ok = c.IndexPinnedValueExpr(fld, rank); !ok {
								t.Fatalf("no pinned column for rank %d", rank)
							}
						}
					}
					dir := storage.Asc(tc.field)
					if tc.desc {
						dir = storage.Desc(tc.field)
					}
					var got []string
					cursor := ""
					mu.Lock()
					stmts = stmts[:0]
					mu.Unlock()
					for page := 0; ; page++ {
						opts := []storage.Option{in, storage.SortBy(dir), storage.Limit(3)}
						if cursor != "" {
							opts = append(opts, storage.After(cursor))
						}
						res, err := s.Query(ctx, tc.f, opts...)
						must(t, err)
						for _, e := range res.Entries {
							got = append(got, e.Key)
						}
						if cursor = res.Cursor; cursor == "" || page > 40 {
							break
						}
					}
					mu.Lock()
					defer mu.Unlock()
					if len(stmts) == 0 {
						t.Fatal("no statement seen")
					}
					for _, q := range stmts {
						sel, _, _ := strings.Cut(q, " FROM ") // the columns
						for k, ex := range exprs {
							want := tc.col < 0 || k == tc.col
							if k == tc.col && pinnedCol != "" && pinnedCol != ex {
								// The column, not the CASE around it.
								if !strings.Contains(sel, ", "+pinnedCol) {
									t.Errorf("pinned column %s not read, in\n%s", pinnedCol, q)
								}
								want = false
							}
							if strings.Contains(sel, ex) != want {
								t.Errorf("value column %d (%s) read: %v, want %v, in\n%s", k, ex, !want, want, q)
							}
						}
					}
					if tc.keep == nil {
						return
					}
					var want []doc
					for i, d := range docs {
						if tc.keep(i, d) {
							want = append(want, d)
						}
					}
					slices.SortStableFunc(want, func(a, b doc) int { return cmp.Or(tc.less(a, b), strings.Compare(a.key, b.key)) })
					var wantKeys []string
					for _, d := range want {
						wantKeys = append(wantKeys, d.key)
					}
					if !slices.Equal(got, wantKeys) {
						t.Errorf("pages give %v, want %v", got, wantKeys)
					}
				})
			}
		})
	}
}
