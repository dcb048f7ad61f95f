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

// TestAnswerBytesGetMany: a getMany answer holds about routes.AnswerBytes
// too. Forty keys of 256 KiB values answered 10 MiB at once (and a body of
// keys the size of the request limit, over values of the maximum size,
// would have made the server read and hold gigabytes). Now the answer
// stops after the part that reaches AnswerBytes and lists the keys it did
// not read in "unread"; asking for those gives the rest. Every distinct
// requested key is in exactly one of data, errors and unread.
func TestAnswerBytesGetMany(t *testing.T) {
	m, _ := newMux(t)
	big := strings.Repeat("x", 256<<10)
	const n = 40
	keys := make([]string, 0, n+2)
	for i := range n {
		k := fmt.Sprintf("k%02d", i)
		wantOK(t, call(t, m, "storage://set", fmt.Sprintf(`{"key":%q,"value":{"pad":%q}}`, k, big)), "set")
		keys = append(keys, k)
	}
	keys = append(keys, "missing", "k00") // a missing key, a key twice
	seen := map[string]string{}
	ask := keys
	for answers := 0; len(ask) > 0; answers++ {
		if answers > n {
			t.Fatalf("more than %d answers", n)
		}
		body, _ := json.Marshal(map[string]any{"keys": ask})
		out, err := m.Call(t.Context(), routes.RouteGetMany, body)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > int(routes.AnswerBytes)+(1<<20) {
			t.Fatalf("answer %d: %d bytes, want at most AnswerBytes (%d) and one value", answers, len(out), routes.AnswerBytes)
		}
		var resp struct {
			Success bool                       `json:"success"`
			Data    map[string]json.RawMessage `json:"data"`
			Errors  map[string]any             `json:"errors"`
			Unread  []string                   `json:"unread"`
		}
		if err := json.Unmarshal(out, &resp); err != nil || !resp.Success {
			t.Fatalf("answer %d: %v %.200s", answers, err, out)
		}
		in := func(k, where string) {
			if w, ok := seen[k]; ok {
				t.Fatalf("answer %d: key %s in %s, already in %s", answers, k, where, w)
			}
			seen[k] = where
		}
		for k := range resp.Data {
			in(k, "data")
		}
		for k := range resp.Errors {
			in(k, "errors")
		}
		unread := map[string]bool{}
		for _, k := range resp.Unread {
			if unread[k] || seen[k] != "" {
				t.Fatalf("answer %d: unread key %s answered or listed twice", answers, k)
			}
			unread[k] = true
		}
		if len(resp.Unread) > 0 && len(resp.Data) == 0 {
			t.Fatalf("answer %d read nothing and left %d keys unread", answers, len(resp.Unread))
		}
		ask = resp.Unread
	}
	for _, k := range keys {
		want := "data"
		if k == "missing" {
			want = "errors"
		}
		if seen[k] != want {
			t.Errorf("key %s: in %q, want %s", k, seen[k], want)
		}
	}
	// Small answers are one answer, as before.
	v := call(t, m, routes.RouteGetMany, `{"keys":["k01","k02","nope"]}`)
	if d, _ := v["data"].(map[string]any); len(d) != 2 || v["unread"] != nil {
		t.Fatalf("getMany of 3: %v", v)
	}
}

// TestMaxBatchItems: a setMany or deleteMany beyond routes.MaxBatchItems is
// refused whole with too_large (it would hold the store's one writer for
// seconds while every other writer waits); one at the bound is written.
func TestMaxBatchItems(t *testing.T) {
	m, _ := newMux(t)
	entries := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"entries":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"key":"k%d","value":%d}`, i, i)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	keys := func(n int) string {
		ks := make([]string, n)
		for i := range ks {
			ks[i] = fmt.Sprintf("k%d", i)
		}
		b, _ := json.Marshal(map[string]any{"keys": ks})
		return string(b)
	}
	n := routes.MaxBatchItems
	for _, tc := range []struct{ route, body string }{
		{routes.RouteSetMany, entries(n + 1)},
		{routes.RouteDeleteMany, keys(n + 1)},
	} {
		v := call(t, m, tc.route, tc.body)
		if e, _ := v["error"].(map[string]any); e["code"] != routes.CodeTooLarge {
			t.Errorf("%s of %d items: %v, want %s", tc.route, n+1, v["error"], routes.CodeTooLarge)
		}
	}
	if c := call(t, m, routes.RouteCount, `{}`); fmt.Sprint(c["count"]) != "0" {
		t.Errorf("the refused batch wrote: count %v", c["count"])
	}
	wantOK(t, call(t, m, routes.RouteSetMany, entries(n)), "setMany at the bound")
	wantOK(t, call(t, m, routes.RouteDeleteMany, keys(n)), "deleteMany at the bound")
}
