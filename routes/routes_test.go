package routes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

func newMux(t *testing.T, opts ...sqlstore.Option) (*routes.Mux, *sqlstore.Store) {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite::memory:", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	m := routes.NewMux()
	routes.Register(m, s)
	return m, s
}

// call sends body to route and decodes the envelope into a map.
func call(t *testing.T, m *routes.Mux, route, body string) map[string]any {
	t.Helper()
	out, err := m.Call(t.Context(), route, []byte(body))
	if err != nil {
		t.Fatalf("%s: Call error %v", route, err)
	}
	var v map[string]any
	d := json.NewDecoder(strings.NewReader(string(out)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: response %s is not JSON: %v", route, out, err)
	}
	return v
}

func wantOK(t *testing.T, v map[string]any, what string) {
	t.Helper()
	if v["success"] != true || v["error"] != nil {
		t.Fatalf("%s: want success, got %v", what, v)
	}
}

func wantCode(t *testing.T, v map[string]any, code, what string) {
	t.Helper()
	e, _ := v["error"].(map[string]any)
	if v["success"] != false || e == nil {
		t.Fatalf("%s: want failure %s, got %v", what, code, v)
	}
	if e["code"] != code {
		t.Errorf("%s: code %v, want %s (message %v)", what, e["code"], code, e["message"])
	}
	if msg, _ := e["message"].(string); !strings.HasPrefix(msg, "storage: ") {
		t.Errorf("%s: message %q does not start with \"storage: \"", what, msg)
	}
}

func TestRoutesList(t *testing.T) {
	m, _ := newMux(t)
	want := []string{
		"storage://beginTransaction", "storage://clear", "storage://commit", "storage://count",
		"storage://createIndex", "storage://createNamespace", "storage://delete", "storage://deleteMany",
		"storage://deleteNamespace", "storage://dropIndex", "storage://get", "storage://getCapabilities", "storage://getMany", "storage://getMetadata",
		"storage://getStatus", "storage://has", "storage://history", "storage://list", "storage://listNamespaces",
		"storage://lookupTransaction", "storage://query", "storage://rollback", "storage://set",
		"storage://setMany", "storage://setMetadata", "storage://watch",
	}
	if got := m.Routes(); !slices.Equal(got, want) {
		t.Errorf("Routes() = %v\nwant %v", got, want)
	}
}

// TestWireShapes checks the seed's shapes on the wire, and that values keep
// their spelling (no float rounding).
func TestWireShapes(t *testing.T) {
	m, _ := newMux(t)
	wantOK(t, call(t, m, "storage://set", `{"key":"u:1","value":{"n":12345678901234567890,"s":"<&>"},"options":{"namespace":"users","metadata":{"m":1}}}`), "set")
	out, _ := m.Call(t.Context(), "storage://get", []byte(`{"key":"u:1","options":{"namespace":"users"}}`))
	if !strings.Contains(string(out), `"data":{"n":12345678901234567890,"s":"<&>"}`) {
		t.Errorf("get lost the value's spelling: %s", out)
	}
	v := call(t, m, "storage://get", `{"key":"u:1","options":{"namespace":"users"}}`)
	wantOK(t, v, "get")
	if v["key"] != "u:1" || v["namespace"] != "users" || v["version"] != json.Number("1") || v["createdAt"] == nil || v["updatedAt"] == nil {
		t.Errorf("get = %v", v)
	}
	if md, _ := v["metadata"].(map[string]any); md["m"] != json.Number("1") {
		t.Errorf("get metadata = %v", v["metadata"])
	}
	v = call(t, m, "storage://has", `{"key":"u:1","options":{"namespace":"users"}}`)
	if v["exists"] != true {
		t.Errorf("has = %v", v)
	}
	v = call(t, m, "storage://setMany", `{"entries":[{"key":"a","value":1},{"key":"b","value":2,"metadata":{"x":true}}],"options":{"overwrite":false}}`)
	wantOK(t, v, "setMany")
	res, _ := v["results"].(map[string]any)
	if a, _ := res["a"].(map[string]any); a["success"] != true || a["version"] != json.Number("1") {
		t.Errorf("setMany results = %v", v["results"])
	}
	if !slices.Equal(anyStrings(v["keys"]), []string{"a", "b"}) {
		t.Errorf("setMany keys = %v", v["keys"])
	}
	v = call(t, m, "storage://setMany", `{"entries":[{"key":"a","value":1}],"options":{"noOverwrite":true}}`)
	wantOK(t, v, "setMany again")
	res, _ = v["results"].(map[string]any)
	if a, _ := res["a"].(map[string]any); a["success"] != false || a["error"].(map[string]any)["code"] != "already_exists" {
		t.Errorf("setMany noOverwrite results = %v", v["results"])
	}
	v = call(t, m, "storage://getMany", `{"keys":["a","b","zz",""]}`)
	wantOK(t, v, "getMany")
	data, _ := v["data"].(map[string]any)
	errs, _ := v["errors"].(map[string]any)
	if data["a"] != json.Number("1") || data["b"] != json.Number("2") || len(data) != 2 {
		t.Errorf("getMany data = %v", data)
	}
	if errs["zz"].(map[string]any)["code"] != "not_found" || errs[""].(map[string]any)["code"] != "invalid_key" {
		t.Errorf("getMany errors = %v", errs)
	}
	v = call(t, m, "storage://list", `{"options":{"limit":1}}`)
	if !slices.Equal(anyStrings(v["keys"]), []string{"a"}) || v["cursor"] == nil {
		t.Errorf("list = %v", v)
	}
	v = call(t, m, "storage://list", `{"options":{"after":`+mustJSON(t, v["cursor"])+`}}`)
	if !slices.Equal(anyStrings(v["keys"]), []string{"b"}) {
		t.Errorf("list page 2 = %v", v)
	}
	v = call(t, m, "storage://query", `{"filter":{"field":"$key","operator":"in","value":["a","b"]},"options":{"sort":{"field":"$key","order":"desc"}}}`)
	rs, _ := v["results"].([]any)
	if len(rs) != 2 || rs[0].(map[string]any)["key"] != "b" || rs[0].(map[string]any)["value"] != json.Number("2") {
		t.Errorf("query = %v", v)
	}
	v = call(t, m, "storage://count", `{"options":{"filter":{"field":"$key","operator":"eq","value":"a"}}}`)
	if v["count"] != json.Number("1") {
		t.Errorf("count (seed's filter) = %v", v)
	}
	v = call(t, m, "storage://count", `{"options":{"where":{"or":[]}}}`)
	if v["count"] != json.Number("0") {
		t.Errorf("count where or[] = %v", v)
	}
	wantOK(t, call(t, m, "storage://setMetadata", `{"key":"a","metadata":{"y":2},"options":{"merge":true}}`), "setMetadata")
	v = call(t, m, "storage://getMetadata", `{"key":"a"}`)
	if md, _ := v["metadata"].(map[string]any); md["y"] != json.Number("2") || v["version"] != json.Number("2") {
		t.Errorf("getMetadata = %v", v)
	}
	v = call(t, m, "storage://listNamespaces", `{}`)
	if !slices.Equal(anyStrings(v["namespaces"]), []string{"default", "users"}) || len(v["details"].([]any)) != 2 {
		t.Errorf("listNamespaces = %v", v)
	}
	v = call(t, m, "storage://getStatus", ``)
	if st, _ := v["status"].(map[string]any); st["healthy"] != true || st["size"] != json.Number("3") || st["dialect"] != "sqlite" {
		t.Errorf("getStatus = %v", v)
	}
	v = call(t, m, "storage://getCapabilities", `{"options":{}}`)
	if c, _ := v["capabilities"].(map[string]any); c["transactions"] != true {
		t.Errorf("getCapabilities = %v", v)
	}
	v = call(t, m, "storage://deleteMany", `{"keys":["a","missing"],"options":{"atomic":true}}`)
	res, _ = v["results"].(map[string]any)
	if res["a"].(map[string]any)["error"].(map[string]any)["code"] != "aborted" ||
		res["missing"].(map[string]any)["error"].(map[string]any)["code"] != "not_found" {
		t.Errorf("deleteMany atomic = %v", v)
	}
	wantCode(t, call(t, m, "storage://deleteNamespace", `{"name":"users"}`), "namespace_not_empty", "deleteNamespace")
	wantOK(t, call(t, m, "storage://deleteNamespace", `{"name":"users","options":{"recursive":true}}`), "deleteNamespace recursive")
	wantOK(t, call(t, m, "storage://createNamespace", `{"name":"n2","options":{"metadata":{"owner":"x"},"indexes":["age"]}}`), "createNamespace")
	wantCode(t, call(t, m, "storage://createNamespace", `{"name":"n2"}`), "namespace_exists", "createNamespace again")
	wantOK(t, call(t, m, "storage://clear", `{}`), "clear")
	v = call(t, m, "storage://count", `{}`)
	if v["count"] != json.Number("0") {
		t.Errorf("count after clear = %v", v)
	}
}

func TestTransactionsOverRoutes(t *testing.T) {
	// A file database: in memory, the one connection would be the
	// transaction's until it ends.
	s, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "tx.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	m := routes.NewMux()
	routes.Register(m, s)
	v := call(t, m, "storage://beginTransaction", `{"options":{"isolation":"serializable"}}`)
	wantOK(t, v, "begin")
	id, _ := v["transactionId"].(string)
	if id == "" || v["isolation"] != "serializable" || v["readOnly"] != false {
		t.Fatalf("begin = %v", v)
	}
	wantOK(t, call(t, m, "storage://set", `{"key":"k","value":1,"options":{"transactionId":"`+id+`"}}`), "set in tx")
	if ok, _ := s.Has(t.Context(), "k"); ok {
		t.Error("an uncommitted write is visible outside its transaction")
	}
	v = call(t, m, "storage://lookupTransaction", `{"transactionId":"`+id+`"}`)
	if v["transactionId"] != id {
		t.Errorf("lookupTransaction = %v", v)
	}
	wantOK(t, call(t, m, "storage://commit", `{"transactionId":"`+id+`"}`), "commit")
	if ok, _ := s.Has(t.Context(), "k"); !ok {
		t.Error("a committed write is missing")
	}
	wantCode(t, call(t, m, "storage://commit", `{"transactionId":"`+id+`"}`), "tx_not_found", "commit again")
	wantCode(t, call(t, m, "storage://rollback", `{"transactionId":"`+id+`"}`), "tx_not_found", "rollback after commit")

	v = call(t, m, "storage://beginTransaction", `{"options":{"readOnly":true}}`)
	ro, _ := v["transactionId"].(string)
	wantCode(t, call(t, m, "storage://set", `{"key":"k2","value":1,"options":{"transactionId":"`+ro+`"}}`), "read_only", "write in a read-only tx")
	wantOK(t, call(t, m, "storage://rollback", `{"transactionId":"`+ro+`"}`), "rollback")
	wantCode(t, call(t, m, "storage://beginTransaction", `{"options":{"isolation":"snapshot"}}`), "invalid_option", "unknown isolation")
}

// TestBadRequests sends malformed, mistyped, incomplete and unknown input:
// each gets a clear error envelope with the right code, and nothing is
// written.
func TestBadRequests(t *testing.T) {
	m, s := newMux(t)
	if err := s.Set(t.Context(), "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, route, body, code string
	}{
		{"malformed JSON", "storage://set", `{"key":"x","value":`, "invalid_request"},
		{"not an object", "storage://set", `["x",1]`, "invalid_request"},
		{"null body", "storage://set", `null`, "invalid_request"},
		{"trailing data", "storage://set", `{"key":"x","value":1} {"key":"y","value":2}`, "invalid_request"},
		{"not UTF-8", "storage://set", "{\"key\":\"x\xff\",\"value\":1}", "invalid_request"},
		{"unknown member", "storage://set", `{"key":"x","value":1,"ttl":5}`, "invalid_request"},
		{"unknown option", "storage://set", `{"key":"x","value":1,"options":{"shelfLife":5}}`, "invalid_request"},
		{"unknown namespace option", "storage://createNamespace", `{"name":"x","options":{"shelfLife":5}}`, "invalid_request"},
		{"key of the wrong type", "storage://set", `{"key":1,"value":1}`, "invalid_request"},
		{"option of the wrong type", "storage://set", `{"key":"x","value":1,"options":{"ifVersion":"1"}}`, "invalid_request"},
		{"fractional limit", "storage://list", `{"options":{"limit":1.5}}`, "invalid_request"},
		{"namespace of the wrong type", "storage://set", `{"key":"x","value":1,"options":{"namespace":7}}`, "invalid_request"},
		{"missing key", "storage://set", `{"value":1}`, "invalid_request"},
		{"missing value", "storage://set", `{"key":"x"}`, "invalid_request"},
		{"missing keys", "storage://deleteMany", `{}`, "invalid_request"},
		{"null keys", "storage://deleteMany", `{"keys":null}`, "invalid_request"},
		{"missing entries", "storage://setMany", `{}`, "invalid_request"},
		{"entry without value", "storage://setMany", `{"entries":[{"key":"x","value":1},{"key":"y"}]}`, "invalid_request"},
		{"missing metadata", "storage://setMetadata", `{"key":"k"}`, "invalid_request"},
		{"missing name", "storage://createNamespace", `{}`, "invalid_request"},
		{"missing transactionId", "storage://commit", `{}`, "invalid_request"},
		{"status with a member", "storage://getStatus", `{"verbose":true}`, "invalid_request"},
		{"contradicting overwrite", "storage://set", `{"key":"x","value":1,"options":{"overwrite":true,"noOverwrite":true}}`, "invalid_request"},
		{"where and filter", "storage://count", `{"options":{"where":{},"filter":{}}}`, "invalid_request"},
		{"bad sort order", "storage://query", `{"options":{"sort":[{"field":"a","order":"up"}]}}`, "invalid_request"},
		{"duplicate key member", "storage://set", `{"key":"a","key":"b","value":1}`, "invalid_request"},
		{"duplicate value member", "storage://set", `{"key":"a","value":1,"value":2}`, "invalid_request"},
		{"duplicate options member", "storage://set", `{"key":"a","value":1,"options":{},"options":{"namespace":"n"}}`, "invalid_request"},
		{"duplicate option", "storage://set", `{"key":"a","value":1,"options":{"namespace":"n","namespace":"m"}}`, "invalid_request"},
		{"duplicate escaped", "storage://set", `{"key":"a","k\u0065y":"b","value":1}`, "invalid_request"},
		{"duplicate entry member", "storage://setMany", `{"entries":[{"key":"a","value":1,"key":"b"}]}`, "invalid_request"},
		{"duplicate sort member", "storage://query", `{"options":{"sort":{"field":"a","field":"b"}}}`, "invalid_request"},
		{"duplicate transactionId", "storage://commit", `{"transactionId":"a","transactionId":"b"}`, "invalid_request"},
		{"duplicate namespace name", "storage://createNamespace", `{"name":"a","name":"b"}`, "invalid_request"},
		{"member in another case", "storage://set", `{"Key":"a","value":1}`, "invalid_request"},
		{"key in both cases", "storage://set", `{"key":"a","KEY":"b","value":1}`, "invalid_request"},
		{"option in another case", "storage://set", `{"key":"a","value":1,"options":{"Namespace":"n"}}`, "invalid_request"},
		{"sort member in another case", "storage://query", `{"options":{"sort":[{"Field":"a"}]}}`, "invalid_request"},
		{"duplicate filter member", "storage://query", `{"filter":{"field":"a","operator":"eq","value":1,"field":"b"}}`, "invalid_filter"},
		{"filter member in another case", "storage://query", `{"filter":{"field":"a","operator":"eq","Value":1}}`, "invalid_filter"},
		{"duplicate where member", "storage://count", `{"options":{"where":{"not":{"field":"a","operator":"eq","value":1,"operator":"ne"}}}}`, "invalid_filter"},
		{"unknown route", "storage://truncate", `{}`, "unknown_route"},
		{"unknown transaction", "storage://set", `{"key":"x","value":1,"options":{"transactionId":"nope"}}`, "tx_not_found"},
		{"unknown transaction commit", "storage://commit", `{"transactionId":"nope"}`, "tx_not_found"},
		{"unknown transaction rollback", "storage://rollback", `{"transactionId":"nope"}`, "tx_not_found"},
		{"option the operation does not take", "storage://set", `{"key":"x","value":1,"options":{"limit":1}}`, "invalid_option"},
		{"namespace option the operation does not take", "storage://createNamespace", `{"name":"x","options":{"recursive":true}}`, "invalid_option"},
		{"negative limit", "storage://list", `{"options":{"limit":-1}}`, "invalid_option"},
		{"bad namespace", "storage://set", `{"key":"x","value":1,"options":{"namespace":"a/b"}}`, "invalid_namespace"},
		{"empty key", "storage://set", `{"key":"","value":1}`, "invalid_key"},
		{"duplicate member in value", "storage://set", `{"key":"x","value":{"a":1,"a":2}}`, "invalid_value"},
		{"metadata not an object", "storage://set", `{"key":"x","value":1,"options":{"metadata":[1]}}`, "invalid_value"},
		{"bad filter", "storage://query", `{"filter":{"field":"a","operator":"like","value":"x"}}`, "invalid_filter"},
		{"filter with an unknown member", "storage://query", `{"filter":{"field":"a","operator":"eq","value":1,"x":1}}`, "invalid_filter"},
		{"bad where", "storage://count", `{"options":{"where":{"and":{}}}}`, "invalid_filter"},
		{"filter leaf without a value", "storage://query", `{"filter":{"field":"a","operator":"eq"}}`, "invalid_filter"},
		{"where leaf without a value", "storage://count", `{"options":{"where":{"not":{"field":"a","operator":"ne"}}}}`, "invalid_filter"},
		{"sort by a path that can never exist", "storage://query", `{"options":{"sort":{"field":"$metadata.0"}}}`, "invalid_filter"},
		{"sort by a member of $key", "storage://query", `{"options":{"sort":[{"field":"a"},{"field":"$key.x","order":"desc"}]}}`, "invalid_filter"},
		{"filter on a member of $version", "storage://query", `{"filter":{"field":"$version.x","operator":"exists","value":false}}`, "invalid_filter"},
		{"version conflict", "storage://set", `{"key":"k","value":2,"options":{"ifVersion":7}}`, "conflict"},
		{"no overwrite", "storage://set", `{"key":"k","value":2,"options":{"overwrite":false}}`, "already_exists"},
		{"not found", "storage://delete", `{"key":"zz"}`, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, call(t, m, c.route, c.body), c.code, c.name)
			assertUnchanged(t, s)
		})
	}
}

