package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
)

func corsRouter(t *testing.T, cfg config.CORSConfig) *chi.Mux {
	t.Helper()
	mw, err := httpx.CORS(cfg)
	if err != nil {
		t.Fatalf("CORS: %v", err)
	}
	r := chi.NewRouter()
	r.Use(mw)
	r.NotFound(httpx.NotFound)
	r.MethodNotAllowed(httpx.MethodNotAllowed)
	r.Get("/data", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	r.Post("/data", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	return r
}

func preflight(origin, method, headers string) *http.Request {
	req := httptest.NewRequest(http.MethodOptions, "/data", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var listCORS = config.CORSConfig{
	Enabled:        true,
	AllowedOrigins: []string{"https://app.example.com", "https://*.preview.example.org", "http://localhost:3000", "HTTPS://Secure.Example.com:443/"},
	AllowedMethods: []string{"GET", "POST", "PATCH", "DELETE"},
	AllowedHeaders: []string{"Authorization", "apikey", "Content-Type", "Prefer"},
	ExposedHeaders: []string{"Content-Range", "X-Request-ID"},
	MaxAge:         10 * time.Minute,
}

func TestCORSPreflight(t *testing.T) {
	r := corsRouter(t, listCORS)
	cases := []struct {
		name, origin, method, headers string
		allowed                       bool
	}{
		{"exact origin", "https://app.example.com", "PATCH", "authorization, content-type", true},
		{"exact origin, header case", "https://app.example.com", "DELETE", "Authorization,APIKEY", true},
		{"origin with port", "http://localhost:3000", "GET", "", true},
		{"other port", "http://localhost:3001", "GET", "", false},
		{"configured with case, default port and slash", "https://secure.example.com", "GET", "", true},
		{"wildcard subdomain", "https://pr-12.preview.example.org", "POST", "prefer", true},
		{"wildcard deeper subdomain", "https://a.b.preview.example.org", "POST", "", true},
		{"wildcard does not match apex", "https://preview.example.org", "POST", "", false},
		{"wildcard does not match other scheme", "http://pr-12.preview.example.org", "POST", "", false},
		{"wildcard does not match suffix trick", "https://evilpreview.example.org", "POST", "", false},
		{"wildcard does not match other port", "https://pr-12.preview.example.org:8443", "POST", "", false},
		{"unknown origin", "https://evil.example.net", "GET", "", false},
		{"prefix trick", "https://app.example.com.evil.net", "GET", "", false},
		{"null origin", "null", "GET", "", false},
		{"method not allowed", "https://app.example.com", "PUT", "", false},
		{"header not allowed", "https://app.example.com", "POST", "authorization, x-evil", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := serve(r, preflight(c.origin, c.method, c.headers))
			if rec.Code != http.StatusNoContent {
				t.Fatalf("status %d, want 204", rec.Code)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("preflight has a body: %q", rec.Body)
			}
			vary := strings.Join(rec.Header().Values("Vary"), ",")
			for _, v := range []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"} {
				if !strings.Contains(vary, v) {
					t.Errorf("Vary %q lacks %s", vary, v)
				}
			}
			acao := rec.Header().Get("Access-Control-Allow-Origin")
			if !c.allowed {
				for k := range rec.Header() {
					if strings.HasPrefix(k, "Access-Control-") {
						t.Errorf("refused preflight carries %s", k)
					}
				}
				return
			}
			if acao != c.origin {
				t.Errorf("Allow-Origin %q, want %q", acao, c.origin)
			}
			if got := rec.Header().Get("Access-Control-Allow-Methods"); got != "GET, POST, PATCH, DELETE" {
				t.Errorf("Allow-Methods %q", got)
			}
			if c.headers != "" {
				got := strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers"))
				for _, h := range strings.Split(c.headers, ",") {
					if !strings.Contains(got, strings.ToLower(strings.TrimSpace(h))) {
						t.Errorf("Allow-Headers %q lacks %s", got, h)
					}
				}
			}
			if got := rec.Header().Get("Access-Control-Max-Age"); got != "600" {
				t.Errorf("Max-Age %q", got)
			}
			if rec.Header().Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("credentials allowed although not configured")
			}
		})
	}
}

func TestCORSSimpleRequests(t *testing.T) {
	r := corsRouter(t, listCORS)

	req := httptest.NewRequest(http.MethodGet, "/data", nil)
	req.Header.Set("Origin", "https://app.example.com")
	rec := serve(r, req)
	if rec.Code != 200 || rec.Body.String() != "ok" {
		t.Fatalf("allowed simple request: %d %q", rec.Code, rec.Body)
	}
	if rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("Allow-Origin %q", rec.Header().Get("Access-Control-Allow-Origin"))
	}
	if rec.Header().Get("Access-Control-Expose-Headers") != "Content-Range, X-Request-ID" {
		t.Errorf("Expose-Headers %q", rec.Header().Get("Access-Control-Expose-Headers"))
	}
	if rec.Header().Get("Vary") != "Origin" {
		t.Errorf("Vary %q", rec.Header().Get("Vary"))
	}

	// Another origin is served, not refused: the browser hides the answer.
	req = httptest.NewRequest(http.MethodPost, "/data", nil)
	req.Header.Set("Origin", "https://evil.example.net")
	rec = serve(r, req)
	if rec.Code != 200 {
		t.Fatalf("disallowed simple request: status %d", rec.Code)
	}
	if rec.Header().Get("Access-Control-Allow-Origin") != "" || rec.Header().Get("Access-Control-Expose-Headers") != "" {
		t.Errorf("disallowed origin got CORS headers: %v", rec.Header())
	}
	if rec.Header().Get("Vary") != "Origin" {
		t.Errorf("Vary %q", rec.Header().Get("Vary"))
	}

	// No Origin: same-origin or non-browser client, nothing to add but Vary.
	rec = serve(r, httptest.NewRequest(http.MethodGet, "/data", nil))
	if rec.Header().Get("Access-Control-Allow-Origin") != "" || rec.Header().Get("Vary") != "Origin" {
		t.Errorf("no-origin request headers: %v", rec.Header())
	}

	// A plain OPTIONS (no Access-Control-Request-Method) is not a preflight.
	req = httptest.NewRequest(http.MethodOptions, "/data", nil)
	req.Header.Set("Origin", "https://app.example.com")
	if rec = serve(r, req); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("plain OPTIONS: status %d, want the router's 405", rec.Code)
	}
}

