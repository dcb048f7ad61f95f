package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// The MaxBytes option (storage.MaxBytes): a List, Query or GetMany stops
// after the entry that makes the keys, values and metadata it read (List:
// the keys) reach the budget, always returning at least one, and goes on
// from its cursor (GetMany: its Unread keys) exactly as after a Limit: a
// cursor only when another entry follows.

// maxBytesDocs are entries of very different sizes: small ones, then
// large ones, with groups of ties on g and a field n.
func maxBytesDocs(t *testing.T, st storage.Store) {
	t.Helper()
	docs := map[string]string{}
	for i := range 40 {
		pad := ""
		if i >= 8 {
			pad = strings.Repeat("x", 500*(i%7)+100)
		}
		docs[fmt.Sprintf("k%02d", i)] = fmt.Sprintf(`{"n":%d,"g":%d,"pad":%q}`, (i*17)%40, i%4, pad)
	}
	setDocs(t, st, docs)
}

func entryBytes(e storage.Entry) int64 { return int64(len(e.Key) + len(e.Value) + len(e.Metadata)) }

// checkCut checks a page of sizes cut at budget: at least one entry when
// more follow, and every entry but the last read before the budget was
// reached.
func checkCut(t *testing.T, what string, page int, sizes []int64, budget int64, cursor string) {
	t.Helper()
	if len(sizes) == 0 && page > 0 {
		t.Fatalf("%s: the cursor of page %d led to an empty page: a cursor is given only when an entry follows", what, page-1)
	}
	if len(sizes) == 0 && cursor != "" {
		t.Fatalf("%s: an empty page with a cursor", what)
	}
	var sum int64
	for i, n := range sizes {
		if i > 0 && sum >= budget {
			t.Fatalf("%s: entry %d read after the budget %d was reached (%d bytes before it)", what, i, budget, sum)
		}
		sum += n
	}
}

func testQueryMaxBytes(t *testing.T, s *suite) {
	st := s.newStore(t)
	maxBytesDocs(t, st)
	sorts := [][]storage.SortField{
		nil,
		{storage.Asc("n")},
		{storage.Desc("g")},
		{storage.Desc("g"), storage.Desc("n")},
		{storage.Asc("g"), storage.Desc("pad")},
	}
	for _, sort := range sorts {
		for _, f := range []storage.Filter{storage.Gte("n", 5)} {
			var base []storage.Option
			if sort != nil {
				base = append(base, storage.SortBy(sort...))
			}
			want := queryKeys(t, st, f, base...)
			for _, budget := range []int64{1, 3000} {
				for _, limit := range []int{-1, 1, 5} {
					what := fmt.Sprintf("Query(%s) sort %v MaxBytes(%d) Limit(%d)", mustJSON(t, f), sort, budget, limit)
					var got []string
					cursor := ""
					for pages := 0; ; pages++ {
						if pages > len(want)+1 {
							t.Fatalf("%s: more than %d pages", what, len(want)+1)
						}
						opts := append(slices.Clone(base), storage.MaxBytes(budget))
						if limit >= 0 {
							opts = append(opts, storage.Limit(limit))
						}
						if cursor != "" {
							opts = append(opts, storage.After(cursor))
						}
						res, err := st.Query(t.Context(), f, opts...)
						noErr(t, err, what)
						sizes := make([]int64, len(res.Entries))
						for i, e := range res.Entries {
							sizes[i] = entryBytes(e)
							got = append(got, e.Key)
						}
						checkCut(t, what, pages, sizes, budget, res.Cursor)
						if limit >= 0 && len(res.Entries) > limit {
							t.Fatalf("%s: %d entries, more than the limit", what, len(res.Entries))
						}
						if cursor = res.Cursor; cursor == "" {
							break
						}
					}
					if !slices.Equal(got, want) {
						t.Fatalf("%s: pages gave %v, want %v", what, got, want)
					}
				}
			}
		}
	}
	_, err := st.Query(t.Context(), storage.All(), storage.MaxBytes(0))
	wantErr(t, err, storage.ErrInvalidOption, "Query MaxBytes(0)")
}

