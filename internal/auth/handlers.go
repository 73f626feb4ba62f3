package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
)

func ctx(r *http.Request) context.Context { return r.Context() }

func writeJSON(w http.ResponseWriter, status int, v any) { httpx.WriteJSON(w, status, v) }

// caller authenticates the request. The auth routes authenticate inside
// handlers rather than in a middleware: the token endpoints must answer a
// refresh even when the client sends an expired access token alongside.
func (s *Service) caller(r *http.Request) (identity.Identity, error) {
	if id, ok := identity.FromContext(r.Context()); ok {
		return id, nil
	}
	return s.ids.Authenticate(r)
}

// requireUser returns the signed-in user's identity: a user token whose
// session is still live, or an API key acting as a user.
func (s *Service) requireUser(r *http.Request) (identity.Identity, error) {
	if strings.TrimSpace(r.Header.Get("Authorization")) == "" && !identity.IsAPIKey(r.Header.Get("apikey")) {
		return identity.Identity{}, errNoAuthorization
	}
	id, err := s.caller(r)
	if err != nil {
		return identity.Identity{}, err
	}
	if !validUUID(id.Subject) {
		return identity.Identity{}, Err(http.StatusForbidden, CodeBadJWT, "invalid claim: missing sub claim")
	}
	if err := s.CheckSession(r.Context(), id); err != nil {
		return identity.Identity{}, err
	}
	return id, nil
}

// requireAdmin accepts service_role tokens and service_role API keys.
func (s *Service) requireAdmin(r *http.Request) (identity.Identity, error) {
	id, err := s.caller(r)
	if err != nil {
		return identity.Identity{}, err
	}
	if id.Role != identity.RoleServiceRole && id.Role != "supabase_admin" {
		if id.Anonymous() {
			return identity.Identity{}, errNoAuthorization
		}
		return identity.Identity{}, errNotAdmin
	}
	scope := identity.ScopeWriteAuth
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		scope = identity.ScopeReadAuth
	}
	if err := id.RequireScope(scope); err != nil {
		return identity.Identity{}, err
	}
	return id, nil
}

// sessionIDOf is the session_id claim of an identity.
func sessionIDOf(id identity.Identity) string {
	s, _ := id.Claims["session_id"].(string)
	return s
}

// pagination reads page (from 1) and per_page (1..1000, default 50).
func pagination(r *http.Request) (int, int, error) {
	q := r.URL.Query()
	page, perPage := 1, 50
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return 0, 0, validationFailed("page must be a positive number")
		}
		page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, 0, validationFailed("per_page must be between 1 and 1000")
		}
		perPage = n
	}
	return page, perPage, nil
}

// credentials is the body of sign-up and password sign-in.
type credentials struct {
	Email               string                         `json:"email"`
	Phone               string                         `json:"phone"`
	Password            string                         `json:"password"`
	Data                map[string]any                 `json:"data"`
	Options             *struct{ Data map[string]any } `json:"options"`
	CodeChallenge       string                         `json:"code_challenge"`
	CodeChallengeMethod string                         `json:"code_challenge_method"`
	RefreshToken        string                         `json:"refresh_token"`
}

