package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// signingKey reads the server's current ES256 key, as an attacker with the
// database would have it (to forge tokens the server must still refuse for
// other reasons).
func signingKey(t *testing.T, s *apitest.Server) (*ecdsa.PrivateKey, string, string) {
	t.Helper()
	var kid, priv, pub string
	require.NoError(t, s.DB.DB.Admin.QueryRow(context.Background(),
		`select kid, private_key, public_key from fluxbase.signing_keys where status = 'current'`).Scan(&kid, &priv, &pub))
	b, _ := pem.Decode([]byte(priv))
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	require.NoError(t, err)
	return k.(*ecdsa.PrivateKey), kid, pub
}

func claimsOf(t testing.TB, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	_, _, err := jwt.NewParser().ParseUnverified(tok, c)
	require.NoError(t, err)
	return c
}

func TestTokensCarryEveryClaim(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ss := signUp(t, s, "claims@example.com", "claims-password")
	c := claimsOf(t, ss.AccessToken)
	for _, k := range []string{"sub", "role", "aud", "email", "phone", "app_metadata", "user_metadata", "aal", "amr", "session_id", "is_anonymous", "iat", "exp", "iss"} {
		assert.Contains(t, c, k)
	}
	assert.Equal(t, "authenticated", c["role"])
	assert.Equal(t, "aal1", c["aal"])
	assert.Equal(t, "claims@example.com", c["email"])
	assert.Equal(t, ss.User["id"], c["sub"])
	assert.Equal(t, false, c["is_anonymous"])
	amr := c["amr"].([]any)
	require.Len(t, amr, 1)
	assert.Equal(t, "password", amr[0].(map[string]any)["method"])
	assert.InDelta(t, float64(time.Now().Add(time.Hour).Unix()), c["exp"], 60)
	assert.Equal(t, "bearer", ss.TokenType)
	assert.EqualValues(t, 3600, ss.ExpiresIn)
}

// TestForgedTokensAreRefused is evidence 4: each of these gets 401 from
// /user, whichever family.
func TestForgedTokensAreRefused(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *config.Config) { c.Auth.JWT.Audience = "authenticated" })
	ss := signUp(t, s, "victim@example.com", "victim-password")
	key, kid, pubPEM := signingKey(t, s)
	good := claimsOf(t, ss.AccessToken)

	es := func(c jwt.MapClaims) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		tk.Header["kid"] = kid
		out, err := tk.SignedString(key)
		require.NoError(t, err)
		return out
	}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		c[k] = v
		return c
	}
	// Sanity: the server's own claims re-signed with its key pass, so the
	// failures below are due to what each case changes.
	res, body := s.Do(t, http.MethodGet, "/auth/v1/user", bearer(es(with("sub", good["sub"]))), nil)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)

	enc := base64.RawURLEncoding
	payload, _ := json.Marshal(with("role", "service_role"))
	parts := strings.Split(ss.AccessToken, ".")
	noneTok := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "."
	// HS256 signed with the public key as the HMAC secret: the classic
	// algorithm confusion.
	confused, err := jwt.NewWithClaims(jwt.SigningMethodHS256, with("role", "service_role")).SignedString([]byte(pubPEM))
	require.NoError(t, err)
	tampered := parts[0] + "." + enc.EncodeToString(payload) + "." + parts[2]

	// A revoked session: sign in twice, sign the second out.
	other := signIn(t, s, "victim@example.com", "victim-password")
	res, _ = s.Do(t, http.MethodPost, "/auth/v1/logout?scope=local", bearer(other.AccessToken), nil)
	require.Equal(t, http.StatusNoContent, res.StatusCode)

	cases := map[string]string{
		"alg none":         noneTok,
		"HS256 confusion":  confused,
		"expired":          es(with("exp", time.Now().Add(-time.Hour).Unix())),
		"wrong audience":   es(with("aud", "someone-else")),
		"tampered payload": tampered,
		"revoked session":  other.AccessToken,
		"garbage":          "not.a.token",
	}
	for name, tok := range cases {
		for _, path := range []string{"/auth/v1/user", "/api/v1/auth/user"} {
			res, body := s.Do(t, http.MethodGet, path, bearer(tok), nil)
			assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "%s %s: %s", name, path, body)
			assert.NotContains(t, string(body), "victim@example.com", name)
		}
	}
	// The revoked session's refresh token is dead too.
	res, body = refreshTok(t, s, other.RefreshToken)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Contains(t, string(body), "refresh_token_not_found")
	// The first session is untouched.
	res, _ = s.Do(t, http.MethodGet, "/auth/v1/user", bearer(ss.AccessToken), nil)
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

