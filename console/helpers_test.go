package console_test

import (
	"context"

	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// The tokens of the test auth file.
const (
	adminToken  = "admin-token-0123456789abcdef"
	aliceToken  = "alice-token-0123456789abcdef"
	nobodyToken = "nobody-token-0123456789abcdef"
)

const authFile = `{"principals": [
 {"token": "` + adminToken + `", "pkr": "admin-pk",
  "profiles": [{"name": "admin", "scopes": {"storage://namespace/*": "rw", "principal://*": "rw"}}]},
 {"token": "` + aliceToken + `", "pkr": "alice-pk",
  "profiles": [{"name": "users", "scopes": {"storage://namespace/users": "rw"}}]},
 {"token": "` + nobodyToken + `", "pkr": "nobody-pk", "profiles": []}
]}`

// configs are the databases the console tests run on.
var configs = []testdb.Config{
	{Name: "sqlite", DSN: testdb.SQLiteFile},
	{Name: "postgres", DSN: func(t testing.TB) string { return testdb.Postgres(t, "console", "pool_max_conns", "4") }},
}

// env is a console over a real store, served by httptest.
type env struct {
	inner *sqlstore.Store
	sec   *security.Store
	srv   *httptest.Server
}

func newEnv(t *testing.T, dsn string, tls bool, mod func(*console.Config)) *env {
	t.Helper()
	return newEnvServer(t, dsn, tls, mod, nil)
}

// newEnvServer is newEnv with srv, when not nil, called on the server
// before it starts (its http.Server's timeouts, its listener).
func newEnvServer(t *testing.T, dsn string, tls bool, mod func(*console.Config), srv func(*httptest.Server)) *env {
	t.Helper()
	tokens, err := httpapi.ParseAuthFile([]byte(authFile))
	if err != nil {
		t.Fatal(err)
	}
	inner := teststore.Open(t, dsn)
	sec := security.NewStore(inner, tokens.Policy())
	cfg := console.Config{Store: sec, Auth: tokens, OpenTransactions: inner.OpenTransactions}
	if mod != nil {
		mod(&cfg)
	}
	h, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{inner: inner, sec: sec, srv: httptest.NewUnstartedServer(h)}
	if srv != nil {
		srv(e.srv)
	}
	if tls {
		e.srv.StartTLS()
	} else {
		e.srv.Start()
	}
	t.Cleanup(e.srv.Close)
	return e
}

// principal returns a context acting as pk, for writes behind the
// console's back.
func principal(t *testing.T, pk string) context.Context {
	p, err := security.NewPKR(pk, nil)
	if err != nil {
		t.Fatal(err)
	}
	return security.WithPrincipal(t.Context(), p)
}

// browser is an HTTP client with cookies that does not follow redirects,
// and sends the headers a browser sends with a same-origin form.
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	// A client of its own: httptest.Server.Client returns the same one
	// every time, and setting its Jar would sign every browser of the env
	// in as whoever signed in last.
	c := &http.Client{Transport: e.srv.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, e: e, c: c}
}

// page is a response with its body read.
type page struct {
	*http.Response
	body string
}

// text is the body with the random CSRF tokens blanked out: a test that
// asserts a short string is absent (a key prefix, a namespace name) must
// not fail because a random base64url token happens to contain it.
func (p page) text() string {
	return csrfRe.ReplaceAllString(p.body, `name="csrf" value=""`)
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := page{resp, string(body)}
	if m := csrfRe.FindStringSubmatch(p.body); m != nil {
		b.csrf = html.UnescapeString(m[1])
	}
	return p
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a console path (with its query).
func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form as a same-origin page would: with the CSRF token the
// last page carried (unless form sets its own "csrf") and the Origin and
// Sec-Fetch-Site headers of this server.
func (b *browser) post(path string, form url.Values, hdr ...string) page {
	b.t.Helper()
	if !form.Has("csrf") {
		form.Set("csrf", b.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// signIn signs in with token and fails the test unless it worked.
func (b *browser) signIn(token string) {
	b.t.Helper()
	b.get("/console/signin")
	p := b.post("/console/signin", url.Values{"token": {token}})
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/console/namespaces" {
		b.t.Fatalf("sign-in: %d %s\n%s", p.StatusCode, p.Header.Get("Location"), p.body)
	}
	b.get("/console/namespaces") // picks up the session's CSRF token
}

// want fails the test unless p has the status and its body every string.
func (p page) want(t *testing.T, status int, contains ...string) {
	t.Helper()
	if p.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d\n%s", p.Request.Method, p.Request.URL, p.StatusCode, status, p.body)
	}
	for _, s := range contains {
		if !strings.Contains(p.body, s) {
			t.Fatalf("%s %s: the page lacks %q\n%s", p.Request.Method, p.Request.URL, s, p.body)
		}
	}
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}