func (s *Service) handleSignup(f family) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		var c credentials
		if err := decodeJSON(r, &c); err != nil {
			return err
		}
		if c.Data == nil && c.Options != nil {
			c.Data = c.Options.Data
		}
		if c.Email == "" && c.Phone == "" && c.Password == "" {
			// GoTrue: a sign-up without credentials is an anonymous sign-in.
			return s.handleAnonymous(w, r)
		}
		if err := s.limitIP(r, "sign_up"); err != nil {
			return err
		}
		if s.cfg.DisableSignup {
			return errSignupDisabled
		}
		email, err := normalizeEmail(c.Email)
		if err != nil {
			return err
		}
		phone, err := normalizePhone(c.Phone)
		if err != nil {
			return err
		}
		switch {
		case email == "" && phone == "":
			return validationFailed("To signup, please provide your email or phone")
		case email != "" && phone != "":
			return validationFailed("Only an email address or phone number should be provided on signup.")
		case phone != "":
			return Err(http.StatusBadRequest, CodePhoneProviderDisabled, "Phone signups are disabled: no SMS provider is configured")
		}
		if c.Password == "" {
			return validationFailed("Signup requires a valid password")
		}
		if reasons, msg := checkPolicy(s.cfg.Password, c.Password); reasons != nil {
			return weakPasswordError(msg, reasons)
		}
		existing, err := s.userByEmail(ctx(r), s.db.Admin, email)
		if err != nil {
			return err
		}
		if existing != nil {
			if s.cfg.Mailer.Autoconfirm || existing.EmailConfirmedAt != nil && s.flows.sendConfirmation == nil {
				return errUserExists
			}
			if existing.EmailConfirmedAt != nil {
				// Confirmation is required: answer as for a new address, so
				// that sign-up reveals nothing about who has an account.
				writeJSON(w, http.StatusOK, obfuscatedUser(existing))
				return nil
			}
		}
		hash, err := hashPassword(c.Password, s.cfg.Password.BcryptCost)
		if err != nil {
			return err
		}
		var u *User
		if existing != nil {
			// An unconfirmed account is taken over by whoever signs up
			// again: only a confirmation mail proves the address.
			if _, err := s.db.Admin.Exec(ctx(r), `update auth.users set encrypted_password = $2, raw_user_meta_data = $3, updated_at = now() where id = $1`,
				existing.ID, hash, jsonOf(c.Data)); err != nil {
				return err
			}
			if u, err = s.loadUser(ctx(r), s.db.Admin, existing.ID); err != nil {
				return err
			}
		} else {
			u, err = s.createUser(ctx(r), s.db.Admin, newUser{
				Email: email, PasswordHash: hash, Confirmed: s.cfg.Mailer.Autoconfirm,
				Provider: "email", UserMetadata: c.Data,
			})
			if errors.Is(err, errEmailExists) {
				return errUserExists
			}
			if err != nil {
				return err
			}
		}
		ci := clientOf(r)
		s.audit(ctx(r), auditEntry{Action: "user_signedup", UserID: u.ID, ActorID: u.ID, IP: ci.IP, Payload: map[string]any{"provider": "email"}})
		if !s.cfg.Mailer.Autoconfirm {
			if s.flows.sendConfirmation == nil {
				return Err(http.StatusInternalServerError, CodeUnexpectedFailure, "email confirmation is required but no mailer is available")
			}
			if err := s.flows.sendConfirmation(w, r, u, c.CodeChallenge, c.CodeChallengeMethod); err != nil {
				return err
			}
			if u, err = s.loadUser(ctx(r), s.db.Admin, u.ID); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, u)
			return nil
		}
		sess, err := s.newSession(ctx(r), u, "password", ci)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, sess)
		return nil
	}
}

// obfuscatedUser is what sign-up answers for an address that already has
// a confirmed account while confirmation is required: a user-shaped object
// with a random id, as for a new address.
func obfuscatedUser(u *User) *User {
	fake := *u
	fake.ID = newUUIDString()
	fake.AppMetadata = map[string]any{"provider": "email", "providers": []string{"email"}}
	fake.UserMetadata = map[string]any{}
	fake.Identities = []Identity{}
	fake.Factors = nil
	fake.EmailConfirmedAt, fake.ConfirmedAt, fake.LastSignInAt = nil, nil, nil
	return &fake
}

func jsonOf(m map[string]any) []byte {
	if m == nil {
		return []byte("{}")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return []byte("{}")
	}
	return b
}

// handleAnonymous signs in a new anonymous user.
func (s *Service) handleAnonymous(w http.ResponseWriter, r *http.Request) error {
	if !s.cfg.AnonymousSignIns {
		return errAnonDisabled
	}
	if err := s.limitIP(r, "anonymous"); err != nil {
		return err
	}
	var c credentials
	if err := decodeJSON(r, &c); err != nil {
		return err
	}
	if c.Data == nil && c.Options != nil {
		c.Data = c.Options.Data
	}
	u, err := s.createUser(ctx(r), s.db.Admin, newUser{Anonymous: true, Provider: "anonymous", UserMetadata: c.Data})
	if err != nil {
		return err
	}
	ci := clientOf(r)
	s.audit(ctx(r), auditEntry{Action: "user_signedup", UserID: u.ID, ActorID: u.ID, IP: ci.IP, Payload: map[string]any{"provider": "anonymous"}})
	sess, err := s.newSession(ctx(r), u, "anonymous", ci)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sess)
	return nil
}

