package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

var queryTests = []test{
	{"Operators", testQueryOperators},
	{"ReservedRoots", testQueryReservedRoots},
	{"Metadata", testQueryMetadata},
	{"JSONFilters", testQueryJSONFilters},
	{"InvalidFilters", testQueryInvalid},
	{"SortMixedTypes", testQuerySortMixed},
	{"SortMultiple", testQuerySortMultiple},
	{"LimitOffset", testQueryLimitOffset},
	{"CursorAcrossWrites", testQueryCursorAcrossWrites},
	{"CursorMisuse", testQueryCursorMisuse},
	{"Namespaces", testQueryNamespaces},
	{"Options", testQueryOptions},
	{"MaxBytes", testQueryMaxBytes},
}

var listTests = []test{
	{"Order", testListOrder},
	{"Pattern", testListPattern},
	{"Cursor", testListCursor},
	{"Options", testListOptions},
	{"MaxBytes", testListMaxBytes},
}

var countTests = []test{
	{"Filter", testCountFilter},
}

// typedDocs holds field f with every JSON type, and the edge cases of each.
var typedDocs = map[string]string{
	"null":    `{"f":null}`,
	"false":   `{"f":false}`,
	"true":    `{"f":true}`,
	"zero":    `{"f":0}`,
	"negzero": `{"f":-0}`,
	"one":     `{"f":1}`,
	"onep0":   `{"f":1.0}`,
	"onehalf": `{"f":1.5}`,
	"neg":     `{"f":-2}`,
	"huge":    `{"f":1e300}`,
	"bigint":  `{"f":12345678901234567890}`,
	"str":     `{"f":"abc"}`,
	"strB":    `{"f":"b"}`,
	"strUp":   `{"f":"ABC"}`,
	"strE":    `{"f":""}`,
	"strNum":  `{"f":"1"}`,
	"strU":    `{"f":"é☃"}`,
	"arr":     `{"f":[1,"abc",true,null]}`,
	"arrE":    `{"f":[]}`,
	"obj":     `{"f":{"a":1}}`,
	"missing": `{"g":1}`,
	"scalar":  `5`,
	"nested":  `{"f":"x","a":{"b":{"c":"deep"}},"tags":["red","green"]}`,
}

func setDocs(t *testing.T, st storage.Store, docs map[string]string, opts ...storage.Option) {
	t.Helper()
	items := make([]storage.Item, 0, len(docs))
	for k, v := range docs {
		items = append(items, storage.Item{Key: k, Value: raw(v)})
	}
	res, err := st.SetMany(t.Context(), items, opts...)
	noErr(t, err, "SetMany")
	noErr(t, res.Err(), "SetMany results")
}

func queryKeys(t *testing.T, st storage.Store, f storage.Filter, opts ...storage.Option) []string {
	t.Helper()
	res, err := st.Query(t.Context(), f, opts...)
	if err != nil {
		t.Fatalf("Query(%s): %v", mustJSON(t, f), err)
	}
	keys := make([]string, 0, len(res.Entries))
	for _, e := range res.Entries {
		keys = append(keys, e.Key)
	}
	return keys
}

func sorted(keys ...string) []string {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	if keys == nil {
		keys = []string{}
	}
	return keys
}

type filterCase struct {
	name string
	f    storage.Filter
	want []string // in key order
}

func runFilterCases(t *testing.T, st storage.Store, cases []filterCase, opts ...storage.Option) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := queryKeys(t, st, c.f, opts...)
			want := sorted(c.want...)
			if !slices.Equal(got, want) {
				t.Errorf("Query(%s) = %v, want %v", mustJSON(t, c.f), got, want)
			}
			n, err := st.Count(t.Context(), append(slices.Clone(opts), storage.Where(c.f))...)
			noErr(t, err, "Count")
			if n != int64(len(want)) {
				t.Errorf("Count(Where(%s)) = %d, want %d", mustJSON(t, c.f), n, len(want))
			}
		})
	}
}

// allTypedBut lists every typedDocs key except those given.
func allTypedBut(except ...string) []string {
	var out []string
	for k := range typedDocs {
		if !slices.Contains(except, k) {
			out = append(out, k)
		}
	}
	return out
}

