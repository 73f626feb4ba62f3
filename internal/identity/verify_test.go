package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
)

var testNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

const testSecret = "0123456789abcdef0123456789abcdef-test-secret"

// keySource is an in-memory stand-in for fluxbase.signing_keys, so that the
// verification rules can be tested without a database. The database-backed
// loader is tested in db_test.go.
type keySource struct {
	mu    sync.Mutex
	keys  []*signingKey
	loads atomic.Int32
}

func (ks *keySource) load(context.Context) ([]*signingKey, error) {
	ks.loads.Add(1)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return append([]*signingKey(nil), ks.keys...), nil
}

func (ks *keySource) add(k *signingKey) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.keys = append(ks.keys, k)
}

func newKey(t testing.TB, status string) *signingKey {
	t.Helper()
	priv, err := generateES256()
	require.NoError(t, err)
	kid, err := thumbprint(&priv.PublicKey)
	require.NoError(t, err)
	k := &signingKey{kid: kid, status: status, public: &priv.PublicKey, createdAt: testNow.Add(-24 * time.Hour)}
	if status == statusCurrent {
		k.private = priv
	}
	return k
}

func defaultAuth() config.AuthConfig {
	return config.AuthConfig{
		AnonymousAccess: true,
		JWT: config.JWTConfig{
			Algorithm: "ES256",
			Issuer:    "fluxbase",
			Leeway:    30 * time.Second,
		},
	}
}

// newTestService builds a Service over an in-memory key source holding one
// current key (plus any extra keys given).
func newTestService(t testing.TB, cfg config.AuthConfig, extra ...*signingKey) (*Service, *keySource, *signingKey) {
	t.Helper()
	s, err := newService(cfg, nil)
	require.NoError(t, err)
	s.now = func() time.Time { return testNow }
	cur := newKey(t, statusCurrent)
	src := &keySource{keys: append([]*signingKey{cur}, extra...)}
	s.loadKeys = src.load
	require.NoError(t, s.Reload(context.Background()))
	cur.anonKey, cur.serviceRoleKey, err = s.mintAPIKeys(cur)
	require.NoError(t, err)
	return s, src, cur
}

func userClaims(sub string) jwt.MapClaims {
	return jwt.MapClaims{
		"sub":   sub,
		"role":  "authenticated",
		"email": sub + "@example.com",
		"iss":   "fluxbase",
		"iat":   testNow.Add(-time.Minute).Unix(),
		"exp":   testNow.Add(time.Hour).Unix(),
	}
}

func signES(t testing.TB, k *ecdsa.PrivateKey, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(k)
	require.NoError(t, err)
	return s
}

func signHS(t testing.TB, secret []byte, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	require.NoError(t, err)
	return s
}

