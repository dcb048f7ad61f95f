package routes

import (
	"strings"
	"testing"
)

// TestCountItems: the items of a batch are counted as encoding/json would
// decode them (member names case folded and unescaped, the last of
// duplicates, any item shape), so that no spelling of the member decodes
// more than MaxBatchItems items past the count.
func TestCountItems(t *testing.T) {
	items := func(n int, item string) string { return strings.TrimSuffix(strings.Repeat(item+",", n), ",") }
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"keys":[]}`, 0},
		{`{"keys":["a","b","c"]}`, 3},
		{` { "options" : {"keys":[1,2,3,4]} , "keys" : [ "a" , "b" ] } `, 2},
		{`{"KEYS":["a","b","c"]}`, 3},
		{`{"\u006beys":["a","b","c"]}`, 3},
		{"{\"\u212aey\u017f\":[\"a\",\"b\",\"c\"]}", 3}, // Kelvin sign, long s: encoding/json folds them
		{`{"keys":["a"],"keys":["a","b","c","d"]}`, 4},
		{`{"keys":["],[\"",{"x":["]"]},[[],[]],1.5e3,null,true]}`, 6},
		{`{"keys":"abc"}`, 0},
		{`{"keys":[` + items(50, `"k"`) + `]}`, 11},
		{`{"keys":["a","b"`, 2},
		{`["keys"]`, 0},
	} {
		if got := countItems([]byte(tc.body), 10, "keys"); got != tc.want {
			t.Errorf("countItems(%s) = %d, want %d", tc.body, got, tc.want)
		}
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"options":{"sort":[{"field":"a"},{"field":"b"}]}}`, 2},
		{`{"sort":[1,2,3],"options":{"Sort":[1,2,3,4],"x":{"sort":[1,2,3,4,5]}}}`, 4},
		{`{"options":{"sort":{"field":"a"}}}`, 0},
		{`{"options":[{"sort":[1,2]}]}`, 0},
		{`{"options":{"sort":[1]},"options":{"sort":[1,2,3]}}`, 3},
	} {
		if got := countItems([]byte(tc.body), 10, "options", "sort"); got != tc.want {
			t.Errorf("countItems(%s, options.sort) = %d, want %d", tc.body, got, tc.want)
		}
	}
	if got := countItems([]byte(`{"entries":[{"key":"a","value":[1,2]},{"key":"b","value":{"x":"]"}}]}`), 10, "entries"); got != 2 {
		t.Errorf("entries: %d, want 2", got)
	}
}
