package httpapi_test

import (
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// The hostile-principal suite: what issue 15 found a hostile principal
// could do to a server, and what it tried that already held, run against
// the real stack (HTTP, routes, security, the engine) on every database.
// Each test states the rule it keeps.

// The principals of the hostile suite.
const (
	hAdmin  = "h-admin-token-0123456789"
	hAlice  = "h-alice-token-0123456789"
	hBob    = "h-bob-token-0123456789ab"
	hNobody = "h-nobody-token-012345678" // authenticated, granted nothing
)

// hostileAuth: admin holds everything; alice and bob read and write the
// plain namespace "shared"; nobody holds no grant at all.
var hostileAuth = `{"principals":[
	{"token":"` + hAdmin + `","pkr":"admin-pk",
	 "profiles":[{"name":"all","scopes":{"storage://namespace/*":"rw","principal://*":"rw"}}]},
	{"token":"` + hAlice + `","pkr":"alice-pk",
	 "profiles":[{"name":"shared","scopes":{"storage://namespace/shared":"rw"}}]},
	{"token":"` + hBob + `","pkr":"bob-pk",
	 "profiles":[{"name":"shared","scopes":{"storage://namespace/shared":"rw"}}]},
	{"token":"` + hNobody + `","pkr":"nobody-pk","profiles":[]}
]}`

// newHostileServer starts the stack on a fresh store at dsn with the
// hostile principals.
func newHostileServer(t testing.TB, dsn string, cfg httpapi.Config, opts ...sqlstore.Option) *testServer {
	t.Helper()
	return newServerAuth(t, dsn, hostileAuth, cfg, opts...)
}

// hostileConfigs are the databases of the suite: a SQLite file and
// PostgreSQL (the in-memory SQLite adds nothing over the file here).
var hostileConfigs = configs[1:]

// must calls op as token and fails the test unless it succeeds.
func (s *testServer) must(t testing.TB, op, token, body string) envelope {
	t.Helper()
	st, env := s.call(t, op, token, body)
	if st != 200 || !env.Success {
		t.Fatalf("%s %s = %d %+v", op, body, st, env.Error)
	}
	return env
}

// refused calls op as token and checks the status and code.
func (s *testServer) refused(t testing.TB, op, token, body string, status int, code string) envelope {
	t.Helper()
	st, env := s.call(t, op, token, body)
	if st != status || env.Success || env.code() != code {
		t.Errorf("%s as %.8s %s = %d %+v; want %d %s", op, token, body, st, env.Error, status, code)
	}
	return env
}

// TestHostileLookupTransaction (issue 15, item 7): another principal's
// transaction answers lookupTransaction as it answers every other call on
// it, denied, with nothing of the transaction in the answer.
func TestHostileLookupTransaction(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			tx := s.must(t, "beginTransaction", hAlice, `{"options":{"isolation":"serializable","readOnly":true}}`).TransactionID
			body := `{"transactionId":"` + tx + `"}`
			s.must(t, "lookupTransaction", hAlice, body)
			for _, tok := range []string{hBob, hNobody, hAdmin} {
				env := s.refused(t, "lookupTransaction", tok, body, 403, routes.CodePermissionDenied)
				if env.TransactionID != "" || env.Error == nil || strings.Contains(env.Error.Message, "serializable") {
					t.Errorf("denied lookup reveals the transaction: %+v", env)
				}
				s.refused(t, "count", tok, `{"options":{"namespace":"shared","transactionId":"`+tx+`"}}`, 403, routes.CodePermissionDenied)
				s.refused(t, "commit", tok, body, 403, routes.CodePermissionDenied)
			}
			s.must(t, "rollback", hAlice, body)
		})
	}
}

// TestHostileDuplicateMembers (issue 15, item 8): a body two readers would
// understand differently is refused, and changes nothing.
func TestHostileDuplicateMembers(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			s.must(t, "set", hAlice, `{"key":"a","value":1,"options":{"namespace":"shared"}}`)
			before := s.snapshot(t)
			for _, tc := range []struct{ op, body string }{
				{"set", `{"key":"a","key":"b","value":2,"options":{"namespace":"shared"}}`},
				{"set", `{"key":"b","value":2,"options":{"namespace":"shared","namespace":"other"}}`},
				{"set", `{"key":"b","Key":"a","value":2,"options":{"namespace":"shared"}}`},
				{"delete", `{"key":"b","key":"a","options":{"namespace":"shared"}}`},
				{"setMany", `{"entries":[{"key":"b","value":2,"key":"a"}],"options":{"namespace":"shared"}}`},
				{"deleteMany", `{"keys":["zz"],"keys":["a"],"options":{"namespace":"shared"}}`},
				{"clear", `{"options":{"namespace":"nothing","namespace":"shared"}}`},
				{"createNamespace", `{"name":"x","name":"y"}`},
			} {
				s.refused(t, tc.op, hAdmin, tc.body, 400, routes.CodeInvalidRequest)
			}
			if after := s.snapshot(t); after != before {
				t.Errorf("refused requests changed the store:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
