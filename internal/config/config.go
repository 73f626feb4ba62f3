package config

import (
	"path/filepath"
	"strings"
	"time"
)

// Config is the effective configuration of a Fluxbase process. The koanf tag
// of each field is its key: "http.addr" is FLUXBASE_HTTP_ADDR in the
// environment and `http: {addr: ...}` in fluxbase.yaml.
type Config struct {
	// DataDir holds everything Fluxbase keeps on local disk: the embedded
	// PostgreSQL cluster, its superuser password and the instance lock.
	DataDir string `koanf:"data_dir"`
	// PublicURL is the address clients reach this server at, when it
	// differs from http.addr (behind a proxy, a TLS terminator or a domain
	// name). Links in mail, OAuth redirects and signed URLs are built from
	// it. Empty means http://<http.addr>.
	PublicURL string `koanf:"public_url"`

	HTTP       HTTPConfig       `koanf:"http"`
	Database   DatabaseConfig   `koanf:"database"`
	Log        LogConfig        `koanf:"log"`
	Auth       AuthConfig       `koanf:"auth"`
	Migrations MigrationsConfig `koanf:"migrations"`
	Metrics    MetricsConfig    `koanf:"metrics"`
	Realtime   RealtimeConfig   `koanf:"realtime"`
	Storage    StorageConfig    `koanf:"storage"`
	REST       RESTConfig       `koanf:"rest"`
}

// HTTPConfig configures the HTTP server.
type HTTPConfig struct {
	Addr string `koanf:"addr"`
	// MaxBodyBytes accepts a plain number or a size such as "10MiB".
	MaxBodyBytes      int64         `koanf:"max_body_bytes" unit:"bytes"`
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	ReadTimeout       time.Duration `koanf:"read_timeout"`
	WriteTimeout      time.Duration `koanf:"write_timeout"`
	IdleTimeout       time.Duration `koanf:"idle_timeout"`
	ShutdownTimeout   time.Duration `koanf:"shutdown_timeout"`
	// TrustedProxies lists CIDRs whose X-Forwarded-For header is believed
	// when finding the client address.
	TrustedProxies []string   `koanf:"trusted_proxies"`
	CORS           CORSConfig `koanf:"cors"`
}

// CORSConfig configures cross-origin resource sharing.
type CORSConfig struct {
	Enabled          bool          `koanf:"enabled"`
	AllowedOrigins   []string      `koanf:"allowed_origins"`
	AllowedMethods   []string      `koanf:"allowed_methods"`
	AllowedHeaders   []string      `koanf:"allowed_headers"`
	ExposedHeaders   []string      `koanf:"exposed_headers"`
	AllowCredentials bool          `koanf:"allow_credentials"`
	MaxAge           time.Duration `koanf:"max_age"`
}

// DatabaseConfig says which PostgreSQL to use and how to pool connections.
type DatabaseConfig struct {
	// URL of an external PostgreSQL. Empty means: start the embedded one.
	// Only its password is secret: printing redacts just that part.
	URL string `koanf:"url" secret:"dsn"`
	// AuthenticatorRole is the NOINHERIT login role that request
	// transactions switch from into anon, authenticated or service_role.
	AuthenticatorRole string `koanf:"authenticator_role"`
	// MaxConns is the connection budget of the whole process, shared by
	// its pools; 0 lets the pg package derive it from the CPUs.
	MaxConns          int32         `koanf:"max_conns"`
	MinConns          int32         `koanf:"min_conns"`
	MaxConnLifetime   time.Duration `koanf:"max_conn_lifetime"`
	MaxConnIdleTime   time.Duration `koanf:"max_conn_idle_time"`
	HealthCheckPeriod time.Duration `koanf:"health_check_period"`
	// ConnectTimeout bounds start-up: how long Fluxbase retries before it
	// gives up on reaching the database.
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// StatementTimeout is applied to every request transaction (0 = none).
	StatementTimeout time.Duration `koanf:"statement_timeout"`
	// LegacyClaimSettings also sets request.jwt.claim.sub, .role and
	// .email in every request transaction, as PostgREST did on
	// PostgreSQL 13 and older, for policies and functions written against
	// them.
	LegacyClaimSettings bool           `koanf:"legacy_claim_settings"`
	Embedded            EmbeddedConfig `koanf:"embedded"`
}

