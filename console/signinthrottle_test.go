package console_test

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/console"
)

// from makes b's connections come from the loopback address ip, so that
// the console sees another client address.
func (b *browser) from(ip string) *browser {
	tr := b.e.srv.Client().Transport.(*http.Transport).Clone()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr.DialContext = d.DialContext
	b.c.Transport = tr
	return b
}

// TestSigninThrottled: an address that fails DefaultSigninBurst sign-ins
// is refused the next at once, 429 with Retry-After, whatever token it
// types (the right one too: the token is not looked at); a right token
// from another address still signs in. Before, a client could try tokens
// as fast as it liked.
func TestSigninThrottled(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	b := e.browser(t)
	b.get("/console/signin")
	for i := range console.DefaultSigninBurst {
		p := b.post("/console/signin", url.Values{"token": {"wrong-" + strconv.Itoa(i)}})
		p.want(t, http.StatusUnauthorized, "not known")
	}
	for _, token := range []string{"wrong-again", adminToken} {
		p := b.post("/console/signin", url.Values{"token": {token}})
		p.want(t, http.StatusTooManyRequests, "Too many sign-ins failed")
		secs, err := strconv.Atoi(p.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > int(console.DefaultSigninEvery.Seconds()) {
			t.Fatalf("Retry-After %q", p.Header.Get("Retry-After"))
		}
		for _, c := range p.Cookies() {
			if c.Name == "console_session" && c.Value != "" {
				t.Fatal("a throttled sign-in got a session")
			}
		}
	}
	other := e.browser(t).from("127.0.0.2")
	other.signIn(adminToken)
	other.get("/console/namespaces").want(t, http.StatusOK)
}

// TestSigninThrottleCountsFailures: sign-ins that work do not count, so
// one address signs in as often as it likes (a team behind one NAT) and
// still has its whole allowance of failures; a negative SigninBurst
// turns the throttle off.
func TestSigninThrottleCountsFailures(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, nil)
	for range 3 * console.DefaultSigninBurst {
		e.browser(t).signIn(aliceToken)
	}
	b := e.browser(t)
	b.get("/console/signin")
	for range console.DefaultSigninBurst {
		b.post("/console/signin", url.Values{"token": {"wrong"}}).want(t, http.StatusUnauthorized)
	}
	b.post("/console/signin", url.Values{"token": {"wrong"}}).want(t, http.StatusTooManyRequests)

	off := newEnv(t, "sqlite::memory:", false, func(c *console.Config) { c.SigninBurst = -1 })
	b = off.browser(t)
	b.get("/console/signin")
	for range 3 * console.DefaultSigninBurst {
		b.post("/console/signin", url.Values{"token": {"wrong"}}).want(t, http.StatusUnauthorized)
	}
}

// TestSigninClientAddr: Config.ClientAddr chooses what a sign-in counts
// under (a proxy's header), so clients behind one proxy are apart.
func TestSigninClientAddr(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, func(c *console.Config) {
		c.SigninBurst = 2
		c.ClientAddr = func(r *http.Request) string { return strings.TrimSpace(r.Header.Get("X-Test-Client")) }
	})
	b := e.browser(t)
	b.get("/console/signin")
	for range 2 {
		b.post("/console/signin", url.Values{"token": {"wrong"}}, "X-Test-Client", "one").want(t, http.StatusUnauthorized)
	}
	b.post("/console/signin", url.Values{"token": {"wrong"}}, "X-Test-Client", "one").want(t, http.StatusTooManyRequests)
	b.post("/console/signin", url.Values{"token": {"wrong"}}, "X-Test-Client", "two").want(t, http.StatusUnauthorized)
	// Only the first 64 bytes count: the throttle's memory is bounded
	// whatever the header says.
	long := strings.Repeat("x", 64)
	for _, c := range []string{long + "1", long + "2"} {
		b.post("/console/signin", url.Values{"token": {"wrong"}}, "X-Test-Client", c).want(t, http.StatusUnauthorized)
	}
	b.post("/console/signin", url.Values{"token": {"wrong"}}, "X-Test-Client", long+"3").want(t, http.StatusTooManyRequests)
}

// TestSigninTrustedProxy: with ForwardedClientAddr, a client that is not
// a trusted proxy cannot change its bucket with X-Forwarded-For (a new
// address in every try is still throttled), while clients behind a
// trusted proxy are apart, each under the address the proxy forwards.
func TestSigninTrustedProxy(t *testing.T) {
	e := newEnv(t, "sqlite::memory:", false, func(c *console.Config) {
		c.SigninBurst = 2
		c.ClientAddr = console.ForwardedClientAddr([]netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")})
	})
	wrong := func() url.Values { return url.Values{"token": {"wrong"}} }
	direct := e.browser(t).from("127.0.0.1")
	direct.get("/console/signin")
	for i := range 2 {
		direct.post("/console/signin", wrong(), "X-Forwarded-For", "198.51.100."+strconv.Itoa(i)).want(t, http.StatusUnauthorized)
	}
	direct.post("/console/signin", wrong(), "X-Forwarded-For", "198.51.100.9").want(t, http.StatusTooManyRequests)

	proxy := e.browser(t).from("127.0.0.2")
	proxy.get("/console/signin")
	for range 2 {
		proxy.post("/console/signin", wrong(), "X-Forwarded-For", "203.0.113.1").want(t, http.StatusUnauthorized)
	}
	proxy.post("/console/signin", wrong(), "X-Forwarded-For", "203.0.113.1").want(t, http.StatusTooManyRequests)
	// Another client behind the proxy has its own tries, and a spoofed
	// hop left of what the proxy wrote changes nothing.
	proxy.post("/console/signin", wrong(), "X-Forwarded-For", "203.0.113.2").want(t, http.StatusUnauthorized)
	proxy.post("/console/signin", wrong(), "X-Forwarded-For", "203.0.113.7, 203.0.113.1").want(t, http.StatusTooManyRequests)
	// The proxy's own address (a request without the header) is apart too.
	proxy.post("/console/signin", wrong()).want(t, http.StatusUnauthorized)
}
