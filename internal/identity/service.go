package identity

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/config"
)

const (
	algHS256 = "HS256"

	// minSecretBytes is the shortest HS256 secret accepted: RFC 7518 §3.2
	// asks for a key at least as long as the hash output.
	minSecretBytes = 32

	// apiKeyLifetime matches the ten years of Supabase's anon and
	// service_role keys: they are configuration, not sessions.
	apiKeyLifetime = 10

	// defaultMinReloadGap bounds how often an unknown kid may send this
	// process to the database: a caller inventing kids must not be able to
	// turn every request into a query.
	defaultMinReloadGap = 5 * time.Second

	// defaultRefreshEvery is how quickly Run notices keys rotated or revoked
	// by another replica.
	defaultRefreshEvery = time.Minute
)

// Service verifies and mints tokens. It is safe for concurrent use; the key
// set it holds is replaced atomically when keys are reloaded.
type Service struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	anonOK   bool
	signAlg  string // ES256 or HS256
	secret   []byte // HS256 secret; nil when none is configured
	issuer   string
	audience string
	parser   *jwt.Parser
	leeway   time.Duration
	now      func() time.Time

	// tokens remembers verified tokens; emptied whenever the keys change.
	tokens *tokenCache

	// loadKeys reads the non-revoked keys; the database in production.
	loadKeys func(ctx context.Context) ([]*signingKey, error)
	keys     atomic.Pointer[keySet]

	// apiKeys resolves fbk_ keys; installed by the auth server.
	apiKeys atomic.Pointer[APIKeyResolver]

	reloadMu     sync.Mutex // serializes reloads so an older read never replaces a newer one
	lastReload   time.Time
	minReloadGap time.Duration
	refreshEvery time.Duration
}

// keySet is an immutable snapshot of the keys in use.
type keySet struct {
	current *signingKey
	byKid   map[string]*signingKey // current and previous keys
	jwks    []byte
}

func buildKeySet(keys []*signingKey) (*keySet, error) {
	ks := &keySet{byKid: make(map[string]*signingKey, len(keys))}
	published := make([]*signingKey, 0, len(keys))
	for _, k := range keys {
		if k.status == statusCurrent {
			if ks.current != nil {
				return nil, errors.New("more than one current signing key")
			}
			if k.private == nil {
				return nil, fmt.Errorf("current signing key %s has no private key", k.kid)
			}
			ks.current = k
		}
		ks.byKid[k.kid] = k
		published = append(published, k)
	}
	if ks.current == nil {
		return nil, errors.New("no current signing key")
	}
	jwks, err := renderJWKS(published)
	if err != nil {
		return nil, err
	}
	ks.jwks = jwks
	return ks, nil
}

