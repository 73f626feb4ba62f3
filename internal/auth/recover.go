package auth

import (
	"net/http"

	"github.com/jackc/pgx/v5"
)

// handleRecover is POST /recover: mail a password-recovery link and code.
// Unknown addresses get the same answer and no mail.
func (s *Service) handleRecover(w http.ResponseWriter, r *http.Request) error {
	var req otpRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	if email == "" {
		return validationFailed("Password recovery requires an email")
	}
	if _, _, err := parsePKCE(req.CodeChallenge, req.CodeChallengeMethod); err != nil {
		return validationFailed(err.Error())
	}
	if err := s.checkMailer(tmplRecovery); err != nil {
		return err
	}
	if err := s.mailGate(r, "otp", email); err != nil {
		return err
	}
	u, err := s.mailAccount(ctx(r), email)
	if err != nil {
		return err
	}
	sentAt := func(userID string) statement {
		return statement{`update auth.users set recovery_sent_at = now() where id = $1`, []any{userID}}
	}
	switch {
	case u == nil:
		err = s.dropMail(ctx(r), tmplRecovery, email, "no account", sentAt)
	case s.banned(u):
		err = s.dropMail(ctx(r), tmplRecovery, email, "banned", sentAt)
	default:
		err = s.mailToken(ctx(r), u, "recovery", tmplRecovery, email, "", s.redirectOf(r, req.RedirectTo), req.CodeChallenge, req.CodeChallengeMethod,
			sentAt(u.ID),
			auditStatement(auditEntry{Action: "user_recovery_requested", UserID: u.ID, ActorID: u.ID, IP: clientOf(r).IP}))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// sendConfirmation queues a sign-up confirmation (the hook sign-up calls
// when auth.mailer.autoconfirm is off).
func (s *Service) sendConfirmation(w http.ResponseWriter, r *http.Request, u *User, challenge, method string) error {
	if err := s.checkMailer(tmplConfirmation); err != nil {
		return err
	}
	if err := s.mailGate(r, "", u.Email); err != nil {
		return err
	}
	return s.mailToken(ctx(r), u, "confirmation", tmplConfirmation, u.Email, "", s.redirectOf(r, ""), challenge, method,
		statement{`update auth.users set confirmation_sent_at = now() where id = $1`, []any{u.ID}})
}

// startEmailChange records newEmail as u's pending address and queues the
// confirmation: to the new address, and with auth.mailer.secure_email_change
// to the current one too, all in one transaction; the change happens once
// every link sent has been followed (the hook PUT /user calls).
func (s *Service) startEmailChange(w http.ResponseWriter, r *http.Request, u *User, newEmail, challenge, method string) error {
	if err := s.checkMailer(tmplEmailChange); err != nil {
		return err
	}
	if err := s.mailGate(r, "", newEmail); err != nil {
		return err
	}
	b := &pgx.Batch{}
	queueStatements(b,
		statement{`update auth.users set email_change = $2, email_change_sent_at = now(), updated_at = now() where id = $1`, []any{u.ID, newEmail}},
		// A previous change's tokens must not complete this one.
		statement{`delete from auth.one_time_tokens where user_id = $1 and token_type in ('email_change_new', 'email_change_current')`, []any{u.ID}})
	redirect := s.redirectOf(r, "")
	if s.cfg.Mailer.SecureEmailChange && u.Email != "" {
		if err := s.queueTokenMail(ctx(r), b, u, "email_change_current", tmplEmailChange, u.Email, newEmail, redirect, challenge, method); err != nil {
			return err
		}
	}
	if err := s.queueTokenMail(ctx(r), b, u, "email_change_new", tmplEmailChange, newEmail, newEmail, redirect, challenge, method); err != nil {
		return err
	}
	queueStatements(b, auditStatement(auditEntry{Action: "user_email_change_requested", UserID: u.ID, ActorID: u.ID, IP: clientOf(r).IP,
		Payload: map[string]any{"new_email": newEmail}}))
	return s.db.Admin.SendBatch(ctx(r), b).Close()
}

// resendRequest is the body of POST /resend.
type resendRequest struct {
	Type                string `json:"type"`
	Email               string `json:"email"`
	Phone               string `json:"phone"`
	CodeChallenge       string `json:"code_challenge"`
	CodeChallengeMethod string `json:"code_challenge_method"`
	RedirectTo          string `json:"redirect_to"`
}

// handleResend is POST /resend: mail again the sign-up confirmation or the
// email-change confirmation. It answers the same whether or not there was
// anything to resend.
func (s *Service) handleResend(w http.ResponseWriter, r *http.Request) error {
	var req resendRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	switch req.Type {
	case "signup", "email_change":
	case "sms", "phone_change":
		return errPhoneOTPDisabled
	default:
		return validationFailed("Missing one of these types: signup, email_change, sms, phone_change")
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return err
	}
	if email == "" {
		return validationFailed("An email address is required")
	}
	if _, _, err := parsePKCE(req.CodeChallenge, req.CodeChallengeMethod); err != nil {
		return validationFailed(err.Error())
	}
	kind := tmplConfirmation
	if req.Type == "email_change" {
		kind = tmplEmailChange
	}
	if err := s.checkMailer(kind); err != nil {
		return err
	}
	if err := s.mailGate(r, "otp", email); err != nil {
		return err
	}
	u, err := s.mailAccount(ctx(r), email)
	if err != nil {
		return err
	}
	redirect := s.redirectOf(r, req.RedirectTo)
	switch {
	case u == nil:
		err = s.dropMail(ctx(r), kind, email, "no account")
	case s.banned(u):
		err = s.dropMail(ctx(r), kind, email, "banned")
	case req.Type == "signup" && u.EmailConfirmedAt == nil:
		err = s.mailToken(ctx(r), u, "confirmation", tmplConfirmation, email, "", redirect, req.CodeChallenge, req.CodeChallengeMethod,
			statement{`update auth.users set confirmation_sent_at = now() where id = $1`, []any{u.ID}})
	case req.Type == "email_change" && u.NewEmail != "":
		b := &pgx.Batch{}
		if s.cfg.Mailer.SecureEmailChange {
			if err := s.queueTokenMail(ctx(r), b, u, "email_change_current", tmplEmailChange, u.Email, u.NewEmail, redirect, req.CodeChallenge, req.CodeChallengeMethod); err != nil {
				return err
			}
		}
		if err := s.queueTokenMail(ctx(r), b, u, "email_change_new", tmplEmailChange, u.NewEmail, u.NewEmail, redirect, req.CodeChallenge, req.CodeChallengeMethod); err != nil {
			return err
		}
		err = s.db.Admin.SendBatch(ctx(r), b).Close()
	default:
		err = s.dropMail(ctx(r), kind, email, "nothing to resend")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}