func bearer(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/rest/v1/things", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// requireAuthError asserts that err is a 401 *httpx.Error with code, and
// that its message contains msg.
func requireAuthError(t *testing.T, err error, code, msg string) {
	t.Helper()
	require.Error(t, err)
	var e *httpx.Error
	require.True(t, errors.As(err, &e), "want *httpx.Error, got %T: %v", err, err)
	assert.Equal(t, http.StatusUnauthorized, e.Status)
	assert.Equal(t, code, e.Code, "message: %s", e.Message)
	if msg != "" {
		assert.Contains(t, e.Message, msg)
	}
}

func TestVerifyValidES256(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	c := userClaims("6f1c2b1e-0000-4000-8000-000000000001")
	c["big"] = json.Number("12345678901234567890")
	tok := signES(t, cur.private, cur.kid, c)

	id, err := s.Authenticate(bearer(tok))
	require.NoError(t, err)
	assert.Equal(t, "authenticated", id.Role)
	assert.Equal(t, "6f1c2b1e-0000-4000-8000-000000000001", id.Subject)
	assert.Equal(t, cur.kid, id.KeyID)
	assert.Equal(t, tok, id.Token)
	assert.Equal(t, "6f1c2b1e-0000-4000-8000-000000000001@example.com", id.Claims["email"])
	// Large numbers survive to request.jwt.claims exactly.
	assert.Contains(t, string(id.RawClaims), `"big":12345678901234567890`)
	var back map[string]any
	require.NoError(t, json.Unmarshal(id.RawClaims, &back))
	assert.Equal(t, "authenticated", back["role"])
}

func TestVerifyValidHS256(t *testing.T) {
	cfg := defaultAuth()
	cfg.JWT.Secret = testSecret
	s, _, _ := newTestService(t, cfg)
	c := userClaims("u1")
	c["iss"] = "supabase" // legacy tokens carry Supabase's issuer: not checked for HS256
	id, err := s.Authenticate(bearer(signHS(t, []byte(testSecret), c)))
	require.NoError(t, err)
	assert.Equal(t, "authenticated", id.Role)
	assert.Equal(t, "u1", id.Subject)
	assert.Empty(t, id.KeyID)
}

func TestVerifyRejects(t *testing.T) {
	cfg := defaultAuth()
	cfg.JWT.Secret = testSecret
	s, _, cur := newTestService(t, cfg)
	other := newKey(t, statusCurrent)
	pubPEM, err := encodePublicPEM(cur.public)
	require.NoError(t, err)
	x, y, err := ecCoordinates(cur.public)
	require.NoError(t, err)
	jwks := s.keys.Load().jwks

	valid := signES(t, cur.private, cur.kid, userClaims("u1"))
	parts := strings.Split(valid, ".")

	tampered := func() string {
		c := userClaims("u1")
		c["role"] = "service_role"
		b, _ := json.Marshal(c)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}()

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, userClaims("u1")).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)

	// Algorithm confusion: an HS256 token whose HMAC key is the ES256 public
	// key in each form a confused verifier might use as the secret.
	confused := func(secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, userClaims("u1"))
		tok.Header["kid"] = cur.kid
		s, err := tok.SignedString(secret)
		require.NoError(t, err)
		return s
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	es384 := jwt.NewWithClaims(jwt.SigningMethodES384, userClaims("u1"))
	es384.Header["kid"] = cur.kid
	es384tok, err := es384.SignedString(p384)
	require.NoError(t, err)

	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, userClaims("u1")).SignedString([]byte(testSecret))
	require.NoError(t, err)

	withCrit := jwt.NewWithClaims(jwt.SigningMethodES256, userClaims("u1"))
	withCrit.Header["kid"] = cur.kid
	withCrit.Header["crit"] = []string{"exp"}
	critTok, err := withCrit.SignedString(cur.private)
	require.NoError(t, err)

	claims := func(edit func(jwt.MapClaims)) string {
		c := userClaims("u1")
		edit(c)
		return signES(t, cur.private, cur.kid, c)
	}

	cases := []struct {
		name, token, code, msg string
	}{
		{"wrong key", signES(t, other.private, cur.kid, userClaims("u1")), CodeInvalidJWT, "signature is invalid"},
		{"wrong HS256 secret", signHS(t, []byte(strings.Repeat("x", 40)), userClaims("u1")), CodeInvalidJWT, "signature is invalid"},
		{"tampered payload", tampered, CodeInvalidJWT, "signature is invalid"},
		{"signature stripped", parts[0] + "." + parts[1] + ".", CodeInvalidJWT, ""},
		{"alg none", none, CodeInvalidJWT, `alg "none" is not accepted`},
		{"confusion: public key PEM as HMAC secret", confused([]byte(pubPEM)), CodeInvalidJWT, "signature is invalid"},
		{"confusion: public point as HMAC secret", confused(append(append([]byte{4}, x...), y...)), CodeInvalidJWT, "signature is invalid"},
		{"confusion: JWKS as HMAC secret", confused(jwks), CodeInvalidJWT, "signature is invalid"},
		{"ES384", es384tok, CodeInvalidJWT, `alg "ES384" is not accepted`},
		{"HS512", hs512, CodeInvalidJWT, `alg "HS512" is not accepted`},
		{"crit header", critTok, CodeInvalidJWT, "crit"},
		{"unknown kid", signES(t, other.private, other.kid, userClaims("u1")), CodeUnknownKey, other.kid},
		{"no kid", signES(t, cur.private, "", userClaims("u1")), CodeInvalidJWT, "no kid"},
		{"expired", claims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-31 * time.Second).Unix() }), CodeJWTExpired, "expired"},
		{"no exp", claims(func(c jwt.MapClaims) { delete(c, "exp") }), CodeInvalidJWT, "no exp"},
		{"exp not a number", claims(func(c jwt.MapClaims) { c["exp"] = "tomorrow" }), CodeInvalidJWT, "wrong type"},
		{"nbf in the future", claims(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(31 * time.Second).Unix() }), CodeInvalidJWT, "not valid yet"},
		{"iat in the future", claims(func(c jwt.MapClaims) { c["iat"] = testNow.Add(time.Minute).Unix() }), CodeInvalidJWT, "issued in the future"},
		{"wrong issuer", claims(func(c jwt.MapClaims) { c["iss"] = "someone-else" }), CodeInvalidJWT, "issuer"},
		{"no issuer", claims(func(c jwt.MapClaims) { delete(c, "iss") }), CodeInvalidJWT, "issuer"},
		{"role with a space", claims(func(c jwt.MapClaims) { c["role"] = "service role" }), CodeInvalidJWT, "role"},
		{"role with a quote", claims(func(c jwt.MapClaims) { c["role"] = `x"; drop table t; --` }), CodeInvalidJWT, "role"},
		{"role not a string", claims(func(c jwt.MapClaims) { c["role"] = 7 }), CodeInvalidJWT, "role"},
		{"role empty", claims(func(c jwt.MapClaims) { c["role"] = "" }), CodeInvalidJWT, "role"},
		{"garbage", "not-a-jwt", CodeInvalidJWT, "malformed"},
		{"bad base64", "a.b.c", CodeInvalidJWT, "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := s.Authenticate(bearer(tc.token))
			requireAuthError(t, err, tc.code, tc.msg)
			assert.Empty(t, id.Role)
		})
	}
}

