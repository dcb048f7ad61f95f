package main

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/slowconn"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestShutdownWithStreamsOpen: SIGTERM with watch streams open (one whose
// client reads along, one whose client reads nothing while the server is
// blocked writing to it) stops the server promptly and cleanly: exit 0,
// well within --shutdown-timeout. Before, the blocked stream held the
// shutdown for its whole timeout, and the server exited 1, "in-flight
// requests did not finish".
func TestShutdownWithStreamsOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := buildServer(t)
	s := start(t, bin, "--dsn", testdb.SQLiteFile(t), "--auth", writeAuthFile(t), "--shutdown-timeout", "30s", "--timeout", "1m")
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	// openWatch asks for a watch on a connection of its own (a small
	// receive buffer) and reads up to the stream's first line.
	openWatch := func() net.Conn {
		t.Helper()
		conn := slowconn.Dial(t, u.Host)
		body := `{"options":{"namespace":"app"}}`
		if _, err := fmt.Fprintf(conn, "POST %swatch HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			httpapi.StoragePrefix, u.Host, adminToken, len(body), body); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(conn, 512)
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("the watch did not start: %v\n%s", err, s.log())
			}
			if strings.HasPrefix(line, `{"success":true`) {
				_ = conn.SetReadDeadline(time.Time{})
				return conn
			}
		}
	}
	_ = openWatch() // reads nothing more
	reading := openWatch()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := reading.Read(buf); err != nil {
				return
			}
		}
	}()
	admin := s.client(t, adminToken)
	big := strings.Repeat("x", 256<<10)
	for i := range 64 {
		if err := admin.Set(t.Context(), fmt.Sprintf("k%d", i), big, storage.InNamespace("app")); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if code := s.stop(t); code != 0 || time.Since(start) > 10*time.Second {
		t.Fatalf("exit code %d %v after SIGTERM, want 0 within 10 s:\n%s", code, time.Since(start), s.log())
	}
	if strings.Contains(s.log(), "did not finish") {
		t.Errorf("the shutdown cut requests off:\n%s", s.log())
	}
}
