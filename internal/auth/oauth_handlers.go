package auth

import (
	"net/http"
	"net/url"
	"strings"
)

// oauthStartOf reads the flow a sign-in or link request asks for from its
// query, which both take in the form auth-js sends.
func oauthStartOf(q url.Values) oauthStart {
	return oauthStart{
		Provider:      q.Get("provider"),
		RedirectTo:    q.Get("redirect_to"),
		Scopes:        strings.Fields(q.Get("scopes")),
		Challenge:     q.Get("code_challenge"),
		ChallengeMeth: q.Get("code_challenge_method"),
	}
}

// handleAuthorize is GET /authorize?provider=...: it records the flow and
// sends the browser to the provider (or, with skip_http_redirect=true,
// answers {"url"} for the client to open).
func (s *Service) handleAuthorize(reg *providerRegistry) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		if err := s.limitIP(r, "sign_in"); err != nil {
			return err
		}
		target, err := s.startOAuth(ctx(r), reg, oauthStartOf(q))
		if err != nil {
			return err
		}
		if q.Get("skip_http_redirect") == "true" {
			writeJSON(w, http.StatusOK, map[string]any{"url": target})
			return nil
		}
		http.Redirect(w, r, target, http.StatusFound)
		return nil
	}
}

// handleLinkIdentity is GET /user/identities/authorize: the signed-in user
// starts an OAuth flow whose identity is linked to their account (auth-js
// linkIdentity). It answers {"url"}.
func (s *Service) handleLinkIdentity(reg *providerRegistry) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := s.requireUser(r)
		if err != nil {
			return err
		}
		start := oauthStartOf(r.URL.Query())
		start.LinkUserID = id.Subject
		target, err := s.startOAuth(ctx(r), reg, start)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"url": target})
		return nil
	}
}

// handleCallback is GET (and, for Apple's form_post, POST) /callback: the
// provider's redirect. Whatever happens, the browser is sent on to the
// application, with a session, an authorization code or an error.
func (s *Service) handleCallback(reg *providerRegistry) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				return validationFailed("the callback form does not parse")
			}
		}
		q := r.URL.Query()
		for k, v := range r.PostForm {
			if _, ok := q[k]; !ok {
				q[k] = v
			}
		}
		http.Redirect(w, r, s.finishOAuth(ctx(r), reg, r, q), http.StatusFound)
		return nil
	}
}

// pkceGrant is the body of /token?grant_type=pkce.
type pkceGrant struct {
	AuthCode     string `json:"auth_code"`
	CodeVerifier string `json:"code_verifier"`
}

// handlePKCEGrant is POST /token?grant_type=pkce.
func (s *Service) handlePKCEGrant(w http.ResponseWriter, r *http.Request) error {
	if err := s.limitIP(r, "verify"); err != nil {
		return err
	}
	var g pkceGrant
	if err := decodeJSON(r, &g); err != nil {
		return err
	}
	sess, err := s.exchangeAuthCode(ctx(r), r, g.AuthCode, g.CodeVerifier)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sess)
	return nil
}
