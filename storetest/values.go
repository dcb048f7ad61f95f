package storetest

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
)

var valueTests = []test{
	{"Objects", func(t *testing.T, s *suite) { testRoundTrip(t, s, objectValues) }},
	{"Arrays", func(t *testing.T, s *suite) { testRoundTrip(t, s, arrayValues) }},
	{"Strings", func(t *testing.T, s *suite) { testRoundTrip(t, s, stringValues) }},
	{"Literals", func(t *testing.T, s *suite) { testRoundTrip(t, s, literalValues) }},
	{"Numbers", func(t *testing.T, s *suite) { testRoundTrip(t, s, numberValues) }},
	{"Deep", testValuesDeep},
	{"Large", testValuesLarge},
	{"GoValues", testValuesGo},
	{"RawMessage", testValuesRawMessage},
	{"NoAliasing", testValuesNoAliasing},
	{"InvalidJSON", func(t *testing.T, s *suite) { testRefused(t, s, invalidJSONValues) }},
	{"NaN", func(t *testing.T, s *suite) { testRefused(t, s, nanValues) }},
	{"NUL", func(t *testing.T, s *suite) { testRefused(t, s, nulValues) }},
	{"UnpairedSurrogate", func(t *testing.T, s *suite) { testRefused(t, s, surrogateValues) }},
	{"DuplicateKeys", func(t *testing.T, s *suite) { testRefused(t, s, duplicateKeyValues) }},
	{"InvalidUTF8", func(t *testing.T, s *suite) { testRefused(t, s, invalidUTF8Values) }},
	{"TooDeep", func(t *testing.T, s *suite) { testRefused(t, s, tooDeepValues) }},
	{"Unmarshalable", func(t *testing.T, s *suite) { testRefused(t, s, unmarshalableValues) }},
	{"InvalidMetadata", testValuesInvalidMetadata},
	{"TooLarge", testValuesTooLarge},
	{"MetadataTooLarge", testValuesMetadataTooLarge},
}

func nan() float64 { return math.NaN() }

// jsonCase is a JSON text stored as a json.RawMessage.
type jsonCase struct{ name, json string }

var objectValues = []jsonCase{
	{"empty", `{}`},
	{"simple", `{"a":1,"b":"two","c":true,"d":null}`},
	{"nested", `{"user":{"name":"Ada","address":{"city":"London","zip":"N1"}},"tags":["x","y"]}`},
	{"unordered", `{"z":1,"a":2,"m":{"y":1,"b":2}}`},
	{"whitespace", " {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\" : { } } "},
	{"emptyKey", `{"":1}`},
	{"unicodeKeys", `{"é":1,"e\u0301":2,"日本":3,"😀":4,"\"quoted\"":5,"a.b":6,"$key":7}`},
	{"escapedKeys", `{"\u0061":1,"tab\t":2}`},
	{"manyKeys", manyKeys(200)},
}

var arrayValues = []jsonCase{
	{"empty", `[]`},
	{"mixed", `[1,"two",true,false,null,{"a":[]},[[]]]`},
	{"nested", `[[1,[2,[3,[4]]]],[]]`},
	{"objects", `[{"a":1},{"a":1},{}]`},
	{"long", "[" + strings.Repeat("0,", 4999) + "0]"},
}

var stringValues = []jsonCase{
	{"empty", `""`},
	{"ascii", `"hello, world"`},
	{"unicode", `"héllo wörld ñ ß 日本語 Ελληνικά العربية"`},
	{"emoji", `"😀🚀👩‍👩‍👧‍👦🇺🇳"`},
	{"escapes", `"quote \" backslash \\ slash \/ \b\f\n\r\t"`},
	{"unicodeEscapes", `"\u00e9\u65e5\uD83D\uDE00"`},
	{"controlEscapes", `"\u0001\u001f\u007f"`},
	{"lineSeparators", `"\u2028\u2029"`},
	{"BOM", `"\ufeff"`},
	{"nonCharacter", `"\uffff"`},
	{"sqlish", `"'; DROP TABLE entries; --"`},
	{"long", `"` + strings.Repeat("abcdefgh", 8192) + `"`},
}