func TestCORSAnyOrigin(t *testing.T) {
	r := corsRouter(t, config.CORSConfig{Enabled: true, AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"*"}})
	rec := serve(r, preflight("https://whoever.test", "DELETE", "x-custom-thing, authorization"))
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("Allow-Origin %q", rec.Header().Get("Access-Control-Allow-Origin"))
	}
	if got := rec.Header().Get("Access-Control-Allow-Headers"); got != "x-custom-thing, authorization" {
		t.Errorf("Allow-Headers %q", got)
	}
	if rec.Header().Get("Access-Control-Max-Age") != "" {
		t.Errorf("Max-Age sent although not configured")
	}
	req := httptest.NewRequest(http.MethodGet, "/data", nil)
	req.Header.Set("Origin", "https://whoever.test")
	rec = serve(r, req)
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("simple Allow-Origin %q", rec.Header().Get("Access-Control-Allow-Origin"))
	}
	if rec.Header().Get("Vary") != "" {
		t.Errorf("Vary %q on a response that is the same for every origin", rec.Header().Get("Vary"))
	}
	// Defaults fill empty lists.
	if got := rec.Header().Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Content-Range") {
		t.Errorf("default Expose-Headers %q", got)
	}
}

func TestCORSCredentials(t *testing.T) {
	cfg := listCORS
	cfg.AllowCredentials = true
	r := corsRouter(t, cfg)
	rec := serve(r, preflight("https://x.preview.example.org", "POST", "authorization"))
	if rec.Header().Get("Access-Control-Allow-Origin") != "https://x.preview.example.org" ||
		rec.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight headers: %v", rec.Header())
	}
	req := httptest.NewRequest(http.MethodGet, "/data", nil)
	req.Header.Set("Origin", "https://app.example.com")
	rec = serve(r, req)
	if rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		rec.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("simple headers: %v", rec.Header())
	}
}

func TestCORSDisabledIsPassThrough(t *testing.T) {
	r := corsRouter(t, config.CORSConfig{Enabled: false, AllowedOrigins: []string{"*"}})
	rec := serve(r, preflight("https://app.example.com", "GET", ""))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("preflight with CORS off: status %d, want the router's 405", rec.Code)
	}
	for k := range rec.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("CORS off but %s set", k)
		}
	}
}

func TestCORSRejectsBadConfig(t *testing.T) {
	cases := []struct {
		cfg config.CORSConfig
		key string
	}{
		{config.CORSConfig{Enabled: true, AllowedOrigins: []string{"*"}, AllowCredentials: true}, "http.cors.allowed_origins"},
		{config.CORSConfig{Enabled: true, AllowedOrigins: []string{"app.example.com"}}, "http.cors.allowed_origins"},
		{config.CORSConfig{Enabled: true, AllowedOrigins: []string{"https://app.example.com/path"}}, "http.cors.allowed_origins"},
		{config.CORSConfig{Enabled: true, AllowedOrigins: []string{"https://*.com"}}, "http.cors.allowed_origins"},
		{config.CORSConfig{Enabled: true, AllowedOrigins: []string{"https://a.*.example.com"}}, "http.cors.allowed_origins"},
		{config.CORSConfig{Enabled: true, AllowedMethods: []string{"GE T"}}, "http.cors.allowed_methods"},
		{config.CORSConfig{Enabled: true, AllowedHeaders: []string{"bad header"}}, "http.cors.allowed_headers"},
		{config.CORSConfig{Enabled: true, ExposedHeaders: []string{"bad:header"}}, "http.cors.exposed_headers"},
		{config.CORSConfig{Enabled: true, MaxAge: -time.Second}, "http.cors.max_age"},
	}
	for _, c := range cases {
		_, err := httpx.CORS(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%+v: error %v, want one naming %s", c.cfg, err, c.key)
		}
	}
}
