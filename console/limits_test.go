package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/console"
)

// TestSessionsPerPrincipal: one principal's sign-ins cannot fill the
// console's MaxSessions and keep every other principal from signing in.
// It holds at most DefaultMaxSessionsPerPrincipal sessions: signing in
// once more ends its least recently used one. Before, a holder of any
// token (nobody's, with no grant at all) signed in MaxSessions times and
// the administrator's sign-in was refused (503, "too many sessions") until
// they idled out, which a request now and then kept from happening for up
// to SessionMax (12 h).
func TestSessionsPerPrincipal(t *testing.T) {
	const limit = 300 // > DefaultMaxSessionsPerPrincipal
	e := newEnv(t, "sqlite::memory:", false, func(c *console.Config) { c.MaxSessions = limit })
	// The sign-in form's token is a double submit: the cookie and the field
	// agree, whatever their value.
	signIn := func(token string) (int, []*http.Cookie) {
		form := url.Values{"token": {token}, "csrf": {"x"}}
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/console/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "console_login", Value: "x"})
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Cookies()
	}
	var first, last *http.Cookie
	for i := range limit {
		st, cookies := signIn(nobodyToken)
		if st != http.StatusSeeOther {
			t.Fatalf("nobody's sign-in %d: %d", i+1, st)
		}
		for _, c := range cookies {
			if c.Name == "console_session" {
				if first == nil {
					first = c
				}
				last = c
			}
		}
	}
	if st, _ := signIn(adminToken); st != http.StatusSeeOther {
		t.Fatalf("admin's sign-in after nobody's %d: %d", limit, st)
	}
	status := func(c *http.Cookie) int {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/console/status", nil)
		req.AddCookie(c)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if st := status(last); st != http.StatusOK {
		t.Errorf("nobody's last session: %d", st)
	}
	if st := status(first); st != http.StatusSeeOther {
		t.Errorf("nobody's first session, least recently used of %d: %d, want 303 (signed out)", limit, st)
	}
}

// TestFormTooLarge: a form over Config.MaxBodyBytes (an entry's value
// pasted whole) is refused as too large, 413, not as a forged form: before,
// the cut body lost its CSRF field and the page said 403 "This form did
// not come from this console's page", sending the user to reload and try
// again, which failed the same way.
func TestFormTooLarge(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, func(c *console.Config) { c.MaxBodyBytes = 4096 })
	b := e.browser(t)
	b.signIn(adminToken)
	big := `"` + strings.Repeat("x", 8192) + `"`
	p := b.post("/console/entry/save", url.Values{"ns": {"users"}, "key": {"k"}, "version": {"0"}, "value": {big}})
	p.want(t, http.StatusRequestEntityTooLarge, "4096 bytes")
	other := e.browser(t)
	other.get("/console/signin")
	p = other.post("/console/signin", url.Values{"token": {strings.Repeat("t", 8192)}})
	p.want(t, http.StatusRequestEntityTooLarge, "4096 bytes")
	// Within the bound the form goes through.
	b.post("/console/entry/save", url.Values{"ns": {"users"}, "key": {"k"}, "version": {"0"}, "value": {`"small"`}}).
		want(t, http.StatusSeeOther)
}
