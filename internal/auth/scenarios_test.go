package auth_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

func TestSignupAndSignInScenarios(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *config.Config) {
		c.Auth.Password.RequiredCharacters = []string{"digits"}
		c.Auth.AnonymousSignIns = true
	})
	v2 := map[string]string{"X-Supabase-Api-Version": "2024-01-01"}
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "signup", Method: "POST", Path: "/auth/v1/signup", Body: map[string]any{"email": "Ann@Example.com", "password": "password1", "data": map[string]any{"name": "Ann"}},
			ExpectedStatus: 200, ExpectedContent: []string{`"token_type":"bearer"`, `"email":"ann@example.com"`, `"name":"Ann"`, `"provider":"email"`, `"identities":[{`}},
		{Name: "signup taken", Method: "POST", Path: "/auth/v1/signup", Body: map[string]any{"email": "ann@example.com", "password": "password1"},
			ExpectedStatus: 422, ExpectedJSON: map[string]any{"error_code": "user_already_exists", "msg": "User already registered", "code": 422.0}},
		{Name: "signup taken, new error shape", Method: "POST", Path: "/auth/v1/signup", Headers: v2, Body: map[string]any{"email": "ann@example.com", "password": "password1"},
			ExpectedStatus: 422, ExpectedJSON: map[string]any{"code": "user_already_exists", "message": "User already registered"},
			ExpectedHeaders: map[string]string{"X-Supabase-Api-Version": "2024-01-01"}},
		{Name: "weak password", Method: "POST", Path: "/auth/v1/signup", Body: map[string]any{"email": "weak@example.com", "password": "short"},
			ExpectedStatus: 422, ExpectedContent: []string{`"error_code":"weak_password"`, `"weak_password":{"reasons":["length","characters"]}`}},
		{Name: "weak password native", Method: "POST", Path: "/api/v1/auth/signup", Body: map[string]any{"email": "weak@example.com", "password": "longbutnodigits"},
			ExpectedStatus: 422, ExpectedContent: []string{`"code":"weak_password"`, `"details":{"reasons":["characters"]}`}},
		{Name: "bad email", Method: "POST", Path: "/auth/v1/signup", Body: map[string]any{"email": "not-an-email", "password": "password1"},
			ExpectedStatus: 400, ExpectedContent: []string{`"error_code":"email_address_invalid"`}},
		{Name: "no password", Method: "POST", Path: "/auth/v1/signup", Body: map[string]any{"email": "x@example.com"},
			ExpectedStatus: 400, ExpectedContent: []string{`"error_code":"validation_failed"`}},
		{Name: "malformed json", Method: "POST", Path: "/auth/v1/signup", Body: `{"email":`, Headers: map[string]string{"Content-Type": "application/json"},
			ExpectedStatus: 400, ExpectedContent: []string{`"error_code":"bad_json"`}},
		{Name: "wrong json type", Method: "POST", Path: "/api/v1/auth/signup", Body: `{"email": 5}`,
			ExpectedStatus: 400, ExpectedContent: []string{`"code":"bad_json"`}},
		{Name: "phone without sms", Method: "POST", Path: "/auth/v1/signup", Body: map[string]any{"phone": "+15555550100", "password": "password1"},
			ExpectedStatus: 400, ExpectedContent: []string{`phone_provider_disabled`}},
		{Name: "anonymous", Method: "POST", Path: "/auth/v1/signup", Body: map[string]any{},
			ExpectedStatus: 200, ExpectedContent: []string{`"is_anonymous":true`, `"access_token"`}},
		{Name: "anonymous native", Method: "POST", Path: "/api/v1/auth/anonymous",
			ExpectedStatus: 200, ExpectedContent: []string{`"is_anonymous":true`}},
		{Name: "password grant", Method: "POST", Path: "/auth/v1/token?grant_type=password", Body: map[string]any{"email": "ann@example.com", "password": "password1"},
			ExpectedStatus: 200, ExpectedContent: []string{`"refresh_token"`, `"last_sign_in_at"`}},
		{Name: "native signin", Method: "POST", Path: "/api/v1/auth/signin", Body: map[string]any{"email": "ANN@example.com", "password": "password1"},
			ExpectedStatus: 200, ExpectedContent: []string{`"access_token"`}},
		{Name: "wrong password", Method: "POST", Path: "/auth/v1/token?grant_type=password", Body: map[string]any{"email": "ann@example.com", "password": "password2"},
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"error_code": "invalid_credentials", "msg": "Invalid login credentials"}},
		{Name: "unknown user same answer", Method: "POST", Path: "/auth/v1/token?grant_type=password", Body: map[string]any{"email": "nobody@example.com", "password": "password1"},
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"error_code": "invalid_credentials", "msg": "Invalid login credentials"}},
		{Name: "native wrong password", Method: "POST", Path: "/api/v1/auth/signin", Body: map[string]any{"email": "ann@example.com", "password": "nope-nope1"},
			ExpectedStatus: 400, ExpectedContent: []string{`"code":"invalid_credentials"`, `"message":"Invalid login credentials"`, `"hint":null`}},
		{Name: "no grant type", Method: "POST", Path: "/auth/v1/token", Body: map[string]any{},
			ExpectedStatus: 400, ExpectedContent: []string{`validation_failed`}},
		{Name: "unknown grant type", Method: "POST", Path: "/auth/v1/token?grant_type=magic", Body: map[string]any{},
			ExpectedStatus: 400, ExpectedContent: []string{`unsupported_grant_type`}},
		{Name: "refresh without token", Method: "POST", Path: "/auth/v1/token?grant_type=refresh_token", Body: map[string]any{},
			ExpectedStatus: 400, ExpectedContent: []string{`validation_failed`}},
		{Name: "refresh unknown", Method: "POST", Path: "/api/v1/auth/refresh", Body: map[string]any{"refresh_token": "nope"},
			ExpectedStatus: 400, ExpectedContent: []string{`"code":"refresh_token_not_found"`}},
		{Name: "settings", Method: "GET", Path: "/auth/v1/settings",
			ExpectedStatus: 200, ExpectedContent: []string{`"anonymous_users":true`, `"email":true`, `"mailer_autoconfirm":true`, `"disable_signup":false`}},
		{Name: "jwks", Method: "GET", Path: "/auth/v1/.well-known/jwks.json", ExpectedStatus: 200, ExpectedContent: []string{`"kty":"EC"`}},
		{Name: "user without token", Method: "GET", Path: "/auth/v1/user", ExpectedStatus: 401, ExpectedContent: []string{`no_authorization`}},
		{Name: "user with anon key", Method: "GET", Path: "/auth/v1/user", Headers: bearer(s.AnonKey), ExpectedStatus: 403, ExpectedContent: []string{`bad_jwt`}},
		{Name: "logout without token", Method: "POST", Path: "/auth/v1/logout", ExpectedStatus: 401},
	})
}

