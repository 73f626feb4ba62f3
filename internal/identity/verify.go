package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// Authenticate establishes who sent r.
//
// The token is taken from "Authorization: Bearer <jwt>" (scheme matched
// case-insensitively) or else from the apikey header, where Supabase clients
// send the anon key; when both are present, Authorization wins, because it
// carries the signed-in user while apikey carries the project key.
// Authorization headers of other schemes (Basic for a proxy in front, say)
// are not Fluxbase's and are ignored.
//
// A token starting with fbk_ is a Fluxbase API key, in either header: it
// is looked up by the auth server (SetAPIKeyResolver) and acts as its user
// or role, limited to its scopes (RequireScope).
//
// Without a token the caller is anon, unless anonymous access is disabled.
// A presented token must verify; a bad token never falls back to anon.
// Errors are *httpx.Error with status 401.
func (s *Service) Authenticate(r *http.Request) (Identity, error) {
	tok, err := tokenFrom(r)
	if err != nil {
		return Identity{}, err
	}
	if tok == "" {
		if !s.anonOK {
			return Identity{}, errAnonymousDisabled
		}
		return anonIdentity(), nil
	}
	if IsAPIKey(tok) {
		return s.resolveAPIKey(r.Context(), tok)
	}
	return s.Verify(r.Context(), tok)
}

func tokenFrom(r *http.Request) (string, error) {
	if h := strings.TrimSpace(r.Header.Get("Authorization")); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") {
			tok := strings.TrimSpace(rest)
			if tok == "" {
				return "", invalidJWT("the Authorization header has an empty bearer token")
			}
			return tok, nil
		}
	}
	return strings.TrimSpace(r.Header.Get("apikey")), nil
}

// Verify checks a token and returns the identity it carries. These rules
// apply (they are the contract other subsystems, like realtime, rely on):
//
//   - alg is ES256 or HS256, nothing else. ES256 tokens must name a known
//     kid and verify with that P-256 key; HS256 tokens verify with the
//     configured secret and are refused when none is configured. The key is
//     chosen by alg and must be of the matching type, so a token cannot make
//     a public key serve as an HMAC secret.
//   - exp is required for every token (the anon and service_role keys carry
//     one ten years out); nbf and iat, when present, must not be in the
//     future. All three tolerate auth.jwt.leeway.
//   - aud must include auth.jwt.audience when that is set.
//   - iss must equal auth.jwt.issuer, when set, for ES256 tokens only: those
//     are minted by Fluxbase, while HS256 tokens often come from elsewhere
//     (Supabase's legacy keys say "supabase").
//   - The role is the "role" claim, a plain identifier. Without one the
//     token runs as anon, as in PostgREST, which also means it is refused
//     when anonymous access is disabled.
//
// A token that verified is remembered (see tokenCache) until it expires or
// the keys change, so presenting it again costs a hash, not a signature
// check; the outcome is the same either way.
func (s *Service) Verify(ctx context.Context, token string) (Identity, error) {
	// The key set is taken before verifying: if it is replaced meanwhile,
	// the entry stored below belongs to the old set and is never used.
	ks := s.keys.Load()
	if id, ok := s.tokens.get(token, ks, s.now()); ok {
		return id, nil
	}
	claims := jwt.MapClaims{}
	var kid string
	t, err := s.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			// RFC 7515 §4.1.11: extensions we do not understand must fail.
			return nil, errCritHeader
		}
		switch m := t.Method.(type) {
		case *jwt.SigningMethodECDSA:
			if m != jwt.SigningMethodES256 {
				return nil, errUnsupportAlg
			}
			kid, _ = t.Header["kid"].(string)
			if kid == "" {
				return nil, errMissingKid
			}
			return s.verificationKey(ctx, kid)
		case *jwt.SigningMethodHMAC:
			if m != jwt.SigningMethodHS256 {
				return nil, errUnsupportAlg
			}
			if s.secret == nil {
				return nil, errHS256Off
			}
			kid = ""
			return s.secret, nil
		default:
			return nil, errUnsupportAlg
		}
	})
	if err != nil {
		return Identity{}, s.verifyError(t, claims, kid, err)
	}

	if t.Method == jwt.SigningMethodES256 && s.issuer != "" {
		if iss, _ := claims["iss"].(string); iss != s.issuer {
			return Identity{}, invalidJWT(fmt.Sprintf("the token's issuer is not %q", s.issuer))
		}
	}

	role := RoleAnon
	if v, ok := claims["role"]; ok {
		r, isString := v.(string)
		if !isString || !validRole.MatchString(r) {
			return Identity{}, invalidJWT("the token's role claim is not a valid role name")
		}
		role = r
	} else if !s.anonOK {
		return Identity{}, errAnonymousDisabled.WithHint("the token has no role claim, so it would run as anon")
	}
	sub, _ := claims["sub"].(string)

	raw, err := json.Marshal(claims)
	if err != nil {
		return Identity{}, invalidJWT("the token's claims cannot be encoded as JSON")
	}
	id := Identity{
		Role:      role,
		Subject:   sub,
		Claims:    claims,
		RawClaims: raw,
		Token:     token,
		KeyID:     kid,
	}
	if from, until, ok := s.validity(claims); ok {
		s.tokens.put(token, ks, id, from, until)
	}
	return id, nil
}

