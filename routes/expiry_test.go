package routes_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/sqlstore"
	"github.com/mycelia-kernel/storage/storetest"
)

// TestWireExpiry checks the expiry members: ttl in seconds (number or
// string), Dapr's ttlInSeconds, ttlMs, expiresAt and keepTTL, per entry in
// setMany, the expiresAt of responses, and the refusal of bad input.
func TestWireExpiry(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := storetest.NewClock(t0)
	m, _ := newMux(t, sqlstore.WithClock(clock.Now), sqlstore.WithSweepInterval(-1))
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }

	for _, tc := range []struct{ key, opts, want string }{
		{"a", `{"ttl":10}`, at(10 * time.Second)},
		{"b", `{"ttl":"20"}`, at(20 * time.Second)},
		{"c", `{"ttlInSeconds":"30"}`, at(30 * time.Second)},
		{"d", `{"ttlInSeconds":40}`, at(40 * time.Second)},
		{"e", `{"ttlMs":1500}`, at(1500 * time.Millisecond)},
		{"f", `{"expiresAt":"` + at(time.Hour) + `"}`, at(time.Hour)},
	} {
		wantOK(t, call(t, m, "storage://set", `{"key":"`+tc.key+`","value":1,"options":`+tc.opts+`}`), "set "+tc.opts)
		v := call(t, m, "storage://get", `{"key":"`+tc.key+`"}`)
		if v["expiresAt"] != tc.want {
			t.Errorf("set %s: get expiresAt = %v, want %s", tc.opts, v["expiresAt"], tc.want)
		}
		v = call(t, m, "storage://getMetadata", `{"key":"`+tc.key+`"}`)
		if v["expiresAt"] != tc.want {
			t.Errorf("set %s: getMetadata expiresAt = %v, want %s", tc.opts, v["expiresAt"], tc.want)
		}
	}
	wantOK(t, call(t, m, "storage://set", `{"key":"f","value":2,"options":{"keepTTL":true}}`), "set keepTTL")
	if v := call(t, m, "storage://get", `{"key":"f"}`); v["expiresAt"] != at(time.Hour) {
		t.Errorf("set keepTTL: expiresAt = %v", v["expiresAt"])
	}
	wantOK(t, call(t, m, "storage://set", `{"key":"f","value":3}`), "set without expiry")
	if v := call(t, m, "storage://get", `{"key":"f"}`); v["expiresAt"] != nil {
		t.Errorf("an overwrite without expiry kept expiresAt %v", v["expiresAt"])
	}

	v := call(t, m, "storage://setMany", `{"entries":[{"key":"m1","value":1,"ttl":5},{"key":"m2","value":2},{"key":"m3","value":3,"expiresAt":"`+at(time.Minute)+`"}],"options":{"ttlInSeconds":"7"}}`)
	wantOK(t, v, "setMany")
	v = call(t, m, "storage://getMany", `{"keys":["m1","m2","m3"]}`)
	meta, _ := v["meta"].(map[string]any)
	for k, want := range map[string]string{"m1": at(5 * time.Second), "m2": at(7 * time.Second), "m3": at(time.Minute)} {
		if got := meta[k].(map[string]any)["expiresAt"]; got != want {
			t.Errorf("setMany %s: expiresAt %v, want %s", k, got, want)
		}
	}
	v = call(t, m, "storage://query", `{"filter":{"field":"$key","operator":"eq","value":"m1"}}`)
	if rs, _ := v["results"].([]any); len(rs) != 1 || rs[0].(map[string]any)["expiresAt"] != at(5*time.Second) {
		t.Errorf("query expiresAt: %v", v)
	}

	// Bad input: invalid_option, nothing written.
	for _, opts := range []string{
		`{"ttl":0}`, `{"ttl":-1}`, `{"ttl":1.5}`, `{"ttl":"1.5"}`, `{"ttl":"ten"}`, `{"ttl":true}`,
		`{"ttl":99999999999999}`, `{"ttlInSeconds":"-1"}`, `{"ttlMs":0}`, `{"ttl":1,"ttlInSeconds":1}`,
		`{"ttl":1,"keepTTL":true}`, `{"expiresAt":"` + at(-time.Second) + `"}`, `{"expiresAt":"` + at(0) + `"}`,
	} {
		wantCode(t, call(t, m, "storage://set", `{"key":"bad","value":1,"options":`+opts+`}`), "invalid_option", "set "+opts)
		wantBatchCode(t, call(t, m, "storage://setMany", `{"entries":[{"key":"bad","value":1}],"options":`+opts+`}`), "bad", "invalid_option", "setMany "+opts)
		entry := strings.TrimSuffix(strings.TrimPrefix(opts, "{"), "}")
		wantBatchCode(t, call(t, m, "storage://setMany", `{"entries":[{"key":"bad","value":1,`+entry+`}]}`), "bad", "invalid_option", "setMany entry "+opts)
	}
	wantCode(t, call(t, m, "storage://has", `{"key":"bad","options":{"ttl":1}}`), "invalid_option", "has with ttl")
	if v := call(t, m, "storage://has", `{"key":"bad"}`); v["exists"] != false {
		t.Errorf("bad input wrote: %v", v)
	}

	clock.Advance(10 * time.Second)
	wantCode(t, call(t, m, "storage://get", `{"key":"a"}`), "not_found", "get of an expired key")
}