func TestHS256RejectedWithoutSecret(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	_, err := s.Authenticate(bearer(signHS(t, []byte(testSecret), userClaims("u1"))))
	requireAuthError(t, err, CodeInvalidJWT, "no JWT secret is configured")

	// Not even with the public key as the secret.
	pubPEM, err := encodePublicPEM(cur.public)
	require.NoError(t, err)
	_, err = s.Authenticate(bearer(signHS(t, []byte(pubPEM), userClaims("u1"))))
	requireAuthError(t, err, CodeInvalidJWT, "no JWT secret is configured")
}

func TestLeeway(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth()) // 30s leeway
	for name, edit := range map[string]func(jwt.MapClaims){
		"expired within leeway":   func(c jwt.MapClaims) { c["exp"] = testNow.Add(-29 * time.Second).Unix() },
		"nbf within leeway":       func(c jwt.MapClaims) { c["nbf"] = testNow.Add(29 * time.Second).Unix() },
		"iat within leeway":       func(c jwt.MapClaims) { c["iat"] = testNow.Add(29 * time.Second).Unix() },
		"nbf and iat in the past": func(c jwt.MapClaims) { c["nbf"] = testNow.Add(-time.Hour).Unix() },
	} {
		t.Run(name, func(t *testing.T) {
			c := userClaims("u1")
			edit(c)
			_, err := s.Authenticate(bearer(signES(t, cur.private, cur.kid, c)))
			require.NoError(t, err)
		})
	}

	cfg := defaultAuth()
	cfg.JWT.Leeway = 0
	strict, _, cur := newTestService(t, cfg)
	c := userClaims("u1")
	c["exp"] = testNow.Add(-time.Second).Unix()
	_, err := strict.Authenticate(bearer(signES(t, cur.private, cur.kid, c)))
	requireAuthError(t, err, CodeJWTExpired, "")
}

func TestAudience(t *testing.T) {
	cfg := defaultAuth()
	cfg.JWT.Audience = "my-app"
	s, _, cur := newTestService(t, cfg)
	for name, tc := range map[string]struct {
		aud any
		ok  bool
	}{
		"string match":         {"my-app", true},
		"array containing":     {[]string{"other", "my-app"}, true},
		"string mismatch":      {"other", false},
		"array not containing": {[]string{"a", "b"}, false},
		"missing":              {nil, false},
	} {
		t.Run(name, func(t *testing.T) {
			c := userClaims("u1")
			if tc.aud != nil {
				c["aud"] = tc.aud
			}
			_, err := s.Authenticate(bearer(signES(t, cur.private, cur.kid, c)))
			if tc.ok {
				require.NoError(t, err)
			} else {
				requireAuthError(t, err, CodeInvalidJWT, `audience does not include "my-app"`)
			}
		})
	}

	// Without a configured audience, aud is not checked.
	open, _, cur2 := newTestService(t, defaultAuth())
	c := userClaims("u1")
	c["aud"] = "anything"
	_, err := open.Authenticate(bearer(signES(t, cur2.private, cur2.kid, c)))
	require.NoError(t, err)
}