// handleToken is POST /token?grant_type=...
func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) error {
	switch gt := r.URL.Query().Get("grant_type"); gt {
	case "password":
		return s.handlePasswordGrant(w, r)
	case "refresh_token":
		return s.handleRefreshGrant(w, r)
	default:
		if h := s.flows.grants[gt]; h != nil {
			return h(w, r)
		}
		if gt == "" {
			return validationFailed("grant_type is required: password, refresh_token or pkce")
		}
		return validationFailed("unsupported_grant_type: " + strconv.Quote(gt))
	}
}

func (s *Service) handlePasswordGrant(w http.ResponseWriter, r *http.Request) error {
	if err := s.limitIP(r, "sign_in"); err != nil {
		return err
	}
	var c credentials
	if err := decodeJSON(r, &c); err != nil {
		return err
	}
	email, err := normalizeEmail(c.Email)
	if err != nil {
		return errInvalidCredentials
	}
	phone, err := normalizePhone(c.Phone)
	if err != nil {
		return errInvalidCredentials
	}
	if (email == "") == (phone == "") || c.Password == "" {
		return validationFailed("Sign in requires an email or phone number, and a password")
	}
	account := "email:" + email
	if phone != "" {
		account = "phone:" + phone
	}
	if wait, err := s.signInLocked(ctx(r), account); err != nil {
		return err
	} else if wait > 0 {
		return rateLimited(CodeOverRequestRateLimit, "Too many failed sign-in attempts; try again later", wait)
	}
	var u *User
	if email != "" {
		u, err = s.userByEmail(ctx(r), s.db.Admin, email)
	} else {
		u, err = s.userByPhone(ctx(r), s.db.Admin, phone)
	}
	if err != nil {
		return err
	}
	stored := s.dummyHash
	if u != nil && u.passwordHash != "" {
		stored = u.passwordHash
	}
	ok, err := checkPassword(stored, c.Password)
	if err != nil && !errors.Is(err, errUnsupportedHash) {
		return err
	}
	ci := clientOf(r)
	if !ok || u == nil || u.passwordHash == "" {
		if err := s.signInFailed(ctx(r), account); err != nil {
			return err
		}
		return errInvalidCredentials
	}
	s.signInSucceeded(ctx(r), account)
	if s.banned(u) {
		return errUserBanned
	}
	if email != "" && u.EmailConfirmedAt == nil && !s.cfg.Mailer.Autoconfirm {
		return errEmailNotConfirmed
	}
	if !strings.HasPrefix(u.passwordHash, "$2") || bcryptCost(u.passwordHash) < s.cfg.Password.BcryptCost {
		// An imported argon2 hash (or a cheaper bcrypt) is replaced now
		// that the password is known.
		if h, err := hashPassword(c.Password, s.cfg.Password.BcryptCost); err == nil {
			_, _ = s.db.Admin.Exec(ctx(r), `update auth.users set encrypted_password = $2 where id = $1`, u.ID, h)
		}
	}
	sess, err := s.newSession(ctx(r), u, "password", ci)
	if err != nil {
		return err
	}
	if reasons, msg := checkPolicy(s.cfg.Password, c.Password); reasons != nil {
		sess.WeakPassword = &WeakPassword{Message: msg, Reasons: reasons}
	}
	s.audit(ctx(r), auditEntry{Action: "login", UserID: u.ID, ActorID: u.ID, IP: ci.IP, Payload: map[string]any{"provider": "email", "method": "password"}})
	writeJSON(w, http.StatusOK, sess)
	return nil
}

func (s *Service) handleRefreshGrant(w http.ResponseWriter, r *http.Request) error {
	if err := s.limitIP(r, "token_refresh"); err != nil {
		return err
	}
	var c credentials
	if err := decodeJSON(r, &c); err != nil {
		return err
	}
	if c.RefreshToken == "" {
		return validationFailed("refresh_token is required")
	}
	sess, err := s.refresh(ctx(r), c.RefreshToken, clientOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sess)
	return nil
}