// TestSortErrorWording: a refused sort field says "invalid sort" on the
// wire too, with the filter's code.
func TestSortErrorWording(t *testing.T) {
	m, _ := newMux(t)
	v := call(t, m, "storage://query", `{"options":{"sort":[{"field":"$key.x"}]}}`)
	wantCode(t, v, "invalid_filter", "sort by a member of $key")
	e, _ := v["error"].(map[string]any)
	if msg, _ := e["message"].(string); !strings.Contains(msg, "invalid sort: ") || strings.Contains(msg, "invalid filter") {
		t.Errorf("message %q: want \"invalid sort: …\"", msg)
	}
}

// assertUnchanged checks that the store still holds only k = 1 at version 1,
// in the default namespace, and that no namespace was created.
func assertUnchanged(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != 1 || st.Namespaces != 1 {
		t.Errorf("store changed: size %d, namespaces %d", st.Size, st.Namespaces)
	}
	e, err := s.Get(ctx, "k")
	if err != nil || string(e.Value) != "1" || e.Version != 1 {
		t.Errorf("k changed: %v %s v%d", err, e.Value, e.Version)
	}
}

func TestBatchFailureKeepsResults(t *testing.T) {
	m, _ := newMux(t, sqlstore.WithCapacity(1))
	v := call(t, m, "storage://setMany", `{"entries":[{"key":"a","value":1},{"key":"b","value":2}]}`)
	wantCode(t, v, "capacity_exceeded", "setMany over capacity")
	res, _ := v["results"].(map[string]any)
	for _, k := range []string{"a", "b"} {
		r, _ := res[k].(map[string]any)
		if r["success"] != false || r["error"].(map[string]any)["code"] != "capacity_exceeded" {
			t.Errorf("result %s = %v", k, res[k])
		}
	}
}

