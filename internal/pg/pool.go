package pg

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/config"
)

// Defaults used when the corresponding DatabaseConfig field is zero.
const (
	DefaultConnectTimeout    = 10 * time.Second
	DefaultAuthenticatorRole = "authenticator"
	DefaultMaxConnLifetime   = time.Hour
	DefaultMaxConnIdleTime   = 10 * time.Minute
	DefaultHealthCheckPeriod = 30 * time.Second

	// attemptTimeout bounds one connection attempt (dial, TLS, startup,
	// authentication) unless the DSN sets connect_timeout.
	attemptTimeout = 5 * time.Second
	// applicationName shows Fluxbase's sessions in pg_stat_activity.
	applicationName = "fluxbase"
	// authenticatorSecret names the authenticator's password in
	// fluxbase.secrets.
	authenticatorSecret = "authenticator_password"
)

// LockKeyAuthenticator is the advisory lock key that serializes resetting
// the authenticator's password. Session-level advisory locks are scoped to
// the current database, so it only serializes the instances sharing one.
const LockKeyAuthenticator int64 = 0x466c7578_00000002

// DB holds Fluxbase's two connection pools.
//
// Admin logs in as the role of the configured DSN (owner or superuser) and
// serves migrations and Fluxbase's internal state. API logs in as the
// NOINHERIT authenticator role and serves request transactions only (see
// InRequestTx); it is nil until ConnectAPI succeeds.
type DB struct {
	Admin *pgxpool.Pool
	API   *pgxpool.Pool

	cfg      config.DatabaseConfig
	adminCfg *pgxpool.Config
	sizes    poolSizes
	log      *slog.Logger
	// apiSearchPath is the API pool's search_path (SetAPISearchPath);
	// empty keeps the admin pool's. dsnSearchPath says that the DSN sets
	// one, which wins.
	apiSearchPath string
	dsnSearchPath bool
}

// SetAPISearchPath makes schemas the search_path of the API pool's
// connections, which request transactions start with: the REST engine's
// extra search path (rest.extra_search_path), as PostgREST sets it. A
// search_path given in the DSN wins. Call it before ConnectAPI.
func (db *DB) SetAPISearchPath(schemas []string) {
	ids := make([]string, len(schemas))
	for i, s := range schemas {
		ids[i] = pgx.Identifier{s}.Sanitize()
	}
	db.apiSearchPath = strings.Join(ids, ", ")
}

// PoolStats are snapshots of both pools for metrics. API is nil before
// ConnectAPI.
type PoolStats struct {
	Admin *pgxpool.Stat
	API   *pgxpool.Stat
}

type poolSizes struct {
	adminMax, adminMin, apiMax, apiMin int32
}

// sizesFor splits the connection budget between the pools. cfg.MaxConns is
// the budget of the whole process; zero means max(10, 4×GOMAXPROCS) capped
// at 40, which keeps a handful of replicas within PostgreSQL's default
// max_connections of 100. Request transactions get two thirds, the admin
// pool the rest; each pool gets at least 2. cfg.MinConns is kept warm in
// the API pool; the admin pool keeps at most one warm connection.
func sizesFor(cfg config.DatabaseConfig) poolSizes {
	total := cfg.MaxConns
	if total <= 0 {
		total = min(max(10, 4*int32(runtime.GOMAXPROCS(0))), 40)
	}
	api := max(2, total*2/3)
	admin := max(2, total-api)
	s := poolSizes{adminMax: admin, apiMax: api}
	if cfg.MinConns > 0 {
		s.apiMin = min(cfg.MinConns, api)
		s.adminMin = 1
	}
	return s
}

