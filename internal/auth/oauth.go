package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
)

const (
	// oauthFlowTTL is how long a user may take at the provider's login.
	oauthFlowTTL = 10 * time.Minute
	// authCodeTTL is how long the authorization code handed to the client
	// stays redeemable at /token?grant_type=pkce.
	authCodeTTL = 5 * time.Minute
)

// providerRegistry finds providers by name: those of the configuration,
// built once, and those added at run time in auth.oauth_providers, rebuilt
// when their row changes. It keeps each provider's OIDC discovery.
type providerRegistry struct {
	s        *Service
	hc       *http.Client
	redirect string
	static   map[string]*oauthProvider

	mu     sync.Mutex
	custom map[string]cachedProvider
}

type cachedProvider struct {
	updated time.Time
	p       *oauthProvider
}

func newProviderRegistry(s *Service) *providerRegistry {
	reg := &providerRegistry{
		s:        s,
		hc:       &http.Client{Timeout: providerHTTPTimeout},
		redirect: s.publicURL + "/auth/v1/callback",
		static:   map[string]*oauthProvider{},
		custom:   map[string]cachedProvider{},
	}
	for name, c := range configuredProviders(s.cfg.External) {
		if !c.Enabled {
			continue
		}
		// The names are the configuration's own, all known presets, so
		// building cannot fail.
		if p, err := newConfiguredProvider(name, c, reg.redirect); err == nil {
			reg.static[name] = p
		}
	}
	return reg
}

// configuredProviders lists the configuration's provider entries by name.
func configuredProviders(e config.ExternalConfig) map[string]config.ExternalProvider {
	return map[string]config.ExternalProvider{
		"google": e.Google, "github": e.GitHub, "microsoft": e.Microsoft, "apple": e.Apple,
		"facebook": e.Facebook, "twitter": e.Twitter, "linkedin": e.LinkedIn, "gitlab": e.GitLab,
		"bitbucket": e.Bitbucket, "oidc": e.OIDC,
	}
}

// get returns the enabled provider called name, or nil.
func (reg *providerRegistry) get(ctx context.Context, name string) (*oauthProvider, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	// Supabase's names for the same providers, which apps pass unchanged.
	switch name {
	case "x":
		name = "twitter"
	case "azure":
		name = "microsoft"
	case "linkedin_oidc":
		name = "linkedin"
	}
	if p := reg.static[name]; p != nil {
		return p, nil
	}
	var (
		row     customProviderRow
		enabled bool
		updated time.Time
		secret  *string
		mapping []byte
	)
	err := reg.s.db.Admin.QueryRow(ctx, `select name, kind, enabled, client_id, client_secret_enc, coalesce(issuer, ''),
		coalesce(authorization_url, ''), coalesce(token_url, ''), coalesce(userinfo_url, ''), scopes,
		coalesce(redirect_uri, ''), claim_mapping, updated_at
		from auth.oauth_providers where name = $1`, name).Scan(
		&row.Name, &row.Kind, &enabled, &row.ClientID, &secret, &row.Issuer, &row.AuthURL, &row.TokenURL,
		&row.UserinfoURL, &row.Scopes, &row.RedirectURI, &mapping, &updated)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !enabled) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if c, ok := reg.custom[name]; ok && c.updated.Equal(updated) {
		return c.p, nil
	}
	if secret != nil && *secret != "" {
		if row.Secret, err = reg.s.crypt.Decrypt(*secret, providerSecretAAD(name)); err != nil {
			return nil, fmt.Errorf("provider %s: client secret: %w", name, err)
		}
	}
	row.ClaimMap = map[string]string{}
	_ = json.Unmarshal(mapping, &row.ClaimMap)
	p, err := newCustomProvider(row, reg.redirect)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", name, err)
	}
	reg.custom[name] = cachedProvider{updated: updated, p: p}
	return p, nil
}

// providerSecretAAD binds an encrypted client secret to its provider row.
func providerSecretAAD(name string) string { return "oauth_provider:" + name }

