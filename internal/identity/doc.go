// Package identity is the identity spine of Fluxbase: it owns the signing
// keys (ES256, generated at first start and persisted in
// fluxbase.signing_keys so that every replica shares them), the verification
// of the JWTs that callers present in the Authorization and apikey headers,
// the mapping of their claims to a PostgreSQL role, the HTTP middleware that
// puts the resulting Identity in the request context, the JWKS document and
// the long-lived anon and service_role API keys. Fluxbase API keys (fbk_...)
// are accepted in the same headers and resolved through an APIKeyResolver
// that the auth server installs; their scopes are on the Identity, and
// subsystems check them with RequireScope.
//
// It decides who the caller is, never what the caller may do: authorization
// belongs to row level security in PostgreSQL, reached through PGRequest and
// pg.(*DB).InRequestTx. This package must not grant or deny access to user
// data itself, must not log tokens, and must never hard-code a secret.
package identity
