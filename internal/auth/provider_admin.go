package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// Providers added at run time live in auth.oauth_providers, so that every
// replica sees them; the configuration's providers are fixed at start.

var errProviderNotFound = Err(http.StatusNotFound, "provider_not_found", "No provider with this name was added at run time")

var providerNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// providerInfo is a run-time provider as the admin API shows it; the
// client secret is never shown.
type providerInfo struct {
	Name             string            `json:"name"`
	Kind             string            `json:"kind"`
	Enabled          bool              `json:"enabled"`
	ClientID         string            `json:"client_id"`
	HasSecret        bool              `json:"has_secret"`
	Issuer           string            `json:"issuer,omitempty"`
	AuthorizationURL string            `json:"authorization_url,omitempty"`
	TokenURL         string            `json:"token_url,omitempty"`
	UserinfoURL      string            `json:"userinfo_url,omitempty"`
	Scopes           []string          `json:"scopes"`
	RedirectURI      string            `json:"redirect_uri,omitempty"`
	ClaimMapping     map[string]string `json:"claim_mapping"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
}

const providerInfoColumns = `name, kind, enabled, client_id, client_secret_enc is not null, coalesce(issuer, ''),
	coalesce(authorization_url, ''), coalesce(token_url, ''), coalesce(userinfo_url, ''), scopes,
	coalesce(redirect_uri, ''), claim_mapping, created_at, updated_at`

func scanProviderInfo(row pgx.Row) (providerInfo, error) {
	var p providerInfo
	var mapping []byte
	err := row.Scan(&p.Name, &p.Kind, &p.Enabled, &p.ClientID, &p.HasSecret, &p.Issuer, &p.AuthorizationURL, &p.TokenURL,
		&p.UserinfoURL, &p.Scopes, &p.RedirectURI, &mapping, &p.CreatedAt, &p.UpdatedAt)
	p.ClaimMapping = map[string]string{}
	_ = json.Unmarshal(mapping, &p.ClaimMapping)
	if p.Scopes == nil {
		p.Scopes = []string{}
	}
	return p, err
}

func (s *Service) handleListProviders(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r); err != nil {
		return err
	}
	rows, err := s.db.Admin.Query(ctx(r), `select `+providerInfoColumns+` from auth.oauth_providers order by name`)
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []providerInfo{}
	for rows.Next() {
		p, err := scanProviderInfo(rows)
		if err != nil {
			return err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) handleGetProvider(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r); err != nil {
		return err
	}
	p, err := scanProviderInfo(s.db.Admin.QueryRow(ctx(r), `select `+providerInfoColumns+` from auth.oauth_providers where name = $1`, urlParam(r, "name")))
	if errors.Is(err, pgx.ErrNoRows) {
		return errProviderNotFound
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// providerBody is the body of PUT /admin/providers/{name}.
type providerBody struct {
	Kind             string            `json:"kind"`
	Enabled          *bool             `json:"enabled"`
	ClientID         string            `json:"client_id"`
	ClientSecret     *string           `json:"client_secret"`
	Issuer           string            `json:"issuer"`
	AuthorizationURL string            `json:"authorization_url"`
	TokenURL         string            `json:"token_url"`
	UserinfoURL      string            `json:"userinfo_url"`
	Scopes           []string          `json:"scopes"`
	RedirectURI      string            `json:"redirect_uri"`
	ClaimMapping     map[string]string `json:"claim_mapping"`
}

func absoluteHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// handlePutProvider is PUT /admin/providers/{name}: add or replace a
// provider. A secret left out keeps the stored one.
func (s *Service) handlePutProvider(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.requireAdmin(r)
	if err != nil {
		return err
	}
	name := urlParam(r, "name")
	if !providerNameRE.MatchString(name) {
		return validationFailed("A provider name is a lower-case letter followed by up to 62 letters, digits, - or _")
	}
	// The configuration's providers win over rows of the same name.
	if c, ok := configuredProviders(s.cfg.External)[name]; ok && c.Enabled {
		return Err(http.StatusConflict, CodeConflict, "The provider "+name+" is set in the configuration (auth.external."+name+")")
	}
	var b providerBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if strings.TrimSpace(b.ClientID) == "" {
		return validationFailed("client_id is required")
	}
	for field, v := range map[string]string{"issuer": b.Issuer, "authorization_url": b.AuthorizationURL, "token_url": b.TokenURL,
		"userinfo_url": b.UserinfoURL, "redirect_uri": b.RedirectURI} {
		if v != "" && !absoluteHTTPURL(v) {
			return validationFailed(field + " must be an absolute http(s) URL")
		}
	}
	switch b.Kind {
	case "oidc":
		if b.Issuer == "" {
			return validationFailed("an oidc provider needs its issuer")
		}
	case "oauth2":
		if b.AuthorizationURL == "" || b.TokenURL == "" || b.UserinfoURL == "" {
			return validationFailed("an oauth2 provider needs authorization_url, token_url and userinfo_url")
		}
	case "preset":
		if _, ok := presets(name, ""); !ok {
			return validationFailed("kind preset needs the name of a preset: google, github, microsoft, apple, facebook, twitter, linkedin, gitlab or bitbucket")
		}
	default:
		return validationFailed("kind must be oidc, oauth2 or preset")
	}
	for k := range b.ClaimMapping {
		switch k {
		case "id", "email", "email_verified", "name", "avatar_url":
		default:
			return validationFailed("claim_mapping keys are id, email, email_verified, name and avatar_url")
		}
	}
	if b.Scopes == nil {
		b.Scopes = []string{}
	}
	enabled := b.Enabled == nil || *b.Enabled
	mapping, _ := json.Marshal(b.ClaimMapping)
	if b.ClaimMapping == nil {
		mapping = []byte("{}")
	}
	var secret any // nil keeps the stored secret
	setSecret := b.ClientSecret != nil
	if setSecret && *b.ClientSecret != "" {
		if secret, err = s.crypt.Encrypt(*b.ClientSecret, providerSecretAAD(name)); err != nil {
			return err
		}
	}
	p, err := scanProviderInfo(s.db.Admin.QueryRow(ctx(r), `insert into auth.oauth_providers as p
		(name, kind, enabled, client_id, client_secret_enc, issuer, authorization_url, token_url, userinfo_url, scopes, redirect_uri, claim_mapping)
		values ($1, $2, $3, $4, $5, nullif($6, ''), nullif($7, ''), nullif($8, ''), nullif($9, ''), $10, nullif($11, ''), $12)
		on conflict (name) do update set kind = excluded.kind, enabled = excluded.enabled, client_id = excluded.client_id,
			client_secret_enc = case when $13 then excluded.client_secret_enc else p.client_secret_enc end,
			issuer = excluded.issuer, authorization_url = excluded.authorization_url, token_url = excluded.token_url,
			userinfo_url = excluded.userinfo_url, scopes = excluded.scopes, redirect_uri = excluded.redirect_uri,
			claim_mapping = excluded.claim_mapping, updated_at = clock_timestamp()
		returning `+providerInfoColumns,
		name, b.Kind, enabled, b.ClientID, secret, b.Issuer, b.AuthorizationURL, b.TokenURL, b.UserinfoURL, b.Scopes, b.RedirectURI, mapping, setSecret))
	if err != nil {
		return err
	}
	s.audit(ctx(r), auditEntry{Action: "oauth_provider_saved", ActorRole: admin.Role, IP: httpx.ClientIP(r), Payload: map[string]any{"name": name, "kind": b.Kind}})
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Service) handleDeleteProvider(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.requireAdmin(r)
	if err != nil {
		return err
	}
	tag, err := s.db.Admin.Exec(ctx(r), `delete from auth.oauth_providers where name = $1`, urlParam(r, "name"))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errProviderNotFound
	}
	s.audit(ctx(r), auditEntry{Action: "oauth_provider_deleted", ActorRole: admin.Role, IP: httpx.ClientIP(r), Payload: map[string]any{"name": urlParam(r, "name")}})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
