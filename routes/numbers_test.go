package routes_test

import (
	"strings"
	"testing"
)

// TestNumberOutOfRangeOnTheWire: a number a filter cannot hold (beyond a
// float64) is invalid_filter saying so, and a value or metadata number
// PostgreSQL's numeric cannot hold is invalid_value saying so, in the same
// words as the engine's.
func TestNumberOutOfRangeOnTheWire(t *testing.T) {
	m, _ := newMux(t)
	const filterRange = " is out of range for a filter (at most ±1.7976931348623157e+308)"
	const numericRange = " is out of range for PostgreSQL numeric (at most 131072 digits before the decimal point, 16383 after it)"
	for _, c := range []struct {
		route, body, code, msg string
	}{
		{"storage://count", `{"options":{"where":{"field":"n","operator":"eq","value":1e131071}}}`, "invalid_filter",
			`storage: count namespace "default": invalid filter: filter: field "n", operator eq: number 1e131071` + filterRange},
		{"storage://count", `{"options":{"where":{"field":"n","operator":"in","value":[1,-1e400]}}}`, "invalid_filter",
			`storage: count namespace "default": invalid filter: filter: field "n", operator in: value 1: number -1e400` + filterRange},
		{"storage://count", `{"options":{"where":{"field":"n","operator":"lt","value":-` + strings.Repeat("9", 400) + `}}}`, "invalid_filter",
			`storage: count namespace "default": invalid filter: filter: field "n", operator lt: number -` + strings.Repeat("9", 38) + `…` + filterRange},
		{"storage://set", `{"key":"k","value":[1e200000]}`, "invalid_value",
			`storage: set namespace "default" key "k": invalid value: number 1e200000` + numericRange + `, at offset 1`},
		{"storage://set", `{"key":"k","value":1,"options":{"metadata":{"a":-1e200000}}}`, "invalid_value",
			`storage: set namespace "default" key "k": invalid value: metadata: number -1e200000` + numericRange + `, at offset 5`},
	} {
		v := call(t, m, c.route, c.body)
		wantCode(t, v, c.code, c.body)
		if e, _ := v["error"].(map[string]any); e["message"] != c.msg {
			t.Errorf("%s %s:\n got %v\nwant %s", c.route, c.body, e["message"], c.msg)
		}
	}
	// A number a float64 holds, or that rounds to 0, is a filter value.
	for _, n := range []string{"1.7976931348623157e308", "-1e-400"} {
		wantOK(t, call(t, m, "storage://count", `{"options":{"where":{"field":"n","operator":"gt","value":`+n+`}}}`), n)
	}
}
