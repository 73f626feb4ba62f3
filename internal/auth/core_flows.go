package auth

import (
	"context"
	"net/http"
)

// flowSession starts a session for u signed in by method (otp, magiclink,
// recovery, invite, oauth, pkce, ...) and records the sign-in in the audit
// log. The mail, OAuth and MFA flows call it to finish a sign-in.
func (s *Service) flowSession(c context.Context, u *User, method string, r *http.Request) (*Session, error) {
	if s.banned(u) {
		return nil, errUserBanned
	}
	ci := clientOf(r)
	sess, err := s.newSession(c, u, method, ci)
	if err != nil {
		return nil, err
	}
	s.audit(c, auditEntry{Action: "login", UserID: u.ID, ActorID: u.ID, IP: ci.IP, Payload: map[string]any{"method": method}})
	return sess, nil
}

// flowAudit records an audit entry made by the user themselves.
func (s *Service) flowAudit(c context.Context, r *http.Request, action, userID string, payload map[string]any) {
	s.audit(c, auditEntry{Action: action, UserID: userID, ActorID: userID, IP: clientOf(r).IP, Payload: payload})
}
