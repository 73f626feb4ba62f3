package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

func TestClientIP(t *testing.T) {
	tp, err := httpx.ParseTrustedProxies([]string{"10.0.0.0/8", "192.168.1.1", "fd00::/8", " "})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, remote string
		xff          []string
		realIP       string
		want         string
	}{
		{"direct client", "203.0.113.1:4000", nil, "", "203.0.113.1"},
		{"untrusted peer's XFF is ignored", "203.0.113.1:4000", []string{"1.1.1.1"}, "", "203.0.113.1"},
		{"untrusted peer's X-Real-IP is ignored", "203.0.113.1:4000", nil, "1.1.1.1", "203.0.113.1"},
		{"trusted proxy", "10.0.0.2:80", []string{"198.51.100.4"}, "", "198.51.100.4"},
		{"chain of trusted proxies", "10.0.0.2:80", []string{"198.51.100.4, 10.1.1.1", "192.168.1.1"}, "", "198.51.100.4"},
		{"client-forged left entries are skipped", "10.0.0.2:80", []string{"6.6.6.6, 198.51.100.4"}, "", "198.51.100.4"},
		{"all hops trusted", "10.0.0.2:80", []string{"10.3.3.3, 10.4.4.4"}, "", "10.3.3.3"},
		{"garbage hop stops at last trusted", "10.0.0.2:80", []string{"198.51.100.4, not-an-ip"}, "", "10.0.0.2"},
		{"hop with port", "10.0.0.2:80", []string{"198.51.100.4:5555"}, "", "198.51.100.4"},
		{"ipv6 hop", "10.0.0.2:80", []string{"[2001:db8::1]:443"}, "", "2001:db8::1"},
		{"ipv6 trusted peer", "[fd00::1]:80", []string{"2001:db8::2"}, "", "2001:db8::2"},
		{"mapped peer", "[::ffff:10.0.0.2]:80", []string{"198.51.100.9"}, "", "198.51.100.9"},
		{"X-Real-IP from trusted proxy", "10.0.0.2:80", nil, "198.51.100.5", "198.51.100.5"},
		{"single trusted address", "192.168.1.1:80", []string{"198.51.100.6"}, "", "198.51.100.6"},
		{"neighbour of trusted address", "192.168.1.2:80", []string{"198.51.100.6"}, "", "192.168.1.2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got string
			h := httpx.RealIP(tp)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = httpx.ClientIP(r)
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = c.remote
			for _, v := range c.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if c.realIP != "" {
				req.Header.Set("X-Real-IP", c.realIP)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if got != c.want {
				t.Errorf("ClientIP = %q, want %q", got, c.want)
			}
		})
	}
}

func TestClientIPWithoutMiddlewareIsPeer(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "10.0.0.2:80"
	req.Header.Set("X-Forwarded-For", "1.2.3.4")
	if got := httpx.ClientIP(req); got != "10.0.0.2" {
		t.Errorf("got %q", got)
	}
}

func TestParseTrustedProxiesErrors(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0/8"} {
		_, err := httpx.ParseTrustedProxies([]string{bad})
		if err == nil || !strings.Contains(err.Error(), "http.trusted_proxies") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}
