package console_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
)

// TestSecurityHeaders: every response, pages, errors and files alike,
// carries the Content-Security-Policy and the other protective headers.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	b := e.browser(t)
	for _, path := range []string{"/console/signin", "/console/namespaces", "/console/nope", "/console/static/console.css", "/console/static/console.js"} {
		p := b.get(path)
		hd := p.Header
		if got := hd.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy {
			t.Errorf("%s: CSP %q", path, got)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "", "Referrer-Policy": "same-origin"} {
			if got := hd.Get(k); got == "" || (v != "" && got != v) {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(console.ContentSecurityPolicy, bad) {
			t.Errorf("the CSP allows %s", bad)
		}
	}
}

// TestNoInlineScriptOrStyle is a project rule: the templates hold no inline
// script, no event-handler attribute and no style attribute or element,
// which the CSP would block anyway.
func TestNoInlineScriptOrStyle(t *testing.T) {
	rules := []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>[^<\s]`),          // a script with a body
		regexp.MustCompile(`<script(?:(?:\s)(?:[^s>]|s[^r])*)?>`), // a script without src
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)\sstyle\s*=|<style`),
		regexp.MustCompile(`(?i)javascript:`),
	}
	eachTemplate(t, func(path string, b []byte) {
		for _, re := range rules {
			if m := re.Find(b); m != nil {
				t.Errorf("%s: %q", path, m)
			}
		}
	})
}

// TestSignIn: the cookie flags; an unknown token is refused and never
// echoed; the token appears in no page; sign-out ends the session.
func TestSignIn(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tls        bool
		secureFlag bool
		wantSecure bool
	}{
		{"http", false, false, false},
		{"https", true, false, true},
		{"behind a TLS proxy", false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "sqlite::memory:", tc.tls, func(c *console.Config) { c.SecureCookies = tc.secureFlag })
			b := e.browser(t)
			p := b.get("/console/namespaces")
			if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/console/signin") {
				t.Fatalf("signed out: %d %s", p.StatusCode, p.Header.Get("Location"))
			}
			b.get("/console/signin")
			wrong := "wrong-token-that-is-secret"
			p = b.post("/console/signin", url.Values{"token": {wrong}})
			p.want(t, http.StatusUnauthorized, "not known")
			if strings.Contains(p.body, wrong) {
				t.Fatal("the refused token is in the page")
			}

			p = b.post("/console/signin", url.Values{"token": {adminToken}})
			if p.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in: %d\n%s", p.StatusCode, p.body)
			}
			var sess *http.Cookie
			for _, c := range p.Cookies() {
				if c.Name == "console_session" {
					sess = c
				}
			}
			if sess == nil {
				t.Fatal("no session cookie")
			}
			if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/console/" || sess.Secure != tc.wantSecure {
				t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path /console/, Secure %v", sess, tc.wantSecure)
			}
			if sess.Value == adminToken || strings.Contains(sess.Value, adminToken) {
				t.Fatal("the session cookie holds the token")
			}
			for _, path := range []string{"/console/namespaces", "/console/status", "/console/query", "/console/entries?ns=default"} {
				p := b.get(path)
				p.want(t, http.StatusOK, "admin-pk")
				if strings.Contains(p.body, adminToken) {
					t.Fatalf("%s shows the token", path)
				}
			}
			b.post("/console/signout", url.Values{}).want(t, http.StatusSeeOther)
			if p := b.get("/console/namespaces"); p.StatusCode != http.StatusSeeOther {
				t.Fatalf("after sign-out: %d", p.StatusCode)
			}
			// The old session ID is dead even if replayed.
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/console/status", nil)
			req.AddCookie(&http.Cookie{Name: "console_session", Value: sess.Value})
			if p := b.do(req); p.StatusCode != http.StatusSeeOther {
				t.Fatalf("replayed session after sign-out: %d", p.StatusCode)
			}
		})
	}
}

