package httpx

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies is the parsed form of http.trusted_proxies: the networks
// whose X-Forwarded-For, X-Real-IP and X-Forwarded-Proto headers are
// believed. Anyone else can write those headers, so for any other peer they
// are ignored.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// ParseTrustedProxies parses CIDRs ("10.0.0.0/8", "fd00::/8") and single
// addresses ("127.0.0.1").
func ParseTrustedProxies(entries []string) (*TrustedProxies, error) {
	tp := &TrustedProxies{}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("http.trusted_proxies: %q is not a CIDR (example: 10.0.0.0/8)", e)
			}
			p = p.Masked()
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			tp.prefixes = append(tp.prefixes, p)
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("http.trusted_proxies: %q is neither an IP address nor a CIDR", e)
		}
		a = a.Unmap().WithZone("")
		tp.prefixes = append(tp.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return tp, nil
}

// Trusted reports whether addr belongs to a trusted proxy.
func (tp *TrustedProxies) Trusted(addr netip.Addr) bool {
	if tp == nil || !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range tp.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Resolve finds the client address of r and whether the client reached us
// over TLS. X-Forwarded-For is walked from the right, skipping trusted
// proxies, because only the entries appended by our own proxies can be
// believed; the leftmost entries are whatever the client sent.
func (tp *TrustedProxies) Resolve(r *http.Request) (ip string, https bool) {
	https = r.TLS != nil
	peer, ok := parseHostAddr(r.RemoteAddr)
	if !ok {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr, https
		}
		return host, https
	}
	if !tp.Trusted(peer) {
		return peer.String(), https
	}

	if !https {
		if proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ","); strings.EqualFold(strings.TrimSpace(proto), "https") {
			https = true
		}
	}

	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	if len(hops) > 0 {
		client := peer
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := parseHostAddr(hops[i])
			if !ok {
				// A trusted proxy relayed garbage: the last hop we can
				// vouch for is the best answer.
				break
			}
			client = a
			if !tp.Trusted(a) {
				break
			}
		}
		return client.String(), https
	}
	if a, ok := parseHostAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); ok {
		return a.String(), https
	}
	return peer.String(), https
}

// parseHostAddr accepts "1.2.3.4", "1.2.3.4:80", "::1", "[::1]:80".
func parseHostAddr(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

type clientInfo struct {
	ip    string
	https bool
}

// RealIP resolves the client address and scheme once per request (see
// TrustedProxies.Resolve) for ClientIP and IsHTTPS. r.RemoteAddr is left
// as the peer address. A nil tp trusts no one.
func RealIP(tp *TrustedProxies) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip, https := tp.Resolve(r)
			r, st := withState(r)
			st.client, st.hasClient = clientInfo{ip: ip, https: https}, true
			next.ServeHTTP(w, r)
		})
	}
}

// ClientIP is the client address as resolved by RealIP; without RealIP in
// the stack it is the peer address.
func ClientIP(r *http.Request) string {
	if st := stateOf(r.Context()); st != nil && st.hasClient {
		return st.client.ip
	}
	ip, _ := (*TrustedProxies)(nil).Resolve(r)
	return ip
}

// IsHTTPS reports whether the client reached us over TLS, directly or, as
// a trusted proxy says with X-Forwarded-Proto, through it.
func IsHTTPS(r *http.Request) bool {
	if st := stateOf(r.Context()); st != nil && st.hasClient {
		return st.client.https
	}
	return r.TLS != nil
}