func testQueryOperators(t *testing.T, s *suite) {
	st := s.newStore(t)
	setDocs(t, st, typedDocs)
	nums := []string{"zero", "negzero", "one", "onep0", "onehalf", "neg", "huge", "bigint"}
	strs := []string{"str", "strB", "strUp", "strE", "strNum", "strU", "nested"}
	runFilterCases(t, st, []filterCase{
		{"EqNumber", storage.Eq("f", 1), []string{"one", "onep0"}},
		{"EqNumberFloat", storage.Eq("f", 1.0), []string{"one", "onep0"}},
		{"EqZeroMatchesNegZero", storage.Eq("f", 0), []string{"zero", "negzero"}},
		{"EqHuge", storage.Eq("f", 1e300), []string{"huge"}},
		{"EqBigIntAsDouble", storage.Eq("f", uint64(12345678901234567890)), []string{"bigint"}},
		{"EqString", storage.Eq("f", "abc"), []string{"str"}},
		{"EqStringCaseSensitive", storage.Eq("f", "Abc"), nil},
		{"EqStringNotNumber", storage.Eq("f", "1"), []string{"strNum"}},
		{"EqEmptyString", storage.Eq("f", ""), []string{"strE"}},
		{"EqUnicode", storage.Eq("f", "é☃"), []string{"strU"}},
		{"EqTrue", storage.Eq("f", true), []string{"true"}},
		{"EqFalse", storage.Eq("f", false), []string{"false"}},
		{"EqNull", storage.Eq("f", nil), []string{"null"}},
		{"EqNumberNotBool", storage.Eq("f", 0), []string{"zero", "negzero"}},
		{"NeNumber", storage.Ne("f", 1), allTypedBut("one", "onep0")},
		{"NeNull", storage.Ne("f", nil), allTypedBut("null")},
		{"NeString", storage.Ne("f", "abc"), allTypedBut("str")},
		{"GtNumber", storage.Gt("f", 1), []string{"onehalf", "huge", "bigint"}},
		{"GteNumber", storage.Gte("f", 1), []string{"one", "onep0", "onehalf", "huge", "bigint"}},
		{"LtNumber", storage.Lt("f", 0), []string{"neg"}},
		{"LteNumber", storage.Lte("f", 0), []string{"neg", "zero", "negzero"}},
		{"GtString", storage.Gt("f", "abc"), []string{"strB", "strU", "nested"}},
		{"GteString", storage.Gte("f", "abc"), []string{"str", "strB", "strU", "nested"}},
		{"LtStringBytewise", storage.Lt("f", "a"), []string{"strUp", "strE", "strNum"}},
		{"LteString", storage.Lte("f", ""), []string{"strE"}},
		{"GtStringBeyondASCII", storage.Gt("f", "z"), []string{"strU"}},
		{"ContainsSubstring", storage.Contains("f", "bc"), []string{"str"}},
		{"ContainsArrayString", storage.Contains("f", "abc"), []string{"str", "arr"}},
		{"ContainsArrayNumber", storage.Contains("f", 1), []string{"arr"}},
		{"ContainsArrayNumberFloat", storage.Contains("f", 1.0), []string{"arr"}},
		{"ContainsArrayBool", storage.Contains("f", true), []string{"arr"}},
		{"ContainsArrayNull", storage.Contains("f", nil), []string{"arr"}},
		{"ContainsNotObject", storage.Contains("f", "a"), []string{"str"}},
		{"ContainsEmpty", storage.Contains("f", ""), strs},
		{"ContainsCaseSensitive", storage.Contains("f", "B"), []string{"strUp"}},
		{"ContainsUnicode", storage.Contains("f", "☃"), []string{"strU"}},
		{"ContainsNumberNotSubstring", storage.Contains("f", 5), nil},
		{"StartsWith", storage.StartsWith("f", "ab"), []string{"str"}},
		{"StartsWithEmpty", storage.StartsWith("f", ""), strs},
		{"StartsWithCase", storage.StartsWith("f", "AB"), []string{"strUp"}},
		{"StartsWithUnicode", storage.StartsWith("f", "é"), []string{"strU"}},
		{"StartsWithLikeChars", storage.StartsWith("f", "%"), nil},
		{"EndsWith", storage.EndsWith("f", "bc"), []string{"str"}},
		{"EndsWithEmpty", storage.EndsWith("f", ""), strs},
		{"EndsWithUnicode", storage.EndsWith("f", "☃"), []string{"strU"}},
		{"EndsWithLonger", storage.EndsWith("f", "xabc"), nil},
		{"InMixed", storage.In("f", 1, "abc", true, nil), []string{"one", "onep0", "str", "true", "null"}},
		{"InEmpty", storage.In("f"), nil},
		{"InSlice", storage.Filter{Field: "f", Op: storage.OpIn, Value: []string{"b", "ABC"}}, []string{"strB", "strUp"}},
		{"NinMixed", storage.Nin("f", 1, "abc", false), allTypedBut("one", "onep0", "str", "false")},
		{"NinEmpty", storage.Nin("f"), allTypedBut()},
		{"ExistsTrue", storage.Exists("f", true), allTypedBut("missing", "scalar")},
		{"ExistsFalse", storage.Exists("f", false), []string{"missing", "scalar"}},
		{"ExistsNullCounts", storage.And(storage.Exists("f", true), storage.Eq("f", nil)), []string{"null"}},
		{"MissingOnlyNegations", storage.Or(storage.Eq("g", 1), storage.Gt("g", 0)), []string{"missing"}},
		{"NotMatchesMissing", storage.Not(storage.Eq("f", 1)), allTypedBut("one", "onep0")},
		{"NotGtMatchesOtherTypes", storage.Not(storage.Gt("f", 0)), allTypedBut("one", "onep0", "onehalf", "huge", "bigint")},
		{"AndEmpty", storage.And(), allTypedBut()},
		{"OrEmpty", storage.Or(), nil},
		{"AndOr", storage.And(storage.Or(storage.Eq("f", 1), storage.Eq("f", "abc")), storage.Ne("f", 1.0)), []string{"str"}},
		{"DoubleNot", storage.Not(storage.Not(storage.Eq("f", true))), []string{"true"}},
		{"NestedPath", storage.Eq("a.b.c", "deep"), []string{"nested"}},
		{"ArrayIndex", storage.Eq("tags.1", "green"), []string{"nested"}},
		{"ArrayIndexOutOfRange", storage.Exists("tags.2", true), nil},
		{"ArrayIndexOnObject", storage.Exists("f.0", true), []string{"arr"}},
		{"PathThroughScalar", storage.Exists("f.a", true), []string{"obj"}},
		{"CrossTypeRange", storage.Gt("f", "0"), []string{"str", "strB", "strUp", "strNum", "strU", "nested"}},
		{"NumbersAll", storage.Gte("f", -1e308), nums},
	})
}

