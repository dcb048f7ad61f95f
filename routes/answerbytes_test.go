package routes_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/routes"
)

// TestAnswerBytes: a list or query answer holds about routes.AnswerBytes,
// not everything the caller asked for: a query without a limit over 40
// values of 256 KiB (10 MiB) answered all of them at once, so one small
// request made the server read, hold and send the whole namespace. Now
// the answer stops after the part that reaches AnswerBytes, with a
// cursor; reading on After each cursor gives every entry once, in order.
func TestAnswerBytes(t *testing.T) {
	m, _ := newMux(t)
	big := strings.Repeat("x", 256<<10)
	const n = 40
	for i := range n {
		wantOK(t, call(t, m, "storage://set", fmt.Sprintf(`{"key":"k%02d","value":{"i":%d,"pad":%q}}`, i, i, big)), "set")
	}
	var keys []string
	after := ""
	for answers := 0; ; answers++ {
		if answers > n {
			t.Fatalf("more than %d answers", n)
		}
		body := `{"filter":{"field":"i","operator":"gte","value":0},"options":{"sort":[{"field":"i"}]}}`
		if after != "" {
			body = `{"filter":{"field":"i","operator":"gte","value":0},"options":{"sort":[{"field":"i"}],"after":"` + after + `"}}`
		}
		out, err := m.Call(t.Context(), routes.RouteQuery, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > int(routes.AnswerBytes)+(1<<20) {
			t.Fatalf("answer %d: %d bytes, want at most AnswerBytes (%d) and one entry", answers, len(out), routes.AnswerBytes)
		}
		var resp struct {
			Results []struct {
				Key string `json:"key"`
			} `json:"results"`
			Cursor string `json:"cursor"`
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Results {
			keys = append(keys, r.Key)
		}
		if resp.Cursor == "" {
			break
		}
		after = resp.Cursor
	}
	if len(keys) != n {
		t.Fatalf("read %d entries over the answers, want %d: %v", len(keys), n, keys)
	}
	for i, k := range keys {
		if k != fmt.Sprintf("k%02d", i) {
			t.Fatalf("entry %d is %s", i, k)
		}
	}
	// A limit within the bound is one answer, as before.
	v := call(t, m, routes.RouteQuery, `{"options":{"limit":5}}`)
	if rs, _ := v["results"].([]any); len(rs) != 5 || v["cursor"] == nil {
		t.Fatalf("query limit 5: %d results, cursor %v", len(rs), v["cursor"])
	}
}
