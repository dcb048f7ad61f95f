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

// addrListener accepts, in turn, connections from the given remote
// addresses (net.Pipe ends, whose other ends it keeps).
type addrListener struct {
	addrs []net.Addr
	peers []net.Conn
}

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

func (l *addrListener) Accept() (net.Conn, error) {
	if len(l.addrs) == 0 {
		return nil, net.ErrClosed
	}
	a, b := net.Pipe()
	l.peers = append(l.peers, b)
	c := addrConn{Conn: a, remote: l.addrs[0]}
	l.addrs = l.addrs[1:]
	return c, nil
}

func (l *addrListener) Close() error   { return nil }
func (l *addrListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv6loopback} }

// TestLimitConnsPerIPv6Prefix: an IPv6 client holds a /64 (or more), so
// it could open n connections from each of its addresses: the bound counts
// an IPv6 address by its /64 (IPv4 addresses one by one, IPv4-mapped IPv6
// as IPv4). Before, three addresses of one /64 got three connections
// under a bound of one.
func TestLimitConnsPerIPv6Prefix(t *testing.T) {
	tcp := func(s string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(s), Port: 4000} }
	ln := &addrListener{addrs: []net.Addr{
		tcp("2001:db8:1:2::1"),
		tcp("2001:db8:1:2::2"),      // same /64: closed
		tcp("2001:db8:1:2:ffff::9"), // same /64: closed
		tcp("2001:db8:1:3::1"),      // another /64
		tcp("192.0.2.1"),            // IPv4: one by one
		tcp("192.0.2.2"),            //
		tcp("::ffff:192.0.2.1"),     // IPv4-mapped: 192.0.2.1, closed
		tcp("2001:db8:1:2:abcd::1"), // the first /64 again: closed
	}}
	lim := httpapi.LimitConnsPerIP(ln, 1)
	var got []string
	for {
		c, err := lim.Accept()
		if err != nil {
			break
		}
		got = append(got, c.RemoteAddr().String())
	}
	fams := lim.(*httpapi.ConnLimiter).Families()
	if len(fams) != 1 || fams[0].Name != "storage_http_conns_refused_total" || fams[0].Samples[0].Value != 4 {
		t.Errorf("families %+v, want storage_http_conns_refused_total 4", fams)
	}
	want := []string{"[2001:db8:1:2::1]:4000", "[2001:db8:1:3::1]:4000", "192.0.2.1:4000", "192.0.2.2:4000"}
	if len(got) != len(want) {
		t.Fatalf("accepted %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("accepted %v, want %v", got, want)
		}
	}
}