// TestCSRF: a state-changing form without the session's token, with
// another token, or from another site changes nothing.
func TestCSRF(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	b := e.browser(t)

	// Sign-in without the login cookie's token.
	b.get("/console/signin")
	b.post("/console/signin", url.Values{"token": {adminToken}, "csrf": {"forged"}}).want(t, http.StatusForbidden)
	b.post("/console/signin", url.Values{"token": {adminToken}}, "Origin", "http://evil.example").want(t, http.StatusForbidden)

	b.signIn(adminToken)
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"no token", url.Values{"name": {"x1"}, "csrf": {""}}, nil},
		{"wrong token", url.Values{"name": {"x2"}, "csrf": {"not-the-token"}}, nil},
		{"other origin", url.Values{"name": {"x3"}}, []string{"Origin", "http://evil.example"}},
		{"cross-site fetch", url.Values{"name": {"x4"}}, []string{"Sec-Fetch-Site", "cross-site", "Origin", ""}},
	} {
		p := b.post("/console/namespaces/create", tc.form, tc.hdr...)
		p.want(t, http.StatusForbidden, "did not come from this console")
	}
	list, err := e.inner.ListNamespaces(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		if strings.HasPrefix(n.Name, "x") {
			t.Fatalf("a refused form created %q", n.Name)
		}
	}
	// Sign-out is a form too.
	b.post("/console/signout", url.Values{"csrf": {"nope"}}).want(t, http.StatusForbidden)
	b.get("/console/status").want(t, http.StatusOK)
	// And the same form with the token works.
	b.post("/console/namespaces/create", url.Values{"name": {"x5"}}).want(t, http.StatusSeeOther)
}

// TestEntryLifecycle: create a namespace, add an entry, edit it, lose a
// race to a concurrent write (the conflict page shows both versions and
// nothing is overwritten), delete it, delete the namespace.
func TestEntryLifecycle(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			e := newEnv(t, c.DSN(t), false, nil)
			b := e.browser(t)
			b.signIn(adminToken)
			b.post("/console/namespaces/create", url.Values{"name": {"people"}, "indexes": {"age, city"}}).want(t, http.StatusSeeOther)
			b.get("/console/namespaces?msg=created").want(t, http.StatusOK, "people", "<code>age</code>", "<code>city</code>", "Namespace created")

			b.get("/console/entry/new"+q("ns", "people")).want(t, http.StatusOK, "New entry")
			b.post("/console/entry/save", url.Values{"ns": {"people"}, "key": {"ada"}, "version": {"0"},
				"value": {`{"name":"Ada","age":36}`}, "metadata": {`{"source":"console"}`}}).want(t, http.StatusSeeOther)
			// The metadata goes to the store as typed and is checked there,
			// as a value is: a duplicate member is refused, not silently
			// collapsed to its last occurrence.
			b.post("/console/entry/save", url.Values{"ns": {"people"}, "key": {"dup"}, "version": {"0"},
				"value": {`1`}, "metadata": {`{"owner":"ada","owner":"eve"}`}}).want(t, http.StatusBadRequest, "duplicate object key")
			if ok, _ := e.inner.Has(t.Context(), "dup", storage.InNamespace("people")); ok {
				t.Fatal("an entry with invalid metadata was written")
			}
			b.post("/console/entry/save", url.Values{"ns": {"people"}, "key": {"dup"}, "version": {"0"},
				"value": {`1`}, "metadata": {`[1]`}}).want(t, http.StatusBadRequest, "must be a JSON object")
			// Create-only: the same key again is a conflict, not an overwrite.
			b.post("/console/entry/save", url.Values{"ns": {"people"}, "key": {"ada"}, "version": {"0"},
				"value": {`{"name":"Impostor"}`}}).want(t, http.StatusConflict, "already exists")

			p := b.get("/console/entry" + q("ns", "people", "key", "ada"))
			p.want(t, http.StatusOK, `&#34;name&#34;: &#34;Ada&#34;`, "admin-pk", `id="version">1<`, "source")

			b.post("/console/entry/save", url.Values{"ns": {"people"}, "key": {"ada"}, "version": {"1"},
				"value": {`{"name":"Ada","age":37}`}, "metadata": {`{}`}}).want(t, http.StatusSeeOther)
			// Someone else writes version 3 meanwhile.
			if err := e.sec.Set(principal(t, "admin-pk"), "ada", map[string]any{"name": "Ada L.", "age": 38}, storage.InNamespace("people")); err != nil {
				t.Fatal(err)
			}
			p = b.post("/console/entry/save", url.Values{"ns": {"people"}, "key": {"ada"}, "version": {"2"},
				"value": {`{"name":"Mine"}`}, "metadata": {`{}`}})
			p.want(t, http.StatusConflict, "changed after you loaded it", `id="theirs-version">3<`, "Ada L.", "Mine",
				"Save mine over version 3", `name="version" value="3"`)
			got, err := e.inner.Get(t.Context(), "ada", storage.InNamespace("people"))
			if err != nil || !strings.Contains(string(got.Value), "Ada L.") || got.Version != 3 {
				t.Fatalf("after the conflict the store holds %s v%d, %v: want the concurrent write", got.Value, got.Version, err)
			}
			// Saving again from the conflict page is a deliberate overwrite of v3.
			b.post("/console/entry/save", url.Values{"ns": {"people"}, "key": {"ada"}, "version": {"3"},
				"value": {`{"name":"Mine"}`}, "metadata": {`{}`}}).want(t, http.StatusSeeOther)

			b.get("/console/entries"+q("ns", "people", "prefix", "a")).want(t, http.StatusOK, "ada", "1 entry", "admin-pk")
			b.get("/console/entry/delete"+q("ns", "people", "key", "ada")).want(t, http.StatusOK, "version 4")
			b.post("/console/entry/delete", url.Values{"ns": {"people"}, "key": {"ada"}, "version": {"3"}}).want(t, http.StatusConflict, "changed after you confirmed")
			b.post("/console/entry/delete", url.Values{"ns": {"people"}, "key": {"ada"}, "version": {"4"}}).want(t, http.StatusSeeOther)
			if ok, _ := e.inner.Has(t.Context(), "ada", storage.InNamespace("people")); ok {
				t.Fatal("the entry is still there")
			}

			for i := range 3 {
				if err := e.inner.Set(t.Context(), string(rune('a'+i)), i, storage.InNamespace("people")); err != nil {
					t.Fatal(err)
				}
			}
			b.get("/console/namespaces/delete"+q("ns", "people")).want(t, http.StatusOK, `id="doomed">people<`, `id="doomed-count">3<`, "<code>a</code>")
			b.post("/console/namespaces/delete", url.Values{"ns": {"people"}, "confirm": {"peopl"}}).want(t, http.StatusBadRequest, "nothing was deleted")
			b.post("/console/namespaces/delete", url.Values{"ns": {"people"}, "confirm": {"people"}}).want(t, http.StatusSeeOther)
			list, _ := e.inner.ListNamespaces(t.Context())
			for _, n := range list {
				if n.Name == "people" {
					t.Fatal("the namespace is still there")
				}
			}
		})
	}
}

