package auth

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// verifyRequest is the body of POST /verify.
type verifyRequest struct {
	Type       string `json:"type"`
	Token      string `json:"token"`
	TokenHash  string `json:"token_hash"`
	Email      string `json:"email"`
	Phone      string `json:"phone"`
	RedirectTo string `json:"redirect_to"`
}

// tokenTypesOf maps a GoTrue verification type to the stored token types
// it may redeem, and the session's authentication method.
func tokenTypesOf(typ string) ([]string, bool) {
	switch typ {
	case "signup":
		return []string{"confirmation"}, true
	case "invite":
		return []string{"invite"}, true
	case "magiclink":
		return []string{"magiclink"}, true
	case "recovery":
		return []string{"recovery"}, true
	case "email_change":
		return []string{"email_change_new", "email_change_current"}, true
	case "email":
		// auth-js's verifyOtp({type: 'email'}): whichever sign-in or
		// sign-up code the address was last sent.
		return []string{"confirmation", "magiclink", "otp"}, true
	}
	return nil, false
}

// methodOf is the session's authentication method (amr) after redeeming a
// token of tokenType.
func methodOf(tokenType string) string {
	switch tokenType {
	case "confirmation":
		return "email_signup"
	case "email_change_new", "email_change_current":
		return "email_change"
	}
	return tokenType
}

// verification is the outcome of redeeming a token.
type verification struct {
	user *User
	// method is the authentication method the session records.
	method string
	// pending is set when an email change still waits for the other
	// address to confirm: there is no session yet.
	pending bool
	token   redeemedToken
}

// pendingEmailChangeMsg is what GoTrue answers for the first of
// the two confirmations of a secure email change.
const pendingEmailChangeMsg = "Confirmation link accepted. Please proceed to confirm link sent to the other email"

// redeemAndApply redeems a token (by link token, or by address and code)
// and applies what it proves: an address confirmed, an email change done.
func (s *Service) redeemAndApply(c context.Context, typ, linkToken, email, code string) (verification, error) {
	types, ok := tokenTypesOf(typ)
	if !ok {
		if typ == "sms" || typ == "phone_change" {
			return verification{}, errPhoneOTPDisabled
		}
		if typ == "" {
			return verification{}, validationFailed("Verify requires a verification type")
		}
		return verification{}, validationFailed("Verify requires a valid verification type: signup, invite, magiclink, recovery, email_change or email")
	}
	var t redeemedToken
	var err error
	if linkToken != "" {
		t, err = s.redeemLink(c, linkToken, types)
	} else {
		if email, err = normalizeEmail(email); err != nil {
			return verification{}, err
		}
		if email == "" || code == "" {
			return verification{}, validationFailed("Verify requires either a token hash, or an email and a token")
		}
		t, err = s.redeemCode(c, email, strings.TrimSpace(code), types)
	}
	if err != nil {
		return verification{}, err
	}
	v := verification{method: methodOf(t.Type), token: t}
	switch t.Type {
	case "email_change_new", "email_change_current":
		var left int
		if err := s.db.Admin.QueryRow(c, `select count(*) from auth.one_time_tokens
			where user_id = $1 and token_type in ('email_change_new', 'email_change_current') and expires_at > now()`,
			t.UserID).Scan(&left); err != nil {
			return verification{}, err
		}
		if left > 0 {
			v.pending = true
			break
		}
		var newEmail string
		if err := s.db.Admin.QueryRow(c, `select coalesce(email_change, '') from auth.users where id = $1`, t.UserID).Scan(&newEmail); err != nil {
			return verification{}, err
		}
		if newEmail == "" {
			return verification{}, errOTPInvalid
		}
		if err := s.setEmail(c, t.UserID, newEmail); err != nil {
			return verification{}, err
		}
		s.audit(c, auditEntry{Action: "user_modified", UserID: t.UserID, ActorID: t.UserID, Payload: map[string]any{"fields": []string{"email"}}})
	default:
		// Following the link or typing the code proves the address.
		if _, err := s.db.Admin.Exec(c, `update auth.users set email_confirmed_at = coalesce(email_confirmed_at, now()),
			updated_at = now() where id = $1 and email = $2`, t.UserID, t.Address); err != nil {
			return verification{}, err
		}
		if _, err := s.db.Admin.Exec(c, `update auth.identities set identity_data = identity_data || '{"email_verified": true}'
			where user_id = $1 and provider = 'email'`, t.UserID); err != nil {
			return verification{}, err
		}
	}
	if v.user, err = s.loadUser(c, s.db.Admin, t.UserID); err != nil {
		return verification{}, err
	}
	if s.banned(v.user) {
		return verification{}, errUserBanned
	}
	return v, nil
}