// oauthStart is what GET /authorize receives.
type oauthStart struct {
	Provider      string
	RedirectTo    string
	Scopes        []string
	Challenge     string
	ChallengeMeth string
	LinkUserID    string
}

// startOAuth records the flow and returns the provider's authorization URL.
func (s *Service) startOAuth(ctx context.Context, reg *providerRegistry, in oauthStart) (string, error) {
	if strings.TrimSpace(in.Provider) == "" {
		return "", validationFailed("Unsupported provider: missing provider")
	}
	p, err := reg.get(ctx, in.Provider)
	if err != nil {
		return "", err
	}
	if p == nil {
		return "", Err(http.StatusBadRequest, CodeValidationFailed, "Unsupported provider: provider is not enabled")
	}
	challenge, method, err := parsePKCE(in.Challenge, in.ChallengeMeth)
	if err != nil {
		return "", validationFailed(err.Error())
	}
	if err := p.discover(ctx, reg.hc); err != nil {
		s.log.Warn("OAuth provider unreachable", "provider", p.name, "error", err)
		return "", Err(http.StatusBadGateway, CodeUnexpectedFailure, "The provider "+p.name+" could not be reached").WithHint("check auth.external." + p.name + " and the provider's status")
	}
	state := randomToken(32)
	verifier := oauth2.GenerateVerifier()
	nonce := randomToken(16)
	encVerifier, err := s.crypt.Encrypt(verifier, "flow_verifier")
	if err != nil {
		return "", err
	}
	var link any
	if in.LinkUserID != "" {
		link = in.LinkUserID
	}
	_, err = s.db.Admin.Exec(ctx, `insert into auth.flow_state
		(state_hash, code_challenge, code_challenge_method, provider, provider_verifier, nonce, redirect_to,
		 authentication_method, link_user_id, expires_at)
		values ($1, nullif($2, ''), nullif($3, ''), $4, $5, $6, $7, 'oauth', $8, now() + $9::interval)`,
		hashToken(state), challenge, method, p.name, encVerifier, nonce, s.allowedRedirect(in.RedirectTo),
		link, oauthFlowTTL.String())
	if err != nil {
		return "", err
	}
	return p.authCodeURL(state, verifier, nonce, in.Scopes), nil
}

// oauthFlow is a flow_state row.
type oauthFlow struct {
	ID            string
	Provider      string
	Challenge     string
	ChallengeMeth string
	Verifier      string
	Nonce         string
	RedirectTo    string
	Method        string
	UserID        string
	LinkUserID    string
	Expired       bool
}