var literalValues = []jsonCase{
	{"true", `true`},
	{"false", `false`},
	{"null", `null`},
	{"inArray", `[true,false,null]`},
}

var numberValues = []jsonCase{
	{"zero", `0`},
	{"negativeZero", `-0`},
	{"negativeZeroFloat", `-0.0`},
	{"one", `1`},
	{"oneFloat", `1.0`},
	{"negative", `-1.5`},
	{"fraction", `0.1`},
	{"small", `1e-7`},
	{"upperExponent", `1E+2`},
	{"huge", `1e300`},
	{"tiny", `-2.5e-300`},
	{"bigInt", `12345678901234567890123`},
	{"negativeBigInt", `-98765432109876543210987654321`},
	{"int64Max", `9223372036854775807`},
	{"int64Min", `-9223372036854775808`},
	{"uint64Max", `18446744073709551615`},
	{"beyondFloat64", `9007199254740993`},
	{"longFraction", `3.141592653589793238462643383279502884197`},
	{"float64Max", `1.7976931348623157e308`},
	{"inObject", `{"a":0,"b":-0,"c":1.0,"d":1e300,"e":12345678901234567890123}`},
	{"inArray", `[0,-0,1,1.0,-1.5,1e300,12345678901234567890123]`},
}

func manyKeys(n int) string {
	m := make(map[string]int, n)
	for i := range n {
		m["key"+strings.Repeat("_", i%7)+string(rune('a'+i%26))+string(rune('A'+i/26))] = i
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// testRoundTrip stores each case, as a json.RawMessage, under its own key
// and reads it back with Get and GetMany.
func testRoundTrip(t *testing.T, s *suite, cases []jsonCase) {
	st := s.newStore(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustSet(t, st, tc.name, raw(tc.json))
			wantEntry(t, st, tc.name, tc.json, 1)
			// An overwrite with the same value, then with its stored form.
			e := mustGet(t, st, tc.name)
			mustSet(t, st, tc.name, e.Value)
			wantEntry(t, st, tc.name, tc.json, 2)
		})
	}
	keys := make([]string, len(cases))
	for i, tc := range cases {
		keys[i] = tc.name
	}
	res, err := st.GetMany(t.Context(), keys)
	noErr(t, err, "GetMany")
	for _, tc := range cases {
		e, ok := res.Entries[tc.name]
		if !ok {
			t.Errorf("GetMany: %q missing (error %v)", tc.name, res.Errors[tc.name])
			continue
		}
		if !JSONEqual(e.Value, []byte(tc.json)) {
			t.Errorf("GetMany(%q).Value = %.200s, want %.200s", tc.name, e.Value, tc.json)
		}
	}
}

// nested returns a value nested depth deep: arrays, objects, or both in turn.
func nested(depth int, kind string) string {
	var b strings.Builder
	for i := range depth {
		if kind == "array" || (kind == "mixed" && i%2 == 0) {
			b.WriteString("[")
		} else {
			b.WriteString(`{"a":`)
		}
	}
	b.WriteString("1")
	for i := depth - 1; i >= 0; i-- {
		if kind == "array" || (kind == "mixed" && i%2 == 0) {
			b.WriteString("]")
		} else {
			b.WriteString("}")
		}
	}
	return b.String()
}

func testValuesDeep(t *testing.T, s *suite) {
	st := s.newStore(t)
	for _, kind := range []string{"array", "object", "mixed"} {
		t.Run(kind, func(t *testing.T) {
			v := nested(storage.MaxDepth, kind)
			mustSet(t, st, kind, raw(v))
			wantEntry(t, st, kind, v, 1)
			md := obj(t, `{"deep":`+nested(storage.MaxDepth-1, kind)+`}`)
			mustSet(t, st, kind, raw(`1`), storage.WithMetadata(md))
			e := wantEntry(t, st, kind, `1`, 2)
			if !JSONEqual(e.Metadata, mustJSON(t, md)) {
				t.Errorf("metadata nested %d deep did not round-trip", storage.MaxDepth)
			}
		})
	}
}

