package browsertest

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

var updateDocs = flag.Bool("update-docs", false, "also write the README's screenshots to ../../docs/console/")

// The tokens of the test auth file.
const (
	adminToken  = "admin-token-0123456789abcdef"
	nobodyToken = "nobody-token-0123456789abcdef"
	readerToken = "reader-token-0123456789abcdef"
)

const authFile = `{"principals": [
 {"token": "` + adminToken + `", "pkr": "admin-pk",
  "profiles": [{"name": "admin", "scopes": {"storage://namespace/*": "rw", "principal://*": "rw"}}]},
 {"token": "ops-token-0123456789abcdef", "pkr": "ops-pk",
  "profiles": [{"name": "ops", "scopes": {"storage://namespace/*": "rw"}}]},
 {"token": "` + nobodyToken + `", "pkr": "nobody-pk", "profiles": []},
 {"token": "` + readerToken + `", "pkr": "reader-pk",
  "profiles": [{"name": "users-r", "scopes": {"storage://namespace/users": "r"}}]}
]}`

// site is the console under test and a browser tab on it.
type site struct {
	t     *testing.T
	inner *sqlstore.Store
	sec   *security.Store
	url   string
	ctx   context.Context // the tab
	shots string
}

// chromiumPath finds the browser: $CONSOLE_CHROMIUM, else chromium on the
// PATH.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("CONSOLE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium: .ci/run installs Debian's chromium package")
	}
	t.Skip("no chromium on the PATH (apt-get install chromium, or set CONSOLE_CHROMIUM)")
	return ""
}

// loopbackListener listens on a free loopback port.
func loopbackListener(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func newSite(t *testing.T) *site {
	t.Helper()
	return newSiteWith(t, nil)
}

// newSiteWith is newSite with mod, when not nil, called on the console's
// Config.
func newSiteWith(t *testing.T, mod func(*console.Config)) *site {
	t.Helper()
	exe := chromiumPath(t)
	ctx := context.Background()
	tokens, err := httpapi.ParseAuthFile([]byte(authFile))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inner.Close() })
	sec := security.NewStore(inner, tokens.Policy())
	cfg := console.Config{Store: sec, Auth: tokens, OpenTransactions: inner.OpenTransactions}
	if mod != nil {
		mod(&cfg)
	}
	h, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = loopbackListener(t)
	srv.Start()
	t.Cleanup(srv.Close)

	shots := os.Getenv("CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		// Every name but 127.0.0.1 fails to resolve: no traffic leaves the
		// machine, not even Chromium's own update and safe-browsing checks.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.NoSandbox, // root in a container: the sandbox cannot start
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelA)
	tab, cancelT := chromedp.NewContext(actx)
	t.Cleanup(cancelT)
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return &site{t: t, inner: inner, sec: sec, url: srv.URL, ctx: tab, shots: shots}
}

// do runs steps with a deadline, failing the test on error.
func (s *site) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(s.ctx, chromedp.Location())
		s.t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

