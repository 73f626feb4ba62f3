package auth_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/auth"
	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/testutil"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

func TestCustomClaimsHook(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *config.Config) { c.Auth.Hooks.CustomClaims = "public.claims_hook" })
	_, err := s.DB.DB.Admin.Exec(context.Background(), `
		create function public.claims_hook(event jsonb) returns jsonb language sql as $$
		  select jsonb_build_object('claims', (event->'claims') || jsonb_build_object(
		    'plan', 'pro', 'method', event->>'authentication_method', 'role', 'postgres', 'sub', 'someone-else'))
		$$`)
	require.NoError(t, err)
	ss := signUp(t, s, "hooked@example.com", "hooked-password")
	c := claimsOf(t, ss.AccessToken)
	assert.Equal(t, "pro", c["plan"])
	assert.Equal(t, "password", c["method"])
	assert.Equal(t, "authenticated", c["role"], "required claims cannot be changed by the hook")
	assert.Equal(t, ss.User["id"], c["sub"])
	res, body := refreshTok(t, s, ss.RefreshToken)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Equal(t, "token_refresh", claimsOf(t, decode[session](t, body).AccessToken)["method"])

	// A hook that fails fails the sign-in instead of issuing a token
	// without the claims it should carry.
	_, err = s.DB.DB.Admin.Exec(context.Background(), `create or replace function public.claims_hook(event jsonb) returns jsonb
		language sql as $$ select jsonb_build_object('nope', 1) $$`)
	require.NoError(t, err)
	res, body = s.Do(t, "POST", "/auth/v1/token?grant_type=password", hdr(s), map[string]any{"email": "hooked@example.com", "password": "hooked-password"})
	assert.Equal(t, 500, res.StatusCode, "%s", body)
	assert.NotContains(t, string(body), "access_token")
}

func TestSessionTimebox(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *config.Config) { c.Auth.SessionTimebox = time.Second })
	ss := signUp(t, s, "boxed@example.com", "boxed-password")
	res, _ := s.Do(t, "GET", "/auth/v1/user", bearer(ss.AccessToken), nil)
	require.Equal(t, 200, res.StatusCode)
	time.Sleep(1100 * time.Millisecond)
	res, body := s.Do(t, "GET", "/auth/v1/user", bearer(ss.AccessToken), nil)
	assert.Equal(t, 401, res.StatusCode)
	assert.Contains(t, string(body), "session_expired")
	res, body = refreshTok(t, s, ss.RefreshToken)
	assert.Equal(t, 400, res.StatusCode)
	assert.Contains(t, string(body), `"error_code":"session_expired"`)
	res, _ = refreshTok(t, s, ss.RefreshToken)
	assert.Equal(t, 400, res.StatusCode, "the expired session is gone")
}

func TestRateLimitUsesTrustedForwardedAddress(t *testing.T) {
	t.Parallel()
	signup := func(s *apitest.Server, i int, xff string) int {
		h := hdr(s)
		if xff != "" {
			h["X-Forwarded-For"] = xff
		}
		res, _ := s.Do(t, "POST", "/auth/v1/signup", h, map[string]any{"email": "p" + string(rune('a'+i)) + "@example.com", "password": "proxy-password"})
		return res.StatusCode
	}
	trusted := newServer(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1/32"}
		c.Auth.RateLimit.SignUp = 2
	})
	assert.Equal(t, 200, signup(trusted, 0, "203.0.113.1"))
	assert.Equal(t, 200, signup(trusted, 1, "203.0.113.1"))
	assert.Equal(t, 429, signup(trusted, 2, "203.0.113.1"))
	assert.Equal(t, 200, signup(trusted, 3, "203.0.113.2"), "another client behind the proxy has its own budget")

	untrusted := newServer(t, func(c *config.Config) { c.Auth.RateLimit.SignUp = 2 })
	assert.Equal(t, 200, signup(untrusted, 0, "203.0.113.1"))
	assert.Equal(t, 200, signup(untrusted, 1, "203.0.113.2"))
	assert.Equal(t, 429, signup(untrusted, 2, "203.0.113.3"), "a forged X-Forwarded-For does not escape the limit")
}