func testValuesLarge(t *testing.T, s *suite) {
	st := s.newStore(t)
	big := `{"blob":"` + strings.Repeat("0123456789abcdef", 1<<16) + `"}` // 1 MiB
	mustSet(t, st, "big", raw(big))
	wantEntry(t, st, "big", big, 1)
	var arr strings.Builder
	arr.WriteString("[")
	for i := range 20000 {
		if i > 0 {
			arr.WriteString(",")
		}
		arr.WriteString(`{"i":`)
		arr.WriteString(strings.Repeat("9", 1+i%20))
		arr.WriteString(`}`)
	}
	arr.WriteString("]")
	mustSet(t, st, "wide", raw(arr.String()))
	wantEntry(t, st, "wide", arr.String(), 1)
}

type goSample struct {
	Name    string            `json:"name"`
	Tags    []string          `json:"tags,omitempty"`
	N       int               `json:"n"`
	F       float64           `json:"f"`
	Inner   *goSample         `json:"inner,omitempty"`
	Labels  map[string]string `json:"labels"`
	Skipped string            `json:"-"`
	private int
}

type goMarshaler struct{}

func (goMarshaler) MarshalJSON() ([]byte, error) { return []byte(` {"custom" : [1, 2]} `), nil }

func testValuesGo(t *testing.T, s *suite) {
	st := s.newStore(t)
	sample := goSample{Name: "Ada", Tags: []string{"x"}, N: 3, F: -1.5,
		Inner: &goSample{Name: "inner"}, Labels: map[string]string{"b": "2", "a": "1"}, Skipped: "gone", private: 1}
	cases := []struct {
		name string
		v    any
	}{
		{"struct", sample},
		{"pointer", &sample},
		{"map", map[string]any{"a": 1, "b": []any{"x", 2.5, nil, true}, "c": map[string]int{"d": 4}}},
		{"slice", []int{3, 1, 2}},
		{"emptySlice", []string{}},
		{"nilSlice", []string(nil)},
		{"nil", nil},
		{"int", 42},
		{"int64Max", int64(math.MaxInt64)},
		{"uint64Max", uint64(math.MaxUint64)},
		{"float", -1.5},
		{"maxFloat", math.MaxFloat64},
		{"smallestFloat", math.SmallestNonzeroFloat64},
		{"negativeZero", math.Copysign(0, -1)},
		{"string", "héllo \"😀\" <&>"},
		{"bool", true},
		{"number", json.Number("1.5e3")},
		{"time", time.Date(2024, 2, 29, 12, 30, 0, 123456789, time.UTC)},
		{"marshaler", goMarshaler{}},
		// []byte is a base64 string, as encoding/json writes it, even
		// when the bytes happen to be JSON text.
		{"bytes", []byte("hello")},
		{"bytesJSON", []byte(`{"a":1}`)},
		{"bytesEmpty", []byte{}},
		{"bytesNil", []byte(nil)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := mustJSON(t, tc.v)
			mustSet(t, st, tc.name, tc.v)
			wantEntry(t, st, tc.name, string(want), 1)
		})
	}
	t.Run("decode", func(t *testing.T) {
		var got goSample
		if err := mustGet(t, st, "struct").Decode(&got); err != nil {
			t.Fatalf("Entry.Decode: %v", err)
		}
		want := sample
		want.Skipped, want.private = "", 0
		if string(mustJSON(t, got)) != string(mustJSON(t, want)) || got.Skipped != "" {
			t.Errorf("decoded %+v, want %+v", got, want)
		}
	})
}

