package routes_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// FuzzRoutes sends arbitrary bodies to every route: each answer is a JSON
// envelope, and no input reaches the internal code (which would mean an
// unclassified failure or a panic).
func FuzzRoutes(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `{"key":"a","value":1}`, `{"key":"a","value":{"x":[1,2,{"y":null}]},"options":{"namespace":"n","metadata":{"m":1}}}`,
		`{"keys":["a","b",""],"options":{"atomic":true}}`, `{"entries":[{"key":"a","value":1,"metadata":{}}]}`,
		`{"filter":{"and":[{"field":"a","operator":"in","value":[1,"x"]},{"not":{"field":"$key","operator":"startsWith","value":"a"}}]},"options":{"sort":[{"field":"a","desc":true}],"limit":2}}`,
		`{"options":{"where":{"field":"$version","operator":"gt","value":0},"pattern":"a*"}}`,
		`{"name":"ns1","options":{"metadata":{"a":1},"indexes":["a"],"recursive":true}}`,
		`{"transactionId":"tx_1"}`, `{"options":{"isolation":"serializable","readOnly":true}}`,
		`{"key":"a","metadata":null,"options":{"merge":true,"ifVersion":1}}`, "{\"key\":\"\xff\"}", `{"key":"a"} x`,
	} {
		f.Add(seed)
	}
	st, err := sqlstore.Open(context.Background(), "sqlite::memory:")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	m := routes.NewMux()
	routes.Register(m, st)
	f.Fuzz(func(t *testing.T, body string) {
		for _, r := range m.Routes() {
			out, err := m.Call(context.Background(), r, []byte(body))
			if err != nil {
				t.Fatalf("%s: Call error %v", r, err)
			}
			if !json.Valid(out) {
				t.Fatalf("%s %q: answer is not JSON: %s", r, body, out)
			}
			if code := routes.EnvelopeCode(out); code == routes.CodeInternal {
				t.Fatalf("%s %q: internal: %s", r, body, out)
			}
			// Leave no transaction open: in memory, it would hold the
			// store's one connection.
			var v struct {
				TransactionID string `json:"transactionId"`
			}
			if r == routes.RouteBeginTransaction && json.Unmarshal(out, &v) == nil && v.TransactionID != "" {
				b, _ := json.Marshal(map[string]string{"transactionId": v.TransactionID})
				if out, _ := m.Call(context.Background(), routes.RouteRollback, b); routes.EnvelopeCode(out) != "" {
					t.Fatalf("rollback: %s", out)
				}
			}
		}
	})
}