// Connect opens the admin pool on adminDSN and waits until PostgreSQL
// answers, retrying with exponential backoff and jitter while the server is
// unreachable or starting up, for at most cfg.ConnectTimeout (default 10 s).
// Errors that waiting cannot fix (wrong password, missing database, malformed
// URL, TLS failures) fail at once. Every error is one line that names the
// server, database and user, never the password.
func Connect(ctx context.Context, cfg config.DatabaseConfig, adminDSN string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	external := cfg.URL != ""
	pcfg, err := pgxpool.ParseConfig(adminDSN)
	if err != nil {
		return nil, parseConfigError(adminDSN, err, external)
	}
	sizes := sizesFor(cfg)
	dsnSearchPath := hasSearchPath(pcfg.ConnConfig)
	tunePool(pcfg, cfg, sizes.adminMax, sizes.adminMin)

	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("cannot create the PostgreSQL pool for %s: %w", describeTarget(pcfg.ConnConfig), err)
	}
	timeout := cfg.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	if err := waitReady(ctx, pool, pcfg.ConnConfig, timeout, external, log); err != nil {
		pool.Close()
		return nil, err
	}
	log.Info("connected to PostgreSQL", "server", hostPort(pcfg.ConnConfig),
		"database", pcfg.ConnConfig.Database, "user", pcfg.ConnConfig.User, "max_conns", sizes.adminMax)
	return &DB{Admin: pool, cfg: cfg, adminCfg: pcfg, sizes: sizes, log: log, dsnSearchPath: dsnSearchPath}, nil
}

// tunePool applies Fluxbase's pool settings on top of what the DSN says.
// Pool sizes and lifetimes come from the configuration (pool_* DSN
// parameters are ignored); connect_timeout, application_name and
// search_path given in the DSN win over Fluxbase's defaults.
func tunePool(p *pgxpool.Config, cfg config.DatabaseConfig, maxConns, minConns int32) {
	p.MaxConns = maxConns
	p.MinConns = minConns
	p.MaxConnLifetime = orDefault(cfg.MaxConnLifetime, DefaultMaxConnLifetime)
	// Jitter spreads reconnects so that a pool never recycles all at once.
	p.MaxConnLifetimeJitter = p.MaxConnLifetime / 10
	p.MaxConnIdleTime = orDefault(cfg.MaxConnIdleTime, DefaultMaxConnIdleTime)
	p.HealthCheckPeriod = orDefault(cfg.HealthCheckPeriod, DefaultHealthCheckPeriod)
	p.PingTimeout = attemptTimeout
	cc := p.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = attemptTimeout
		if cfg.ConnectTimeout > 0 && cfg.ConnectTimeout < attemptTimeout {
			cc.ConnectTimeout = cfg.ConnectTimeout
		}
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = applicationName
	}
	// PostgreSQL's default search_path starts with "$user": for a login
	// role named like one of Fluxbase's schemas (a DATABASE_URL user called
	// "fluxbase" or "auth", say), unqualified CREATE TABLE in the user's
	// migrations would land in that schema instead of public.
	if !hasSearchPath(cc) {
		cc.RuntimeParams["search_path"] = defaultSearchPath
	}
}

// hasSearchPath reports whether cc's DSN sets a search_path.
func hasSearchPath(cc *pgx.ConnConfig) bool {
	_, ok := cc.RuntimeParams["search_path"]
	return ok || strings.Contains(cc.RuntimeParams["options"], "search_path")
}

