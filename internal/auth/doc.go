// Package auth is Fluxbase's auth server: users and their identities,
// passwords, sessions and refresh-token families, access-token issuing,
// email confirmation, magic links and OTP, OAuth/OIDC, MFA, API keys,
// rate limits and the audit log. It serves two route families over one
// service: the native /api/v1/auth/... and the GoTrue-shaped /auth/v1/...
// that @supabase/auth-js speaks.
//
// Its state lives in the auth schema and is reached through the admin pool.
// It never runs application SQL on a caller's behalf (that is what request
// transactions in the other subsystems do); the one exception is the
// operator's custom-claims hook, called as service_role. Token verification and the
// request identity belong to internal/identity; this package mints tokens
// through it and answers its API-key lookups, and must not verify tokens by
// other means. Secrets it stores (TOTP seeds, client secrets, active refresh
// tokens) are encrypted with the key from auth.encryption_key or one
// generated and kept in fluxbase.secrets.
package auth
