package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
)

// fakeCaller records the calls that reach it and answers with resp.
type fakeCaller struct {
	mu    sync.Mutex // protects the fields below
	calls []fakeCall
	resp  func(ctx context.Context, route string, body []byte) ([]byte, error)
}

type fakeCall struct {
	route     string
	body      string
	principal string
	hasPKR    bool
	deadline  time.Duration // from the call to its context's deadline
}

func (f *fakeCaller) Call(ctx context.Context, route string, body []byte) ([]byte, error) {
	p, ok := security.PrincipalFrom(ctx)
	c := fakeCall{route: route, body: string(body), principal: p.PublicKey, hasPKR: ok}
	if dl, ok := ctx.Deadline(); ok {
		c.deadline = time.Until(dl)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if f.resp != nil {
		return f.resp(ctx, route, body)
	}
	return []byte(`{"success":true,"data":{"ok":1}}`), nil
}

func (f *fakeCaller) taken() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

func testTokens(t *testing.T) *Tokens {
	t.Helper()
	tok, err := ParseAuthFile([]byte(`{"principals":[{"token":"` + aliceToken + `","pkr":"alice-pk"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// do sends one request to h and returns the status, the decoded envelope
// and the response's header.
func do(t *testing.T, h http.Handler, method, path string, hdr map[string]string, body io.Reader) (int, envelope, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	resp := rr.Result()
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var env envelope
	if method != http.MethodHead {
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatalf("%s %s: response %q is not JSON: %v", method, path, data, err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
	}
	return resp.StatusCode, env, resp.Header
}

type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (e envelope) code() string {
	if e.Error == nil {
		return ""
	}
	return e.Error.Code
}

var (
	authJSON = map[string]string{"Authorization": "Bearer " + aliceToken, "Content-Type": "application/json"}
	jsonOnly = map[string]string{"Content-Type": "application/json"}
)

func with(base map[string]string, k, v string) map[string]string {
	m := map[string]string{}
	for kk, vv := range base {
		m[kk] = vv
	}
	if v == "" {
		delete(m, k)
	} else {
		m[k] = v
	}
	return m
}

// TestHandlerRefusals checks every request the HTTP layer refuses itself:
// the status, the error envelope, and that no call reached the routes.
func TestHandlerRefusals(t *testing.T) {
	f := &fakeCaller{}
	h := NewHandler(f, Config{Auth: testTokens(t), MaxBodyBytes: 64, Logger: discardLogger()})
	big := strings.Repeat("x", 65)
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		body               io.Reader
		status             int
		code               string
		allow              string
	}{
		{"unknownPath", "POST", "/v2/storage/get", authJSON, nil, 404, routes.CodeUnknownRoute, ""},
		{"root", "GET", "/", nil, nil, 404, routes.CodeUnknownRoute, ""},
		{"noOp", "POST", "/v1/storage/", authJSON, nil, 404, routes.CodeUnknownRoute, ""},
		{"subPath", "POST", "/v1/storage/get/x", authJSON, nil, 404, routes.CodeUnknownRoute, ""},
		{"escapedSlash", "POST", "/v1/storage/get%2Fx", authJSON, nil, 404, routes.CodeUnknownRoute, ""},
		{"punctuation", "POST", "/v1/storage/get.x", authJSON, nil, 404, routes.CodeUnknownRoute, ""},
		{"digitFirst", "POST", "/v1/storage/1get", authJSON, nil, 404, routes.CodeUnknownRoute, ""},
		{"unknownPathNoAuth", "GET", "/admin", nil, nil, 404, routes.CodeUnknownRoute, ""},
		{"getStorage", "GET", "/v1/storage/get", authJSON, nil, 405, CodeMethodNotAllowed, "POST"},
		{"putStorage", "PUT", "/v1/storage/set", authJSON, strings.NewReader(`{}`), 405, CodeMethodNotAllowed, "POST"},
		{"postHealth", "POST", "/healthz", nil, nil, 405, CodeMethodNotAllowed, "GET, HEAD"},
		{"deleteReady", "DELETE", "/readyz", nil, nil, 405, CodeMethodNotAllowed, "GET, HEAD"},
		{"noToken", "POST", "/v1/storage/get", jsonOnly, strings.NewReader(`{"key":"a"}`), 401, routes.CodeUnauthenticated, ""},
		{"badToken", "POST", "/v1/storage/get", with(jsonOnly, "Authorization", "Bearer nope-nope-nope-nope"), strings.NewReader(`{"key":"a"}`), 401, routes.CodeUnauthenticated, ""},
		{"basicAuth", "POST", "/v1/storage/get", with(jsonOnly, "Authorization", "Basic "+aliceToken), strings.NewReader(`{"key":"a"}`), 401, routes.CodeUnauthenticated, ""},
		{"emptyBearer", "POST", "/v1/storage/get", with(jsonOnly, "Authorization", "Bearer "), nil, 401, routes.CodeUnauthenticated, ""},
		{"noTokenBadType", "POST", "/v1/storage/get", nil, strings.NewReader(`{}`), 401, routes.CodeUnauthenticated, ""},
		{"noTokenTooLarge", "POST", "/v1/storage/set", jsonOnly, strings.NewReader(big), 401, routes.CodeUnauthenticated, ""},
		{"noContentType", "POST", "/v1/storage/get", with(authJSON, "Content-Type", ""), strings.NewReader(`{"key":"a"}`), 415, CodeUnsupportedMediaType, ""},
		{"textPlain", "POST", "/v1/storage/get", with(authJSON, "Content-Type", "text/plain"), strings.NewReader(`{"key":"a"}`), 415, CodeUnsupportedMediaType, ""},
		{"form", "POST", "/v1/storage/set", with(authJSON, "Content-Type", "application/x-www-form-urlencoded"), strings.NewReader(`key=a`), 415, CodeUnsupportedMediaType, ""},
		{"latin1", "POST", "/v1/storage/get", with(authJSON, "Content-Type", "application/json; charset=latin1"), strings.NewReader(`{"key":"a"}`), 415, CodeUnsupportedMediaType, ""},
		{"badMediaType", "POST", "/v1/storage/get", with(authJSON, "Content-Type", "application/json;;="), strings.NewReader(`{}`), 415, CodeUnsupportedMediaType, ""},
		{"tooLarge", "POST", "/v1/storage/set", authJSON, strings.NewReader(big), 413, routes.CodeTooLarge, ""},
		{"tooLargeChunked", "POST", "/v1/storage/set", authJSON, io.MultiReader(strings.NewReader(big)), 413, routes.CodeTooLarge, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, env, hdr := do(t, h, tc.method, tc.path, tc.hdr, tc.body)
			if status != tc.status || env.Success || env.code() != tc.code || env.Error.Message == "" {
				t.Errorf("%s %s = %d %+v; want %d %s", tc.method, tc.path, status, env.Error, tc.status, tc.code)
			}
			if got := hdr.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if status == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if calls := f.taken(); len(calls) != 0 {
		t.Errorf("refused requests reached the routes: %+v", calls)
	}
}

func TestHandlerForwards(t *testing.T) {
	f := &fakeCaller{resp: func(_ context.Context, route string, _ []byte) ([]byte, error) {
		switch route {
		case "storage://get":
			return routes.ErrorEnvelope(routes.CodeNotFound, "storage: not found"), nil
		case "storage://fail":
			return nil, errors.New("boom")
		case "storage://panic":
			panic("kaboom")
		}
		return []byte(`{"success":true,"data":{"n":1}}`), nil
	}}
	h := NewHandler(f, Config{Auth: testTokens(t), Timeout: 3 * time.Second, Logger: discardLogger()})

	status, env, _ := do(t, h, "POST", "/v1/storage/getMany", authJSON, strings.NewReader(`{"keys":["a"]}`))
	if status != 200 || !env.Success || string(env.Data) != `{"n":1}` {
		t.Errorf("getMany = %d %+v", status, env)
	}
	status, env, _ = do(t, h, "POST", "/v1/storage/get", with(authJSON, "Content-Type", "application/json; charset=UTF-8"), strings.NewReader(`{"key":"a"}`))
	if status != routes.HTTPStatus(routes.CodeNotFound) || env.code() != routes.CodeNotFound {
		t.Errorf("get = %d %+v; want the route's envelope with its status", status, env)
	}
	status, env, _ = do(t, h, "POST", "/v1/storage/getStatus", authJSON, nil)
	if status != 200 || !env.Success {
		t.Errorf("getStatus without a body = %d %+v", status, env)
	}
	status, env, _ = do(t, h, "POST", "/v1/storage/fail", authJSON, nil)
	if status != 500 || env.code() != routes.CodeInternal || strings.Contains(env.Error.Message, "boom") {
		t.Errorf("a failing Call = %d %+v; want 500 internal without the cause", status, env)
	}
	status, env, _ = do(t, h, "POST", "/v1/storage/panic", authJSON, nil)
	if status != 500 || env.code() != routes.CodeInternal {
		t.Errorf("a panicking Call = %d %+v; want 500 internal", status, env)
	}

	calls := f.taken()
	want := []fakeCall{
		{route: "storage://getMany", body: `{"keys":["a"]}`},
		{route: "storage://get", body: `{"key":"a"}`},
		{route: "storage://getStatus", body: `{}`},
		{route: "storage://fail", body: `{}`},
		{route: "storage://panic", body: `{}`},
	}
	if len(calls) != len(want) {
		t.Fatalf("calls = %+v", calls)
	}
	for i, c := range calls {
		if c.route != want[i].route || c.body != want[i].body {
			t.Errorf("call %d = %s %s; want %s %s", i, c.route, c.body, want[i].route, want[i].body)
		}
		if !c.hasPKR || c.principal != "alice-pk" {
			t.Errorf("call %d: principal %q (%v), want alice-pk", i, c.principal, c.hasPKR)
		}
		if c.deadline <= 0 || c.deadline > 3*time.Second {
			t.Errorf("call %d: deadline in %v, want within the 3s timeout", i, c.deadline)
		}
	}
}

func TestHandlerAnonymous(t *testing.T) {
	f := &fakeCaller{}
	h := NewHandler(f, Config{AllowAnonymous: true, Logger: discardLogger()})
	status, env, _ := do(t, h, "POST", "/v1/storage/get", jsonOnly, strings.NewReader(`{"key":"a"}`))
	if status != 200 || !env.Success {
		t.Fatalf("anonymous get = %d %+v", status, env)
	}
	// The store behind may still refuse anonymous callers: a 401 with its
	// challenge.
	f.resp = func(context.Context, string, []byte) ([]byte, error) {
		return routes.ErrorEnvelope(routes.CodeUnauthenticated, "storage: unauthenticated"), nil
	}
	status, env, hdr := do(t, h, "POST", "/v1/storage/get", jsonOnly, strings.NewReader(`{"key":"a"}`))
	if status != 401 || env.code() != routes.CodeUnauthenticated || hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("a store refusing anonymous callers = %d %+v %v", status, env, hdr)
	}
	f.resp = nil
	// A token the server cannot check is refused, not ignored.
	status, env, _ = do(t, h, "POST", "/v1/storage/get", authJSON, strings.NewReader(`{"key":"a"}`))
	if status != 401 || env.code() != routes.CodeUnauthenticated {
		t.Errorf("anonymous server, with a token = %d %+v; want 401", status, env)
	}
	calls := f.taken()
	if len(calls) != 2 || calls[0].hasPKR || calls[1].hasPKR {
		t.Errorf("calls = %+v; want two without a principal", calls)
	}
	// Both: a token is checked, no token is anonymous.
	f = &fakeCaller{}
	h = NewHandler(f, Config{Auth: testTokens(t), AllowAnonymous: true, Logger: discardLogger()})
	do(t, h, "POST", "/v1/storage/get", jsonOnly, nil)
	do(t, h, "POST", "/v1/storage/get", authJSON, nil)
	if calls := f.taken(); len(calls) != 2 || calls[0].hasPKR || calls[1].principal != "alice-pk" {
		t.Errorf("calls = %+v", calls)
	}
}

type fakeStatus struct {
	st  storage.Status
	err error
}

func (f fakeStatus) Status(context.Context) (storage.Status, error) { return f.st, f.err }

func TestHandlerHealth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ready  StatusReporter
		drain  bool
		status int
	}{
		{"noStore", nil, false, 200},
		{"healthy", fakeStatus{st: storage.Status{Healthy: true}}, false, 200},
		{"unhealthy", fakeStatus{st: storage.Status{Healthy: false}}, false, 503},
		{"error", fakeStatus{err: storage.ErrClosed}, false, 503},
		{"draining", fakeStatus{st: storage.Status{Healthy: true}}, true, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHandler(&fakeCaller{}, Config{Ready: tc.ready, Logger: discardLogger()})
			if tc.drain {
				h.Drain()
			}
			// Health endpoints need no token.
			status, env, _ := do(t, h, "GET", "/healthz", nil, nil)
			if status != 200 || !env.Success {
				t.Errorf("healthz = %d %+v", status, env)
			}
			status, env, _ = do(t, h, "GET", "/readyz", nil, nil)
			if status != tc.status || env.Success != (tc.status == 200) {
				t.Errorf("readyz = %d %+v, want %d", status, env, tc.status)
			}
			if tc.status != 200 && env.code() != CodeUnavailable {
				t.Errorf("readyz code = %q, want %s", env.code(), CodeUnavailable)
			}
			if status, _, _ := do(t, h, "HEAD", "/readyz", nil, nil); status != tc.status {
				t.Errorf("HEAD readyz = %d, want %d", status, tc.status)
			}
		})
	}
}

// TestHandlerLogs checks the access log record of a request.
func TestHandlerLogs(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&fakeCaller{}, Config{Auth: testTokens(t), Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	do(t, h, "POST", "/v1/storage/get", authJSON, strings.NewReader(`{"key":"a"}`))
	do(t, h, "POST", "/v1/storage/get", jsonOnly, nil)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log = %q", buf.String())
	}
	var rec struct {
		Msg, Method, Path, Route, Principal, Code string
		Status                                    int
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Msg != "http request" || rec.Route != "storage://get" || rec.Principal != "alice-pk" || rec.Status != 200 || rec.Code != "" {
		t.Errorf("first record = %+v", rec)
	}
	rec.Principal = ""
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Status != 401 || rec.Code != routes.CodeUnauthenticated || rec.Principal != "" {
		t.Errorf("second record = %+v", rec)
	}
	if strings.Contains(buf.String(), aliceToken) {
		t.Error("the log holds the token")
	}
}

// TestAdmitScanClass: Handler.AdmitScan (the console's entries and query
// pages) counts under Config.MaxScansInStore as the API's list, query
// and count do, while Admit's reads are not held back by scans.
func TestAdmitScanClass(t *testing.T) {
	h := NewHandler(&fakeCaller{}, Config{Auth: testTokens(t), MaxScansInStore: 1, Timeout: 200 * time.Millisecond,
		Logger: discardLogger()})
	ctx := t.Context()
	_, done, err := h.AdmitScan(ctx, "alice-pk")
	if err != nil {
		t.Fatalf("first scan: %v", err)
	}
	// The store's only scan place is taken: bob's scan waits its turn
	// (here, until Timeout), his read does not.
	if _, d, err := h.AdmitScan(ctx, "bob-pk"); err == nil {
		d()
		t.Error("a second scan was admitted beside the first with MaxScansInStore 1")
	}
	_, d, err := h.Admit(ctx, "bob-pk", false)
	if err != nil {
		t.Fatalf("a read beside a scan: %v", err)
	}
	d()
	done()
	_, d, err = h.AdmitScan(ctx, "bob-pk")
	if err != nil {
		t.Fatalf("a scan once the place is free: %v", err)
	}
	d()
}

// TestContentEncoding: a body sent with a content coding (gzip) is 415
// unsupported_media_type with Accept-Encoding: identity, and reaches no
// store; it was read as JSON that is not valid UTF-8 (400 invalid_request).
// identity is the body as sent.
func TestContentEncoding(t *testing.T) {
	f := &fakeCaller{}
	h := NewHandler(f, Config{Auth: testTokens(t), Logger: discardLogger()})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"key":"a"}`))
	_ = zw.Close()
	for _, enc := range []string{"gzip", "br", "identity, gzip", "deflate"} {
		status, env, hdr := do(t, h, "POST", "/v1/storage/get", with(authJSON, "Content-Encoding", enc), bytes.NewReader(gz.Bytes()))
		if status != http.StatusUnsupportedMediaType || env.code() != CodeUnsupportedMediaType || hdr.Get("Accept-Encoding") != "identity" {
			t.Errorf("Content-Encoding %s: %d %+v (Accept-Encoding %q), want 415 %s with Accept-Encoding: identity",
				enc, status, env, hdr.Get("Accept-Encoding"), CodeUnsupportedMediaType)
		}
	}
	if n := len(f.taken()); n != 0 {
		t.Errorf("%d encoded bodies reached the store", n)
	}
	status, env, _ := do(t, h, "POST", "/v1/storage/get", with(authJSON, "Content-Encoding", "identity"), strings.NewReader(`{"key":"a"}`))
	if status != 200 || !env.Success {
		t.Errorf("Content-Encoding identity = %d %+v, want 200", status, env)
	}
}
