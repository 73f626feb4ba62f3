package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fluxbase/fluxbase/internal/httpsyntax"
)

// normalize puts values in their canonical form, so that consumers need
// not repeat the leniency the loader offers (case, bare addresses,
// trailing slashes) and derived values are explicit.
func (c *Config) normalize() {
	c.Log.Level = strings.ToLower(strings.TrimSpace(c.Log.Level))
	if c.Log.Level == "warning" {
		c.Log.Level = "warn"
	}
	c.Log.Format = strings.ToLower(strings.TrimSpace(c.Log.Format))
	c.Auth.JWT.Algorithm = strings.ToUpper(strings.TrimSpace(c.Auth.JWT.Algorithm))
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	for i, p := range c.HTTP.TrustedProxies {
		// A bare address is a network of one.
		if a, err := netip.ParseAddr(p); err == nil {
			c.HTTP.TrustedProxies[i] = netip.PrefixFrom(a, a.BitLen()).String()
		}
	}
	for i, o := range c.HTTP.CORS.AllowedOrigins {
		c.HTTP.CORS.AllowedOrigins[i] = normalizeOrigin(o)
	}
	for i, m := range c.HTTP.CORS.AllowedMethods {
		c.HTTP.CORS.AllowedMethods[i] = strings.ToUpper(m)
	}
}

// normalizeOrigin lower-cases the scheme and host and drops a trailing
// slash: browsers send "https://app.example.com", and a configured
// "https://App.example.com/" would otherwise never match. Anything that is
// not an origin is left as it is for Validate to report.
func normalizeOrigin(o string) string {
	if o == "*" || !validOrigin(o) {
		return o
	}
	return strings.ToLower(strings.TrimSuffix(o, "/"))
}

// Validate checks every value and returns an *Error listing all problems,
// or nil. Load calls it; call it again after changing a Config by hand.
func (c *Config) Validate() error {
	if ps := c.problems(); len(ps) > 0 {
		return &Error{Problems: ps}
	}
	return nil
}

type checker struct{ problems []Problem }

