package routes_test

import (
	"context"
	"strings"
	"testing"
)

// TestMetadataOnTheWire: request metadata reaches the store as the JSON
// text sent (no round trip through a map), is checked there once, and a
// setMany entry whose metadata is not an object fails alone, as an entry
// with an invalid value does.
func TestMetadataOnTheWire(t *testing.T) {
	m, s := newMux(t)
	ctx := context.Background()
	big := `{"n":123456789012345678901234567890,"f":1.50,"z":{"b":1,"a":2}}`
	wantOK(t, call(t, m, "storage://set", `{"key":"k","value":1,"options":{"metadata":`+big+`}}`), "set")
	e, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(e.Metadata), "123456789012345678901234567890") {
		t.Errorf("metadata %s lost the digits of a big number", e.Metadata)
	}
	v := call(t, m, "storage://setMany", `{"entries":[{"key":"good","value":1,"metadata":{"m":1}},{"key":"bad","value":1,"metadata":[1]}]}`)
	res, _ := v["results"].(map[string]any)
	good, _ := res["good"].(map[string]any)
	bad, _ := res["bad"].(map[string]any)
	if good["success"] != true {
		t.Errorf("good entry: %v", res["good"])
	}
	if bad["success"] != false {
		t.Fatalf("bad entry: %v", res["bad"])
	}
	errObj := bad["error"].(map[string]any)
	if errObj["code"] != "invalid_value" || !strings.Contains(errObj["message"].(string), "metadata must be a JSON object, not an array") {
		t.Errorf("bad entry's error: %v", errObj)
	}
	if _, err := s.Get(ctx, "bad"); err == nil {
		t.Errorf("the entry with invalid metadata was written")
	}
	for _, body := range []string{`{"key":"k","metadata":"x"}`, `{"key":"k","metadata":{"a":1,"a":2}}`} {
		v = call(t, m, "storage://setMetadata", body)
		wantCode(t, v, "invalid_value", body)
		msg := v["error"].(map[string]any)["message"].(string)
		if !strings.Contains(msg, "metadata") {
			t.Errorf("%s: message %q does not say metadata", body, msg)
		}
	}
	v = call(t, m, "storage://createNamespace", `{"name":"n","options":{"metadata":[1]}}`)
	wantCode(t, v, "invalid_value", "createNamespace with array metadata")
}