// TestPaging: the entries page walks a namespace with cursors.
func TestPaging(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	in := storage.InNamespace("many")
	for i := range 7 {
		if err := e.inner.Set(t.Context(), "k"+string(rune('0'+i)), i, in); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn(adminToken)
	p := b.get("/console/entries" + q("ns", "many", "limit", "3"))
	p.want(t, http.StatusOK, "7 entries", "k0", "k2", "Next page")
	var seen []string
	for range 5 {
		for _, m := range regexp.MustCompile(`>(k\d)</a>`).FindAllStringSubmatch(p.body, -1) {
			seen = append(seen, m[1])
		}
		m := regexp.MustCompile(`rel="next" href="([^"]+)"`).FindStringSubmatch(p.body)
		if m == nil {
			break
		}
		p = b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	}
	if strings.Join(seen, ",") != "k0,k1,k2,k3,k4,k5,k6" {
		t.Fatalf("pages gave %v", seen)
	}
}

// TestEscaping: hostile keys, values and metadata reach the pages only
// escaped.
func TestEscaping(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	hostile := []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(2)>`, `'><svg onload=alert(3)>`}
	in := storage.InNamespace("xss")
	for _, h := range hostile {
		if err := e.inner.Set(t.Context(), h, map[string]any{"v": h, h: 1}, in, storage.WithMetadata(map[string]any{"m": h})); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn(adminToken)
	pages := []string{"/console/entries" + q("ns", "xss"),
		"/console/query" + q("ns", "xss", "run", "1", "filter", `{"field":"v","operator":"eq","value":"<script>alert(1)</script>"}`),
		"/console/query" + q("ns", "xss", "run", "1", "field", hostile[1], "op", "eq", "value", hostile[1], "source", "rows"),
		"/console/entries" + q("ns", "xss", "prefix", hostile[1])}
	for _, h := range hostile {
		pages = append(pages, "/console/entry"+q("ns", "xss", "key", h), "/console/entry/delete"+q("ns", "xss", "key", h))
	}
	for _, path := range pages {
		p := b.get(path)
		if p.StatusCode != http.StatusOK && p.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %d", path, p.StatusCode)
		}
		for _, raw := range []string{"<script>alert", "<img src=x", "<svg onload", `"><img`} {
			if strings.Contains(p.body, raw) {
				t.Errorf("%s: %q reaches the page unescaped", path, raw)
			}
		}
		if !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") &&
			!strings.Contains(p.body, "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;") && !strings.Contains(p.body, "&lt;svg onload=alert(3)&gt;") {
			t.Errorf("%s: shows no hostile text at all", path)
		}
	}
	// A failed save echoes the typed text escaped too.
	p := b.post("/console/entry/save", url.Values{"ns": {"xss"}, "key": {hostile[0]}, "version": {"1"},
		"value": {`not json </textarea><script>alert(4)</script>`}})
	p.want(t, http.StatusBadRequest, "not valid JSON", "&lt;/textarea&gt;&lt;script&gt;")
}

// TestPermissions: a principal without grants sees nothing of others, and
// one with a grant sees only what it grants; the console decides nothing
// itself.
func TestPermissions(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			e := newEnv(t, c.DSN(t), false, nil)
			ctx := t.Context()
			for _, ns := range []string{"secret", "users"} {
				if err := e.inner.Set(ctx, "k-"+ns, "v-"+ns, storage.InNamespace(ns)); err != nil {
					t.Fatal(err)
				}
			}
			nobody := e.browser(t)
			nobody.signIn(nobodyToken)
			p := nobody.get("/console/namespaces")
			p.want(t, http.StatusOK, "You may read no namespace")
			for _, s := range []string{"secret", "users", "k-"} {
				if strings.Contains(p.text(), s) {
					t.Fatalf("nobody's namespaces page shows %q", s)
				}
			}
			for _, path := range []string{
				"/console/entries" + q("ns", "secret"),
				"/console/entry" + q("ns", "secret", "key", "k-secret"),
				"/console/entry/delete" + q("ns", "secret", "key", "k-secret"),
				"/console/query" + q("ns", "secret", "run", "1"),
				"/console/export" + q("ns", "secret"),
				"/console/namespaces/delete" + q("ns", "secret"),
			} {
				p := nobody.get(path)
				if p.StatusCode != http.StatusForbidden && p.StatusCode != http.StatusNotFound {
					t.Fatalf("nobody GET %s: %d\n%s", path, p.StatusCode, p.body)
				}
				if strings.Contains(p.body, "v-secret") {
					t.Fatalf("nobody GET %s shows the value", path)
				}
			}
			nobody.post("/console/entry/save", url.Values{"ns": {"secret"}, "key": {"k-secret"}, "version": {"1"},
				"value": {`"mine"`}}).want(t, http.StatusForbidden, "Permission denied")
			nobody.post("/console/namespaces/delete", url.Values{"ns": {"secret"}, "confirm": {"secret"}}).want(t, http.StatusForbidden)
			nobody.post("/console/namespaces/create", url.Values{"name": {"mine"}}).want(t, http.StatusForbidden, "Permission denied")
			st := nobody.get("/console/status")
			st.want(t, http.StatusOK, "shown to principals that may read everything")
			if strings.Contains(st.body, `id="size"`) || strings.Contains(st.body, `id="open-tx"`) {
				t.Fatal("nobody sees the store's size")
			}
			if got, _ := e.inner.Get(ctx, "k-secret", storage.InNamespace("secret")); string(got.Value) != `"v-secret"` {
				t.Fatalf("secret is now %s", got.Value)
			}

			alice := e.browser(t)
			alice.signIn(aliceToken)
			p = alice.get("/console/namespaces")
			p.want(t, http.StatusOK, "users")
			if strings.Contains(p.text(), "secret") {
				t.Fatal("alice's namespaces page shows secret")
			}
			alice.get("/console/entries"+q("ns", "users")).want(t, http.StatusOK, "k-users")
			alice.get("/console/entries"+q("ns", "secret")).want(t, http.StatusForbidden)

			admin := e.browser(t)
			admin.signIn(adminToken)
			admin.get("/console/status").want(t, http.StatusOK, `id="size">2 entries`, `id="open-tx">0<`)
		})
	}
}

