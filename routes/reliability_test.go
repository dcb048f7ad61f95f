package routes_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestLoneSurrogateKeys: a key with an unpaired surrogate escape is refused
// as invalid_key, on every route that takes keys, instead of collapsing to
// U+FFFD (two different wire keys would name one stored key).
func TestLoneSurrogateKeys(t *testing.T) {
	m, _ := newMux(t)
	wantOK(t, call(t, m, "storage://set", `{"key":"sur\uFFFD","value":1}`), "set U+FFFD")
	cases := []struct{ route, body, code string }{
		{"storage://set", `{"key":"sur\ud800","value":1}`, "invalid_key"},
		{"storage://set", `{"key":"sur\udbff","value":1,"options":{"noOverwrite":true}}`, "invalid_key"},
		{"storage://set", `{"key":"\udc00x","value":1}`, "invalid_key"},
		{"storage://get", `{"key":"sur\ud800"}`, "invalid_key"},
		{"storage://has", `{"key":"sur\ud800"}`, "invalid_key"},
		{"storage://delete", `{"key":"sur\ud800"}`, "invalid_key"},
		{"storage://getMetadata", `{"key":"sur\ud800"}`, "invalid_key"},
		{"storage://getMany", `{"keys":["ok","sur\ud800"]}`, "invalid_key"},
		{"storage://deleteMany", `{"keys":["sur\ud800"]}`, "invalid_key"},
		{"storage://setMany", `{"entries":[{"key":"a","value":1},{"key":"sur\ud800","value":2}]}`, "invalid_key"},
		{"storage://setMany", `{"entries":[{"key":"a","value":"\ud800"},{"key":"b\udfff","value":2}]}`, "invalid_key"},
		{"storage://set", `{"key":"k","value":1,"options":{"namespace":"n\ud800"}}`, "invalid_namespace"},
		{"storage://list", `{"options":{"pattern":"sur\ud800*"}}`, "invalid_request"},
		{"storage://count", `{"options":{"filter":{"field":"a","operator":"eq","value":"\ud800"}}}`, "invalid_filter"},
		{"storage://set", `{"key":"k","value":"\ud800"}`, "invalid_value"},
	}
	for _, tc := range cases {
		wantCode(t, call(t, m, tc.route, tc.body), tc.code, tc.route+" "+tc.body)
	}
	// A proper pair is one character, and fine.
	wantOK(t, call(t, m, "storage://set", `{"key":"\ud83d\ude00","value":1}`), "set a surrogate pair")
	v := call(t, m, "storage://get", `{"key":"😀"}`)
	wantOK(t, v, "get the pair's key")
	v = call(t, m, "storage://count", `{}`)
	wantOK(t, v, "count")
	if n := fmt.Sprint(v["count"]); n != "2" {
		t.Errorf("count = %s, want 2 (U+FFFD key and the emoji key): a refused key was written", n)
	}
}

// TestIncludeMetadata: the seed's includeMetadata option of get and getMany
// is accepted (metadata is returned either way) and refused elsewhere.
func TestIncludeMetadata(t *testing.T) {
	m, _ := newMux(t)
	wantOK(t, call(t, m, "storage://set", `{"key":"k","value":1,"options":{"metadata":{"m":1}}}`), "set")
	for _, b := range []string{"true", "false"} {
		v := call(t, m, "storage://get", `{"key":"k","options":{"includeMetadata":`+b+`}}`)
		wantOK(t, v, "get includeMetadata "+b)
		if md, _ := v["metadata"].(map[string]any); md == nil || fmt.Sprint(md["m"]) != "1" {
			t.Errorf("get includeMetadata %s: metadata %v", b, v["metadata"])
		}
		v = call(t, m, "storage://getMany", `{"keys":["k"],"options":{"includeMetadata":`+b+`}}`)
		wantOK(t, v, "getMany includeMetadata "+b)
	}
	wantCode(t, call(t, m, "storage://set", `{"key":"k","value":1,"options":{"includeMetadata":true}}`), "invalid_option", "set includeMetadata")
	wantCode(t, call(t, m, "storage://list", `{"options":{"includeMetadata":true}}`), "invalid_option", "list includeMetadata")
}

// TestNotFoundMessage: a missing key's message says so, without
// database/sql's "no rows in result set".
func TestNotFoundMessage(t *testing.T) {
	m, _ := newMux(t)
	v := call(t, m, "storage://get", `{"key":"missing"}`)
	wantCode(t, v, "not_found", "get missing")
	msg := fmt.Sprint(v["error"].(map[string]any)["message"])
	if strings.Contains(msg, "sql") || strings.Contains(msg, "rows") {
		t.Errorf("not_found message %q carries database/sql's text", msg)
	}
}

// TestHugeLimitOnTheWire: limit and offset of max int64 are a page of
// everything (or nothing), not an internal error.
func TestHugeLimitOnTheWire(t *testing.T) {
	m, _ := newMux(t)
	wantOK(t, call(t, m, "storage://set", `{"key":"k","value":1}`), "set")
	max := fmt.Sprint(int64(math.MaxInt64))
	for _, route := range []string{"storage://list", "storage://query"} {
		wantOK(t, call(t, m, route, `{"options":{"limit":`+max+`}}`), route+" limit max")
		wantOK(t, call(t, m, route, `{"options":{"limit":`+max+`,"offset":`+max+`}}`), route+" limit and offset max")
	}
}
