package routes_test

import (
	"testing"

	"github.com/mycelia-kernel/storage/routes"
)

// TestFlagsOfOtherOperationsRefused: a flag of the wire's options that the
// route's operation does not take is invalid_option whatever its value.
// Given false (or overwrite given true) it became no option at all, so the
// store never saw it: get with {"atomic":false} or {"overwrite":true},
// list with {"merge":false}, count with {"mustExist":false} answered as if
// it were not there, where {"atomic":true} is refused.
func TestFlagsOfOtherOperationsRefused(t *testing.T) {
	m, _ := newMux(t)
	wantOK(t, call(t, m, routes.RouteSet, `{"key":"k","value":1}`), "set")
	for _, c := range []struct{ route, body string }{
		{routes.RouteGet, `{"key":"k","options":{"atomic":false}}`},
		{routes.RouteGet, `{"key":"k","options":{"overwrite":true}}`},
		{routes.RouteHas, `{"key":"k","options":{"noOverwrite":false}}`},
		{routes.RouteDelete, `{"key":"k","options":{"merge":false}}`},
		{routes.RouteList, `{"options":{"merge":false}}`},
		{routes.RouteQuery, `{"options":{"omitValues":false}}`},
		{routes.RouteCount, `{"options":{"mustExist":false}}`},
		{routes.RouteGetMany, `{"keys":["k"],"options":{"atomic":false}}`},
		{routes.RouteDeleteMany, `{"keys":["k"],"options":{"mustExist":false}}`},
		{routes.RouteSetMetadata, `{"key":"k","metadata":{},"options":{"atomic":false}}`},
		{routes.RouteClear, `{"options":{"namespace":"default","overwrite":true}}`},
	} {
		wantCode(t, call(t, m, c.route, c.body), "invalid_option", c.route+" "+c.body)
	}
	// The routes that take a flag still take it, false included, and
	// nothing above changed k.
	wantOK(t, call(t, m, routes.RouteSet, `{"key":"k","value":2,"options":{"overwrite":true,"merge":false,"mustExist":false}}`), "set with flags")
	wantOK(t, call(t, m, routes.RouteDeleteMany, `{"keys":["absent"],"options":{"atomic":false}}`), "deleteMany atomic false")
	wantOK(t, call(t, m, routes.RouteHistory, `{"key":"k","options":{"omitValues":false}}`), "history omitValues false")
	if v := call(t, m, routes.RouteGet, `{"key":"k"}`); v["version"] != nil && v["version"].(interface{ String() string }).String() != "2" {
		t.Errorf("k after the refused calls: %v", v)
	}
}
