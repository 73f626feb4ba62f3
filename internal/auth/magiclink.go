package auth

import (
	"context"
	"errors"
	"net/http"

	"github.com/jackc/pgx/v5"
)

// otpRequest is the body of POST /otp (GoTrue), /magiclink and /otp
// (native).
type otpRequest struct {
	Email               string         `json:"email"`
	Phone               string         `json:"phone"`
	Data                map[string]any `json:"data"`
	CreateUser          *bool          `json:"create_user"`
	CodeChallenge       string         `json:"code_challenge"`
	CodeChallengeMethod string         `json:"code_challenge_method"`
	RedirectTo          string         `json:"redirect_to"`
}

// redirectOf is the redirect a request asks for (the redirect_to query
// parameter auth-js sends, or the body's), checked against the allow-list.
func (s *Service) redirectOf(r *http.Request, body string) string {
	return s.allowedRedirect(firstNonEmpty(r.URL.Query().Get("redirect_to"), body))
}

// handleOTP is POST /otp: a magic link with its code, by email. The answer
// is the same whether or not the address has an account, and whether or
// not one may be created.
func (s *Service) handleOTP(kind templateKind, tokenType string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req otpRequest
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
		if req.Phone != "" && req.Email == "" {
			return errPhoneOTPDisabled
		}
		email, err := s.codeMailRequest(r, req.Email, "An email address is required", req.CodeChallenge, req.CodeChallengeMethod, kind)
		if err != nil {
			return err
		}
		create := req.CreateUser == nil || *req.CreateUser
		if err := s.sendSignInEmail(ctx(r), r, email, create, req, kind, tokenType); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{})
		return nil
	}
}

// codeMailRequest checks what /otp, /recover and /resend check before
// mailing a code, in the order their errors are answered: the address,
// the PKCE challenge, that mail of this kind can be sent, and the rate
// limit on the address. missing is the answer to a body without one.
func (s *Service) codeMailRequest(r *http.Request, rawEmail, missing, challenge, method string, kind templateKind) (string, error) {
	email, err := requiredEmail(rawEmail, missing)
	if err != nil {
		return "", err
	}
	if _, _, err := parsePKCE(challenge, method); err != nil {
		return "", validationFailed(err.Error())
	}
	if err := s.checkMailer(kind); err != nil {
		return "", err
	}
	if err := s.mailGate(r, "otp", email); err != nil {
		return "", err
	}
	return email, nil
}

// errPhoneOTPDisabled: phone OTP needs an SMS provider, and none is
// configured (Fluxbase ships none).
var errPhoneOTPDisabled = Err(http.StatusBadRequest, CodePhoneProviderDisabled, "Phone OTP is not available: no SMS provider is configured")

// sendSignInEmail issues a sign-in token for the address and queues its
// mail, creating the user first when allowed. Unknown addresses that may
// not be created, and banned users, get nothing, through a path that does
// the same database work (dropMail).
func (s *Service) sendSignInEmail(c context.Context, r *http.Request, email string, create bool, req otpRequest, kind templateKind, tokenType string) error {
	u, err := s.mailAccount(c, email)
	if err != nil {
		return err
	}
	if u == nil && create && !s.cfg.DisableSignup {
		err := pgx.BeginFunc(c, s.db.Admin, func(tx pgx.Tx) error {
			var err error
			u, err = s.createUser(c, tx, newUser{Email: email, Provider: "email", UserMetadata: req.Data})
			return err
		})
		switch {
		case errors.Is(err, errEmailExists):
			// A concurrent request created it.
			if u, err = s.mailAccount(c, email); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			s.audit(c, auditEntry{Action: "user_signedup", UserID: u.ID, ActorID: u.ID, IP: clientOf(r).IP, Payload: map[string]any{"provider": "email", "method": tokenType}})
		}
	}
	switch {
	case u == nil:
		return s.dropMail(c, kind, email, "no account")
	case s.banned(u):
		return s.dropMail(c, kind, email, "banned")
	}
	return s.mailToken(c, u, tokenType, kind, email, "", s.redirectOf(r, req.RedirectTo), req.CodeChallenge, req.CodeChallengeMethod)
}
