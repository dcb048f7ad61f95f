package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

var raceEnabled bool // set by race_test.go

const depth = 1000 // the storage engine's MaxDepth

func nested(open, close string, n int) string {
	return strings.Repeat(open, n) + strings.Repeat(close, n)
}

func manyKeys(n int, extra string) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"key%d":%d`, i, i)
	}
	sb.WriteString(extra)
	sb.WriteByte('}')
	return sb.String()
}

type validCase struct {
	name     string
	in       string
	maxDepth int // 0: depth
}

var validCases = []validCase{
	{name: "null", in: `null`},
	{name: "true", in: `true`},
	{name: "false", in: `false`},
	{name: "zero", in: `0`},
	{name: "negative zero", in: `-0`},
	{name: "negative zero float", in: `-0.0e-0`},
	{name: "integer", in: `42`},
	{name: "negative", in: `-17`},
	{name: "one point zero", in: `1.0`},
	{name: "1e300", in: `1e300`},
	{name: "exponent forms", in: `[1E+2,1e-2,1E2,0e0,2.5E-10]`},
	{name: "big integer", in: `123456789012345678901234567890`},
	{name: "long fraction", in: `3.14159265358979323846264338327950288419716939937510`},
	{name: "empty string", in: `""`},
	{name: "string", in: `"hello, world"`},
	{name: "simple escapes", in: `"\"\\\/\b\f\n\r\t"`},
	{name: "unicode escape", in: `"\u0041\u00e9\u65e5"`},
	{name: "upper-case hex", in: `"\u00E9\uFFFF"`},
	{name: "escaped backslash then u0000", in: `"\\u0000"`},
	{name: "escaped backslash then u0000 in key", in: `{"\\u0000":1}`},
	{name: "three backslashes", in: `"\\\u0041"`},
	{name: "control escapes", in: `"\u0001\u001f\u007f"`},
	{name: "raw unicode", in: `"é日本語😀"`},
	{name: "raw U+FFFD", in: "\"\xef\xbf\xbd\""},
	{name: "raw U+2028", in: "\"\u2028\u2029\""},
	{name: "raw DEL", in: "\"\x7f\""},
	{name: "max code point", in: "\"\U0010FFFF\""},
	{name: "escaped surrogate pair", in: `"\ud83d\ude00"`},
	{name: "escaped surrogate pair upper", in: `"\uD83D\uDE00"`},
	{name: "first surrogate pair", in: `"\ud800\udc00"`},
	{name: "last surrogate pair", in: `"\udbff\udfff"`},
	{name: "surrogate pair in key", in: `{"\ud83d\ude00":1}`},
	{name: "two pairs", in: `"\ud83d\ude00\ud83d\ude01"`},
	{name: "empty array", in: `[]`},
	{name: "empty object", in: `{}`},
	{name: "all types", in: `[1,"a",null,true,false,{},[],-2.5e3,{"k":[{}]}]`},
	{name: "object", in: `{"a":1,"b":[1,2],"c":{"d":null},"e":"x"}`},
	{name: "whitespace", in: " \t\n\r{ \"a\" : [ 1 , 2 ] , \"b\" : { } }\n\t "},
	{name: "empty key", in: `{"":1}`},
	{name: "case-distinct keys", in: `{"a":1,"A":2}`},
	{name: "same key in siblings", in: `[{"a":1},{"a":2}]`},
	{name: "same key nested", in: `{"a":{"a":{"a":1}}}`},
	{name: "same key before and after nested", in: `{"a":{"b":1,"c":2},"b":{"a":1}}`},
	{name: "escaped distinct keys", in: `{"\u0061":1,"b":2,"\u0062c":3}`},
	{name: "prefix keys", in: `{"a":1,"ab":2,"abc":3,"b":4}`},
	{name: "many keys", in: manyKeys(200, "")},
	{name: "many keys nested", in: `{"x":` + manyKeys(50, `,"y":`+manyKeys(50, "")) + `,"z":` + manyKeys(30, "") + `}`},
	{name: "depth at limit arrays", in: nested("[", "]", depth)},
	{name: "depth at limit objects", in: strings.Repeat(`{"a":`, depth-1) + `{}` + strings.Repeat(`}`, depth-1)},
	{name: "depth at limit mixed", in: strings.Repeat(`[{"a":`, depth/2) + `0` + strings.Repeat(`}]`, depth/2)},
	{name: "depth 1 with limit 1", in: `[1,2,"{}"]`, maxDepth: 1},
	{name: "scalar with limit -1", in: `"x"`, maxDepth: -1},
	// PostgreSQL numeric limits, just inside (padded where the number
	// written out in full needs a value that large: KindNumberExpansion).
	{name: "numeric max weight", in: padded(`1e131071`)},
	{name: "numeric max weight mantissa", in: padded(`9.999e131071`)},
	{name: "numeric max weight shifted", in: padded(`100e131069`)},
	{name: "numeric max weight small", in: padded(`0.001e131074`)},
	{name: "numeric max integer digits", in: "1" + strings.Repeat("0", 131071)},
	{name: "numeric max scale", in: padded(`1e-16383`)},
	{name: "numeric max fraction digits", in: "0." + strings.Repeat("0", 16382) + "1"},
	{name: "numeric zero huge exponent", in: `0e1073741822`},
	{name: "numeric zero negative exponent", in: padded(`0.0e-16382`)},
	{name: "numeric zero fraction huge exponent", in: `0.000e1000000`},
	{name: "numeric big exponent cancels scale", in: "0." + strings.Repeat("1", 20000) + "e10000"},
}

type invalidCase struct {
	name     string
	in       string
	kind     Kind
	offset   int // -1: not checked
	maxDepth int // 0: depth
}

var invalidCases = []invalidCase{
	// Grammar.
	{name: "empty", in: ``, kind: KindSyntax, offset: 0},
	{name: "only whitespace", in: "  \n", kind: KindSyntax, offset: 3},
	{name: "unclosed object", in: `{`, kind: KindSyntax, offset: 1},
	{name: "unclosed array", in: `[1,2`, kind: KindSyntax, offset: 4},
	{name: "trailing comma array", in: `[1,]`, kind: KindSyntax, offset: 3},
	{name: "trailing comma object", in: `{"a":1,}`, kind: KindSyntax, offset: 7},
	{name: "leading comma", in: `[,1]`, kind: KindSyntax, offset: 1},
	{name: "double comma", in: `[1,,2]`, kind: KindSyntax, offset: 3},
	{name: "missing comma", in: `[1 2]`, kind: KindSyntax, offset: 3},
	{name: "missing colon", in: `{"a" 1}`, kind: KindSyntax, offset: 5},
	{name: "missing value", in: `{"a":}`, kind: KindSyntax, offset: 5},
	{name: "number key", in: `{1:2}`, kind: KindSyntax, offset: 1},
	{name: "bare key", in: `{a:2}`, kind: KindSyntax, offset: 1},
	{name: "single-quoted string", in: `'a'`, kind: KindSyntax, offset: 0},
	{name: "single-quoted key", in: `{'a':1}`, kind: KindSyntax, offset: 1},
	{name: "mismatched close", in: `[1}`, kind: KindSyntax, offset: 2},
	{name: "mismatched close object", in: `{"a":1]`, kind: KindSyntax, offset: 6},
	{name: "extra close", in: `[]]`, kind: KindSyntax, offset: 2},
	{name: "two values", in: `1 2`, kind: KindSyntax, offset: 2},
	{name: "trailing garbage", in: `{"a":1} x`, kind: KindSyntax, offset: 8},
	{name: "trailing NUL", in: "{}\x00", kind: KindSyntax, offset: 2},
	{name: "leading zero", in: `01`, kind: KindSyntax, offset: 0},
	{name: "negative leading zero", in: `-01`, kind: KindSyntax, offset: 1},
	{name: "leading zeros", in: `[00]`, kind: KindSyntax, offset: 1},
	{name: "plus sign", in: `+1`, kind: KindSyntax, offset: 0},
	{name: "bare minus", in: `-`, kind: KindSyntax, offset: 1},
	{name: "minus then letter", in: `-a`, kind: KindSyntax, offset: 1},
	{name: "trailing dot", in: `1.`, kind: KindSyntax, offset: 2},
	{name: "leading dot", in: `.5`, kind: KindSyntax, offset: 0},
	{name: "dot exponent", in: `1.e5`, kind: KindSyntax, offset: 2},
	{name: "empty exponent", in: `1e`, kind: KindSyntax, offset: 2},
	{name: "signed empty exponent", in: `1e+`, kind: KindSyntax, offset: 3},
	{name: "hex number", in: `0x10`, kind: KindSyntax, offset: 1},
	{name: "NaN", in: `NaN`, kind: KindSyntax, offset: 0},
	{name: "Infinity", in: `Infinity`, kind: KindSyntax, offset: 0},
	{name: "negative Infinity", in: `-Infinity`, kind: KindSyntax, offset: 1},
	{name: "NaN in array", in: `[1,NaN]`, kind: KindSyntax, offset: 3},
	{name: "capitalised literal", in: `True`, kind: KindSyntax, offset: 0},
	{name: "truncated literal", in: `tru`, kind: KindSyntax, offset: 3},
	{name: "misspelt literal", in: `nul1`, kind: KindSyntax, offset: 3},
	{name: "literal with suffix", in: `falsey`, kind: KindSyntax, offset: 5},
	{name: "undefined", in: `undefined`, kind: KindSyntax, offset: 0},
	{name: "comment", in: `[1] // c`, kind: KindSyntax, offset: 4},
	{name: "unterminated string", in: `"abc`, kind: KindSyntax, offset: 0},
	{name: "unterminated escape", in: `"abc\`, kind: KindSyntax, offset: 0},
	{name: "raw tab in string", in: "\"a\tb\"", kind: KindSyntax, offset: 2},
	{name: "raw newline in string", in: "\"a\nb\"", kind: KindSyntax, offset: 2},
	{name: "raw NUL in string", in: "\"a\x00b\"", kind: KindSyntax, offset: 2},
	{name: "raw control in key", in: "{\"\x1f\":1}", kind: KindSyntax, offset: 2},
	{name: "invalid escape", in: `"\x41"`, kind: KindSyntax, offset: 1},
	{name: "escaped single quote", in: `"\'"`, kind: KindSyntax, offset: 1},
	{name: "short unicode escape", in: `"\u12"`, kind: KindSyntax, offset: 1},
	{name: "bad hex in escape", in: `"\u12G4"`, kind: KindSyntax, offset: 1},
	{name: "bad hex after high surrogate", in: `"\ud800\uZZZZ"`, kind: KindSyntax, offset: 7},
	{name: "byte order mark", in: "\xef\xbb\xbf{}", kind: KindSyntax, offset: 0},
	{name: "vertical tab whitespace", in: "\v1", kind: KindSyntax, offset: 0},
	{name: "non-breaking space", in: "\u00a01", kind: KindSyntax, offset: 0},
	// UTF-8.
	{name: "invalid byte in string", in: "\"\xff\"", kind: KindUTF8, offset: 1},
	{name: "invalid byte in key", in: "{\"a\xff\":1}", kind: KindUTF8, offset: 3},
	{name: "invalid byte outside string", in: "[\xff]", kind: KindUTF8, offset: 1},
	{name: "truncated sequence", in: "\"\xc3\"", kind: KindUTF8, offset: 1},
	{name: "truncated at end", in: "\"\xe6\x97", kind: KindUTF8, offset: 1},
	{name: "overlong slash", in: "\"\xc0\xaf\"", kind: KindUTF8, offset: 1},
	{name: "encoded surrogate", in: "\"\xed\xa0\x80\"", kind: KindUTF8, offset: 1},
	{name: "beyond U+10FFFF", in: "\"\xf4\x90\x80\x80\"", kind: KindUTF8, offset: 1},
	{name: "lone continuation", in: "\"ab\x80\"", kind: KindUTF8, offset: 3},
	{name: "latin-1", in: "\"caf\xe9\"", kind: KindUTF8, offset: 4},
	// \u0000.
	{name: "NUL escape", in: `"\u0000"`, kind: KindNUL, offset: 1},
	{name: "NUL escape in key", in: `{"\u0000":1}`, kind: KindNUL, offset: 2},
	{name: "NUL escape mid-string", in: `["a\u0000b"]`, kind: KindNUL, offset: 3},
	{name: "NUL escape after escaped backslash", in: `"\\\u0000"`, kind: KindNUL, offset: 3},
	{name: "NUL escape nested", in: `{"a":[{"b":"\u0000"}]}`, kind: KindNUL, offset: 12},
	// Surrogates.
	{name: "lone high surrogate", in: `"\ud800"`, kind: KindSurrogate, offset: 1},
	{name: "lone low surrogate", in: `"\udc00"`, kind: KindSurrogate, offset: 1},
	{name: "lone last low surrogate", in: `"\uDFFF"`, kind: KindSurrogate, offset: 1},
	{name: "high surrogate then text", in: `"\ud800x"`, kind: KindSurrogate, offset: 1},
	{name: "high surrogate then other escape", in: `"\ud800\u0041"`, kind: KindSurrogate, offset: 1},
	{name: "high surrogate then newline escape", in: `"\ud800\n"`, kind: KindSurrogate, offset: 1},
	{name: "two high surrogates", in: `"\ud800\ud800"`, kind: KindSurrogate, offset: 1},
	{name: "reversed pair", in: `"\udc00\ud800"`, kind: KindSurrogate, offset: 1},
	{name: "pair then lone low", in: `"\ud83d\ude00\ude00"`, kind: KindSurrogate, offset: 13},
	{name: "surrogate in key", in: `{"\ud800":1}`, kind: KindSurrogate, offset: 2},
	{name: "surrogate after text", in: `["\ud800"]`, kind: KindSurrogate, offset: 2},
	{name: "high surrogate at end of input", in: `"\udbff`, kind: KindSurrogate, offset: 1},
	// Duplicate keys.
	{name: "duplicate key", in: `{"a":1,"a":2}`, kind: KindDuplicateKey, offset: 7},
	{name: "duplicate key spaced", in: `{"a": 1, "a": 2}`, kind: KindDuplicateKey, offset: 9},
	{name: "duplicate key escaped", in: `{"a":1,"\u0061":2}`, kind: KindDuplicateKey, offset: 7},
	{name: "duplicate key both escaped", in: `{"\u0061":1,"\u0061":2}`, kind: KindDuplicateKey, offset: 12},
	{name: "duplicate key escaped first", in: `{"\u0061":1,"a":2}`, kind: KindDuplicateKey, offset: 12},
	{name: "duplicate key non-ASCII", in: `{"é":1,"\u00e9":2}`, kind: KindDuplicateKey, offset: 8},
	{name: "duplicate key surrogate pair", in: `{"😀":1,"\ud83d\ude00":2}`, kind: KindDuplicateKey, offset: 10},
	{name: "duplicate key solidus", in: `{"\/":1,"/":2}`, kind: KindDuplicateKey, offset: 8},
	{name: "duplicate key newline", in: `{"\n":1,"\u000a":2}`, kind: KindDuplicateKey, offset: 8},
	{name: "duplicate key backslash", in: `{"\\":1,"\u005c":2}`, kind: KindDuplicateKey, offset: 8},
	{name: "duplicate empty key", in: `{"":1,"":2}`, kind: KindDuplicateKey, offset: 6},
	{name: "duplicate key nested", in: `{"a":{"b":1,"b":2}}`, kind: KindDuplicateKey, offset: 12},
	{name: "duplicate key after nested", in: `{"a":{"a":1},"a":2}`, kind: KindDuplicateKey, offset: 13},
	{name: "duplicate key in array element", in: `[{"x":1},{"y":1,"y":2}]`, kind: KindDuplicateKey, offset: 16},
	{name: "duplicate key in large object", in: manyKeys(100, `,"key50":0`), kind: KindDuplicateKey, offset: -1},
	{name: "duplicate first key in large object", in: manyKeys(1000, `,"key0":0`), kind: KindDuplicateKey, offset: -1},
	{name: "duplicate escaped key in large object", in: manyKeys(40, `,"\u006bey7":0`), kind: KindDuplicateKey, offset: -1},
	{name: "duplicate key in large nested object", in: `{"a":` + manyKeys(20, "") + `,"b":` + manyKeys(30, `,"key29":1`) + `}`, kind: KindDuplicateKey, offset: -1},
	{name: "duplicate key in parent after large child", in: `{"a":1,"b":` + manyKeys(30, "") + `,"a":2}`, kind: KindDuplicateKey, offset: -1},
	{name: "duplicate key in large parent after large child", in: `{"p0":0,"p1":0,"p2":0,"p3":0,"p4":0,"p5":0,"p6":0,"p7":0,"p8":0,"c":` + manyKeys(30, "") + `,"p3":2}`, kind: KindDuplicateKey, offset: -1},
	// Depth.
	{name: "depth over limit arrays", in: nested("[", "]", depth+1), kind: KindDepth, offset: depth},
	{name: "depth over limit objects", in: strings.Repeat(`{"a":`, depth) + `{}` + strings.Repeat(`}`, depth), kind: KindDepth, offset: 5 * depth},
	{name: "depth over limit unclosed", in: strings.Repeat("[", 100000), kind: KindDepth, offset: depth},
	{name: "depth over limit with elements", in: " " + strings.Repeat("[0,", depth+1), kind: KindDepth, offset: 3*depth + 1},
	{name: "depth 2 with limit 1", in: `[[]]`, kind: KindDepth, offset: 1, maxDepth: 1},
	{name: "array with limit 0", in: `[]`, kind: KindDepth, offset: 0, maxDepth: -1},
	// PostgreSQL numeric range.
	{name: "numeric weight overflow", in: `1e131072`, kind: KindNumberRange, offset: 0},
	{name: "numeric weight overflow negative", in: `[-1e131072]`, kind: KindNumberRange, offset: 1},
	{name: "numeric weight overflow shifted", in: `1000e131069`, kind: KindNumberRange, offset: 0},
	{name: "numeric too many integer digits", in: "1" + strings.Repeat("0", 131072), kind: KindNumberRange, offset: 0},
	{name: "numeric scale overflow", in: `1e-16384`, kind: KindNumberRange, offset: 0},
	{name: "numeric too many fraction digits", in: "0." + strings.Repeat("0", 16383) + "1", kind: KindNumberRange, offset: 0},
	{name: "numeric zero scale overflow", in: `0e-16384`, kind: KindNumberRange, offset: 0},
	{name: "numeric exponent overflow", in: `0e1073741823`, kind: KindNumberRange, offset: 0},
	{name: "numeric huge exponent", in: `1e99999999999999999999999`, kind: KindNumberRange, offset: 0},
	{name: "numeric huge negative exponent", in: `{"a":1e-99999999999999999999999}`, kind: KindNumberRange, offset: 5},
}

func (c validCase) limit() int {
	if c.maxDepth != 0 {
		return c.maxDepth
	}
	return depth
}

func (c invalidCase) limit() int {
	if c.maxDepth != 0 {
		return c.maxDepth
	}
	return depth
}

func TestCheckValid(t *testing.T) {
	for _, c := range validCases {
		t.Run(c.name, func(t *testing.T) {
			if err := Check([]byte(c.in), c.limit()); err != nil {
				t.Fatalf("Check refused %.80q: %v", c.in, err)
			}
			if !json.Valid([]byte(c.in)) {
				t.Fatalf("json.Valid refuses %.80q", c.in)
			}
		})
	}
}

func TestCheckInvalid(t *testing.T) {
	for _, c := range invalidCases {
		t.Run(c.name, func(t *testing.T) {
			err := Check([]byte(c.in), c.limit())
			if err == nil {
				t.Fatalf("Check accepted %.80q", c.in)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is a %T, not *Error", err, err)
			}
			if e.Kind != c.kind {
				t.Errorf("kind %d, want %d (%v)", e.Kind, c.kind, err)
			}
			if c.offset >= 0 && e.Offset != c.offset {
				t.Errorf("offset %d, want %d (%v)", e.Offset, c.offset, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("at offset %d", e.Offset)) {
				t.Errorf("message %q does not give the offset", err)
			}
			// The lenient mode MergePatch uses refuses only what is not JSON.
			s := getScanner([]byte(c.in), maxMergeDepth, true)
			lerr := s.run()
			putScanner(s)
			if want := wellFormed([]byte(c.in)); (lerr == nil) != want {
				t.Errorf("lenient mode: %v, but well-formed: %v", lerr, want)
			}
		})
	}
}

func TestCheckMessages(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "syntax", in: `[1, 2, ]`, want: `invalid JSON at offset 7: unexpected character ']' looking for beginning of value`},
		{name: "end of input", in: `{"a":[1`, want: `invalid JSON at offset 7: unexpected end of input in array or object`},
		{name: "NUL", in: `[1, "\u0000"]`, want: `string contains \u0000 at offset 5`},
		{name: "depth", in: " " + strings.Repeat("[0,", 1001), want: `nesting deeper than 1000 at offset 3001`},
		{name: "duplicate", in: `{"a": 1, "a": 2}`, want: `duplicate object key "a" at offset 9`},
		{name: "duplicate escaped", in: `{"a\n": 1, "a\u000a": 2}`, want: `duplicate object key "a\n" at offset 11`},
		{name: "duplicate long", in: `{"` + strings.Repeat("é", 60) + `":1,"` + strings.Repeat("é", 60) + `":2}`, want: `duplicate object key "` + strings.Repeat("é", 50) + `..." at offset 126`},
		{name: "UTF-8", in: "[\"a\xffb\"]", want: `invalid UTF-8 at offset 3`},
		{name: "surrogate", in: `["\ud800"]`, want: `unpaired surrogate \ud800 at offset 2`},
		{name: "low surrogate upper case", in: `["\uDC01"]`, want: `unpaired surrogate \udc01 at offset 2`},
		{name: "number range", in: `[1e200000]`, want: `number 1e200000 is out of range for PostgreSQL numeric (at most 131072 digits before the decimal point, 16383 after it), at offset 1`},
		{name: "number range long", in: "[1" + strings.Repeat("0", 131072) + "]", want: `number 1` + strings.Repeat("0", 38) + `… is out of range for PostgreSQL numeric (at most 131072 digits before the decimal point, 16383 after it), at offset 1`},
		{name: "non-ASCII outside string", in: `[é]`, want: `invalid JSON at offset 1: unexpected character 'é' looking for beginning of value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.in), depth)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Check(%.60q) = %v, want %s", tt.in, err, tt.want)
			}
		})
	}
}

func TestIsObject(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "object", in: `{}`, want: true},
		{name: "object with whitespace", in: " \n\t\r{\"a\":1}", want: true},
		{name: "invalid object", in: `{`, want: true},
		{name: "array", in: `[{}]`},
		{name: "string", in: `"{"`},
		{name: "null", in: `null`},
		{name: "empty", in: ``},
		{name: "whitespace", in: "  "},
		{name: "nil", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsObject([]byte(tt.in)); got != tt.want {
				t.Fatalf("IsObject(%q) = %v", tt.in, got)
			}
		})
	}
	if IsObject(nil) {
		t.Fatal("IsObject(nil)")
	}
}

// oracle decides with encoding/json what Check should decide, except that it
// cannot see unpaired surrogates (encoding/json turns them into U+FFFD) or
// PostgreSQL's numeric range.
func oracle(b []byte, maxDepth int) bool {
	if !json.Valid(b) || !utf8.Valid(b) {
		return false
	}
	type frame struct {
		obj     bool
		wantKey bool
		keys    map[string]bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.wantKey = true
				}
				if len(stack) >= maxDepth {
					return false
				}
				stack = append(stack, &frame{obj: v == '{', wantKey: true, keys: map[string]bool{}})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if strings.Contains(v, "\x00") {
				return false
			}
			if top != nil && top.obj {
				if top.wantKey {
					if top.keys[v] {
						return false
					}
					top.keys[v] = true
					top.wantKey = false
				} else {
					top.wantKey = true
				}
			}
		default:
			if top != nil && top.obj {
				top.wantKey = true
			}
		}
	}
}

// compareWithOracle fails t unless Check's verdict err on b agrees with
// encoding/json.
func compareWithOracle(t *testing.T, b []byte, maxDepth int, err error) {
	t.Helper()
	valid := json.Valid(b)
	if err == nil {
		if !valid {
			t.Fatalf("Check accepted %.200q, which json.Valid refuses", b)
		}
		if !oracle(b, maxDepth) {
			t.Fatalf("Check accepted %.200q, which the encoding/json oracle refuses", b)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, not *Error", err, err)
	}
	if e.Offset < 0 || e.Offset > len(b) {
		t.Fatalf("Check(%.200q): offset %d out of range: %v", b, e.Offset, err)
	}
	if valid && e.Kind == KindSyntax {
		t.Fatalf("Check(%.200q) reports a syntax error but json.Valid accepts it: %v", b, err)
	}
	if oracle(b, maxDepth) && e.Kind != KindSurrogate && e.Kind != KindNumberRange && e.Kind != KindNumberExpansion {
		t.Fatalf("Check(%.200q) = %v, but the encoding/json oracle accepts it", b, err)
	}
}

// genValue appends a random JSON value (mostly valid for Check, sometimes
// with duplicate keys, \u0000 or lone surrogates) to sb.
func genValue(r *rand.Rand, sb *strings.Builder, depth int) {
	ws := func() {
		if r.IntN(4) == 0 {
			sb.WriteString([]string{" ", "\n", "\t", "\r\n  "}[r.IntN(4)])
		}
	}
	ws()
	k := r.IntN(10)
	if depth > 6 {
		k = r.IntN(6)
	}
	switch k {
	case 0:
		sb.WriteString([]string{"null", "true", "false"}[r.IntN(3)])
	case 1, 2:
		sb.WriteString(numbers[r.IntN(len(numbers))])
	case 3, 4, 5:
		sb.WriteString(stringsPool[r.IntN(len(stringsPool))])
	case 6, 7:
		sb.WriteByte('[')
		for i := range r.IntN(5) {
			if i > 0 {
				sb.WriteByte(',')
			}
			genValue(r, sb, depth+1)
		}
		ws()
		sb.WriteByte(']')
	default:
		sb.WriteByte('{')
		n := r.IntN(6)
		if r.IntN(8) == 0 {
			n = 10 + r.IntN(30) // exercise the hash table
		}
		used := map[string]bool{}
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			ws()
			var key string
			for range 5 {
				key = keysPool[r.IntN(len(keysPool))]
				if n > 6 {
					key = fmt.Sprintf(`"k%d"`, r.IntN(3*n))
				}
				if !used[key] || r.IntN(20) == 0 {
					break
				}
			}
			used[key] = true
			sb.WriteString(key)
			ws()
			sb.WriteByte(':')
			genValue(r, sb, depth+1)
		}
		ws()
		sb.WriteByte('}')
	}
	ws()
}

var numbers = []string{
	"0", "-0", "1", "-1", "1.0", "1e300", "1E-7", "-2.5e+10", "0.5", "123456789012345678901234567890",
	"3.141592653589793", "1e131072", "0e-20000", "9007199254740993",
}

var stringsPool = []string{
	`""`, `"a"`, `"hello world"`, `"é"`, `"日本語"`, `"😀"`, `"\ud83d\ude00"`, `"\u00e9"`, `"\n\t\"\\"`,
	`"\\u0000"`, `"\u0000"`, `"\ud800"`, `"\udc00x"`, `"\/"`, `"a\u0062c"`,
}

var keysPool = []string{
	`"a"`, `"b"`, `"c"`, `"\u0061"`, `""`, `"é"`, `"\u00e9"`, `"x y"`, `"\ud83d\ude00"`, `"😀"`, `"\\"`, `"id"`, `"name"`,
}

// mutate damages b a little.
func mutate(r *rand.Rand, b []byte) []byte {
	b = bytes.Clone(b)
	const alphabet = "{}[],:\"\\ 0123456789-+.eEtrufalsn\x00\x1f\x7f\xff\xc3\xa9\xed\xa0\x80u"
	for range 1 + r.IntN(3) {
		if len(b) == 0 {
			return []byte{alphabet[r.IntN(len(alphabet))]}
		}
		i := r.IntN(len(b))
		switch r.IntN(5) {
		case 0: // delete
			b = append(b[:i], b[i+1:]...)
		case 1: // insert
			b = append(b[:i], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[i:]...)...)
		case 2: // replace
			b[i] = alphabet[r.IntN(len(alphabet))]
		case 3: // truncate
			b = b[:i]
		default: // duplicate a chunk
			j := i + r.IntN(len(b)-i+1)
			b = append(b[:j], append(bytes.Clone(b[i:j]), b[j:]...)...)
		}
	}
	return b
}

func TestCheckDifferential(t *testing.T) {
	var inputs [][]byte
	for _, c := range validCases {
		inputs = append(inputs, []byte(c.in))
	}
	for _, c := range invalidCases {
		inputs = append(inputs, []byte(c.in))
	}
	r := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		var sb strings.Builder
		genValue(r, &sb, 0)
		doc := []byte(sb.String())
		inputs = append(inputs, doc, mutate(r, doc))
	}
	for range n / 4 { // short random byte strings
		b := make([]byte, r.IntN(12))
		const alphabet = "{}[],:\"\\ 01-.eE\x00\xffatrue"
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		inputs = append(inputs, b)
	}
	accepted, refused := 0, map[Kind]int{}
	for _, b := range inputs {
		for _, limit := range []int{depth, 3} {
			err := Check(b, limit)
			compareWithOracle(t, b, limit, err)
			if limit == depth {
				var e *Error
				if errors.As(err, &e) {
					refused[e.Kind]++
				} else {
					accepted++
				}
			}
		}
	}
	t.Logf("%d inputs: %d accepted, refused by kind %v", len(inputs), accepted, refused)
	if accepted < len(inputs)/10 {
		t.Errorf("only %d of %d inputs accepted: the generator is too hostile", accepted, len(inputs))
	}
	for k := KindSyntax; k <= KindNumberRange; k++ {
		if k != KindDepth && refused[k] == 0 {
			t.Errorf("no input refused with kind %d", k)
		}
	}
}

func TestCheckConcurrent(t *testing.T) {
	doc := realisticDoc(t)
	bad := append(bytes.Clone(doc[:len(doc)-1]), `,"users":1}`...)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if (g+i)%2 == 0 {
					if err := Check(doc, depth); err != nil {
						t.Error(err)
						return
					}
				} else if err := Check(bad, depth); err == nil {
					t.Error("duplicate key not found")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestCheckAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	docs := map[string][]byte{
		"realistic":    realisticDoc(t),
		"many keys":    []byte(`{"x":` + manyKeys(300, `,"y":`+manyKeys(100, "")) + `}`),
		"escaped keys": []byte(`{"\u0061":1,"\u0062":{"\u0061":2,"c\n":3},"d\u00e9":4}`),
		"deep":         []byte(nested(`[{"a":`, `}]`, 400)[:2400] + "0" + strings.Repeat("}]", 400)),
	}
	for name, doc := range docs {
		if err := Check(doc, depth); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = Check(doc, depth) }); n != 0 {
			t.Errorf("%s: %v allocations per Check, want 0", name, n)
		}
	}
}

// realisticDoc is about 10 KB of compact JSON as json.Marshal writes it: an
// API response with user records.
func realisticDoc(tb testing.TB) []byte {
	tb.Helper()
	type address struct {
		Street  string     `json:"street"`
		City    string     `json:"city"`
		Country string     `json:"country"`
		Postal  string     `json:"postal_code"`
		Geo     [2]float64 `json:"geo"`
	}
	type user struct {
		ID        int64             `json:"id"`
		UUID      string            `json:"uuid"`
		Name      string            `json:"name"`
		Email     string            `json:"email"`
		Active    bool              `json:"active"`
		Score     float64           `json:"score"`
		Balance   json.Number       `json:"balance"`
		Tags      []string          `json:"tags"`
		Address   address           `json:"address"`
		Bio       string            `json:"bio"`
		Manager   *int64            `json:"manager"`
		Prefs     map[string]any    `json:"prefs"`
		Labels    map[string]string `json:"labels"`
		CreatedAt string            `json:"created_at"`
	}
	names := []string{"Ada Lovelace", "Grace Hopper", "Jürgen Müller", "Zoë Saldaña", "李小龙", "Søren Kierkegaard", "Анна Каренина", "Ngozi Okonjo-Iweala"}
	cities := []string{"London", "New York", "München", "São Paulo", "東京", "Zürich"}
	var users []user
	for i := 0; ; i++ {
		mgr := int64(1000 + i/3)
		u := user{
			ID:      int64(1000 + i),
			UUID:    fmt.Sprintf("%08x-4b1c-9d2e-%012x", 0x5f3a2b1c+i*7919, 0xa1b2c3d4e5+i*104729),
			Name:    names[i%len(names)],
			Email:   fmt.Sprintf("user%d@example.com", 1000+i),
			Active:  i%3 != 0,
			Score:   float64(i*37%1000) / 7,
			Balance: json.Number(fmt.Sprintf("%d.%02d", i*1234567%100000, i%100)),
			Tags:    []string{"customer", []string{"gold", "silver", "bronze"}[i%3], "region-" + fmt.Sprint(i%5)},
			Address: address{
				Street: fmt.Sprintf("%d Main Street, Apt. %d", 10+i, i%40), City: cities[i%len(cities)],
				Country: []string{"GB", "US", "DE", "BR", "JP", "CH"}[i%6], Postal: fmt.Sprintf("%05d", 10000+i*17),
				Geo: [2]float64{51.5 + float64(i)/1000, -0.12 - float64(i)/500},
			},
			Bio:       "Likes \"quotes\", back\\slashes, tabs\tand newlines\nand emoji 🎉. Café ☕ <b>HTML</b> & more.",
			Prefs:     map[string]any{"theme": "dark", "notifications": map[string]any{"email": true, "sms": false, "push": i%2 == 0}, "language": "en-GB", "page_size": 25 + i%4, "beta": nil},
			Labels:    map[string]string{"team": "platform", "cost-center": fmt.Sprint(4000 + i%9), "env": "prod", "tier": "1", "owner": "ops", "on-call": "yes", "pager": "no", "region": "eu-west-1", "zone": "b", "rack": fmt.Sprint(i % 12)},
			CreatedAt: fmt.Sprintf("2024-%02d-%02dT%02d:%02d:00Z", 1+i%12, 1+i%28, i%24, i%60),
		}
		if i%4 == 0 {
			u.Manager = &mgr
		}
		users = append(users, u)
		b, err := json.Marshal(map[string]any{"page": 1, "per_page": len(users), "total": 12345, "users": users, "next": nil})
		if err != nil {
			tb.Fatal(err)
		}
		if len(b) >= 10<<10 {
			return b
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	doc := realisticDoc(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(doc, depth); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONValid(b *testing.B) { // for comparison
	doc := realisticDoc(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(doc) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkMergePatch(b *testing.B) {
	doc := realisticDoc(b)
	patch := []byte(`{"page":2,"next":"abc","users":null,"extra":{"a":[1,2,3]}}`)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MergePatch(doc, patch); err != nil {
			b.Fatal(err)
		}
	}
}

// ---- MergePatch ----

type mergeCase struct {
	name, target, patch, want string
}

// rfc7396 is RFC 7396 section 3's example and every example of appendix A.
var rfc7396 = []mergeCase{
	{name: "section 3 example",
		target: `{
     "title": "Goodbye!",
     "author" : {
       "givenName" : "John",
       "familyName" : "Doe"
     },
     "tags":[ "example", "sample" ],
     "content": "This will be unchanged"
   }`,
		patch: `{
     "title": "Hello!",
     "phoneNumber": "+01-123-456-7890",
     "author": {
       "familyName": null
     },
     "tags": [ "example" ]
   }`,
		want: `{"title":"Hello!","author":{"givenName":"John"},"tags":["example"],"content":"This will be unchanged","phoneNumber":"+01-123-456-7890"}`},
	{name: "A1 replace member", target: `{"a":"b"}`, patch: `{"a":"c"}`, want: `{"a":"c"}`},
	{name: "A2 add member", target: `{"a":"b"}`, patch: `{"b":"c"}`, want: `{"a":"b","b":"c"}`},
	{name: "A3 remove member", target: `{"a":"b"}`, patch: `{"a":null}`, want: `{}`},
	{name: "A4 remove one of two", target: `{"a":"b","b":"c"}`, patch: `{"a":null}`, want: `{"b":"c"}`},
	{name: "A5 array replaced by string", target: `{"a":["b"]}`, patch: `{"a":"c"}`, want: `{"a":"c"}`},
	{name: "A6 string replaced by array", target: `{"a":"c"}`, patch: `{"a":["b"]}`, want: `{"a":["b"]}`},
	{name: "A7 nested", target: `{"a":{"b":"c"}}`, patch: `{"a":{"b":"d","c":null}}`, want: `{"a":{"b":"d"}}`},
	{name: "A8 array of objects replaced", target: `{"a":[{"b":"c"}]}`, patch: `{"a":[1]}`, want: `{"a":[1]}`},
	{name: "A9 array replaced", target: `["a","b"]`, patch: `["c","d"]`, want: `["c","d"]`},
	{name: "A10 object replaced by array", target: `{"a":"b"}`, patch: `["c"]`, want: `["c"]`},
	{name: "A11 null patch", target: `{"a":"foo"}`, patch: `null`, want: `null`},
	{name: "A12 string patch", target: `{"a":"foo"}`, patch: `"bar"`, want: `"bar"`},
	{name: "A13 null member kept", target: `{"e":null}`, patch: `{"a":1}`, want: `{"e":null,"a":1}`},
	{name: "A14 array target", target: `[1,2]`, patch: `{"a":"b","c":null}`, want: `{"a":"b"}`},
	{name: "A15 nested nulls on empty", target: `{}`, patch: `{"a":{"bb":{"ccc":null}}}`, want: `{"a":{"bb":{}}}`},
}

var mergeCases = []mergeCase{
	{name: "nil target", target: "", patch: `{"a":1}`, want: `{"a":1}`},
	{name: "whitespace target", target: " \n ", patch: `{"a":{"b":null,"c":2}}`, want: `{"a":{"c":2}}`},
	{name: "nil target scalar patch", target: "", patch: ` 5 `, want: `5`},
	{name: "null target", target: `null`, patch: `{"a":null}`, want: `{}`},
	{name: "scalar target", target: `42`, patch: `{"a":[1, 2]}`, want: `{"a":[1,2]}`},
	{name: "string target", target: `"s"`, patch: `{}`, want: `{}`},
	{name: "empty patch object", target: `{"a" : [1, {"b" : 2}], "c":"x y"}`, patch: `{}`, want: `{"a":[1,{"b":2}],"c":"x y"}`},
	{name: "deep merge", target: `{"a":{"b":{"c":1,"d":2},"e":3},"f":4}`, patch: `{"a":{"b":{"c":10,"x":{"y":null,"z":1}}}}`,
		want: `{"a":{"b":{"c":10,"d":2,"x":{"z":1}},"e":3},"f":4}`},
	{name: "null removes nested", target: `{"a":{"b":{"c":1}},"d":1}`, patch: `{"a":{"b":null}}`, want: `{"a":{},"d":1}`},
	{name: "null removes object", target: `{"a":{"b":{"c":1}},"d":1}`, patch: `{"a":null}`, want: `{"d":1}`},
	{name: "null for missing key", target: `{"a":1}`, patch: `{"b":null}`, want: `{"a":1}`},
	{name: "object replaces scalar", target: `{"a":1}`, patch: `{"a":{"b":1,"c":null}}`, want: `{"a":{"b":1}}`},
	{name: "scalar replaces object", target: `{"a":{"b":1}}`, patch: `{"a":true}`, want: `{"a":true}`},
	{name: "array replaces object", target: `{"a":{"b":1}}`, patch: `[{"a":null}]`, want: `[{"a":null}]`},
	{name: "patch arrays keep nulls", target: `{}`, patch: `{"a":[null,{"b":null}]}`, want: `{"a":[null,{"b":null}]}`},
	{name: "numbers preserved", target: `{"a":1.0,"b":1e300,"c":123456789012345678901234567890,"d":-0,"e":0.1}`,
		patch: `{"f":1.50,"g":9007199254740993,"h":1E+2,"i":-0.0e-0}`,
		want:  `{"a":1.0,"b":1e300,"c":123456789012345678901234567890,"d":-0,"e":0.1,"f":1.50,"g":9007199254740993,"h":1E+2,"i":-0.0e-0}`},
	{name: "numbers in nested arrays preserved", target: `[1.0]`, patch: `{"a":[1.000, [2e-5]]}`, want: `{"a":[1.000,[2e-5]]}`},
	{name: "strings preserved", target: `{"s":"a  b\n\u00e9\"\\"}`, patch: `{"t":" x \t "}`, want: `{"s":"a  b\n\u00e9\"\\","t":" x \t "}`},
	{name: "escaped patch key matches", target: `{"a":1,"b":2}`, patch: `{"\u0061":3,"\u0062":null}`, want: `{"a":3}`},
	{name: "escaped target key matches", target: `{"\u0061":{"x":1}}`, patch: `{"a":{"y":2}}`, want: `{"\u0061":{"x":1,"y":2}}`},
	{name: "unicode keys", target: `{"é":1,"😀":2}`, patch: `{"\u00e9":null,"\ud83d\ude00":3}`, want: `{"😀":3}`},
	{name: "empty key", target: `{"":1}`, patch: `{"":{"":null}}`, want: `{"":{}}`},
	{name: "remove and re-add", target: `{"a":1,"b":2}`, patch: `{"a":null,"c":3}`, want: `{"b":2,"c":3}`},
	{name: "duplicate patch keys applied in order", target: `{}`, patch: `{"a":{"x":1},"a":{"y":2}}`, want: `{"a":{"x":1,"y":2}}`},
	{name: "duplicate patch keys null then value", target: `{"a":1,"b":2}`, patch: `{"a":null,"a":5}`, want: `{"b":2,"a":5}`},
	{name: "duplicate target keys last wins", target: `{"a":1,"b":2,"a":3}`, patch: `{"c":4}`, want: `{"a":3,"b":2,"c":4}`},
	{name: "large objects", target: manyKeys(40, ""), patch: `{"key0":null,"key39":"x","key40":{"a":null},"key7":null,"key0":0}`,
		want: strings.Replace(strings.Replace(strings.Replace(manyKeys(40, ""), `"key0":0,`, "", 1), `"key7":7,`, "", 1), `"key39":39`, `"key39":"x","key40":{},"key0":0`, 1)},
	{name: "whitespace everywhere", target: " {\n\t\"a\" :\r [ 1 ,\n 2 ] , \"b\" : { \"c\" : \"d e\" } } ", patch: " { \"b\" : { \"f\" : [ ] } } ",
		want: `{"a":[1,2],"b":{"c":"d e","f":[]}}`},
	{name: "deep patch", target: "", patch: nested(`{"a":`, `}`, 5000)[:5*5000] + "1" + strings.Repeat("}", 5000),
		want: strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)},
}

func TestMergePatch(t *testing.T) {
	for _, group := range [][]mergeCase{rfc7396, mergeCases} {
		for _, c := range group {
			t.Run(c.name, func(t *testing.T) {
				got, err := MergePatch([]byte(c.target), []byte(c.patch))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != c.want {
					t.Fatalf("MergePatch(%.100s, %.100s)\n got %.300s\nwant %.300s", c.target, c.patch, got, c.want)
				}
				if !json.Valid(got) {
					t.Fatalf("output %.300s is not valid JSON", got)
				}
				if c.target != "" && Check([]byte(c.target), maxMergeDepth) == nil && Check([]byte(c.patch), maxMergeDepth) == nil {
					compareWithReference(t, []byte(c.target), []byte(c.patch), got)
				}
			})
		}
	}
}

func TestMergePatchErrors(t *testing.T) {
	tests := []struct {
		name, target, patch, want string
	}{
		{name: "empty patch", target: `{}`, patch: ``, want: "merge patch: patch: invalid JSON at offset 0"},
		{name: "whitespace patch", target: `{}`, patch: "  ", want: "merge patch: patch: invalid JSON at offset 2"},
		{name: "invalid patch", target: `{}`, patch: `{"a":}`, want: "merge patch: patch: invalid JSON at offset 5"},
		{name: "invalid target", target: `{"a":1,}`, patch: `{}`, want: "merge patch: target: invalid JSON at offset 7"},
		{name: "invalid target with scalar patch", target: `[`, patch: `1`, want: "merge patch: target: invalid JSON at offset 1"},
		{name: "trailing garbage", target: `{} {}`, patch: `{}`, want: "merge patch: target: invalid JSON at offset 3"},
		{name: "invalid UTF-8", target: `{}`, patch: "{\"a\":\"\xff\"}", want: "merge patch: patch: invalid UTF-8 at offset 6"},
		{name: "NaN", target: `{}`, patch: `{"a":NaN}`, want: "merge patch: patch: invalid JSON at offset 5"},
		{name: "too deep", target: `{}`, patch: nested("[", "]", maxMergeDepth+1), want: "merge patch: patch: nesting deeper than 10000 at offset 10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MergePatch([]byte(tt.target), []byte(tt.patch))
			if err == nil {
				t.Fatalf("MergePatch succeeded: %s", got)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %q, want prefix %q", err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v does not wrap *Error", err)
			}
		})
	}
	// What Check refuses but is valid JSON is merged all the same.
	got, err := MergePatch([]byte(`{"a":"\u0000","a":"\ud800"}`), []byte(`{"b":1e999999}`))
	if err != nil || string(got) != `{"a":"\ud800","b":1e999999}` {
		t.Fatalf("got %s, %v", got, err)
	}
}

// refMerge is RFC 7396's pseudocode over encoding/json values.
func refMerge(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = refMerge(t[k], v)
		}
	}
	return t
}

func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// compareWithReference checks MergePatch's output got against refMerge, for
// inputs without duplicate keys or lone surrogates.
func compareWithReference(t *testing.T, target, patch, got []byte) {
	t.Helper()
	var tv any
	if len(bytes.TrimSpace(target)) > 0 {
		var err error
		if tv, err = decodeNumbers(target); err != nil {
			t.Fatal(err)
		}
	}
	pv, err := decodeNumbers(patch)
	if err != nil {
		t.Fatal(err)
	}
	gv, err := decodeNumbers(got)
	if err != nil {
		t.Fatalf("output %.200s: %v", got, err)
	}
	if want := refMerge(tv, pv); !reflect.DeepEqual(gv, want) {
		wb, _ := json.Marshal(want)
		t.Fatalf("MergePatch(%.200s, %.200s) = %.200s, reference gives %.200s", target, patch, got, wb)
	}
}

func TestMergePatchRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 5000
	if testing.Short() {
		n = 500
	}
	compared := 0
	for range n {
		var tb, pb strings.Builder
		genValue(r, &tb, 0)
		genValue(r, &pb, 0)
		target, patch := []byte(tb.String()), []byte(pb.String())
		if r.IntN(2) == 0 { // patches are mostly objects
			patch = append(append([]byte(`{"a":`), patch...), '}')
		}
		checkMergeProperties(t, target, patch)
		if Check(target, maxMergeDepth) == nil && Check(patch, maxMergeDepth) == nil {
			compared++
		}
	}
	if compared < n/4 {
		t.Errorf("only %d of %d cases compared with the reference", compared, n)
	}
}

// wellFormed reports whether b is JSON MergePatch must accept.
func wellFormed(b []byte) bool { return json.Valid(b) && utf8.Valid(b) }

// checkMergeProperties checks MergePatch(target, patch) against its contract.
func checkMergeProperties(t *testing.T, target, patch []byte) {
	t.Helper()
	got, err := MergePatch(target, patch)
	blank := len(bytes.TrimLeft(target, " \t\r\n")) == 0
	wantOK := wellFormed(patch) && (blank || wellFormed(target))
	if (err == nil) != wantOK {
		t.Fatalf("MergePatch(%.200q, %.200q): error %v, but inputs well-formed: %v", target, patch, err, wantOK)
	}
	if err != nil {
		return
	}
	if !json.Valid(got) {
		t.Fatalf("MergePatch(%.200q, %.200q) = %.200q: not valid JSON", target, patch, got)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, got); err != nil || !bytes.Equal(compact.Bytes(), got) {
		t.Fatalf("output %.200q is not compact", got)
	}
	if (blank || Check(target, maxMergeDepth) == nil) && Check(patch, maxMergeDepth) == nil {
		compareWithReference(t, target, patch, got)
		// A merge patch is idempotent.
		again, err := MergePatch(got, patch)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("applying %.200q twice: %.200q then %.200q (%v)", patch, got, again, err)
		}
	}
}

// ---- fuzzing ----

func fuzzSeeds() []string {
	seeds := []string{
		``, ` `, `{`, `}`, `[`, `]`, `"`, `\`, `-`, `0`, `-0`, `01`, `1.`, `1e`, `1e+`, `.1`, `+1`,
		`NaN`, `Infinity`, `-Infinity`, `nul`, `truefalse`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{,}`, `[,]`, `'a'`,
		`"\u0000"`, `"\\u0000"`, `"\\\u0000"`, `{"\u0000":0}`, `"\ud800"`, `"\udc00"`, `"\ud800\udc00"`, `"\udbff\udfff"`,
		`"\ud800\ud800"`, `"\ud800\u0041"`, `"\ud800\uZZZZ"`, `"\ud800\`, `"\ud800\u`, `"\u12"`, `"\x"`,
		`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"a":{"a":1},"a":2}`, `[{"a":1},{"a":1}]`,
		"\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "\xef\xbb\xbf{}", "\"\x00\"", "\"\t\"", "{}\x00",
		`1e131071`, `1e131072`, `1e-16383`, `1e-16384`, `0e1073741823`, `0e-99999999999999999999`, `1e99999999999999999999`,
		`123456789012345678901234567890`, `1.0`, `1e300`, `-0.0e-0`,
		nested("[", "]", 999), nested("[", "]", 1000), nested("[", "]", 1001), strings.Repeat(`{"a":`, 1001),
		manyKeys(20, `,"key3":0`), manyKeys(20, `,"key\u0033":0`),
	}
	for _, c := range validCases {
		if len(c.in) < 4096 {
			seeds = append(seeds, c.in)
		}
	}
	for _, c := range invalidCases {
		if len(c.in) < 4096 {
			seeds = append(seeds, c.in)
		}
	}
	return seeds
}

func FuzzCheck(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Check(b, depth)
		compareWithOracle(t, b, depth, err)
		// A tighter limit refuses more, and only for depth.
		err3 := Check(b, 3)
		compareWithOracle(t, b, 3, err3)
		var e *Error
		if err == nil && err3 != nil && (!errors.As(err3, &e) || e.Kind != KindDepth) {
			t.Fatalf("Check(%q, 3) = %v, but Check(…, %d) accepts", b, err3, depth)
		}
		if err != nil && err3 == nil {
			t.Fatalf("Check(%q, 3) accepts, but Check(…, %d) = %v", b, depth, err)
		}
		if IsObject(b) != (len(bytes.TrimLeft(b, " \t\r\n")) > 0 && bytes.TrimLeft(b, " \t\r\n")[0] == '{') {
			t.Fatalf("IsObject(%q) wrong", b)
		}
	})
}

func FuzzMergePatch(f *testing.F) {
	for _, c := range append(append([]mergeCase{}, rfc7396...), mergeCases...) {
		if len(c.patch) < 4096 {
			f.Add([]byte(c.target), []byte(c.patch))
		}
	}
	f.Add([]byte(`{"a":1}`), []byte(`{"a":1,}`))
	f.Add([]byte(`{"a":"\ud800"}`), []byte(`{"a":{"\u0061":null}}`))
	f.Add([]byte(`[1,{"a":2}]`), []byte(`{"\u00e9":{"x":[{"y":null}]},"é":null}`))
	f.Fuzz(func(t *testing.T, target, patch []byte) {
		checkMergeProperties(t, target, patch)
	})
}

func TestCheckDuplicateKeys(t *testing.T) {
	cases := []struct {
		in   string
		kind Kind // 0: accepted
	}{
		{`{"a":1,"b":2}`, 0},
		{`{"a":"\u0000","b":1e999999999}`, 0}, // left to other checks
		{`{"a":1,"a":2}`, KindDuplicateKey},
		{`{"a":1,"\u0061":2}`, KindDuplicateKey},
		{`[{"x":{"a":1,"a":2}}]`, KindDuplicateKey},
		{`{"a":1,"A":2}`, 0},
		{`{"a":`, KindSyntax},
	}
	for _, c := range cases {
		err := CheckDuplicateKeys([]byte(c.in), 100)
		var je *Error
		switch {
		case c.kind == 0 && err != nil:
			t.Errorf("%s: %v", c.in, err)
		case c.kind != 0 && (!errors.As(err, &je) || je.Kind != c.kind):
			t.Errorf("%s: got %v, want kind %d", c.in, err, c.kind)
		}
	}
}

// TestNumberExpansion: numbers are bounded by what they take written out in
// full, as PostgreSQL's jsonb returns them, so that a read answers at most
// MaxExpansion times what was written plus ExpansionSlack.
func TestNumberExpansion(t *testing.T) {
	many := func(n int, num string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(num+",", n), ",") + "]"
	}
	cases := []struct {
		name string
		in   string
		ok   bool
	}{
		{"plain", `[1, 2.5, -3e2, 1e21, 1.5e-10]`, true},
		{"largest double", `1.7976931348623157e308`, true},
		{"smallest double", `5e-324`, true},
		{"a few big doubles", many(3, "1e300"), true},
		{"issue 15: 1e131071 x500", many(500, "1e131071"), false},
		{"one huge", `1e131071`, false},
		{"one huge negative scale", `1e-16000`, false},
		{"zero with a scale", `0e-16000`, false},
		{"many big doubles", many(100, "1e300"), false},
		{"long digits written out", "1" + strings.Repeat("0", 5000), true},
		{"in an object", `{"a":1e20000}`, false},
	}
	for _, c := range cases {
		err := Check([]byte(c.in), 100)
		var je *Error
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case !c.ok && (!errors.As(err, &je) || je.Kind != KindNumberExpansion):
			t.Errorf("%s: got %v, want KindNumberExpansion", c.name, err)
		}
	}
	// The bound itself: the numbers of a value that passes, written out in
	// full, are within it.
	in := many(10, "1e100")
	if err := Check([]byte(in), 10); err != nil {
		t.Fatal(err)
	}
	full := 2 + 10*101 + 9
	if limit := MaxExpansion*len(in) + ExpansionSlack; full > limit {
		t.Errorf("%d bytes written out passed a limit of %d", full, limit)
	}
}

// padded puts num in an array with a string long enough for num written out
// in full to stay within the expansion bound.
func padded(num string) string {
	return "[" + num + `,"` + strings.Repeat("x", 44000) + `"]`
}
