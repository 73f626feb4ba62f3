package identity

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// keyTable resolves a fixed set of keys, standing in for the auth server.
type keyTable map[string]Identity

func (k keyTable) ResolveAPIKey(_ context.Context, key string) (Identity, error) {
	id, ok := k[key]
	if !ok {
		return Identity{}, unauthorized(CodeInvalidAPIKey, "unknown key")
	}
	return id, nil
}

func TestAPIKeysInBothHeaders(t *testing.T) {
	s, _, cur := newTestService(t, defaultAuth())
	const key = "fbk_abc"
	userTok := signES(t, cur.private, cur.kid, userClaims("u1"))

	req := func(h ...string) (Identity, error) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return s.Authenticate(r)
	}
	_, err := req("apikey", key)
	requireAuthError(t, err, CodeInvalidAPIKey, "")

	s.SetAPIKeyResolver(keyTable{key: {Role: RoleAuthenticated, Subject: "u9", APIKeyID: "k1", Scopes: []string{ScopeReadTables}}})
	for _, h := range [][]string{{"apikey", key}, {"Authorization", "Bearer " + key}, {"Authorization", "bearer " + key, "apikey", s.AnonKey()}} {
		id, err := req(h...)
		require.NoError(t, err, h)
		assert.Equal(t, "k1", id.APIKeyID)
		assert.Equal(t, "u9", id.Subject)
		assert.Equal(t, key, id.Token)
		assert.NotContains(t, id.String(), key)
	}
	// A user token in Authorization wins over a key in apikey.
	id, err := req("apikey", key, "Authorization", "Bearer "+userTok)
	require.NoError(t, err)
	assert.Equal(t, "u1", id.Subject)
	assert.Empty(t, id.APIKeyID)
	_, err = req("apikey", "fbk_other")
	requireAuthError(t, err, CodeInvalidAPIKey, "")
}

func TestRequireScope(t *testing.T) {
	keyID := Identity{Role: RoleAuthenticated, APIKeyID: "k1", Scopes: []string{ScopeReadTables}}
	assert.NoError(t, keyID.RequireScope(ScopeReadTables))
	err := keyID.RequireScope(ScopeWriteTables)
	require.Error(t, err)
	e := httpx.AsError(err)
	assert.Equal(t, http.StatusForbidden, e.Status)
	assert.Equal(t, CodeInsufficientScope, e.Code)

	// JWTs and anonymous callers are not limited by scope.
	assert.NoError(t, Identity{Role: RoleAuthenticated, Subject: "u"}.RequireScope(ScopeWriteStorage))
	assert.NoError(t, RequireScope(WithIdentity(context.Background(), anonIdentity()), ScopeWriteTables))
	assert.Error(t, RequireScope(WithIdentity(context.Background(), keyID), ScopeExecuteFunctions))
	assert.Equal(t, http.StatusUnauthorized, httpx.AsError(RequireScope(context.Background(), ScopeReadTables)).Status)
	assert.True(t, IsAPIKey("fbk_x"))
	assert.False(t, IsAPIKey("eyJ"))
	assert.Len(t, Scopes, 9)
}

// limitedKeys answers every key as over its rate limit.
type limitedKeys struct{}

func (limitedKeys) ResolveAPIKey(context.Context, string) (Identity, error) {
	return Identity{}, httpx.NewError(http.StatusTooManyRequests, "over_request_rate_limit", "slow down").
		WithDetails(map[string]any{"retry_after": int64(7)})
}

func TestMiddlewareRateLimitedKey(t *testing.T) {
	s, _, _ := newTestService(t, defaultAuth())
	s.SetAPIKeyResolver(limitedKeys{})
	h := s.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("must not be reached") }))
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/rest/v1/x", nil)
	r.Header.Set("apikey", "fbk_x")
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "7", w.Header().Get("Retry-After"))
	assert.Empty(t, w.Header().Get("WWW-Authenticate"))
}
