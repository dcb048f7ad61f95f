package storetest

import "testing"

// The comparison itself is tested in internal/jsonx (jsonx.Equal); this
// checks that the exported wrapper is that comparison.
func TestJSONEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1.0,2]}`, `{"b":[1,2e0],"a":1}`, true},
		{`9007199254740993`, `9007199254740992`, false},
		{`{`, `{`, false},
	}
	for _, tc := range tests {
		if got := JSONEqual([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("JSONEqual(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