// handleVerifyPost is POST /verify: redeem a code or token hash and answer
// a session (auth-js verifyOtp).
func (s *Service) handleVerifyPost(w http.ResponseWriter, r *http.Request) error {
	if err := s.limitIP(r, "verify"); err != nil {
		return err
	}
	var req verifyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Phone != "" && req.Email == "" {
		return errPhoneOTPDisabled
	}
	link := req.TokenHash
	if link == "" && req.Email == "" {
		// The legacy form: the link's token without an address.
		link = req.Token
	}
	v, err := s.redeemAndApply(ctx(r), req.Type, link, req.Email, req.Token)
	if err != nil {
		return err
	}
	return s.answerVerified(w, r, v, map[string]any{"msg": pendingEmailChangeMsg, "message": pendingEmailChangeMsg})
}

// answerVerified answers a redeemed code with its session, or with pending
// (each route family words it its own way) while an email change still
// waits on its other link.
func (s *Service) answerVerified(w http.ResponseWriter, r *http.Request, v verification, pending map[string]any) error {
	if v.pending {
		writeJSON(w, http.StatusOK, pending)
		return nil
	}
	sess, err := s.flowSession(ctx(r), v.user, v.method, r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sess)
	return nil
}

// handleVerifyGet is GET /verify, the link in emails: it redeems the token
// and redirects to the application with the session in the fragment, or,
// for a PKCE flow, an authorization code in the query. Failures redirect
// too, with GoTrue's error parameters.
func (s *Service) handleVerifyGet(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	dest := s.allowedRedirect(q.Get("redirect_to"))
	if err := s.limitIP(r, "verify"); err != nil {
		e := httpx.AsError(err)
		setRetryAfter(w, e)
		http.Redirect(w, r, s.errorRedirect(dest, false, "access_denied", e.Code, e.Message), http.StatusSeeOther)
		return nil
	}
	typ := q.Get("type")
	v, err := s.redeemAndApply(ctx(r), typ, q.Get("token"), "", "")
	if err != nil {
		e := httpx.AsError(err)
		if e.Status >= 500 {
			s.log.Error("verify link failed", "error", err)
		}
		msg := e.Message
		if e.Code == CodeOTPExpired {
			msg = "Email link is invalid or has expired"
		}
		http.Redirect(w, r, s.errorRedirect(dest, false, "access_denied", e.Code, msg), http.StatusSeeOther)
		return nil
	}
	if v.token.RedirectTo != "" {
		dest = s.allowedRedirect(v.token.RedirectTo)
	}
	if v.pending {
		http.Redirect(w, r, withParams(dest, true, url.Values{"message": {pendingEmailChangeMsg}}), http.StatusSeeOther)
		return nil
	}
	if v.token.FlowID != "" {
		code, err := s.issueAuthCode(ctx(r), v.token.FlowID, v.user.ID, v.method)
		if err != nil {
			e := httpx.AsError(err)
			http.Redirect(w, r, s.errorRedirect(dest, true, "access_denied", e.Code, e.Message), http.StatusSeeOther)
			return nil
		}
		http.Redirect(w, r, withParams(dest, false, url.Values{"code": {code}}), http.StatusSeeOther)
		return nil
	}
	sess, err := s.flowSession(ctx(r), v.user, v.method, r)
	if err != nil {
		s.log.Error("verify link: issuing the session", "error", err)
		http.Redirect(w, r, s.errorRedirect(dest, false, "server_error", CodeUnexpectedFailure, "Unexpected failure"), http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, withParams(dest, true, sessionFragment(sess, typ)), http.StatusSeeOther)
	return nil
}

// handleVerifyNative serves the native /magiclink/verify and /otp/verify:
// POST {email, token} or {token_hash}, answering a session.
func (s *Service) handleVerifyNative(typ string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.limitIP(r, "verify"); err != nil {
			return err
		}
		var req verifyRequest
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
		if req.Type == "" {
			req.Type = typ
		}
		v, err := s.redeemAndApply(ctx(r), req.Type, req.TokenHash, req.Email, req.Token)
		if err != nil {
			return err
		}
		return s.answerVerified(w, r, v, map[string]any{"message": pendingEmailChangeMsg})
	}
}