func TestRoleDefaultsToAnon(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	c := userClaims("u1")
	delete(c, "role")
	id, err := s.Authenticate(bearer(signES(t, cur.private, cur.kid, c)))
	require.NoError(t, err)
	assert.Equal(t, RoleAnon, id.Role)
	assert.Equal(t, "u1", id.Subject)

	cfg := defaultAuth()
	cfg.AnonymousAccess = false
	closed, _, cur := newTestService(t, cfg)
	_, err = closed.Authenticate(bearer(signES(t, cur.private, cur.kid, c)))
	requireAuthError(t, err, CodeAnonymousAccessDisabled, "")
}

func TestTokenSources(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	user := signES(t, cur.private, cur.kid, userClaims("u1"))
	anonKey := s.AnonKey()
	require.NotEmpty(t, anonKey)

	req := func(headers ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		for i := 0; i < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		return r
	}
	cases := []struct {
		name    string
		r       *http.Request
		role    string
		errCode string
	}{
		{"no token", req(), RoleAnon, ""},
		{"apikey only", req("apikey", anonKey), RoleAnon, ""},
		{"apikey header name is case-insensitive", req("APIKEY", s.ServiceRoleKey()), RoleServiceRole, ""},
		{"authorization wins over apikey", req("apikey", anonKey, "Authorization", "Bearer "+user), "authenticated", ""},
		{"scheme is case-insensitive", req("Authorization", "bearer "+user), "authenticated", ""},
		{"upper-case scheme", req("Authorization", "BEARER "+user), "authenticated", ""},
		{"other scheme is ignored, apikey used", req("Authorization", "Basic dXNlcjpwYXNz", "apikey", s.ServiceRoleKey()), RoleServiceRole, ""},
		{"other scheme alone means anon", req("Authorization", "Basic dXNlcjpwYXNz"), RoleAnon, ""},
		{"empty bearer", req("Authorization", "Bearer ", "apikey", anonKey), "", CodeInvalidJWT},
		{"bad authorization does not fall back to apikey", req("Authorization", "Bearer x.y.z", "apikey", anonKey), "", CodeInvalidJWT},
		{"bad apikey", req("apikey", "nope"), "", CodeInvalidJWT},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := s.Authenticate(tc.r)
			if tc.errCode != "" {
				requireAuthError(t, err, tc.errCode, "")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.role, id.Role)
		})
	}
}

func TestAnonymousAccessDisabled(t *testing.T) {
	cfg := defaultAuth()
	cfg.AnonymousAccess = false
	s, _, cur := newTestService(t, cfg)

	_, err := s.Authenticate(httptest.NewRequest(http.MethodGet, "/x", nil))
	requireAuthError(t, err, CodeAnonymousAccessDisabled, "")

	// The anon key is a token: presenting it is not anonymous access.
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	r.Header.Set("apikey", s.AnonKey())
	id, err := s.Authenticate(r)
	require.NoError(t, err)
	assert.Equal(t, RoleAnon, id.Role)

	id, err = s.Authenticate(bearer(signES(t, cur.private, cur.kid, userClaims("u1"))))
	require.NoError(t, err)
	assert.Equal(t, "authenticated", id.Role)
}