func TestDisabledSignupAndAnonymous(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *config.Config) { c.Auth.DisableSignup = true })
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "signup disabled", Method: "POST", Path: "/auth/v1/signup", Body: map[string]any{"email": "a@example.com", "password": "password1"},
			ExpectedStatus: 422, ExpectedContent: []string{`"error_code":"signup_disabled"`}},
		{Name: "anonymous disabled", Method: "POST", Path: "/auth/v1/signup", Body: map[string]any{},
			ExpectedStatus: 422, ExpectedContent: []string{`"error_code":"anonymous_provider_disabled"`}},
		{Name: "admin still creates", Method: "POST", Path: "/auth/v1/admin/users", Headers: bearer(s.ServiceRoleKey),
			Body: map[string]any{"email": "made@example.com", "password": "password1", "email_confirm": true}, ExpectedStatus: 200,
			ExpectedContent: []string{`"email":"made@example.com"`, `"email_confirmed_at"`}},
	})
}

func TestUserSessionsAndLogout(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := signUp(t, s, "sess@example.com", "sess-password")
	b := signIn(t, s, "sess@example.com", "sess-password")
	c := signIn(t, s, "sess@example.com", "sess-password")

	res, body := s.Do(t, "PUT", "/auth/v1/user", bearer(a.AccessToken), map[string]any{"data": map[string]any{"theme": "dark"}})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"theme":"dark"`)
	res, body = s.Do(t, "PATCH", "/api/v1/auth/user", bearer(a.AccessToken), map[string]any{"data": map[string]any{"theme": nil, "lang": "fr"}})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.NotContains(t, string(body), "theme")
	res, body = s.Do(t, "PUT", "/auth/v1/user", bearer(a.AccessToken), map[string]any{"password": "sess-password"})
	assert.Equal(t, 422, res.StatusCode)
	assert.Contains(t, string(body), "same_password")
	res, body = s.Do(t, "PUT", "/auth/v1/user", bearer(a.AccessToken), map[string]any{"password": "x"})
	assert.Equal(t, 422, res.StatusCode)
	assert.Contains(t, string(body), "weak_password")
	res, body = s.Do(t, "PUT", "/auth/v1/user", bearer(a.AccessToken), map[string]any{"password": "new-password"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	signIn(t, s, "sess@example.com", "new-password")
	res, body = s.Do(t, "PUT", "/auth/v1/user", bearer(a.AccessToken), map[string]any{"email": "moved@example.com"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"email":"moved@example.com"`)

	res, body = s.Do(t, "GET", "/api/v1/auth/sessions", bearer(a.AccessToken), nil)
	require.Equal(t, 200, res.StatusCode)
	list := decode[[]map[string]any](t, body)
	require.Len(t, list, 4)
	var current int
	for _, x := range list {
		if x["current"] == true {
			current++
		}
	}
	assert.Equal(t, 1, current)

	// Revoke b's session from a.
	bsid := claimsOf(t, b.AccessToken)["session_id"].(string)
	res, _ = s.Do(t, "DELETE", "/api/v1/auth/sessions/"+bsid, bearer(a.AccessToken), nil)
	assert.Equal(t, 204, res.StatusCode)
	res, _ = s.Do(t, "DELETE", "/api/v1/auth/sessions/"+bsid, bearer(a.AccessToken), nil)
	assert.Equal(t, 404, res.StatusCode)
	res, _ = s.Do(t, "DELETE", "/api/v1/auth/sessions/not-a-uuid", bearer(a.AccessToken), nil)
	assert.Equal(t, 404, res.StatusCode)
	res, _ = s.Do(t, "GET", "/auth/v1/user", bearer(b.AccessToken), nil)
	assert.Equal(t, 401, res.StatusCode)

	// scope=others keeps a, ends c.
	res, _ = s.Do(t, "POST", "/auth/v1/logout?scope=others", bearer(a.AccessToken), nil)
	assert.Equal(t, 204, res.StatusCode)
	res, _ = s.Do(t, "GET", "/auth/v1/user", bearer(c.AccessToken), nil)
	assert.Equal(t, 401, res.StatusCode)
	res, _ = s.Do(t, "GET", "/auth/v1/user", bearer(a.AccessToken), nil)
	assert.Equal(t, 200, res.StatusCode)
	res, _ = s.Do(t, "POST", "/auth/v1/logout?scope=sideways", bearer(a.AccessToken), nil)
	assert.Equal(t, 400, res.StatusCode)
	// Global (the default) ends the rest; signing out again still succeeds.
	res, _ = s.Do(t, "POST", "/api/v1/auth/signout", bearer(a.AccessToken), nil)
	assert.Equal(t, 204, res.StatusCode)
	res, _ = s.Do(t, "GET", "/auth/v1/user", bearer(a.AccessToken), nil)
	assert.Equal(t, 401, res.StatusCode)
	res, _ = s.Do(t, "POST", "/auth/v1/logout", bearer(a.AccessToken), nil)
	assert.Equal(t, 204, res.StatusCode)
	var audits int
	require.NoError(t, s.DB.DB.Admin.QueryRow(context.Background(), `select count(*) from auth.audit_log where action in ('logout', 'user_updated_password', 'user_modified', 'user_signedup', 'login')`).Scan(&audits))
	assert.GreaterOrEqual(t, audits, 8)
}

