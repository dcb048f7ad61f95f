package console_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestLiveTail: the status page's live tail streams, as server-sent
// events, the changes the principal may read (alice: the users namespace
// only), each with its revision as the event id; Last-Event-ID resumes
// after it; signed out it redirects to the sign-in page.
func TestLiveTail(t *testing.T) {
	for _, c := range configs {
		t.Run(c.Name, func(t *testing.T) {
			e := newEnv(t, c.DSN(t), false, nil)
			b := e.browser(t)
			if p := b.get("/console/status/changes"); p.StatusCode != http.StatusSeeOther {
				t.Fatalf("signed out: %d", p.StatusCode)
			}
			b.signIn(aliceToken)
			b.get("/console/status").want(t, http.StatusOK, `id="tail"`, `data-src="/console/status/changes"`)

			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			resp := b.openTail(ctx)
			defer resp.Body.Close()
			admin := principal(t, "admin-pk")
			for _, w := range []struct{ ns, key string }{{"secret", "s"}, {"users", "<script>u1</script>"}, {"users", "end"}} {
				if err := e.sec.Set(admin, w.key, 1, storage.InNamespace(w.ns)); err != nil {
					t.Fatal(err)
				}
			}
			var ids, data []string
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "id: "):
					ids = append(ids, strings.TrimPrefix(line, "id: "))
				case strings.HasPrefix(line, "data: "):
					data = append(data, strings.TrimPrefix(line, "data: "))
				}
				if strings.Contains(line, `"key":"end"`) {
					break
				}
			}
			all := strings.Join(data, "\n")
			if strings.Contains(all, "secret") || !strings.Contains(all, `"key":"\u003cscript\u003eu1\u003c/script\u003e"`) ||
				!strings.Contains(all, `"type":"put"`) || strings.Contains(all, `"value"`) {
				t.Fatalf("alice's live tail:\n%s", all)
			}
			if len(ids) != len(data) || len(ids) < 2 {
				t.Fatalf("ids %q for %d events", ids, len(data))
			}
		})
	}
}

// TestLiveTailEndsWithSession: the live tail is the session's, and ends
// when the session does: at sign-out (from another tab of the browser),
// and once the session is older than SessionMax, with an "error" event
// saying so (the page's script then stops, where it would reconnect after
// a drain). Before, a tail opened while signed in went on streaming the
// store's changes (namespace, key, revision) after its session was signed
// out or had expired, for as long as the tab stayed open.
func TestLiveTailEndsWithSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  time.Duration
		end  func(b *browser)
	}{
		{"signout", 0, func(b *browser) {
			b.post("/console/signout", url.Values{}).want(t, http.StatusSeeOther)
		}},
		{"sessionmax", 2 * time.Second, func(*browser) { time.Sleep(2500 * time.Millisecond) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testdb.SQLiteFile(t), false, func(c *console.Config) { c.SessionMax = tc.max })
			b := e.browser(t)
			b.signIn(adminToken)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			resp := b.openTail(ctx)
			defer func() { _ = resp.Body.Close() }()
			lines := make(chan string)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					select {
					case lines <- sc.Text():
					case <-ctx.Done():
						return
					}
				}
			}()
			if l := <-lines; !strings.HasPrefix(l, ":") {
				t.Fatalf("first line %q", l)
			}
			admin := principal(t, "admin-pk")
			set := func(key string) {
				if err := e.sec.Set(admin, key, 1, storage.InNamespace("ops")); err != nil {
					t.Fatal(err)
				}
			}
			set("before")
			for l := range lines {
				if strings.Contains(l, `"key":"before"`) {
					break
				}
			}
			tc.end(b)
			set("after-the-session")
			var rest []string
			for l := range lines {
				rest = append(rest, l)
			}
			got := strings.Join(rest, "\n")
			if ctx.Err() != nil {
				t.Fatalf("the tail was still open 20 s after its session ended; it sent:\n%s", got)
			}
			if strings.Contains(got, "after-the-session") {
				t.Fatalf("the tail streamed a change after its session ended:\n%s", got)
			}
			if !strings.Contains(got, "event: error") || !strings.Contains(got, "session") {
				t.Fatalf("the tail ended without saying the session did:\n%s", got)
			}
		})
	}
}

// openTail opens the live tail from the store's revision now (the watch
// may start after a change written just after this returns), and fails
// the test unless it is a stream.
func (b *browser) openTail(ctx context.Context) *http.Response {
	b.t.Helper()
	st, err := b.e.inner.Status(ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.e.srv.URL+"/console/status/changes", nil)
	req.Header.Set("Last-Event-ID", strconv.FormatInt(st.Revision, 10))
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		_ = resp.Body.Close()
		b.t.Fatalf("live tail: %d %s", resp.StatusCode, ct)
	}
	return resp
}