func TestMiddleware(t *testing.T) {
	cfg := defaultAuth()
	cfg.AnonymousAccess = false
	s, _, cur := newTestService(t, cfg)
	var seen Identity
	h := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := FromContext(r.Context())
		require.True(t, ok)
		seen = id
		w.WriteHeader(http.StatusNoContent)
	}))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, bearer(signES(t, cur.private, cur.kid, userClaims("u9"))))
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, "u9", seen.Subject)

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/x", nil))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `Bearer realm="fluxbase"`, w.Header().Get("WWW-Authenticate"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, CodeAnonymousAccessDisabled, body["code"])
	assert.Contains(t, body, "hint")

	w = httptest.NewRecorder()
	c := userClaims("u9")
	c["exp"] = testNow.Add(-time.Hour).Unix()
	h.ServeHTTP(w, bearer(signES(t, cur.private, cur.kid, c)))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `Bearer realm="fluxbase", error="invalid_token", error_description="the token has expired"`, w.Header().Get("WWW-Authenticate"))
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, CodeJWTExpired, body["code"])

	// A hostile kid cannot break out of the quoted-string of the challenge.
	w = httptest.NewRecorder()
	h.ServeHTTP(w, bearer(signES(t, cur.private, "x\"\\, error=\"other", userClaims("u9"))))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	ch := w.Header().Get("WWW-Authenticate")
	assert.Equal(t, 6, strings.Count(ch, `"`), ch)
}

