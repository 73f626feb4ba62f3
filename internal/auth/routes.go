package auth

import (
	"crypto/rand"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"golang.org/x/crypto/bcrypt"
)

// flowHooks are the parts of the core flows that the mail, OAuth and MFA
// files of this package provide (routes_flows.go installs them in
// initFlows). A nil hook means the capability is not available.
type flowHooks struct {
	// sendConfirmation mails a sign-up confirmation to u.
	sendConfirmation func(w http.ResponseWriter, r *http.Request, u *User, codeChallenge, method string) error
	// emailChange starts a confirmed change of u's address to newEmail.
	emailChange func(w http.ResponseWriter, r *http.Request, u *User, newEmail, codeChallenge, method string) error
	// grants are further /token grant types, such as pkce.
	grants map[string]handler
}

// MountGoTrue registers the GoTrue-shaped routes on r (mounted at /auth/v1).
func (s *Service) MountGoTrue(r chi.Router) {
	g := func(h handler) http.HandlerFunc { return s.wrap(familyGoTrue, h) }
	r.Post("/signup", g(s.handleSignup(familyGoTrue)))
	r.Post("/token", g(s.handleToken))
	r.Post("/logout", g(s.handleLogout))
	r.Get("/user", g(s.handleGetUser))
	r.Put("/user", g(s.handleUpdateUser))
	r.Get("/settings", g(s.handleSettings))
	r.Method(http.MethodGet, "/.well-known/jwks.json", s.ids.JWKSHandler())
	s.mountAdmin(r, familyGoTrue)
	s.mountFlows(r, familyGoTrue)
}

// MountNative registers the native routes on r (mounted at /api/v1/auth).
func (s *Service) MountNative(r chi.Router) {
	n := func(h handler) http.HandlerFunc { return s.wrap(familyNative, h) }
	r.Post("/signup", n(s.handleSignup(familyNative)))
	r.Post("/signin", n(s.handlePasswordGrant))
	r.Post("/anonymous", n(s.handleAnonymous))
	r.Post("/refresh", n(s.handleRefreshGrant))
	r.Post("/token", n(s.handleToken))
	r.Post("/signout", n(s.handleLogout))
	r.Get("/user", n(s.handleGetUser))
	r.Patch("/user", n(s.handleUpdateUser))
	r.Get("/settings", n(s.handleSettings))
	r.Get("/sessions", n(s.handleListSessions))
	r.Delete("/sessions/{id}", n(s.handleDeleteSession))
	r.Get("/api-keys", n(s.handleListAPIKeys))
	r.Post("/api-keys", n(s.handleCreateAPIKey))
	r.Post("/api-keys/{id}/revoke", n(s.handleRevokeAPIKey))
	r.Delete("/api-keys/{id}", n(s.handleDeleteAPIKey))
	r.Get("/admin/audit", n(s.handleAuditLog))
	s.mountAdmin(r, familyNative)
	s.mountFlows(r, familyNative)
}

func (s *Service) mountAdmin(r chi.Router, f family) {
	h := func(h handler) http.HandlerFunc { return s.wrap(f, h) }
	r.Get("/admin/users", h(s.handleAdminListUsers))
	r.Post("/admin/users", h(s.handleAdminCreateUser))
	r.Get("/admin/users/{id}", h(s.handleAdminGetUser))
	r.Put("/admin/users/{id}", h(s.handleAdminUpdateUser))
	r.Patch("/admin/users/{id}", h(s.handleAdminUpdateUser))
	r.Delete("/admin/users/{id}", h(s.handleAdminDeleteUser))
	r.Post("/admin/users/{id}/logout", h(s.handleAdminSignOut))
}

func urlParam(r *http.Request, name string) string { return chi.URLParam(r, name) }

func bcryptCost(h string) int {
	c, err := bcrypt.Cost([]byte(h))
	if err != nil {
		return 0
	}
	return c
}

// newUUIDString is a random (version 4) UUID.
func newUUIDString() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
