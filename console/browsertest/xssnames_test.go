package browsertest

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mycelia-kernel/storage"
)

// TestXSSNamesAndParameters: markup where the console echoes what it was
// given rather than what is stored (namespace names, which the store
// refuses with the name in its message; key prefixes; filters and sort
// fields; a missing key; the sign-in page's next; the namespace and
// index forms) is shown as text, and nothing in it runs or becomes an
// element. TestXSS covers stored keys, values and metadata.
func TestXSSNamesAndParameters(t *testing.T) {
	s := newSite(t)
	if err := s.inner.Set(context.Background(), "k", map[string]any{"v": 1}, storage.InNamespace("xss")); err != nil {
		t.Fatal(err)
	}
	check := func(what string, wantText bool, h string) {
		t.Helper()
		s.do("wait for the page", chromedp.WaitVisible(chromedp.CSS("main h1")))
		ran := run(s, "window.__xss", chromedp.Evaluate[bool](`window.__xss !== undefined`))
		injected := run(s, "injected elements", chromedp.Evaluate[int](
			`document.querySelectorAll("img, svg, script:not([src]), main script").length`))
		if ran || injected != 0 {
			t.Errorf("%s: script ran %v, %d injected elements", what, ran, injected)
		}
		if wantText {
			// Quoted in the store's message (%q): its markup part.
			if body := s.text("main"); !strings.Contains(body, "window.__xss") {
				t.Errorf("%s does not show the hostile text %q as text: %q", what, h, body)
			}
		}
	}
	// Signed out: the sign-in page keeps next in a hidden field.
	for _, h := range hostile {
		path := "/console/signin?" + url.Values{"next": {"/console/entries?ns=" + h}}.Encode()
		s.open(path)
		check(path, false, h)
	}
	s.signIn(adminToken)
	for _, h := range hostile {
		filter := `{"field":` + jsonString(h) + `,"operator":"eq","value":1}`
		for _, path := range []string{
			"/console/entries?" + url.Values{"ns": {h}}.Encode(),
			"/console/entries?" + url.Values{"ns": {"xss"}, "prefix": {h}}.Encode(),
			"/console/namespaces/delete?" + url.Values{"ns": {h}}.Encode(),
			"/console/entry?" + url.Values{"ns": {h}, "key": {"k"}}.Encode(),
			"/console/entry?" + url.Values{"ns": {"xss"}, "key": {h}}.Encode(),
			"/console/entry/new?" + url.Values{"ns": {h}}.Encode(),
			"/console/query?" + url.Values{"ns": {h}, "run": {"1"}}.Encode(),
			"/console/query?" + url.Values{"ns": {"xss"}, "run": {"1"}, "filter": {filter}}.Encode(),
			"/console/query?" + url.Values{"ns": {"xss"}, "run": {"1"}, "sort": {h}}.Encode(),
		} {
			s.open(path)
			check(path, false, h)
		}
		// The forms: a namespace by that name, an index on that field.
		s.open("/console/namespaces")
		s.do("create "+h, chromedp.WaitVisible(chromedp.ID("ns-name")),
			chromedp.SetValue(chromedp.ID("ns-name"), h), chromedp.Submit(chromedp.ID("ns-name")),
			chromedp.WaitVisible(chromedp.CSS(".notice, #error")))
		check("create namespace "+h, true, h)
		s.open("/console/namespaces")
		s.do("index "+h, chromedp.WaitVisible(chromedp.ID("ix-field")),
			chromedp.SetValue(chromedp.ID("ix-field"), h), chromedp.Submit(chromedp.ID("ix-field")),
			chromedp.WaitVisible(chromedp.CSS(".notice, #error")))
		check("create index "+h, true, h)
	}
	list, err := s.inner.ListNamespaces(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		if strings.ContainsAny(n.Name, "<>\"'") {
			t.Errorf("a namespace named %q was created", n.Name)
		}
	}
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
