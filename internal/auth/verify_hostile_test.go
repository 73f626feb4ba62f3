package auth_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/config"
)

// TestFlowsHostileInput sends malformed and hostile requests to every mail,
// OTP, OAuth, MFA and template endpoint of both families: each answers
// with a JSON body and a status below 500 (redirecting endpoints redirect),
// and nothing is dropped.
func TestFlowsHostileInput(t *testing.T) {
	t.Parallel()
	s, mp := mailServer(t, func(c *config.Config) {
		c.Auth.RateLimit.Enabled = false
		c.Auth.Mailer.MaxFrequency = 0
	})
	u := signUpConfirmed(t, s, mp, "hostile@example.com")
	user, admin := bearer(u.AccessToken), bearer(s.ServiceRoleKey)
	inj := `'; drop table auth.users; --`
	q := url.QueryEscape(inj)
	bodies := []any{
		`{`, `[]`, `"x"`, `null`, `{"email": ["a"]}`, `{"data": "notobject"}`, `{"a":1}{"b":2}`,
		map[string]any{"email": inj, "token": inj, "token_hash": inj, "type": inj, "code_challenge": inj, "code_challenge_method": inj},
		map[string]any{"email": "hostile@example.com", "token": strings.Repeat("9", 5000), "type": "email"},
		map[string]any{"type": "magiclink", "token_hash": strings.Repeat("a", 5000)},
		map[string]any{"auth_code": inj, "code_verifier": inj},
		map[string]any{"factor_type": inj, "friendly_name": strings.Repeat("n", 500), "challenge_id": inj, "code": inj},
		map[string]any{"subject": "{{ .X.Y.Z }}", "body_html": "{{ template \"x\" }}", "body_text": inj},
		map[string]any{"kind": "oauth2", "client_id": inj, "authorization_url": inj, "token_url": "http://x", "userinfo_url": "ftp://x"},
		map[string]any{"email": "x@example.com\u0000", "data": map[string]any{inj: inj}},
	}
	type route struct {
		method, path string
		h            map[string]string
	}
	var routes []route
	for _, base := range []string{"/auth/v1", "/api/v1/auth"} {
		routes = append(routes,
			route{"POST", base + "/otp?redirect_to=" + q, hdr(s)},
			route{"POST", base + "/magiclink", hdr(s)},
			route{"POST", base + "/verify", hdr(s)},
			route{"POST", base + "/recover?redirect_to=javascript:alert(1)", hdr(s)},
			route{"POST", base + "/resend", hdr(s)},
			route{"POST", base + "/invite", admin},
			route{"POST", base + "/admin/generate_link", admin},
			route{"POST", base + "/token?grant_type=pkce", hdr(s)},
			route{"GET", base + "/authorize?provider=" + q + "&code_challenge=" + q, hdr(s)},
			route{"GET", base + "/user/identities/authorize?provider=" + q, user},
			route{"POST", base + "/factors", user},
			route{"POST", base + "/factors/" + q + "/challenge", user},
			route{"POST", base + "/factors/00000000-0000-4000-8000-000000000000/verify", user},
			route{"DELETE", base + "/factors/" + q, user},
		)
	}
	routes = append(routes,
		route{"POST", "/api/v1/auth/otp/verify", hdr(s)},
		route{"POST", "/api/v1/auth/magiclink/verify", hdr(s)},
		route{"PUT", "/api/v1/auth/admin/templates/" + q, admin},
		route{"PUT", "/api/v1/auth/admin/templates/invite", admin},
		route{"PUT", "/api/v1/auth/admin/providers/" + q, admin},
		route{"PUT", "/api/v1/auth/admin/providers/acme", admin},
		route{"GET", "/api/v1/auth/admin/providers/" + q, admin},
	)
	for _, rt := range routes {
		for _, b := range bodies {
			h := map[string]string{"Content-Type": "application/json"}
			for k, v := range rt.h {
				h[k] = v
			}
			res, body := s.Do(t, rt.method, rt.path, h, b)
			if res.StatusCode >= 500 || (res.StatusCode >= 300 && res.StatusCode < 400) {
				t.Errorf("%s %s with %v: status %d: %s", rt.method, rt.path, b, res.StatusCode, body)
			}
			if len(body) > 0 && !json.Valid(body) {
				t.Errorf("%s %s: body is not JSON: %s", rt.method, rt.path, body)
			}
		}
	}
	// The redirecting endpoints answer hostile parameters with redirects
	// to the site, never to the parameter.
	for _, p := range []string{
		"/auth/v1/verify?type=" + q + "&token=" + q + "&redirect_to=" + url.QueryEscape("https://evil.example/"),
		"/auth/v1/callback?state=" + q + "&code=" + q,
		"/api/v1/auth/callback?error=" + q + "&state=" + q,
	} {
		res, loc := noFollow(t, s.URL+p)
		require.True(t, res.StatusCode == 302 || res.StatusCode == 303, "%s: %d", p, res.StatusCode)
		assert.Equal(t, "app.test", loc.Host, p)
	}
	var n int
	require.NoError(t, s.DB.DB.Admin.QueryRow(context.Background(), `select count(*) from auth.users`).Scan(&n))
	assert.GreaterOrEqual(t, n, 1)
	signIn(t, s, "hostile@example.com", "password-1")
}
