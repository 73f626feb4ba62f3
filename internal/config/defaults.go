package config

import (
	"path/filepath"
	"time"
)

// Default returns the configuration Fluxbase runs with when nothing is
// configured: the embedded PostgreSQL under ./fluxbase_data, HTTP on the
// loopback interface, permissive CORS without credentials, ES256 tokens
// with keys generated at first start. It is in the normalized form Load
// returns.
func Default() *Config {
	c := defaults()
	c.normalize()
	return c
}

// defaults is the configuration exactly as docs/configuration.md shows it.
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
					"authorization", "apikey", "content-type", "accept", "accept-profile", "content-profile",
					"prefer", "range", "x-client-info", "x-request-id", "x-upsert", "x-supabase-api-version",
					"cache-control", "x-metadata", "tus-resumable", "upload-length", "upload-offset",
					"upload-metadata", "upload-defer-length", "upload-concat", "x-signature",
					"x-http-method-override",
				},
				ExposedHeaders: []string{
					"Content-Range", "Content-Location", "Location", "Preference-Applied", "ETag", "X-Request-ID",
					"Content-Disposition", "Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size",
					"Upload-Offset", "Upload-Length", "Upload-Expires", "Upload-Metadata", "Upload-Defer-Length",
					"X-Transformations", "X-Supabase-Api-Version", "X-Total-Count", "Link", "Retry-After",
				},
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
			ConnectTimeout:    10 * time.Second,
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
			RedirectAllowList:         []string{},
			AnonymousSignIns:          false,
			AccessTokenTTL:            time.Hour,
			SessionTimebox:            0,
			RefreshTokenReuseInterval: 10 * time.Second,
			Password: PasswordConfig{
				MinLength:          8,
				RequiredCharacters: []string{},
				BcryptCost:         10,
			},
			RateLimit: RateLimitConfig{
				Enabled:                true,
				Window:                 5 * time.Minute,
				SignIn:                 30,
				SignUp:                 30,
				TokenRefresh:           150,
				OTP:                    30,
				Verify:                 30,
				Anonymous:              30,
				EmailSent:              30,
				FailedSignIns:          5,
				FailedSignInBackoff:    time.Second,
				FailedSignInMaxBackoff: 15 * time.Minute,
			},
			Audit: AuditConfig{Retention: 90 * 24 * time.Hour},
			SMTP:  SMTPConfig{Port: 587, SenderName: "Fluxbase", TLS: "auto"},
			Mailer: MailerConfig{
				Autoconfirm:       true,
				OTPExpiry:         time.Hour,
				OTPLength:         6,
				LinkExpiry:        time.Hour,
				MaxFrequency:      time.Minute,
				SecureEmailChange: true,
				MaxAttempts:       10,
				RetryBackoff:      30 * time.Second,
				OutboxRetention:   7 * 24 * time.Hour,
			},
			MFA: MFAConfig{Enabled: true, Issuer: "Fluxbase", MaxFactors: 10},
			External: ExternalConfig{
				Google: noProvider(), GitHub: noProvider(), Microsoft: noProvider(), Apple: noProvider(),
				Facebook: noProvider(), Twitter: noProvider(), LinkedIn: noProvider(), GitLab: noProvider(),
				Bitbucket: noProvider(), OIDC: noProvider(),
			},
		},
		Migrations: MigrationsConfig{Dir: "./migrations", ApplyOnStart: false},
		Metrics:    MetricsConfig{Enabled: true},
		Realtime:   defaultRealtime(),
		Storage: StorageConfig{
			Backend:            "local",
			S3:                 StorageS3Config{Region: "us-east-1", PathStyle: true},
			MaxFileSize:        5 << 30,
			SignedURLMaxExpiry: 7 * 24 * time.Hour,
			SignedUploadExpiry: 2 * time.Hour,
			OrphanGrace:        time.Hour,
			JanitorInterval:    5 * time.Minute,
			ResumableExpiry:    24 * time.Hour,
			Image: StorageImageConfig{
				MaxSourceBytes:    25 << 20,
				MaxSourcePixels:   25_000_000,
				MaxSourceSide:     16384,
				MaxOutputSide:     2500,
				CacheBytes:        64 << 20,
				DecodeConcurrency: 2,
			},
		},
		REST: RESTConfig{
			Schemas:           []string{"public"},
			MaxRows:           1000,
			AggregatesEnabled: true,
			ExplainEnabled:    false,
			StatementTimeouts: []string{"anon=8s", "authenticated=8s"},
			MaxEmbedDepth:     8,
			ExtraSearchPath:   []string{"public", "extensions"},
		},
	}
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

// noProvider is a provider left unconfigured; its lists are empty rather
// than nil, as loading an empty list from a file makes them.
func noProvider() ExternalProvider { return ExternalProvider{Scopes: []string{}} }
