package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func TestPlatformEndpoints(t *testing.T) {
	t.Parallel()
	s := apitest.NewServer(t)
	apitest.Run(t, s, []apitest.Scenario{
		{
			Name: "health reports the database", Method: "GET", Path: "/health",
			ExpectedStatus:  200,
			ExpectedContent: []string{`"status":"ok"`, `"database":{"status":"up","latency_ms":`, `"version":`, `"uptime_seconds":`},
			ExpectedHeaders: map[string]string{"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"},
		},
		{
			Name: "ready", Method: "GET", Path: "/ready",
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "ok", "phase": "ready"},
		},
		{
			Name: "metrics", Method: "GET", Path: "/metrics",
			ExpectedStatus:  200,
			ExpectedContent: []string{"fluxbase_http_requests_total", "fluxbase_db_pool_max_conns{pool=\"api\"}", "fluxbase_db_pool_max_conns{pool=\"admin\"}", "go_goroutines", "process_resident_memory_bytes"},
		},
		{
			Name: "jwks publishes the public key only", Method: "GET", Path: "/.well-known/jwks.json",
			ExpectedStatus:     200,
			ExpectedContent:    []string{`"kty":"EC"`, `"crv":"P-256"`, `"alg":"ES256"`, `"kid":`},
			NotExpectedContent: []string{`"d":`},
		},
		{
			Name: "openapi", Method: "GET", Path: "/openapi.json",
			ExpectedStatus: 200, ExpectedContent: []string{`"openapi":"3.0.3"`},
		},
		{
			Name: "unknown route is a JSON 404", Method: "GET", Path: "/no/such/route",
			ExpectedStatus: 404, ExpectedJSON: map[string]any{"code": "not_found", "details": nil, "hint": nil},
		},
		{
			Name: "wrong method is a JSON 405 with Allow", Method: "DELETE", Path: "/health",
			ExpectedStatus: 405, ExpectedJSON: map[string]any{"code": "method_not_allowed"},
			After: func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
				if allow := res.Header.Get("Allow"); !strings.Contains(allow, "GET") {
					t.Errorf("Allow = %q", allow)
				}
			},
		},
		{
			Name: "request id is echoed", Method: "GET", Path: "/health",
			Headers:         map[string]string{"X-Request-ID": "abc-123"},
			ExpectedStatus:  200,
			ExpectedHeaders: map[string]string{"X-Request-ID": "abc-123"},
		},
		{
			Name: "hostile request id is replaced", Method: "GET", Path: "/health",
			Headers:        map[string]string{"X-Request-ID": "bad id <script>" + strings.Repeat("x", 200)},
			ExpectedStatus: 200,
			After: func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
				if id := res.Header.Get("X-Request-ID"); id == "" || strings.ContainsAny(id, " <>") || len(id) > 128 {
					t.Errorf("X-Request-ID = %q", id)
				}
			},
		},
		{
			Name: "security headers", Method: "GET", Path: "/health",
			ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{
				"X-Content-Type-Options": "nosniff",
				"X-Frame-Options":        "DENY",
			},
		},
		{
			Name: "CORS preflight", Method: "OPTIONS", Path: "/health",
			Headers: map[string]string{
				"Origin":                         "https://app.example.com",
				"Access-Control-Request-Method":  "GET",
				"Access-Control-Request-Headers": "authorization, apikey",
			},
			ExpectedStatus:  204,
			ExpectedHeaders: map[string]string{"Access-Control-Allow-Origin": "*"},
		},
		{
			Name: "garbage bearer token on a public route is ignored", Method: "GET", Path: "/health",
			Headers:        map[string]string{"Authorization": "Bearer not-a-jwt"},
			ExpectedStatus: 200,
		},
	})
}

func TestHeadServedByGetRoutes(t *testing.T) {
	t.Parallel()
	s := apitest.NewServer(t)
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "HEAD /ready", Method: "HEAD", Path: "/ready", ExpectedStatus: 200,
			After: func(t testing.TB, _ *apitest.Server, res *http.Response, body []byte) {
				if len(body) != 0 {
					t.Errorf("HEAD returned a body: %q", body)
				}
				if res.Header.Get("Content-Type") == "" {
					t.Error("HEAD lacks the GET response's headers")
				}
			}},
		{Name: "405 lists HEAD with GET", Method: "POST", Path: "/health", ExpectedStatus: 405,
			ExpectedHeaders: map[string]string{"Allow": "GET, HEAD"}},
	})
}
