package sqlstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
)

// TestQueryEntriesAsGet checks that every entry Query returns is the one
// Get returns, field by field (value, metadata, version, revisions, times,
// expiry), in namespaces with and without a declared index, whatever the
// rows before it held: entries with and without an expiry, metadata or
// none, written once or several times, alternate in every sort order.
// SQLite reads them from one packed column per row into a scratch row
// that serves every row of the statement.
func TestQueryEntriesAsGet(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			if err := s.CreateNamespace(ctx, "ix", storage.WithIndexes("n")); err != nil {
				t.Fatal(err)
			}
			for _, ns := range []string{"plain", "ix"} {
				in := storage.InNamespace(ns)
				for i := range 12 {
					opts := []storage.Option{in}
					if i%2 == 0 {
						opts = append(opts, storage.WithTTL(time.Hour+time.Duration(i)*time.Minute))
					}
					if i%3 == 0 {
						opts = append(opts, storage.WithMetadata(map[string]any{"m": i, "s": "x,y"}))
					}
					key := fmt.Sprintf("k%02d", i)
					for w := 0; w <= i%4; w++ {
						v := map[string]any{"n": i % 5, "w": w, "t": "a,b,{c}"}
						if err := s.Set(ctx, key, v, opts...); err != nil {
							t.Fatal(err)
						}
					}
				}
				for name, q := range map[string][]storage.Option{
					"key order":  {in},
					"sort asc":   {in, storage.SortBy(storage.Asc("n"))},
					"sort desc":  {in, storage.SortBy(storage.Desc("n")), storage.Limit(20)},
					"range sort": {in, storage.SortBy(storage.Desc("n")), storage.Limit(5)},
				} {
					f := storage.All()
					if name == "range sort" {
						f = storage.And(storage.Gte("n", 1), storage.Lt("n", 4))
					}
					res, err := s.Query(ctx, f, q...)
					if err != nil {
						t.Fatal(err)
					}
					if len(res.Entries) == 0 {
						t.Fatalf("%s %s: no entries", ns, name)
					}
					for _, e := range res.Entries {
						g, err := s.Get(ctx, e.Key, in)
						if err != nil {
							t.Fatal(err)
						}
						if e.Namespace != ns || e.Version != g.Version || e.Revision != g.Revision || e.CreateRevision != g.CreateRevision ||
							!e.CreatedAt.Equal(g.CreatedAt) || !e.UpdatedAt.Equal(g.UpdatedAt) || !e.ExpiresAt.Equal(g.ExpiresAt) ||
							!jsonEqual(t, e.Value, g.Value) || !jsonEqual(t, e.Metadata, g.Metadata) {
							t.Errorf("%s %s: Query's %s = %+v\nGet's = %+v", ns, name, e.Key, e, g)
						}
					}
				}
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// TestQueryPackedInt checks packedInt, which reads the integers of the
// packed entry column, against strconv.ParseInt on every form SQLite
// writes (and the malformed ones it does not).
func TestQueryPackedInt(t *testing.T) {
	for _, n := range []int64{0, 1, -1, 9, 10, 255, 1796282145070670, -1796282145070670,
		999_999_999_999_999_999, 1_000_000_000_000_000_000, math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		s := strconv.FormatInt(n, 10) + ",rest"
		v, rest, ok := packedInt(s)
		if !ok || v != n || rest != "rest" {
			t.Errorf("packedInt(%q) = %d, %q, %v", s, v, rest, ok)
		}
	}
	for _, s := range []string{"", ",", "-,", "12", "-", "1a,", " 1,", "+1,", "99999999999999999999,", "-99999999999999999999,"} {
		if v, _, ok := packedInt(s); ok {
			t.Errorf("packedInt(%q) = %d, ok", s, v)
		}
	}
}

// TestQuerySortGroup checks that sortGroup orders a group of rows by
// compare whatever order it comes in: reversed (as a declared index read
// backwards gives ties), already ordered, or mixed.
func TestQuerySortGroup(t *testing.T) {
	g := tieGroups{c: sqliteCompiler, sorts: []sortCol{{field: driver.Field{Root: driver.RootValue}}}, rev: true}
	mk := func(keys ...string) []queryRow {
		rows := make([]queryRow, len(keys))
		for i, k := range keys {
			rows[i] = queryRow{en: &storage.Entry{Key: k}, pv: []pathVals{{}}}
		}
		return rows
	}
	want := []string{"a", "b", "c", "d", "e"}
	for _, in := range [][]string{{"e", "d", "c", "b", "a"}, {"a", "b", "c", "d", "e"}, {"c", "a", "e", "b", "d"}, {"e", "d", "c", "a", "b"}, {"b", "a", "c", "d", "e"}} {
		rows := mk(in...)
		g.sortGroup(rows)
		var got []string
		for _, r := range rows {
			got = append(got, r.en.Key)
		}
		if !slices.Equal(got, want) {
			t.Errorf("sortGroup(%v) = %v", in, got)
		}
	}
}

// TestPageEntries checks pageEntries on the rows of one statement's array
// (queryRows) in their order, permuted (as settle orders groups of ties),
// short of the look-ahead row, missing a row of the array, and on rows of
// two arrays (a page read by two statements): the entries come out in the
// rows' order every time; the array itself is the result only where the
// rows are a permutation of its first entries.
func TestPageEntries(t *testing.T) {
	// rowsOf returns one array's rows: n entries, keys k0, k1, ….
	rowsOf := func(prefix string, n int) []queryRow {
		ents := make([]storage.Entry, 0, n+2)
		var rows []queryRow
		for i := range n {
			ents = append(ents, storage.Entry{Key: fmt.Sprintf("%s%d", prefix, i), Version: int64(i)})
			rows = append(rows, queryRow{en: &ents[i], ents: ents[:cap(ents)], at: i})
		}
		return rows
	}
	keys := func(rows []queryRow) []string {
		var k []string
		for _, r := range rows {
			k = append(k, r.en.Key)
		}
		return k
	}
	check := func(name string, rows []queryRow, inPlace bool) {
		t.Helper()
		want := keys(rows)
		arr := rows[0].ents
		got := pageEntries(rows)
		var gk []string
		for _, e := range got {
			gk = append(gk, e.Key)
		}
		if !slices.Equal(gk, want) {
			t.Errorf("%s: %v, want %v", name, gk, want)
		}
		for _, e := range got {
			if e.Key[1:] != strconv.FormatInt(e.Version, 10) {
				t.Errorf("%s: entry %s has version %d: fields of two entries mixed", name, e.Key, e.Version)
			}
		}
		if same := &got[0] == &arr[0]; same != inPlace {
			t.Errorf("%s: result is the statement's array: %v, want %v", name, same, inPlace)
		}
		if cap(got) != len(got) {
			t.Errorf("%s: cap %d, len %d: an append would write over the array", name, cap(got), len(got))
		}
		if inPlace {
			for _, e := range arr[len(got):] {
				if e.Key != "" {
					t.Errorf("%s: entry %q left after the page", name, e.Key)
				}
			}
		}
	}
	check("in order", rowsOf("a", 5), true)
	r := rowsOf("a", 6)
	r[0], r[1], r[2], r[3], r[4], r[5] = r[3], r[5], r[4], r[0], r[2], r[1]
	check("permuted", r, true)
	r = rowsOf("a", 6)
	r[0], r[1], r[3], r[4] = r[4], r[3], r[1], r[0]
	check("permuted, look-ahead row dropped", r[:5], true)
	r = rowsOf("a", 6)
	r[1], r[5] = r[5], r[1] // the page keeps row 5 and drops row 1
	check("a row of the array dropped", r[:5], false)
	check("two arrays", append(rowsOf("a", 3), rowsOf("b", 3)...), false)
	if got := pageEntries(nil); got == nil || len(got) != 0 {
		t.Errorf("no rows: %#v", got)
	}
}
