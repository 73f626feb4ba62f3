package identity

import (
	"net/http"
	"strconv"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// Middleware authenticates every request, stores the Identity in its
// context for handlers (FromContext) and adds the caller's role and user id
// to the access log line. A failed authentication ends the request with 401,
// the JSON error and an RFC 6750 WWW-Authenticate challenge.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.Authenticate(r)
		if err != nil {
			e := httpx.AsError(err)
			if e.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", wwwAuthenticate(e))
			}
			if e.Status == http.StatusTooManyRequests {
				// An API key over its rate limit: the resolver puts the
				// wait, in seconds, in the details.
				retry := "60"
				if d, ok := e.Details.(map[string]any); ok {
					if n, ok := d["retry_after"].(int64); ok {
						retry = strconv.FormatInt(n, 10)
					}
				}
				w.Header().Set("Retry-After", retry)
			}
			httpx.WriteError(w, r, e)
			return
		}
		httpx.SetLogAttr(r, "role", id.Role)
		if id.Subject != "" {
			httpx.SetLogAttr(r, "user_id", id.Subject)
		}
		if id.APIKeyID != "" {
			httpx.SetLogAttr(r, "api_key_id", id.APIKeyID)
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// JWKSHandler serves the JSON Web Key Set of the keys that verify tokens
// (the current and previous ES256 keys) at /.well-known/jwks.json, public
// halves only. The HS256 secret, being symmetric, is never published. The
// set may be cached for a few minutes; a verifier that meets an unknown kid
// should fetch it again.
func (s *Service) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpx.WriteError(w, r, httpx.ErrMethodNotAllowed)
			return
		}
		body := s.keys.Load().jwks
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		// Public keys are public: verifiers running in browsers may fetch them.
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}