// TestHostileInput sends malformed and hostile requests to every core
// endpoint of both families: each answers a 4xx with a JSON body, never a
// 500 or a hang.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *config.Config) { c.Auth.RateLimit.Enabled = false })
	u := signUp(t, s, "hostile@example.com", "hostile-password")
	user, admin := bearer(u.AccessToken), bearer(s.ServiceRoleKey)
	inj := `'; drop table auth.users; --`
	bodies := []any{
		`{`, `[]`, `"x"`, `null`, `{"email": ["a"]}`, `{"password": {"x": 1}}`, `{"data": "notobject"}`,
		map[string]any{"email": inj, "password": inj, "phone": inj, "refresh_token": inj, "data": map[string]any{inj: inj}},
		map[string]any{"email": strings.Repeat("a", 5000) + "@example.com", "password": strings.Repeat("p", 5000)},
		map[string]any{"email": "x@example.com\u0000", "password": "pw\u0000pw-long"},
		map[string]any{"scopes": []any{inj, 5}, "name": inj, "expires_at": "yesterday", "rate_limit_per_minute": -1},
		map[string]any{"ban_duration": inj, "role": inj, "user_metadata": 5, "password_hash": inj},
		`{"a":1}{"b":2}`,
	}
	type route struct {
		method, path string
		h            map[string]string
	}
	routes := []route{}
	for _, base := range []string{"/auth/v1", "/api/v1/auth"} {
		routes = append(routes,
			route{"POST", base + "/signup", hdr(s)},
			route{"POST", base + "/token?grant_type=password", hdr(s)},
			route{"POST", base + "/token?grant_type=refresh_token", hdr(s)},
			route{"POST", base + "/token?grant_type=" + inj, hdr(s)},
			route{"GET", base + "/admin/users?page=" + inj + "&filter=" + inj, admin},
			route{"POST", base + "/admin/users", admin},
			route{"PUT", base + "/admin/users/" + u.User["id"].(string), admin},
			route{"GET", base + "/admin/users/%27%3B--", admin},
			route{"DELETE", base + "/admin/users/%27%3B--", admin},
			route{"POST", base + "/admin/users/%27%3B--/logout", admin},
		)
	}
	routes = append(routes,
		route{"PUT", "/auth/v1/user", user},
		route{"PATCH", "/api/v1/auth/user", user},
		route{"POST", "/api/v1/auth/signin", hdr(s)},
		route{"POST", "/api/v1/auth/refresh", hdr(s)},
		route{"POST", "/api/v1/auth/api-keys", user},
		route{"POST", "/api/v1/auth/api-keys/%27%3B--/revoke", user},
		route{"DELETE", "/api/v1/auth/sessions/%27%3B--", user},
		route{"GET", "/api/v1/auth/admin/audit?user_id=" + inj + "&per_page=-5", admin},
		route{"POST", "/auth/v1/logout?scope=" + inj, user},
	)
	for _, rt := range routes {
		for _, b := range bodies {
			h := map[string]string{"Content-Type": "application/json"}
			for k, v := range rt.h {
				h[k] = v
			}
			res, body := s.Do(t, rt.method, strings.ReplaceAll(rt.path, " ", "%20"), h, b)
			if res.StatusCode >= 500 || res.StatusCode < 400 && res.StatusCode != 200 && res.StatusCode != 201 && res.StatusCode != 204 {
				t.Errorf("%s %s with %v: status %d: %s", rt.method, rt.path, b, res.StatusCode, body)
			}
			if len(body) > 0 && !json.Valid(body) {
				t.Errorf("%s %s: body is not JSON: %s", rt.method, rt.path, body)
			}
		}
	}
	// Nothing was dropped: the payloads were data. And no request that
	// failed changed anything: every body carrying a password also carried
	// an invalid field, so the password is still the first one.
	var n int
	require.NoError(t, s.DB.DB.Admin.QueryRow(context.Background(), `select count(*) from auth.users where id = $1`, u.User["id"]).Scan(&n))
	assert.Equal(t, 1, n)
	signIn(t, s, "hostile@example.com", "hostile-password")
}

func TestHousekeepingAndRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tdb := testutil.NewDB(t)
	cfg := config.Default()
	cfg.Auth.Audit.Retention = 24 * time.Hour
	cfg.Auth.Password.BcryptCost = 4
	log := slog.New(slog.DiscardHandler)
	ids, err := identity.New(ctx, tdb.DB.Admin, cfg.Auth, log)
	require.NoError(t, err)
	svc, err := auth.New(ctx, tdb.DB, ids, cfg, log)
	require.NoError(t, err)
	_, err = tdb.DB.Admin.Exec(ctx, `
		insert into auth.audit_log (action, created_at) values ('old', now() - interval '2 days'), ('new', now());
		insert into auth.rate_limits (key, window_start, hits) values ('old', now() - interval '1 day', 3), ('new', now(), 1);
		insert into auth.users (id, email) values ('00000000-0000-0000-0000-00000000000a', 'hk@example.com');
		insert into auth.one_time_tokens (user_id, token_type, token_hash, relates_to, expires_at) values
		  ('00000000-0000-0000-0000-00000000000a', 'otp', '\x01', 'hk@example.com', now() - interval '1 minute'),
		  ('00000000-0000-0000-0000-00000000000a', 'otp', '\x02', 'hk@example.com', now() + interval '1 hour');`)
	require.NoError(t, err)
	require.NoError(t, svc.Housekeeping(ctx))
	var audit, limits, tokens string
	require.NoError(t, tdb.DB.Admin.QueryRow(ctx, `select
		(select string_agg(action, ',') from auth.audit_log),
		(select string_agg(key, ',') from auth.rate_limits),
		(select string_agg(encode(token_hash, 'hex'), ',') from auth.one_time_tokens)`).Scan(&audit, &limits, &tokens))
	assert.Equal(t, "new", audit)
	assert.Equal(t, "new", limits)
	assert.Equal(t, "02", tokens)

	// Encryption keys are generated once and shared through the database.
	var n int
	require.NoError(t, tdb.DB.Admin.QueryRow(ctx, `select count(*) from fluxbase.secrets where name = 'auth_encryption_key'`).Scan(&n))
	assert.Equal(t, 1, n)
	_, err = auth.New(ctx, tdb.DB, ids, cfg, log)
	require.NoError(t, err)
	require.NoError(t, tdb.DB.Admin.QueryRow(ctx, `select count(*) from fluxbase.secrets where name = 'auth_encryption_key'`).Scan(&n))
	assert.Equal(t, 1, n)

	// Run stops when its context is cancelled.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(rctx) }()
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	_ = http.StatusOK
}