// finishOAuth handles the provider's callback: it consumes the state,
// trades the code, finds or creates the user and answers the URL to send
// the browser to: the application's redirect with either a session in the
// fragment (implicit flow) or an authorization code in the query (PKCE).
// Failures after the state is known go to the application's redirect too,
// as error, error_code and error_description.
func (s *Service) finishOAuth(ctx context.Context, reg *providerRegistry, r *http.Request, q url.Values) string {
	state := q.Get("state")
	if state == "" {
		return s.errorRedirect(s.SiteURL(), false, "invalid_request", CodeBadOAuthState, "OAuth state parameter missing")
	}
	var f oauthFlow
	var verifierEnc, nonce *string
	err := s.db.Admin.QueryRow(ctx, `update auth.flow_state set state_hash = null, updated_at = now()
		where state_hash = $1
		returning id::text, provider, coalesce(code_challenge, ''), coalesce(code_challenge_method, ''),
		          provider_verifier, nonce, coalesce(redirect_to, ''), coalesce(link_user_id::text, ''), expires_at < now()`,
		hashToken(state)).Scan(&f.ID, &f.Provider, &f.Challenge, &f.ChallengeMeth, &verifierEnc, &nonce, &f.RedirectTo, &f.LinkUserID, &f.Expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.errorRedirect(s.SiteURL(), false, "invalid_request", CodeBadOAuthState, "OAuth callback with invalid state")
	}
	if err != nil {
		s.log.Error("OAuth callback: reading flow state", "error", err)
		return s.errorRedirect(s.SiteURL(), false, "server_error", CodeUnexpectedFailure, "Unexpected failure")
	}
	pkce := f.Challenge != ""
	dest := s.allowedRedirect(f.RedirectTo)
	fail := func(errName, code, msg string) string {
		_, _ = s.db.Admin.Exec(context.WithoutCancel(ctx), `delete from auth.flow_state where id = $1`, f.ID)
		return s.errorRedirect(dest, pkce, errName, code, msg)
	}
	if f.Expired {
		return fail("invalid_request", CodeFlowStateExpired, "OAuth flow has expired; sign in again")
	}
	if e := q.Get("error"); e != "" {
		return fail(e, CodeBadOAuthCallback, firstNonEmpty(q.Get("error_description"), "The provider refused the sign-in"))
	}
	code := q.Get("code")
	if code == "" {
		return fail("invalid_request", CodeBadOAuthCallback, "OAuth callback without an authorization code")
	}
	p, err := reg.get(ctx, f.Provider)
	if err != nil || p == nil {
		return fail("invalid_request", CodeValidationFailed, "Unsupported provider: provider is not enabled")
	}
	if err := p.discover(ctx, reg.hc); err != nil {
		s.log.Warn("OAuth provider unreachable", "provider", p.name, "error", err)
		return fail("server_error", CodeUnexpectedFailure, "The provider could not be reached")
	}
	if verifierEnc != nil {
		if f.Verifier, err = s.crypt.Decrypt(*verifierEnc, "flow_verifier"); err != nil {
			return fail("server_error", CodeUnexpectedFailure, "Unexpected failure")
		}
	}
	if nonce != nil {
		f.Nonce = *nonce
	}
	pu, tok, err := p.exchange(ctx, reg.hc, code, f.Verifier, f.Nonce)
	if err != nil {
		s.log.Warn("OAuth exchange failed", "provider", p.name, "error", err)
		return fail("server_error", CodeBadOAuthCallback, "Error getting user profile from external provider")
	}
	if pu.Subject == "" {
		return fail("server_error", CodeBadOAuthCallback, "The provider did not identify the user")
	}
	u, err := s.oauthUser(ctx, p.name, pu, f.LinkUserID, r)
	if err != nil {
		e := httpx.AsError(err)
		if e.Status >= 500 {
			s.log.Error("OAuth sign-in failed", "provider", p.name, "error", err)
			return fail("server_error", CodeUnexpectedFailure, "Unexpected failure")
		}
		return fail("access_denied", e.Code, e.Message)
	}
	if pkce {
		authCode := randomToken(32)
		at, err := s.crypt.Encrypt(tok.AccessToken, "flow_provider_token:"+f.ID)
		if err != nil {
			return fail("server_error", CodeUnexpectedFailure, "Unexpected failure")
		}
		rt, err := s.crypt.Encrypt(tok.RefreshToken, "flow_provider_refresh:"+f.ID)
		if err != nil {
			return fail("server_error", CodeUnexpectedFailure, "Unexpected failure")
		}
		if _, err := s.db.Admin.Exec(ctx, `update auth.flow_state set auth_code_hash = $2, user_id = $3,
			provider_access_token = $4, provider_refresh_token = $5, auth_code_issued_at = now(),
			expires_at = now() + $6::interval, updated_at = now() where id = $1`,
			f.ID, hashToken(authCode), u.ID, at, rt, authCodeTTL.String()); err != nil {
			return fail("server_error", CodeUnexpectedFailure, "Unexpected failure")
		}
		return withParams(dest, false, url.Values{"code": {authCode}})
	}
	_, _ = s.db.Admin.Exec(ctx, `delete from auth.flow_state where id = $1`, f.ID)
	sess, err := s.flowSession(ctx, u, "oauth", r)
	if err != nil {
		s.log.Error("OAuth sign-in: issuing the session", "error", err)
		return s.errorRedirect(dest, false, "server_error", CodeUnexpectedFailure, "Unexpected failure")
	}
	v := sessionFragment(sess, "")
	v.Set("provider_token", tok.AccessToken)
	if tok.RefreshToken != "" {
		v.Set("provider_refresh_token", tok.RefreshToken)
	}
	return withParams(dest, true, v)
}

