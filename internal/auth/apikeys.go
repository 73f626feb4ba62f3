package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
)

// APIKey is an API key as listed (never with the key itself).
type APIKey struct {
	ID                 string     `json:"id"`
	Name               string     `json:"name"`
	Description        string     `json:"description"`
	KeyPrefix          string     `json:"key_prefix"`
	Scopes             []string   `json:"scopes"`
	UserID             *string    `json:"user_id"`
	Role               string     `json:"role"`
	RateLimitPerMinute *int       `json:"rate_limit_per_minute"`
	ExpiresAt          *time.Time `json:"expires_at"`
	RevokedAt          *time.Time `json:"revoked_at"`
	LastUsedAt         *time.Time `json:"last_used_at"`
	CreatedAt          time.Time  `json:"created_at"`
	// Key is the secret, present only in the answer to its creation.
	Key string `json:"key,omitempty"`
}

const apiKeyColumns = `id::text, name, description, key_prefix, scopes, user_id::text, role, rate_limit_per_minute,
	expires_at, revoked_at, last_used_at, created_at`

func scanAPIKey(row pgx.Row) (*APIKey, error) {
	k := &APIKey{}
	err := row.Scan(&k.ID, &k.Name, &k.Description, &k.KeyPrefix, &k.Scopes, &k.UserID, &k.Role, &k.RateLimitPerMinute,
		&k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt, &k.CreatedAt)
	return k, err
}

var errAPIKeyNotFound = Err(http.StatusNotFound, CodeAPIKeyNotFound, "API key not found")

// ResolveAPIKey implements identity.APIKeyResolver: a live key acts as its
// user (role authenticated, with the user's claims) or as its role, within
// its scopes and its requests-per-minute limit.
func (s *Service) ResolveAPIKey(c context.Context, key string) (identity.Identity, error) {
	invalid := httpx.NewError(http.StatusUnauthorized, identity.CodeInvalidAPIKey, "the API key is not valid (unknown, revoked or expired)")
	if len(key) > 128 {
		return identity.Identity{}, invalid
	}
	var (
		id, role, email string
		userID          *string
		scopes          []string
		limit           *int
		expires         *time.Time
		revoked         *time.Time
		banned          *time.Time
	)
	err := s.db.Admin.QueryRow(c, `select k.id::text, k.role, k.user_id::text, k.scopes, k.rate_limit_per_minute,
		k.expires_at, k.revoked_at, coalesce(u.email, ''), u.banned_until
		from auth.api_keys k left join auth.users u on u.id = k.user_id where k.key_hash = $1`, hashToken(key)).
		Scan(&id, &role, &userID, &scopes, &limit, &expires, &revoked, &email, &banned)
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.Identity{}, invalid
	}
	if err != nil {
		return identity.Identity{}, err
	}
	now := s.now()
	if revoked != nil || (expires != nil && !expires.After(now)) || (banned != nil && banned.After(now)) {
		return identity.Identity{}, invalid
	}
	if limit != nil {
		ok, wait, err := s.hit(c, "api_key:"+id, *limit, time.Minute)
		if err != nil {
			return identity.Identity{}, err
		}
		if !ok {
			return identity.Identity{}, rateLimited(CodeOverRequestRateLimit, "this API key's rate limit is exceeded", wait)
		}
	}
	s.touchAPIKey(c, id)
	claims := map[string]any{"role": role, "api_key_id": id, "scopes": scopes}
	sub := ""
	if userID != nil {
		sub = *userID
		claims["sub"] = sub
		claims["email"] = email
		claims["aud"] = "authenticated"
	}
	raw, err := jsonMarshal(claims)
	if err != nil {
		return identity.Identity{}, err
	}
	return identity.Identity{Role: role, Subject: sub, Claims: claims, RawClaims: raw, APIKeyID: id, Scopes: scopes}, nil
}

// touchAPIKey records last use at most once a minute per key and process.
func (s *Service) touchAPIKey(c context.Context, id string) {
	now := s.now()
	s.lastUsedMu.Lock()
	if t, ok := s.lastUsed[id]; ok && now.Sub(t) < time.Minute {
		s.lastUsedMu.Unlock()
		return
	}
	s.lastUsed[id] = now
	if len(s.lastUsed) > 100_000 {
		clear(s.lastUsed)
	}
	s.lastUsedMu.Unlock()
	if _, err := s.db.Admin.Exec(c, `update auth.api_keys set last_used_at = now() where id = $1`, id); err != nil {
		s.log.Warn("recording API key use failed", "error", err)
	}
}

// apiKeyOwner says whose keys a caller manages: a user their own, an
// administrator (service_role) every key.
func (s *Service) apiKeyOwner(r *http.Request) (identity.Identity, bool, error) {
	id, err := s.caller(r)
	if err != nil {
		return id, false, err
	}
	if id.Role == identity.RoleServiceRole && id.APIKeyID == "" {
		return id, true, nil
	}
	if id.APIKeyID != "" {
		// A key cannot mint or manage keys: a leaked key must not be able
		// to make itself permanent.
		return id, false, httpx.NewError(http.StatusForbidden, identity.CodeInsufficientScope, "API keys cannot manage API keys; use a session token")
	}
	if !validUUID(id.Subject) {
		return id, false, errNoAuthorization
	}
	if err := s.CheckSession(r.Context(), id); err != nil {
		return id, false, err
	}
	return id, false, nil
}

