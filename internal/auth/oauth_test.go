package auth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/testservers"
)

// oidcServer runs Fluxbase with the generic OIDC provider pointing at a
// real OpenID provider (zitadel's example server) that knows users.
func oidcServer(t *testing.T, users []testservers.OIDCUser) (*apitest.Server, *testservers.OIDCProvider) {
	t.Helper()
	port := testservers.FreePort(t)
	public := fmt.Sprintf("http://127.0.0.1:%d", port)
	op := testservers.StartOIDCProvider(t, []string{public + "/auth/v1/callback"}, users)
	s := apitest.NewServer(t, func(c *config.Config) {
		c.HTTP.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		c.PublicURL = public
		c.Auth.SiteURL = "http://app.test"
		c.Auth.RedirectAllowList = []string{"http://localhost:3000/**"}
		c.Auth.External.OIDC = config.ExternalProvider{Enabled: true, ClientID: op.ClientID, Secret: op.ClientSecret, Issuer: op.Issuer}
		c.Auth.Password.BcryptCost = 4
	})
	return s, op
}

const appCallback = "http://localhost:3000/cb"

func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	s, _ := oidcServer(t, []testservers.OIDCUser{
		{ID: "u-alice", Username: "alice", Password: "alice-pw-1", FirstName: "Alice", LastName: "Liddell", Email: "alice@example.com", EmailVerified: true},
		{ID: "u-bob", Username: "bob", Password: "bob-pw-1", FirstName: "Bob", Email: "bob@example.com", EmailVerified: true},
		{ID: "u-eve", Username: "eve", Password: "eve-pw-1", Email: "carol@example.com", EmailVerified: false},
	})

	// Implicit flow: the session arrives in the fragment.
	authorize := s.URL + "/auth/v1/authorize?provider=oidc&redirect_to=" + url.QueryEscape(appCallback)
	final := testservers.Login(t, authorize, "alice", "alice-pw-1", "http://localhost:3000/")
	f := fragment(final)
	require.NotEmpty(t, f.Get("access_token"), final.String())
	assert.NotEmpty(t, f.Get("refresh_token"))
	assert.NotEmpty(t, f.Get("provider_token"))
	res, body := s.Do(t, "GET", "/auth/v1/user", bearer(f.Get("access_token")), nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	u := decode[map[string]any](t, body)
	assert.Equal(t, "alice@example.com", u["email"])
	assert.NotNil(t, u["email_confirmed_at"], "the provider verified the address")
	ids := u["identities"].([]any)
	require.Len(t, ids, 1)
	assert.Equal(t, "oidc", ids[0].(map[string]any)["provider"])
	assert.Equal(t, "u-alice", ids[0].(map[string]any)["id"])
	assert.Equal(t, "Alice Liddell", u["user_metadata"].(map[string]any)["full_name"])
	amr := jwtClaims(t, f.Get("access_token"))["amr"].([]any)
	assert.Equal(t, "oauth", amr[0].(map[string]any)["method"])

	// Signing in again finds the same user.
	again := fragment(testservers.Login(t, authorize, "alice", "alice-pw-1", "http://localhost:3000/"))
	assert.Equal(t, jwtClaims(t, f.Get("access_token"))["sub"], jwtClaims(t, again.Get("access_token"))["sub"])

	// PKCE flow, started on the native family: a code comes back, and the
	// verifier redeems it once.
	verifier := strings.Repeat("k", 64)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	final = testservers.Login(t, s.URL+"/api/v1/auth/authorize?provider=oidc&code_challenge="+challenge+"&code_challenge_method=s256&redirect_to="+url.QueryEscape(appCallback),
		"alice", "alice-pw-1", "http://localhost:3000/")
	code := final.Query().Get("code")
	require.NotEmpty(t, code, final.String())
	res, body = s.Do(t, "POST", "/auth/v1/token?grant_type=pkce", hdr(s), map[string]any{"auth_code": code, "code_verifier": verifier})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"provider_token":"`)
	assert.Contains(t, string(body), `"email":"alice@example.com"`)
	res, _ = s.Do(t, "POST", "/auth/v1/token?grant_type=pkce", hdr(s), map[string]any{"auth_code": code, "code_verifier": verifier})
	assert.Equal(t, 404, res.StatusCode)

	// Linking by verified email: bob already has a password account.
	res, body = s.Do(t, "POST", "/auth/v1/admin/users", bearer(s.ServiceRoleKey), map[string]any{"email": "bob@example.com", "password": "password-1", "email_confirm": true})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	bobID := decode[map[string]any](t, body)["id"]
	f = fragment(testservers.Login(t, authorize, "bob", "bob-pw-1", "http://localhost:3000/"))
	require.NotEmpty(t, f.Get("access_token"))
	assert.Equal(t, bobID, jwtClaims(t, f.Get("access_token"))["sub"], "the identity joined the existing account")
	res, body = s.Do(t, "GET", "/auth/v1/user", bearer(f.Get("access_token")), nil)
	require.Equal(t, 200, res.StatusCode)
	assert.Len(t, decode[map[string]any](t, body)["identities"], 2)
	signIn(t, s, "bob@example.com", "password-1")

	// An unverified provider address never takes over an existing account.
	res, body = s.Do(t, "POST", "/auth/v1/admin/users", bearer(s.ServiceRoleKey), map[string]any{"email": "carol@example.com", "password": "password-1", "email_confirm": true})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	final = testservers.Login(t, authorize, "eve", "eve-pw-1", "http://localhost:3000/")
	assert.Equal(t, "provider_email_needs_verification", fragment(final).Get("error_code"), final.String())
	assert.Empty(t, fragment(final).Get("access_token"))

	// Explicit linking (auth-js linkIdentity): the signed-in user adds the
	// provider identity, whatever its address.
	res, body = s.Do(t, "POST", "/auth/v1/admin/users", bearer(s.ServiceRoleKey), map[string]any{"email": "frank@example.com", "password": "password-1", "email_confirm": true})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	frank := signIn(t, s, "frank@example.com", "password-1")
	res, body = s.Do(t, "GET", "/auth/v1/user/identities/authorize?provider=oidc&redirect_to="+url.QueryEscape(appCallback), bearer(frank.AccessToken), nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	f = fragment(testservers.Login(t, decode[map[string]string](t, body)["url"], "eve", "eve-pw-1", "http://localhost:3000/"))
	require.NotEmpty(t, f.Get("access_token"))
	assert.Equal(t, frank.User["id"], jwtClaims(t, f.Get("access_token"))["sub"])
	res, body = s.Do(t, "GET", "/auth/v1/user", bearer(frank.AccessToken), nil)
	require.Equal(t, 200, res.StatusCode)
	assert.Len(t, decode[map[string]any](t, body)["identities"], 2)
	// The same identity cannot then be linked to someone else.
	res, body = s.Do(t, "GET", "/auth/v1/user/identities/authorize?provider=oidc&redirect_to="+url.QueryEscape(appCallback), bearer(again.Get("access_token")), nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	final = testservers.Login(t, decode[map[string]string](t, body)["url"], "eve", "eve-pw-1", "http://localhost:3000/")
	assert.Equal(t, "identity_already_exists", fragment(final).Get("error_code"), final.String())
}

func TestOAuthErrors(t *testing.T) {
	t.Parallel()
	s, _ := oidcServer(t, nil)
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "no provider", Method: "GET", Path: "/auth/v1/authorize", ExpectedStatus: 400, ExpectedContent: []string{`validation_failed`}},
		{Name: "unknown provider", Method: "GET", Path: "/auth/v1/authorize?provider=myspace", ExpectedStatus: 400, ExpectedContent: []string{`Unsupported provider`}},
		{Name: "disabled preset", Method: "GET", Path: "/api/v1/auth/authorize?provider=google", ExpectedStatus: 400, ExpectedContent: []string{`"code":"validation_failed"`}},
		{Name: "bad pkce", Method: "GET", Path: "/auth/v1/authorize?provider=oidc&code_challenge=short&code_challenge_method=s256", ExpectedStatus: 400},
		{Name: "skip redirect", Method: "GET", Path: "/auth/v1/authorize?provider=oidc&skip_http_redirect=true", ExpectedStatus: 200,
			ExpectedContent: []string{`"url":"http://localhost:`, `code_challenge=`, `nonce=`, `state=`}},
		{Name: "link needs a session", Method: "GET", Path: "/auth/v1/user/identities/authorize?provider=oidc", ExpectedStatus: 401},
	})
	for _, q := range []string{"", "?state=forged&code=x", "?error=access_denied&state=forged"} {
		res, loc := noFollow(t, s.URL+"/auth/v1/callback"+q)
		require.Equal(t, 302, res.StatusCode)
		assert.Equal(t, "app.test", loc.Host)
		assert.Equal(t, "bad_oauth_state", fragment(loc).Get("error_code"), loc.String())
	}
	// Apple's form_post callback is read from the form.
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	pres, err := cl.PostForm(s.URL+"/auth/v1/callback", url.Values{"state": {"forged"}, "code": {"x"}})
	require.NoError(t, err)
	pres.Body.Close()
	require.Equal(t, 302, pres.StatusCode)
	ploc, _ := pres.Location()
	assert.Equal(t, "bad_oauth_state", fragment(ploc).Get("error_code"))
	// The provider's own error comes back to the application's redirect.
	res, body := s.Do(t, "GET", "/auth/v1/authorize?provider=oidc&skip_http_redirect=true&redirect_to="+url.QueryEscape(appCallback), nil, nil)
	require.Equal(t, 200, res.StatusCode)
	target, err := url.Parse(decode[map[string]string](t, body)["url"])
	require.NoError(t, err)
	res, loc := noFollow(t, s.URL+"/auth/v1/callback?error=access_denied&error_description=nope&state="+url.QueryEscape(target.Query().Get("state")))
	require.Equal(t, 302, res.StatusCode)
	assert.Equal(t, "localhost:3000", loc.Host)
	assert.Equal(t, "bad_oauth_callback", fragment(loc).Get("error_code"))
	assert.Equal(t, "nope", fragment(loc).Get("error_description"))
}

