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
	open := func(b *browser, lastID string) (*http.Response, string) {
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
			return resp, ""
		}
		data, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return resp, string(data)
	}
	refused := func(what string, resp *http.Response, body string, status int) {
		t.Helper()
		ct := resp.Header.Get("Content-Type")
		if resp.StatusCode != status || !strings.HasPrefix(ct, "text/event-stream") ||
			!strings.HasPrefix(body, "event: error\ndata: \"") || !strings.HasSuffix(body, "\"\n\n") ||
			(status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "") {
			t.Errorf("%s = %d %s (Retry-After %q) %q; want %d, an error event", what, resp.StatusCode, ct, resp.Header.Get("Retry-After"), body, status)
		}
	}
	admin := e.browser(t)
	admin.signIn(adminToken)
	resp, body := open(admin, "x")
	refused("a tail with a malformed Last-Event-ID", resp, body, http.StatusBadRequest)
	if resp, _ := open(admin, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("admin's tail = %d", resp.StatusCode)
	}
	resp, body = open(admin, "")
	refused("admin's tail beyond its bound", resp, body, http.StatusServiceUnavailable)
	alice := e.browser(t)
	alice.signIn(aliceToken)
	resp, body = open(alice, "")
	refused("alice's tail beyond the server's bound", resp, body, http.StatusServiceUnavailable)
}
