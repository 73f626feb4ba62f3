package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// amrEntry is one authentication method of a session.
type amrEntry struct {
	Method    string `json:"method"`
	Timestamp int64  `json:"timestamp"`
}

// sessionRow is a session as stored.
type sessionRow struct {
	ID, UserID string
	AAL        string
	AMR        []amrEntry
	NotAfter   *time.Time
}

// clientInfo is where a request came from, recorded with its session.
type clientInfo struct {
	IP, UserAgent string
}

func clientOf(r *http.Request) clientInfo {
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return clientInfo{IP: httpx.ClientIP(r), UserAgent: ua}
}

// ipOrNil is the address as a bind parameter for an inet column.
func ipOrNil(ip string) any {
	if ip == "" {
		return nil
	}
	return ip
}

// newSession starts a session for u signed in by method and issues its
// tokens, in one transaction with the last_sign_in_at update.
func (s *Service) newSession(ctx context.Context, u *User, method string, c clientInfo) (*Session, error) {
	var out *Session
	err := pgx.BeginFunc(ctx, s.db.Admin, func(tx pgx.Tx) error {
		amr := []amrEntry{{Method: method, Timestamp: s.now().Unix()}}
		amrJSON, _ := json.Marshal(amr)
		var notAfter any
		if tb := s.cfg.SessionTimebox; tb > 0 {
			notAfter = s.now().Add(tb)
		}
		var sid string
		if err := tx.QueryRow(ctx, `insert into auth.sessions (user_id, amr, not_after, user_agent, ip)
			values ($1, $2, $3, nullif($4, ''), $5) returning id::text`,
			u.ID, amrJSON, notAfter, c.UserAgent, ipOrNil(c.IP)).Scan(&sid); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `update auth.users set last_sign_in_at = now(), updated_at = now() where id = $1`, u.ID); err != nil {
			return err
		}
		if method != "anonymous" {
			if _, err := tx.Exec(ctx, `update auth.identities set last_sign_in_at = now() where user_id = $1 and provider = $2`,
				u.ID, providerOfMethod(method)); err != nil {
				return err
			}
		}
		rt, err := s.insertRefreshToken(ctx, tx, sid, u.ID, nil)
		if err != nil {
			return err
		}
		fresh, err := s.loadUser(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		sess := sessionRow{ID: sid, UserID: u.ID, AAL: "aal1", AMR: amr}
		out, err = s.issue(ctx, fresh, sess, rt, method)
		return err
	})
	return out, err
}

func providerOfMethod(m string) string {
	switch m {
	case "password", "otp", "magiclink", "recovery", "invite", "email_signup", "email_change":
		return "email"
	}
	return m
}

// insertRefreshToken adds a token to a session's family and returns its
// plaintext.
func (s *Service) insertRefreshToken(ctx context.Context, tx pgx.Tx, sessionID, userID string, parent *int64) (string, error) {
	tok := randomToken(24)
	enc, err := s.crypt.Encrypt(tok, "refresh_token:"+sessionID)
	if err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, `insert into auth.refresh_tokens (token_hash, token_enc, session_id, user_id, parent_id)
		values ($1, $2, $3, $4, $5)`, hashToken(tok), enc, sessionID, userID, parent)
	return tok, err
}

// issue signs the access token for a session and returns the session object.
func (s *Service) issue(ctx context.Context, u *User, sess sessionRow, refresh, method string) (*Session, error) {
	now := s.now()
	exp := now.Add(s.cfg.AccessTokenTTL)
	amr := sess.AMR
	if amr == nil {
		amr = []amrEntry{}
	}
	aud := u.Aud
	if a := s.audience(); a != "" {
		aud = a
	}
	claims := map[string]any{
		"sub":           u.ID,
		"role":          u.Role,
		"aud":           aud,
		"email":         u.Email,
		"phone":         u.Phone,
		"app_metadata":  u.AppMetadata,
		"user_metadata": u.UserMetadata,
		"aal":           sess.AAL,
		"amr":           amr,
		"session_id":    sess.ID,
		"is_anonymous":  u.IsAnonymous,
		"iat":           now.Unix(),
		"exp":           exp.Unix(),
	}
	if s.cfg.JWT.Issuer != "" {
		claims["iss"] = s.cfg.JWT.Issuer
	}
	if s.cfg.Hooks.CustomClaims != "" {
		var err error
		if claims, err = s.customClaims(ctx, u.ID, claims, method); err != nil {
			return nil, err
		}
	}
	tok, err := s.ids.Sign(claims)
	if err != nil {
		return nil, err
	}
	return &Session{
		AccessToken:  tok,
		TokenType:    "bearer",
		ExpiresIn:    int64(s.cfg.AccessTokenTTL / time.Second),
		ExpiresAt:    exp.Unix(),
		RefreshToken: refresh,
		User:         u,
	}, nil
}

func (s *Service) audience() string { return s.cfg.JWT.Audience }

