package httpapi_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestHostileStalledWatch: a client that opens a watch and never reads it
// cannot hold the stream (its goroutine, its connection and the engine's
// buffer of events) forever: a line the client does not take within
// Config.Timeout ends the stream and closes the connection.
func TestHostileStalledWatch(t *testing.T) {
	const timeout = 2 * time.Second
	s := newHostileServer(t, testdb.SQLiteFile(t), httpapi.Config{Timeout: timeout})
	body := `{"options":{"namespace":"shared"}}`
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/storage/watch HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		hAlice, len(body), body)
	// Read up to the stream's head, then stop reading.
	br := bufio.NewReaderSize(conn, 64)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, `"success":true`) {
			break
		}
	}
	// Far more than the socket buffers hold, far less than the engine's
	// watch buffer (so the engine never cuts the watch off as lagged).
	big := `{"key":"big","value":"` + strings.Repeat("x", 1<<20) + `","options":{"namespace":"shared"}}`
	for range 32 {
		s.must(t, "set", hBob, big)
	}
	time.Sleep(timeout + 3*time.Second)
	// Now read: a stream the server ended reaches its end; one it still
	// holds delivers everything, then waits for more.
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	rest, err := io.ReadAll(br)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a stream not read for %v is still open (%d bytes read after it, ending %q)", timeout+3*time.Second, len(rest), rest[max(0, len(rest)-300):])
	}
	t.Logf("the stalled stream ended: %d bytes after the stall, then %v", len(rest), err)
}
