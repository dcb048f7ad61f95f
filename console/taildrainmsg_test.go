package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestDrainTailReconnects: Drain ends a live tail without an "error"
// event, so that the browser reconnects (to the next server) as the
// documentation says: the console's script takes an "error" event for
// the end of the tail, says it stopped and closes the EventSource. Before,
// a drained tail sent the watch's cancellation as an "error" event, and
// the browser stopped for good.
func TestDrainTailReconnects(t *testing.T) {
	var h *console.Handler
	e := newEnvServer(t, testdb.SQLiteFile(t), false, nil, func(s *httptest.Server) {
		h = s.Config.Handler.(*console.Handler)
	})
	b := e.browser(t)
	b.signIn(adminToken)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+"/console/status/changes", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.c.Do(req) //nolint:bodyclose // closed below, and read to its end by the goroutine
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, len(": live changes\n\n"))
	if _, err := io.ReadFull(resp.Body, head); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the tail: %d %q %v", resp.StatusCode, head, err)
	}
	h.Drain()
	done := make(chan string, 1)
	go func() {
		rest, _ := io.ReadAll(resp.Body)
		done <- string(rest)
	}()
	select {
	case rest := <-done:
		if strings.Contains(rest, "event: error") {
			t.Errorf("Drain ended the tail with an error event, which stops the browser's tail for good: %q", rest)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the tail did not end at Drain")
	}
}
