package console

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// clock is a settable time for a throttle.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func testThrottle(burst int, every time.Duration, addrs int) (*throttle, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	t := newThrottle(burst, every, addrs)
	t.now = c.now
	return t, c
}

// TestThrottleBucket: an address takes burst tries at once, then waits
// for one to come back (every), told how long; give returns one; other
// addresses have their own.
func TestThrottleBucket(t *testing.T) {
	th, c := testThrottle(3, 10*time.Second, 100)
	for i := range 3 {
		if w := th.take("a"); w != 0 {
			t.Fatalf("try %d refused (%v)", i+1, w)
		}
	}
	if w := th.take("a"); w != 10*time.Second {
		t.Fatalf("the 4th try: wait %v, want 10s", w)
	}
	if w := th.take("b"); w != 0 {
		t.Fatalf("another address refused (%v)", w)
	}
	c.t = c.t.Add(4 * time.Second)
	if w := th.take("a"); w != 6*time.Second {
		t.Fatalf("4s later: wait %v, want 6s", w)
	}
	c.t = c.t.Add(6 * time.Second)
	if w := th.take("a"); w != 0 {
		t.Fatalf("a try back after 10s refused (%v)", w)
	}
	if w := th.take("a"); w == 0 {
		t.Fatal("a second try after one came back allowed")
	}
	th.give("a")
	if w := th.take("a"); w != 0 {
		t.Fatalf("a try given back refused (%v)", w)
	}
	// An idle address comes back to burst, not beyond.
	c.t = c.t.Add(time.Hour)
	for i := range 3 {
		if w := th.take("a"); w != 0 {
			t.Fatalf("after an hour, try %d refused (%v)", i+1, w)
		}
	}
	if th.take("a") == 0 {
		t.Fatal("an idle hour gave more than burst tries")
	}
}

// TestThrottleMemory: the throttle remembers at most addrs addresses,
// whoever tries: the addresses whose tries are all back are forgotten;
// while none is, new addresses share one allowance (and get no fresh
// bucket by pushing others out).
func TestThrottleMemory(t *testing.T) {
	const addrs = 50
	th, c := testThrottle(2, time.Second, addrs)
	for i := range addrs {
		th.take(fmt.Sprintf("10.0.0.%d", i))
	}
	// The map is full of addresses with a try spent: new ones share.
	if th.take("new-1") != 0 || th.take("new-2") != 0 {
		t.Fatal("the shared allowance refused its first tries")
	}
	if th.take("new-3") == 0 {
		t.Fatal("addresses beyond the bound got fresh buckets")
	}
	for i := range 10 * addrs {
		th.take(fmt.Sprintf("10.1.%d.%d", i/256, i%256))
		if len(th.m) > addrs {
			t.Fatalf("after %d more addresses the throttle holds %d", i+1, len(th.m))
		}
	}
	// Once the old addresses' tries are back, they are forgotten and new
	// addresses get buckets of their own again.
	c.t = c.t.Add(5 * time.Second)
	if w := th.take("new-4"); w != 0 {
		t.Fatalf("a new address after the old were forgotten refused (%v)", w)
	}
	if len(th.m) != 1 {
		t.Fatalf("the throttle holds %d addresses, want the new one only", len(th.m))
	}
}

// TestRemoteAddr: an IPv4 address by itself (mapped or not), an IPv6
// one by its /64.
func TestRemoteAddr(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:4711":              "192.0.2.7",
		"[::ffff:192.0.2.7]:4711":     "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:4711": "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:1":         "2001:db8:1:2::/64",
		"@unix":                       "@unix",
	} {
		if got := remoteAddr(&http.Request{RemoteAddr: in}); got != want {
			t.Errorf("remoteAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestForwardedClientAddr: behind trusted proxies a request counts under
// the rightmost address of X-Forwarded-For that is not a trusted proxy;
// from any other peer the header is ignored, so a client cannot choose
// its bucket by writing one.
func TestForwardedClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ff::/48")}
	f := ForwardedClientAddr(trusted)
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		// An untrusted peer: its header, whatever it says, is ignored.
		{"192.0.2.7:1", nil, "192.0.2.7"},
		{"192.0.2.7:1", []string{"198.51.100.1"}, "192.0.2.7"},
		{"192.0.2.7:1", []string{"10.0.0.1, 198.51.100.1"}, "192.0.2.7"},
		{"[2001:db8:1:2::9]:1", []string{"198.51.100.1"}, "2001:db8:1:2::/64"},
		// A trusted proxy: the rightmost untrusted hop.
		{"10.0.0.2:1", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.0.0.2:1", []string{"203.0.113.9, 198.51.100.1"}, "198.51.100.1"},
		{"10.0.0.2:1", []string{"203.0.113.9, 198.51.100.1, 10.1.2.3"}, "198.51.100.1"},
		{"10.0.0.2:1", []string{"203.0.113.9", "198.51.100.1,10.1.2.3"}, "198.51.100.1"},
		{"10.0.0.2:1", []string{"spoofed, 198.51.100.1"}, "198.51.100.1"},
		{"[::ffff:10.0.0.2]:1", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"[2001:db8:ff::1]:1", []string{"[2001:db8:5:6::7]:80"}, "2001:db8:5:6::/64"},
		{"10.0.0.2:1", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		// No header, or nothing past the trusted ones: the leftmost trusted.
		{"10.0.0.2:1", nil, "10.0.0.2"},
		{"10.0.0.2:1", []string{"10.9.9.9, 10.1.2.3"}, "10.9.9.9"},
		{"10.0.0.2:1", []string{" , "}, "10.0.0.2"},
		// Garbage where an address should be: the hop that forwarded it.
		{"10.0.0.2:1", []string{"198.51.100.1, unknown"}, "10.0.0.2"},
		{"10.0.0.2:1", []string{"198.51.100.1, garbage, 10.1.2.3"}, "10.1.2.3"},
		{"@unix", []string{"198.51.100.1"}, "@unix"},
	} {
		r := &http.Request{RemoteAddr: c.peer, Header: http.Header{}}
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := f(r); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %q, want %q", c.peer, c.xff, got, c.want)
		}
	}
}
