package jsonx

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestFlatten(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":[1,[2]],"b":{}}`, `{"a":[1,[2]],"b":{}}`},                                 // 3 deep: unchanged
		{`{"a":[1,[2,[3]]],"b":{"c":{"d":{}}}}`, `{"a":[1,[2,0  ]],"b":{"c":{"d":0 }}}`}, // 4 deep: flattened
		{`{"a":"[[[{{{","b":"\"[[["}`, `{"a":"[[[{{{","b":"\"[[["}`},                     // brackets in strings
		{`{"a":[[["]]]\\"]]]}`, `{"a":[[0        ]]}`},                                   // a string ending with \\ inside the part
		{`{"a":[[[`, `{"a":[[0`},                                                         // unterminated: to the end
	} {
		in := []byte(tc.in)
		got := Flatten(in, 3)
		if string(got) != tc.want {
			t.Errorf("Flatten(%s, 3) = %s, want %s", tc.in, got, tc.want)
		}
		if string(in) != tc.in {
			t.Errorf("Flatten(%s, 3) modified its input to %s", tc.in, in)
		}
		if len(got) != len(in) {
			t.Errorf("Flatten(%s, 3) changed the length", tc.in)
		}
		if tc.in == tc.want && &got[0] != &in[0] {
			t.Errorf("Flatten(%s, 3) copied a document it did not change", tc.in)
		}
	}
	deep := `{"v":` + strings.Repeat("[", DecodeDepth+1) + strings.Repeat("]", DecodeDepth+1) + `,"k":"x"}`
	if err := json.Unmarshal([]byte(deep), new(any)); err == nil {
		t.Fatal("encoding/json decoded a document nested beyond DecodeDepth")
	}
	var v struct {
		V json.RawMessage `json:"v"`
		K string          `json:"k"`
	}
	if err := json.Unmarshal(Flatten([]byte(deep), DecodeDepth), &v); err != nil || v.K != "x" {
		t.Fatalf("flattened at DecodeDepth: %v, k %q", err, v.K)
	}
	if !bytes.HasPrefix(v.V, []byte(strings.Repeat("[", DecodeDepth-1))) {
		t.Errorf("the flattened value lost its text up to the depth")
	}
}