// TestQuery: the builder rows and the JSON form run the same filter, with
// a sort and a count; a bad filter is a 400 with the store's reason.
func TestQuery(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	in := storage.InNamespace("people")
	for i, age := range []int{15, 20, 30, 40} {
		if err := e.inner.Set(t.Context(), "p"+string(rune('0'+i)), map[string]any{"age": age, "city": "Oslo"}, in); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn(adminToken)
	rows := b.get("/console/query" + "?ns=people&run=1&source=rows&field=age&op=gte&value=20&field=city&op=eq&value=Oslo&field=&op=eq&value=&sort=age&dir=desc")
	rows.want(t, http.StatusOK, `id="count">3 matches`, "&#34;and&#34;")
	if i, j := strings.Index(rows.body, ">p3<"), strings.Index(rows.body, ">p1<"); i < 0 || j < 0 || i > j {
		t.Fatal("sort by age descending: p3 should come before p1")
	}
	js := b.get("/console/query" + q("ns", "people", "run", "1", "source", "json", "filter", `{"field":"age","operator":"lt","value":20}`))
	js.want(t, http.StatusOK, `id="count">1 match`, ">p0<")
	bad := b.get("/console/query" + q("ns", "people", "run", "1", "source", "json", "filter", `{"field":"age","operator":"nope","value":1}`))
	bad.want(t, http.StatusBadRequest, "nope")
	add := b.get("/console/query?ns=people&addrow=1&run=1&field=a&op=eq&value=1&field=&op=eq&value=&field=&op=eq&value=")
	add.want(t, http.StatusOK, `id="f-field-3"`)
	paged := b.get("/console/query" + q("ns", "people", "run", "1", "limit", "2"))
	paged.want(t, http.StatusOK, `id="count">4 matches`, "Next page")
}

// TestExport: the export is the dump format and imports into another
// store; a namespace the principal may not read is refused.
func TestExport(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	in := storage.InNamespace("users")
	for i := range 5 {
		if err := e.sec.Set(principal(t, "alice-pk"), "u"+string(rune('0'+i)), map[string]any{"i": i}, in); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser(t)
	b.signIn(aliceToken)
	p := b.get("/console/export" + q("ns", "users"))
	p.want(t, http.StatusOK, `"type":"header"`, `"type":"trailer"`, `"updatedBy":"alice-pk"`)
	if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") {
		t.Fatalf("Content-Type %q", ct)
	}
	if cd := p.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="users-`) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	dst := teststore.Open(t, "sqlite::memory:")
	st, err := dump.Import(context.Background(), dst, bytes.NewReader([]byte(p.body)), dump.ImportOptions{})
	if err != nil || st.Entries != 5 {
		t.Fatalf("import: %+v, %v", st, err)
	}
	b.get("/console/export"+q("ns", "default")).want(t, http.StatusNotFound)
	// An export names its namespace: without one it was every namespace
	// the principal reads, in a file named ".-{time}.ndjson" (hidden).
	for _, path := range []string{"/console/export", "/console/export?ns="} {
		p := b.get(path)
		p.want(t, http.StatusBadRequest, "Name the namespace")
		if cd := p.Header.Get("Content-Disposition"); cd != "" {
			t.Fatalf("GET %s: Content-Disposition %q", path, cd)
		}
	}
}

// TestExpiry: editing an entry keeps its expiry unless the form says
// otherwise; the entry page shows it.
func TestExpiry(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	ctx := t.Context()
	in := storage.InNamespace("ttl")
	if err := e.inner.Set(ctx, "k", 1, in, storage.WithTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before, err := e.inner.Get(ctx, "k", in)
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn(adminToken)
	b.get("/console/entry"+q("ns", "ttl", "key", "k")).want(t, http.StatusOK, `id="expires"`, `value="keep" selected`)
	b.post("/console/entry/save", url.Values{"ns": {"ttl"}, "key": {"k"}, "version": {"1"}, "value": {"2"}, "metadata": {"{}"}, "expiry": {"keep"}}).want(t, http.StatusSeeOther)
	after, err := e.inner.Get(ctx, "k", in)
	if err != nil || !after.ExpiresAt.Equal(before.ExpiresAt) {
		t.Fatalf("after an edit the entry expires at %v (%v), want %v", after.ExpiresAt, err, before.ExpiresAt)
	}
	b.post("/console/entry/save", url.Values{"ns": {"ttl"}, "key": {"k"}, "version": {"2"}, "value": {"3"}, "metadata": {"{}"}, "expiry": {"ttl"}, "ttl": {"2h"}}).want(t, http.StatusSeeOther)
	after, _ = e.inner.Get(ctx, "k", in)
	if d := time.Until(after.ExpiresAt); d < 119*time.Minute || d > 121*time.Minute {
		t.Fatalf("with a TTL of 2h the entry expires in %v", d)
	}
	b.post("/console/entry/save", url.Values{"ns": {"ttl"}, "key": {"k"}, "version": {"3"}, "value": {"4"}, "metadata": {"{}"}, "expiry": {"ttl"}, "ttl": {"soon"}}).want(t, http.StatusBadRequest, "duration")
	b.post("/console/entry/save", url.Values{"ns": {"ttl"}, "key": {"k"}, "version": {"3"}, "value": {"4"}, "metadata": {"{}"}, "expiry": {"none"}}).want(t, http.StatusSeeOther)
	if after, _ = e.inner.Get(ctx, "k", in); !after.ExpiresAt.IsZero() {
		t.Fatalf("with no expiry the entry still expires at %v", after.ExpiresAt)
	}
}

// TestIndexes: add and drop an index from the namespaces page, as the
// security layer allows.
func TestIndexes(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			e := newEnv(t, c.DSN(t), false, nil)
			ctx := t.Context()
			if err := e.inner.CreateNamespace(ctx, "people", storage.WithIndexes("age")); err != nil {
				t.Fatal(err)
			}
			if err := e.inner.CreateNamespace(ctx, "users"); err != nil {
				t.Fatal(err)
			}
			b := e.browser(t)
			b.signIn(adminToken)
			b.get("/console/namespaces").want(t, http.StatusOK, "Add an index", `aria-label="Drop the index on age of people"`)
			b.post("/console/namespaces/index/create", url.Values{"ns": {"people"}, "field": {"address.city"}}).want(t, http.StatusSeeOther)
			b.post("/console/namespaces/index/create", url.Values{"ns": {"people"}, "field": {"address.city"}}).want(t, http.StatusConflict, "Creating the index failed")
			b.post("/console/namespaces/index/drop", url.Values{"ns": {"people"}, "field": {"age"}}).want(t, http.StatusSeeOther)
			b.post("/console/namespaces/index/drop", url.Values{"ns": {"people"}, "field": {"age"}, "csrf": {"forged"}}).want(t, http.StatusForbidden)
			list, err := e.inner.ListNamespaces(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range list {
				if n.Name == "people" && strings.Join(n.Indexes, ",") != "address.city" {
					t.Fatalf("people declares %v, want [address.city]", n.Indexes)
				}
			}

			alice := e.browser(t)
			alice.signIn(aliceToken)
			alice.post("/console/namespaces/index/create", url.Values{"ns": {"people"}, "field": {"name"}}).want(t, http.StatusForbidden, "Permission denied")
			alice.post("/console/namespaces/index/drop", url.Values{"ns": {"people"}, "field": {"address.city"}}).want(t, http.StatusForbidden)
			alice.post("/console/namespaces/index/create", url.Values{"ns": {"users"}, "field": {"name"}}).want(t, http.StatusSeeOther)
			alice.get("/console/namespaces?msg=indexed").want(t, http.StatusOK, "Index created", "<code>name</code>")
		})
	}
}