func testQueryReservedRoots(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "a:1", raw(`1`))
	mustSet(t, st, "a:2", raw(`2`))
	mustSet(t, st, "b:1", raw(`3`))
	mustSet(t, st, "a:2", raw(`4`)) // version 2
	e1 := mustGet(t, st, "a:1")
	e2 := mustGet(t, st, "a:2")
	runFilterCases(t, st, []filterCase{
		{"KeyEq", storage.Eq("$key", "a:2"), []string{"a:2"}},
		{"KeyStartsWith", storage.StartsWith("$key", "a:"), []string{"a:1", "a:2"}},
		{"KeyEndsWith", storage.EndsWith("$key", ":1"), []string{"a:1", "b:1"}},
		{"KeyContains", storage.Contains("$key", ":"), []string{"a:1", "a:2", "b:1"}},
		{"KeyGt", storage.Gt("$key", "a:2"), []string{"b:1"}},
		{"KeyIn", storage.In("$key", "a:1", "zz"), []string{"a:1"}},
		{"KeyNin", storage.Nin("$key", "a:1"), []string{"a:2", "b:1"}},
		{"VersionEq", storage.Eq("$version", 2), []string{"a:2"}},
		{"VersionGt", storage.Gt("$version", 1.5), []string{"a:2"}},
		{"VersionNe", storage.Ne("$version", 2), []string{"a:1", "b:1"}},
		{"CreatedAtEqTime", storage.Eq("$createdAt", e1.CreatedAt), []string{"a:1"}},
		{"CreatedAtEqRFC3339", storage.Eq("$createdAt", e1.CreatedAt.Format(time.RFC3339Nano)), []string{"a:1"}},
		{"CreatedAtEqOtherZone", storage.Eq("$createdAt", e1.CreatedAt.In(time.FixedZone("x", 5*3600)).Format(time.RFC3339Nano)), []string{"a:1"}},
		{"CreatedAtGteNanos", storage.Gte("$createdAt", e1.CreatedAt.Add(time.Nanosecond)), sortedExcept([]string{"a:1", "a:2", "b:1"}, "a:1")},
		{"CreatedAtLteNanos", storage.Lte("$createdAt", e1.CreatedAt.Add(time.Nanosecond)), []string{"a:1"}},
		{"CreatedAtEqNanos", storage.Eq("$createdAt", e1.CreatedAt.Add(time.Nanosecond)), nil},
		{"CreatedAtNeNanos", storage.Ne("$createdAt", e1.CreatedAt.Add(time.Nanosecond)), []string{"a:1", "a:2", "b:1"}},
		{"UpdatedAtGte", storage.Gte("$updatedAt", e2.UpdatedAt), []string{"a:2"}},
		{"UpdatedAtIn", storage.In("$updatedAt", e2.UpdatedAt, e2.UpdatedAt.Add(time.Nanosecond)), []string{"a:2"}},
		{"KeyExists", storage.Exists("$key", true), []string{"a:1", "a:2", "b:1"}},
	})
}

func sortedExcept(keys []string, except string) []string {
	return slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == except })
}

func testQueryMetadata(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k1", raw(`{"owner":"bob"}`), storage.WithMetadata(obj(t, `{"owner":"ada","n":3,"tags":["x"]}`)))
	mustSet(t, st, "k2", raw(`{"owner":"ada"}`), storage.WithMetadata(obj(t, `{"owner":"bob","n":"3"}`)))
	mustSet(t, st, "k3", raw(`{}`))
	runFilterCases(t, st, []filterCase{
		{"Eq", storage.Eq("$metadata.owner", "ada"), []string{"k1"}},
		{"ValueNotMetadata", storage.Eq("owner", "ada"), []string{"k2"}},
		{"Typed", storage.Eq("$metadata.n", 3), []string{"k1"}},
		{"Contains", storage.Contains("$metadata.tags", "x"), []string{"k1"}},
		{"Missing", storage.Exists("$metadata.owner", false), []string{"k3"}},
	})
}