func TestAdminUsers(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	admin := bearer(s.ServiceRoleKey)
	for i := range 7 {
		res, body := s.Do(t, "POST", "/auth/v1/admin/users", admin, map[string]any{
			"email": "user" + strconv.Itoa(i) + "@example.com", "password": "password-" + strconv.Itoa(i),
			"email_confirm": true, "user_metadata": map[string]any{"n": i}})
		require.Equal(t, 200, res.StatusCode, "%s", body)
	}
	user := signIn(t, s, "user3@example.com", "password-3")
	uid := user.User["id"].(string)
	salt := []byte("somesaltsalt")
	argonHash := "$argon2id$v=19$m=64,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte("password"), salt, 2, 64, 1, 32))
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "list page 2", Method: "GET", Path: "/auth/v1/admin/users?page=2&per_page=3", Headers: admin, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"X-Total-Count": "7"}, ExpectedContent: []string{`"aud":"authenticated"`},
			After: func(t testing.TB, _ *apitest.Server, res *http.Response, body []byte) {
				v := decode[struct{ Users []map[string]any }](t, body)
				assert.Len(t, v.Users, 3)
				assert.Contains(t, res.Header.Get("Link"), `rel="next"`)
			}},
		{Name: "search", Method: "GET", Path: "/api/v1/auth/admin/users?filter=USER5", Headers: admin, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"X-Total-Count": "1"}, ExpectedContent: []string{"user5@example.com"}},
		{Name: "search is not a pattern", Method: "GET", Path: "/auth/v1/admin/users?filter=%25", Headers: admin, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"X-Total-Count": "0"}},
		{Name: "bad per_page", Method: "GET", Path: "/auth/v1/admin/users?per_page=0", Headers: admin, ExpectedStatus: 400},
		{Name: "not admin", Method: "GET", Path: "/auth/v1/admin/users", Headers: bearer(user.AccessToken), ExpectedStatus: 403, ExpectedContent: []string{"not_admin"}},
		{Name: "anon key", Method: "GET", Path: "/auth/v1/admin/users", Headers: bearer(s.AnonKey), ExpectedStatus: 403},
		{Name: "no token", Method: "GET", Path: "/auth/v1/admin/users", ExpectedStatus: 401},
		{Name: "get", Method: "GET", Path: "/auth/v1/admin/users/" + uid, Headers: admin, ExpectedStatus: 200, ExpectedContent: []string{"user3@example.com"}},
		{Name: "get unknown", Method: "GET", Path: "/auth/v1/admin/users/00000000-0000-0000-0000-000000000000", Headers: admin, ExpectedStatus: 404, ExpectedContent: []string{"user_not_found"}},
		{Name: "get malformed id", Method: "GET", Path: "/auth/v1/admin/users/x'1", Headers: admin, ExpectedStatus: 404},
		{Name: "create duplicate", Method: "POST", Path: "/auth/v1/admin/users", Headers: admin, Body: map[string]any{"email": "user1@example.com"}, ExpectedStatus: 422, ExpectedContent: []string{"email_exists"}},
		{Name: "create without address", Method: "POST", Path: "/auth/v1/admin/users", Headers: admin, Body: map[string]any{}, ExpectedStatus: 400},
		{Name: "create with bad hash", Method: "POST", Path: "/auth/v1/admin/users", Headers: admin, Body: map[string]any{"email": "h@example.com", "password_hash": "md5:abc"}, ExpectedStatus: 400},
		{Name: "import argon2", Method: "POST", Path: "/auth/v1/admin/users", Headers: admin, Body: map[string]any{"email": "argon@example.com", "password_hash": argonHash, "email_confirm": true}, ExpectedStatus: 200},
		{Name: "update metadata and ban", Method: "PUT", Path: "/auth/v1/admin/users/" + uid, Headers: admin,
			Body:           map[string]any{"user_metadata": map[string]any{"plan": "pro"}, "app_metadata": map[string]any{"tier": 2}, "ban_duration": "24h"},
			ExpectedStatus: 200, ExpectedContent: []string{`"plan":"pro"`, `"tier":2`, `"banned_until"`}},
		{Name: "bad ban", Method: "PUT", Path: "/auth/v1/admin/users/" + uid, Headers: admin, Body: map[string]any{"ban_duration": "forever"}, ExpectedStatus: 400},
		{Name: "banned sign-in", Method: "POST", Path: "/auth/v1/token?grant_type=password", Body: map[string]any{"email": "user3@example.com", "password": "password-3"},
			ExpectedStatus: 400, ExpectedContent: []string{"user_banned"}},
		{Name: "ban ended sessions", Method: "GET", Path: "/auth/v1/user", Headers: bearer(user.AccessToken), ExpectedStatus: 401},
		{Name: "unban", Method: "PUT", Path: "/auth/v1/admin/users/" + uid, Headers: admin, Body: map[string]any{"ban_duration": "none", "password": "password-33"}, ExpectedStatus: 200, NotExpectedContent: []string{"banned_until"}},
		{Name: "sign in after unban", Method: "POST", Path: "/auth/v1/token?grant_type=password", Body: map[string]any{"email": "user3@example.com", "password": "password-33"}, ExpectedStatus: 200},
		{Name: "ban until a time", Method: "PUT", Path: "/api/v1/auth/admin/users/" + uid, Headers: admin, Body: map[string]any{"banned_until": "2999-01-01T00:00:00Z"},
			ExpectedStatus: 200, ExpectedContent: []string{`"banned_until":"2999-01-01T00:00:00Z"`}},
		{Name: "lift with empty banned_until", Method: "PUT", Path: "/api/v1/auth/admin/users/" + uid, Headers: admin, Body: map[string]any{"banned_until": ""},
			ExpectedStatus: 200, NotExpectedContent: []string{"banned_until"}},
		{Name: "both ban forms", Method: "PUT", Path: "/api/v1/auth/admin/users/" + uid, Headers: admin, Body: map[string]any{"banned_until": "", "ban_duration": "1h"}, ExpectedStatus: 400},
		{Name: "bad banned_until", Method: "PUT", Path: "/api/v1/auth/admin/users/" + uid, Headers: admin, Body: map[string]any{"banned_until": "tomorrow"}, ExpectedStatus: 400},
		{Name: "sign out all", Method: "POST", Path: "/auth/v1/admin/users/" + uid + "/logout", Headers: admin, ExpectedStatus: 204},
		{Name: "sign out unknown user", Method: "POST", Path: "/auth/v1/admin/users/00000000-0000-0000-0000-000000000000/logout", Headers: admin, ExpectedStatus: 404},
		{Name: "sign out needs admin", Method: "POST", Path: "/auth/v1/admin/users/" + uid + "/logout", Headers: bearer(s.AnonKey), ExpectedStatus: 403},
		{Name: "delete", Method: "DELETE", Path: "/auth/v1/admin/users/" + uid, Headers: admin, ExpectedStatus: 200},
		{Name: "delete again", Method: "DELETE", Path: "/auth/v1/admin/users/" + uid, Headers: admin, ExpectedStatus: 404},
		{Name: "audit log", Method: "GET", Path: "/api/v1/auth/admin/audit?action=user_deleted", Headers: admin, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"X-Total-Count": "1"}, ExpectedContent: []string{`"action":"user_deleted"`}},
		{Name: "audit log not admin", Method: "GET", Path: "/api/v1/auth/admin/audit", Headers: bearer(s.AnonKey), ExpectedStatus: 403},
	})
	// The imported argon2 password (of "password") signs in, and is
	// re-hashed with bcrypt.
	signIn(t, s, "argon@example.com", "password")
	var h string
	require.NoError(t, s.DB.DB.Admin.QueryRow(context.Background(), `select encrypted_password from auth.users where email = 'argon@example.com'`).Scan(&h))
	assert.Contains(t, h, "$2a$")
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	u := signUp(t, s, "keys@example.com", "keys-password")
	other := signUp(t, s, "other-keys@example.com", "keys-password")
	res, body := s.Do(t, "POST", "/api/v1/auth/api-keys", bearer(u.AccessToken), map[string]any{
		"name": "ci", "description": "build bot", "scopes": []string{"read:tables", "read:auth"}, "rate_limit_per_minute": 4})
	require.Equal(t, 201, res.StatusCode, "%s", body)
	k := decode[map[string]any](t, body)
	key := k["key"].(string)
	require.Regexp(t, `^fbk_[A-Za-z0-9_-]{40,}$`, key)
	var stored []byte
	require.NoError(t, s.DB.DB.Admin.QueryRow(context.Background(), `select key_hash from auth.api_keys where id = $1`, k["id"]).Scan(&stored))
	assert.Len(t, stored, 32, "a SHA-256 hash is stored")

	// The key's limit counts per clock minute: the five requests below must
	// not straddle a minute's end.
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 5*time.Second {
		time.Sleep(left + 100*time.Millisecond)
	}
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "key in apikey header reads the user", Method: "GET", Path: "/auth/v1/user", Headers: map[string]string{"apikey": key}, ExpectedStatus: 200, ExpectedContent: []string{"keys@example.com"}},
		{Name: "key as bearer", Method: "GET", Path: "/api/v1/auth/user", Headers: bearer(key), ExpectedStatus: 200},
		{Name: "scope enforced", Method: "PUT", Path: "/auth/v1/user", Headers: bearer(key), Body: map[string]any{"data": map[string]any{"x": 1}}, ExpectedStatus: 403, ExpectedContent: []string{"insufficient_scope"}},
		{Name: "key cannot mint keys", Method: "POST", Path: "/api/v1/auth/api-keys", Headers: bearer(key), Body: map[string]any{"name": "x", "scopes": []string{"read:tables"}}, ExpectedStatus: 403},
		{Name: "rate limit", Method: "GET", Path: "/auth/v1/user", Headers: bearer(key), ExpectedStatus: 429,
			After: func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
				assert.NotEmpty(t, res.Header.Get("Retry-After"))
			}},
		{Name: "unknown key", Method: "GET", Path: "/auth/v1/user", Headers: bearer("fbk_nope"), ExpectedStatus: 401, ExpectedContent: []string{"invalid_api_key"}},
		{Name: "no scopes", Method: "POST", Path: "/api/v1/auth/api-keys", Headers: bearer(u.AccessToken), Body: map[string]any{"name": "x"}, ExpectedStatus: 400},
		{Name: "bad scope", Method: "POST", Path: "/api/v1/auth/api-keys", Headers: bearer(u.AccessToken), Body: map[string]any{"name": "x", "scopes": []string{"root"}}, ExpectedStatus: 400},
		{Name: "past expiry", Method: "POST", Path: "/api/v1/auth/api-keys", Headers: bearer(u.AccessToken), Body: map[string]any{"name": "x", "scopes": []string{"read:tables"}, "expires_at": "2001-01-01T00:00:00Z"}, ExpectedStatus: 400},
		{Name: "user cannot make service keys", Method: "POST", Path: "/api/v1/auth/api-keys", Headers: bearer(u.AccessToken), Body: map[string]any{"name": "x", "scopes": []string{"read:tables"}, "role": "service_role"}, ExpectedStatus: 403},
		{Name: "anon cannot list", Method: "GET", Path: "/api/v1/auth/api-keys", ExpectedStatus: 401},
		{Name: "list", Method: "GET", Path: "/api/v1/auth/api-keys", Headers: bearer(u.AccessToken), ExpectedStatus: 200,
			ExpectedContent: []string{`"name":"ci"`, `"last_used_at":"`, `"key_prefix":"` + key[:12] + `"`}, NotExpectedContent: []string{key}},
		{Name: "revoke", Method: "POST", Path: "/api/v1/auth/api-keys/" + k["id"].(string) + "/revoke", Headers: bearer(u.AccessToken), ExpectedStatus: 200, ExpectedContent: []string{`"revoked_at":"`}},
		{Name: "revoked key refused", Method: "GET", Path: "/auth/v1/user", Headers: bearer(key), ExpectedStatus: 401},
		{Name: "revoke unknown", Method: "POST", Path: "/api/v1/auth/api-keys/00000000-0000-0000-0000-000000000000/revoke", Headers: bearer(u.AccessToken), ExpectedStatus: 404, ExpectedContent: []string{"api_key_not_found"}},
		{Name: "another user's key is not found", Method: "POST", Path: "/api/v1/auth/api-keys/" + k["id"].(string) + "/revoke", Headers: bearer(other.AccessToken), ExpectedStatus: 404},
		{Name: "delete", Method: "DELETE", Path: "/api/v1/auth/api-keys/" + k["id"].(string), Headers: bearer(u.AccessToken), ExpectedStatus: 204},
		{Name: "delete again", Method: "DELETE", Path: "/api/v1/auth/api-keys/" + k["id"].(string), Headers: bearer(u.AccessToken), ExpectedStatus: 404},
	})

	// A service_role key administers users.
	res, body = s.Do(t, "POST", "/api/v1/auth/api-keys", bearer(s.ServiceRoleKey), map[string]any{"name": "ops", "scopes": []string{"read:auth"}})
	require.Equal(t, 201, res.StatusCode, "%s", body)
	svc := decode[map[string]any](t, body)
	assert.Equal(t, "service_role", svc["role"])
	res, _ = s.Do(t, "GET", "/auth/v1/admin/users", map[string]string{"apikey": svc["key"].(string)}, nil)
	assert.Equal(t, 200, res.StatusCode)
	res, _ = s.Do(t, "POST", "/auth/v1/admin/users", map[string]string{"apikey": svc["key"].(string)}, map[string]any{"email": "z@example.com"})
	assert.Equal(t, 403, res.StatusCode, "read:auth does not write")
}
