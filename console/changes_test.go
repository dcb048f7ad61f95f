package console_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
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

			st, err := e.inner.Status(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/console/status/changes", nil)
			req.Header.Set("Last-Event-ID", strconv.FormatInt(st.Revision, 10))
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("live tail: %d %s", resp.StatusCode, ct)
			}
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