// testValuesRawMessage checks that a json.RawMessage is stored as the JSON
// it holds, not marshaled as a string or base64.
func testValuesRawMessage(t *testing.T, s *suite) {
	st := s.newStore(t)
	mustSet(t, st, "raw", json.RawMessage(` { "b" : [1, 2.50] , "a" : "x" } `))
	wantEntry(t, st, "raw", `{"a":"x","b":[1,2.5]}`, 1)
	mustSet(t, st, "inside", map[string]any{"r": json.RawMessage(`{"x":1}`)})
	wantEntry(t, st, "inside", `{"r":{"x":1}}`, 1)
	mustSet(t, st, "pointer", ptr(json.RawMessage(`[1]`)))
	wantEntry(t, st, "pointer", `[1]`, 1)
}

func ptr[T any](v T) *T { return &v }

// testValuesNoAliasing checks that the store keeps no reference to the bytes
// it was given, nor hands out its own.
func testValuesNoAliasing(t *testing.T, s *suite) {
	st := s.newStore(t)
	buf := []byte(`{"a":1}`)
	mustSet(t, st, "k", json.RawMessage(buf))
	copy(buf, `{"a":2}`)
	e := wantEntry(t, st, "k", `{"a":1}`, 1)
	for i := range e.Value {
		e.Value[i] = ' '
	}
	for i := range e.Metadata {
		e.Metadata[i] = ' '
	}
	e = wantEntry(t, st, "k", `{"a":1}`, 1)
	if !JSONEqual(e.Metadata, []byte(`{}`)) {
		t.Errorf("Metadata = %q after the caller overwrote an earlier copy", e.Metadata)
	}
	copy(buf, `{"a":2}`)
	res, err := st.SetMany(t.Context(), []storage.Item{{Key: "b", Value: json.RawMessage(buf)}})
	noErr(t, err, "SetMany")
	if !res.OK() {
		t.Fatalf("SetMany: %v", res.Err())
	}
	copy(buf, `{"a":3}`)
	wantEntry(t, st, "b", `{"a":2}`, 1)
}

// refusedCase is a value every store refuses with err.
type refusedCase struct {
	name string
	v    any
	err  error
}

var invalidJSONValues = []refusedCase{
	{"unclosedObject", raw(`{`), storage.ErrInvalidValue},
	{"empty", raw(``), storage.ErrInvalidValue},
	{"whitespace", raw(` `), storage.ErrInvalidValue},
	{"truncatedLiteral", raw(`nul`), storage.ErrInvalidValue},
	{"trailingComma", raw(`[1,]`), storage.ErrInvalidValue},
	{"singleQuotes", raw(`{'a':1}`), storage.ErrInvalidValue},
	{"unquotedKey", raw(`{a:1}`), storage.ErrInvalidValue},
	{"twoValues", raw(`1 2`), storage.ErrInvalidValue},
	{"trailingGarbage", raw(`{}x`), storage.ErrInvalidValue},
	{"leadingZero", raw(`01`), storage.ErrInvalidValue},
	{"plusSign", raw(`+1`), storage.ErrInvalidValue},
	{"bareFraction", raw(`.5`), storage.ErrInvalidValue},
	{"NaNLiteral", raw(`NaN`), storage.ErrInvalidValue},
	{"InfinityLiteral", raw(`[Infinity]`), storage.ErrInvalidValue},
	{"unterminatedString", raw(`"abc`), storage.ErrInvalidValue},
	{"rawControlChar", raw("\"a\tb\""), storage.ErrInvalidValue},
	{"badEscape", raw(`"\x41"`), storage.ErrInvalidValue},
	{"shortUnicodeEscape", raw(`"\u12"`), storage.ErrInvalidValue},
	{"comment", raw(`{} // no`), storage.ErrInvalidValue},
	{"invalidNumber", json.Number("12abc"), storage.ErrInvalidValue},
}

var nanValues = []refusedCase{
	{"NaN", math.NaN(), storage.ErrInvalidValue},
	{"PosInf", math.Inf(1), storage.ErrInvalidValue},
	{"NegInf", math.Inf(-1), storage.ErrInvalidValue},
	{"float32NaN", float32(math.NaN()), storage.ErrInvalidValue},
	{"inMap", map[string]any{"a": math.NaN()}, storage.ErrInvalidValue},
	{"inSlice", []float64{1, math.Inf(1)}, storage.ErrInvalidValue},
	{"inStruct", struct{ F float64 }{math.Inf(-1)}, storage.ErrInvalidValue},
}