// requiredClaims cannot be removed or changed by the custom-claims hook:
// the rest of the system depends on them.
var requiredClaims = []string{"sub", "aud", "exp", "iat", "role", "aal", "session_id", "is_anonymous"}

// customClaims runs the configured hook as service_role on the API pool:
// fn(event jsonb) returns jsonb {"claims": {...}}. A hook failure fails the
// sign-in rather than issuing a token without the claims it should have.
func (s *Service) customClaims(ctx context.Context, userID string, claims map[string]any, method string) (map[string]any, error) {
	schema, name, _ := cutDot(s.cfg.Hooks.CustomClaims)
	fn := pgx.Identifier{schema, name}.Sanitize()
	event, err := json.Marshal(map[string]any{"user_id": userID, "claims": claims, "authentication_method": method})
	if err != nil {
		return nil, err
	}
	var out []byte
	err = s.db.InRequestTx(ctx, pg.Request{Role: identity.RoleServiceRole, Claims: []byte(`{"role":"service_role"}`)},
		func(ctx context.Context, tx pg.Tx) error {
			return tx.QueryRow(ctx, `select `+fn+`($1::jsonb)::jsonb`, event).Scan(&out)
		})
	if err != nil {
		return nil, httpx.NewError(http.StatusInternalServerError, CodeUnexpectedFailure, "the custom claims hook failed").
			WithHint("check the function named by auth.hooks.custom_claims").WithDetails(pg.ErrorFrom(err).Message)
	}
	var res struct {
		Claims map[string]any `json:"claims"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Claims == nil {
		return nil, httpx.NewError(http.StatusInternalServerError, CodeUnexpectedFailure,
			"the custom claims hook must return a JSON object with a claims object")
	}
	for _, k := range requiredClaims {
		res.Claims[k] = claims[k]
	}
	if iss, ok := claims["iss"]; ok {
		res.Claims["iss"] = iss
	}
	return res.Claims, nil
}

func cutDot(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return "", s, false
}

// refresh is the refresh_token grant. Its concurrency design:
//
//   - The session row is locked first (FOR UPDATE), then the presented
//     token's row, always in that order (logout and revocation lock the
//     session too), so refreshes of one session run one at a time and
//     never deadlock.
//   - An unrevoked token is rotated: revoked, and a child inserted.
//   - A revoked token that is the parent of the session's active token, or
//     was revoked less than auth.refresh_token_reuse_interval ago, gets the
//     active token back (its plaintext is kept encrypted for exactly this)
//     with a fresh access token: concurrent tabs and lost responses all end
//     up holding the one live token of the family.
//   - Any other reuse means the token leaked: the session and its whole
//     family are deleted, the reuse is audited, and refresh_token_already_used
//     is answered.
func (s *Service) refresh(ctx context.Context, token string, c clientInfo) (*Session, error) {
	if token == "" || len(token) > 256 {
		return nil, errRefreshNotFound
	}
	h := hashToken(token)
	var sid string
	err := s.db.Admin.QueryRow(ctx, `select session_id::text from auth.refresh_tokens where token_hash = $1`, h).Scan(&sid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errRefreshNotFound
	}
	if err != nil {
		return nil, err
	}
	var out *Session
	var reuse, expired bool
	var reuseUser string
	err = pgx.BeginFunc(ctx, s.db.Admin, func(tx pgx.Tx) error {
		var sess sessionRow
		var amr []byte
		err := tx.QueryRow(ctx, `select id::text, user_id::text, aal, amr, not_after from auth.sessions where id = $1 for update`, sid).
			Scan(&sess.ID, &sess.UserID, &sess.AAL, &amr, &sess.NotAfter)
		if errors.Is(err, pgx.ErrNoRows) {
			return errRefreshNotFound
		}
		if err != nil {
			return err
		}
		_ = json.Unmarshal(amr, &sess.AMR)
		if sess.NotAfter != nil && !sess.NotAfter.After(s.now()) {
			if _, err := tx.Exec(ctx, `delete from auth.sessions where id = $1`, sid); err != nil {
				return err
			}
			expired = true
			return nil
		}
		var id int64
		var revoked bool
		var revokedAt time.Time
		err = tx.QueryRow(ctx, `select id, revoked, updated_at from auth.refresh_tokens where token_hash = $1 for update`, h).
			Scan(&id, &revoked, &revokedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return errRefreshNotFound
		}
		if err != nil {
			return err
		}
		var issued string
		if !revoked {
			if _, err := tx.Exec(ctx, `update auth.refresh_tokens set revoked = true, updated_at = now(), token_enc = null where id = $1`, id); err != nil {
				return err
			}
			if issued, err = s.insertRefreshToken(ctx, tx, sid, sess.UserID, &id); err != nil {
				return err
			}
		} else {
			var activeParent *int64
			var activeEnc *string
			err := tx.QueryRow(ctx, `select parent_id, token_enc from auth.refresh_tokens
				where session_id = $1 and not revoked order by id desc limit 1`, sid).Scan(&activeParent, &activeEnc)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			found := err == nil && activeEnc != nil
			withinGrace := s.now().Sub(revokedAt) <= s.cfg.RefreshTokenReuseInterval
			if !found || !(withinGrace || (activeParent != nil && *activeParent == id)) {
				if _, err := tx.Exec(ctx, `delete from auth.sessions where id = $1`, sid); err != nil {
					return err
				}
				reuse, reuseUser = true, sess.UserID
				return nil
			}
			if issued, err = s.crypt.Decrypt(*activeEnc, "refresh_token:"+sid); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `update auth.sessions set refreshed_at = now(), updated_at = now(),
			ip = coalesce($2, ip), user_agent = coalesce(nullif($3, ''), user_agent) where id = $1`,
			sid, ipOrNil(c.IP), c.UserAgent); err != nil {
			return err
		}
		u, err := s.loadUser(ctx, tx, sess.UserID)
		if err != nil {
			return err
		}
		if s.banned(u) {
			return errUserBanned
		}
		out, err = s.issue(ctx, u, sess, issued, "token_refresh")
		return err
	})
	if err != nil {
		return nil, err
	}
	if expired {
		return nil, errRefreshSessionExpired
	}
	if reuse {
		s.audit(ctx, auditEntry{Action: "token_revoked", UserID: reuseUser, ActorID: reuseUser, IP: c.IP,
			Payload: map[string]any{"reason": "refresh_token_reuse", "session_id": sid}})
		return nil, errRefreshUsed
	}
	return out, nil
}

// CheckSession answers nil when the identity's session (its session_id
// claim) still exists and has not expired. Identities without a session
// (the anon and service_role keys, API keys, foreign tokens) pass. Every
// subsystem that must stop honouring signed-out sessions before their
// access tokens expire calls it: /user, the auth server's endpoints, and
// realtime when a client re-authenticates.
func (s *Service) CheckSession(ctx context.Context, id identity.Identity) error {
	sid, _ := id.Claims["session_id"].(string)
	if sid == "" {
		return nil
	}
	if !validUUID(sid) {
		return errSessionNotFound
	}
	var notAfter *time.Time
	var uid string
	err := s.db.Admin.QueryRow(ctx, `select user_id::text, not_after from auth.sessions where id = $1`, sid).Scan(&uid, &notAfter)
	if errors.Is(err, pgx.ErrNoRows) {
		return errSessionNotFound
	}
	if err != nil {
		return err
	}
	if uid != id.Subject {
		return errSessionNotFound
	}
	if notAfter != nil && !notAfter.After(s.now()) {
		return errSessionExpired
	}
	return nil
}

// sessionInfo is a session as GET /sessions lists it.
type sessionInfo struct {
	ID          string     `json:"id"`
	UserID      string     `json:"user_id"`
	AAL         string     `json:"aal"`
	FactorID    *string    `json:"factor_id"`
	NotAfter    *time.Time `json:"not_after"`
	RefreshedAt *time.Time `json:"refreshed_at"`
	UserAgent   *string    `json:"user_agent"`
	IP          *string    `json:"ip"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	Current     bool       `json:"current"`
}

func (s *Service) listSessions(ctx context.Context, userID, current string) ([]sessionInfo, error) {
	rows, err := s.db.Admin.Query(ctx, `select id::text, user_id::text, aal, factor_id::text, not_after, refreshed_at,
		user_agent, host(ip), created_at, updated_at from auth.sessions
		where user_id = $1 and (not_after is null or not_after > now()) order by created_at desc, id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []sessionInfo{}
	for rows.Next() {
		var si sessionInfo
		if err := rows.Scan(&si.ID, &si.UserID, &si.AAL, &si.FactorID, &si.NotAfter, &si.RefreshedAt,
			&si.UserAgent, &si.IP, &si.CreatedAt, &si.UpdatedAt); err != nil {
			return nil, err
		}
		si.Current = si.ID == current
		out = append(out, si)
	}
	return out, rows.Err()
}

// signOut ends sessions of a user: "local" the given one, "others" all but
// it, "global" all.
func (s *Service) signOut(ctx context.Context, userID, sessionID, scope string) (int64, error) {
	var tag interface{ RowsAffected() int64 }
	var err error
	switch scope {
	case "", "global":
		tag, err = s.db.Admin.Exec(ctx, `delete from auth.sessions where user_id = $1`, userID)
	case "local":
		tag, err = s.db.Admin.Exec(ctx, `delete from auth.sessions where user_id = $1 and id = $2`, userID, sessionID)
	case "others":
		tag, err = s.db.Admin.Exec(ctx, `delete from auth.sessions where user_id = $1 and id <> $2`, userID, sessionID)
	default:
		return 0, validationFailed(fmt.Sprintf("scope %s is not one of global, local, others", strconv.Quote(scope)))
	}
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
