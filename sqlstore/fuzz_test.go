package sqlstore

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/storetest"
)

// fuzzStore is one in-memory SQLite store shared by the fuzz iterations of
// a process, with a fixed set of documents.
var fuzzStore struct {
	once    sync.Once
	st      *Store
	entries []storage.Entry
	err     error
}

var fuzzDocs = []string{
	`{"a":1,"b":"x'y","c":[1,"--",null],"o":{"k":"v"}}`,
	`{"a":"1","b":"x\"y","c":"a;b","o":{"k":["v"]}}`,
	`{"a":null,"b":"\\","c":{"0":"zero"},"$x":1}`,
	`{"a":[true,false],"b":"%_","c":"日本","x-y":2}`,
	`{"b":"","c":12345678901234567890}`,
	`"scalar"`,
	`[1,2,3]`,
}

func fuzzSetup(tb testing.TB) ([]storage.Entry, *Store) {
	fuzzStore.once.Do(func() {
		ctx := tb.Context()
		st, err := Open(ctx, "sqlite::memory:")
		if err != nil {
			fuzzStore.err = err
			return
		}
		items := make([]storage.Item, len(fuzzDocs))
		for i, d := range fuzzDocs {
			items[i] = storage.Item{Key: string(rune('a'+i)) + "'--", Value: json.RawMessage(d), Metadata: map[string]any{"m": i}}
		}
		if _, err := st.SetMany(ctx, items); err != nil {
			fuzzStore.err = err
			return
		}
		res, err := st.Query(ctx, storage.All())
		fuzzStore.st, fuzzStore.entries, fuzzStore.err = st, res.Entries, err
	})
	if fuzzStore.err != nil {
		tb.Fatal(fuzzStore.err)
	}
	return fuzzStore.entries, fuzzStore.st
}

// FuzzFilter feeds arbitrary filters (as JSON, and as a field path and a
// string value with every operator) to the compiler and runs them on SQLite.
// Each must be either refused with ErrInvalidFilter, or run without error
// and return exactly what the reference evaluator returns.
//
//	go test -run '^$' -fuzz FuzzFilter -fuzztime 60s ./sqlstore
func FuzzFilter(f *testing.F) {
	seeds := []struct{ json, field, value string }{
		{`{"field":"a","operator":"eq","value":1}`, "a", "1"},
		{`{"field":"a'; DROP TABLE entries; --","operator":"eq","value":1}`, "a'; DROP TABLE entries; --", "x'); DROP TABLE entries; --"},
		{`{"field":"a\"]","operator":"exists","value":true}`, `a"]`, `"`},
		{`{"field":"$key","operator":"startsWith","value":"a'--"}`, "$key", "a'--"},
		{`{"field":"a[0]","operator":"eq","value":"?"}`, "a[0]", "?"},
		{`{"field":"$metadata.m","operator":"in","value":[0,"1",null]}`, "$metadata.m", "$1"},
		{`{"field":"b","operator":"contains","value":"\\"}`, "b\\", "\\"},
		{`{"field":"b","operator":"endsWith","value":"\u0000"}`, "b\u0000", "\u0000"},
		{`{"field":"c.0","operator":"eq","value":"--"}`, "c.0", "--"},
		{`{"field":"$x","operator":"eq","value":1}`, "$x", ";"},
		{`{"field":"b","operator":"gt","value":"%"}`, "b", "%_"},
		{`{"and":[{"or":[]},{"not":{"field":"a","operator":"ne","value":null}}]}`, "a.b.c", "?::text"},
		{`{"not":{"not":{"not":{"field":"x-y","operator":"lt","value":3}}}}`, "x-y", "$$"},
		{`{"field":"` + strings.Repeat("a.", 40) + `a","operator":"exists","value":false}`, strings.Repeat("a.", 40) + "a", strings.Repeat("'", 1000)},
		{`{"field":"` + strings.Repeat("x", 600) + `","operator":"eq","value":1}`, strings.Repeat("x", 600), ""},
		{strings.Repeat(`{"not":`, 40) + `{"field":"a","operator":"eq","value":1}` + strings.Repeat("}", 40), "o.k", "v"},
		{`{"field":"a","operator":"eq","value":1e400}`, "a\n", "\n"},
		{`{"field":"a","operator":"eq","value":[1]}`, "é", "日本"},
		{`{"field":"c","operator":"contains","value":"a;b"}`, "c", "a;b"},
		{`{"field":"a","operator":"eq\u0000","value":1}`, "a.0", "0"},
		{`{"field":"a","operator":"in","value":"notarray"}`, "a.01", "x"},
		{`{"field":"$createdAt","operator":"gt","value":"2020-01-01T00:00:00Z"}`, "$createdAt", "2020-01-01T00:00:00.0000001Z"},
		{`{"field":"$version","operator":"gte","value":1}`, "$version", "1"},
	}
	for _, s := range seeds {
		f.Add(s.json, s.field, s.value)
	}
	f.Fuzz(func(t *testing.T, fj, field, value string) {
		entries, st := fuzzSetup(t)
		filters := []storage.Filter{}
		if pf, err := storage.ParseFilter([]byte(fj)); err != nil {
			if !errors.Is(err, storage.ErrInvalidFilter) {
				t.Fatalf("ParseFilter(%q): untyped error %v", fj, err)
			}
		} else {
			filters = append(filters, pf)
		}
		for _, op := range genOps {
			var v any = value
			switch op {
			case storage.OpIn, storage.OpNin:
				v = []any{value, 1}
			case storage.OpExists:
				v = value == ""
			}
			filters = append(filters, storage.Filter{Field: field, Op: op, Value: v})
		}
		for _, flt := range filters {
			x, cerr := flt.Compile()
			res, err := st.Query(t.Context(), flt, storage.SortBy(storage.SortField{Field: field}))
			if cerr != nil {
				if !errors.Is(err, storage.ErrInvalidFilter) {
					t.Fatalf("filter %+v: Compile: %v; Query: %v", flt, cerr, err)
				}
				continue
			}
			var sortErr error
			if _, sortErr = driver.ParseField(field); sortErr != nil {
				if !errors.Is(err, storage.ErrInvalidFilter) {
					t.Fatalf("sort by %q: ParseField: %v; Query: %v", field, sortErr, err)
				}
				res, err = st.Query(t.Context(), flt)
			}
			if err != nil {
				t.Fatalf("filter %+v: valid, but Query failed: %v", flt, err)
			}
			var want []storage.Entry
			for _, e := range entries {
				if storetest.RefMatch(x, e) {
					want = append(want, e)
				}
			}
			if sortErr == nil {
				if err := storetest.RefSort(want, []storage.SortField{{Field: field}}); err != nil {
					t.Fatal(err)
				}
			}
			got := make([]string, 0)
			for _, e := range res.Entries {
				got = append(got, e.Key)
			}
			wantKeys := make([]string, 0)
			for _, e := range want {
				wantKeys = append(wantKeys, e.Key)
			}
			if !slices.Equal(got, wantKeys) {
				t.Fatalf("filter %+v, sort %q: got %q, want %q", flt, field, got, wantKeys)
			}
		}
		n, err := st.Count(t.Context())
		if err != nil || n != int64(len(entries)) {
			t.Fatalf("the table changed: Count = %d, %v", n, err)
		}
	})
}