// New builds the identity service over the admin pool. It loads the signing
// keys from fluxbase.signing_keys and, on the first start of a deployment,
// generates the ES256 key and mints the anon and service_role keys from it.
// Replicas starting together serialize on an advisory lock, so they all end
// up using the one key that the first of them inserted.
func New(ctx context.Context, admin *pgxpool.Pool, cfg config.AuthConfig, log *slog.Logger) (*Service, error) {
	if admin == nil {
		return nil, errors.New("identity: nil admin pool")
	}
	s, err := newService(cfg, log)
	if err != nil {
		return nil, err
	}
	s.pool = admin
	s.loadKeys = func(ctx context.Context) ([]*signingKey, error) { return loadKeys(ctx, admin) }
	if err := s.ensureKeys(ctx); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// newService validates cfg and builds a Service without keys.
func newService(cfg config.AuthConfig, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	j := cfg.JWT
	s := &Service{
		log:          log.With("component", "identity"),
		anonOK:       cfg.AnonymousAccess,
		signAlg:      strings.ToUpper(strings.TrimSpace(j.Algorithm)),
		issuer:       j.Issuer,
		audience:     j.Audience,
		leeway:       j.Leeway,
		now:          time.Now,
		tokens:       newTokenCache(defaultTokenCacheSize),
		minReloadGap: defaultMinReloadGap,
		refreshEvery: defaultRefreshEvery,
	}
	if s.signAlg == "" {
		s.signAlg = algES256
	}
	if s.signAlg != algES256 && s.signAlg != algHS256 {
		return nil, fmt.Errorf("identity: auth.jwt.algorithm %q is not supported: use ES256 or HS256", j.Algorithm)
	}
	if j.Secret != "" {
		if len(j.Secret) < minSecretBytes {
			return nil, fmt.Errorf("identity: auth.jwt.secret is %d bytes long: HS256 needs at least %d", len(j.Secret), minSecretBytes)
		}
		s.secret = []byte(j.Secret)
	}
	if s.signAlg == algHS256 && s.secret == nil {
		return nil, errors.New("identity: auth.jwt.algorithm is HS256 but auth.jwt.secret is empty")
	}
	if j.Leeway < 0 {
		return nil, fmt.Errorf("identity: auth.jwt.leeway %s is negative", j.Leeway)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{algES256, algHS256}),
		jwt.WithJSONNumber(),
		jwt.WithLeeway(j.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return s.now() }),
	}
	if s.audience != "" {
		opts = append(opts, jwt.WithAudience(s.audience))
	}
	s.parser = jwt.NewParser(opts...)
	return s, nil
}

// Reload reads the signing keys again, picking up rotations and
// revocations made by other replicas.
func (s *Service) Reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reloadLocked(ctx)
}

func (s *Service) reloadLocked(ctx context.Context) error {
	s.lastReload = time.Now()
	keys, err := s.loadKeys(ctx)
	if err != nil {
		return fmt.Errorf("identity: load signing keys: %w", err)
	}
	ks, err := buildKeySet(keys)
	if err != nil {
		return fmt.Errorf("identity: signing keys: %w", err)
	}
	old := s.keys.Swap(ks)
	// Entries verified under the old set no longer match it; dropping them
	// now also frees their memory.
	s.tokens.clear()
	if old == nil || old.current.kid != ks.current.kid {
		s.log.Info("signing key in use", "kid", ks.current.kid, "algorithm", s.signAlg, "verification_keys", len(ks.byKid))
	}
	return nil
}

// Run reloads the keys periodically until ctx is cancelled, so that a key
// revoked on another replica stops verifying here too. It returns nil when
// ctx is cancelled.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reloading signing keys failed; keeping the previous set", "error", err)
			}
		}
	}
}