func testQueryJSONFilters(t *testing.T, s *suite) {
	st := s.newStore(t)
	setDocs(t, st, typedDocs)
	cases := []struct {
		json string
		want []string
	}{
		{`{"field":"f","operator":"eq","value":1}`, []string{"one", "onep0"}},
		{`{"field":"f","operator":"eq","value":null}`, []string{"null"}},
		{`{"and":[{"field":"f","operator":"gte","value":0},{"not":{"field":"f","operator":"eq","value":1.5}}]}`, []string{"zero", "negzero", "one", "onep0", "huge", "bigint"}},
		{`{"or":[{"field":"f","operator":"in","value":["b",true]},{"field":"a.b.c","operator":"exists","value":true}]}`, []string{"strB", "true", "nested"}},
		{`{"field":"f","operator":"eq","value":12345678901234567890}`, []string{"bigint"}},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			f, err := storage.ParseFilter([]byte(c.json))
			noErr(t, err, "ParseFilter("+c.json+")")
			got := queryKeys(t, st, f)
			if want := sorted(c.want...); !slices.Equal(got, want) {
				t.Errorf("Query(%s) = %v, want %v", c.json, got, want)
			}
			// It encodes back to an equivalent filter.
			b, err := json.Marshal(f)
			noErr(t, err, "Marshal")
			f2, err := storage.ParseFilter(b)
			noErr(t, err, "ParseFilter(Marshal)")
			if got2 := queryKeys(t, st, f2); !slices.Equal(got2, got) {
				t.Errorf("round trip %s: %v, want %v", b, got2, got)
			}
		})
	}
}

func testQueryInvalid(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`{"a":1}`))
	deep := storage.Eq("a", 1)
	for range storage.MaxFilterDepth + 1 {
		deep = storage.Not(deep)
	}
	bad := []struct {
		name string
		f    storage.Filter
	}{
		{"UnknownOperator", storage.Filter{Field: "a", Op: "like", Value: "x"}},
		{"NoOperator", storage.Filter{Field: "a", Value: 1}},
		{"EmptyField", storage.Eq("", 1)},
		{"DoubleDot", storage.Eq("a..b", 1)},
		{"TrailingDot", storage.Eq("a.", 1)},
		{"Quote", storage.Eq(`a'b`, 1)},
		{"DoubleQuote", storage.Eq(`a"b`, 1)},
		{"Bracket", storage.Eq("a[0]", 1)},
		{"Space", storage.Eq("a b", 1)},
		{"Semicolon", storage.Eq("a;DROP TABLE entries", 1)},
		{"Dollar", storage.Eq("a.$b", 1)},
		{"UnknownRoot", storage.Eq("$value", 1)},
		{"MetadataNoPath", storage.Eq("$metadata", 1)},
		{"MetadataEmptyPath", storage.Eq("$metadata.", 1)},
		{"MetadataIndexNeverExists", storage.Exists("$metadata.0", false)},
		{"KeyMemberNeverExists", storage.Exists("$key.x", false)},
		{"VersionMemberNeverExists", storage.Eq("$version.0", 1)},
		{"CreatedAtMemberNeverExists", storage.Exists("$createdAt.a", true)},
		{"UpdatedAtMemberNeverExists", storage.Exists("$updatedAt.a", true)},
		{"LeadingZeroIndex", storage.Eq("tags.01", 1)},
		{"HugeIndex", storage.Eq("tags.99999999999", 1)},
		{"TooManySegments", storage.Eq(strings.Repeat("a.", storage.MaxPathSegments)+"a", 1)},
		{"TooLong", storage.Eq(strings.Repeat("a", storage.MaxPathLen+1), 1)},
		{"GtBool", storage.Gt("a", true)},
		{"LtNull", storage.Lt("a", nil)},
		{"EqArray", storage.Eq("a", []any{1})},
		{"EqObject", storage.Eq("a", map[string]any{"x": 1})},
		{"StartsWithNumber", storage.Filter{Field: "a", Op: storage.OpStartsWith, Value: 1}},
		{"InNotArray", storage.Filter{Field: "a", Op: storage.OpIn, Value: 1}},
		{"InNested", storage.In("a", []any{1})},
		{"ExistsNotBool", storage.Filter{Field: "a", Op: storage.OpExists, Value: "yes"}},
		{"NaN", storage.Eq("a", nanValue())},
		{"NUL", storage.Eq("a", "x\x00y")},
		{"KeyNumber", storage.Eq("$key", 1)},
		{"VersionString", storage.Eq("$version", "1")},
		{"CreatedAtNotTime", storage.Eq("$createdAt", "yesterday")},
		{"CreatedAtContains", storage.Contains("$createdAt", "2024")},
		{"TimeOnValue", storage.Eq("a", time.Now())},
		{"MixedShape", storage.Filter{Field: "a", Op: storage.OpEq, Value: 1, And: []storage.Filter{}}},
		{"TooDeep", deep},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := st.Query(t.Context(), c.f)
			wantErr(t, err, storage.ErrInvalidFilter, "Query")
			_, err = st.Count(t.Context(), storage.Where(c.f))
			wantErr(t, err, storage.ErrInvalidFilter, "Count")
		})
	}
	for _, j := range []string{`{"field":"a"}`, `{"field":"a","operator":"eq"}`, `{"field":"a","operator":"eq","value":1,"and":[]}`, `{"nope":1}`, `[1]`, `{"and":{}}`} {
		if _, err := storage.ParseFilter([]byte(j)); err == nil {
			t.Errorf("ParseFilter(%s) accepted", j)
		} else {
			wantErr(t, err, storage.ErrInvalidFilter, "ParseFilter("+j+")")
		}
	}
	_, err := st.Query(t.Context(), storage.All(), storage.SortBy(storage.Asc("a b")))
	wantErr(t, err, storage.ErrInvalidFilter, "SortBy invalid field")
	if err != nil && !strings.Contains(err.Error(), "invalid sort: ") {
		t.Errorf("SortBy invalid field: %q does not say \"invalid sort\"", err)
	}
	// A sort by a path that can never exist is refused, not a silent sort
	// by nothing, alone or after a valid field.
	for _, f := range []string{"$metadata.0", "$metadata.0.a", "$key.x", "$version.x", "$createdAt.0", "$updatedAt.x", "$value.age", "$metadata"} {
		for _, sort := range [][]storage.SortField{{storage.Asc(f)}, {storage.Asc("a"), storage.Desc(f)}} {
			_, err := st.Query(t.Context(), storage.All(), storage.SortBy(sort...))
			wantErr(t, err, storage.ErrInvalidFilter, fmt.Sprintf("SortBy(%v)", sort))
		}
	}
	// Paths into the value may exist in some entry, so they sort.
	for _, f := range []string{"value.age", "key", "$metadata.a.0", "0"} {
		_, err := st.Query(t.Context(), storage.All(), storage.SortBy(storage.Asc(f)))
		noErr(t, err, "SortBy("+f+")")
	}
}