func TestRunTimeProviders(t *testing.T) {
	t.Parallel()
	s, op := oidcServer(t, []testservers.OIDCUser{
		{ID: "u-dan", Username: "dan", Password: "dan-pw-1", FirstName: "Dan", Email: "dan@example.com", EmailVerified: true},
	})
	admin := bearer(s.ServiceRoleKey)
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "needs admin", Method: "GET", Path: "/api/v1/auth/admin/providers", Headers: bearer(s.AnonKey), ExpectedStatus: 403},
		{Name: "empty list", Method: "GET", Path: "/api/v1/auth/admin/providers", Headers: admin, ExpectedStatus: 200, ExpectedContent: []string{`[]`}},
		{Name: "bad name", Method: "PUT", Path: "/api/v1/auth/admin/providers/Bad!", Headers: admin, Body: map[string]any{"kind": "oidc"}, ExpectedStatus: 400},
		{Name: "bad kind", Method: "PUT", Path: "/api/v1/auth/admin/providers/x", Headers: admin, Body: map[string]any{"kind": "saml", "client_id": "c"}, ExpectedStatus: 400},
		{Name: "oauth2 without urls", Method: "PUT", Path: "/api/v1/auth/admin/providers/x", Headers: admin, Body: map[string]any{"kind": "oauth2", "client_id": "c"}, ExpectedStatus: 400},
		{Name: "bad url", Method: "PUT", Path: "/api/v1/auth/admin/providers/x", Headers: admin, Body: map[string]any{"kind": "oidc", "client_id": "c", "issuer": "javascript:x"}, ExpectedStatus: 400},
		{Name: "bad mapping", Method: "PUT", Path: "/api/v1/auth/admin/providers/x", Headers: admin,
			Body: map[string]any{"kind": "oauth2", "client_id": "c", "authorization_url": "https://a.example/a", "token_url": "https://a.example/t", "userinfo_url": "https://a.example/u", "claim_mapping": map[string]any{"role": "x"}}, ExpectedStatus: 400},
		{Name: "configured name", Method: "PUT", Path: "/api/v1/auth/admin/providers/oidc", Headers: admin, Body: map[string]any{"kind": "oidc", "client_id": "c", "issuer": op.Issuer}, ExpectedStatus: 409},
		{Name: "missing", Method: "GET", Path: "/api/v1/auth/admin/providers/nope", Headers: admin, ExpectedStatus: 404, ExpectedContent: []string{`provider_not_found`}},
		{Name: "add oidc", Method: "PUT", Path: "/api/v1/auth/admin/providers/corp", Headers: admin,
			Body:           map[string]any{"kind": "oidc", "client_id": op.ClientID, "client_secret": op.ClientSecret, "issuer": op.Issuer},
			ExpectedStatus: 200, ExpectedContent: []string{`"has_secret":true`}, NotExpectedContent: []string{`"client_secret"`, `"client_secret_enc"`}},
		{Name: "add oauth2", Method: "PUT", Path: "/api/v1/auth/admin/providers/plain", Headers: admin,
			Body: map[string]any{"kind": "oauth2", "client_id": op.ClientID, "client_secret": op.ClientSecret,
				"authorization_url": op.Issuer + "auth", "token_url": op.Issuer + "oauth/token", "userinfo_url": op.Issuer + "userinfo",
				"scopes": []string{"openid", "email", "profile"}, "claim_mapping": map[string]any{"id": "sub"}},
			ExpectedStatus: 200, ExpectedContent: []string{`"kind":"oauth2"`}},
	})

	// Sign in through the discovered provider, then through the plain
	// OAuth2 one: the second identity joins the same account by its
	// verified address.
	f := fragment(testservers.Login(t, s.URL+"/auth/v1/authorize?provider=corp&redirect_to="+url.QueryEscape(appCallback), "dan", "dan-pw-1", "http://localhost:3000/"))
	require.NotEmpty(t, f.Get("access_token"))
	sub := jwtClaims(t, f.Get("access_token"))["sub"]
	f = fragment(testservers.Login(t, s.URL+"/auth/v1/authorize?provider=plain&redirect_to="+url.QueryEscape(appCallback), "dan", "dan-pw-1", "http://localhost:3000/"))
	require.NotEmpty(t, f.Get("access_token"), "plain OAuth2 sign-in")
	assert.Equal(t, sub, jwtClaims(t, f.Get("access_token"))["sub"])
	res, body := s.Do(t, "GET", "/auth/v1/user", bearer(f.Get("access_token")), nil)
	require.Equal(t, 200, res.StatusCode)
	u := decode[map[string]any](t, body)
	providers := []string{}
	for _, i := range u["identities"].([]any) {
		providers = append(providers, i.(map[string]any)["provider"].(string))
	}
	assert.ElementsMatch(t, []string{"corp", "plain"}, providers)

	// Disabled, then removed: the provider is no longer offered.
	res, body = s.Do(t, "PUT", "/api/v1/auth/admin/providers/plain", admin, map[string]any{"kind": "oauth2", "enabled": false, "client_id": op.ClientID,
		"authorization_url": op.Issuer + "auth", "token_url": op.Issuer + "oauth/token", "userinfo_url": op.Issuer + "userinfo"})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"has_secret":true`, "a secret left out is kept")
	res, _ = s.Do(t, "GET", "/auth/v1/authorize?provider=plain", nil, nil)
	assert.Equal(t, 400, res.StatusCode)
	res, body = s.Do(t, "GET", "/api/v1/auth/admin/providers/corp", admin, nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"issuer":"`+op.Issuer+`"`)
	res, body = s.Do(t, "GET", "/api/v1/auth/admin/providers", admin, nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Len(t, decode[[]any](t, body), 2)
	res, _ = s.Do(t, "DELETE", "/api/v1/auth/admin/providers/corp", admin, nil)
	assert.Equal(t, 204, res.StatusCode)
	res, _ = s.Do(t, "DELETE", "/api/v1/auth/admin/providers/corp", admin, nil)
	assert.Equal(t, 404, res.StatusCode)
	res, _ = s.Do(t, "GET", "/auth/v1/authorize?provider=corp", nil, nil)
	assert.Equal(t, 400, res.StatusCode)
}