var nulValues = []refusedCase{
	{"goString", "a\x00b", storage.ErrInvalidValue},
	{"goStringOnly", "\x00", storage.ErrInvalidValue},
	{"goMapKey", map[string]int{"a\x00": 1}, storage.ErrInvalidValue},
	{"goNested", map[string]any{"a": []any{"ok", "b\x00"}}, storage.ErrInvalidValue},
	{"rawEscape", raw(`"a\u0000b"`), storage.ErrInvalidValue},
	{"rawInArray", raw(`["\u0000"]`), storage.ErrInvalidValue},
	{"rawKey", raw(`{"k\u0000":1}`), storage.ErrInvalidValue},
}

var surrogateValues = []refusedCase{
	{"high", raw(`"\ud800"`), storage.ErrInvalidValue},
	{"low", raw(`"\udc00"`), storage.ErrInvalidValue},
	{"highThenChar", raw(`"\ud800x"`), storage.ErrInvalidValue},
	{"highThenBMP", raw(`"\ud800\u0041"`), storage.ErrInvalidValue},
	{"reversed", raw(`"\ude00\ud83d"`), storage.ErrInvalidValue},
	{"highAtEnd", raw(`"ok\uDBFF"`), storage.ErrInvalidValue},
	{"inKey", raw(`{"\ud800":1}`), storage.ErrInvalidValue},
}

var duplicateKeyValues = []refusedCase{
	{"top", raw(`{"a":1,"a":2}`), storage.ErrInvalidValue},
	{"sameValue", raw(`{"a":1,"b":0,"a":1}`), storage.ErrInvalidValue},
	{"nested", raw(`{"x":{"a":1,"a":2}}`), storage.ErrInvalidValue},
	{"inArray", raw(`[{},{"a":1,"a":{}}]`), storage.ErrInvalidValue},
	{"escaped", raw(`{"a":1,"\u0061":2}`), storage.ErrInvalidValue},
}

var invalidUTF8Values = []refusedCase{
	{"string", raw("\"a\xffb\""), storage.ErrInvalidValue},
	{"truncated", raw("\"\xe6\x97\""), storage.ErrInvalidValue},
	{"overlong", raw("\"\xc0\xaf\""), storage.ErrInvalidValue},
	{"surrogateBytes", raw("\"\xed\xa0\x80\""), storage.ErrInvalidValue},
	{"key", raw("{\"\xff\":1}"), storage.ErrInvalidValue},
}

var tooDeepValues = []refusedCase{
	{"array", raw(nested(storage.MaxDepth+1, "array")), storage.ErrInvalidValue},
	{"object", raw(nested(storage.MaxDepth+1, "object")), storage.ErrInvalidValue},
	{"mixed", raw(nested(storage.MaxDepth+1, "mixed")), storage.ErrInvalidValue},
	{"veryDeep", raw(nested(100000, "array")), storage.ErrInvalidValue},
}

var unmarshalableValues = []refusedCase{
	{"chan", make(chan int), storage.ErrInvalidValue},
	{"func", func() {}, storage.ErrInvalidValue},
	{"complex", complex(1, 2), storage.ErrInvalidValue},
	{"mapIntKeyChan", map[string]any{"c": make(chan int)}, storage.ErrInvalidValue},
	{"badMarshaler", badMarshaler{}, storage.ErrInvalidValue},
}

type badMarshaler struct{}

func (badMarshaler) MarshalJSON() ([]byte, error) { return []byte(`{`), nil }

// testRefused checks that each case is refused by Set (new key, existing
// key, missing namespace, NoOverwrite, IfVersion) and per key by SetMany,
// and that nothing is written.
func testRefused(t *testing.T, s *suite, cases []refusedCase) {
	st := s.newStore(t)
	mustSet(t, st, "existing", raw(`"old"`), storage.WithMetadata(map[string]any{"m": 1}))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkRefused(t, st, tc.v, tc.err)
		})
	}
}

