package config

import (
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
	StatementTimeout time.Duration  `koanf:"statement_timeout"`
	Embedded         EmbeddedConfig `koanf:"embedded"`
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

// AuthConfig configures the identity spine: how tokens are verified and
// which role an anonymous caller gets.
type AuthConfig struct {
	// AnonymousAccess lets requests without a token run as "anon".
	AnonymousAccess bool      `koanf:"anonymous_access"`
	JWT             JWTConfig `koanf:"jwt"`
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
}

// StatementTimeout returns the statement timeout configured for role, and
// whether one is.
func (r RESTConfig) StatementTimeout(role string) (time.Duration, bool) {
	for _, e := range r.StatementTimeouts {
		name, val, ok := strings.Cut(e, "=")
		if !ok || strings.TrimSpace(name) != role {
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(val))
		if err != nil {
			return 0, false
		}
		return d, true
	}
	return 0, false
}

// ReservedSchemas are the schemas Fluxbase owns or PostgreSQL reserves;
// rest.schemas may not list them.
var ReservedSchemas = []string{"auth", "storage", "realtime", "fluxbase", "pg_catalog", "information_schema", "pg_toast"}
