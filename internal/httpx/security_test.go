package httpx_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

func TestSecurityHeaders(t *testing.T) {
	env := newStack(t, nil)
	env.router.Get("/api", func(w http.ResponseWriter, r *http.Request) { httpx.WriteJSON(w, 200, map[string]bool{"ok": true}) })
	env.router.With(httpx.SecurityHeaders(httpx.SecurityOptions{
		FrameOptions:          "SAMEORIGIN",
		ContentSecurityPolicy: "default-src 'self'",
		ReferrerPolicy:        "strict-origin-when-cross-origin",
	})).Get("/admin", func(w http.ResponseWriter, r *http.Request) {})

	rec := env.do(httptest.NewRequest(http.MethodGet, "/api", nil))
	want := map[string]string{
		"X-Content-Type-Options":       "nosniff",
		"X-Frame-Options":              "DENY",
		"Content-Security-Policy":      "default-src 'none'; frame-ancestors 'none'",
		"Referrer-Policy":              "no-referrer",
		"Strict-Transport-Security":    "",
		"Cross-Origin-Resource-Policy": "",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// Error responses carry them too.
	rec = env.do(httptest.NewRequest(http.MethodGet, "/missing", nil))
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("X-Frame-Options") != "DENY" {
		t.Errorf("404 lacks security headers: %v", rec.Header())
	}

	// A route-level policy replaces the API one.
	req := httptest.NewRequest(http.MethodGet, "/admin", nil)
	req.TLS = &tls.ConnectionState{}
	rec = env.do(req)
	if rec.Header().Get("X-Frame-Options") != "SAMEORIGIN" || rec.Header().Get("Content-Security-Policy") != "default-src 'self'" ||
		rec.Header().Get("Referrer-Policy") != "strict-origin-when-cross-origin" {
		t.Errorf("route override: %v", rec.Header())
	}
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Errorf("override without HSTS kept the outer HSTS")
	}
}

func TestHSTSOnlyOverTLS(t *testing.T) {
	env := newStack(t, nil)
	env.router.Get("/", func(w http.ResponseWriter, r *http.Request) {})
	const hsts = "max-age=31536000"

	direct := httptest.NewRequest(http.MethodGet, "/", nil)
	direct.TLS = &tls.ConnectionState{}

	viaProxy := httptest.NewRequest(http.MethodGet, "/", nil)
	viaProxy.RemoteAddr = "10.0.0.5:1234"
	viaProxy.Header.Set("X-Forwarded-Proto", "https")

	spoofed := httptest.NewRequest(http.MethodGet, "/", nil)
	spoofed.RemoteAddr = "198.51.100.7:1234"
	spoofed.Header.Set("X-Forwarded-Proto", "https")

	plain := httptest.NewRequest(http.MethodGet, "/", nil)

	for name, c := range map[string]struct {
		req  *http.Request
		want string
	}{
		"direct TLS":            {direct, hsts},
		"trusted proxy https":   {viaProxy, hsts},
		"untrusted proto claim": {spoofed, ""},
		"plain http":            {plain, ""},
	} {
		if got := env.do(c.req).Header().Get("Strict-Transport-Security"); got != c.want {
			t.Errorf("%s: HSTS %q, want %q", name, got, c.want)
		}
	}
}

func TestSecurityHeadersStandalone(t *testing.T) {
	o := httpx.APISecurity()
	o.HSTSIncludeSubdomains = true
	r := chi.NewRouter()
	r.Use(httpx.SecurityHeaders(o))
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.TLS = &tls.ConnectionState{}
	if got := serve(r, req).Header().Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
		t.Errorf("HSTS %q", got)
	}
}

// The header values are shared between responses; a handler adding to one
// or replacing it changes its own response only.
func TestSecurityHeadersValuesAreNotShared(t *testing.T) {
	env := newStack(t, nil)
	env.router.Get("/add", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("X-Frame-Options", "SAMEORIGIN")
		w.Header().Set("Referrer-Policy", "origin")
	})
	env.router.Get("/plain", func(w http.ResponseWriter, r *http.Request) {})
	for range 3 {
		rec := env.do(httptest.NewRequest(http.MethodGet, "/add", nil))
		if got := rec.Header().Values("X-Frame-Options"); len(got) != 2 || got[0] != "DENY" || got[1] != "SAMEORIGIN" {
			t.Fatalf("/add X-Frame-Options = %q", got)
		}
		rec = env.do(httptest.NewRequest(http.MethodGet, "/plain", nil))
		if got := rec.Header().Values("X-Frame-Options"); len(got) != 1 || got[0] != "DENY" {
			t.Fatalf("/plain X-Frame-Options = %q after another response added to it", got)
		}
		if got := rec.Header().Get("Referrer-Policy"); got != "no-referrer" {
			t.Fatalf("/plain Referrer-Policy = %q", got)
		}
	}
}
