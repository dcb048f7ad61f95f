package console_test

import (
	"bufio"
	"encoding/json"
	"fmt"
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
	// The handler goes, not blocked in a write: within the timeout and
	// the engine's patience, on a quiet machine. The test reads nothing
	// for that long (reading earlier would unblock the handler's write and
	// let the tail go on), then waits up to 30 s more for the handler to
	// go, as a loaded machine (-race, other test binaries) may take
	// seconds more to run the handler's next write.
	time.Sleep(timeout + 3*time.Second)
	gone := waitNoFrame(t, "console.(*Handler).changes",
		fmt.Sprintf("a live tail not read for %v is still served", timeout+3*time.Second+30*time.Second))
	t.Logf("the handler had gone %v after the stall", gone)
	// And the server has closed the tail's connection: no connection of
	// the test server is still served once the client's idle ones are
	// closed (the tail's is not idle: its body is unread). That is checked
	// on the server's side: the client may never learn of the close, as
	// the kernel can drop an orphaned connection whose peer advertised a
	// zero window without telling the peer (a CI run waited 10 s for EOF
	// in vain, though the server's connection was gone).
	b.c.CloseIdleConnections()
	gone = waitNoFrame(t, "net/http.(*conn).serve",
		fmt.Sprintf("a live tail not read for %v still has its connection served", timeout+3*time.Second))
	t.Logf("the server had closed the stalled tail's connection %v after its handler went", gone)
}

// waitNoFrame waits up to 30 s until no goroutine's stack holds frame and
// returns how long that took; else it fails with msg and the stacks
// around the frame.
func waitNoFrame(t *testing.T, frame, msg string) time.Duration {
	t.Helper()
	buf := make([]byte, 64<<20) // every goroutine's stack, never cut
	start := time.Now()
	for {
		st := string(buf[:runtime.Stack(buf, true)])
		i := strings.Index(st, frame)
		if i < 0 {
			return time.Since(start).Round(time.Millisecond)
		}
		if time.Since(start) > 30*time.Second {
			around := st[max(0, i-2000):]
			t.Fatalf("%s:\n%s", msg, around[:min(len(around), 3000)])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLiveTailsPerPrincipal: one principal holds at most
// Config.MaxTailsPerPrincipal live tails at once (each a watch, a
// goroutine and a connection); one beyond is refused, 429 (it was 503,
// which says the server is down), and another principal's tail still
// opens.
func TestLiveTailsPerPrincipal(t *testing.T) {
	e := newEnv(t, testdb.SQLiteFile(t), false, nil)
	open := func(b *browser) (int, func()) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+"/console/status/changes", nil)
		resp, err := b.c.Do(req) //nolint:bodyclose // closed here on a refusal, by the returned func on a tail
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			_ = resp.Body.Close()
			return resp.StatusCode, func() {}
		}
		return resp.StatusCode, func() { _ = resp.Body.Close() }
	}
	admin := e.browser(t)
	admin.signIn(adminToken)
	// Each tail on its own connection: a client of its own.
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for i := range console.DefaultMaxTailsPerPrincipal {
		st, c := open(admin)
		if st != http.StatusOK {
			t.Fatalf("admin's tail %d = %d", i+1, st)
		}
		closers = append(closers, c)
	}
	if st, _ := open(admin); st != http.StatusTooManyRequests {
		t.Errorf("admin's tail %d = %d, want 429", console.DefaultMaxTailsPerPrincipal+1, st)
	}
	alice := e.browser(t)
	alice.signIn(aliceToken)
	if st, c := open(alice); st != http.StatusOK {
		t.Errorf("alice's tail beside admin's = %d", st)
	} else {
		closers = append(closers, c)
	}
}
