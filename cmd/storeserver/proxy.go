package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/mycelia-kernel/storage/console"
)

// proxyFlags is --trusted-proxy: the addresses of the reverse proxies in
// front of the server, each a CIDR prefix or one address, comma-separated
// and repeatable. The console's sign-in throttle takes a client's address
// from X-Forwarded-For only on a connection from one of them
// (console.ForwardedClientAddr).
type proxyFlags []netip.Prefix

func (p *proxyFlags) String() string {
	if p == nil {
		return ""
	}
	s := make([]string, len(*p))
	for i, pr := range *p {
		s[i] = pr.String()
	}
	return strings.Join(s, ",")
}

func (p *proxyFlags) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		pr, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil || a.Zone() != "" {
				return fmt.Errorf("%q is not a CIDR prefix (10.0.0.0/8, fd00::/8) or an IP address", part)
			}
			pr = netip.PrefixFrom(a, a.BitLen())
		}
		if pr.Addr().Is4In6() {
			// Connections' addresses are compared unmapped.
			pr = netip.PrefixFrom(pr.Addr().Unmap(), max(pr.Bits()-96, 0))
		}
		*p = append(*p, pr.Masked())
	}
	return nil
}

// clientAddr is the console's Config.ClientAddr: nil (the connection's
// address) without --trusted-proxy.
func (o *options) clientAddr() func(*http.Request) string {
	if len(o.trustedProxies) == 0 {
		return nil
	}
	return console.ForwardedClientAddr(o.trustedProxies)
}
