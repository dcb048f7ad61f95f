package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/testutil/slowconn"
	"github.com/mycelia-kernel/storage/internal/testutil/testdb"
)

// TestDrainEndsBlockedStream: Drain ends a watch stream at once even when
// its client reads nothing and the server is blocked writing a line to it
// (the socket buffers full), as the package documentation says (a
// graceful shutdown need not wait for a stream). Before, the blocked write
// held the stream until Config.Timeout (30 s by default) had passed for
// that line: storeserver's SIGTERM waited its whole --shutdown-timeout
// (15 s) and then exited 1, "in-flight requests did not finish".
func TestDrainEndsBlockedStream(t *testing.T) {
	ended := make(chan struct{})
	count := func(srv *http.Server) {
		h := srv.Handler
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.URL.Path == httpapi.StoragePrefix+"watch" {
				close(ended)
			}
		})
	}
	s := newServerWith(t, testdb.SQLiteFile(t), hostileAuth, httpapi.Config{Timeout: time.Minute}, nil, count)
	// A client that asks for a watch and reads nothing, with a small
	// receive buffer.
	conn := slowconn.Dial(t, strings.TrimPrefix(s.URL, "http://"))
	body := `{"options":{"namespace":"shared"}}`
	if _, err := fmt.Fprintf(conn, "POST %swatch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		httpapi.StoragePrefix, hAlice, len(body), body); err != nil {
		t.Fatal(err)
	}
	// Until the stream has started: its head and first line (the
	// revision it starts after); then nothing more is read.
	br := bufio.NewReaderSize(conn, 512)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("the watch did not start: %v", err)
		}
		if strings.HasPrefix(line, `{"success":true`) {
			break
		}
	}
	big := strings.Repeat("x", 256<<10)
	ctx := context.Background()
	for i := range 64 {
		if err := s.inner.Set(ctx, fmt.Sprintf("k%d", i), big, storage.InNamespace("shared")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // the stream writes until the sockets are full
	select {
	case <-ended:
		t.Fatal("the stream ended before Drain")
	default:
	}
	start := time.Now()
	s.h.Drain()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatalf("the blocked stream did not end within 5 s of Drain (Timeout is a minute)")
	}
	t.Logf("the blocked stream ended %v after Drain", time.Since(start))
}