// validity is the window in which the parser accepts claims: from the
// later of nbf and iat, less the leeway, until exp plus the leeway
// (exclusive), exactly as the JWT validator compares them.
func (s *Service) validity(claims jwt.MapClaims) (from, until time.Time, ok bool) {
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return time.Time{}, time.Time{}, false
	}
	until = exp.Add(s.leeway)
	for _, get := range []func() (*jwt.NumericDate, error){claims.GetNotBefore, claims.GetIssuedAt} {
		d, err := get()
		if err != nil {
			return time.Time{}, time.Time{}, false
		}
		if d != nil && d.Add(-s.leeway).After(from) {
			from = d.Add(-s.leeway)
		}
	}
	return from, until, true
}

// verifyError maps a parse failure to the error the client sees. The checks
// run in the order the parser performs them, signature before claims, so a
// forged token learns nothing about its claims.
func (s *Service) verifyError(t *jwt.Token, claims jwt.MapClaims, kid string, err error) *httpx.Error {
	var e *httpx.Error
	switch {
	case errors.Is(err, errUnknownKey):
		e = unauthorized(CodeUnknownKey, fmt.Sprintf("the token was signed with a key this server does not know (kid %q)", truncate(kid, 64))).
			WithHint("the key may have been revoked; sign in again to get a new token")
	case errors.Is(err, errMissingKid):
		e = invalidJWT("the ES256 token has no kid header")
	case errors.Is(err, errHS256Off):
		e = invalidJWT("HS256 tokens are not accepted: no JWT secret is configured")
	case errors.Is(err, errCritHeader):
		e = invalidJWT("the token has a crit header, which is not supported")
	case errors.Is(err, jwt.ErrTokenMalformed):
		e = invalidJWT("the token is malformed")
	case errors.Is(err, errUnsupportAlg), errors.Is(err, jwt.ErrTokenUnverifiable),
		errors.Is(err, jwt.ErrTokenSignatureInvalid) && t != nil && t.Method != nil &&
			t.Method != jwt.SigningMethodES256 && t.Method != jwt.SigningMethodHS256:
		alg, _ := headerAlg(t)
		e = invalidJWT(fmt.Sprintf("the token's alg %q is not accepted: use ES256 or HS256", alg))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		e = invalidJWT("the token signature is invalid")
	case errors.Is(err, jwt.ErrTokenExpired):
		e = unauthorized(CodeJWTExpired, "the token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		e = invalidJWT("the token is not valid yet (nbf)")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		e = invalidJWT("the token is issued in the future (iat)")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && claims["exp"] == nil:
		e = invalidJWT("the token has no exp claim")
	case errors.Is(err, jwt.ErrTokenInvalidAudience), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		e = invalidJWT(fmt.Sprintf("the token's audience does not include %q", s.audience))
	case errors.Is(err, jwt.ErrInvalidType):
		e = invalidJWT("a time or audience claim of the token has the wrong type")
	default:
		e = invalidJWT("the token is invalid")
	}
	c := *e
	c.Err = err
	return &c
}

func headerAlg(t *jwt.Token) (string, bool) {
	if t == nil {
		return "", false
	}
	alg, ok := t.Header["alg"].(string)
	return alg, ok
}

// truncate bounds text taken from a token before it is echoed in an error.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
