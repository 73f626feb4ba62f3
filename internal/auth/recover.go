package auth

import (
	"context"
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
	email, err := s.codeMailRequest(r, req.Email, "Password recovery requires an email", req.CodeChallenge, req.CodeChallengeMethod, tmplRecovery)
	if err != nil {
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
	return s.mailConfirmation(ctx(r), u, s.redirectOf(r, ""), challenge, method)
}

// mailConfirmation issues u's sign-up confirmation token and queues its
// mail to u's address, noting when it was sent.
func (s *Service) mailConfirmation(c context.Context, u *User, redirect, challenge, method string) error {
	return s.mailToken(c, u, "confirmation", tmplConfirmation, u.Email, "", redirect, challenge, method,
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
	if err := s.queueEmailChangeMails(ctx(r), b, u, newEmail, redirect, challenge, method); err != nil {
		return err
	}
	queueStatements(b, auditStatement(auditEntry{Action: "user_email_change_requested", UserID: u.ID, ActorID: u.ID, IP: clientOf(r).IP,
		Payload: map[string]any{"new_email": newEmail}}))
	return s.db.Admin.SendBatch(ctx(r), b).Close()
}

// queueEmailChangeMails adds to b the mails an email change to newEmail
// waits on: to the new address and, with auth.mailer.secure_email_change,
// to the current one, which a user without an address cannot confirm.
func (s *Service) queueEmailChangeMails(c context.Context, b *pgx.Batch, u *User, newEmail, redirect, challenge, method string) error {
	if s.cfg.Mailer.SecureEmailChange && u.Email != "" {
		if err := s.queueTokenMail(c, b, u, "email_change_current", tmplEmailChange, u.Email, newEmail, redirect, challenge, method); err != nil {
			return err
		}
	}
	return s.queueTokenMail(c, b, u, "email_change_new", tmplEmailChange, newEmail, newEmail, redirect, challenge, method)
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
	kind := tmplConfirmation
	if req.Type == "email_change" {
		kind = tmplEmailChange
	}
	email, err := s.codeMailRequest(r, req.Email, "An email address is required", req.CodeChallenge, req.CodeChallengeMethod, kind)
	if err != nil {
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
		err = s.mailConfirmation(ctx(r), u, redirect, req.CodeChallenge, req.CodeChallengeMethod)
	case req.Type == "email_change" && u.NewEmail != "":
		b := &pgx.Batch{}
		if err := s.queueEmailChangeMails(ctx(r), b, u, u.NewEmail, redirect, req.CodeChallenge, req.CodeChallengeMethod); err != nil {
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