func run[T any](s *site, what string, a chromedp.Action[T]) T {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (s *site) open(path string) { s.t.Helper(); s.do("open "+path, chromedp.Navigate(s.url+path)) }

// text is the text of the first element that sel matches.
// A page that has just loaded may still be replacing its document's
// nodes (CI saw "No node with given id found" right after a notice of the
// new page showed): an error is tried again until the deadline.
func (s *site) text(sel string) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil {
			return v
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("text of %s: %v", sel, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shot saves a full-page screenshot as name.png; doc also copies it to
// docs/console when -update-docs is given.
func (s *site) shot(name string, doc bool) {
	s.t.Helper()
	png := run(s, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(s.shots, name+".png"), png, 0o644); err != nil {
		s.t.Fatal(err)
	}
	if doc && *updateDocs {
		dir := filepath.Join("..", "..", "docs", "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *site) signIn(token string) {
	s.t.Helper()
	s.open("/console/")
	s.do("sign in",
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("principal")),
	)
}

func (s *site) signOut() {
	s.t.Helper()
	s.do("sign out",
		chromedp.Click(chromedp.CSS(`form.signout button`)),
		chromedp.WaitVisible(chromedp.ID("token")),
	)
}

// waitNotice waits until the page's notice says text (after a form's
// redirect: the page before it may have a notice of its own, and a query
// made while the page changes fails, so it asks again).
func (s *site) waitNotice(text string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(".notice")||{}).textContent || ""`))
		cancel()
		if err == nil && got == text {
			return
		}
		last = got
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("the notice says %q, want %q", last, text)
}

// wantText waits until the first element that sel matches says want (a
// page that is still being replaced by the next one may say something
// else for a moment).
func (s *site) wantText(sel, want string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := s.text(sel)
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s says %q, want %q", sel, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *site) stored(ns, key string) storage.Entry {
	s.t.Helper()
	e, err := s.inner.Get(context.Background(), key, storage.InNamespace(ns))
	if err != nil {
		s.t.Fatalf("Get %s/%s: %v", ns, key, err)
	}
	return e
}

// saveEntry fills the entry form on the current page and saves it.
func (s *site) saveEntry(key, value, wait string) {
	s.t.Helper()
	steps := []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.ID("entry-value"))}
	if key != "" {
		steps = append(steps, chromedp.SendKeys(chromedp.ID("entry-key"), key))
	}
	steps = append(steps,
		chromedp.SetValue(chromedp.ID("entry-value"), value),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.CSS(wait)))
	s.do("save "+key, steps...)
}

// TestConsole walks the console as a person would: sign in, create a
// namespace, add entries, edit one while someone else writes it (the
// conflict is shown, nothing is overwritten), query, delete, look at the
// status, sign out; in a narrow window too, and by keyboard.
func TestConsole(t *testing.T) {
	s := newSite(t)
	s.open("/console/")
	s.do("sign-in page", chromedp.WaitVisible(chromedp.ID("token")))
	s.shot("signin", false)
	s.signIn(adminToken)

	s.do("create a namespace",
		chromedp.SendKeys(chromedp.ID("ns-name"), "people"),
		chromedp.SendKeys(chromedp.ID("ns-indexes"), "age, city"),
		chromedp.Submit(chromedp.ID("ns-name")),
	)
	s.waitNotice("Namespace created.")
	s.wantText("#namespaces", "people")
	s.wantText("#namespaces", "age")
	s.wantText("#namespaces", "city")

	// Indexes: add one, drop one.
	s.do("add an index",
		chromedp.SetValue(chromedp.ID("ix-ns"), "people"),
		chromedp.SendKeys(chromedp.ID("ix-field"), "name"),
		chromedp.Submit(chromedp.ID("ix-field")))
	s.waitNotice("Index created.")
	s.do("drop an index", chromedp.Click(chromedp.CSS(`button[aria-label="Drop the index on city of people"]`)))
	s.waitNotice("Index dropped.")
	if got := s.text("#namespaces"); strings.Contains(got, "city") || !strings.Contains(got, "name") {
		t.Fatalf("after adding name and dropping city: %q", got)
	}

	for _, e := range []struct{ key, value string }{
		{"ada", `{"name": "Ada", "age": 36, "city": "London"}`},
		{"grace", `{"name": "Grace", "age": 45, "city": "New York"}`},
		{"linus", `{"name": "Linus", "age": 28, "city": "Helsinki"}`},
	} {
		s.open("/console/entry/new?ns=people")
		s.saveEntry(e.key, e.value, "#value")
		s.wantText(".notice", "Entry saved")
	}
	s.wantText("#value", `"name": "Linus"`)
	s.open("/console/namespaces")
	s.wantText("#namespaces", "3")
	s.shot("namespaces", true)

	s.open("/console/entries?ns=people")
	s.wantText("#total", "3 entries")
	s.wantText("#entries", "admin-pk")
	s.shot("entries", true)

	// Edit ada while someone else writes it.
	s.open("/console/entry?ns=people&key=ada")
	s.wantText("#version", "1")
	s.shot("entry", false)
	s.do("type an edit", chromedp.SetValue(chromedp.ID("entry-value"), `{"name": "Ada (mine)", "age": 37}`))
	other := security.WithPrincipal(context.Background(), security.PKR{PublicKey: "ops-pk"})
	if err := s.sec.Set(other, "ada", map[string]any{"name": "Ada (theirs)", "age": 38}, storage.InNamespace("people")); err != nil {
		t.Fatal(err)
	}
	s.do("save the edit", chromedp.Click(chromedp.ID("save")), chromedp.WaitVisible(chromedp.ID("theirs-version")))
	s.wantText("#error", "changed after you loaded it")
	s.wantText("#theirs-version", "2")
	s.wantText("#theirs-value", "Ada (theirs)")
	s.wantText(".conflict", "ops-pk")
	if v := run(s, "the typed text", chromedp.Value(chromedp.ID("entry-value"))); !strings.Contains(v, "Ada (mine)") {
		t.Fatalf("the conflict page lost the typed text: %q", v)
	}
	if e := s.stored("people", "ada"); !strings.Contains(string(e.Value), "theirs") || e.Version != 2 {
		t.Fatalf("the conflict overwrote the concurrent write: %s v%d", e.Value, e.Version)
	}
	s.shot("conflict", true)
	s.do("save mine deliberately", chromedp.Click(chromedp.ID("save")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if e := s.stored("people", "ada"); !strings.Contains(string(e.Value), "mine") || e.Version != 3 {
		t.Fatalf("after saving over version 2: %s v%d", e.Value, e.Version)
	}

	// Query with the builder: the script keeps the JSON in step.
	s.open("/console/query?ns=people")
	s.do("build a filter",
		chromedp.SendKeys(chromedp.ID("f-field-0"), "age"),
		chromedp.SetValue(chromedp.ID("f-op-0"), "gte"),
		chromedp.SendKeys(chromedp.ID("f-value-0"), "37"),
		chromedp.SetValue(chromedp.ID("q-sort"), "age"),
		chromedp.SetValue(chromedp.ID("q-dir"), "desc"),
	)
	if js := run(s, "the JSON filter", chromedp.Value(chromedp.ID("q-filter"))); !strings.Contains(js, `"gte"`) || !strings.Contains(js, "37") {
		t.Fatalf("the builder script did not write the JSON filter: %q", js)
	}
	s.do("run the query", chromedp.Click(chromedp.ID("run-rows")), chromedp.WaitVisible(chromedp.ID("count")))
	s.wantText("#count", "2 matches")
	if got := s.text("#results tbody"); strings.Index(got, "grace") > strings.Index(got, "ada") {
		t.Fatalf("sorted by age descending, grace (45) comes first: %q", got)
	}
	s.shot("query", true)

	s.open("/console/status")
	s.wantText("#dialect", "sqlite")
	s.wantText("#size", "3 entries")
	s.wantText("#open-tx", "0")
	s.shot("status", false)

	// Delete an entry, then the namespace.
	s.open("/console/entry/delete?ns=people&key=linus")
	s.do("delete an entry", chromedp.Click(chromedp.ID("confirm-delete")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	s.wantText(".notice", "Entry deleted")
	s.wantText("#total", "2 entries")
	s.open("/console/namespaces/delete?ns=people")
	s.wantText("#doomed-count", "2")
	s.shot("delete-namespace", false)
	s.do("delete the namespace",
		chromedp.SendKeys(chromedp.ID("confirm"), "people"),
		chromedp.Submit(chromedp.ID("confirm")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := s.text("main"); strings.Contains(got, "people") {
		t.Fatalf("the namespaces page still shows people: %q", got)
	}

	// A narrow window: the page still fits (no horizontal scrolling of the
	// page itself; wide tables scroll inside their own region).
	s.do("narrow", chromedp.EmulateViewport(390, 844))
	if err := s.inner.Set(context.Background(), "a-rather-long-key:with:segments", map[string]any{"x": 1}, storage.InNamespace("narrow")); err != nil {
		t.Fatal(err)
	}
	s.open("/console/namespaces")
	if w := run(s, "page width", chromedp.Evaluate[float64](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("the namespaces page is %v px wide in a 390 px window", w)
	}
	s.shot("namespaces-narrow", true)
	s.do("wide again", chromedp.EmulateViewport(1200, 900))

	// Keyboard: the first Tab reaches the skip link, Enter moves to main.
	s.open("/console/namespaces")
	s.do("tab", chromedp.KeyEvent("\t"))
	if cls := run(s, "focused element", chromedp.Evaluate[string](`document.activeElement.className`)); cls != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", cls)
	}
	s.do("enter", chromedp.KeyEvent("\r"))
	if id := run(s, "focused element", chromedp.Evaluate[string](`document.activeElement.id`)); id != "main" {
		t.Errorf("the skip link moves focus to %q, want main", id)
	}

	s.signOut()
	s.open("/console/namespaces")
	s.do("signed out", chromedp.WaitVisible(chromedp.ID("token")))
}

// TestNoGrants: a principal without grants sees nothing of others.
func TestNoGrants(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	if err := s.inner.Set(ctx, "plan", map[string]any{"top": "secret"}, storage.InNamespace("secret")); err != nil {
		t.Fatal(err)
	}
	s.signIn(nobodyToken)
	s.wantText("#empty", "You may read no namespace")
	s.shot("nobody", false)
	for _, path := range []string{"/console/entries?ns=secret", "/console/entry?ns=secret&key=plan", "/console/query?ns=secret&run=1"} {
		s.open(path)
		s.wantText("#error", "Permission denied")
		if body := s.text("body"); strings.Contains(body, "top") || strings.Contains(body, "plan\n") {
			t.Fatalf("%s shows the secret: %q", path, body)
		}
	}
	s.open("/console/status")
	if n := run(s, "size shown", chromedp.Evaluate[int](`document.querySelectorAll("#size, #open-tx").length`)); n != 0 {
		t.Fatal("a principal without grants sees the store's size")
	}
}

// hostile are keys, values and metadata that would run script if a page
// did not escape them. Each sets window.__xss instead of calling alert, so
// a failure is seen, not blocked on a dialog.
var hostile = []string{
	`<script>window.__xss=1</script>`,
	`"><img src=x onerror="window.__xss=2">`,
	`'><svg onload="window.__xss=3">`,
	`</textarea><script>window.__xss=4</script>`,
}

// TestXSS: hostile keys, values and metadata are shown as text on every
// page, and nothing in them runs or becomes an element.
func TestXSS(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	in := storage.InNamespace("xss")
	for i, h := range hostile {
		md := storage.WithMetadata(map[string]any{"note": h})
		if err := s.inner.Set(ctx, h, map[string]any{"v": h, h: i}, in, md); err != nil {
			t.Fatal(err)
		}
	}
	s.signIn(adminToken)
	pages := []string{"/console/entries?ns=xss", "/console/query?" + url.Values{"ns": {"xss"}, "run": {"1"},
		"filter": {`{"field":"v","operator":"eq","value":"` + strings.ReplaceAll(hostile[0], `"`, `\"`) + `"}`}}.Encode()}
	for _, h := range hostile {
		q := url.Values{"ns": {"xss"}, "key": {h}}.Encode()
		pages = append(pages, "/console/entry?"+q, "/console/entry/delete?"+q)
	}
	for i, path := range pages {
		s.open(path)
		s.do("wait for the page", chromedp.WaitVisible(chromedp.CSS("main h1")))
		ran := run(s, "window.__xss", chromedp.Evaluate[bool](`window.__xss !== undefined`))
		injected := run(s, "injected elements", chromedp.Evaluate[int](
			`document.querySelectorAll("img, svg, script:not([src]), main script").length`))
		if ran || injected != 0 {
			t.Errorf("%s: script ran %v, %d injected elements", path, ran, injected)
		}
		if body := s.text("main"); !strings.Contains(body, "window.__xss") {
			t.Errorf("%s does not show the hostile text as text: %q", path, body)
		}
		if i == 2 {
			s.shot("xss-entry", false)
		}
	}
	// Saving an entry whose value holds a hostile string keeps it as text.
	s.open("/console/entry?" + url.Values{"ns": {"xss"}, "key": {hostile[1]}}.Encode())
	s.do("save", chromedp.Click(chromedp.ID("save")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if ran := run(s, "window.__xss", chromedp.Evaluate[bool](`window.__xss !== undefined`)); ran {
		t.Fatal("script ran after saving")
	}
	if e := s.stored("xss", hostile[1]); !strings.Contains(string(e.Value), `\u003cimg`) && !strings.Contains(string(e.Value), `<img`) {
		t.Fatalf("the saved value lost its text: %s", e.Value)
	}
}

// TestCSRF: a page of another origin that posts a form to the console,
// with the signed-in browser's cookies, changes nothing.
func TestCSRF(t *testing.T) {
	s := newSite(t)
	s.signIn(adminToken)
	// Another origin (another port of 127.0.0.1: same site, so even the
	// SameSite=Strict cookie goes along) with a self-submitting form.
	evil := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>evil</title>
<form id=f method=post action="%s/console/namespaces/create">
<input name=name value=pwned><input name=csrf value=guessed></form>
<script>document.getElementById("f").submit()</script>`, s.url)
	}))
	evil.Listener = loopbackListener(t)
	evil.Start()
	t.Cleanup(evil.Close)
	s.do("visit the other site", chromedp.Navigate(evil.URL), chromedp.WaitVisible(chromedp.ID("error")))
	s.wantText("#error", "did not come from this console")
	s.shot("csrf-refused", false)
	if _, err := s.inner.Count(context.Background(), storage.InNamespace("pwned")); err != nil {
		t.Fatal(err)
	}
	list, err := s.inner.ListNamespaces(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		if n.Name == "pwned" {
			t.Fatal("the cross-site form created a namespace")
		}
	}
	// The console's own form still works in the same browser.
	s.open("/console/namespaces")
	s.do("create", chromedp.SendKeys(chromedp.ID("ns-name"), "mine"), chromedp.Submit(chromedp.ID("ns-name")),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
}

// TestLiveTail: the status page's live tail shows changes as they are
// made, as text (a hostile key runs nothing), and only those the principal
// may read (reader-pk: the users namespace).
func TestLiveTail(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	s.signIn(readerToken)
	s.open("/console/status")
	s.do("wait for the live tail", chromedp.WaitVisible(chromedp.ID("tail-state")))
	deadline := time.Now().Add(20 * time.Second)
	for !strings.HasPrefix(s.text("#tail-state"), "Connected") {
		if time.Now().After(deadline) {
			t.Fatalf("the live tail says %q", s.text("#tail-state"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	pk, err := security.NewPKR("admin-pk", nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := security.WithPrincipal(ctx, pk)
	if err := s.sec.Set(admin, "hidden", 1, storage.InNamespace("secret")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{hostile[1], "last"} {
		if err := s.sec.Set(admin, k, 1, storage.InNamespace("users")); err != nil {
			t.Fatal(err)
		}
	}
	for !strings.Contains(s.text("#tail"), "users / last") {
		if time.Now().After(deadline) {
			t.Fatalf("the live tail shows %q", s.text("#tail"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	tail := s.text("#tail")
	if strings.Contains(tail, "secret") || !strings.Contains(tail, "users / "+hostile[1]) {
		t.Fatalf("alice's live tail: %q", tail)
	}
	ran := run(s, "window.__xss", chromedp.Evaluate[bool](`window.__xss !== undefined`))
	injected := run(s, "injected elements", chromedp.Evaluate[int](`document.querySelectorAll("#tail img, #tail svg, #tail script").length`))
	if ran || injected != 0 {
		t.Fatalf("the live tail ran a script (%v) or holds %d injected elements", ran, injected)
	}
	s.shot("status-live", false)

	// Signed out in another tab, the tail stops and says why; before, it
	// went on showing changes after the sign-out.
	tab2, cancel := chromedp.NewContext(s.ctx)
	defer cancel()
	// The first Run opens the tab; it must not carry a timeout.
	if err := chromedp.Do(tab2); err != nil {
		t.Fatal(err)
	}
	other := *s
	other.ctx = tab2
	other.open("/console/status")
	other.signOut()
	if err := s.sec.Set(admin, "after-signout", 1, storage.InNamespace("users")); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(s.text("#tail-state"), "your session ended") {
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("after sign-out the live tail says %q and shows %q", s.text("#tail-state"), s.text("#tail"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(s.text("#tail"), "after-signout") {
		t.Fatalf("the live tail showed a change made after sign-out: %q", s.text("#tail"))
	}
}