// TestOAuthAcrossReplicas starts the sign-in on one Fluxbase and lets the
// provider return to another sharing the database: the flow state is in
// PostgreSQL, so the second finishes what the first began.
func TestOAuthAcrossReplicas(t *testing.T) {
	t.Parallel()
	p1, p2 := testservers.FreePort(t), testservers.FreePort(t)
	callback := fmt.Sprintf("http://127.0.0.1:%d/auth/v1/callback", p2)
	op := testservers.StartOIDCProvider(t, []string{callback}, []testservers.OIDCUser{
		{ID: "u-gil", Username: "gil", Password: "gil-pw-1", Email: "gil@example.com", EmailVerified: true},
	})
	replica := func(port int, dbURL string) func(*config.Config) {
		return func(c *config.Config) {
			c.HTTP.Addr = fmt.Sprintf("127.0.0.1:%d", port)
			c.PublicURL = fmt.Sprintf("http://127.0.0.1:%d", port)
			c.Auth.RedirectAllowList = []string{"http://localhost:3000/**"}
			c.Auth.External.OIDC = config.ExternalProvider{Enabled: true, ClientID: op.ClientID, Secret: op.ClientSecret, Issuer: op.Issuer, RedirectURI: callback}
			c.Auth.Password.BcryptCost = 4
			if dbURL != "" {
				c.Database.URL = dbURL
			}
		}
	}
	first := apitest.NewServer(t, replica(p1, ""))
	second := apitest.NewServer(t, replica(p2, first.Config.Database.URL))

	verifier := strings.Repeat("r", 50)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	final := testservers.Login(t, first.URL+"/auth/v1/authorize?provider=oidc&code_challenge="+challenge+"&code_challenge_method=s256&redirect_to="+url.QueryEscape(appCallback),
		"gil", "gil-pw-1", "http://localhost:3000/")
	code := final.Query().Get("code")
	require.NotEmpty(t, code, final.String())
	// The code, issued by the second replica, is redeemed at the first.
	res, body := first.Do(t, "POST", "/auth/v1/token?grant_type=pkce", hdr(first), map[string]any{"auth_code": code, "code_verifier": verifier})
	require.Equal(t, 200, res.StatusCode, "%s", body)
	sess := decode[session](t, body)
	res, body = second.Do(t, "GET", "/auth/v1/user", bearer(sess.AccessToken), nil)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"email":"gil@example.com"`)
}