// EmbeddedConfig configures the PostgreSQL that Fluxbase starts itself.
type EmbeddedConfig struct {
	// DataDir of the cluster; default <data_dir>/pg.
	DataDir string `koanf:"data_dir"`
	// BinDir holds initdb, pg_ctl and postgres; default: found on the system.
	BinDir string `koanf:"bin_dir"`
	// Port on 127.0.0.1; 0 picks a free one at every start.
	Port int `koanf:"port"`
	// OSUser runs PostgreSQL when Fluxbase itself runs as root.
	OSUser string `koanf:"os_user"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `koanf:"level"`  // debug, info, warn, error
	Format string `koanf:"format"` // auto, json, text
}

// AuthConfig configures the identity spine (how tokens are verified and
// which role an anonymous caller gets) and the auth server (users,
// sessions, mail, providers, MFA, limits).
type AuthConfig struct {
	// AnonymousAccess lets requests without a token run as "anon".
	AnonymousAccess bool      `koanf:"anonymous_access"`
	JWT             JWTConfig `koanf:"jwt"`

	// SiteURL is the application's URL: the default redirect after email
	// links and OAuth. Empty means public_url.
	SiteURL string `koanf:"site_url"`
	// RedirectAllowList holds the URLs (with * and ** wildcards) that
	// redirect_to may name besides site_url.
	RedirectAllowList []string `koanf:"redirect_allow_list"`
	// DisableSignup refuses new users except those an admin creates or invites.
	DisableSignup bool `koanf:"disable_signup"`
	// AnonymousSignIns allows POST /signup without credentials (anonymous users).
	AnonymousSignIns bool `koanf:"anonymous_sign_ins"`
	// AccessTokenTTL is the lifetime of access tokens (GoTrue's JWT_EXP).
	AccessTokenTTL time.Duration `koanf:"access_token_ttl"`
	// SessionTimebox ends sessions this long after sign-in (0 = never).
	SessionTimebox time.Duration `koanf:"session_timebox"`
	// RefreshTokenReuseInterval is how long a rotated refresh token may be
	// presented again and still get the current token of its session.
	RefreshTokenReuseInterval time.Duration `koanf:"refresh_token_reuse_interval"`
	// EncryptionKey encrypts secrets at rest (TOTP seeds, provider client
	// secrets). Empty: a key is generated at first start and kept in the
	// database.
	EncryptionKey string `koanf:"encryption_key" secret:"true"`

	Password  PasswordConfig  `koanf:"password"`
	Hooks     AuthHooksConfig `koanf:"hooks"`
	RateLimit RateLimitConfig `koanf:"rate_limit"`
	Audit     AuditConfig     `koanf:"audit"`
	SMTP      SMTPConfig      `koanf:"smtp"`
	Mailer    MailerConfig    `koanf:"mailer"`
	MFA       MFAConfig       `koanf:"mfa"`
	External  ExternalConfig  `koanf:"external"`
}

// PasswordConfig is the password policy.
type PasswordConfig struct {
	MinLength int `koanf:"min_length"`
	// RequiredCharacters lists the classes every new password must contain:
	// lower, upper, digits, symbols.
	RequiredCharacters []string `koanf:"required_characters"`
	// BcryptCost is the work factor of new password hashes.
	BcryptCost int `koanf:"bcrypt_cost"`
}

// AuthHooksConfig names SQL functions the auth server calls.
type AuthHooksConfig struct {
	// CustomClaims is a function (schema.name) taking and returning jsonb
	// that may change the claims of every access token issued.
	CustomClaims string `koanf:"custom_claims"`
}

// RateLimitConfig bounds requests per client address and window, per
// endpoint family, and backs off failed sign-ins per account.
type RateLimitConfig struct {
	Enabled      bool          `koanf:"enabled"`
	Window       time.Duration `koanf:"window"`
	SignIn       int           `koanf:"sign_in"`
	SignUp       int           `koanf:"sign_up"`
	TokenRefresh int           `koanf:"token_refresh"`
	OTP          int           `koanf:"otp"`
	Verify       int           `koanf:"verify"`
	Anonymous    int           `koanf:"anonymous"`
	// EmailSent bounds the emails sent per client address and window.
	EmailSent int `koanf:"email_sent"`
	// FailedSignIns is how many wrong passwords an account tolerates before
	// sign-in backs off; each further failure doubles the wait, from
	// FailedSignInBackoff up to FailedSignInMaxBackoff.
	FailedSignIns          int           `koanf:"failed_sign_ins"`
	FailedSignInBackoff    time.Duration `koanf:"failed_sign_in_backoff"`
	FailedSignInMaxBackoff time.Duration `koanf:"failed_sign_in_max_backoff"`
}

// AuditConfig configures the auth audit log.
type AuditConfig struct {
	// Retention is how long entries are kept (0 = forever).
	Retention time.Duration `koanf:"retention"`
}

// SMTPConfig is the mail server that sends confirmation, magic-link, OTP,
// recovery, email-change and invite mail.
type SMTPConfig struct {
	Host       string `koanf:"host"`
	Port       int    `koanf:"port"`
	User       string `koanf:"user"`
	Password   string `koanf:"password" secret:"true"`
	From       string `koanf:"from"`
	SenderName string `koanf:"sender_name"`
	// TLS is auto (STARTTLS when offered), starttls (required), tls
	// (implicit TLS, port 465) or none.
	TLS string `koanf:"tls"`
}

// MailerConfig configures what is mailed and how long its links live.
type MailerConfig struct {
	// Autoconfirm confirms new addresses without a confirmation mail.
	Autoconfirm bool          `koanf:"autoconfirm"`
	OTPExpiry   time.Duration `koanf:"otp_expiry"`
	OTPLength   int           `koanf:"otp_length"`
	LinkExpiry  time.Duration `koanf:"link_expiry"`
	// MaxFrequency is the shortest interval between two mails to one address.
	MaxFrequency time.Duration `koanf:"max_frequency"`
	// SecureEmailChange asks both the old and the new address to confirm.
	SecureEmailChange bool `koanf:"secure_email_change"`

	// Delivery through the mail outbox (auth.mail_outbox).
	//
	// MaxAttempts is how many times a mail is tried before it is kept as
	// failed; RetryBackoff is the wait after the first failure, doubled
	// (with jitter) after each further one up to an hour; OutboxRetention
	// is how long sent, dropped and failed rows are kept for inspection.
	MaxAttempts     int           `koanf:"max_attempts"`
	RetryBackoff    time.Duration `koanf:"retry_backoff"`
	OutboxRetention time.Duration `koanf:"outbox_retention"`
}

// MFAConfig configures multi-factor authentication.
type MFAConfig struct {
	Enabled    bool   `koanf:"enabled"`
	Issuer     string `koanf:"issuer"`
	MaxFactors int    `koanf:"max_factors"`
}

// ExternalConfig configures the OAuth and OIDC providers: the presets and
// one generic OIDC provider found by issuer discovery. Further providers
// (custom OAuth2 or OIDC) can be added at run time through the admin API.
type ExternalConfig struct {
	Google    ExternalProvider `koanf:"google"`
	GitHub    ExternalProvider `koanf:"github"`
	Microsoft ExternalProvider `koanf:"microsoft"`
	Apple     ExternalProvider `koanf:"apple"`
	Facebook  ExternalProvider `koanf:"facebook"`
	Twitter   ExternalProvider `koanf:"twitter"`
	LinkedIn  ExternalProvider `koanf:"linkedin"`
	GitLab    ExternalProvider `koanf:"gitlab"`
	Bitbucket ExternalProvider `koanf:"bitbucket"`
	OIDC      ExternalProvider `koanf:"oidc"`
}

// ExternalProvider is one OAuth2/OIDC provider.
type ExternalProvider struct {
	Enabled  bool   `koanf:"enabled"`
	ClientID string `koanf:"client_id"`
	Secret   string `koanf:"secret" secret:"true"`
	// Issuer enables OIDC discovery (required for oidc; optional for
	// microsoft and gitlab to name a tenant or a self-hosted instance).
	Issuer string `koanf:"issuer"`
	// The endpoint URLs override the preset's (or discovery's).
	AuthorizationURL string   `koanf:"authorization_url"`
	TokenURL         string   `koanf:"token_url"`
	UserinfoURL      string   `koanf:"userinfo_url"`
	Scopes           []string `koanf:"scopes"`
	// RedirectURI is the callback registered with the provider; empty
	// means <public_url>/auth/v1/callback.
	RedirectURI string `koanf:"redirect_uri"`
}

// JWTConfig configures JSON Web Tokens.
type JWTConfig struct {
	// Algorithm that Fluxbase signs its own tokens with: ES256 or HS256.
	Algorithm string `koanf:"algorithm"`
	// Secret for HS256 (Supabase-style legacy keys). When set, HS256 tokens
	// signed with it are accepted; it must be at least 32 bytes.
	Secret   string `koanf:"secret" secret:"true"`
	Issuer   string `koanf:"issuer"`
	Audience string `koanf:"audience"`
	// Leeway tolerated on exp, nbf and iat.
	Leeway time.Duration `koanf:"leeway"`
}

// MigrationsConfig configures the user's own SQL migrations.
type MigrationsConfig struct {
	Dir string `koanf:"dir"`
	// ApplyOnStart applies the user's migrations when serve starts.
	ApplyOnStart bool `koanf:"apply_on_start"`
}

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	Enabled bool `koanf:"enabled"`
}

// StorageConfig configures file storage: where the bytes of objects live
// (their metadata is always in PostgreSQL) and the limits of transfers.
type StorageConfig struct {
	// Backend is "local" (a directory on this machine) or "s3".
	Backend string             `koanf:"backend"`
	Local   StorageLocalConfig `koanf:"local"`
	S3      StorageS3Config    `koanf:"s3"`
	// MaxFileSize caps every object; a bucket's file_size_limit can only
	// lower it.
	MaxFileSize int64 `koanf:"max_file_size" unit:"bytes"`
	// SignedURLMaxExpiry caps the lifetime of signed download and upload
	// URLs.
	SignedURLMaxExpiry time.Duration `koanf:"signed_url_max_expiry"`
	// SignedUploadExpiry is the lifetime of signed upload URLs (storage-js
	// gives no expiry for them).
	SignedUploadExpiry time.Duration `koanf:"signed_upload_expiry"`
	// OrphanGrace is how long bytes written for an upload that never
	// committed are kept before the janitor removes them.
	OrphanGrace time.Duration `koanf:"orphan_grace"`
	// JanitorInterval is how often the janitor looks for orphaned bytes.
	JanitorInterval time.Duration `koanf:"janitor_interval"`
	// ResumableExpiry is how long a resumable (TUS) upload lives after its
	// last byte arrived; then it expires and its bytes are removed.
	ResumableExpiry time.Duration `koanf:"resumable_expiry"`
	// Image bounds the image transformations of the render routes.
	Image StorageImageConfig `koanf:"image"`
}

// StorageImageConfig bounds the work and memory of image transformations.
// Sources are checked against the source limits from their header, before
// any pixel is decoded.
type StorageImageConfig struct {
	// MaxSourceBytes is the largest object transformed.
	MaxSourceBytes int64 `koanf:"max_source_bytes" unit:"bytes"`
	// MaxSourcePixels is the largest width × height decoded (4 bytes each).
	MaxSourcePixels int64 `koanf:"max_source_pixels"`
	// MaxSourceSide is the largest width or height decoded.
	MaxSourceSide int `koanf:"max_source_side"`
	// MaxOutputSide clamps the requested width and height.
	MaxOutputSide int `koanf:"max_output_side"`
	// CacheBytes bounds the in-memory cache of results; 0 disables it.
	CacheBytes int64 `koanf:"cache_bytes" unit:"bytes"`
	// DecodeConcurrency is how many images one process decodes at once.
	DecodeConcurrency int `koanf:"decode_concurrency"`
}

// StorageLocalConfig configures the local disk backend.
type StorageLocalConfig struct {
	// Root directory of the bytes; default <data_dir>/storage.
	Root string `koanf:"root"`
}

// StorageS3Config configures the S3 backend (AWS S3 or any S3-compatible
// server).
type StorageS3Config struct {
	// Endpoint as a URL (https://s3.eu-west-1.amazonaws.com,
	// http://127.0.0.1:7070); the scheme selects TLS.
	Endpoint  string `koanf:"endpoint"`
	Bucket    string `koanf:"bucket"`
	Region    string `koanf:"region"`
	AccessKey string `koanf:"access_key"`
	SecretKey string `koanf:"secret_key" secret:"true"`
	// Prefix is prepended to every key, to share a bucket.
	Prefix string `koanf:"prefix"`
	// PathStyle addresses the bucket in the path instead of the host name,
	// as most self-hosted S3 servers need.
	PathStyle bool `koanf:"path_style"`
	// Presign makes signed download URLs point straight at S3 (a
	// presigned GET) instead of at Fluxbase.
	Presign bool `koanf:"presign"`
}

// StorageRoot is the directory of the local storage backend:
// storage.local.root, or <data_dir>/storage.
func (c *Config) StorageRoot() string {
	if c.Storage.Local.Root != "" {
		return c.Storage.Local.Root
	}
	return filepath.Join(c.DataDir, "storage")
}

// RESTConfig configures the REST engine (/rest/v1 and /api/v1/tables|rpc).
type RESTConfig struct {
	// Schemas are the database schemas the API exposes; the first is the
	// default when a request names none. Fluxbase's own schemas can never
	// be exposed.
	Schemas []string `koanf:"schemas"`
	// MaxRows caps the rows any read returns, whatever the client asks
	// for (0 = no cap).
	MaxRows int64 `koanf:"max_rows"`
	// AggregatesEnabled allows count(), sum(), avg(), min() and max() in
	// select=.
	AggregatesEnabled bool `koanf:"aggregates_enabled"`
	// ExplainEnabled lets clients ask for the query plan with
	// Accept: application/vnd.pgrst.plan.
	ExplainEnabled bool `koanf:"explain_enabled"`
	// StatementTimeouts lists role=duration pairs: the statement timeout of
	// API requests made as that role. Roles not listed get
	// database.statement_timeout.
	StatementTimeouts []string `koanf:"statement_timeouts"`
	// MaxEmbedDepth bounds how deeply resources may be embedded.
	MaxEmbedDepth int `koanf:"max_embed_depth"`
	// PreRequest names a function ("schema.function", or "function" in
	// the first exposed schema) that every REST request calls, as its
	// role and with its settings in force, before its statement:
	// PostgREST's db-pre-request. Empty means none.
	PreRequest string `koanf:"pre_request"`
	// ExtraSearchPath are the schemas that follow a request's own schema
	// in its search_path, as PostgREST's db-extra-search-path; the API
	// connections start with them. Supabase installs extensions into
	// "extensions", hence the default.
	ExtraSearchPath []string `koanf:"extra_search_path"`
}

// PreRequestFunction is PreRequest as schema and function name; ok is
// false when there is none or it is not a function name.
func (r RESTConfig) PreRequestFunction() (schema, name string, ok bool) {
	return FunctionName(r.PreRequest, r.Schemas)
}

// FunctionName splits a function name given as "schema.function", or as
// "function" in the first of schemas, as PostgREST's db-pre-request takes
// it; ok is false for anything else (quotes, parentheses, more parts).
func FunctionName(v string, schemas []string) (schema, name string, ok bool) {
	schema, name, qualified := strings.Cut(v, ".")
	if !qualified {
		schema, name = "", v
		if len(schemas) > 0 {
			schema = schemas[0]
		}
	}
	if !validName(schema) || !validName(name) {
		return "", "", false
	}
	return schema, name, true
}

// StatementTimeout returns the statement timeout configured for role, and
// whether one is.
func (r RESTConfig) StatementTimeout(role string) (time.Duration, bool) {
	d, ok := r.StatementTimeoutsByRole()[role]
	return d, ok
}

// StatementTimeoutsByRole is rest.statement_timeouts as a map: for each
// role, the first of its entries, when that entry's duration parses.
func (r RESTConfig) StatementTimeoutsByRole() map[string]time.Duration {
	out := map[string]time.Duration{}
	seen := map[string]bool{}
	for _, e := range r.StatementTimeouts {
		name, val, ok := strings.Cut(e, "=")
		name = strings.TrimSpace(name)
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		if d, err := time.ParseDuration(strings.TrimSpace(val)); err == nil {
			out[name] = d
		}
	}
	return out
}

// ReservedSchemas are the schemas Fluxbase owns or PostgreSQL reserves;
// rest.schemas may not list them.
var ReservedSchemas = []string{"auth", "storage", "realtime", "fluxbase", "pg_catalog", "information_schema", "pg_toast"}