func TestPanicIsInternal(t *testing.T) {
	m := routes.NewMux()
	m.Handle("storage://boom", func(context.Context, []byte) []byte { panic("boom") })
	v := call(t, m, "storage://boom", `{}`)
	wantCode(t, v, "internal", "panic")
	m.Handle("storage://boom", nil)
	wantCode(t, call(t, m, "storage://boom", `{}`), "unknown_route", "removed route")
}

func TestEnvelopeCode(t *testing.T) {
	for _, c := range []struct{ resp, code string }{
		{`{"success":true}`, ""},
		{`{"success":true,"count":3}`, ""},
		{string(routes.ErrorEnvelope(routes.CodeUnauthenticated, "storage: who are you")), "unauthenticated"},
		{`{"success":false}`, "internal"},
		{`{"success":false,"error":{"code":""}}`, "internal"},
		{`not json`, "internal"},
		{`{}`, "internal"},
	} {
		if got := routes.EnvelopeCode([]byte(c.resp)); got != c.code {
			t.Errorf("EnvelopeCode(%s) = %q, want %q", c.resp, got, c.code)
		}
	}
	var e routes.Envelope
	if err := json.Unmarshal(routes.ErrorEnvelope(routes.CodeTooLarge, "storage: 2 MB, more than 1 MB"), &e); err != nil ||
		e.Success || e.Error.Code != "too_large" || e.Error.Message != "storage: 2 MB, more than 1 MB" {
		t.Errorf("ErrorEnvelope = %+v, %v", e, err)
	}
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, len(l))
	for i, x := range l {
		out[i], _ = x.(string)
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var _ storage.Store = (*sqlstore.Store)(nil)

// degradedStore reports a store opened read-only.
type degradedStore struct{ storage.Store }

func (d degradedStore) Status(ctx context.Context) (storage.Status, error) {
	st, err := d.Store.Status(ctx)
	st.ReadOnly, st.Degraded = true, "opened read-only: the disk was full"
	return st, err
}

// TestStatusReadOnly: getStatus carries readOnly and degraded when the
// store is degraded, and omits them when it is not.
func TestStatusReadOnly(t *testing.T) {
	m, s := newMux(t)
	v := call(t, m, "storage://getStatus", ``)
	if st, _ := v["status"].(map[string]any); st["healthy"] != true || st["readOnly"] != nil || st["degraded"] != nil {
		t.Errorf("getStatus of a normal store = %v", v)
	}
	d := routes.NewMux()
	routes.Register(d, degradedStore{s})
	v = call(t, d, "storage://getStatus", ``)
	if st, _ := v["status"].(map[string]any); st["readOnly"] != true || st["degraded"] != "opened read-only: the disk was full" {
		t.Errorf("getStatus of a degraded store = %v", v)
	}
}

// TestDecodeMessages: a body encoding/json refuses is invalid_request with
// a message in the wire's terms, the member's path and what it must be,
// never the Go types, struct names or layouts behind the routes.
func TestDecodeMessages(t *testing.T) {
	m, _ := newMux(t)
	for _, c := range []struct{ route, body, want string }{
		{"storage://list", `{"options":{"limit":1.5}}`, `member "options.limit": number 1.5 is not a whole number`},
		// 1e3 and 10.0 are whole numbers: the message says what is wanted
		// (the notation), not that they are not whole.
		{"storage://list", `{"options":{"limit":1e3}}`, `member "options.limit": number 1e3 is not a whole number in integer notation (no fraction, no exponent)`},
		{"storage://list", `{"options":{"limit":10.0}}`, `member "options.limit": number 10.0 is not a whole number in integer notation`},
		{"storage://list", `{"options":{"limit":9223372036854775808}}`, `member "options.limit": number 9223372036854775808 is not a whole number`},
		{"storage://query", `{"options":{"offset":"3"}}`, `member "options.offset": string is not a whole number`},
		{"storage://set", `{"key":1,"value":1}`, `member "key": number is not a string`},
		{"storage://setMany", `{"entries":[{"key":"x","value":1,"ifRevision":1.5}]}`, `member "entries.ifRevision": number 1.5 is not a whole number`},
		{"storage://set", `{"key":"x","value":1,"options":{"overwrite":"yes"}}`, `member "options.overwrite": string is not true or false`},
		{"storage://getMany", `{"keys":{"a":1}}`, `member "keys": object is not an array`},
		{"storage://set", `{"key":"x","value":1,"options":{"keepTTL":"yes"}}`, `member "options.keepTTL": string is not true or false`},
		{"storage://set", `{"key":"x","value":1,"options":{"shelfLife":5}}`, `unknown member "shelfLife"`},
	} {
		v := call(t, m, c.route, c.body)
		wantCode(t, v, "invalid_request", c.body)
		e, _ := v["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: message %q, want it to say %q", c.body, msg, c.want)
		}
		for _, leak := range []string{"Go struct", "json:", "2006-01-02", "int64", "routes.", "Options.", "EntryItem"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: message %q shows %q", c.body, msg, leak)
			}
		}
	}
}

