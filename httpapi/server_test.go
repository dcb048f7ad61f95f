package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// configs are the databases the tests run on.
var configs = testdb.Configs("http", "pool_max_conns", "16")

// The principals of the test auth file.
const (
	adminToken = "admin-token-0123456789abcdef"
	bobToken   = "bob-token-0123456789abcdef"
)

// authFile grants admin-pk everything and bob-pk read on "users".
var authFile = `{"principals":[
	{"tokenSHA256":"` + httpapi.HashToken(adminToken) + `","pkr":"admin-pk",
	 "profiles":[{"name":"all","scopes":{"storage://namespace/*":"rw","principal://*":"rw"}}]},
	{"token":"` + bobToken + `","pkr":"bob-pk",
	 "profiles":[{"name":"read-users","scopes":{"storage://namespace/users":"r"}}]}
]}`

// testServer is a storage server on loopback: HTTP, routes, security and
// the engine.
type testServer struct {
	URL   string
	inner *sqlstore.Store
	srv   *httptest.Server
	h     *httpapi.Handler
}

// newServer starts a server on a fresh store of c, stopped when the test
// ends.
func newServer(t testing.TB, c testdb.Config, cfg httpapi.Config, opts ...sqlstore.Option) *testServer {
	t.Helper()
	return newServerAuth(t, c.DSN(t), authFile, cfg, opts...)
}

// newServerAuth starts a server on a fresh store at dsn with the
// principals of the auth file auth.
func newServerAuth(t testing.TB, dsn, auth string, cfg httpapi.Config, opts ...sqlstore.Option) *testServer {
	t.Helper()
	return newServerSecurity(t, dsn, auth, cfg, nil, opts...)
}

// newServerSecurity is newServerAuth with options for the security layer.
func newServerSecurity(t testing.TB, dsn, auth string, cfg httpapi.Config, sec []security.Option, opts ...sqlstore.Option) *testServer {
	t.Helper()
	return newServerWith(t, dsn, auth, cfg, sec, nil, opts...)
}

