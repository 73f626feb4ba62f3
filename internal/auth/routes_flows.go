package auth

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// initFlows installs the hooks of the mail, OAuth and MFA flows.
func (s *Service) initFlows() error {
	s.flows.sendConfirmation = s.sendConfirmation
	s.flows.emailChange = s.startEmailChange
	s.flows.grants = map[string]handler{"pkce": s.handlePKCEGrant}
	return nil
}

// mountFlows registers the mail, OTP, magic-link, recovery, OAuth and MFA
// routes of family f. Both families serve the same handlers; the native
// family adds its named shortcuts (/magiclink, /otp and their /verify).
func (s *Service) mountFlows(r chi.Router, f family) {
	h := func(h handler) http.HandlerFunc { return s.wrap(f, h) }
	// Each family keeps its own provider registry (and with it each
	// provider's discovery): flows are in the database, so either family
	// finishes what the other started.
	reg := newProviderRegistry(s)

	if f == familyNative {
		r.Post("/otp", h(s.handleOTP(tmplOTP, "otp")))
	} else {
		r.Post("/otp", h(s.handleOTP(tmplMagicLink, "magiclink")))
	}
	r.Post("/magiclink", h(s.handleOTP(tmplMagicLink, "magiclink")))
	r.Post("/verify", h(s.handleVerifyPost))
	r.Get("/verify", h(s.handleVerifyGet))
	r.Post("/recover", h(s.handleRecover))
	r.Post("/resend", h(s.handleResend))
	r.Post("/invite", h(s.handleInvite))
	r.Post("/admin/generate_link", h(s.handleGenerateLink))

	r.Get("/authorize", h(s.handleAuthorize(reg)))
	r.Get("/callback", h(s.handleCallback(reg)))
	r.Post("/callback", h(s.handleCallback(reg)))
	r.Get("/user/identities/authorize", h(s.handleLinkIdentity(reg)))

	r.Post("/factors", h(s.handleEnroll))
	r.Post("/factors/{id}/challenge", h(s.handleChallenge))
	r.Post("/factors/{id}/verify", h(s.handleVerifyFactor))
	r.Delete("/factors/{id}", h(s.handleUnenroll))

	if f == familyNative {
		// The native family's own names: a code-only email (the otp
		// template) next to the magic link, and verification endpoints
		// that answer a session.
		r.Post("/otp/verify", h(s.handleVerifyNative("email")))
		r.Post("/magiclink/verify", h(s.handleVerifyNative("magiclink")))
		r.Get("/admin/templates", h(s.handleListTemplates))
		r.Get("/admin/templates/{name}", h(s.handleGetTemplate))
		r.Put("/admin/templates/{name}", h(s.handlePutTemplate))
		r.Delete("/admin/templates/{name}", h(s.handleDeleteTemplate))
		r.Get("/admin/providers", h(s.handleListProviders))
		r.Get("/admin/providers/{name}", h(s.handleGetProvider))
		r.Put("/admin/providers/{name}", h(s.handlePutProvider))
		r.Delete("/admin/providers/{name}", h(s.handleDeleteProvider))
	}
}
