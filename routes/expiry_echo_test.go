package routes_test

import (
	"strings"
	"testing"
)

// TestWireExpiryBadValueNotEchoed: a bad expiry member (ttl, ttlInSeconds,
// ttlMs, expiresAt) is invalid_option whatever its size, and the message
// quotes at most a bounded head of it: a caller's megabyte string is not
// sent back whole (before, the message held all of it, in set's options,
// setMany's options and each setMany entry).
func TestWireExpiryBadValueNotEchoed(t *testing.T) {
	m, _ := newMux(t)
	huge := strings.Repeat("9", 1<<20)
	for _, val := range []string{`"` + huge + `x"`, huge + `.5`, `"2030-01-01T00:00:00` + strings.Repeat("0", 1<<20) + `"`} {
		for _, name := range []string{"ttl", "ttlInSeconds", "ttlMs", "expiresAt"} {
			member := `"` + name + `":` + val
			for _, body := range []string{
				`{"key":"k","value":1,"options":{` + member + `}}`,
				`{"entries":[{"key":"k","value":1}],"options":{` + member + `}}`,
				`{"entries":[{"key":"k","value":1,` + member + `}]}`,
			} {
				route := "storage://set"
				if strings.HasPrefix(body, `{"entries"`) {
					route = "storage://setMany"
				}
				v := call(t, m, route, body)
				e, _ := v["error"].(map[string]any)
				msg, _ := e["message"].(string)
				if e == nil || e["code"] != "invalid_option" {
					t.Errorf("%s %s (%d bytes): %v, want invalid_option", route, name, len(val), e["code"])
				}
				if len(msg) > 1024 {
					t.Errorf("%s %s (%d bytes): the message is %d bytes: %.120s...", route, name, len(val), len(msg), msg)
				}
			}
		}
	}
}

// TestWireDecodeErrorNotEchoed: a request refused while decoding (an
// unknown member with a huge name, a huge number where a whole number
// goes, a huge string where a time goes) answers a bounded message, not
// the caller's megabyte (before, the message held all of it).
func TestWireDecodeErrorNotEchoed(t *testing.T) {
	m, _ := newMux(t)
	huge := strings.Repeat("7", 1<<20)
	for _, tc := range []struct{ route, body string }{
		{"storage://get", `{"key":"k","` + huge + `":1}`},
		{"storage://get", `{"key":"k","options":{"` + huge + `":1}}`},
		{"storage://list", `{"options":{"limit":` + huge + `.5}}`},
		{"storage://list", `{"options":{"limit":` + huge + `}}`},
	} {
		v := call(t, m, tc.route, tc.body)
		e, _ := v["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if e == nil || msg == "" {
			t.Errorf("%s %.60s...: %v, want an error", tc.route, tc.body, v)
		}
		if len(msg) > 1024 {
			t.Errorf("%s %.60s...: the message is %d bytes: %.120s...", tc.route, tc.body, len(msg), msg)
		}
	}
}