// verificationKey returns the public key with this kid. An unknown kid may
// be a key that another replica has just rotated in, so the keys are
// reloaded, at most once per minReloadGap.
func (s *Service) verificationKey(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	if k := s.keys.Load().byKid[kid]; k != nil {
		return k.public, nil
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if k := s.keys.Load().byKid[kid]; k != nil {
		return k.public, nil
	}
	if time.Since(s.lastReload) < s.minReloadGap {
		return nil, errUnknownKey
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.reloadLocked(ctx); err != nil {
		s.log.Warn("reloading signing keys for an unknown kid failed", "error", err)
		return nil, errUnknownKey
	}
	if k := s.keys.Load().byKid[kid]; k != nil {
		return k.public, nil
	}
	return nil, errUnknownKey
}

// CurrentKeyID is the kid of the key that signs new ES256 tokens.
func (s *Service) CurrentKeyID() string { return s.keys.Load().current.kid }

// Algorithm is the algorithm new tokens are signed with.
func (s *Service) Algorithm() string { return s.signAlg }

// Sign signs claims with the current key (ES256, with its kid in the
// header) or, when auth.jwt.algorithm is HS256, with the configured secret.
// It fills iss, aud and iat when they are absent and configured, so that
// every token it mints verifies here, and refuses claims without exp because
// Authenticate rejects such tokens. claims is not modified.
func (s *Service) Sign(claims map[string]any) (string, error) {
	if _, ok := claims["exp"]; !ok {
		return "", errors.New("identity: refusing to sign a token without exp")
	}
	c := make(jwt.MapClaims, len(claims)+3)
	maps.Copy(c, claims)
	if _, ok := c["iss"]; !ok && s.issuer != "" {
		c["iss"] = s.issuer
	}
	if _, ok := c["aud"]; !ok && s.audience != "" {
		c["aud"] = s.audience
	}
	if _, ok := c["iat"]; !ok {
		c["iat"] = s.now().Unix()
	}
	return s.signWith(s.keys.Load().current, c)
}

func (s *Service) signWith(k *signingKey, c jwt.MapClaims) (string, error) {
	if s.signAlg == algHS256 {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.secret)
		if err != nil {
			return "", fmt.Errorf("identity: sign: %w", err)
		}
		return tok, nil
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = k.kid
	tok, err := t.SignedString(k.private)
	if err != nil {
		return "", fmt.Errorf("identity: sign: %w", err)
	}
	return tok, nil
}

// AnonKey is the long-lived public API key with role anon. It is the same
// on every start and every replica until the signing key is rotated; after a
// rotation the previous one keeps working until its key is revoked.
func (s *Service) AnonKey() string { return s.keys.Load().current.anonKey }

// ServiceRoleKey is the long-lived secret API key with role service_role,
// which bypasses row level security. Stable like AnonKey.
func (s *Service) ServiceRoleKey() string { return s.keys.Load().current.serviceRoleKey }

// apiKeyClaims are the claims of the anon or service_role key minted with a
// key created at created. iat is the key's creation time, not the time of
// minting, so that minting is a function of the key and the configuration.
func (s *Service) apiKeyClaims(role string, created time.Time) jwt.MapClaims {
	c := jwt.MapClaims{
		"role": role,
		"iat":  created.Unix(),
		"exp":  created.AddDate(apiKeyLifetime, 0, 0).Unix(),
	}
	if s.issuer != "" {
		c["iss"] = s.issuer
	}
	if s.audience != "" {
		c["aud"] = s.audience
	}
	return c
}

func (s *Service) mintAPIKeys(k *signingKey) (anon, serviceRole string, err error) {
	if anon, err = s.signWith(k, s.apiKeyClaims(RoleAnon, k.createdAt)); err != nil {
		return "", "", err
	}
	if serviceRole, err = s.signWith(k, s.apiKeyClaims(RoleServiceRole, k.createdAt)); err != nil {
		return "", "", err
	}
	return anon, serviceRole, nil
}

// apiKeysFresh reports whether the API keys stored with k are exactly what
// the current configuration would mint: right algorithm and signing key,
// right claims. When the issuer, audience, algorithm or HS256 secret changes,
// they are minted again.
func (s *Service) apiKeysFresh(k *signingKey) bool {
	return s.apiKeyFresh(k, k.anonKey, RoleAnon) && s.apiKeyFresh(k, k.serviceRoleKey, RoleServiceRole)
}

func (s *Service) apiKeyFresh(k *signingKey, tok, role string) bool {
	if tok == "" {
		return false
	}
	p := jwt.NewParser(jwt.WithValidMethods([]string{s.signAlg}), jwt.WithoutClaimsValidation())
	got := jwt.MapClaims{}
	t, err := p.ParseWithClaims(tok, got, func(t *jwt.Token) (any, error) {
		if s.signAlg == algHS256 {
			return s.secret, nil
		}
		if kid, _ := t.Header["kid"].(string); kid != k.kid {
			return nil, errUnknownKey
		}
		return k.public, nil
	})
	if err != nil || !t.Valid {
		return false
	}
	want, err := roundTrip(s.apiKeyClaims(role, k.createdAt))
	if err != nil {
		return false
	}
	return claimsEqual(want, got)
}