func (ch *checker) add(key, format string, args ...any) {
	ch.problems = append(ch.problems, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// positive and nonNegative check durations.
func (ch *checker) positive(key string, d time.Duration, example string) {
	if d <= 0 {
		ch.add(key, "must be greater than 0, such as %s", example)
	}
}

func (ch *checker) nonNegative(key string, d time.Duration, example string) {
	if d < 0 {
		ch.add(key, "must not be negative; use 0 for no limit or a duration such as %s", example)
	}
}

// problems is Validate without the wrapping; keys are in struct order.
func (c *Config) problems() []Problem {
	ch := &checker{}

	if strings.TrimSpace(c.DataDir) == "" {
		ch.add("data_dir", "must not be empty; it is the directory where Fluxbase keeps its files, such as ./fluxbase_data")
	}
	if c.PublicURL != "" {
		if msg := checkPublicURL(c.PublicURL); msg != "" {
			ch.add("public_url", "%q %s", c.PublicURL, msg)
		}
	}

	// HTTP server.
	h := c.HTTP
	if !validListenAddr(h.Addr) {
		ch.add("http.addr", "%q is not a valid listen address; use host:port such as 127.0.0.1:8080, or :8080 for every interface", h.Addr)
	}
	if h.MaxBodyBytes <= 0 {
		ch.add("http.max_body_bytes", "must be greater than 0; use a size such as 10MiB")
	}
	if h.ReadHeaderTimeout <= 0 {
		ch.add("http.read_header_timeout", "must be greater than 0, such as 10s; it cuts off clients that send headers slowly (slowloris)")
	}
	ch.nonNegative("http.read_timeout", h.ReadTimeout, "60s")
	ch.nonNegative("http.write_timeout", h.WriteTimeout, "5m")
	ch.nonNegative("http.idle_timeout", h.IdleTimeout, "120s")
	ch.positive("http.shutdown_timeout", h.ShutdownTimeout, "30s")
	for _, p := range h.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				ch.add("http.trusted_proxies", "%q is not a network; use CIDR notation such as 10.0.0.0/8 or a single address such as 192.0.2.10", p)
			}
		}
	}

	// CORS. Checked even when disabled, so that turning it on cannot
	// reveal an old mistake at a bad moment.
	co := h.CORS
	wildcard := false
	for _, o := range co.AllowedOrigins {
		if o == "*" {
			wildcard = true
			continue
		}
		if !validOrigin(o) {
			ch.add("http.cors.allowed_origins", "%q is not an origin; use \"*\", scheme://host[:port] without a path such as https://app.example.com, or a wildcard such as https://*.example.com", o)
		}
	}
	if co.AllowCredentials && wildcard {
		ch.add("http.cors.allow_credentials", "cannot be true while http.cors.allowed_origins contains \"*\": "+
			"browsers refuse credentials with a wildcard origin, and echoing every origin would let any site act as the user; list the allowed origins instead")
	}
	for _, m := range co.AllowedMethods {
		if !httpsyntax.IsToken(m) {
			ch.add("http.cors.allowed_methods", "%q is not an HTTP method; use names such as GET, POST", m)
		}
	}
	for _, hd := range co.AllowedHeaders {
		if hd != "*" && !httpsyntax.IsToken(hd) {
			ch.add("http.cors.allowed_headers", "%q is not a header name; use names such as authorization, content-type", hd)
		}
	}
	for _, hd := range co.ExposedHeaders {
		if hd != "*" && !httpsyntax.IsToken(hd) {
			ch.add("http.cors.exposed_headers", "%q is not a header name; use names such as Content-Range", hd)
		}
	}
	ch.nonNegative("http.cors.max_age", co.MaxAge, "24h")

	c.checkREST(ch)

	// Database.
	d := c.Database
	if d.URL != "" {
		if msg := checkDatabaseURL(d.URL); msg != "" {
			ch.add("database.url", "%s", msg)
		}
	}
	if msg := checkRoleName(d.AuthenticatorRole); msg != "" {
		ch.add("database.authenticator_role", "%s", msg)
	}
	if d.MaxConns < 0 {
		ch.add("database.max_conns", "must not be negative; use 0 to size the pools from the number of CPUs, or a number such as 20")
	}
	if d.MinConns < 0 {
		ch.add("database.min_conns", "must not be negative; use 0 to open connections only when needed")
	} else if d.MaxConns > 0 && d.MinConns > d.MaxConns {
		ch.add("database.min_conns", "(%d) is larger than database.max_conns (%d); lower it or raise database.max_conns", d.MinConns, d.MaxConns)
	}
	ch.nonNegative("database.max_conn_lifetime", d.MaxConnLifetime, "1h")
	ch.nonNegative("database.max_conn_idle_time", d.MaxConnIdleTime, "10m")
	ch.positive("database.health_check_period", d.HealthCheckPeriod, "30s")
	ch.positive("database.connect_timeout", d.ConnectTimeout, "10s")
	ch.nonNegative("database.statement_timeout", d.StatementTimeout, "30s")
	if e := d.Embedded; e.Port < 0 || e.Port > 65535 {
		ch.add("database.embedded.port", "%d is not a TCP port; use 0 to pick a free port at every start, or 1-65535", e.Port)
	}
	if !osUserRE.MatchString(d.Embedded.OSUser) {
		ch.add("database.embedded.os_user", "%q is not a valid system user name; use an existing unprivileged user such as postgres", d.Embedded.OSUser)
	}

	// Logging.
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "warning", "error":
	default:
		ch.add("log.level", "%q is not a log level; use debug, info, warn or error", c.Log.Level)
	}
	switch strings.ToLower(c.Log.Format) {
	case "auto", "json", "text":
	default:
		ch.add("log.format", "%q is not a log format; use auto (text on a terminal, JSON otherwise), json or text", c.Log.Format)
	}

	// Tokens.
	j := c.Auth.JWT
	alg := strings.ToUpper(j.Algorithm)
	switch alg {
	case "ES256", "HS256":
	default:
		ch.add("auth.jwt.algorithm", "%q is not supported; use ES256 (recommended: keys are generated and published at /.well-known/jwks.json) or HS256", j.Algorithm)
	}
	switch {
	case j.Secret == "" && alg == "HS256":
		ch.add("auth.jwt.secret", "is required when auth.jwt.algorithm is HS256; set a random string of at least 32 bytes, such as the output of: openssl rand -base64 48")
	case j.Secret != "" && len(j.Secret) < minSecretLen:
		ch.add("auth.jwt.secret", "is %d bytes long; it must be at least %d bytes, such as the output of: openssl rand -base64 48", len(j.Secret), minSecretLen)
	case knownPublicSecrets[j.Secret]:
		ch.add("auth.jwt.secret", "is a publicly known example secret, with which anyone can forge tokens; generate your own with: openssl rand -base64 48")
	}
	if strings.TrimSpace(j.Issuer) == "" {
		ch.add("auth.jwt.issuer", "must not be empty; it is the iss claim of the tokens Fluxbase issues, such as fluxbase or https://api.example.com/auth/v1")
	}
	if j.Leeway < 0 || j.Leeway > maxLeeway {
		ch.add("auth.jwt.leeway", "must be between 0 and %s; it only needs to cover clock differences between servers, such as 30s", formatDuration(maxLeeway))
	}

	c.checkStorage(ch)
	c.authProblems(ch)

	if strings.TrimSpace(c.Migrations.Dir) == "" {
		ch.add("migrations.dir", "must not be empty; it is the directory holding your SQL migrations, such as ./migrations")
	}
	c.realtimeProblems(ch)
	return ch.problems
}