func testListMaxBytes(t *testing.T, s *suite) {
	st := s.newStore(t)
	var keys []string
	for i := range 30 {
		k := fmt.Sprintf("k%02d", i) + strings.Repeat("y", (i*13)%50)
		keys = append(keys, k)
		noErr(t, st.Set(t.Context(), k, 1), "Set")
	}
	noErr(t, st.Set(t.Context(), "other", 1), "Set")
	slices.Sort(keys)
	for _, budget := range []int64{1, 40, 200, 1 << 20} {
		for _, limit := range []int{-1, 3} {
			what := fmt.Sprintf("List MaxBytes(%d) Limit(%d)", budget, limit)
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(keys)+1 {
					t.Fatalf("%s: more than %d pages", what, len(keys)+1)
				}
				opts := []storage.Option{storage.Pattern("k*"), storage.MaxBytes(budget)}
				if limit >= 0 {
					opts = append(opts, storage.Limit(limit))
				}
				if cursor != "" {
					opts = append(opts, storage.After(cursor))
				}
				res, err := st.List(t.Context(), opts...)
				noErr(t, err, what)
				sizes := make([]int64, len(res.Keys))
				for i, k := range res.Keys {
					sizes[i] = int64(len(k))
				}
				checkCut(t, what, pages, sizes, budget, res.Cursor)
				got = append(got, res.Keys...)
				if cursor = res.Cursor; cursor == "" {
					break
				}
			}
			if !slices.Equal(got, keys) {
				t.Fatalf("%s: pages gave %v, want %v", what, got, keys)
			}
		}
	}
	_, err := st.List(t.Context(), storage.MaxBytes(-1))
	wantErr(t, err, storage.ErrInvalidOption, "List MaxBytes(-1)")
}

func testGetManyMaxBytes(t *testing.T, s *suite) {
	st := s.newStore(t)
	maxBytesDocs(t, st)
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("k%02d", i))
	}
	keys = append(keys, "missing", "k03", "") // a missing key, a repeat, an invalid key
	for _, budget := range []int64{1, 2000, 1 << 20} {
		what := fmt.Sprintf("GetMany MaxBytes(%d)", budget)
		where := map[string]string{}
		ask := keys
		for answers := 0; len(ask) > 0; answers++ {
			if answers > len(keys) {
				t.Fatalf("%s: more than %d answers", what, len(keys))
			}
			res, err := st.GetMany(t.Context(), ask, storage.MaxBytes(budget))
			noErr(t, err, what)
			var sum, most int64
			for k, e := range res.Entries {
				if where[k] != "" {
					t.Fatalf("%s: %s answered again", what, k)
				}
				where[k] = "entries"
				sum += entryBytes(e)
				most = max(most, entryBytes(e))
			}
			if sum-most >= budget {
				t.Fatalf("%s: read %d bytes, the budget %d reached before the last entry (of %d bytes)", what, sum, budget, most)
			}
			for k := range res.Errors {
				if where[k] != "" {
					t.Fatalf("%s: %s answered again", what, k)
				}
				where[k] = "errors"
			}
			for _, k := range res.Unread {
				if _, ok := res.Entries[k]; ok {
					t.Fatalf("%s: unread key %s answered", what, k)
				}
				if _, ok := res.Errors[k]; ok {
					t.Fatalf("%s: unread key %s answered", what, k)
				}
			}
			if len(res.Unread) > 0 && len(res.Entries) == 0 {
				t.Fatalf("%s: nothing read, %d keys unread", what, len(res.Unread))
			}
			if len(slices.Compact(slices.Sorted(slices.Values(res.Unread)))) != len(res.Unread) {
				t.Fatalf("%s: a key unread twice: %v", what, res.Unread)
			}
			ask = res.Unread
		}
		for _, k := range keys {
			want := "entries"
			if k == "missing" || k == "" {
				want = "errors"
			}
			if where[k] != want {
				t.Errorf("%s: key %q in %q, want %s", what, k, where[k], want)
			}
		}
	}
	res, err := st.GetMany(t.Context(), []string{"k00", "k01"})
	noErr(t, err, "GetMany")
	if len(res.Unread) != 0 || len(res.Entries) != 2 {
		t.Errorf("GetMany without MaxBytes: %d entries, unread %v", len(res.Entries), res.Unread)
	}
}