// TestConcurrentRefreshOneFamily is evidence 4: 20 concurrent refreshes of
// one token all succeed and leave one live token in one family.
func TestConcurrentRefreshOneFamily(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ss := signUp(t, s, "tabs@example.com", "tabs-password")
	const n = 20
	var wg sync.WaitGroup
	codes := make([]int, n)
	got := make([]session, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			res, body := refreshTok(t, s, ss.RefreshToken)
			codes[i] = res.StatusCode
			if res.StatusCode == http.StatusOK {
				got[i] = decode[session](t, body)
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		require.Equal(t, http.StatusOK, codes[i], "refresh %d", i)
		assert.Equal(t, got[0].RefreshToken, got[i].RefreshToken, "every caller holds the one live token")
		assert.NotEqual(t, ss.RefreshToken, got[i].RefreshToken)
	}
	var sessions, live, total int
	require.NoError(t, s.DB.DB.Admin.QueryRow(context.Background(), `select count(distinct session_id),
		count(*) filter (where not revoked), count(*) from auth.refresh_tokens`).Scan(&sessions, &live, &total))
	assert.Equal(t, 1, sessions, "one family")
	assert.Equal(t, 1, live, "one live token")
	assert.Equal(t, 2, total, "exactly one rotation happened")
	// The live token keeps working.
	res, body := refreshTok(t, s, got[0].RefreshToken)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
}

// TestRefreshReuseRevokesFamily is evidence 4: a reuse outside the grace
// interval revokes the whole family and is audited.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *config.Config) { c.Auth.RefreshTokenReuseInterval = 0 })
	ss := signUp(t, s, "reuse@example.com", "reuse-password")
	t0 := ss.RefreshToken
	res, body := refreshTok(t, s, t0)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	t1 := decode[session](t, body).RefreshToken
	// The parent of the active token is tolerated (a lost response)...
	res, body = refreshTok(t, s, t0)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	assert.Equal(t, t1, decode[session](t, body).RefreshToken)
	res, body = refreshTok(t, s, t1)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	t2 := decode[session](t, body).RefreshToken
	// ...but the grandparent is a reuse: the family goes.
	res, body = refreshTok(t, s, t0)
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	assert.Contains(t, string(body), `"error_code":"refresh_token_already_used"`)
	assert.Contains(t, string(body), "Invalid Refresh Token: Already Used")
	res, _ = refreshTok(t, s, t2)
	assert.Equal(t, http.StatusBadRequest, res.StatusCode, "the live token died with its family")
	res, _ = s.Do(t, http.MethodGet, "/auth/v1/user", bearer(ss.AccessToken), nil)
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "the session's access tokens fail the session check")
	var audited int
	require.NoError(t, s.DB.DB.Admin.QueryRow(context.Background(),
		`select count(*) from auth.audit_log where action = 'token_revoked' and payload->>'reason' = 'refresh_token_reuse'`).Scan(&audited))
	assert.Equal(t, 1, audited)
}

// TestBruteForceSignInGets429 is evidence 4.
func TestBruteForceSignInGets429(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *config.Config) { c.Auth.RateLimit.FailedSignInBackoff = time.Minute })
	signUp(t, s, "target@example.com", "the-right-password")
	var last *http.Response
	var lastBody []byte
	for i := 0; i < 10; i++ {
		last, lastBody = s.Do(t, http.MethodPost, "/auth/v1/token?grant_type=password", hdr(s),
			map[string]any{"email": "target@example.com", "password": "guess-" + string(rune('a'+i))})
		if last.StatusCode == http.StatusTooManyRequests {
			break
		}
		require.Equal(t, http.StatusBadRequest, last.StatusCode, "%s", lastBody)
		assert.Contains(t, string(lastBody), "invalid_credentials")
	}
	require.Equal(t, http.StatusTooManyRequests, last.StatusCode, "%s", lastBody)
	assert.NotEmpty(t, last.Header.Get("Retry-After"))
	assert.Contains(t, string(lastBody), "over_request_rate_limit")
	// Even the right password waits: the backoff is per account.
	res, _ := s.Do(t, http.MethodPost, "/auth/v1/token?grant_type=password", hdr(s),
		map[string]any{"email": "target@example.com", "password": "the-right-password"})
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	// An unknown account backs off the same way, revealing nothing.
	for i := 0; i < 6; i++ {
		res, _ = s.Do(t, http.MethodPost, "/auth/v1/token?grant_type=password", hdr(s),
			map[string]any{"email": "nobody@example.com", "password": "whatever-x"})
	}
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
}

// TestPerIPRateLimit: the per-address limit of an endpoint family answers 429.
func TestPerIPRateLimit(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *config.Config) { c.Auth.RateLimit.TokenRefresh = 3 })
	var codes []int
	for i := 0; i < 5; i++ {
		res, _ := refreshTok(t, s, "no-such-token")
		codes = append(codes, res.StatusCode)
		if res.StatusCode == 429 {
			assert.NotEmpty(t, res.Header.Get("Retry-After"))
		}
	}
	assert.Equal(t, []int{400, 400, 400, 429, 429}, codes)
}

// TestHS256Mode: with auth.jwt.algorithm HS256 the auth server's tokens are
// HMACs of the configured secret, and everything else works the same.
func TestHS256Mode(t *testing.T) {
	t.Parallel()
	const secret = "an-hs256-secret-that-is-long-enough-for-tests"
	s := newServer(t, func(c *config.Config) {
		c.Auth.JWT.Algorithm = "HS256"
		c.Auth.JWT.Secret = secret
	})
	ss := signUp(t, s, "hs@example.com", "hs-password")
	tok, err := jwt.Parse(ss.AccessToken, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS256"}))
	require.NoError(t, err)
	assert.True(t, tok.Valid)
	res, body := s.Do(t, http.MethodGet, "/auth/v1/user", bearer(ss.AccessToken), nil)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	res, body = refreshTok(t, s, ss.RefreshToken)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsOf(t, ss.AccessToken)).SignedString([]byte("another-secret-another-secret-another"))
	require.NoError(t, err)
	res, _ = s.Do(t, http.MethodGet, "/auth/v1/user", bearer(forged), nil)
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
}