const (
	minSecretLen = 32
	// maxLeeway bounds clock-skew tolerance: beyond a few minutes an
	// expired token stays usable long enough to matter.
	maxLeeway = 5 * time.Minute
)

// knownPublicSecrets are HS256 secrets published in examples and default
// setups; a server using one accepts tokens forged by anyone.
var knownPublicSecrets = map[string]bool{
	"super-secret-jwt-token-with-at-least-32-characters-long":      true,
	"your-super-secret-jwt-token-with-at-least-32-characters-long": true,
}

// osUserRE follows the portable user name rules of useradd.
var osUserRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// roleRE is an unquoted PostgreSQL identifier, so that the role name
// reads the same in SQL whether quoted or not.
var roleRE = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

func checkRoleName(r string) string {
	switch {
	case r == "":
		return "must not be empty; use the default authenticator unless that name is taken"
	case len(r) > 63 || !roleRE.MatchString(r):
		return fmt.Sprintf("%q is not a valid role name; use lower-case letters, digits and _ (at most 63), starting with a letter, such as authenticator", r)
	case strings.HasPrefix(r, "pg_"):
		return fmt.Sprintf("%q is reserved by PostgreSQL (names starting with pg_); choose another name, such as authenticator", r)
	case r == "anon" || r == "authenticated" || r == "service_role" || r == "postgres" || r == "public":
		return fmt.Sprintf("%q is a role with another purpose; the authenticator must be its own login role, such as authenticator", r)
	}
	return ""
}

// validListenAddr accepts host:port with a numeric port (0 means any free
// port) and a host that is empty, an IP address or a host name.
func validListenAddr(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return false
	}
	if host == "" {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return validHostname(host)
}