// sessionFragment is the implicit flow's fragment: the session as GoTrue
// puts it after #, which auth-js's detectSessionInUrl reads.
func sessionFragment(sess *Session, typ string) url.Values {
	v := url.Values{
		"access_token":  {sess.AccessToken},
		"token_type":    {"bearer"},
		"expires_in":    {strconv.FormatInt(sess.ExpiresIn, 10)},
		"expires_at":    {strconv.FormatInt(sess.ExpiresAt, 10)},
		"refresh_token": {sess.RefreshToken},
	}
	if typ != "" {
		v.Set("type", typ)
	}
	return v
}

// withParams adds v to dest's query or, for the implicit flow, fragment.
func withParams(dest string, fragment bool, v url.Values) string {
	u, err := url.Parse(dest)
	if err != nil {
		return dest
	}
	if fragment {
		u.Fragment = ""
		u.RawFragment = ""
		return u.String() + "#" + v.Encode()
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// errorRedirect sends the browser back to the application with GoTrue's
// error parameters, in the query for PKCE flows and in the fragment for
// implicit ones (where auth-js looks for them).
func (s *Service) errorRedirect(dest string, query bool, errName, code, msg string) string {
	v := url.Values{"error": {errName}, "error_code": {code}, "error_description": {msg}}
	return withParams(dest, !query, v)
}

// oauthUser finds the user an external identity belongs to, links it by
// verified email, or creates the user; all in one transaction.
func (s *Service) oauthUser(ctx context.Context, provider string, pu providerUser, linkUserID string, r *http.Request) (*User, error) {
	var u *User
	var linked bool
	err := pgx.BeginFunc(ctx, s.db.Admin, func(tx pgx.Tx) error {
		data, _ := json.Marshal(pu.Data)
		var userID string
		err := tx.QueryRow(ctx, `update auth.identities set identity_data = $3, last_sign_in_at = now(), updated_at = now()
			where provider = $1 and provider_id = $2 returning user_id::text`, provider, pu.Subject, data).Scan(&userID)
		switch {
		case err == nil:
			if linkUserID != "" && linkUserID != userID {
				return Err(http.StatusUnprocessableEntity, CodeIdentityAlreadyExists, "Identity is already linked to another user")
			}
		case errors.Is(err, pgx.ErrNoRows):
			userID, linked, err = s.linkOrCreate(ctx, tx, provider, pu, linkUserID)
			if err != nil {
				return err
			}
		default:
			return err
		}
		if u, err = s.loadUser(ctx, tx, userID); err != nil {
			return err
		}
		if s.banned(u) {
			return errUserBanned
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if linked {
		s.flowAudit(ctx, r, "identity_linked", u.ID, map[string]any{"provider": provider, "provider_id": pu.Subject})
	}
	return u, nil
}

// linkOrCreate attaches a new external identity to an existing user (the
// user who asked to link it, or the owner of the same verified address)
// or creates a user for it.
func (s *Service) linkOrCreate(ctx context.Context, tx pgx.Tx, provider string, pu providerUser, linkUserID string) (userID string, linked bool, err error) {
	target := linkUserID
	if target == "" && pu.Email != "" {
		var existing *User
		existing, err = s.userByEmail(ctx, tx, pu.Email)
		if err != nil {
			return "", false, err
		}
		if existing != nil {
			if !pu.EmailVerified {
				return "", false, Err(http.StatusUnprocessableEntity, "provider_email_needs_verification",
					"An account with this email address exists; verify the address with "+provider+" to sign in with it")
			}
			target = existing.ID
			if existing.EmailConfirmedAt == nil {
				// The address was never proven by whoever registered it;
				// the provider just proved it belongs to this person, so
				// a password set by someone else must not survive.
				if _, err := tx.Exec(ctx, `update auth.users set email_confirmed_at = now(), encrypted_password = null,
					updated_at = now() where id = $1`, target); err != nil {
					return "", false, err
				}
			}
		}
	}
	if target != "" {
		if err = s.addIdentity(ctx, tx, target, provider, pu.Subject, pu.Data); err != nil {
			return "", false, err
		}
		_, err = tx.Exec(ctx, `update auth.identities set last_sign_in_at = now() where provider = $1 and provider_id = $2`, provider, pu.Subject)
		if err != nil {
			return "", false, err
		}
		_, err = tx.Exec(ctx, `update auth.users set raw_app_meta_data = jsonb_set(raw_app_meta_data, '{providers}',
			(select coalesce(jsonb_agg(distinct p), '[]') from (
				select jsonb_array_elements_text(coalesce(raw_app_meta_data -> 'providers', '[]')) as p
				union select $2) x)),
			updated_at = now() where id = $1`, target, provider)
		return target, true, err
	}
	if s.cfg.DisableSignup {
		return "", false, errSignupDisabled
	}
	var u *User
	u, err = s.createUser(ctx, tx, newUser{
		Email:        pu.Email,
		Confirmed:    pu.EmailVerified && pu.Email != "",
		Provider:     provider,
		ProviderID:   pu.Subject,
		IdentityData: pu.Data,
		UserMetadata: pu.Data,
	})
	if err != nil {
		return "", false, err
	}
	_, err = tx.Exec(ctx, `update auth.identities set last_sign_in_at = now() where provider = $1 and provider_id = $2`, provider, pu.Subject)
	return u.ID, false, err
}

// pkceSession is the session answered to grant_type=pkce, with the
// provider's tokens when the flow was an OAuth sign-in.
type pkceSession struct {
	*Session
	ProviderToken        string `json:"provider_token,omitempty"`
	ProviderRefreshToken string `json:"provider_refresh_token,omitempty"`
}

// exchangeAuthCode redeems an authorization code from a PKCE flow (OAuth
// callback or email link) for a session: /token?grant_type=pkce.
func (s *Service) exchangeAuthCode(ctx context.Context, r *http.Request, authCode, verifier string) (*pkceSession, error) {
	if authCode == "" || verifier == "" {
		return nil, validationFailed("invalid request: both auth code and code verifier should be non-empty")
	}
	var f oauthFlow
	var at, rt *string
	// Deleted before it is checked, so a code is redeemable once, and a
	// wrong verifier spends it: a guessed verifier gets one try.
	err := s.db.Admin.QueryRow(ctx, `delete from auth.flow_state where auth_code_hash = $1
		returning id::text, coalesce(code_challenge, ''), coalesce(code_challenge_method, ''), coalesce(user_id::text, ''),
		          authentication_method, provider_access_token, provider_refresh_token, expires_at < now()`,
		hashToken(authCode)).Scan(&f.ID, &f.Challenge, &f.ChallengeMeth, &f.UserID, &f.Method, &at, &rt, &f.Expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, Err(http.StatusNotFound, CodeFlowStateNotFound, "invalid flow state, no valid flow state found")
	}
	if err != nil {
		return nil, err
	}
	if f.Expired {
		return nil, Err(http.StatusBadRequest, CodeFlowStateExpired, "invalid flow state, flow state has expired")
	}
	if !pkceMatches(f.Challenge, f.ChallengeMeth, verifier) {
		return nil, Err(http.StatusForbidden, CodeBadCodeVerifier, "code challenge does not match previously saved code verifier")
	}
	u, err := s.loadUser(ctx, s.db.Admin, f.UserID)
	if err != nil {
		return nil, err
	}
	if s.banned(u) {
		return nil, errUserBanned
	}
	base, err := s.flowSession(ctx, u, f.Method, r)
	if err != nil {
		return nil, err
	}
	sess := &pkceSession{Session: base}
	if at != nil && *at != "" {
		if v, err := s.crypt.Decrypt(*at, "flow_provider_token:"+f.ID); err == nil && v != "" {
			sess.ProviderToken = v
		}
	}
	if rt != nil && *rt != "" {
		if v, err := s.crypt.Decrypt(*rt, "flow_provider_refresh:"+f.ID); err == nil && v != "" {
			sess.ProviderRefreshToken = v
		}
	}
	return sess, nil
}
