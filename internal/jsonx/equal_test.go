package jsonx

import (
	"fmt"
	"strings"
	"testing"
)

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"same", `{"a":1}`, `{"a":1}`, true},
		{"whitespace", ` { "a" : [ 1 , 2 ] } `, `{"a":[1,2]}`, true},
		{"memberOrder", `{"a":1,"b":{"c":2,"d":3}}`, `{"b":{"d":3,"c":2},"a":1}`, true},
		{"escapes", `"\u00e9\n\/"`, "\"é\\n/\"", true},
		{"surrogatePair", `"\ud83d\ude00"`, `"😀"`, true},
		{"intFloat", `1`, `1.0`, true},
		{"exponent", `1e2`, `100`, true},
		{"exponentSpelling", `1E+2`, `10e1`, true},
		{"negativeExponent", `0.001`, `1e-3`, true},
		{"zeros", `0`, `-0`, true},
		{"zeroForms", `0.0e10`, `-0E-5`, true},
		{"trailingZeros", `1.500`, `1.5`, true},
		{"hugeExpanded", `1e300`, `1` + strings.Repeat("0", 300), true},
		{"bigInt", `12345678901234567890123`, `1.2345678901234567890123e22`, true},
		{"largeExponentSpelling", `1e999999999`, `10e999999998`, true},
		{"literals", `[true,false,null]`, `[true,false,null]`, true},

		{"differentNumber", `1`, `2`, false},
		{"beyondFloat64", `9007199254740993`, `9007199254740992`, false},
		{"bigIntOffByOne", `12345678901234567890123`, `12345678901234567890124`, false},
		{"beyondUint64", `12345678901234567890`, `12345678901234567891`, false},
		{"sign", `-1`, `1`, false},
		{"numberString", `1`, `"1"`, false},
		{"boolString", `{"a":true}`, `{"a":"true"}`, false},
		{"nullFalse", `null`, `false`, false},
		{"arrayOrder", `[1,2]`, `[2,1]`, false},
		{"arrayLength", `[1]`, `[1,1]`, false},
		{"extraMember", `{"a":1}`, `{"a":1,"b":2}`, false},
		{"missingVsNull", `{"a":null}`, `{}`, false},
		{"emptyObjectArray", `{}`, `[]`, false},
		{"caseOfString", `"a"`, `"A"`, false},
		{"nested", `{"a":{"b":[1,{"c":true}]}}`, `{"a":{"b":[1,{"c":false}]}}`, false},
		{"invalidLeft", `{`, `{`, false},
		{"invalidRight", `1`, `1x`, false},
		{"twoValues", `1 1`, `1`, false},
		{"empty", ``, ``, false},
		{"hugeExponent", `1e9223372036854775807`, `1e9223372036854775807`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Equal([]byte(tc.a), []byte(tc.b)); got != tc.want {
				t.Errorf("Equal(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if got := Equal([]byte(tc.b), []byte(tc.a)); got != tc.want {
				t.Errorf("Equal(%s, %s) = %v, want %v (reversed)", tc.b, tc.a, got, tc.want)
			}
		})
	}
}

func ExampleEqual() {
	fmt.Println(Equal([]byte(`{"a":1.0,"b":[1e2]}`), []byte(`{"b":[100],"a":1}`)))
	fmt.Println(Equal([]byte(`{"a":1}`), []byte(`{"a":"1"}`)))
	// Output:
	// true
	// false
}
