package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
)

// mfaChallengeTTL is how long a challenge may be verified, as GoTrue's
// default MFA_CHALLENGE_EXPIRY_DURATION.
const mfaChallengeTTL = 300 * time.Second

var (
	errMFADisabled     = Err(http.StatusUnprocessableEntity, "mfa_totp_enroll_not_enabled", "MFA enroll is disabled for TOTP")
	errFactorNotFound  = Err(http.StatusNotFound, CodeMFAFactorNotFound, "Factor not found")
	errMFAInvalidCode  = Err(http.StatusUnprocessableEntity, CodeMFAVerificationFailed, "Invalid TOTP code entered")
	errAAL2ForUnenroll = Err(http.StatusUnprocessableEntity, CodeInsufficientAAL, "AAL2 required to unenroll verified factor")
)

// enrollRequest is the body of POST /factors.
type enrollRequest struct {
	FactorType   string `json:"factor_type"`
	FriendlyName string `json:"friendly_name"`
	Issuer       string `json:"issuer"`
	Phone        string `json:"phone"`
}

// enrollResponse is GoTrue's answer to a TOTP enrollment. qr_code is the
// SVG document itself (auth-js prefixes the data: URI scheme).
type enrollResponse struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	FriendlyName string `json:"friendly_name"`
	TOTP         struct {
		QRCode string `json:"qr_code"`
		Secret string `json:"secret"`
		URI    string `json:"uri"`
	} `json:"totp"`
}

// aalOf is the aal claim of an identity.
func aalOf(id identity.Identity) string {
	a, _ := id.Claims["aal"].(string)
	return a
}

func totpAAD(factorID string) string { return "totp:" + factorID }

// handleEnroll is POST /factors: a new, unverified TOTP factor. Adding a
// factor next to a verified one needs an aal2 session, so that a stolen
// password alone cannot plant the thief's authenticator.
func (s *Service) handleEnroll(w http.ResponseWriter, r *http.Request) error {
	id, err := s.requireUser(r)
	if err != nil {
		return err
	}
	if !s.cfg.MFA.Enabled {
		return errMFADisabled
	}
	var req enrollRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	switch req.FactorType {
	case "totp":
	case "phone":
		return Err(http.StatusUnprocessableEntity, "mfa_phone_enroll_not_enabled", "MFA enroll is disabled for Phone: no SMS provider is configured")
	case "webauthn":
		return Err(http.StatusUnprocessableEntity, "mfa_webauthn_enroll_not_enabled", "MFA enroll is disabled for WebAuthn")
	default:
		return validationFailed("factor_type needs to be totp")
	}
	name := strings.TrimSpace(req.FriendlyName)
	if len(name) > 200 {
		return validationFailed("friendly_name is longer than 200 characters")
	}
	u, err := s.loadUser(ctx(r), s.db.Admin, id.Subject)
	if err != nil {
		return err
	}
	verified := 0
	for _, f := range u.Factors {
		if f.Status == "verified" {
			verified++
		}
	}
	if len(u.Factors) >= s.cfg.MFA.MaxFactors {
		return Err(http.StatusUnprocessableEntity, CodeTooManyMFAFactors, "Maximum number of verified factors reached, unenroll to continue")
	}
	if verified > 0 && aalOf(id) != "aal2" {
		return Err(http.StatusUnprocessableEntity, CodeInsufficientAAL, "AAL2 required to enroll a new factor")
	}
	issuer := strings.TrimSpace(req.Issuer)
	if issuer == "" {
		issuer = s.cfg.MFA.Issuer
	}
	account := firstNonEmpty(u.Email, u.Phone, u.ID)
	enr, err := newTOTP(issuer, account)
	if err != nil {
		return err
	}
	svg, err := qrSVG(enr.URI)
	if err != nil {
		return err
	}
	factorID := newUUIDString()
	enc, err := s.crypt.Encrypt(enr.Secret, totpAAD(factorID))
	if err != nil {
		return err
	}
	_, err = s.db.Admin.Exec(ctx(r), `insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, secret_enc)
		values ($1, $2, nullif($3, ''), 'totp', 'unverified', $4)`, factorID, u.ID, name, enc)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Err(http.StatusUnprocessableEntity, CodeMFAFactorNameConflict,
			fmt.Sprintf("A factor with the friendly name %q for this user already exists", name))
	}
	if err != nil {
		return err
	}
	s.flowAudit(ctx(r), r, "factor_enrolled", u.ID, map[string]any{"factor_id": factorID, "factor_type": "totp"})
	var out enrollResponse
	out.ID, out.Type, out.FriendlyName = factorID, "totp", name
	out.TOTP.QRCode, out.TOTP.Secret, out.TOTP.URI = svg, enr.Secret, enr.URI
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ownFactor loads a factor of the calling user.
func (s *Service) ownFactor(r *http.Request, userID string) (id, status, secretEnc string, lastStep *int64, err error) {
	fid := urlParam(r, "id")
	if !validUUID(fid) {
		return "", "", "", nil, errFactorNotFound
	}
	var enc *string
	err = s.db.Admin.QueryRow(ctx(r), `select id::text, status, secret_enc, last_used_step from auth.mfa_factors
		where id = $1 and user_id = $2`, fid, userID).Scan(&id, &status, &enc, &lastStep)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", "", nil, errFactorNotFound
	}
	if enc != nil {
		secretEnc = *enc
	}
	return id, status, secretEnc, lastStep, err
}