// sortDocs holds field s with every type, missing included.
var sortDocs = map[string]string{
	"k01": `{"s":"b"}`,
	"k02": `{"s":2}`,
	"k03": `{"s":null}`,
	"k04": `{"s":true}`,
	"k05": `{"s":false}`,
	"k06": `{"t":1}`,
	"k07": `{"s":[1]}`,
	"k08": `{"s":{"a":1}}`,
	"k09": `{"s":"a"}`,
	"k10": `{"s":-1.5}`,
	"k11": `{"s":2.0}`,
	"k12": `{"s":"B"}`,
	"k13": `{"s":[]}`,
	"k14": `{"s":1e300}`,
	"k15": `{"s":"é"}`,
	"k16": `7`,
}

func testQuerySortMixed(t *testing.T, s *suite) {
	st := s.newStore(t)
	setDocs(t, st, sortDocs)
	asc := []string{"k06", "k16", "k03", "k05", "k04", "k10", "k02", "k11", "k14", "k12", "k09", "k01", "k15", "k07", "k13", "k08"}
	got := queryKeys(t, st, storage.All(), storage.SortBy(storage.Asc("s")))
	if !slices.Equal(got, asc) {
		t.Errorf("sort asc = %v\nwant        %v", got, asc)
	}
	// Descending reverses the type order and the values, and still breaks
	// ties by ascending key.
	desc := []string{"k08", "k07", "k13", "k15", "k01", "k09", "k12", "k14", "k02", "k11", "k10", "k04", "k05", "k03", "k06", "k16"}
	got = queryKeys(t, st, storage.All(), storage.SortBy(storage.Desc("s")))
	if !slices.Equal(got, desc) {
		t.Errorf("sort desc = %v\nwant         %v", got, desc)
	}
	if err := RefSort(nil, []storage.SortField{storage.Asc("s")}); err != nil {
		t.Fatal(err)
	}
}

func testQuerySortMultiple(t *testing.T, s *suite) {
	st := s.newStore(t)
	setDocs(t, st, map[string]string{
		"a": `{"g":1,"n":"x"}`, "b": `{"g":2,"n":"x"}`, "c": `{"g":1,"n":"y"}`, "d": `{"g":2,"n":"w"}`, "e": `{"n":"x"}`,
	})
	got := queryKeys(t, st, storage.All(), storage.SortBy(storage.Desc("n"), storage.Asc("g")))
	if want := []string{"c", "e", "a", "b", "d"}; !slices.Equal(got, want) {
		t.Errorf("sort n desc, g asc = %v, want %v", got, want)
	}
	got = queryKeys(t, st, storage.Gte("g", 1), storage.SortBy(storage.Asc("g"), storage.Desc("$key")))
	if want := []string{"c", "a", "d", "b"}; !slices.Equal(got, want) {
		t.Errorf("sort g asc, $key desc = %v, want %v", got, want)
	}
	mustSet(t, st, "a", raw(`{"g":1,"n":"x"}`))
	got = queryKeys(t, st, storage.All(), storage.SortBy(storage.Desc("$version"), storage.Asc("$createdAt")))
	if got[0] != "a" {
		t.Errorf("sort $version desc = %v, want a first", got)
	}
	got = queryKeys(t, st, storage.All(), storage.SortBy(storage.Desc("$updatedAt")))
	if len(got) != 5 {
		t.Errorf("sort $updatedAt = %v", got)
	}
}

