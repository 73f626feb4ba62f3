package identity

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
)

// Role names that Fluxbase's migrations create and that tokens usually carry.
const (
	RoleAnon          = "anon"
	RoleAuthenticated = "authenticated"
	RoleServiceRole   = "service_role"
)

// Identity is who a request runs as, established from a verified token or,
// without a token, the anonymous role.
type Identity struct {
	// Role is the PostgreSQL role the request transaction switches to.
	Role string
	// Subject is the token's "sub" claim; empty for anonymous callers.
	Subject string
	// Claims are the verified claims, decoded with numbers kept as
	// json.Number so that nothing loses precision on the way to SQL.
	Claims map[string]any
	// RawClaims is Claims as JSON, what request.jwt.claims is set to.
	RawClaims []byte
	// Token is the bearer token as presented. It is a credential: it is
	// deliberately left out of String and LogValue.
	Token string
	// KeyID names the signing key that verified the token ("" for HS256
	// tokens and anonymous callers).
	KeyID string
	// APIKeyID is set when the caller used a Fluxbase API key (fbk_...);
	// Scopes are then that key's scopes. Both are empty for JWTs.
	APIKeyID string
	Scopes   []string
}

// Anonymous reports whether the identity came from no token at all.
func (id Identity) Anonymous() bool { return id.Token == "" }

// String renders the identity without its token, so that printing an
// Identity with %v cannot leak a credential.
func (id Identity) String() string {
	if id.APIKeyID != "" {
		return fmt.Sprintf("identity{role=%s sub=%s api_key=%s}", id.Role, id.Subject, id.APIKeyID)
	}
	return fmt.Sprintf("identity{role=%s sub=%s kid=%s}", id.Role, id.Subject, id.KeyID)
}

// GoString keeps %#v from printing the token either.
func (id Identity) GoString() string { return id.String() }

// LogValue keeps the token out of structured logs.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("role", id.Role),
		slog.String("sub", id.Subject),
		slog.String("kid", id.KeyID),
	)
}

type ctxKey struct{}

// WithIdentity returns a context carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity that Middleware stored in ctx.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// anonIdentity is the identity of a caller without a token: the claims are
// exactly what PostgREST sets for such requests, so that auth.role() answers
// "anon" in SQL.
func anonIdentity() Identity {
	return Identity{
		Role:      RoleAnon,
		Claims:    map[string]any{"role": RoleAnon},
		RawClaims: []byte(`{"role":"anon"}`),
	}
}

// validRole accepts the role names a token may ask for. PostgreSQL would
// accept any string as a quoted name, but a role claim with spaces, quotes or
// control characters is never legitimate and would only make error messages
// and logs ambiguous.
var validRole = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,62}$`)