// handleChallenge is POST /factors/{id}/challenge.
func (s *Service) handleChallenge(w http.ResponseWriter, r *http.Request) error {
	id, err := s.requireUser(r)
	if err != nil {
		return err
	}
	fid, _, _, _, err := s.ownFactor(r, id.Subject)
	if err != nil {
		return err
	}
	var cid string
	var created time.Time
	if err := s.db.Admin.QueryRow(ctx(r), `insert into auth.mfa_challenges (factor_id, ip_address) values ($1, $2)
		returning id::text, created_at`, fid, ipOrNil(httpx.ClientIP(r))).Scan(&cid, &created); err != nil {
		return err
	}
	if _, err := s.db.Admin.Exec(ctx(r), `update auth.mfa_factors set last_challenged_at = now() where id = $1`, fid); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": cid, "type": "totp", "expires_at": created.Add(mfaChallengeTTL).Unix()})
	return nil
}

// verifyFactorRequest is the body of POST /factors/{id}/verify.
type verifyFactorRequest struct {
	ChallengeID string `json:"challenge_id"`
	Code        string `json:"code"`
}

// handleVerifyFactor is POST /factors/{id}/verify: a correct code for a
// live challenge verifies the factor (on first use) and raises the session
// to aal2, rotating its refresh token; the answer is the new session.
func (s *Service) handleVerifyFactor(w http.ResponseWriter, r *http.Request) error {
	id, err := s.requireUser(r)
	if err != nil {
		return err
	}
	if err := s.limitIP(r, "verify"); err != nil {
		return err
	}
	var req verifyFactorRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if !validUUID(req.ChallengeID) {
		return validationFailed("challenge_id must be the id of a challenge")
	}
	sid := sessionIDOf(id)
	if sid == "" {
		return Err(http.StatusUnauthorized, CodeSessionNotFound, "MFA needs a user session")
	}
	fid, _, secretEnc, _, err := s.ownFactor(r, id.Subject)
	if err != nil {
		return err
	}
	secret, err := s.crypt.Decrypt(secretEnc, totpAAD(fid))
	if err != nil {
		return err
	}
	var out *Session
	err = pgx.BeginFunc(ctx(r), s.db.Admin, func(tx pgx.Tx) error {
		var created time.Time
		var verified *time.Time
		var ip *string
		err := tx.QueryRow(ctx(r), `select created_at, verified_at, host(ip_address) from auth.mfa_challenges
			where id = $1 and factor_id = $2 for update`, req.ChallengeID, fid).Scan(&created, &verified, &ip)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && verified != nil) {
			return Err(http.StatusUnprocessableEntity, CodeMFAFactorNotFound, "Challenge not found or already used")
		}
		if err != nil {
			return err
		}
		if s.now().Sub(created) > mfaChallengeTTL {
			return Err(http.StatusUnprocessableEntity, CodeMFAChallengeExpired,
				fmt.Sprintf("MFA challenge %s has expired, verify against another challenge or create a new challenge.", req.ChallengeID))
		}
		if ip != nil && *ip != httpx.ClientIP(r) {
			return Err(http.StatusUnprocessableEntity, CodeMFAIPAddressMismatch, "Challenge and verify IP addresses mismatch")
		}
		// The factor row is locked so that two verifications of one code
		// cannot both pass the replay check.
		var lastStep *int64
		var status string
		if err := tx.QueryRow(ctx(r), `select status, last_used_step from auth.mfa_factors where id = $1 for update`, fid).
			Scan(&status, &lastStep); err != nil {
			return err
		}
		step, ok := totpCheck(secret, strings.TrimSpace(req.Code), s.now())
		if !ok || (lastStep != nil && step <= *lastStep) {
			return errMFAInvalidCode
		}
		if _, err := tx.Exec(ctx(r), `update auth.mfa_factors set status = 'verified', last_used_step = $2, updated_at = now() where id = $1`, fid, step); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx(r), `update auth.mfa_challenges set verified_at = now() where id = $1`, req.ChallengeID); err != nil {
			return err
		}
		out, err = s.raiseSession(r, tx, sid, id.Subject, fid)
		return err
	})
	if err != nil {
		return err
	}
	s.flowAudit(ctx(r), r, "factor_verified", id.Subject, map[string]any{"factor_id": fid, "session_id": sid})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// raiseSession records the TOTP step in the session (aal2, amr), rotates