func testQueryLimitOffset(t *testing.T, s *suite) {
	st := s.newStore(t)
	docs := map[string]string{}
	for i := range 10 {
		docs[fmt.Sprintf("k%d", i)] = fmt.Sprintf(`{"n":%d}`, 9-i)
	}
	setDocs(t, st, docs)
	res, err := st.Query(t.Context(), storage.All(), storage.SortBy(storage.Asc("n")), storage.Limit(3), storage.Offset(2))
	noErr(t, err, "Query")
	var keys []string
	for _, e := range res.Entries {
		keys = append(keys, e.Key)
		if e.Namespace != storage.DefaultNamespace || e.Version != 1 || !isJSONObject(e.Value) || e.CreatedAt.IsZero() {
			t.Errorf("entry %+v lacks its fields", e)
		}
	}
	if want := []string{"k7", "k6", "k5"}; !slices.Equal(keys, want) {
		t.Errorf("Limit 3 Offset 2 = %v, want %v", keys, want)
	}
	if res.Cursor == "" {
		t.Errorf("a full page that is not the last has no cursor")
	}
	res, err = st.Query(t.Context(), storage.All(), storage.Offset(8), storage.Limit(5))
	noErr(t, err, "Query")
	if len(res.Entries) != 2 || res.Cursor != "" {
		t.Errorf("last page: %d entries, cursor %q; want 2 and none", len(res.Entries), res.Cursor)
	}
	res, err = st.Query(t.Context(), storage.All(), storage.Limit(0))
	noErr(t, err, "Query")
	if len(res.Entries) != 0 || res.Cursor != "" {
		t.Errorf("Limit(0): %d entries, cursor %q", len(res.Entries), res.Cursor)
	}
	res, err = st.Query(t.Context(), storage.All(), storage.Offset(20))
	noErr(t, err, "Query")
	if len(res.Entries) != 0 {
		t.Errorf("Offset past the end: %d entries", len(res.Entries))
	}
}

// pageAll reads every page of a query with limit n, running between(i, last)
// after page i, whose last key is last.
func pageAll(t *testing.T, st storage.Store, f storage.Filter, n int, sort []storage.SortField, between func(i int, last string)) []string {
	t.Helper()
	var keys []string
	opts := []storage.Option{storage.Limit(n)}
	if sort != nil {
		opts = append(opts, storage.SortBy(sort...))
	}
	cur := ""
	for i := 0; ; i++ {
		o := opts
		if cur != "" {
			o = append(slices.Clone(opts), storage.After(cur))
		}
		res, err := st.Query(t.Context(), f, o...)
		noErr(t, err, "Query page")
		for _, e := range res.Entries {
			keys = append(keys, e.Key)
		}
		if res.Cursor == "" {
			return keys
		}
		if len(res.Entries) != n {
			t.Fatalf("page %d has %d entries and a cursor", i, len(res.Entries))
		}
		cur = res.Cursor
		if between != nil {
			between(i, keys[len(keys)-1])
		}
		if i > 1000 {
			t.Fatal("pagination does not end")
		}
	}
}

func testQueryCursorAcrossWrites(t *testing.T, s *suite) {
	st := s.newStore(t)
	docs := map[string]string{}
	for i := range 30 {
		var v string
		switch i % 5 {
		case 0:
			v = fmt.Sprintf(`{"s":%d}`, i%7)
		case 1:
			v = fmt.Sprintf(`{"s":"%c"}`, 'a'+i%4)
		case 2:
			v = `{"t":1}`
		case 3:
			v = `{"s":null}`
		default:
			v = fmt.Sprintf(`{"s":%v}`, i%2 == 0)
		}
		docs[fmt.Sprintf("k%02d", i)] = v
	}
	setDocs(t, st, docs)
	for _, sort := range [][]storage.SortField{nil, {storage.Asc("s")}, {storage.Desc("s")}, {storage.Desc("s"), storage.Desc("$key")}} {
		t.Run(fmt.Sprint(sort), func(t *testing.T) {
			want := queryKeys(t, st, storage.All(), sortOpts(sort)...)
			if got := pageAll(t, st, storage.All(), 4, sort, nil); !slices.Equal(got, want) {
				t.Fatalf("pages = %v\nwant    %v", got, want)
			}
			// Between pages, delete the last key read and the next one,
			// and insert keys before and after the position: the pages
			// still list each surviving original key exactly once, in
			// order, with no repeats.
			nextDeleted := map[string]bool{}
			got := pageAll(t, st, storage.All(), 4, sort, func(i int, last string) {
				now := queryKeys(t, st, storage.All(), sortOpts(sort)...)
				at := slices.Index(now, last)
				if at < 0 {
					t.Fatalf("last key %q is gone", last)
				}
				noErr(t, st.Delete(t.Context(), last), "Delete last")
				if at+1 < len(now) && !strings.HasPrefix(now[at+1], "new") {
					noErr(t, st.Delete(t.Context(), now[at+1]), "Delete next")
					nextDeleted[now[at+1]] = true
				}
				mustSet(t, st, fmt.Sprintf("new%02d", i), raw(`{"s":"zz"}`))
			})
			var origGot []string
			for _, k := range got {
				if !strings.HasPrefix(k, "new") {
					origGot = append(origGot, k)
				}
			}
			var wantLeft []string
			for _, k := range want {
				if !nextDeleted[k] {
					wantLeft = append(wantLeft, k)
				}
			}
			if !slices.Equal(origGot, wantLeft) {
				t.Errorf("pages across writes = %v\nwant                  %v", origGot, wantLeft)
			}
			if dup := duplicates(got); len(dup) > 0 {
				t.Errorf("keys returned twice: %v", dup)
			}
			// restore
			res, err := st.Query(t.Context(), storage.StartsWith("$key", "new"))
			noErr(t, err, "Query new")
			for _, e := range res.Entries {
				noErr(t, st.Delete(t.Context(), e.Key), "Delete new")
			}
			setDocs(t, st, docs)
		})
	}
}

