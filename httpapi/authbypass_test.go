package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
)

// bypassRequest is one raw request of an authentication bypass attempt.
type bypassRequest struct {
	method, path string
	header       http.Header
	body         string
}

// rawDo sends r without following redirects and returns the status and
// the body.
func (s *testServer) rawDo(t *testing.T, r bypassRequest) (int, string) {
	t.Helper()
	req, err := http.NewRequest(r.method, s.URL+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range r.header {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	c := *s.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestHostileAuthBypass (issue 15, "what already held"): each way a caller
// might try to act without a valid token, or as another principal than
// its token's, is its own case over the real HTTP stack on every
// database. A read of the admin's secret never answers it; a write of it
// changes nothing; a caller whose token is valid stays that principal
// whatever else the request claims.
func TestHostileAuthBypass(t *testing.T) {
	const secret = "TOPSECRET-4711"
	readSecret := `{"key":"s1","options":{"namespace":"vault"}}`
	writeSecret := `{"key":"s1","value":"pwned","options":{"namespace":"vault"}}`
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	sum := sha256.Sum256([]byte(hAdmin))
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			s.must(t, "set", hAdmin, `{"key":"s1","value":"`+secret+`","options":{"namespace":"vault"}}`)
			s.must(t, "set", hAdmin, `{"key":"principal://admin-pk/data/s2","value":"`+secret+`","options":{"namespace":"shared"}}`)
			before := s.snapshot(t)
			for _, tc := range []struct {
				name string
				req  bypassRequest
				// status is the answer wanted; code the envelope's code
				// ("" when the answer need not be an envelope).
				status int
				code   string
			}{
				{"noHeader", bypassRequest{"POST", "/v1/storage/get", nil, readSecret}, 401, routes.CodeUnauthenticated},
				{"noHeaderWrite", bypassRequest{"POST", "/v1/storage/set", nil, writeSecret}, 401, routes.CodeUnauthenticated},
				{"emptyHeader", bypassRequest{"POST", "/v1/storage/get", http.Header{"Authorization": {""}}, readSecret}, 401, routes.CodeUnauthenticated},
				{"schemeOnly", bypassRequest{"POST", "/v1/storage/get", http.Header{"Authorization": {"Bearer"}}, readSecret}, 401, routes.CodeUnauthenticated},
				{"emptyBearer", bypassRequest{"POST", "/v1/storage/get", http.Header{"Authorization": {"Bearer    "}}, readSecret}, 401, routes.CodeUnauthenticated},
				{"basicScheme", bypassRequest{"POST", "/v1/storage/get", http.Header{"Authorization": {"Basic " + hAdmin}}, readSecret}, 401, routes.CodeUnauthenticated},
				{"basicEncoded", bypassRequest{"POST", "/v1/storage/get", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+hAdmin))}}, readSecret}, 401, routes.CodeUnauthenticated},
				{"tokenWithoutScheme", bypassRequest{"POST", "/v1/storage/get", http.Header{"Authorization": {hAdmin}}, readSecret}, 401, routes.CodeUnauthenticated},
				{"tokenInQuery", bypassRequest{"POST", "/v1/storage/get?access_token=" + hAdmin + "&token=" + hAdmin, nil, readSecret}, 401, routes.CodeUnauthenticated},
				{"tokenInCookie", bypassRequest{"POST", "/v1/storage/get", http.Header{"Cookie": {"token=" + hAdmin + "; session=" + hAdmin}}, readSecret}, 401, routes.CodeUnauthenticated},
				{"tokenInOtherHeader", bypassRequest{"POST", "/v1/storage/get", http.Header{"X-Auth-Token": {hAdmin}, "X-Api-Key": {hAdmin}}, readSecret}, 401, routes.CodeUnauthenticated},
				{"tokenPrefix", bypassRequest{"POST", "/v1/storage/get", bearer(hAdmin[:len(hAdmin)-1]), readSecret}, 401, routes.CodeUnauthenticated},
				{"tokenSuffix", bypassRequest{"POST", "/v1/storage/get", bearer(hAdmin + "x"), readSecret}, 401, routes.CodeUnauthenticated},
				{"tokenUpperCase", bypassRequest{"POST", "/v1/storage/get", bearer(strings.ToUpper(hAdmin)), readSecret}, 401, routes.CodeUnauthenticated},
				{"pkrAsToken", bypassRequest{"POST", "/v1/storage/get", bearer("admin-pk"), readSecret}, 401, routes.CodeUnauthenticated},
				{"hashAsToken", bypassRequest{"POST", "/v1/storage/get", bearer(hex.EncodeToString(sum[:])), readSecret}, 401, routes.CodeUnauthenticated},
				{"commaJoined", bypassRequest{"POST", "/v1/storage/get", bearer(hBob + ", Bearer " + hAdmin), readSecret}, 401, routes.CodeUnauthenticated},
				{"badThenAdmin", bypassRequest{"POST", "/v1/storage/get", http.Header{"Authorization": {"Bearer nope-nope-nope-nope-nope", "Bearer " + hAdmin}}, readSecret}, 401, routes.CodeUnauthenticated},
				// A valid token is its principal: bob stays bob.
				{"bobThenAdmin", bypassRequest{"POST", "/v1/storage/get", http.Header{"Authorization": {"Bearer " + hBob, "Bearer " + hAdmin}}, readSecret}, 403, routes.CodePermissionDenied},
				{"spoofHeaders", bypassRequest{"POST", "/v1/storage/get", http.Header{"Authorization": {"Bearer " + hBob},
					"X-Principal": {"admin-pk"}, "X-Forwarded-User": {"admin-pk"}, "X-Remote-User": {"admin-pk"}, "X-Actor": {"admin-pk"}}, readSecret}, 403, routes.CodePermissionDenied},
				{"spoofHeadersWrite", bypassRequest{"POST", "/v1/storage/set", http.Header{"Authorization": {"Bearer " + hBob}, "X-Principal": {"admin-pk"}}, writeSecret}, 403, routes.CodePermissionDenied},
				{"principalInBody", bypassRequest{"POST", "/v1/storage/get", bearer(hBob), `{"key":"s1","principal":"admin-pk","options":{"namespace":"vault"}}`}, 400, routes.CodeInvalidRequest},
				{"principalInOptions", bypassRequest{"POST", "/v1/storage/set", bearer(hBob), `{"key":"s1","value":"pwned","options":{"namespace":"vault","principal":"admin-pk"}}`}, 400, routes.CodeInvalidRequest},
				{"actorInBody", bypassRequest{"POST", "/v1/storage/set", bearer(hBob), `{"key":"s1","value":"pwned","actor":"admin-pk","options":{"namespace":"vault"}}`}, 400, routes.CodeInvalidRequest},
				{"otherPrincipalKey", bypassRequest{"POST", "/v1/storage/get", bearer(hBob), `{"key":"principal://admin-pk/data/s2","options":{"namespace":"shared"}}`}, 403, routes.CodePermissionDenied},
				{"methodOverride", bypassRequest{"GET", "/v1/storage/get", http.Header{"X-Http-Method-Override": {"POST"}, "X-Method-Override": {"POST"}}, readSecret}, 405, httpapi.CodeMethodNotAllowed},
				// Paths that are not the route: never served, with or
				// without a token.
				{"dotSegment", bypassRequest{"POST", "/v1/storage/./get", nil, readSecret}, 0, ""},
				{"dotDotSegment", bypassRequest{"POST", "/v1/x/../storage/get", nil, readSecret}, 0, ""},
				{"doubleSlash", bypassRequest{"POST", "/v1/storage//get", nil, readSecret}, 0, ""},
				{"encodedOp", bypassRequest{"POST", "/v1/storage/%67et", nil, readSecret}, 0, ""},
				{"encodedSlash", bypassRequest{"POST", "/v1/storage%2Fget", nil, readSecret}, 0, ""},
				{"trailingSlash", bypassRequest{"POST", "/v1/storage/get/", nil, readSecret}, 0, ""},
				{"upperCasePrefix", bypassRequest{"POST", "/V1/Storage/get", nil, readSecret}, 0, ""},
				{"semicolon", bypassRequest{"POST", "/v1/storage/get;x=1", nil, readSecret}, 0, ""},
				{"healthWithBody", bypassRequest{"GET", httpapi.HealthPath, nil, readSecret}, 200, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					status, body := s.rawDo(t, tc.req)
					if strings.Contains(body, secret) || strings.Contains(body, "pwned") {
						t.Fatalf("%s %s answered the secret: %d %s", tc.req.method, tc.req.path, status, body)
					}
					switch {
					case tc.status == 0:
						if status == 200 || status < 300 {
							t.Errorf("%s %s = %d %s; want it refused", tc.req.method, tc.req.path, status, body)
						}
					case status != tc.status:
						t.Errorf("%s %s = %d %s; want %d %s", tc.req.method, tc.req.path, status, body, tc.status, tc.code)
					case tc.code != "" && !strings.Contains(body, `"code":"`+tc.code+`"`):
						t.Errorf("%s %s = %d %s; want code %s", tc.req.method, tc.req.path, status, body, tc.code)
					}
					if status == 401 {
						if body == "" || strings.Contains(body, hAdmin) {
							t.Errorf("401 body %q", body)
						}
					}
				})
			}
			// Another principal's transaction is not a way in either.
			env := s.must(t, "beginTransaction", hAdmin, `{}`)
			s.refused(t, "get", hBob, `{"key":"s1","options":{"namespace":"vault","transactionId":"`+env.TransactionID+`"}}`, 403, routes.CodePermissionDenied)
			s.refused(t, "set", hBob, `{"key":"s1","value":"pwned","options":{"namespace":"vault","transactionId":"`+env.TransactionID+`"}}`, 403, routes.CodePermissionDenied)
			s.refused(t, "commit", hBob, `{"transactionId":"`+env.TransactionID+`"}`, 403, routes.CodePermissionDenied)
			s.must(t, "rollback", hAdmin, `{"transactionId":"`+env.TransactionID+`"}`)
			if after := s.snapshot(t); after != before {
				t.Errorf("bypass attempts changed the store:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
