package config

import (
	"path/filepath"
	"runtime"
	"time"
)

// Default returns the configuration Fluxbase runs with when nothing is
// configured: the embedded PostgreSQL under ./fluxbase_data, HTTP on the
// loopback interface, permissive CORS without credentials, ES256 tokens
// with keys generated at first start. It is normalized, so derived values
// (such as the pool size) are already filled in.
func Default() *Config {
	c := defaults()
	c.normalize()
	return c
}

// defaults is the configuration as documented, before derived values are
// computed; docs/configuration.md shows exactly these values.
func defaults() *Config {
	return &Config{
		DataDir: "./fluxbase_data",
		HTTP: HTTPConfig{
			Addr:              "127.0.0.1:8080",
			MaxBodyBytes:      10 << 20,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			// Zero on purpose: a server-wide write deadline would cut off
			// long downloads and streamed responses. Slow clients are
			// bounded while they send (read_header_timeout, read_timeout);
			// handlers that stream set their own deadlines.
			WriteTimeout:    0,
			IdleTimeout:     120 * time.Second,
			ShutdownTimeout: 30 * time.Second,
			TrustedProxies:  []string{},
			CORS: CORSConfig{
				Enabled:        true,
				AllowedOrigins: []string{"*"},
				AllowedMethods: []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"},
				AllowedHeaders: []string{
					"accept", "authorization", "apikey", "content-type", "prefer", "range",
					"accept-profile", "content-profile", "x-client-info", "x-request-id", "x-upsert",
				},
				ExposedHeaders:   []string{"Content-Range", "Content-Location", "X-Request-ID"},
				AllowCredentials: false,
				MaxAge:           24 * time.Hour,
			},
		},
		Database: DatabaseConfig{
			AuthenticatorRole: "authenticator",
			MaxConns:          0,
			MinConns:          0,
			MaxConnLifetime:   time.Hour,
			MaxConnIdleTime:   10 * time.Minute,
			HealthCheckPeriod: 30 * time.Second,
			ConnectTimeout:    15 * time.Second,
			StatementTimeout:  0,
			Embedded: EmbeddedConfig{
				Port:   0,
				OSUser: "postgres",
			},
		},
		Log: LogConfig{Level: "info", Format: "auto"},
		Auth: AuthConfig{
			AnonymousAccess: true,
			JWT: JWTConfig{
				Algorithm: "ES256",
				Issuer:    "fluxbase",
				Leeway:    30 * time.Second,
			},
		},
		Migrations: MigrationsConfig{Dir: "./migrations", ApplyOnStart: false},
		Metrics:    MetricsConfig{Enabled: true},
	}
}

// Bounds of the derived pool size. The upper bound keeps several replicas,
// each with an admin and an API pool, inside PostgreSQL's default
// max_connections of 100.
const (
	minDerivedConns = 4
	maxDerivedConns = 32
)

// PoolMaxConns is the size of each connection pool: max_conns when set,
// otherwise 4 per CPU usable by Go, at least 4 and at most 32.
func (d DatabaseConfig) PoolMaxConns() int32 {
	if d.MaxConns > 0 {
		return d.MaxConns
	}
	n := 4 * runtime.GOMAXPROCS(0)
	n = max(minDerivedConns, min(n, maxDerivedConns))
	return int32(n)
}

// UsesEmbedded reports whether Fluxbase starts its own PostgreSQL, which it
// does when no database URL is configured.
func (c *Config) UsesEmbedded() bool { return c.Database.URL == "" }

// EmbeddedDataDir is the data directory of the embedded cluster:
// database.embedded.data_dir, or <data_dir>/pg.
func (c *Config) EmbeddedDataDir() string {
	if c.Database.Embedded.DataDir != "" {
		return c.Database.Embedded.DataDir
	}
	return filepath.Join(c.DataDir, "pg")
}