func sortOpts(sort []storage.SortField) []storage.Option {
	if sort == nil {
		return nil
	}
	return []storage.Option{storage.SortBy(sort...)}
}

func duplicates(keys []string) []string {
	seen := map[string]bool{}
	var dup []string
	for _, k := range keys {
		if seen[k] {
			dup = append(dup, k)
		}
		seen[k] = true
	}
	return dup
}

func testQueryCursorMisuse(t *testing.T, s *suite) {
	st := s.newStore(t)
	setDocs(t, st, map[string]string{"a": `{"n":1}`, "b": `{"n":2}`, "c": `{"n":3}`})
	res, err := st.Query(t.Context(), storage.Gt("n", 0), storage.SortBy(storage.Asc("n")), storage.Limit(1))
	noErr(t, err, "Query")
	cur := res.Cursor
	if cur == "" {
		t.Fatal("no cursor")
	}
	_, err = st.Query(t.Context(), storage.Gt("n", 1), storage.SortBy(storage.Asc("n")), storage.After(cur))
	wantErr(t, err, storage.ErrInvalidOption, "cursor with another filter")
	_, err = st.Query(t.Context(), storage.Gt("n", 0), storage.SortBy(storage.Desc("n")), storage.After(cur))
	wantErr(t, err, storage.ErrInvalidOption, "cursor with another sort")
	_, err = st.Query(t.Context(), storage.Gt("n", 0), storage.SortBy(storage.Asc("n")), storage.After(cur), ns("other"))
	wantErr(t, err, storage.ErrInvalidOption, "cursor in another namespace")
	_, err = st.List(t.Context(), storage.After(cur))
	wantErr(t, err, storage.ErrInvalidOption, "query cursor given to List")
	_, err = st.Query(t.Context(), storage.Gt("n", 0), storage.SortBy(storage.Asc("n")), storage.After("garbage!"))
	wantErr(t, err, storage.ErrInvalidOption, "garbage cursor")
	res, err = st.Query(t.Context(), storage.Gt("n", 0), storage.SortBy(storage.Asc("n")), storage.After(cur))
	noErr(t, err, "Query with its cursor")
	if len(res.Entries) != 2 || res.Entries[0].Key != "b" {
		t.Errorf("second page = %v", res.Entries)
	}
}

func testQueryNamespaces(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "k", raw(`{"a":1}`), ns("one"))
	mustSet(t, st, "k", raw(`{"a":1}`), ns("two"))
	mustSet(t, st, "j", raw(`{"a":1}`), ns("two"))
	if got := queryKeys(t, st, storage.Eq("a", 1), ns("two")); !slices.Equal(got, []string{"j", "k"}) {
		t.Errorf("namespace two: %v", got)
	}
	if got := queryKeys(t, st, storage.Eq("a", 1)); len(got) != 0 {
		t.Errorf("default namespace: %v", got)
	}
	if got := queryKeys(t, st, storage.All(), ns("missing")); len(got) != 0 {
		t.Errorf("missing namespace: %v", got)
	}
	n, err := st.Count(t.Context(), ns("two"))
	noErr(t, err, "Count")
	if n != 2 {
		t.Errorf("Count(two) = %d", n)
	}
	n, err = st.Count(t.Context(), ns("missing"))
	noErr(t, err, "Count")
	if n != 0 {
		t.Errorf("Count(missing) = %d", n)
	}
}

func testQueryOptions(t *testing.T, s *suite) {
	st := s.newStore(t)
	for _, c := range []struct {
		name string
		opt  storage.Option
	}{
		{"Pattern", storage.Pattern("*")},
		{"Where", storage.Where(storage.All())},
		{"Atomic", storage.Atomic()},
		{"NoOverwrite", storage.NoOverwrite()},
	} {
		_, err := st.Query(t.Context(), storage.All(), c.opt)
		wantErr(t, err, storage.ErrInvalidOption, "Query with "+c.name)
	}
	_, err := st.Query(t.Context(), storage.All(), storage.Limit(-1))
	wantErr(t, err, storage.ErrInvalidOption, "Limit(-1)")
	_, err = st.Query(t.Context(), storage.All(), storage.Offset(-1))
	wantErr(t, err, storage.ErrInvalidOption, "Offset(-1)")
	_, err = st.Query(t.Context(), storage.All(), storage.SortBy())
	wantErr(t, err, storage.ErrInvalidOption, "SortBy()")
	for _, c := range []struct {
		name string
		opt  storage.Option
	}{
		{"SortBy", storage.SortBy(storage.Asc("a"))},
		{"Limit", storage.Limit(1)},
		{"Pattern", storage.Pattern("*")},
	} {
		_, err := st.Count(t.Context(), c.opt)
		wantErr(t, err, storage.ErrInvalidOption, "Count with "+c.name)
	}
	for _, c := range []struct {
		name string
		opt  storage.Option
	}{
		{"SortBy", storage.SortBy(storage.Asc("a"))},
		{"Where", storage.Where(storage.All())},
	} {
		_, err := st.List(t.Context(), c.opt)
		wantErr(t, err, storage.ErrInvalidOption, "List with "+c.name)
	}
}