// wantBatchCode fails t unless a batch failed with code, as a whole or for
// key.
func wantBatchCode(t *testing.T, v map[string]any, key, code, what string) {
	t.Helper()
	if v["success"] != true {
		wantCode(t, v, code, what)
		return
	}
	res, _ := v["results"].(map[string]any)
	kr, _ := res[key].(map[string]any)
	if e, _ := kr["error"].(map[string]any); e == nil || e["code"] != code {
		t.Errorf("%s: %v, want %s for %q", what, v, code, key)
	}
}

// TestWireExpiryBadValues: every spelling of an expiry (ttl, ttlInSeconds,
// ttlMs, expiresAt) refuses the same bad values with the same code,
// invalid_option, in set's options, setMany's options and a setMany entry,
// and writes nothing; null is the same as an absent member.
func TestWireExpiryBadValues(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	m, _ := newMux(t, sqlstore.WithClock(storetest.NewClock(t0).Now), sqlstore.WithSweepInterval(-1))
	bad := []string{`0`, `-1`, `1.5`, `1e30`, `-1e30`, `1e3`, `99999999999999999999`, `"x"`, `"1.5"`, `""`, `true`, `false`, `{}`, `[]`, `[1]`}
	for _, name := range []string{"ttl", "ttlInSeconds", "ttlMs", "expiresAt"} {
		vals := bad
		if name == "expiresAt" {
			vals = append(vals, `"tomorrow"`, `"`+t0.Add(-time.Second).Format(time.RFC3339)+`"`, `"9999-01-01T00:00:00Z"`)
		}
		for _, val := range vals {
			member := `"` + name + `":` + val
			wantCode(t, call(t, m, "storage://set", `{"key":"bad","value":1,"options":{`+member+`}}`), "invalid_option", "set "+member)
			wantBatchCode(t, call(t, m, "storage://setMany", `{"entries":[{"key":"bad","value":1}],"options":{`+member+`}}`), "bad", "invalid_option", "setMany options "+member)
			wantBatchCode(t, call(t, m, "storage://setMany", `{"entries":[{"key":"bad","value":1,`+member+`}]}`), "bad", "invalid_option", "setMany entry "+member)
		}
		// null is absent: the write succeeds and has no expiry.
		member := `"` + name + `":null`
		wantOK(t, call(t, m, "storage://set", `{"key":"n","value":1,"options":{`+member+`}}`), "set "+member)
		if v := call(t, m, "storage://get", `{"key":"n"}`); v["expiresAt"] != nil {
			t.Errorf("set %s: expiresAt %v, want none", member, v["expiresAt"])
		}
		wantOK(t, call(t, m, "storage://setMany", `{"entries":[{"key":"n","value":2,`+member+`}],"options":{`+member+`}}`), "setMany "+member)
	}
	// ttlMs takes what ttl takes: a decimal string too.
	wantOK(t, call(t, m, "storage://set", `{"key":"s","value":1,"options":{"ttlMs":"2500"}}`), `set ttlMs "2500"`)
	if v := call(t, m, "storage://get", `{"key":"s"}`); v["expiresAt"] != t0.Add(2500*time.Millisecond).Format(time.RFC3339Nano) {
		t.Errorf(`ttlMs "2500": expiresAt %v`, v["expiresAt"])
	}
	if v := call(t, m, "storage://has", `{"key":"bad"}`); v["exists"] != false {
		t.Errorf("bad input wrote: %v", v)
	}
}