func (s *Service) handleListAPIKeys(w http.ResponseWriter, r *http.Request) error {
	id, admin, err := s.apiKeyOwner(r)
	if err != nil {
		return err
	}
	rows, err := s.db.Admin.Query(ctx(r), `select `+apiKeyColumns+` from auth.api_keys
		where $1 or user_id = nullif($2, '')::uuid order by created_at desc, id`, admin, uuidOrEmpty(id.Subject))
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []*APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return err
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type createAPIKeyBody struct {
	Name               string     `json:"name"`
	Description        string     `json:"description"`
	Scopes             []string   `json:"scopes"`
	ExpiresAt          *time.Time `json:"expires_at"`
	RateLimitPerMinute *int       `json:"rate_limit_per_minute"`
	// Role and UserID are for administrators: a service_role key, or a key
	// acting as a given user.
	Role   string `json:"role"`
	UserID string `json:"user_id"`
}

// handleCreateAPIKey creates a key and shows it, this once.
func (s *Service) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) error {
	id, admin, err := s.apiKeyOwner(r)
	if err != nil {
		return err
	}
	var b createAPIKeyBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	b.Name = strings.TrimSpace(b.Name)
	if b.Name == "" || len(b.Name) > 200 {
		return validationFailed("name is required (at most 200 characters)")
	}
	if len(b.Description) > 2000 {
		return validationFailed("description is at most 2000 characters")
	}
	if len(b.Scopes) == 0 {
		return validationFailed("scopes is required: one or more of " + strings.Join(identity.Scopes, ", "))
	}
	for _, sc := range b.Scopes {
		if !slices.Contains(identity.Scopes, sc) {
			return validationFailed("unknown scope " + sc + "; use " + strings.Join(identity.Scopes, ", "))
		}
	}
	slices.Sort(b.Scopes)
	b.Scopes = slices.Compact(b.Scopes)
	if b.ExpiresAt != nil && !b.ExpiresAt.After(s.now()) {
		return validationFailed("expires_at must be in the future")
	}
	if b.RateLimitPerMinute != nil && (*b.RateLimitPerMinute < 1 || *b.RateLimitPerMinute > 1_000_000) {
		return validationFailed("rate_limit_per_minute must be between 1 and 1000000")
	}
	role, userID := identity.RoleAuthenticated, id.Subject
	if admin {
		switch {
		case b.UserID != "":
			if !validUUID(b.UserID) {
				return validationFailed("user_id must be a UUID")
			}
			if _, err := s.loadUser(ctx(r), s.db.Admin, b.UserID); err != nil {
				return err
			}
			userID = b.UserID
		case b.Role == "" || b.Role == identity.RoleServiceRole:
			role, userID = identity.RoleServiceRole, ""
		case b.Role == identity.RoleAnon:
			role, userID = identity.RoleAnon, ""
		default:
			return validationFailed("role must be service_role or anon (or give user_id)")
		}
	} else if b.Role != "" || b.UserID != "" {
		return errNotAdmin
	}
	key := identity.APIKeyPrefix + randomToken(32)
	var createdBy any
	if validUUID(id.Subject) {
		createdBy = id.Subject
	}
	k, err := scanAPIKey(s.db.Admin.QueryRow(ctx(r), `insert into auth.api_keys
		(name, description, key_prefix, key_hash, scopes, user_id, role, rate_limit_per_minute, expires_at, created_by)
		values ($1, $2, $3, $4, $5, nullif($6, '')::uuid, $7, $8, $9, $10) returning `+apiKeyColumns,
		b.Name, b.Description, key[:12], hashToken(key), b.Scopes, userID, role, b.RateLimitPerMinute, b.ExpiresAt, createdBy))
	if err != nil {
		return err
	}
	k.Key = key
	s.audit(ctx(r), auditEntry{Action: "api_key_created", ActorID: id.Subject, ActorRole: id.Role, UserID: userID,
		IP: httpx.ClientIP(r), Payload: map[string]any{"api_key_id": k.ID, "scopes": b.Scopes}})
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (s *Service) handleRevokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	return s.changeAPIKey(w, r, `update auth.api_keys set revoked_at = coalesce(revoked_at, now()), updated_at = now()
		where id = $1 and ($2 or user_id = nullif($3, '')::uuid) returning `+apiKeyColumns, "api_key_revoked")
}

func (s *Service) handleDeleteAPIKey(w http.ResponseWriter, r *http.Request) error {
	return s.changeAPIKey(w, r, `delete from auth.api_keys
		where id = $1 and ($2 or user_id = nullif($3, '')::uuid) returning `+apiKeyColumns, "api_key_deleted")
}

func (s *Service) changeAPIKey(w http.ResponseWriter, r *http.Request, sql, action string) error {
	id, admin, err := s.apiKeyOwner(r)
	if err != nil {
		return err
	}
	kid := urlParam(r, "id")
	if !validUUID(kid) {
		return errAPIKeyNotFound
	}
	k, err := scanAPIKey(s.db.Admin.QueryRow(ctx(r), sql, kid, admin, uuidOrEmpty(id.Subject)))
	if errors.Is(err, pgx.ErrNoRows) {
		return errAPIKeyNotFound
	}
	if err != nil {
		return err
	}
	s.audit(ctx(r), auditEntry{Action: action, ActorID: id.Subject, ActorRole: id.Role, IP: httpx.ClientIP(r),
		Payload: map[string]any{"api_key_id": k.ID}})
	if action == "api_key_deleted" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}
