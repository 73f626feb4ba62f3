package identity

import (
	"errors"
	"net/http"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// Stable error codes of failed authentication. Every one is rendered with
// status 401 and a WWW-Authenticate header.
const (
	CodeInvalidJWT              = "invalid_jwt"
	CodeJWTExpired              = "jwt_expired"
	CodeUnknownKey              = "unknown_key"
	CodeAnonymousAccessDisabled = "anonymous_access_disabled"
)

func unauthorized(code, message string) *httpx.Error {
	return httpx.NewError(http.StatusUnauthorized, code, message)
}

func invalidJWT(message string) *httpx.Error {
	return unauthorized(CodeInvalidJWT, message)
}

var (
	errAnonymousDisabled = unauthorized(CodeAnonymousAccessDisabled,
		"anonymous access is disabled: send a token in the Authorization header or an API key in the apikey header")

	// Returned by the key lookup during parsing and mapped to *httpx.Error
	// afterwards; they never reach a client as they are.
	errUnknownKey   = errors.New("no signing key with this kid")
	errMissingKid   = errors.New("ES256 token without kid")
	errHS256Off     = errors.New("HS256 tokens are not accepted: no JWT secret is configured")
	errCritHeader   = errors.New("token has a crit header")
	errUnsupportAlg = errors.New("unsupported alg")
)

// wwwAuthenticate is the RFC 6750 challenge for a failed authentication. A
// request that sent no credentials at all gets a challenge without an error
// code, as section 3.1 asks.
func wwwAuthenticate(e *httpx.Error) string {
	if e.Code == CodeAnonymousAccessDisabled {
		return `Bearer realm="fluxbase"`
	}
	return `Bearer realm="fluxbase", error="invalid_token", error_description="` + sanitizeQuoted(e.Message) + `"`
}

// sanitizeQuoted keeps a message inside an RFC 7230 quoted-string: RFC 6750
// restricts error_description to printable ASCII without '"' and '\'.
func sanitizeQuoted(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			continue
		}
		b = append(b, c)
	}
	return string(b)
}
