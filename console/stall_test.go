package console_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestLiveTailStalled: a browser (or a script with a session) that opens
// the live tail and stops reading it cannot hold the stream forever: a
// change it does not take within Config.Timeout ends the stream and
// closes the connection.
func TestLiveTailStalled(t *testing.T) {
	const timeout = 2 * time.Second
	e := newEnv(t, testdb.SQLiteFile(t), false, func(c *console.Config) { c.Timeout = timeout })
	b := e.browser(t)
	b.signIn(adminToken)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+"/console/status/changes", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 16)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, ": live changes") {
		t.Fatalf("live tail: %d %q %v", resp.StatusCode, line, err)
	}
	// Then it reads nothing. 10,000 changes with long keys, ~11 MB of
	// events, more than the sockets hold: the handler's write blocks (the
	// engine cuts the watch off as lagged meanwhile, which the handler
	// sees only once its write returns).
	admin := principal(t, "admin-pk")
	long := strings.Repeat("k", 1000)
	for i := range 20 {
		items := make([]storage.Item, 500)
		for j := range items {
			items[j] = storage.Item{Key: fmt.Sprintf("%s%02d%04d", long, i, j), Value: json.RawMessage("1")}
		}
		if _, err := e.sec.SetMany(admin, items, storage.InNamespace("users")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(timeout + 3*time.Second)
	// The handler is gone, not blocked in a write.
	buf := make([]byte, 1<<20)
	if st := string(buf[:runtime.Stack(buf, true)]); strings.Contains(st, "console.(*Handler).changes") {
		t.Errorf("a live tail not read for %v is still served:\n%s", timeout+3*time.Second, st[strings.Index(st, "console.(*Handler).changes")-2000:][:3000])
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, br)
		done <- err
	}()
	select {
	case err := <-done:
		t.Logf("the stalled tail ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("a live tail not read for %v is still open", timeout+3*time.Second)
	}
}