// handleLogout is POST /logout?scope=global|local|others (default global).
func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) error {
	id, err := s.requireUser(r)
	if err != nil {
		// Signing out with a session that is already gone succeeds, as
		// in GoTrue: the client wants to be signed out, and it is.
		if e := httpx.AsError(err); e.Code == CodeSessionNotFound {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return err
	}
	scope := r.URL.Query().Get("scope")
	if _, err := s.signOut(ctx(r), id.Subject, sessionIDOf(id), scope); err != nil {
		return err
	}
	if scope == "" {
		scope = "global"
	}
	s.audit(ctx(r), auditEntry{Action: "logout", UserID: id.Subject, ActorID: id.Subject, IP: httpx.ClientIP(r), Payload: map[string]any{"scope": scope}})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleGetUser(w http.ResponseWriter, r *http.Request) error {
	id, err := s.requireUser(r)
	if err != nil {
		return err
	}
	u, err := s.loadUser(ctx(r), s.db.Admin, id.Subject)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// userUpdate is the body of PUT /user.
type userUpdate struct {
	Email               *string        `json:"email"`
	Phone               *string        `json:"phone"`
	Password            *string        `json:"password"`
	Data                map[string]any `json:"data"`
	Nonce               string         `json:"nonce"`
	CodeChallenge       string         `json:"code_challenge"`
	CodeChallengeMethod string         `json:"code_challenge_method"`
}

func (s *Service) handleUpdateUser(w http.ResponseWriter, r *http.Request) error {
	id, err := s.requireUser(r)
	if err != nil {
		return err
	}
	if err := id.RequireScope(identity.ScopeWriteAuth); err != nil {
		return err
	}
	var up userUpdate
	if err := decodeJSON(r, &up); err != nil {
		return err
	}
	u, err := s.loadUser(ctx(r), s.db.Admin, id.Subject)
	if err != nil {
		return err
	}
	// Everything is checked before anything is written, and what is
	// written is written in one transaction: a request that fails changes
	// nothing.
	var newHash, newEmail string
	if up.Password != nil {
		pw := *up.Password
		if reasons, msg := checkPolicy(s.cfg.Password, pw); reasons != nil {
			return weakPasswordError(msg, reasons)
		}
		if u.passwordHash != "" {
			if same, _ := checkPassword(u.passwordHash, pw); same {
				return Err(http.StatusUnprocessableEntity, CodeSamePassword, "New password should be different from the old password.")
			}
		}
		if newHash, err = hashPassword(pw, s.cfg.Password.BcryptCost); err != nil {
			return err
		}
	}
	if up.Email != nil && !strings.EqualFold(strings.TrimSpace(*up.Email), u.Email) {
		if newEmail, err = normalizeEmail(*up.Email); err != nil {
			return err
		}
		if newEmail == "" {
			return validationFailed("email must not be empty")
		}
		if other, err := s.userByEmail(ctx(r), s.db.Admin, newEmail); err != nil {
			return err
		} else if other != nil {
			return errEmailExists
		}
	}
	if up.Phone != nil && *up.Phone != u.Phone {
		return Err(http.StatusUnprocessableEntity, CodePhoneProviderDisabled, "Phone changes are disabled: no SMS provider is configured")
	}
	directEmail := newEmail != "" && (s.cfg.Mailer.Autoconfirm || u.IsAnonymous && s.flows.emailChange == nil)
	if newEmail != "" && !directEmail && s.flows.emailChange == nil {
		return Err(http.StatusInternalServerError, CodeUnexpectedFailure, "email changes need confirmation but no mailer is available")
	}
	err = pgx.BeginFunc(ctx(r), s.db.Admin, func(tx pgx.Tx) error {
		if newHash != "" {
			if _, err := tx.Exec(ctx(r), `update auth.users set encrypted_password = $2, updated_at = now() where id = $1`, u.ID, newHash); err != nil {
				return err
			}
		}
		if up.Data != nil {
			// GoTrue merges the top-level keys; a null value removes a key.
			if _, err := tx.Exec(ctx(r), `update auth.users set raw_user_meta_data =
				jsonb_strip_nulls(raw_user_meta_data || $2::jsonb), updated_at = now() where id = $1`, u.ID, jsonOf(up.Data)); err != nil {
				return err
			}
		}
		if directEmail {
			return s.setEmailTx(ctx(r), tx, u.ID, newEmail)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ip := httpx.ClientIP(r)
	if newHash != "" {
		s.audit(ctx(r), auditEntry{Action: "user_updated_password", UserID: u.ID, ActorID: u.ID, IP: ip})
	}
	if up.Data != nil || directEmail {
		fields := []string{}
		if up.Data != nil {
			fields = append(fields, "user_metadata")
		}
		if directEmail {
			fields = append(fields, "email")
		}
		s.audit(ctx(r), auditEntry{Action: "user_modified", UserID: u.ID, ActorID: u.ID, IP: ip, Payload: map[string]any{"fields": fields}})
	}
	if newEmail != "" && !directEmail {
		if err := s.flows.emailChange(w, r, u, newEmail, up.CodeChallenge, up.CodeChallengeMethod); err != nil {
			return err
		}
	}
	u, err = s.loadUser(ctx(r), s.db.Admin, id.Subject)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// setEmail changes a user's address at once (confirmed), updating the
// email identity; an anonymous user becomes a regular one.
func (s *Service) setEmail(c context.Context, userID, email string) error {
	return s.setEmailTx(c, s.db.Admin, userID, email)
}

// setEmailTx is setEmail within a transaction.
func (s *Service) setEmailTx(c context.Context, q querier, userID, email string) error {
	tag, err := q.Exec(c, `update auth.users set email = $2, email_confirmed_at = now(), email_change = null,
		email_change_sent_at = null, is_anonymous = false,
		raw_app_meta_data = raw_app_meta_data || case when is_anonymous
			then '{"provider":"email","providers":["email"]}'::jsonb else '{}'::jsonb end,
		updated_at = now() where id = $1`, userID, email)
	if err != nil {
		if strings.Contains(err.Error(), "23505") {
			return errEmailExists
		}
		return err
	}
	if tag.RowsAffected() == 0 {
		return errUserNotFound
	}
	_, err = q.Exec(c, `insert into auth.identities (user_id, provider, provider_id, identity_data)
		values ($1::uuid, 'email', $3, jsonb_build_object('sub', $3::text, 'email', $2::text, 'email_verified', true))
		on conflict (provider_id, provider) do update set identity_data = auth.identities.identity_data || excluded.identity_data, updated_at = now()`,
		userID, email, userID)
	return err
}

// handleSettings is GET /settings: what auth-js and dashboards read to know
// which sign-in methods are on.
func (s *Service) handleSettings(w http.ResponseWriter, _ *http.Request) error {
	e := s.cfg.External
	writeJSON(w, http.StatusOK, map[string]any{
		"external": map[string]bool{
			"anonymous_users": s.cfg.AnonymousSignIns,
			"email":           true,
			"phone":           false,
			"google":          e.Google.Enabled,
			"github":          e.GitHub.Enabled,
			"azure":           e.Microsoft.Enabled,
			"microsoft":       e.Microsoft.Enabled,
			"apple":           e.Apple.Enabled,
			"facebook":        e.Facebook.Enabled,
			"twitter":         e.Twitter.Enabled,
			"linkedin_oidc":   e.LinkedIn.Enabled,
			"gitlab":          e.GitLab.Enabled,
			"bitbucket":       e.Bitbucket.Enabled,
			"oidc":            e.OIDC.Enabled,
		},
		"disable_signup":     s.cfg.DisableSignup,
		"mailer_autoconfirm": s.cfg.Mailer.Autoconfirm,
		"phone_autoconfirm":  false,
		"sms_provider":       "",
		"saml_enabled":       false,
		"mfa_enabled":        s.cfg.MFA.Enabled,
	})
	return nil
}

// handleListSessions is GET /api/v1/auth/sessions.
func (s *Service) handleListSessions(w http.ResponseWriter, r *http.Request) error {
	id, err := s.requireUser(r)
	if err != nil {
		return err
	}
	list, err := s.listSessions(ctx(r), id.Subject, sessionIDOf(id))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// handleDeleteSession is DELETE /api/v1/auth/sessions/{id}.
func (s *Service) handleDeleteSession(w http.ResponseWriter, r *http.Request) error {
	id, err := s.requireUser(r)
	if err != nil {
		return err
	}
	sid := urlParam(r, "id")
	if !validUUID(sid) {
		return Err(http.StatusNotFound, CodeSessionNotFound, "Session not found")
	}
	tag, err := s.db.Admin.Exec(ctx(r), `delete from auth.sessions where id = $1 and user_id = $2`, sid, id.Subject)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return Err(http.StatusNotFound, CodeSessionNotFound, "Session not found")
	}
	s.audit(ctx(r), auditEntry{Action: "logout", UserID: id.Subject, ActorID: id.Subject, IP: httpx.ClientIP(r), Payload: map[string]any{"session_id": sid}})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