// defaultSearchPath is the search_path tunePool gives a pool whose DSN
// sets none.
const defaultSearchPath = "public"

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// waitReady pings until the server answers, timeout passes or the error is
// one that waiting cannot fix.
func waitReady(ctx context.Context, pool *pgxpool.Pool, cc *pgx.ConnConfig, timeout time.Duration, external bool, log *slog.Logger) error {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	var last error
	for attempt := 1; ; attempt++ {
		err := pool.Ping(wctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("connecting to PostgreSQL at %s: %w", describeTarget(cc), ctx.Err())
		}
		if wctx.Err() != nil && last != nil {
			// The final attempt was cut by the deadline: the previous error
			// says more about why than "context deadline exceeded".
			err = last
		}
		if !retryableStartupError(err) {
			return startupError(cc, err, external)
		}
		last = err
		// Keep trying until the deadline, leaving the last attempt a moment.
		remaining := timeout - time.Since(start) - 100*time.Millisecond
		if remaining <= 0 {
			return unreachableError(cc, err, timeout, external)
		}
		wait := min(jitter(backoff), remaining)
		level := slog.LevelInfo
		if time.Since(start) > 5*time.Second {
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "waiting for PostgreSQL", "server", hostPort(cc), "attempt", attempt,
			"reason", rootCause(err), "retry_in", wait.Round(time.Millisecond).String())
		select {
		case <-time.After(wait):
		case <-wctx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("connecting to PostgreSQL at %s: %w", describeTarget(cc), ctx.Err())
			}
			return unreachableError(cc, err, timeout, external)
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// jitter returns d ± 20 %.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((mrand.Float64()*0.4-0.2)*float64(d))
}

// retryableStartupError reports whether err may go away by waiting while
// the server comes up.
func retryableStartupError(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return isConnectionSQLState(pe.Code)
	}
	if isTLSError(err) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	return IsConnectionError(err)
}

func isTLSError(err error) bool {
	var (
		rh  tls.RecordHeaderError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		ver *tls.CertificateVerificationError
	)
	return errors.As(err, &rh) || errors.As(err, &ua) || errors.As(err, &he) ||
		errors.As(err, &ci) || errors.As(err, &ver) ||
		strings.Contains(err.Error(), "server refused TLS connection")
}

// ConnectError is returned by Connect. Its message is one line meant for the
// operator; the cause stays reachable through errors.As.
type ConnectError struct {
	Msg string
	Err error
}

func (e *ConnectError) Error() string { return e.Msg }
func (e *ConnectError) Unwrap() error { return e.Err }

// fix tells the operator where to act: the URL they configured, or for the
// embedded server, its log.
func fix(external bool, what string) string {
	if external {
		return "check " + what + " in DATABASE_URL (database.url)"
	}
	return "this is the embedded PostgreSQL: see its log in the data directory"
}

func unreachableError(cc *pgx.ConnConfig, err error, timeout time.Duration, external bool) error {
	return &ConnectError{
		Msg: fmt.Sprintf("cannot reach PostgreSQL at %s within %s: %s; %s",
			describeTarget(cc), timeout, rootCause(err), fix(external, "the host and port")),
		Err: err,
	}
}

func startupError(cc *pgx.ConnConfig, err error, external bool) error {
	target := describeTarget(cc)
	var pe *pgconn.PgError
	var msg string
	switch {
	case errors.As(err, &pe) && pe.Code == "28P01":
		msg = fmt.Sprintf("PostgreSQL at %s rejected the password of user %q; %s",
			target, cc.User, fix(external, "the user name and password"))
	case errors.As(err, &pe) && pe.Code == "3D000":
		msg = fmt.Sprintf("database %q does not exist on PostgreSQL at %s; create it (CREATE DATABASE %s) or %s",
			cc.Database, hostPort(cc), pgx.Identifier{cc.Database}.Sanitize(), fix(external, "the database name"))
	case errors.As(err, &pe) && strings.HasPrefix(pe.Code, "28"):
		msg = fmt.Sprintf("PostgreSQL at %s refused the login: %s; check pg_hba.conf on the server, or %s",
			target, oneLine(pe.Message), fix(external, "the user name"))
	case isTLSError(err):
		msg = fmt.Sprintf("cannot connect to PostgreSQL at %s: TLS failed: %s; %s",
			target, rootCause(err), fix(external, "sslmode and the certificate settings"))
	default:
		msg = fmt.Sprintf("cannot connect to PostgreSQL at %s: %s; %s", target, rootCause(err), fix(external, "the connection settings"))
	}
	return &ConnectError{Msg: msg, Err: err}
}

