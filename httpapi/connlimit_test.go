package httpapi_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/httpapi"
)

// closedSoon reports whether the server closed c without a byte: a read
// ends (EOF, reset) before the deadline rather than timing out.
func closedSoon(t *testing.T, c net.Conn) bool {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return n == 0 && err != nil
}

// get sends GET /healthz on c and returns the status.
func get(t *testing.T, c net.Conn) int {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0
	}
	buf := make([]byte, 12)
	if _, err := io.ReadFull(c, buf); err != nil {
		return 0
	}
	var status int
	for _, b := range buf[9:12] {
		status = 10*status + int(b-'0')
	}
	return status
}

// TestLimitConnsPerIP: one remote address holds at most n connections; one
// beyond is closed at accept, before a byte; a connection closed makes
// room; another address (127.0.0.2, loopback too, where the system has it)
// has room of its own.
func TestLimitConnsPerIP(t *testing.T) {
	const n = 3
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }),
		ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(httpapi.LimitConnsPerIP(ln, n)) }()
	t.Cleanup(func() { _ = srv.Close() })
	dial := func(local string) net.Conn {
		t.Helper()
		d := net.Dialer{Timeout: 5 * time.Second}
		if local != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			if local != "" {
				return nil
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	held := make([]net.Conn, n)
	for i := range held {
		held[i] = dial("")
	}
	over := dial("")
	if !closedSoon(t, over) {
		t.Fatalf("connection %d of one address was not closed at accept", n+1)
	}
	for i, c := range held {
		if st := get(t, c); st != 204 {
			t.Errorf("held connection %d: GET = %d, want 204", i, st)
		}
	}
	if other := dial("127.0.0.2"); other == nil {
		t.Log("127.0.0.2 is not available here; the other address is not tried")
	} else if st := get(t, other); st != 204 {
		t.Errorf("another address's connection: GET = %d, want 204", st)
	}
	_ = held[0].Close()
	// The server sees the close when it next reads from the connection:
	// room comes back then, and a new connection is served.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dial("")
		if st := get(t, c); st == 204 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no room after a connection closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := httpapi.LimitConnsPerIP(ln, 0); got != ln {
		t.Error("LimitConnsPerIP(ln, 0) is not ln")
	}
}
