package main

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/console"
)

// TestTrustedProxy: with --trusted-proxy, the console's sign-in throttle
// counts a client behind the proxy under the address the proxy forwards
// (X-Forwarded-For), so that clients behind one proxy are apart; a
// connection from any other address counts under its own, whatever
// X-Forwarded-For it writes. Before, the flag did not exist: every client
// behind a proxy shared the proxy's allowance.
func TestTrustedProxy(t *testing.T) {
	bin := buildServer(t)
	s := start(t, bin, "--dsn", "sqlite::memory:", "--auth", writeAuthFile(t), "--trusted-proxy", "127.0.0.2, 192.0.2.0/24")
	direct := signinClient(t, s, "127.0.0.1")
	// Not a trusted proxy: a new X-Forwarded-For in every try changes nothing.
	for i := range console.DefaultSigninBurst {
		direct.wrong(t, http.StatusUnauthorized, "198.51.100."+strconv.Itoa(i))
	}
	direct.wrong(t, http.StatusTooManyRequests, "198.51.100.99")

	proxy := signinClient(t, s, "127.0.0.2")
	for range console.DefaultSigninBurst {
		proxy.wrong(t, http.StatusUnauthorized, "203.0.113.1")
	}
	proxy.wrong(t, http.StatusTooManyRequests, "203.0.113.1")
	proxy.wrong(t, http.StatusTooManyRequests, "203.0.113.50, 203.0.113.1") // a spoofed hop left of the proxy's
	proxy.wrong(t, http.StatusUnauthorized, "203.0.113.2")                  // another client
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.log())
	}
}

// TestTrustedProxyFlag: --trusted-proxy takes prefixes and addresses,
// comma-separated and repeated; anything else is a usage error.
func TestTrustedProxyFlag(t *testing.T) {
	var p proxyFlags
	for _, v := range []string{"10.0.0.0/8, 192.0.2.7", "fd00::/8", "::ffff:172.16.0.0/108", "10.1.2.3/8"} {
		if err := p.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	if got, want := p.String(), "10.0.0.0/8,192.0.2.7/32,fd00::/8,172.16.0.0/12,10.0.0.0/8"; got != want {
		t.Fatalf("--trusted-proxy = %s, want %s", got, want)
	}
	for _, bad := range []string{"", "proxy.local", "10.0.0.0/33", "10.0.0.1,", "fe80::1%eth0"} {
		var stderr strings.Builder
		code := run(t.Context(), []string{"--insecure-anonymous", "--trusted-proxy", bad}, &stderr, func(string) string { return "" })
		if code != exitUsage || !strings.Contains(stderr.String(), "trusted-proxy") {
			t.Errorf("--trusted-proxy %q: exit %d, %s", bad, code, stderr.String())
		}
	}
}

// signinBrowser posts the console's sign-in form from a loopback address.
type signinBrowser struct {
	c    *http.Client
	base string
	csrf string
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func signinClient(t *testing.T, s *server, from string) *signinBrowser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c := &http.Client{Jar: jar, Transport: &http.Transport{DialContext: d.DialContext}}
	t.Cleanup(c.CloseIdleConnections)
	b := &signinBrowser{c: c, base: s.url}
	resp, err := c.Get(s.url + console.Prefix + "signin")
	if err != nil {
		t.Fatal(err)
	}
	b.read(t, resp)
	return b
}

func (b *signinBrowser) read(t *testing.T, resp *http.Response) int {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if m := csrfRe.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return resp.StatusCode
}

// wrong signs in with a wrong token, X-Forwarded-For xff, and wants status.
func (b *signinBrowser) wrong(t *testing.T, status int, xff string) {
	t.Helper()
	form := url.Values{"token": {"wrong"}, "csrf": {b.csrf}}
	req, err := http.NewRequest(http.MethodPost, b.base+console.Prefix+"signin", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", xff)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.read(t, resp); got != status {
		t.Fatalf("sign-in with X-Forwarded-For %q: %d, want %d", xff, got, status)
	}
}