// TestCSRFEveryForm: every form of the templates that posts carries the
// CSRF token, and every action they post to refuses a request without it,
// with another, or from another origin, changing nothing.
func TestCSRFEveryForm(t *testing.T) {
	form := regexp.MustCompile(`(?s)<form\b[^>]*method="post"[^>]*action="([^"]+)"[^>]*>(.*?)</form>`)
	var actions []string
	eachTemplate(t, func(path string, b []byte) {
		for _, m := range form.FindAllSubmatch(b, -1) {
			if !bytes.Contains(m[2], []byte(`name="csrf"`)) {
				t.Errorf("%s: the form posting to %s has no csrf field", path, m[1])
			}
			if a := string(m[1]); a != "/console/signin" && !slices.Contains(actions, a) {
				actions = append(actions, a) // sign-in: its own double submit, in TestCSRF
			}
		}
	})
	if len(actions) < 7 {
		t.Fatalf("found only the post forms %v", actions)
	}

	e := newEnv(t, "sqlite::memory:", false, nil)
	ctx := t.Context()
	in := storage.InNamespace("keep")
	if err := e.inner.CreateNamespace(ctx, "keep", storage.WithIndexes("f")); err != nil {
		t.Fatal(err)
	}
	if err := e.inner.Set(ctx, "k", 1, in); err != nil {
		t.Fatal(err)
	}
	b := e.browser(t)
	b.signIn(adminToken)
	fields := url.Values{"ns": {"keep"}, "key": {"k"}, "name": {"made"}, "field": {"g"}, "value": {"2"},
		"version": {"1"}, "confirm": {"keep"}, "recursive": {"on"}}
	for _, a := range actions {
		for _, tc := range []struct {
			name string
			csrf string
			hdr  []string
		}{
			{"no token", "", nil},
			{"another token", "not-the-token", nil},
			{"another origin", b.csrf, []string{"Origin", "http://evil.example"}},
		} {
			f := url.Values{}
			for k, v := range fields {
				f[k] = v
			}
			f.Set("csrf", tc.csrf)
			b.post(a, f, tc.hdr...).want(t, http.StatusForbidden, "did not come from this console")
		}
	}
	b.get("/console/status").want(t, http.StatusOK, "admin-pk") // still signed in
	if e, err := e.inner.Get(ctx, "k", in); err != nil || string(e.Value) != "1" {
		t.Fatalf("after the refused forms: %s, %v", e.Value, err)
	}
	list, err := e.inner.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		if n.Name == "made" || (n.Name == "keep" && strings.Join(n.Indexes, ",") != "f") {
			t.Fatalf("a refused form changed the namespaces: %+v", n)
		}
	}
}

