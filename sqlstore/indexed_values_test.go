package sqlstore

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestIndexedLongStrings: any string may sit in an indexed field. A 1 MiB
// string, and strings that share a prefix longer than the part an index
// holds, are written, read, filtered and sorted (both directions, page by
// page with cursors) exactly; and an index declared in one namespace
// changes nothing for another namespace's writes, nor for a namespace
// created with indexes afterwards. (Before the per-namespace indexes,
// PostgreSQL failed every such write in every namespace: index row size
// exceeds the B-tree maximum.)
func TestIndexedLongStrings(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			raceSkipsMemory(t, c)
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			if err := s.CreateNamespace(ctx, "a", storage.WithIndexes("name")); err != nil {
				t.Fatal(err)
			}
			p := strings.Repeat("x", 300) // longer than PostgreSQL's indexed prefix
			big := strings.Repeat("x", 1<<20)
			vals := map[string]any{"k1": p + "a", "k2": p + "c", "k3": p + "b", "k4": big, "k5": "a", "k6": 5, "k7": p + "é"}
			for _, ns := range []string{"b", "a"} { // b declares nothing
				for k, v := range vals {
					if err := s.Set(ctx, k, map[string]any{"name": v}, storage.InNamespace(ns)); err != nil {
						t.Fatalf("Set %s in %s: %v", k, ns, err)
					}
				}
			}
			if err := s.CreateNamespace(ctx, "c", storage.WithIndexes("name")); err != nil {
				t.Fatalf("CreateNamespace with indexes after long values elsewhere: %v", err)
			}
			e, err := s.Get(ctx, "k4", storage.InNamespace("a"))
			var got struct{ Name string }
			if err == nil {
				err = json.Unmarshal(e.Value, &got)
			}
			if err != nil || got.Name != big {
				t.Fatalf("Get k4 = %d bytes, %v", len(e.Value), err)
			}
			keys := func(f storage.Filter, opts ...storage.Option) []string {
				t.Helper()
				var out []string
				opts = append(opts, storage.InNamespace("a"), storage.Limit(2))
				for cur := ""; ; {
					o := opts
					if cur != "" {
						o = append(slices.Clone(opts), storage.After(cur))
					}
					res, err := s.Query(ctx, f, o...)
					if err != nil {
						t.Fatalf("Query(%v): %v", f, err)
					}
					for _, e := range res.Entries {
						out = append(out, e.Key)
					}
					if cur = res.Cursor; cur == "" {
						return out
					}
				}
			}
			for _, tc := range []struct {
				name string
				f    storage.Filter
				sort []storage.SortField
				want []string
			}{
				{"sort asc", storage.All(), []storage.SortField{storage.Asc("name")}, []string{"k6", "k5", "k1", "k3", "k2", "k4", "k7"}},
				{"sort desc", storage.All(), []storage.SortField{storage.Desc("name")}, []string{"k7", "k4", "k2", "k3", "k1", "k5", "k6"}},
				{"eq big", storage.Eq("name", big), nil, []string{"k4"}},
				{"eq prefixed", storage.Eq("name", p+"b"), nil, []string{"k3"}},
				{"gt", storage.Gt("name", p+"a"), []storage.SortField{storage.Asc("name")}, []string{"k3", "k2", "k4", "k7"}},
				{"lte desc", storage.Lte("name", p+"b"), []storage.SortField{storage.Desc("name")}, []string{"k3", "k1", "k5"}},
				{"in", storage.In("name", big, "a", p+"c"), nil, []string{"k2", "k4", "k5"}},
				{"startsWith long", storage.StartsWith("name", p+"b"), nil, []string{"k3"}},
				{"startsWith short", storage.StartsWith("name", "xx"), []storage.SortField{storage.Desc("name")}, []string{"k7", "k4", "k2", "k3", "k1"}},
				{"ne", storage.Ne("name", big), nil, []string{"k1", "k2", "k3", "k5", "k6", "k7"}},
			} {
				var opts []storage.Option
				if tc.sort != nil {
					opts = append(opts, storage.SortBy(tc.sort...))
				}
				if got := keys(tc.f, opts...); !slices.Equal(got, tc.want) {
					t.Errorf("%s: keys %v, want %v", tc.name, got, tc.want)
				}
				n, err := s.Count(ctx, storage.InNamespace("a"), storage.Where(tc.f))
				if err != nil || n != int64(len(tc.want)) {
					t.Errorf("%s: Count = %d, %v; want %d", tc.name, n, err, len(tc.want))
				}
			}
			// The index of a holds only a's rows; b and c have their own
			// (c) or none (b).
			if got, want := physicalIndexes(t, s), append(wantIndexes(t, s, "a", "name"), wantIndexes(t, s, "c", "name")...); !sameSet(got, want) {
				t.Errorf("physical indexes %v, want %v", got, want)
			}
			// A namespace's indexes go with it.
			cOnly := wantIndexes(t, s, "c", "name")
			if err := s.DeleteNamespace(ctx, "a", storage.Recursive()); err != nil {
				t.Fatal(err)
			}
			if got := physicalIndexes(t, s); !slices.Equal(got, cOnly) {
				t.Errorf("after deleting a: indexes %v, want %v", got, cOnly)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestIndexedStringsAtThePrefixLength: filters a declared index answers
// without rechecking the entries (dialect.IndexResidual) keep their answers
// for strings one character either side of PostgreSQL's indexed prefix (256
// characters), where a stored string's indexed prefix equals a shorter
// filter value, and for values of other types in the same field.
func TestIndexedStringsAtThePrefixLength(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := openTest(t, c.dsn(t))
			defer s.Close()
			in := storage.InNamespace("p")
			if err := s.CreateNamespace(ctx, "p", storage.WithIndexes("v")); err != nil {
				t.Fatal(err)
			}
			x := func(n int) string { return strings.Repeat("x", n) }
			vals := map[string]any{"k255": x(255), "k256": x(256), "k257": x(257), "k256a": x(256) + "a",
				"k255e": x(255) + "é", "k256e": x(256) + "é", "kn": 256, "kt": true, "knull": nil, "ks": "x"}
			for k, v := range vals {
				if err := s.Set(ctx, k, map[string]any{"v": v}, in); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				name string
				f    storage.Filter
				want []string
			}{
				{"eq 255", storage.Eq("v", x(255)), []string{"k255"}},
				{"eq 256", storage.Eq("v", x(256)), []string{"k256"}},
				{"eq 257", storage.Eq("v", x(257)), []string{"k257"}},
				{"eq 255+é", storage.Eq("v", x(255)+"é"), []string{"k255e"}},
				{"in 255 256", storage.In("v", x(255), x(256)), []string{"k255", "k256"}},
				{"in mixed", storage.In("v", x(256), 256, true), []string{"k256", "kn", "kt"}},
				{"eq number", storage.Eq("v", 256), []string{"kn"}},
				{"eq null", storage.Eq("v", nil), []string{"knull"}},
				{"eq string of a number", storage.Eq("v", "256"), nil},
				{"startsWith 255", storage.StartsWith("v", x(255)), []string{"k255", "k255e", "k256", "k256a", "k256e", "k257"}},
				{"startsWith 256", storage.StartsWith("v", x(256)), []string{"k256", "k256a", "k256e", "k257"}},
				{"startsWith 257", storage.StartsWith("v", x(257)), []string{"k257"}},
				{"range 256", storage.And(storage.Gte("v", x(256)), storage.Lt("v", x(257))), []string{"k256", "k256a"}},
				{"gt number", storage.Gt("v", 255), []string{"kn"}},
				{"eq 256 and key", storage.And(storage.Eq("v", x(256)), storage.StartsWith("$key", "k2")), []string{"k256"}},
			} {
				res, err := s.Query(ctx, tc.f, in)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				var got []string
				for _, e := range res.Entries {
					got = append(got, e.Key)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s: keys %v, want %v", tc.name, got, tc.want)
				}
				n, err := s.Count(ctx, in, storage.Where(tc.f))
				if err != nil || n != int64(len(tc.want)) {
					t.Errorf("%s: Count = %d, %v; want %d", tc.name, n, err, len(tc.want))
				}
			}
		})
	}
}