var listKeys = []string{"a", "a*b", "a?c", `a\d`, "ab", "abc", "abd", "b", "user:1", "user:10", "user:2", "usé", "usf", "é", "☃", "z"}

func testListOrder(t *testing.T, s *suite) {
	st := s.newStore(t)
	docs := map[string]string{}
	for _, k := range listKeys {
		docs[k] = `1`
	}
	setDocs(t, st, docs)
	res, err := st.List(t.Context())
	noErr(t, err, "List")
	if want := sorted(listKeys...); !slices.Equal(res.Keys, want) || res.Cursor != "" {
		t.Errorf("List = %v (cursor %q), want %v", res.Keys, res.Cursor, want)
	}
	res, err = st.List(t.Context(), ns("missing"))
	noErr(t, err, "List missing")
	if len(res.Keys) != 0 {
		t.Errorf("List(missing) = %v", res.Keys)
	}
}

func testListPattern(t *testing.T, s *suite) {
	st := s.newStore(t)
	docs := map[string]string{}
	for _, k := range listKeys {
		docs[k] = `1`
	}
	setDocs(t, st, docs)
	for _, p := range []string{"*", "a*", "ab?", "user:*", "user:?", "*:1*", "us?", "a\\*", `a\?c`, `a\\d`, "a*b", `a\*b`, "é", "?", "??", "*c", "[a]*", "a%", "a_", "nomatch*", "", "u*1"} {
		t.Run(p, func(t *testing.T) {
			res, err := st.List(t.Context(), storage.Pattern(p))
			noErr(t, err, "List")
			var want []string
			for _, k := range sorted(listKeys...) {
				if RefMatchPattern(p, k) {
					want = append(want, k)
				}
			}
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(res.Keys, want) {
				t.Errorf("List(Pattern(%q)) = %v, want %v", p, res.Keys, want)
			}
		})
	}
	_, err := st.List(t.Context(), storage.Pattern(`a\`))
	wantErr(t, err, storage.ErrInvalidOption, "dangling escape")
	if !RefMatchPattern("user:*", "user:1") || RefMatchPattern("user:?", "user:10") || !RefMatchPattern(`a\*b`, "a*b") || RefMatchPattern(`a\*b`, "axb") {
		t.Error("RefMatchPattern is wrong")
	}
}

func testListCursor(t *testing.T, s *suite) {
	st := s.newStore(t)
	docs := map[string]string{}
	for i := range 25 {
		docs[fmt.Sprintf("k%02d", i)] = `1`
	}
	docs["other"] = `1`
	setDocs(t, st, docs)
	var got []string
	cur := ""
	for i := 0; ; i++ {
		opts := []storage.Option{storage.Pattern("k*"), storage.Limit(7)}
		if cur != "" {
			opts = append(opts, storage.After(cur))
		}
		res, err := st.List(t.Context(), opts...)
		noErr(t, err, "List")
		got = append(got, res.Keys...)
		if res.Cursor == "" {
			break
		}
		cur = res.Cursor
		if i == 0 {
			noErr(t, st.Delete(t.Context(), "k07"), "Delete") // the next key
			mustSet(t, st, "k03x", raw(`1`))                  // before the position
			mustSet(t, st, "k20x", raw(`1`))                  // after it
		}
	}
	var want []string
	for i := range 25 {
		if i != 7 {
			want = append(want, fmt.Sprintf("k%02d", i))
		}
		if i == 20 {
			want = append(want, "k20x")
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages = %v\nwant    %v", got, want)
	}
	res, err := st.List(t.Context(), storage.Limit(2))
	noErr(t, err, "List")
	_, err = st.List(t.Context(), storage.Pattern("k*"), storage.After(res.Cursor))
	wantErr(t, err, storage.ErrInvalidOption, "cursor with another pattern")
	res, err = st.List(t.Context(), storage.Limit(3), storage.Offset(24))
	noErr(t, err, "List")
	if len(res.Keys) != 3 || res.Cursor != "" {
		t.Errorf("last page: %v, cursor %q", res.Keys, res.Cursor)
	}
}

func testListOptions(t *testing.T, s *suite) {
	st := s.newStore(t)
	_, err := st.List(t.Context(), storage.Pattern("*"), storage.Pattern("a"))
	wantErr(t, err, storage.ErrInvalidOption, "Pattern twice")
	_, err = st.List(t.Context(), storage.Pattern("a\x00"))
	wantErr(t, err, storage.ErrInvalidOption, "Pattern with NUL")
	_, err = st.List(t.Context(), storage.After(""))
	wantErr(t, err, storage.ErrInvalidOption, "After(\"\")")
}

func testCountFilter(t *testing.T, s *suite) {
	st := s.newStore(t)
	setDocs(t, st, typedDocs)
	n, err := st.Count(t.Context())
	noErr(t, err, "Count")
	if n != int64(len(typedDocs)) {
		t.Errorf("Count() = %d, want %d", n, len(typedDocs))
	}
	n, err = st.Count(t.Context(), storage.Where(storage.StartsWith("f", "")))
	noErr(t, err, "Count")
	if n != 7 {
		t.Errorf("Count(strings) = %d, want 7", n)
	}
}

func nanValue() float64 {
	var zero float64
	return zero / zero
}
