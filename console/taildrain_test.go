package console_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/internal/testutil/slowconn"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestDrainEndsBlockedTail: Drain (storeserver's SIGTERM) ends a live
// tail at once even when the browser reads nothing and the handler is
// blocked writing a change to it (the socket buffers full), as it says
// (a graceful shutdown need not wait for the tails). Before, the blocked
// write held the tail until Config.Timeout had passed for that change: the
// shutdown waited for it, up to its own timeout.
func TestDrainEndsBlockedTail(t *testing.T) {
	var h *console.Handler
	ended := make(chan struct{})
	e := newEnvServer(t, testdb.SQLiteFile(t), false, func(c *console.Config) { c.Timeout = time.Minute }, func(s *httptest.Server) {
		h = s.Config.Handler.(*console.Handler)
		s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.URL.Path == "/console/status/changes" {
				close(ended)
			}
		})
	})
	b := e.browser(t)
	b.signIn(adminToken)
	u, err := url.Parse(e.srv.URL + "/console/status/changes")
	if err != nil {
		t.Fatal(err)
	}
	var cookies []string
	for _, c := range b.c.Jar.Cookies(u) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	// A browser that opens the tail and reads nothing, with a small
	// receive buffer.
	conn := slowconn.Dial(t, u.Host)
	if _, err := fmt.Fprintf(conn, "GET /console/status/changes HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nCookie: %s\r\n\r\n",
		u.Host, strings.Join(cookies, "; ")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(conn, 512)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the tail did not start: %v", err)
		}
		if strings.HasPrefix(line, ": live changes") {
			break
		}
	}
	// Far more changes than the sockets hold (the tail omits values: long
	// keys make the events large).
	ctx := context.Background()
	items := make([]storage.Item, 5000)
	for round := range 4 {
		for i := range items {
			items[i] = storage.Item{Key: fmt.Sprintf("%d-%05d-%s", round, i, strings.Repeat("k", 900)), Value: 1}
		}
		if res, err := e.inner.SetMany(ctx, items, storage.InNamespace("big")); err != nil || !res.OK() {
			t.Fatal(err, res)
		}
	}
	time.Sleep(200 * time.Millisecond) // the tail writes until the sockets are full
	select {
	case <-ended:
		t.Fatal("the tail ended before Drain")
	default:
	}
	start := time.Now()
	h.Drain()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatalf("the blocked tail did not end within 5 s of Drain (Timeout is a minute)")
	}
	t.Logf("the blocked tail ended %v after Drain", time.Since(start))
}
