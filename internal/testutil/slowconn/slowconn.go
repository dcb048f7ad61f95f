// Package slowconn dials a TCP connection whose receive buffer is small
// (4 KiB), for tests of a client that stops reading: the server's writes
// to it block once the sockets' buffers are full.
package slowconn

import (
	"net"
	"syscall"
	"testing"
)

// Dial connects to addr (host:port) with a receive buffer of 4 KiB; the
// connection is closed when the test ends.
func Dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