func TestUnknownKidReloadsRateLimited(t *testing.T) {
	s, src, _ := newTestService(t, defaultAuth())
	// Another replica rotates: a new current key appears in the database.
	priv, err := generateES256()
	require.NoError(t, err)
	kid, err := thumbprint(&priv.PublicKey)
	require.NoError(t, err)
	tok := signES(t, priv, kid, userClaims("u1"))

	// Within the minimum gap since the last load, an unknown kid does not
	// reach the database.
	s.minReloadGap = time.Hour
	loads := src.loads.Load()
	src.add(&signingKey{kid: kid, status: statusPrevious, public: &priv.PublicKey, createdAt: testNow})
	for range 20 {
		_, err = s.Authenticate(bearer(tok))
		requireAuthError(t, err, CodeUnknownKey, "")
	}
	assert.Equal(t, loads, src.loads.Load())

	// Once the gap has passed, the first unknown kid reloads and verifies.
	s.minReloadGap = 0
	id, err := s.Authenticate(bearer(tok))
	require.NoError(t, err)
	assert.Equal(t, kid, id.KeyID)
	assert.Equal(t, loads+1, src.loads.Load())

	// A bogus kid reloads at most once per gap, whatever the concurrency.
	s.minReloadGap = time.Hour
	s.lastReload = time.Time{}
	bogus := signES(t, priv, "bogus", userClaims("u1"))
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Authenticate(bearer(bogus))
			var e *httpx.Error
			if !errors.As(err, &e) || e.Code != CodeUnknownKey {
				t.Errorf("want %s, got %v", CodeUnknownKey, err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, loads+2, src.loads.Load())
}

func TestSign(t *testing.T) {
	cfg := defaultAuth()
	cfg.JWT.Audience = "my-app"
	s, _, cur := newTestService(t, cfg)

	in := map[string]any{"sub": "u1", "role": "authenticated", "exp": testNow.Add(time.Hour).Unix()}
	tok, err := s.Sign(in)
	require.NoError(t, err)
	assert.Len(t, in, 3, "Sign must not modify its argument")

	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	require.NoError(t, err)
	assert.Equal(t, "ES256", parsed.Header["alg"])
	assert.Equal(t, cur.kid, parsed.Header["kid"])
	c := parsed.Claims.(jwt.MapClaims)
	assert.Equal(t, "fluxbase", c["iss"])
	assert.Equal(t, "my-app", c["aud"])
	assert.EqualValues(t, testNow.Unix(), c["iat"])

	id, err := s.Authenticate(bearer(tok))
	require.NoError(t, err)
	assert.Equal(t, "u1", id.Subject)

	_, err = s.Sign(map[string]any{"sub": "u1"})
	require.Error(t, err, "tokens without exp would never verify")

	// Explicit claims are kept.
	tok, err = s.Sign(jwt.MapClaims{"exp": testNow.Add(time.Hour).Unix(), "iss": "fluxbase", "aud": []string{"my-app", "x"}})
	require.NoError(t, err)
	_, err = s.Authenticate(bearer(tok))
	require.NoError(t, err)
}

func TestSignHS256(t *testing.T) {
	cfg := defaultAuth()
	cfg.JWT.Algorithm = "HS256"
	cfg.JWT.Secret = testSecret
	s, _, cur := newTestService(t, cfg)
	tok, err := s.Sign(map[string]any{"sub": "u1", "role": "authenticated", "exp": testNow.Add(time.Hour).Unix()})
	require.NoError(t, err)
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	require.NoError(t, err)
	assert.Equal(t, "HS256", parsed.Header["alg"])
	assert.NotContains(t, parsed.Header, "kid")
	id, err := s.Authenticate(bearer(tok))
	require.NoError(t, err)
	assert.Equal(t, "u1", id.Subject)

	// HS256 API keys are deterministic and verify.
	a1, s1, err := s.mintAPIKeys(cur)
	require.NoError(t, err)
	a2, s2, err := s.mintAPIKeys(cur)
	require.NoError(t, err)
	assert.Equal(t, a1, a2)
	assert.Equal(t, s1, s2)
	assert.NotEqual(t, a1, s1)
}

func TestAPIKeys(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	for role, key := range map[string]string{RoleAnon: s.AnonKey(), RoleServiceRole: s.ServiceRoleKey()} {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		r.Header.Set("apikey", key)
		id, err := s.Authenticate(r)
		require.NoError(t, err, role)
		assert.Equal(t, role, id.Role)
		assert.Empty(t, id.Subject)
		assert.Equal(t, cur.kid, id.KeyID)
		exp, err := jwt.MapClaims(id.Claims).GetExpirationTime()
		require.NoError(t, err)
		iat, err := jwt.MapClaims(id.Claims).GetIssuedAt()
		require.NoError(t, err)
		assert.Equal(t, cur.createdAt.Unix(), iat.Unix(), "iat is the key's creation time")
		assert.Equal(t, cur.createdAt.AddDate(10, 0, 0).Unix(), exp.Unix())
	}

	assert.True(t, s.apiKeysFresh(cur))
	// A change of issuer, audience or algorithm makes them stale.
	changed := []func(*config.AuthConfig){
		func(c *config.AuthConfig) { c.JWT.Issuer = "other" },
		func(c *config.AuthConfig) { c.JWT.Audience = "aud" },
		func(c *config.AuthConfig) { c.JWT.Algorithm = "HS256"; c.JWT.Secret = testSecret },
	}
	for _, edit := range changed {
		cfg := defaultAuth()
		edit(&cfg)
		other, err := newService(cfg, nil)
		require.NoError(t, err)
		assert.False(t, other.apiKeysFresh(cur))
	}
	// And a key signed by another key is never fresh.
	k2 := *cur
	k2.anonKey = signES(t, newKey(t, statusCurrent).private, cur.kid, s.apiKeyClaims(RoleAnon, cur.createdAt))
	assert.False(t, s.apiKeysFresh(&k2))
}

func TestNewServiceConfig(t *testing.T) {
	for name, edit := range map[string]func(*config.AuthConfig){
		"short secret":    func(c *config.AuthConfig) { c.JWT.Secret = "short" },
		"HS256 no secret": func(c *config.AuthConfig) { c.JWT.Algorithm = "HS256" },
		"unsupported alg": func(c *config.AuthConfig) { c.JWT.Algorithm = "RS256" },
		"none":            func(c *config.AuthConfig) { c.JWT.Algorithm = "none" },
		"negative leeway": func(c *config.AuthConfig) { c.JWT.Leeway = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := defaultAuth()
			edit(&cfg)
			_, err := newService(cfg, nil)
			require.Error(t, err)
		})
	}
	cfg := defaultAuth()
	cfg.JWT.Algorithm = ""
	s, err := newService(cfg, nil)
	require.NoError(t, err)
	assert.Equal(t, "ES256", s.Algorithm())
}

func FuzzVerify(f *testing.F) {
	cfg := defaultAuth()
	cfg.JWT.Secret = testSecret
	s, _, cur := newTestService(f, cfg)
	s.minReloadGap = time.Hour
	valid := signES(f, cur.private, cur.kid, userClaims("u1"))
	f.Add(valid)
	f.Add(signHS(f, []byte(testSecret), userClaims("u1")))
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := s.Verify(context.Background(), tok)
		if err != nil {
			var e *httpx.Error
			if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
				t.Fatalf("error is not a 401 *httpx.Error: %v", err)
			}
			return
		}
		if id.Role == "" || !validRole.MatchString(id.Role) || !json.Valid(id.RawClaims) {
			t.Fatalf("accepted token gave a bad identity: %v %s", id, id.RawClaims)
		}
	})
}
