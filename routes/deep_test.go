package routes_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

var revision = regexp.MustCompile(`"revision":\d+`)

// deep is an array nested n deep: [[…[]…]].
func deep(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// TestDeepValues: a body member nested deeper than encoding/json decodes
// (10,000) gets the answer of one nested just beyond the store's limit
// (driver.MaxDepth, 1,000): a value or metadata is invalid_value, for a
// setMany entry that key's failure alone, a filter invalid_filter, an
// unknown member invalid_request; never a refusal of the whole body as
// malformed, with encoding/json's words.
func TestDeepValues(t *testing.T) {
	m, s := newMux(t)
	cases := []struct{ name, route, body string }{
		{"value", "storage://set", `{"key":"k","value":%s}`},
		{"value in an object", "storage://set", `{"key":"k","value":{"a":%s}}`},
		{"option metadata", "storage://set", `{"key":"k","value":1,"options":{"metadata":{"a":%s}}}`},
		{"metadata", "storage://setMetadata", `{"key":"k","metadata":{"a":%s}}`},
		{"entry value", "storage://setMany", `{"entries":[{"key":"ok","value":1},{"key":"k","value":%s}]}`},
		{"entry metadata", "storage://setMany", `{"entries":[{"key":"k","value":1,"metadata":{"a":%s}},{"key":"ok","value":1}]}`},
		{"namespace metadata", "storage://createNamespace", `{"name":"n","options":{"metadata":{"a":%s}}}`},
		{"filter value", "storage://query", `{"filter":{"field":"a","operator":"eq","value":%s}}`},
		{"where", "storage://count", `{"options":{"where":{"and":%s}}}`},
		{"ttl", "storage://set", `{"key":"k","value":1,"options":{"ttl":%s}}`},
		{"unknown member", "storage://set", `{"key":"k","value":1,"x":%s}`},
		{"key", "storage://get", `{"key":%s}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var answers [2]string
			for i, n := range []int{1001, 10001} {
				v := call(t, m, c.route, strings.Replace(c.body, "%s", deep(n), 1))
				delete(v, "keys")
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				answers[i] = revision.ReplaceAllString(string(b), `"revision":R`) // the writes' own
				if v["success"] == true {
					_ = s.Clear(t.Context())
				}
			}
			if answers[0] != answers[1] {
				t.Errorf("nested 1,001 deep:  %s\nnested 10,001 deep: %s", answers[0], answers[1])
			}
		})
	}
}

// TestDeepMalformed: a body nested deeper than encoding/json decodes that
// is malformed is still invalid_request.
func TestDeepMalformed(t *testing.T) {
	m, _ := newMux(t)
	for _, body := range []string{
		`{"key":"k","value":` + strings.Repeat("[", 10001),
		`{"key":"k","value":` + deep(10001) + `,}`,
		`{"key":"k","value":` + deep(10001) + `} {}`,
		`{"key":"k","key":"j","value":` + deep(10001) + `}`,
	} {
		wantCode(t, call(t, m, "storage://set", body), "invalid_request", body[:24]+"…"+body[len(body)-6:])
	}
}