// its refresh token and issues the new session object.
func (s *Service) raiseSession(r *http.Request, tx pgx.Tx, sid, userID, factorID string) (*Session, error) {
	c := ctx(r)
	var sess sessionRow
	var amr []byte
	err := tx.QueryRow(c, `select id::text, user_id::text, aal, amr, not_after from auth.sessions where id = $1 and user_id = $2 for update`, sid, userID).
		Scan(&sess.ID, &sess.UserID, &sess.AAL, &amr, &sess.NotAfter)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errSessionNotFound
	}
	if err != nil {
		return nil, err
	}
	_ = json.Unmarshal(amr, &sess.AMR)
	kept := sess.AMR[:0]
	for _, a := range sess.AMR {
		if a.Method != "totp" {
			kept = append(kept, a)
		}
	}
	sess.AMR = append([]amrEntry{{Method: "totp", Timestamp: s.now().Unix()}}, kept...)
	sess.AAL = "aal2"
	amr, _ = json.Marshal(sess.AMR)
	if _, err := tx.Exec(c, `update auth.sessions set aal = 'aal2', amr = $2, factor_id = $3, updated_at = now() where id = $1`,
		sid, amr, factorID); err != nil {
		return nil, err
	}
	// Rotate like a refresh, so that the previous token is the parent of
	// the new one and a tab still holding it gets the new one back.
	var parent *int64
	var active int64
	err = tx.QueryRow(c, `select id from auth.refresh_tokens where session_id = $1 and not revoked order by id desc limit 1 for update`, sid).Scan(&active)
	switch {
	case err == nil:
		parent = &active
		if _, err := tx.Exec(c, `update auth.refresh_tokens set revoked = true, updated_at = now(), token_enc = null where id = $1`, active); err != nil {
			return nil, err
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, err
	}
	rt, err := s.insertRefreshToken(c, tx, sid, userID, parent)
	if err != nil {
		return nil, err
	}
	u, err := s.loadUser(c, tx, userID)
	if err != nil {
		return nil, err
	}
	if s.banned(u) {
		return nil, errUserBanned
	}
	return s.issue(c, u, sess, rt, "mfa/totp")
}

// handleUnenroll is DELETE /factors/{id}. Removing a verified factor needs
// an aal2 session.
func (s *Service) handleUnenroll(w http.ResponseWriter, r *http.Request) error {
	id, err := s.requireUser(r)
	if err != nil {
		return err
	}
	fid, status, _, _, err := s.ownFactor(r, id.Subject)
	if err != nil {
		return err
	}
	if status == "verified" && aalOf(id) != "aal2" {
		return errAAL2ForUnenroll
	}
	if _, err := s.db.Admin.Exec(ctx(r), `delete from auth.mfa_factors where id = $1`, fid); err != nil {
		return err
	}
	if _, err := s.db.Admin.Exec(ctx(r), `update auth.sessions set factor_id = null where factor_id = $1`, fid); err != nil {
		return err
	}
	s.flowAudit(ctx(r), r, "factor_unenrolled", id.Subject, map[string]any{"factor_id": fid})
	writeJSON(w, http.StatusOK, map[string]any{"id": fid})
	return nil
}
