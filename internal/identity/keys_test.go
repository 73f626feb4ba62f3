package identity

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestThumbprint(t *testing.T) {
	k := newKey(t, statusCurrent)
	// Independently: RFC 7638 §3.2 with the members sorted by encoding/json.
	raw, err := k.public.Bytes() // 0x04 || X || Y
	require.NoError(t, err)
	x, y := raw[1:33], raw[33:]
	canonical, err := json.Marshal(map[string]string{
		"kty": "EC", "crv": "P-256",
		"x": base64.RawURLEncoding.EncodeToString(x), "y": base64.RawURLEncoding.EncodeToString(y),
	})
	require.NoError(t, err)
	sum := sha256.Sum256(canonical)
	assert.Equal(t, base64.RawURLEncoding.EncodeToString(sum[:]), k.kid)
	assert.Len(t, k.kid, 43)

	// A coordinate with a leading zero byte is still encoded on 32 bytes.
	for range 2000 {
		priv, err := generateES256()
		require.NoError(t, err)
		if priv.X.BitLen() > 248 && priv.Y.BitLen() > 248 {
			continue
		}
		x, y, err := ecCoordinates(&priv.PublicKey)
		require.NoError(t, err)
		assert.Len(t, x, 32)
		assert.Len(t, y, 32)
		return
	}
}

func TestPEMRoundTrip(t *testing.T) {
	priv, err := generateES256()
	require.NoError(t, err)
	privPEM, err := encodePrivatePEM(priv)
	require.NoError(t, err)
	pubPEM, err := encodePublicPEM(&priv.PublicKey)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(privPEM, "-----BEGIN PRIVATE KEY-----"))
	assert.True(t, strings.HasPrefix(pubPEM, "-----BEGIN PUBLIC KEY-----"))

	gotPriv, err := decodePrivatePEM(privPEM)
	require.NoError(t, err)
	assert.True(t, gotPriv.Equal(priv))
	gotPub, err := decodePublicPEM(pubPEM)
	require.NoError(t, err)
	assert.True(t, gotPub.Equal(&priv.PublicKey))

	_, err = decodePrivatePEM(pubPEM)
	assert.Error(t, err)
	_, err = decodePublicPEM(privPEM)
	assert.Error(t, err)
	_, err = decodePublicPEM("garbage")
	assert.Error(t, err)
}

func TestBuildKeySet(t *testing.T) {
	cur, prev := newKey(t, statusCurrent), newKey(t, statusPrevious)
	ks, err := buildKeySet([]*signingKey{cur, prev})
	require.NoError(t, err)
	assert.Same(t, cur, ks.current)
	assert.Len(t, ks.byKid, 2)

	_, err = buildKeySet([]*signingKey{prev})
	assert.ErrorContains(t, err, "no current")
	_, err = buildKeySet([]*signingKey{cur, newKey(t, statusCurrent)})
	assert.ErrorContains(t, err, "more than one")
	noPriv := *cur
	noPriv.private = nil
	_, err = buildKeySet([]*signingKey{&noPriv})
	assert.ErrorContains(t, err, "no private key")
}

// jwkKey rebuilds a public key from a JWK the way an external verifier would.
func jwkKey(t *testing.T, k map[string]any) *ecdsa.PublicKey {
	t.Helper()
	dec := func(s any) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s.(string))
		require.NoError(t, err)
		require.Len(t, b, 32)
		return b
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, dec(k["x"])...), dec(k["y"])...))
	require.NoError(t, err)
	return pub
}

func TestJWKSHandler(t *testing.T) {
	cfg := defaultAuth()
	cfg.JWT.Secret = testSecret
	prev := newKey(t, statusPrevious)
	s, _, cur := newTestService(t, cfg, prev)

	w := httptest.NewRecorder()
	s.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "public, max-age=300", w.Header().Get("Cache-Control"))
	body := w.Body.Bytes()
	assert.NotContains(t, string(body), testSecret)
	assert.NotContains(t, string(body), `"d"`, "no private key material")

	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	require.NoError(t, json.Unmarshal(body, &set))
	require.Len(t, set.Keys, 2)
	byKid := map[string]map[string]any{}
	for _, k := range set.Keys {
		assert.Equal(t, "EC", k["kty"])
		assert.Equal(t, "P-256", k["crv"])
		assert.Equal(t, "ES256", k["alg"])
		assert.Equal(t, "sig", k["use"])
		assert.ElementsMatch(t, []string{"alg", "crv", "key_ops", "kid", "kty", "use", "x", "y"}, keysOf(k))
		byKid[k["kid"].(string)] = k
	}
	require.Contains(t, byKid, cur.kid)
	require.Contains(t, byKid, prev.kid)

	// A token minted by the service verifies with nothing but the JWKS.
	tok, err := s.Sign(map[string]any{"sub": "u1", "exp": testNow.Add(time.Hour).Unix()})
	require.NoError(t, err)
	parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
		return jwkKey(t, byKid[tk.Header["kid"].(string)]), nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(func() time.Time { return testNow }))
	require.NoError(t, err)
	assert.True(t, parsed.Valid)

	w = httptest.NewRecorder()
	s.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodHead, "/.well-known/jwks.json", nil))
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Zero(t, w.Body.Len())

	w = httptest.NewRecorder()
	s.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/.well-known/jwks.json", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestIdentityNeverPrintsToken(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	tok := signES(t, cur.private, cur.kid, userClaims("u1"))
	id, err := s.Verify(context.Background(), tok)
	require.NoError(t, err)

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("request", "identity", id)
	assert.NotContains(t, buf.String(), tok)
	assert.Contains(t, buf.String(), `"sub":"u1"`)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(f, id), tok, f)
	}
}

func TestContext(t *testing.T) {
	_, ok := FromContext(context.Background())
	assert.False(t, ok)
	ctx := WithIdentity(context.Background(), anonIdentity())
	id, ok := FromContext(ctx)
	require.True(t, ok)
	assert.Equal(t, RoleAnon, id.Role)
	assert.True(t, id.Anonymous())
	assert.JSONEq(t, `{"role":"anon"}`, string(id.RawClaims))
}

func TestPGRequest(t *testing.T) {
	r := httptest.NewRequest(http.MethodPatch, "http://api.example.com/rest/v1/todos?id=eq.1", nil)
	r.Header.Add("X-Custom", "a")
	r.Header.Add("X-Custom", "b")
	r.Header.Add("Cookie", "a=1")
	r.Header.Add("Cookie", "b=2")
	r.Header.Set("Prefer", "return=representation")
	id := Identity{Role: "authenticated", RawClaims: []byte(`{"sub":"u1","role":"authenticated"}`)}

	req := PGRequest(r, id, false)
	assert.Equal(t, "authenticated", req.Role)
	assert.Equal(t, id.RawClaims, req.Claims)
	assert.Equal(t, http.MethodPatch, req.Method)
	assert.Equal(t, "/rest/v1/todos", req.Path)
	assert.False(t, req.ReadOnly)
	var h map[string]string
	require.NoError(t, json.Unmarshal(req.Headers, &h))
	assert.Equal(t, map[string]string{
		"x-custom": "a, b",
		"prefer":   "return=representation",
		"host":     "api.example.com",
	}, h)
	assert.JSONEq(t, `{"a":"1","b":"2"}`, string(req.Cookies))

	assert.True(t, PGRequest(r, id, true).ReadOnly)
}