func checkRefused(t *testing.T, st storage.Store, v any, want error) {
	t.Helper()
	ctx := t.Context()
	before := snapshot(t, st)
	wantErr(t, st.Set(ctx, "new", v), want, "Set new key")
	wantErr(t, st.Set(ctx, "existing", v), want, "Set existing key")
	wantErr(t, st.Set(ctx, "new", v, ns("fresh")), want, "Set in a missing namespace")
	wantErr(t, st.Set(ctx, "new", v, storage.NoOverwrite()), want, "Set NoOverwrite")
	wantErr(t, st.Set(ctx, "existing", v, storage.IfVersion(1)), want, "Set IfVersion")
	for _, atomic := range []bool{false, true} {
		var opts []storage.Option
		if atomic {
			opts = append(opts, storage.Atomic())
		}
		res, err := st.SetMany(ctx, []storage.Item{{Key: "new", Value: v}, {Key: "existing", Value: v}}, opts...)
		batchCallErr(t, err, "SetMany", want)
		checkBatch(t, res, []string{"new", "existing"}, "SetMany")
		for _, kr := range res.Results {
			wantErr(t, kr.Err, want, "SetMany key "+quote(kr.Key))
			if kr.Version != 0 {
				t.Errorf("SetMany key %q failed but reports Version %d", kr.Key, kr.Version)
			}
		}
	}
	unchanged(t, st, before, "a refused value")
	e := wantEntry(t, st, "existing", `"old"`, 1)
	if !JSONEqual(e.Metadata, []byte(`{"m":1}`)) {
		t.Errorf("metadata changed by a refused write: %s", e.Metadata)
	}
}

func testValuesInvalidMetadata(t *testing.T, s *suite) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "existing", raw(`"old"`), storage.WithMetadata(map[string]any{"m": 1}))
	cases := []struct {
		name string
		md   any
	}{
		{"NaN", map[string]any{"n": math.NaN()}},
		{"NaNInStruct", struct{ N float64 }{math.NaN()}},
		{"array", []any{1}},
		{"rawArray", json.RawMessage(`[{"a":1}]`)},
		{"rawNull", json.RawMessage(`null`)},
		{"rawInvalid", json.RawMessage(`{"a":`)},
		{"rawDuplicateKeys", json.RawMessage(`{"a":1,"a":2}`)},
		{"string", "x"},
		{"number", 3},
		{"bytes", []byte(`{"a":1}`)}, // a base64 string, as for values
		{"Inf", map[string]any{"deep": map[string]any{"n": math.Inf(1)}}},
		{"NUL", map[string]any{"s": "a\x00"}},
		{"NULKey", map[string]any{"\x00": 1}},
		{"unmarshalable", map[string]any{"c": make(chan int)}},
		{"tooDeep", map[string]any{"d": json.RawMessage(nested(storage.MaxDepth, "array"))}},
		{"duplicateKeys", map[string]any{"d": json.RawMessage(`{"a":1,"a":2}`)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, st)
			md := storage.WithMetadata(tc.md)
			wantErr(t, st.Set(ctx, "new", raw(`1`), md), storage.ErrInvalidValue, "Set new key")
			wantErr(t, st.Set(ctx, "existing", raw(`1`), md), storage.ErrInvalidValue, "Set existing key")
			wantErr(t, st.Set(ctx, "new", raw(`1`), md, ns("fresh")), storage.ErrInvalidValue, "Set in a missing namespace")
			_, err := st.SetMany(ctx, []storage.Item{{Key: "new", Value: raw(`1`)}}, md)
			wantErr(t, err, storage.ErrInvalidValue, "SetMany WithMetadata")
			res, err := st.SetMany(ctx, []storage.Item{{Key: "new", Value: raw(`1`), Metadata: tc.md}})
			batchCallErr(t, err, "SetMany Item.Metadata", storage.ErrInvalidValue)
			checkBatch(t, res, []string{"new"}, "SetMany Item.Metadata")
			wantErr(t, resultOf(t, res, "new").Err, storage.ErrInvalidValue, "SetMany Item.Metadata key")
			wantErr(t, st.SetMetadata(ctx, "existing", tc.md), storage.ErrInvalidValue, "SetMetadata")
			wantErr(t, st.SetMetadata(ctx, "existing", tc.md, storage.Merge()), storage.ErrInvalidValue, "SetMetadata Merge")
			unchanged(t, st, before, "invalid metadata")
			e := wantEntry(t, st, "existing", `"old"`, 1)
			if !JSONEqual(e.Metadata, []byte(`{"m":1}`)) {
				t.Errorf("metadata changed by a refused write: %s", e.Metadata)
			}
		})
	}
}

