package identity

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// APIKeyPrefix starts every Fluxbase API key: what tells a key from a JWT.
const APIKeyPrefix = "fbk_"

// API key scopes. A key carries some of them; JWTs carry none and are not
// limited by scope (row level security still decides what they see).
const (
	ScopeReadTables       = "read:tables"
	ScopeWriteTables      = "write:tables"
	ScopeReadStorage      = "read:storage"
	ScopeWriteStorage     = "write:storage"
	ScopeReadFunctions    = "read:functions"
	ScopeExecuteFunctions = "execute:functions"
	ScopeReadAuth         = "read:auth"
	ScopeWriteAuth        = "write:auth"
	// ScopeWriteRealtime lets a key broadcast from the server
	// (POST /api/v1/realtime/broadcast).
	ScopeWriteRealtime = "write:realtime"
)

// Scopes lists every API key scope.
var Scopes = []string{
	ScopeReadTables, ScopeWriteTables, ScopeReadStorage, ScopeWriteStorage,
	ScopeReadFunctions, ScopeExecuteFunctions, ScopeReadAuth, ScopeWriteAuth,
	ScopeWriteRealtime,
}

// CodeInsufficientScope is the error code of a request whose API key lacks
// the scope the endpoint needs.
const CodeInsufficientScope = "insufficient_scope"

// APIKeyResolver turns an fbk_ key into the identity it acts as. The auth
// server implements it; identity only knows the interface, so that the
// spine does not depend on the auth server. Errors are *httpx.Error (401 for
// an unknown, revoked or expired key; 429 over the key's rate limit).
type APIKeyResolver interface {
	ResolveAPIKey(ctx context.Context, key string) (Identity, error)
}

// SetAPIKeyResolver installs the resolver of API keys. Without one, keys
// are refused as unknown.
func (s *Service) SetAPIKeyResolver(r APIKeyResolver) {
	s.apiKeys.Store(&r)
}

func (s *Service) resolveAPIKey(ctx context.Context, key string) (Identity, error) {
	p := s.apiKeys.Load()
	if p == nil {
		return Identity{}, unauthorized(CodeInvalidAPIKey, "API keys are not accepted by this server")
	}
	id, err := (*p).ResolveAPIKey(ctx, key)
	if err != nil {
		return Identity{}, err
	}
	id.Token = key
	return id, nil
}

// CodeInvalidAPIKey is the error code of an unknown, revoked or expired key.
const CodeInvalidAPIKey = "invalid_api_key"

// IsAPIKey reports whether tok has the form of a Fluxbase API key.
func IsAPIKey(tok string) bool { return strings.HasPrefix(tok, APIKeyPrefix) }

// RequireScope answers nil when the request in ctx may use scope: callers
// with a JWT (or no token, as anon) always may, API keys only when they
// carry it. Otherwise it returns a 403 insufficient_scope *httpx.Error;
// without an identity in ctx at all, a 401.
func RequireScope(ctx context.Context, scope string) error {
	id, ok := FromContext(ctx)
	if !ok {
		return httpx.ErrUnauthorized
	}
	return id.RequireScope(scope)
}

// RequireScope is the package function for an identity at hand.
func (id Identity) RequireScope(scope string) error {
	if id.APIKeyID == "" || slices.Contains(id.Scopes, scope) {
		return nil
	}
	return httpx.NewError(http.StatusForbidden, CodeInsufficientScope,
		"this API key does not have the "+scope+" scope").
		WithHint("create a key with the scope, or use a session token")
}
