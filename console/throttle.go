package console

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Defaults of the sign-in throttle (Config.SigninBurst, SigninEvery and
// SigninAddrs).
const (
	// DefaultSigninBurst is how many sign-ins that fail one address may
	// try at once.
	DefaultSigninBurst = 10
	// DefaultSigninEvery is how often an address gets one more try back,
	// up to the burst: 10 a minute.
	DefaultSigninEvery = 6 * time.Second
	// DefaultSigninAddrs is how many addresses the throttle remembers.
	DefaultSigninAddrs = 10000
)

// maxClientAddr is the most bytes of a client's address (Config.ClientAddr)
// the throttle keeps, so that what it remembers is bounded whatever a
// header says (an IPv6 address takes at most 45).
const maxClientAddr = 64

// throttle is the sign-in form's token bucket per client address: each
// sign-in takes a token of its address's bucket and gives it back when it
// signs in, so that failures cost one each and a right token nothing; an
// empty bucket refuses (429) until a token is back, before the token
// typed is looked at. A bucket holds burst tokens at most and gains one
// every every. At most addrs buckets are kept: a full bucket is as good
// as none, so buckets full again are forgotten (looked for when the map
// is full, at most once every every); while none is, new addresses share
// one bucket, so that many addresses cannot make the throttle hold more,
// nor get fresh buckets by pushing others out. Safe for concurrent use.
type throttle struct {
	burst float64
	every time.Duration
	addrs int
	now   func() time.Time

	mu     sync.Mutex
	m      map[string]*bucket
	shared bucket    // the addresses for which m had no room
	swept  time.Time // when m was last swept
}

// bucket is a token bucket: tokens as of at.
type bucket struct {
	tokens float64
	at     time.Time
}

func newThrottle(burst int, every time.Duration, addrs int) *throttle {
	return &throttle{burst: float64(burst), every: every, addrs: addrs, now: time.Now, m: make(map[string]*bucket)}
}

// fill brings b up to now.
func (t *throttle) fill(b *bucket, now time.Time) {
	if b.at.IsZero() {
		b.tokens = t.burst
	} else if d := now.Sub(b.at); d > 0 {
		b.tokens = min(t.burst, b.tokens+float64(d)/float64(t.every))
	}
	b.at = now
}

// bucketLocked is addr's bucket, made when there is room (nil when
// there is none: the shared one).
func (t *throttle) bucketLocked(addr string, now time.Time, add bool) *bucket {
	if b, ok := t.m[addr]; ok {
		return b
	}
	if !add {
		return nil
	}
	if len(t.m) >= t.addrs && now.Sub(t.swept) >= t.every {
		t.swept = now
		for a, b := range t.m {
			if t.fill(b, now); b.tokens >= t.burst {
				delete(t.m, a)
			}
		}
	}
	if len(t.m) >= t.addrs {
		return &t.shared
	}
	b := &bucket{}
	t.m[addr] = b
	return b
}

// take spends a token of addr's bucket. It returns 0 when there was one,
// else how long until there is.
func (t *throttle) take(addr string) time.Duration {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketLocked(addr, now, true)
	t.fill(b, now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(t.every))
	}
	b.tokens--
	return 0
}

// give gives back the token take spent (the sign-in worked).
func (t *throttle) give(addr string) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.bucketLocked(addr, now, false)
	if b == nil {
		b = &t.shared
	}
	t.fill(b, now)
	b.tokens = min(t.burst, b.tokens+1)
}

// remoteAddr is what a request's sign-ins count under: the connection's
// remote IP address, IPv4 (an IPv4-mapped IPv6 one as IPv4) by itself,
// IPv6 by its /64 (one host may hold every address of it); the address
// as written when it is not an IP address and port.
func remoteAddr(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return addrKey(ap.Addr().Unmap())
}

// ForwardedClientAddr is a Config.ClientAddr for a console behind reverse
// proxies: trusted are the proxies' addresses. A request whose connection
// does not come from a trusted address counts under that address, as
// without it: its X-Forwarded-For is ignored, since anyone can write one.
// A request from a trusted proxy counts under the rightmost address of
// its X-Forwarded-For (all its lines, in order, each a comma-separated
// list) that is not trusted: the address the outermost trusted proxy saw,
// which no client can choose, whatever it writes further left. When every
// address listed is trusted it is the leftmost; when there is none (no
// header) or the next one leftward is not an IP address, the last trusted
// address (the proxy's own, without a header) counts, so that a proxy
// that forwards garbage throttles its clients together rather than apart.
// Addresses count as remoteAddr's do (IPv6 by its /64).
func ForwardedClientAddr(trusted []netip.Prefix) func(*http.Request) string {
	trusted = append([]netip.Prefix(nil), trusted...)
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !isTrusted(ap.Addr().Unmap()) {
			return remoteAddr(r)
		}
		last := ap.Addr().Unmap()
		hops := r.Header.Values("X-Forwarded-For")
		for i := len(hops) - 1; i >= 0; i-- {
			line := hops[i]
			for line != "" {
				j := strings.LastIndexByte(line, ',')
				hop := strings.TrimSpace(line[j+1:])
				line = line[:max(j, 0)]
				if hop == "" {
					continue
				}
				a, ok := hopAddr(hop)
				if !ok {
					return addrKey(last)
				}
				if !isTrusted(a) {
					return addrKey(a)
				}
				last = a
			}
		}
		return addrKey(last)
	}
}

// hopAddr reads one address of X-Forwarded-For: an IP address, with a
// port or not (IPv6 in brackets then), IPv4-mapped IPv6 as IPv4.
func hopAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return hopAddr(s[1 : len(s)-1])
	}
	return netip.Addr{}, false
}

// addrKey is what an address counts under: IPv4 by itself, IPv6 by its
// /64.
func addrKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