// newServerWith is newServerSecurity where configure, when not nil, sets
// up the http.Server (its timeouts) before it starts.
func newServerWith(t testing.TB, dsn, auth string, cfg httpapi.Config, sec []security.Option, configure func(*http.Server),
	opts ...sqlstore.Option) *testServer {
	t.Helper()
	inner := teststore.Open(t, dsn, opts...) // closed after the server
	tokens, err := httpapi.ParseAuthFile([]byte(auth))
	if err != nil {
		t.Fatal(err)
	}
	mux := routes.NewMux()
	routes.Register(mux, security.NewStore(inner, tokens.Policy(), sec...))
	cfg.Auth = tokens
	cfg.Ready = inner
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := httpapi.NewHandler(mux, cfg)
	srv := httptest.NewUnstartedServer(h)
	if configure != nil {
		configure(srv.Config)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return &testServer{URL: srv.URL, inner: inner, srv: srv, h: h}
}

type envelope struct {
	Success bool `json:"success"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	TransactionID string          `json:"transactionId"`
	Data          json.RawMessage `json:"data"`
}

func (e envelope) code() string {
	if e.Error == nil {
		return ""
	}
	return e.Error.Code
}

// post sends one raw request and decodes the envelope.
func (s *testServer) post(t testing.TB, method, op, token, contentType string, body []byte) (int, envelope) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+"/v1/storage/"+op, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatalf("%s %s: %d %q is not an envelope: %v", method, op, resp.StatusCode, data, err)
	}
	return resp.StatusCode, env
}

func (s *testServer) call(t testing.TB, op, token, body string) (int, envelope) {
	t.Helper()
	return s.post(t, http.MethodPost, op, token, "application/json", []byte(body))
}

// snapshot is what the store holds: every namespace with its entries.
func (s *testServer) snapshot(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	names, err := s.inner.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, n := range names {
		res, err := s.inner.Query(ctx, storage.All(), storage.InNamespace(n.Name))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(n.Name + ":")
		for _, e := range res.Entries {
			b.WriteString(" " + e.Key + "=" + string(e.Value))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestBadRequests sends requests that must be refused with a clear error
// envelope and the right status, and checks that nothing was written.
func TestBadRequests(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			s := newServer(t, c, httpapi.Config{MaxBodyBytes: 4096})
			if st, env := s.call(t, "set", adminToken, `{"key":"seed","value":{"n":1},"options":{"namespace":"users"}}`); st != 200 || !env.Success {
				t.Fatalf("seed set = %d %+v", st, env)
			}
			before := s.snapshot(t)
			big := `{"key":"big","value":"` + strings.Repeat("x", 5000) + `"}`
			for _, tc := range []struct {
				name, method, op, token, ct, body string
				status                            int
				code                              string
			}{
				{"malformedJSON", "POST", "set", adminToken, "application/json", `{"key":"a","value":`, 400, routes.CodeInvalidRequest},
				{"notObject", "POST", "set", adminToken, "application/json", `[1,2]`, 400, routes.CodeInvalidRequest},
				{"trailingData", "POST", "set", adminToken, "application/json", `{"key":"a","value":1} {}`, 400, routes.CodeInvalidRequest},
				{"keyWrongType", "POST", "set", adminToken, "application/json", `{"key":1,"value":1}`, 400, routes.CodeInvalidRequest},
				{"keysWrongType", "POST", "deleteMany", adminToken, "application/json", `{"keys":"seed","options":{"namespace":"users"}}`, 400, routes.CodeInvalidRequest},
				{"namespaceWrongType", "POST", "set", adminToken, "application/json", `{"key":"a","value":1,"options":{"namespace":5}}`, 400, routes.CodeInvalidRequest},
				{"unknownMember", "POST", "set", adminToken, "application/json", `{"key":"a","value":1,"ttl":5}`, 400, routes.CodeInvalidRequest},
				{"missingKey", "POST", "set", adminToken, "application/json", `{"value":1}`, 400, routes.CodeInvalidRequest},
				{"invalidUTF8", "POST", "set", adminToken, "application/json", "{\"key\":\"a\xff\",\"value\":1}", 400, routes.CodeInvalidRequest},
				{"unknownRoute", "POST", "frobnicate", adminToken, "application/json", `{}`, 404, routes.CodeUnknownRoute},
				{"unknownPath", "POST", "set/x", adminToken, "application/json", `{}`, 404, routes.CodeUnknownRoute},
				{"oversized", "POST", "set", adminToken, "application/json", big, 413, routes.CodeTooLarge},
				{"unknownTxSet", "POST", "set", adminToken, "application/json", `{"key":"a","value":1,"options":{"transactionId":"no-such-tx"}}`, 404, routes.CodeTxNotFound},
				{"unknownTxCommit", "POST", "commit", adminToken, "application/json", `{"transactionId":"no-such-tx"}`, 404, routes.CodeTxNotFound},
				{"unknownTxRollback", "POST", "rollback", adminToken, "application/json", `{"transactionId":"no-such-tx"}`, 404, routes.CodeTxNotFound},
				{"missingToken", "POST", "set", "", "application/json", `{"key":"a","value":1}`, 401, routes.CodeUnauthenticated},
				{"badToken", "POST", "set", "not-a-token-at-all", "application/json", `{"key":"a","value":1}`, 401, routes.CodeUnauthenticated},
				{"clearNoToken", "POST", "clear", "", "application/json", `{}`, 401, routes.CodeUnauthenticated},
				{"denied", "POST", "set", bobToken, "application/json", `{"key":"seed","value":2,"options":{"namespace":"users"}}`, 403, routes.CodePermissionDenied},
				{"deniedClear", "POST", "clear", bobToken, "application/json", `{}`, 403, routes.CodePermissionDenied},
				{"wrongMethod", "GET", "set", adminToken, "application/json", ``, 405, httpapi.CodeMethodNotAllowed},
				{"wrongContentType", "POST", "set", adminToken, "text/plain", `{"key":"a","value":1}`, 415, httpapi.CodeUnsupportedMediaType},
				{"invalidKey", "POST", "set", adminToken, "application/json", `{"key":"","value":1}`, 400, routes.CodeInvalidKey},
				{"invalidNamespace", "POST", "set", adminToken, "application/json", `{"key":"a","value":1,"options":{"namespace":"a b"}}`, 400, routes.CodeInvalidNamespace},
			} {
				t.Run(tc.name, func(t *testing.T) {
					status, env := s.post(t, tc.method, tc.op, tc.token, tc.ct, []byte(tc.body))
					if status != tc.status || env.Success || env.code() != tc.code || env.Error.Message == "" {
						t.Errorf("%s %s = %d %+v; want %d %s with a message", tc.method, tc.op, status, env.Error, tc.status, tc.code)
					}
				})
			}
			if after := s.snapshot(t); after != before {
				t.Errorf("refused requests changed the store:\nbefore %s\nafter  %s", before, after)
			}
			// bob may read what he was granted.
			if st, env := s.call(t, "get", bobToken, `{"key":"seed","options":{"namespace":"users"}}`); st != 200 || !env.Success || string(env.Data) != `{"n":1}` {
				t.Errorf("bob's get = %d %+v", st, env)
			}
		})
	}
}

// TestTransactionAcrossRequests begins a transaction in one request, writes
// in another, and checks isolation, commit, rollback, and that another
// principal cannot use the transaction.
func TestTransactionAcrossRequests(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			s := newServer(t, c, httpapi.Config{})
			for _, end := range []string{"commit", "rollback"} {
				st, env := s.call(t, "beginTransaction", adminToken, `{}`)
				if st != 200 || env.TransactionID == "" {
					t.Fatalf("begin = %d %+v", st, env)
				}
				id := env.TransactionID
				key := "k-" + end
				if st, env := s.call(t, "set", adminToken, `{"key":"`+key+`","value":1,"options":{"transactionId":"`+id+`"}}`); st != 200 || !env.Success {
					t.Fatalf("set in tx = %d %+v", st, env)
				}
				if st, env := s.call(t, "get", adminToken, `{"key":"`+key+`","options":{"transactionId":"`+id+`"}}`); st != 200 || string(env.Data) != "1" {
					t.Errorf("get in tx = %d %+v", st, env)
				}
				// Another principal cannot touch it.
				if st, env := s.call(t, "rollback", bobToken, `{"transactionId":"`+id+`"}`); st != 403 || env.code() != routes.CodePermissionDenied {
					t.Errorf("bob's rollback = %d %+v; want 403", st, env)
				}
				if st, env := s.call(t, end, adminToken, `{"transactionId":"`+id+`"}`); st != 200 || !env.Success {
					t.Fatalf("%s = %d %+v", end, st, env)
				}
				st, env = s.call(t, "get", adminToken, `{"key":"`+key+`"}`)
				if end == "commit" && (st != 200 || string(env.Data) != "1") {
					t.Errorf("after commit: get = %d %+v", st, env)
				}
				if end == "rollback" && (st != 404 || env.code() != routes.CodeNotFound) {
					t.Errorf("after rollback: get = %d %+v", st, env)
				}
				if st, env := s.call(t, "set", adminToken, `{"key":"x","value":1,"options":{"transactionId":"`+id+`"}}`); st != 404 || env.code() != routes.CodeTxNotFound {
					t.Errorf("set in a finished tx = %d %+v; want 404 tx_not_found", st, env)
				}
			}
		})
	}
}

func TestHealthEndpoints(t *testing.T) {
	s := newServer(t, configs[0], httpapi.Config{})
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
		}
	}
	_ = s.inner.Close()
	resp, err := http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz on a closed store = %d, want 503", resp.StatusCode)
	}
}

// TestRequestTimeout makes a request wait for a lock held by an open
// transaction: the request's context ends at Config.Timeout, it is
// answered 504 deadline_exceeded, and it wrote nothing.
func TestRequestTimeout(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			s := newServer(t, c, httpapi.Config{Timeout: 300 * time.Millisecond})
			st, env := s.call(t, "beginTransaction", adminToken, `{}`)
			if st != 200 || env.TransactionID == "" {
				t.Fatalf("begin = %d %+v", st, env)
			}
			id := env.TransactionID
			if st, env := s.call(t, "set", adminToken, `{"key":"locked","value":1,"options":{"transactionId":"`+id+`"}}`); st != 200 {
				t.Fatalf("set in tx = %d %+v", st, env)
			}
			start := time.Now()
			st, env = s.call(t, "set", adminToken, `{"key":"locked","value":2}`)
			if st != http.StatusGatewayTimeout || env.code() != routes.CodeDeadlineExceeded {
				t.Errorf("blocked set = %d %+v; want 504 deadline_exceeded", st, env)
			}
			if d := time.Since(start); d < 250*time.Millisecond || d > 10*time.Second {
				t.Errorf("the blocked set took %v; want about the 300ms timeout", d)
			}
			if st, env := s.call(t, "rollback", adminToken, `{"transactionId":"`+id+`"}`); st != 200 {
				t.Fatalf("rollback = %d %+v", st, env)
			}
			if st, env := s.call(t, "get", adminToken, `{"key":"locked"}`); st != 404 || env.code() != routes.CodeNotFound {
				t.Errorf("get after the timeout and the rollback = %d %+v; want 404 not_found", st, env)
			}
		})
	}
}

// TestClientErrors checks that the HTTP layer's refusals reach a Go client
// as the storage errors they stand for.
func TestClientErrors(t *testing.T) {
	s := newServer(t, configs[1], httpapi.Config{MaxBodyBytes: 4096})
	ctx := t.Context()
	st := newClient(t, s, adminToken)
	err := st.Set(ctx, "big", strings.Repeat("x", 5000))
	if !errors.Is(err, storage.ErrValueTooLarge) || !errors.Is(err, routes.ErrTooLarge) {
		t.Errorf("Set of a body over the limit = %v; want routes.ErrTooLarge (a storage.ErrValueTooLarge)", err)
	}
	if _, err := st.LookupTx("no-such-tx"); !errors.Is(err, storage.ErrTxNotFound) {
		t.Errorf("LookupTx(unknown) = %v, want ErrTxNotFound", err)
	}
	tr, err := httpapi.NewTransport(s.URL, "wrong-token-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(ctx, tr); !errors.Is(err, storage.ErrUnauthenticated) {
		t.Errorf("client.New with a wrong token = %v, want ErrUnauthenticated", err)
	}
	bob := newClient(t, s, bobToken)
	if err := bob.Set(ctx, "k", 1, storage.InNamespace("users")); !errors.Is(err, storage.ErrPermissionDenied) {
		t.Errorf("bob's Set = %v, want ErrPermissionDenied", err)
	}
	if got := s.snapshot(t); got != "default:\n" && got != "" {
		t.Errorf("the refused calls wrote: %q", got)
	}
	// A server that went away is a transport error (ErrUnavailable:
	// TestClientOutageErrors).
	s.srv.Close()
	err = st.Set(ctx, "k", 1)
	var te *client.TransportError
	if !errors.As(err, &te) || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Set to a stopped server = %v, want a *client.TransportError", err)
	}
}

// everyToken authenticates "tok-<pk>" as principal <pk>: each token is a
// principal of its own.
type everyToken struct{}

func (everyToken) Authenticate(token string) (security.PKR, bool) {
	pk, ok := strings.CutPrefix(token, "tok-")
	return security.PKR{PublicKey: pk}, ok && pk != ""
}

// TestPrincipalsForgotten: the handler's per-principal bounds (request
// bytes, requests in the store, open streams) keep an entry for a
// principal only while it has a request or stream open. After 200
// principals each came once — a write, a request cut mid-flight, a watch
// dropped mid-stream — and went away, none is left, and neither are the
// goroutines that served them (the soak, internal/soak, looks for the
// same over minutes).
func TestPrincipalsForgotten(t *testing.T) {
	const principals = 200
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			inner := teststore.Open(t, c.DSN(t))
			mux := routes.NewMux()
			routes.Register(mux, security.NewStore(inner, security.NewPolicy()))
			h := httpapi.NewHandler(mux, httpapi.Config{Auth: everyToken{}, Logger: slog.New(slog.DiscardHandler)})
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			ctx := t.Context()
			base := 0
			for i := range principals {
				if i == 10 {
					// the store's own goroutines (the watch feed, PostgreSQL's
					// LISTEN) have started by now
					base = runtime.NumGoroutine()
				}
				pk := fmt.Sprintf("p%d", i)
				tr, err := httpapi.NewTransport(srv.URL, "tok-"+pk, httpapi.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
				if err != nil {
					t.Fatal(err)
				}
				cl, err := client.New(ctx, tr)
				if err != nil {
					t.Fatal(err)
				}
				ns := storage.InNamespace(storage.PrincipalScheme + pk + "/namespace/s")
				if err := cl.Set(ctx, "k", map[string]any{"n": i}, ns); err != nil {
					t.Fatalf("%s: set: %v", pk, err)
				}
				cctx, cancel := context.WithTimeout(ctx, time.Duration(i%20)*100*time.Microsecond)
				_, _ = cl.Query(cctx, storage.Gt("n", 0), ns)
				cancel()
				wctx, wcancel := context.WithCancel(ctx)
				next, stop := iter.Pull2(cl.Watch(wctx, ns, storage.FromRevision(1)))
				if _, err, ok := next(); !ok || err != nil {
					t.Fatalf("%s: watch: %v %v", pk, ok, err)
				}
				wcancel() // dropped mid-stream
				stop()
				_ = cl.Close()
				tr.CloseIdleConnections()
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				shares, running, streams := httpapi.PrincipalEntries(h)
				gor := runtime.NumGoroutine()
				if shares+running+streams == 0 && gor <= base+5 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %d principals came and went: entries for request bytes %d, requests %d, streams %d; goroutines %d (%d after the first 10)",
						principals, shares, running, streams, gor, base)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