var hostnameRE = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$`)

func validHostname(h string) bool {
	return len(h) <= 253 && hostnameRE.MatchString(h)
}

// validOrigin accepts the serialization browsers send in Origin,
// scheme://host[:port]; "null" (sandboxed documents, file: pages); and a
// wildcard for the subdomains of a domain, scheme://*.example.com[:port],
// the forms the CORS middleware matches.
func validOrigin(o string) bool {
	if o == "null" {
		return true
	}
	if scheme, rest, ok := strings.Cut(o, "://"); ok && strings.Contains(rest, "*") {
		// Exactly one wildcard, as the leftmost label, above a domain with
		// at least two labels: "*.com" would allow a whole public suffix.
		base, ok := strings.CutPrefix(rest, "*.")
		if !ok || strings.Contains(base, "*") {
			return false
		}
		host := base
		if i := strings.IndexAny(host, ":/"); i >= 0 {
			host = host[:i]
		}
		return strings.Contains(host, ".") && validOrigin(scheme+"://x."+base)
	}
	u, err := url.Parse(o)
	if err != nil || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	if u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return true
}

func checkPublicURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "is not an absolute http(s) URL; use the address clients reach Fluxbase at, such as https://api.example.com"
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "must not contain credentials, a query or a fragment; use a base URL such as https://api.example.com"
	}
	return ""
}

// checkDatabaseURL parses the URL the way the driver will, and explains a
// failure without echoing the URL, which may carry a password.
func checkDatabaseURL(raw string) string {
	const how = "use postgres://user:password@host:5432/dbname, or key=value form such as \"host=db.example.com user=fluxbase dbname=app\""
	if scheme, _, ok := strings.Cut(raw, "://"); ok && !strings.ContainsAny(scheme, " =") {
		if scheme != "postgres" && scheme != "postgresql" {
			return fmt.Sprintf("has scheme %q, which is not PostgreSQL; %s", scheme, how)
		}
	}
	if _, err := pgconn.ParseConfig(raw); err != nil {
		return fmt.Sprintf("is not a valid PostgreSQL connection string (%s); %s", scrubCause(err, raw), how)
	}
	return ""
}

// scrubCause keeps what is useful in a driver parse error (what was wrong)
// and removes the connection string and anything that may be a password.
func scrubCause(err error, raw string) string {
	s := err.Error()
	if rest, ok := strings.CutPrefix(s, "cannot parse `"); ok {
		if i := strings.Index(rest, "`: "); i >= 0 {
			s = rest[i+3:]
		}
	}
	s = strings.ReplaceAll(s, raw, "<database.url>")
	for _, pw := range passwordsIn(raw) {
		if len(pw) >= 3 {
			s = strings.ReplaceAll(s, pw, redactedValue)
		}
	}
	return s
}

// maxImageSide is the largest side any supported image format can have.
const maxImageSide = 1 << 20

func (c *Config) checkStorageImage(ch *checker) {
	im := c.Storage.Image
	if im.MaxSourceBytes <= 0 {
		ch.add("storage.image.max_source_bytes", "must be greater than 0; use a size such as 25MiB")
	}
	if im.MaxSourcePixels <= 0 {
		ch.add("storage.image.max_source_pixels", "must be greater than 0, such as 25000000 (25 megapixels, about 100 MB decoded)")
	}
	if im.MaxSourceSide <= 0 || im.MaxSourceSide > maxImageSide {
		ch.add("storage.image.max_source_side", "must be from 1 to %d pixels, such as 16384", maxImageSide)
	}
	if im.MaxOutputSide <= 0 || im.MaxOutputSide > maxImageSide {
		ch.add("storage.image.max_output_side", "must be from 1 to %d pixels, such as 2500", maxImageSide)
	}
	if im.CacheBytes < 0 {
		ch.add("storage.image.cache_bytes", "must not be negative; use a size such as 64MiB, or 0 to keep no results")
	}
	if im.DecodeConcurrency < 1 || im.DecodeConcurrency > 256 {
		ch.add("storage.image.decode_concurrency", "must be from 1 to 256, such as 2; each decode may take max_source_pixels × 4 bytes of memory")
	}
}