// TestFilterNullOnTheWire: a leaf's "value": null compares with null, on
// query and count alike (a leaf without "value" is invalid_filter,
// TestBadRequests).
func TestFilterNullOnTheWire(t *testing.T) {
	m, _ := newMux(t)
	wantOK(t, call(t, m, "storage://set", `{"key":"n","value":{"a":null}}`), "set n")
	wantOK(t, call(t, m, "storage://set", `{"key":"one","value":{"a":1}}`), "set one")
	v := call(t, m, "storage://count", `{"options":{"where":{"field":"a","operator":"eq","value":null}}}`)
	wantOK(t, v, "count a = null")
	if fmt.Sprint(v["count"]) != "1" {
		t.Errorf("count a = null: %v, want count 1", v)
	}
}

// statusErrStore answers Status with st and err.
type statusErrStore struct {
	storage.Store
	st  storage.Status
	err error
}

func (d statusErrStore) Status(context.Context) (storage.Status, error) { return d.st, d.err }

// TestStatusUnhealthy: a Status whose database cannot be reached or read
// is the seed's {success: false, status: {healthy: false}, error} on the
// wire; an error that says nothing of the database (the caller refused,
// the store closed) has no status.
func TestStatusUnhealthy(t *testing.T) {
	_, s := newMux(t)
	for _, c := range []struct {
		name   string
		err    error
		code   string
		status bool
	}{
		{"unavailable", &storage.OpError{Op: "status", Err: storage.ErrUnavailable}, "unavailable", true},
		{"corrupt", &storage.OpError{Op: "status", Err: storage.ErrCorrupt}, "corrupt", true},
		{"denied", &storage.OpError{Op: "status", Err: storage.ErrPermissionDenied}, "permission_denied", false},
		{"closed", &storage.OpError{Op: "status", Err: storage.ErrClosed}, "closed", false},
	} {
		m := routes.NewMux()
		// The engine's status beside its error: healthy false, what it
		// knows without the database (not answered).
		routes.Register(m, statusErrStore{s, storage.Status{Dialect: "postgres", Capacity: 7}, c.err})
		v := call(t, m, "storage://getStatus", ``)
		wantCode(t, v, c.code, c.name)
		st, ok := v["status"].(map[string]any)
		if ok != c.status {
			t.Errorf("%s: status %v in %v, want one: %v", c.name, v["status"], v, c.status)
			continue
		}
		// Healthy false alone: nothing of the database while it
		// cannot be reached (TestHostilePostgresOutage in httpapi).
		if ok && (st["healthy"] != false || st["dialect"] != "" || fmt.Sprint(st["capacity"]) != "0") {
			t.Errorf("%s: status = %v, want healthy false and nothing else", c.name, st)
		}
	}
	// A store that says healthy beside its error is not believed.
	m := routes.NewMux()
	routes.Register(m, statusErrStore{s, storage.Status{Healthy: true}, &storage.OpError{Op: "status", Err: storage.ErrUnavailable}})
	if st, _ := call(t, m, "storage://getStatus", ``)["status"].(map[string]any); st["healthy"] != false {
		t.Errorf("status = %v beside unavailable, want healthy false", st)
	}
}
