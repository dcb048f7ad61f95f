package jsonx

import (
	"slices"
	"testing"
)

func TestLoneSurrogates(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want [][]string
	}{
		{"none", `{"key":"a","value":{"x":"\ud83d\ude00"}}`, nil},
		{"key", `{"key":"sur\ud800","value":1}`, [][]string{{"key"}}},
		{"lowOnly", `{"key":"\udc00"}`, [][]string{{"key"}}},
		{"highAtEnd", `{"key":"\udbff"}`, [][]string{{"key"}}},
		{"highThenText", `{"key":"\ud800x\udc00"}`, [][]string{{"key"}}},
		{"escapedBackslash", `{"key":"\\ud800"}`, nil},
		{"inArray", `{"keys":["a","b\ud800"]}`, [][]string{{"keys"}}},
		{"nested", `{"entries":[{"key":"ok"},{"key":"x\udfff"}]}`, [][]string{{"entries", "key"}}},
		{"inValue", `{"value":{"a":["\ud800"]}}`, [][]string{{"value", "a"}}},
		{"memberName", `{"options":{"na\ud800me":1}}`, [][]string{{"options", "na\\ud800me"}}},
		{"afterPair", `{"a":"\ud83d\ude00","b":"\ude00"}`, [][]string{{"b"}}},
		{"several", `{"entries":[{"key":"a","value":"\ud800"},{"key":"\udfff"}]}`, [][]string{{"entries", "value"}, {"entries", "key"}}},
		{"topLevel", `"\ud800"`, [][]string{{}}},
		{"unterminated", `{"key":"\ud800`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]string
			for p := range LoneSurrogates([]byte(tc.in)) {
				got = append(got, p)
			}
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Errorf("LoneSurrogates(%s) = %q; want %q", tc.in, got, tc.want)
			}
		})
	}
}