func (c *Config) checkStorage(ch *checker) {
	st := c.Storage
	switch st.Backend {
	case "local", "s3":
	default:
		ch.add("storage.backend", "%q is not a storage backend; use local (a directory on this machine) or s3 (AWS S3 or an S3-compatible server)", st.Backend)
	}
	if st.MaxFileSize <= 0 {
		ch.add("storage.max_file_size", "must be greater than 0; use a size such as 5GB")
	}
	ch.positive("storage.signed_url_max_expiry", st.SignedURLMaxExpiry, "168h")
	ch.positive("storage.signed_upload_expiry", st.SignedUploadExpiry, "2h")
	if st.SignedURLMaxExpiry > 0 && st.SignedUploadExpiry > st.SignedURLMaxExpiry {
		ch.add("storage.signed_upload_expiry", "(%s) is longer than storage.signed_url_max_expiry (%s); lower it", formatDuration(st.SignedUploadExpiry), formatDuration(st.SignedURLMaxExpiry))
	}
	if st.OrphanGrace < time.Minute {
		ch.add("storage.orphan_grace", "must be at least 1m, such as 1h; bytes of an upload still being committed must not be taken for orphans")
	}
	ch.positive("storage.janitor_interval", st.JanitorInterval, "5m")
	if st.ResumableExpiry < time.Minute {
		ch.add("storage.resumable_expiry", "must be at least 1m, such as 24h; a resumable upload must outlive a pause between its requests")
	}
	c.checkStorageImage(ch)
	if st.Backend != "s3" {
		return
	}
	s3 := st.S3
	if u, err := url.Parse(s3.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		ch.add("storage.s3.endpoint", "%q is not an S3 endpoint; use a URL with scheme and host only, such as https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:7070", s3.Endpoint)
	}
	if !s3BucketRE.MatchString(s3.Bucket) {
		ch.add("storage.s3.bucket", "%q is not an S3 bucket name; use 3-63 lowercase letters, digits, dots and hyphens, such as fluxbase-files", s3.Bucket)
	}
	if strings.TrimSpace(s3.Region) == "" {
		ch.add("storage.s3.region", "must not be empty; use the bucket's region, such as us-east-1")
	}
	if (s3.AccessKey == "") != (s3.SecretKey == "") {
		ch.add("storage.s3.access_key", "and storage.s3.secret_key must be set together (or both left empty to use the environment's AWS credentials)")
	}
	if strings.HasPrefix(s3.Prefix, "/") || strings.Contains(s3.Prefix, "..") {
		ch.add("storage.s3.prefix", "%q must be relative and must not contain \"..\", such as fluxbase/", s3.Prefix)
	}
}

var s3BucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
var schemaNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

// validName reports whether s is a plain PostgreSQL identifier, as schema
// and function names in the configuration must be: no quoting, at most 63
// bytes.
func validName(s string) bool { return len(s) <= 63 && schemaNamePattern.MatchString(s) }

// checkREST validates the rest section.
func (c *Config) checkREST(ch *checker) {
	r := c.REST
	if len(r.Schemas) == 0 {
		ch.add("rest.schemas", "must list at least one schema, such as public")
	}
	seen := map[string]bool{}
	for _, s := range r.Schemas {
		switch {
		case slices.Contains(ReservedSchemas, strings.ToLower(s)) || strings.HasPrefix(strings.ToLower(s), "pg_"):
			ch.add("rest.schemas", "%q is a schema Fluxbase or PostgreSQL owns and is never exposed; list only your own schemas, such as public", s)
		case !validName(s):
			ch.add("rest.schemas", "%q is not a valid schema name; use letters, digits and _ (at most 63 bytes)", s)
		case seen[s]:
			ch.add("rest.schemas", "%q is listed twice", s)
		}
		seen[s] = true
	}
	if r.MaxRows < 0 {
		ch.add("rest.max_rows", "must not be negative; use 0 for no cap, or a number such as 1000")
	}
	if r.MaxEmbedDepth < 1 || r.MaxEmbedDepth > 32 {
		ch.add("rest.max_embed_depth", "must be between 1 and 32, such as 8")
	}
	for _, s := range r.ExtraSearchPath {
		if !validName(s) {
			ch.add("rest.extra_search_path", "%q is not a valid schema name; use letters, digits and _, such as public, extensions", s)
		}
	}
	if _, _, ok := r.PreRequestFunction(); r.PreRequest != "" && !ok {
		ch.add("rest.pre_request", "%q is not a function name; use schema.function, such as public.check_request", r.PreRequest)
	}
	for _, e := range r.StatementTimeouts {
		role, val, ok := strings.Cut(e, "=")
		role, val = strings.TrimSpace(role), strings.TrimSpace(val)
		if !ok || len(role) > 63 || !roleRE.MatchString(role) {
			ch.add("rest.statement_timeouts", "%q is not role=duration; use entries such as anon=8s", e)
			continue
		}
		d, err := time.ParseDuration(val)
		if err != nil || d < 0 {
			ch.add("rest.statement_timeouts", "%q: %q is not a duration; use a number with a unit, such as anon=8s (0s for no limit)", e, val)
		}
	}
}