// TestEveryControlLabelled: every form control of the templates (but
// hidden fields) has a label that names it (<label for>) or an aria-label.
func TestEveryControlLabelled(t *testing.T) {
	control := regexp.MustCompile(`<(?:input|select|textarea)\b[^>]*>`)
	id := regexp.MustCompile(`\sid="([^"]+)"`)
	controls := 0
	eachTemplate(t, func(path string, b []byte) {
		for _, c := range control.FindAll(b, -1) {
			if bytes.Contains(c, []byte(`type="hidden"`)) || bytes.Contains(c, []byte(`aria-label="`)) {
				continue
			}
			controls++
			m := id.FindSubmatch(c)
			if m == nil || !bytes.Contains(b, []byte(`<label for="`+string(m[1])+`"`)) {
				t.Errorf("%s: %s has no label", path, c)
			}
		}
	})
	if controls < 15 {
		t.Fatalf("found only %d form controls", controls)
	}
}

// eachTemplate calls f with the path and text of every template.
func eachTemplate(t *testing.T, f func(path string, b []byte)) {
	t.Helper()
	err := filepath.WalkDir("templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil {
			f(path, b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAdmit: every page that calls the store waits for the signed-in
// principal's turn under Config.Admit (the storage API's bounds, in
// cmd/storeserver) and ends it when written; a refused turn is a 503
// page, the store not called; the live tail, a stream, does not count.
func TestAdmit(t *testing.T) {
	var (
		mu      sync.Mutex
		asked   []string
		running int
		refuse  bool
		// inStore counts the turns not left yet; leftEarly those that
		// left the store before they ended (their page written).
		inStore, leftEarly int
	)
	e := newEnv(t, "sqlite::memory:", false, func(c *console.Config) {
		c.Admit = func(_ context.Context, p string, write bool) (func(), func(), error) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, fmt.Sprintf("%s %v", p, write))
			if refuse {
				return nil, nil, errors.New("its turn did not come in time")
			}
			running++
			inStore++
			var left bool
			leave := func() {
				mu.Lock()
				defer mu.Unlock()
				if !left {
					left = true
					inStore--
					leftEarly++
				}
			}
			return leave, func() {
				mu.Lock()
				defer mu.Unlock()
				running--
				if !left {
					left = true
					inStore--
				}
			}, nil
		}
	})
	b := e.browser(t)
	b.signIn(adminToken) // the namespaces page: one turn
	for _, path := range []string{"/console/namespaces", "/console/status", "/console/query", "/console/export" + q("ns", "default"),
		"/console/entries" + q("ns", "default")} {
		mu.Lock()
		n := len(asked)
		early := leftEarly
		mu.Unlock()
		b.get(path)
		mu.Lock()
		if len(asked) != n+1 || asked[n] != "admin-pk false" || running != 0 || inStore != 0 {
			t.Errorf("GET %s: turns asked %v (before %d), %d still running, %d in the store; want one more for admin-pk, ended",
				path, asked, n, running, inStore)
		}
		// A page leaves the store before it is written (a client reading
		// it slowly holds no place in the store); an export reads the
		// store as it writes, and leaves it when it ends.
		if wantEarly := !strings.Contains(path, "export"); (leftEarly > early) != wantEarly {
			t.Errorf("GET %s: the turn left the store before the page was written: %v, want %v", path, leftEarly > early, wantEarly)
		}
		mu.Unlock()
	}
	mu.Lock()
	refuse = true
	mu.Unlock()
	p := b.get("/console/namespaces")
	p.want(t, http.StatusServiceUnavailable, "its turn did not come in time")
	b.post("/console/namespaces/create", url.Values{"name": {"refused"}}).want(t, http.StatusServiceUnavailable)
	mu.Lock()
	if last := asked[len(asked)-1]; last != "admin-pk true" {
		t.Errorf("a form asked for its turn as %q, want a write", last)
	}
	mu.Unlock()
	list, err := e.sec.ListNamespaces(principal(t, "admin-pk"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		if n.Name == "refused" {
			t.Error("a refused form reached the store: the namespace was created")
		}
	}
}

// TestAdmitScan: with Config.AdmitScan set, the pages whose store calls
// are scans (entries, query; the namespaces page and a namespace's delete
// confirmation, which count entries) ask it for their turn instead of Admit, so
// that they count under the storage API's MaxScansInStore as its list,
// query and count do; every other page still asks Admit. A refusal of
// AdmitScan refuses the page (503) without calling the store.
func TestAdmitScan(t *testing.T) {
	var (
		mu     sync.Mutex
		asked  []string
		refuse bool
	)
	turn := func(kind string) (func(), func(), error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, kind)
		if refuse {
			return nil, nil, errors.New("no scan place in time")
		}
		return func() {}, func() {}, nil
	}
	e := newEnv(t, "sqlite::memory:", false, func(c *console.Config) {
		c.Admit = func(_ context.Context, _ string, write bool) (func(), func(), error) {
			return turn(fmt.Sprintf("admit %v", write))
		}
		c.AdmitScan = func(_ context.Context, _ string) (func(), func(), error) { return turn("scan") }
	})
	b := e.browser(t)
	b.signIn(adminToken)
	for path, want := range map[string]string{
		"/console/namespaces":                             "scan",
		"/console/namespaces/delete" + q("ns", "default"): "scan",
		"/console/status":                                 "admit false",
		"/console/export" + q("ns", "default"):            "admit false",
		"/console/entries" + q("ns", "default"):           "scan",
		"/console/query" + q("ns", "default"):             "scan",
		"/console/entry/new" + q("ns", "default"):         "admit false",
	} {
		mu.Lock()
		n := len(asked)
		mu.Unlock()
		b.get(path)
		mu.Lock()
		if len(asked) != n+1 || asked[n] != want {
			t.Errorf("GET %s: turns asked %v (before %d), want one more: %q", path, asked, n, want)
		}
		mu.Unlock()
	}
	mu.Lock()
	refuse = true
	mu.Unlock()
	b.get("/console/query"+q("ns", "default")).want(t, http.StatusServiceUnavailable, "no scan place in time")
}

// TestExportBounds: an export holds its turn under Config.Admit (a place
// among the storage API's MaxRequestsInStore) for up to ten times the
// timeout, so a few principals' exports of large namespaces could take
// every place for minutes. A principal runs one export at a time, and the
// console Config.MaxExports (default 2) at once; one beyond is 503 at
// once (a principal's second, 429), before it asks for a turn.
func TestExportBounds(t *testing.T) {
	var (
		hold    atomic.Bool
		waiting atomic.Int64
	)
	release := make(chan struct{})
	e := newEnv(t, "sqlite::memory:", false, func(c *console.Config) {
		c.Admit = func(ctx context.Context, _ string, _ bool) (func(), func(), error) {
			if hold.Load() {
				// The turn of a long export: it ends when the test says.
				waiting.Add(1)
				select {
				case <-release:
				case <-ctx.Done():
				}
				waiting.Add(-1)
			}
			return func() {}, func() {}, nil
		}
	})
	if err := e.sec.CreateNamespace(principal(t, "admin-pk"), "users"); err != nil {
		t.Fatal(err)
	}
	browsers := map[string]*browser{}
	for _, tok := range []string{adminToken, aliceToken, nobodyToken} {
		browsers[tok] = e.browser(t)
		browsers[tok].signIn(tok)
	}
	hold.Store(true)
	export := func(tok string) (int, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/console/export"+q("ns", "users"), nil)
		resp, err := browsers[tok].c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	var wg sync.WaitGroup
	long := func(tok string) {
		n := waiting.Load()
		wg.Go(func() {
			if st, body := export(tok); st != http.StatusOK {
				t.Errorf("the long export of %s: %d %s", tok, st, errorText(body))
			}
		})
		for deadline := time.Now().Add(5 * time.Second); waiting.Load() == n; {
			if time.Now().After(deadline) {
				t.Fatal("the long export did not start")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	long(adminToken)
	if st, body := export(adminToken); st != http.StatusTooManyRequests || !strings.Contains(body, "An export of yours is running") {
		t.Errorf("a second export of one principal: %d %s, want 429 at once", st, errorText(body))
	}
	long(aliceToken)
	if st, body := export(nobodyToken); st != http.StatusServiceUnavailable || !strings.Contains(body, "2 exports are running") {
		t.Errorf("a third export beside two running: %d %s, want 503 at once", st, errorText(body))
	}
	close(release)
	wg.Wait()
	// The places are given back.
	hold.Store(false)
	if st, body := export(adminToken); st != http.StatusOK {
		t.Errorf("an export after the others ended: %d %s", st, errorText(body))
	}
}

// errorText is the error of a console page, or the start of the body.
func errorText(body string) string {
	if i := strings.Index(body, `class="error"`); i >= 0 {
		return body[i:min(len(body), i+300)]
	}
	return body[:min(len(body), 300)]
}
