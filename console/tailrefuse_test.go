package console_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestLiveTailRefusals: a live tail refused before it starts answers its
// status with the tail's own form of an error (text/event-stream, an
// "error" event whose data is the message as a JSON string), a 503 with
// a Retry-After; and Config.MaxTails bounds the tails of all principals
// together, where the bound per principal alone let many principals hold
// as many as they liked. Before, the refusals were plain text
// (http.Error), and no bound held across principals.
func TestLiveTailRefusals(t *testing.T) {
	e := newEnv(t, testdb.SQLiteFile(t), false, func(c *console.Config) {
		c.MaxTailsPerPrincipal, c.MaxTails = 1, 1
	})
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	type answer struct {
		status int
		header http.Header
		body   string
	}
	open := func(b *browser, lastID string) answer {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+"/console/status/changes", nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := b.c.Do(req) //nolint:bodyclose // closed here on a refusal, at the end on a tail
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			closers = append(closers, func() { _ = resp.Body.Close() })
			return answer{resp.StatusCode, resp.Header, ""}
		}
		data, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return answer{resp.StatusCode, resp.Header, string(data)}
	}
	refused := func(what string, a answer, status int) {
		t.Helper()
		ct := a.header.Get("Content-Type")
		if a.status != status || !strings.HasPrefix(ct, "text/event-stream") ||
			!strings.HasPrefix(a.body, "event: error\ndata: \"") || !strings.HasSuffix(a.body, "\"\n\n") ||
			(status == http.StatusServiceUnavailable && a.header.Get("Retry-After") == "") {
			t.Errorf("%s = %d %s (Retry-After %q) %q; want %d, an error event", what, a.status, ct, a.header.Get("Retry-After"), a.body, status)
		}
	}
	admin := e.browser(t)
	admin.signIn(adminToken)
	refused("a tail with a malformed Last-Event-ID", open(admin, "x"), http.StatusBadRequest)
	if a := open(admin, ""); a.status != http.StatusOK {
		t.Fatalf("admin's tail = %d", a.status)
	}
	refused("admin's tail beyond its bound", open(admin, ""), http.StatusTooManyRequests)
	alice := e.browser(t)
	alice.signIn(aliceToken)
	refused("alice's tail beyond the server's bound", open(alice, ""), http.StatusServiceUnavailable)
}