// parseConfigError explains a malformed DSN without echoing it: the string
// may hold a password in a place no redaction recognizes.
func parseConfigError(dsn string, err error, external bool) error {
	cause := err
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		cause = pce
		if inner := errors.Unwrap(pce); inner != nil {
			cause = inner
		}
	}
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	reason := cause.Error()
	if pce != nil && errors.Unwrap(pce) == nil {
		// The message of a ParseConfigError without cause embeds the DSN.
		reason = "malformed connection string"
		if i := strings.LastIndex(pce.Error(), ": "); i >= 0 {
			reason = pce.Error()[i+2:]
		}
	}
	reason = scrubPassword(dsn, oneLine(reason))
	where := "check DATABASE_URL (database.url)"
	if !external {
		where = "the embedded PostgreSQL's connection string is broken"
	}
	return &ConnectError{
		Msg: fmt.Sprintf("invalid PostgreSQL connection string: %s; %s", reason, where),
		Err: errors.New(reason),
	}
}

var urlPassword = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*:([^@]*)@`)
var kvPassword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// scrubPassword removes the DSN's password from s in case a parser quoted it.
func scrubPassword(dsn, s string) string {
	var pw []string
	if m := urlPassword.FindStringSubmatch(dsn); m != nil && m[1] != "" {
		pw = append(pw, m[1])
		if u, err := url.PathUnescape(m[1]); err == nil {
			pw = append(pw, u)
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		pw = append(pw, strings.Trim(m[1], "'"))
	}
	for _, p := range pw {
		if len(p) >= 1 {
			s = strings.ReplaceAll(s, p, "xxxxx")
		}
	}
	return s
}

// describeTarget names a server for messages: host:port (database, user).
func describeTarget(cc *pgx.ConnConfig) string {
	return fmt.Sprintf("%s (database %q, user %q)", hostPort(cc), cc.Database, cc.User)
}

func hostPort(cc *pgx.ConnConfig) string {
	if strings.HasPrefix(cc.Host, "/") {
		return fmt.Sprintf("%s/.s.PGSQL.%d", strings.TrimSuffix(cc.Host, "/"), cc.Port)
	}
	return net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
}

// rootCause reduces a connection error to the part an operator acts on:
// "connection refused", "no such host", the server's message.
func rootCause(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s (SQLSTATE %s)", oneLine(pe.Message), pe.Code)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return fmt.Sprintf("cannot resolve host %q: %s", dns.Name, dns.Err)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return "connection attempt timed out"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "connection attempt timed out"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the server closed the connection"
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	return oneLine(err.Error())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ConnectAPI opens the API pool as the authenticator role. Its password is a
// random secret kept in fluxbase.secrets, so that every replica sharing the
// database agrees on it. The role's password is only changed when logging in
// with the stored secret fails: roles are cluster-wide and concurrent ALTER
// ROLE statements fail with "tuple concurrently updated", so the change is
// made once, under an advisory lock, after trying again. Migrations must have
// run. Calling ConnectAPI again once connected does nothing.
func (db *DB) ConnectAPI(ctx context.Context) error {
	if db.API != nil {
		return nil
	}
	role := db.authenticatorRole()
	if !validRoleName(role) {
		return fmt.Errorf("database.authenticator_role %q is not a valid role name: use letters, digits and underscores", role)
	}
	password, fresh, err := db.ensureSecret(ctx)
	if err != nil {
		return err
	}
	pcfg := db.adminCfg.Copy()
	if db.apiSearchPath != "" && !db.dsnSearchPath {
		pcfg.ConnConfig.RuntimeParams["search_path"] = db.apiSearchPath
	}
	pcfg.ConnConfig.User = role
	pcfg.ConnConfig.Password = password
	pcfg.MaxConns = db.sizes.apiMax
	pcfg.MinConns = db.sizes.apiMin

	// Checked before anything may change the role's password.
	if err := db.checkAuthenticator(ctx, role); err != nil {
		return err
	}
	err = tryLogin(ctx, pcfg.ConnConfig)
	if isAuthFailure(err) {
		err = db.resetAuthenticator(ctx, pcfg.ConnConfig, fresh)
	}
	if err != nil {
		return fmt.Errorf("cannot log in to PostgreSQL as %s: %s", describeTarget(pcfg.ConnConfig), rootCause(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("cannot create the API pool: %w", err)
	}
	db.API = pool
	db.log.Info("API pool ready", "role", role, "max_conns", db.sizes.apiMax)
	return nil
}

func (db *DB) authenticatorRole() string {
	if db.cfg.AuthenticatorRole != "" {
		return db.cfg.AuthenticatorRole
	}
	return DefaultAuthenticatorRole
}

// ensureSecret returns the authenticator password from fluxbase.secrets,
// creating it first if needed (fresh reports that this call created it).
// Insert-then-select (two statements) is what makes concurrent replicas
// agree: the select's snapshot is taken after any competing insert has
// committed.
func (db *DB) ensureSecret(ctx context.Context) (password string, fresh bool, err error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", false, err
	}
	tag, err := db.Admin.Exec(ctx,
		`insert into fluxbase.secrets (name, value) values ($1, $2) on conflict (name) do nothing`,
		authenticatorSecret, hex.EncodeToString(buf))
	if err != nil {
		return "", false, fmt.Errorf("cannot store the authenticator password in fluxbase.secrets (have migrations run?): %w", err)
	}
	if err := db.Admin.QueryRow(ctx, `select value from fluxbase.secrets where name = $1`, authenticatorSecret).Scan(&password); err != nil {
		return "", false, fmt.Errorf("cannot read the authenticator password from fluxbase.secrets: %w", err)
	}
	if password == "" {
		return "", false, errors.New("the authenticator password in fluxbase.secrets is empty")
	}
	return password, tag.RowsAffected() == 1, nil
}

func tryLogin(ctx context.Context, cc *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cc.Copy())
	if err != nil {
		return err
	}
	return conn.Close(context.WithoutCancel(ctx))
}

func isAuthFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000")
}

// resetAuthenticator makes the authenticator's password match the stored
// secret, creating the role if the configured one does not exist yet.
// freshSecret says the secret was just generated, so a mismatch is expected.
func (db *DB) resetAuthenticator(ctx context.Context, cc *pgx.ConnConfig, freshSecret bool) error {
	conn, err := db.Admin.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	unlock, err := advisoryLock(ctx, conn, LockKeyAuthenticator)
	if err != nil {
		return err
	}
	defer unlock()

	// Another replica may have fixed it while this one waited for the lock.
	if err := tryLogin(ctx, cc); err == nil || !isAuthFailure(err) {
		return err
	}
	role := pgx.Identifier{cc.User}.Sanitize()
	var exists bool
	if err := conn.QueryRow(ctx, `select exists (select 1 from pg_roles where rolname = $1)`, cc.User).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		db.log.Info("creating the authenticator role", "role", cc.User)
		if _, err := conn.Exec(ctx, "create role "+role+" login noinherit"); err != nil {
			return fmt.Errorf("cannot create role %s: %w", role, err)
		}
		if _, err := conn.Exec(ctx, "grant anon, authenticated, service_role to "+role); err != nil {
			return fmt.Errorf("cannot grant the API roles to %s: %w", role, err)
		}
	}
	// Only superusers can read pg_authid; others learn nothing here.
	hadPassword := false
	if exists {
		_ = conn.QueryRow(ctx, `select rolpassword is not null from pg_authid where rolname = $1`, cc.User).Scan(&hadPassword)
	}
	verifier, err := scramVerifier(cc.Password)
	if err != nil {
		return err
	}
	// A SCRAM verifier, not the password, so that statement logging on the
	// server never records the secret. It is base64 and '$', ':' only.
	stmt := "alter role " + role + " with login password '" + verifier + "'"
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, stmt)
		var pe *pgconn.PgError
		if err == nil || attempt == 4 || !errors.As(err, &pe) || pe.Code != "XX000" {
			break
		}
		// "tuple concurrently updated": another database on this cluster is
		// changing the same role.
		time.Sleep(jitter(50 * time.Millisecond))
	}
	if err != nil {
		return fmt.Errorf("cannot set the password of role %s: %w", role, err)
	}
	if freshSecret && !hadPassword {
		db.log.Info("set the authenticator role's password", "role", cc.User)
	} else {
		// The role is cluster-wide: another database's Fluxbase, or an
		// operator, set a different password.
		db.log.Warn("reset the authenticator role's password to the one stored in fluxbase.secrets; if several Fluxbase databases share this PostgreSQL cluster, give each its own database.authenticator_role",
			"role", cc.User)
	}
	return tryLogin(ctx, cc)
}

// checkAuthenticator refuses an authenticator that could escape the role
// switch: a superuser can become any role, and a role with BYPASSRLS ignores
// policies for whatever it does before switching. Sharing the admin role
// would also let Fluxbase change the admin's password. A role that does not
// exist yet passes; resetAuthenticator creates it.
func (db *DB) checkAuthenticator(ctx context.Context, role string) error {
	if role == db.adminCfg.ConnConfig.User {
		return fmt.Errorf("database.authenticator_role %q is the role Fluxbase connects as; request transactions need their own unprivileged login role (default %q)", role, DefaultAuthenticatorRole)
	}
	var super, bypass, inherit bool
	err := db.Admin.QueryRow(ctx, `select rolsuper, rolbypassrls, rolinherit from pg_roles where rolname = $1`, role).
		Scan(&super, &bypass, &inherit)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot inspect role %q: %w", role, err)
	}
	if super || bypass {
		return fmt.Errorf("database.authenticator_role %q is a superuser or has BYPASSRLS; request transactions need an unprivileged login role (default %q)", role, DefaultAuthenticatorRole)
	}
	if inherit {
		db.log.Warn("the authenticator role inherits the privileges of anon, authenticated and service_role; run ALTER ROLE ... NOINHERIT", "role", role)
	}
	return nil
}

// scramVerifier computes the SCRAM-SHA-256 verifier PostgreSQL stores for
// password (RFC 5802/7677, PostgreSQL's format).
func scramVerifier(password string) (string, error) {
	const iterations = 4096
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	server := mac(salted, "Server Key")
	b := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b(salt), b(stored[:]), b(server)), nil
}

// advisoryLock takes a session-level advisory lock on conn. The returned
// function releases it; if that fails the connection is closed, which
// releases the lock too.
func advisoryLock(ctx context.Context, conn *pgxpool.Conn, key int64) (func(), error) {
	if _, err := conn.Exec(ctx, `select pg_advisory_lock($1)`, key); err != nil {
		return nil, fmt.Errorf("cannot take advisory lock: %w", err)
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `select pg_advisory_unlock($1)`, key); err != nil {
			_ = conn.Conn().Close(uctx)
		}
	}, nil
}

// Ping checks that the admin pool reaches PostgreSQL and returns the time
// the round trip took, including acquiring a connection.
func (db *DB) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	err := db.Admin.Ping(ctx)
	return time.Since(start), err
}

// Stats returns snapshots of both pools.
func (db *DB) Stats() PoolStats {
	s := PoolStats{Admin: db.Admin.Stat()}
	if db.API != nil {
		s.API = db.API.Stat()
	}
	return s
}

// Close closes both pools, waiting for acquired connections to be released.
func (db *DB) Close() {
	if db.API != nil {
		db.API.Close()
	}
	if db.Admin != nil {
		db.Admin.Close()
	}
}
