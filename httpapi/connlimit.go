package httpapi

import (
	"net"
	"sync"
	"sync/atomic"
)

// DefaultMaxConnsPerIP is the number of connections one remote IP address
// may hold open at once in storeserver (--max-conns-per-ip).
const DefaultMaxConnsPerIP = 256

// LimitConnsPerIP returns a listener that accepts at most n connections
// from one remote IP address at once (n <= 0: ln itself); IPv6 addresses
// count by their /64. A connection
// beyond is closed as soon as it is accepted, before anything is read from
// it or written to it: the client sees the connection reset or closed and
// may retry once one of its own connections has closed. Every address
// counts the same, loopback included; behind a proxy every client shares
// the proxy's address, so raise n (or use 0) there. A connection counts
// from its accept to its Close, whatever it carries (idle keep-alive
// connections and watch streams too): the server's idle and header
// timeouts close the idle ones, so the bound holds a client's live
// connections, which were unbounded, and leaves everyone else's room.
func LimitConnsPerIP(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return &ConnLimiter{Listener: ln, max: n, open: map[string]int{}}
}

// ConnLimiter is LimitConnsPerIP's listener (for n > 0). Its Families
// report what it did, for Metrics.Register.
type ConnLimiter struct {
	net.Listener
	max     int
	refused atomic.Int64 // connections closed at accept

	mu   sync.Mutex
	open map[string]int // connections open per remote IP
}

// Accept returns the next connection whose address holds fewer than max;
// it closes the others as it accepts them.
func (l *ConnLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		ok := l.open[ip] < l.max
		if ok {
			l.open[ip]++
		}
		l.mu.Unlock()
		if ok {
			return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
		}
		l.refused.Add(1)
		_ = c.Close()
	}
}

// Families reports storage_http_conns_refused_total, the connections
// closed at accept because their address held the bound (a counter), so
// that an operator sees a client pressing on it; they are not logged one
// by one, which such a client would turn into a flood.
func (l *ConnLimiter) Families() []Family {
	return []Family{{Name: "storage_http_conns_refused_total", Type: "counter",
		Help:    "TCP connections closed as soon as accepted: their remote address (IPv6: its /64) held the most connections it may (--max-conns-per-ip).",
		Samples: []Sample{{Value: float64(l.refused.Load())}}}}
}

func (l *ConnLimiter) release(ip string) {
	l.mu.Lock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
	l.mu.Unlock()
}

// remoteIP is what c's remote address counts under: an IPv4 address (an
// IPv4-mapped IPv6 one as IPv4) by itself, an IPv6 address by its /64,
// the smallest network a client is given (one host may hold every
// address of it, and so n connections from each).
func remoteIP(c net.Conn) string {
	a := c.RemoteAddr()
	if t, ok := a.(*net.TCPAddr); ok {
		if t.IP.To4() == nil && len(t.IP) == net.IPv6len {
			return t.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
		}
		return t.IP.String()
	}
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn gives its place back on its first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