// sizedString returns a JSON string literal exactly n bytes long.
func sizedString(n int) string { return `"` + strings.Repeat("x", n-2) + `"` }

func testValuesTooLarge(t *testing.T, s *suite) {
	s.needMaxValueSize(t)
	const limit = 1024
	st := s.open(t, Config{MaxValueSize: limit})
	mustSet(t, st, "existing", raw(`"old"`), storage.WithMetadata(map[string]any{"m": 1}))
	exact := sizedString(limit)
	mustSet(t, st, "exact", raw(exact))
	wantEntry(t, st, "exact", exact, 1)
	for _, tc := range []refusedCase{
		{"oneOver", raw(sizedString(limit + 1)), storage.ErrValueTooLarge},
		{"muchOver", raw(sizedString(10 * limit)), storage.ErrValueTooLarge},
		{"goValue", strings.Repeat("y", limit), storage.ErrValueTooLarge},
		{"object", map[string]string{"k": strings.Repeat("z", limit)}, storage.ErrValueTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) { checkRefused(t, st, tc.v, tc.err) })
	}
	t.Run("mixedBatch", func(t *testing.T) {
		res, err := st.SetMany(t.Context(), []storage.Item{
			{Key: "small", Value: raw(`1`)},
			{Key: "big", Value: raw(sizedString(limit + 1))},
		})
		batchCallErr(t, err, "SetMany", storage.ErrValueTooLarge)
		checkBatch(t, res, []string{"small", "big"}, "SetMany")
		noErr(t, resultOf(t, res, "small").Err, "SetMany small")
		wantErr(t, resultOf(t, res, "big").Err, storage.ErrValueTooLarge, "SetMany big")
		wantEntry(t, st, "small", `1`, 1)
		wantMissing(t, st, "big")
	})
}

func testValuesMetadataTooLarge(t *testing.T, s *suite) {
	s.needMaxValueSize(t)
	const limit = 1024
	st := s.open(t, Config{MaxValueSize: limit})
	ctx := t.Context()
	mustSet(t, st, "existing", raw(`"old"`))
	before := snapshot(t, st)
	ok := map[string]any{"s": strings.Repeat("x", limit-10)}
	big := map[string]any{"s": strings.Repeat("x", limit)}
	wantErr(t, st.Set(ctx, "new", raw(`1`), storage.WithMetadata(big)), storage.ErrValueTooLarge, "Set WithMetadata")
	wantErr(t, st.SetMetadata(ctx, "existing", big), storage.ErrValueTooLarge, "SetMetadata")
	wantErr(t, st.SetMetadata(ctx, "existing", big, storage.Merge()), storage.ErrValueTooLarge, "SetMetadata Merge")
	res, err := st.SetMany(ctx, []storage.Item{{Key: "new", Value: raw(`1`), Metadata: big}})
	batchCallErr(t, err, "SetMany", storage.ErrValueTooLarge)
	checkBatch(t, res, []string{"new"}, "SetMany")
	wantErr(t, resultOf(t, res, "new").Err, storage.ErrValueTooLarge, "SetMany Item.Metadata")
	unchanged(t, st, before, "too large metadata")
	wantEntry(t, st, "existing", `"old"`, 1)
	mustSet(t, st, "new", raw(`1`), storage.WithMetadata(ok))
	noErr(t, st.SetMetadata(ctx, "existing", ok), "SetMetadata under the limit")
}
