package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// writeFile puts a fluxbase.yaml with content in a fresh directory and
// returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fluxbase.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// emptyDir makes the working directory one without a fluxbase.yaml.
func emptyDir(t *testing.T) {
	t.Helper()
	t.Chdir(t.TempDir())
}

func mustResolve(t *testing.T, opts LoadOptions) *Loaded {
	t.Helper()
	l, err := Resolve(opts)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return l
}

// problemsOf asserts err is an *Error and returns its lines.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %T: %v", err, err)
	}
	out := make([]string, len(ce.Problems))
	for i, p := range ce.Problems {
		out[i] = p.String()
	}
	return out
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestDefaults(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"http.addr", c.HTTP.Addr, "127.0.0.1:8080"},
		{"data_dir", c.DataDir, "./fluxbase_data"},
		{"http.max_body_bytes", c.HTTP.MaxBodyBytes, int64(10 << 20)},
		{"http.read_header_timeout", c.HTTP.ReadHeaderTimeout, 10 * time.Second},
		{"http.read_timeout", c.HTTP.ReadTimeout, 60 * time.Second},
		{"http.write_timeout", c.HTTP.WriteTimeout, time.Duration(0)},
		{"http.idle_timeout", c.HTTP.IdleTimeout, 120 * time.Second},
		{"http.shutdown_timeout", c.HTTP.ShutdownTimeout, 30 * time.Second},
		{"http.cors.enabled", c.HTTP.CORS.Enabled, true},
		{"http.cors.allowed_origins", c.HTTP.CORS.AllowedOrigins, []string{"*"}},
		{"http.cors.allow_credentials", c.HTTP.CORS.AllowCredentials, false},
		{"http.cors.max_age", c.HTTP.CORS.MaxAge, 24 * time.Hour},
		{"database.url", c.Database.URL, ""},
		{"database.authenticator_role", c.Database.AuthenticatorRole, "authenticator"},
		{"database.connect_timeout", c.Database.ConnectTimeout, 10 * time.Second},
		{"database.health_check_period", c.Database.HealthCheckPeriod, 30 * time.Second},
		{"database.max_conn_lifetime", c.Database.MaxConnLifetime, time.Hour},
		{"database.max_conn_idle_time", c.Database.MaxConnIdleTime, 10 * time.Minute},
		{"database.embedded.os_user", c.Database.Embedded.OSUser, "postgres"},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "auto"},
		{"auth.anonymous_access", c.Auth.AnonymousAccess, true},
		{"auth.jwt.algorithm", c.Auth.JWT.Algorithm, "ES256"},
		{"auth.jwt.secret", c.Auth.JWT.Secret, ""},
		{"auth.jwt.issuer", c.Auth.JWT.Issuer, "fluxbase"},
		{"auth.jwt.leeway", c.Auth.JWT.Leeway, 30 * time.Second},
		{"migrations.dir", c.Migrations.Dir, "./migrations"},
		{"migrations.apply_on_start", c.Migrations.ApplyOnStart, false},
		{"metrics.enabled", c.Metrics.Enabled, true},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	for _, h := range []string{"authorization", "apikey", "content-type", "prefer", "range", "accept-profile", "content-profile", "x-client-info", "x-request-id"} {
		if !slices.Contains(c.HTTP.CORS.AllowedHeaders, h) {
			t.Errorf("allowed_headers lacks %s", h)
		}
	}
	for _, h := range []string{"Content-Range", "Content-Location", "X-Request-ID"} {
		if !slices.Contains(c.HTTP.CORS.ExposedHeaders, h) {
			t.Errorf("exposed_headers lacks %s", h)
		}
	}
	if c.Database.MaxConns != 0 {
		t.Errorf("max_conns = %d, want 0 (derived by the pg package)", c.Database.MaxConns)
	}
	if !c.UsesEmbedded() {
		t.Error("zero configuration must use the embedded PostgreSQL")
	}
	if got := c.EmbeddedDataDir(); got != filepath.Join("fluxbase_data", "pg") {
		t.Errorf("EmbeddedDataDir = %q", got)
	}
	// Default must hand out independent copies.
	Default().HTTP.CORS.AllowedOrigins[0] = "https://changed.example"
	if Default().HTTP.CORS.AllowedOrigins[0] != "*" {
		t.Error("Default shares slices between calls")
	}
}

func TestNoSecretHasADefault(t *testing.T) {
	c := defaults()
	v := reflect.ValueOf(c).Elem()
	for _, f := range keys.fields {
		if f.secret != "" && !v.FieldByIndex(f.index).IsZero() {
			t.Errorf("secret %s has a default", f.key)
		}
	}
}

func TestZeroConfiguration(t *testing.T) {
	emptyDir(t)
	l := mustResolve(t, LoadOptions{})
	if !reflect.DeepEqual(l.Config, Default()) {
		t.Errorf("zero configuration differs from Default():\n%+v\n%+v", l.Config, Default())
	}
	if l.File != "" {
		t.Errorf("File = %q, want none", l.File)
	}
	for _, k := range Keys() {
		if l.Sources[k].Kind != SourceDefault {
			t.Errorf("%s: source %v, want default", k, l.Sources[k])
		}
	}
}

func TestHelpers(t *testing.T) {
	c := Default()
	c.Database.Embedded.DataDir = "/srv/pg"
	if c.EmbeddedDataDir() != "/srv/pg" {
		t.Errorf("EmbeddedDataDir ignores database.embedded.data_dir")
	}
	c.Database.URL = "postgres://x@y/z"
	if c.UsesEmbedded() {
		t.Error("UsesEmbedded with a URL")
	}
}

// newFlags mimics the CLI: string flags with defaults, bound to keys.
func newFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("http", "127.0.0.1:8080", "")
	fs.String("data-dir", "./fluxbase_data", "")
	fs.String("database-url", "", "")
	fs.String("log-level", "info", "")
	fs.String("unbound", "x", "")
	BindFlag(fs, "http", "http.addr")
	BindFlag(fs, "data-dir", "data_dir")
	BindFlag(fs, "database-url", "database.url")
	BindFlag(fs, "log-level", "log.level")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
http:
  addr: 127.0.0.1:1001
database:
  url: postgres://file@filehost/db
log:
  level: debug
data_dir: /from/file
`)
	tests := []struct {
		name    string
		env     []string
		args    []string
		key     string
		want    any
		wantSrc string
		get     func(*Config) any
	}{
		{name: "file beats default", key: "http.addr", want: "127.0.0.1:1001", wantSrc: file + ":3",
			get: func(c *Config) any { return c.HTTP.Addr }},
		{name: "env beats file", env: []string{"FLUXBASE_HTTP_ADDR=127.0.0.1:1002"}, key: "http.addr",
			want: "127.0.0.1:1002", wantSrc: "FLUXBASE_HTTP_ADDR", get: func(c *Config) any { return c.HTTP.Addr }},
		{name: "flag beats env", env: []string{"FLUXBASE_HTTP_ADDR=127.0.0.1:1002"}, args: []string{"--http", "127.0.0.1:1003"},
			key: "http.addr", want: "127.0.0.1:1003", wantSrc: "--http", get: func(c *Config) any { return c.HTTP.Addr }},
		{name: "unset flag default does not override file", args: []string{}, key: "data_dir",
			want: "/from/file", wantSrc: file + ":8", get: func(c *Config) any { return c.DataDir }},
		{name: "unset flag default does not override env", env: []string{"FLUXBASE_LOG_LEVEL=error"}, key: "log.level",
			want: "error", wantSrc: "FLUXBASE_LOG_LEVEL", get: func(c *Config) any { return c.Log.Level }},
		{name: "DATABASE_URL beats file", env: []string{"DATABASE_URL=postgres://plain@host/db"}, key: "database.url",
			want: "postgres://plain@host/db", wantSrc: "DATABASE_URL", get: func(c *Config) any { return c.Database.URL }},
		{name: "FLUXBASE_DATABASE_URL beats DATABASE_URL",
			env: []string{"DATABASE_URL=postgres://plain@host/db", "FLUXBASE_DATABASE_URL=postgres://specific@host/db"},
			key: "database.url", want: "postgres://specific@host/db", wantSrc: "FLUXBASE_DATABASE_URL",
			get: func(c *Config) any { return c.Database.URL }},
		{name: "flag beats both database URLs",
			env:  []string{"DATABASE_URL=postgres://plain@host/db", "FLUXBASE_DATABASE_URL=postgres://specific@host/db"},
			args: []string{"--database-url", "postgres://flag@host/db"}, key: "database.url", want: "postgres://flag@host/db",
			wantSrc: "--database-url", get: func(c *Config) any { return c.Database.URL }},
		{name: "explicit empty flag selects embedded", env: []string{"DATABASE_URL=postgres://plain@host/db"},
			args: []string{"--database-url="}, key: "database.url", want: "", wantSrc: "--database-url",
			get: func(c *Config) any { return c.Database.URL }},
		{name: "empty env var is ignored", env: []string{"FLUXBASE_HTTP_ADDR="}, key: "http.addr",
			want: "127.0.0.1:1001", wantSrc: file + ":3", get: func(c *Config) any { return c.HTTP.Addr }},
		{name: "untouched key stays default", key: "http.idle_timeout", want: 120 * time.Second, wantSrc: "default",
			get: func(c *Config) any { return c.HTTP.IdleTimeout }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := LoadOptions{File: file, Env: tt.env}
			if tt.args != nil {
				opts.Flags = newFlags(t, tt.args...)
			}
			l := mustResolve(t, opts)
			if got := tt.get(l.Config); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.key, got, tt.want)
			}
			if got := l.Sources[tt.key].String(); got != tt.wantSrc {
				t.Errorf("source of %s = %q, want %q", tt.key, got, tt.wantSrc)
			}
		})
	}
}

func TestConfigFileSelection(t *testing.T) {
	t.Run("default file in working directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, DefaultFile), []byte("http: {addr: '127.0.0.1:2001'}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		l := mustResolve(t, LoadOptions{})
		if l.Config.HTTP.Addr != "127.0.0.1:2001" || l.File != DefaultFile {
			t.Errorf("default file not read: addr %q file %q", l.Config.HTTP.Addr, l.File)
		}
	})
	t.Run("FLUXBASE_CONFIG names the file", func(t *testing.T) {
		emptyDir(t)
		p := writeFile(t, "http: {addr: '127.0.0.1:2002'}\n")
		l := mustResolve(t, LoadOptions{Env: []string{"FLUXBASE_CONFIG=" + p}})
		if l.Config.HTTP.Addr != "127.0.0.1:2002" || l.File != p {
			t.Errorf("FLUXBASE_CONFIG ignored: %q", l.Config.HTTP.Addr)
		}
		if slices.Contains(l.UnknownEnv, "FLUXBASE_CONFIG") {
			t.Error("FLUXBASE_CONFIG reported as unknown")
		}
	})
	t.Run("--config beats FLUXBASE_CONFIG", func(t *testing.T) {
		emptyDir(t)
		a := writeFile(t, "http: {addr: '127.0.0.1:2003'}\n")
		b := writeFile(t, "http: {addr: '127.0.0.1:2004'}\n")
		l := mustResolve(t, LoadOptions{File: b, Env: []string{"FLUXBASE_CONFIG=" + a}})
		if l.Config.HTTP.Addr != "127.0.0.1:2004" {
			t.Errorf("got %q", l.Config.HTTP.Addr)
		}
	})
	for name, opts := range map[string]LoadOptions{
		"explicit --config":        {File: "/nonexistent/fluxbase.yaml"},
		"explicit FLUXBASE_CONFIG": {Env: []string{"FLUXBASE_CONFIG=/nonexistent/fluxbase.yaml"}},
	} {
		t.Run("missing "+name+" is an error", func(t *testing.T) {
			emptyDir(t)
			_, err := Load(opts)
			if err == nil || !containsAll(err.Error(), "/nonexistent/fluxbase.yaml", "does not exist") {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("a directory is an error", func(t *testing.T) {
		emptyDir(t)
		_, err := Load(LoadOptions{File: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestEnvMapping(t *testing.T) {
	emptyDir(t)
	env := []string{
		"FLUXBASE_HTTP_ADDR=0.0.0.0:9000",
		"FLUXBASE_DATA_DIR=/var/lib/fluxbase",
		"FLUXBASE_PUBLIC_URL=https://api.example.com/",
		"FLUXBASE_DATABASE_EMBEDDED_BIN_DIR=/opt/pg/bin",
		"FLUXBASE_DATABASE_EMBEDDED_DATA_DIR=/var/lib/pg",
		"FLUXBASE_DATABASE_EMBEDDED_PORT=5433",
		"FLUXBASE_HTTP_CORS_ALLOWED_ORIGINS=https://a.example.com, https://B.example.com/ ,HTTPS://*.Example.org",
		"FLUXBASE_HTTP_CORS_ALLOW_CREDENTIALS=true",
		"FLUXBASE_HTTP_MAX_BODY_BYTES=2MiB",
		"FLUXBASE_HTTP_READ_TIMEOUT=1m30s",
		"FLUXBASE_HTTP_TRUSTED_PROXIES=10.0.0.0/8,192.0.2.1,2001:db8::1",
		"FLUXBASE_DATABASE_MAX_CONNS=12",
		"FLUXBASE_LOG_LEVEL=WARNING",
		"FLUXBASE_AUTH_ANONYMOUS_ACCESS=off",
		"FLUXBASE_AUTH_JWT_ALGORITHM=hs256",
		"FLUXBASE_AUTH_JWT_SECRET=0123456789abcdef0123456789abcdef",
		"FLUXBASE_METRICS_ENABLED=false",
		"FLUXBASE_MIGRATIONS_APPLY_ON_START=1",
		"UNRELATED=1",
	}
	c := mustResolve(t, LoadOptions{Env: env}).Config
	checks := []struct {
		key       string
		got, want any
	}{
		{"http.addr", c.HTTP.Addr, "0.0.0.0:9000"},
		{"data_dir", c.DataDir, "/var/lib/fluxbase"},
		{"public_url", c.PublicURL, "https://api.example.com"},
		{"database.embedded.bin_dir", c.Database.Embedded.BinDir, "/opt/pg/bin"},
		{"database.embedded.data_dir", c.Database.Embedded.DataDir, "/var/lib/pg"},
		{"database.embedded.port", c.Database.Embedded.Port, 5433},
		{"http.cors.allowed_origins", c.HTTP.CORS.AllowedOrigins, []string{"https://a.example.com", "https://b.example.com", "https://*.example.org"}},
		{"http.cors.allow_credentials", c.HTTP.CORS.AllowCredentials, true},
		{"http.max_body_bytes", c.HTTP.MaxBodyBytes, int64(2 << 20)},
		{"http.read_timeout", c.HTTP.ReadTimeout, 90 * time.Second},
		{"http.trusted_proxies", c.HTTP.TrustedProxies, []string{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::1/128"}},
		{"database.max_conns", c.Database.MaxConns, int32(12)},
		{"log.level", c.Log.Level, "warn"},
		{"auth.anonymous_access", c.Auth.AnonymousAccess, false},
		{"auth.jwt.algorithm", c.Auth.JWT.Algorithm, "HS256"},
		{"metrics.enabled", c.Metrics.Enabled, false},
		{"migrations.apply_on_start", c.Migrations.ApplyOnStart, true},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.key, ch.got, ch.want)
		}
	}
}

func TestEveryKeyHasADistinctEnvVar(t *testing.T) {
	seen := map[string]string{}
	for _, k := range Keys() {
		e := EnvVar(k)
		if other, dup := seen[e]; dup {
			t.Errorf("%s and %s both map to %s", k, other, e)
		}
		seen[e] = k
		if keys.byEnv[e] == nil || keys.byEnv[e].key != k {
			t.Errorf("%s does not map back to %s", e, k)
		}
	}
}

func TestUnknownEnv(t *testing.T) {
	emptyDir(t)
	l := mustResolve(t, LoadOptions{Env: []string{
		"FLUXBASE_ANON_KEY=eyJ...",
		"FLUXBASE_SERVICE_ROLE_KEY=eyJ...",
		"FLUXBASE_HTTP_ADR=0.0.0.0:1",
		"FLUXBASE_LOG_LEVL=debug",
		"FLUXBASE_ADDR=0.0.0.0:2",
	}})
	wantUnknown := []string{"FLUXBASE_ADDR", "FLUXBASE_ANON_KEY", "FLUXBASE_HTTP_ADR", "FLUXBASE_LOG_LEVL", "FLUXBASE_SERVICE_ROLE_KEY"}
	if !reflect.DeepEqual(l.UnknownEnv, wantUnknown) {
		t.Errorf("UnknownEnv = %v, want %v", l.UnknownEnv, wantUnknown)
	}
	warnings := strings.Join(l.Warnings, "\n")
	for _, want := range []string{
		"FLUXBASE_HTTP_ADR is not a Fluxbase setting and is ignored; did you mean FLUXBASE_HTTP_ADDR?",
		"FLUXBASE_LOG_LEVL is not a Fluxbase setting and is ignored; did you mean FLUXBASE_LOG_LEVEL?",
		"FLUXBASE_ADDR is not a Fluxbase setting and is ignored; did you mean FLUXBASE_HTTP_ADDR?",
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q:\n%s", want, warnings)
		}
	}
	if strings.Contains(warnings, "ANON_KEY") || strings.Contains(warnings, "SERVICE_ROLE_KEY") {
		t.Errorf("client variables should not be reported as typos:\n%s", warnings)
	}
	if l.Config.HTTP.Addr != "127.0.0.1:8080" {
		t.Errorf("a misspelt variable changed http.addr to %q", l.Config.HTTP.Addr)
	}
}

func TestConflictingDatabaseURLsWarn(t *testing.T) {
	emptyDir(t)
	l := mustResolve(t, LoadOptions{Env: []string{
		"DATABASE_URL=postgres://a:secretA@h/db", "FLUXBASE_DATABASE_URL=postgres://b:secretB@h/db",
	}})
	w := strings.Join(l.Warnings, "\n")
	if !containsAll(w, "DATABASE_URL", "FLUXBASE_DATABASE_URL", "using FLUXBASE_DATABASE_URL") {
		t.Errorf("no conflict warning: %q", w)
	}
	if strings.Contains(w, "secretA") || strings.Contains(w, "secretB") {
		t.Errorf("warning leaks a password: %q", w)
	}
}

func TestFileProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of one problem line each, in order
	}{
		{"unknown key with suggestion", "http:\n  adr: 127.0.0.1:1\n",
			[]string{"http.adr: unknown key; did you mean http.addr? (in FILE:2)"}},
		{"unknown top-level key", "colour: blue\n",
			[]string{"colour: unknown key; valid top-level keys are data_dir, public_url, http, database"}},
		{"section given at the wrong level", "cors:\n  enabled: false\n",
			[]string{"cors: unknown key; did you mean http.cors? (in FILE:1)"}},
		{"misspelt section", "databse:\n  url: postgres://h/db\n",
			[]string{"databse: unknown key; did you mean database? (in FILE:1)"}},
		{"unknown key deep, no close match", "http:\n  cors:\n    zzz: 1\n",
			[]string{"http.cors.zzz: unknown key; valid keys in http.cors are enabled, allowed_origins"}},
		{"several unknown keys reported together", "http:\n  adr: x\nlog:\n  levle: debug\n",
			[]string{"http.adr: unknown key", "log.levle: unknown key; did you mean log.level? (in FILE:4)"}},
		{"scalar where a section belongs", "http: 8080\n",
			[]string{"http: is a section; expected a mapping of its settings (addr, max_body_bytes"}},
		{"mapping where a value belongs", "http:\n  addr:\n    host: x\n",
			[]string{"http.addr: expected a value, got a mapping (in FILE:3)"}},
		{"list where a value belongs", "log:\n  level: [debug]\n",
			[]string{"log.level: expected a single value, got a list (in FILE:2)"}},
		{"duplicate key", "log:\n  level: debug\n  level: info\n",
			[]string{"log.level: is set twice (first on line 2); keep one (in FILE:3)"}},
		{"top level not a mapping", "- a\n- b\n",
			[]string{"FILE:1: the top level must be a mapping"}},
		{"malformed YAML names file and line", "log:\n  level: info\n  format: json: text\n",
			[]string{"FILE:3: invalid YAML: "}},
		{"tab indentation", "http:\n\taddr: x\n",
			[]string{"FILE:2: invalid YAML: found character that cannot start any token"}},
		{"type error names the key", "database:\n  max_conns: lots\n",
			[]string{`database.max_conns: "lots" is not a whole number (in FILE:2)`}},
		{"duration without unit", "http:\n  read_timeout: 30\n",
			[]string{`http.read_timeout: "30" has no unit; write a duration such as 30s`}},
		{"bad duration", "http:\n  idle_timeout: soon\n",
			[]string{`http.idle_timeout: "soon" is not a duration`}},
		{"bad bool", "metrics:\n  enabled: maybe\n",
			[]string{`metrics.enabled: "maybe" is not a boolean; use true or false (in FILE:2)`}},
		{"bad size", "http:\n  max_body_bytes: 10 parsecs\n",
			[]string{`http.max_body_bytes: "10 parsecs" is not a size`}},
		{"int32 overflow", "database:\n  max_conns: 99999999999\n",
			[]string{"database.max_conns: 99999999999 is too large"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.yaml)
			_, err := Load(LoadOptions{File: path})
			if err == nil {
				t.Fatal("no error")
			}
			lines := problemsOf(t, err)
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				w = strings.ReplaceAll(w, "FILE", path)
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q\nwant it to contain %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestFileValues(t *testing.T) {
	path := writeFile(t, `
# comments, anchors, nulls and empty sections are all fine
data_dir: /srv/fluxbase
http:
  addr: "[::1]:8080"
  max_body_bytes: 1048576
  read_timeout: 2m
  trusted_proxies: [10.0.0.0/8]
  cors:
    allowed_origins: &origins
      - https://app.example.com
    exposed_headers: []
database:
  url:
  max_conns: 0
  min_conns: 2
log: {}
metrics:
migrations:
  dir: db/migrations
  apply_on_start: yes
`)
	l := mustResolve(t, LoadOptions{File: path})
	c := l.Config
	if c.DataDir != "/srv/fluxbase" || c.HTTP.Addr != "[::1]:8080" || c.HTTP.MaxBodyBytes != 1<<20 ||
		c.HTTP.ReadTimeout != 2*time.Minute || c.Migrations.Dir != "db/migrations" || !c.Migrations.ApplyOnStart {
		t.Errorf("values not read: %+v", c)
	}
	if !reflect.DeepEqual(c.HTTP.CORS.AllowedOrigins, []string{"https://app.example.com"}) {
		t.Errorf("allowed_origins = %v", c.HTTP.CORS.AllowedOrigins)
	}
	if len(c.HTTP.CORS.ExposedHeaders) != 0 {
		t.Errorf("an explicit empty list must clear the default, got %v", c.HTTP.CORS.ExposedHeaders)
	}
	if c.Database.URL != "" || c.Database.MinConns != 2 || c.Database.MaxConns != 0 {
		t.Errorf("database = %+v", c.Database)
	}
	if c.Metrics.Enabled != true || c.Log.Level != "info" {
		t.Error("empty sections must keep defaults")
	}
	if got := l.Sources["http.read_timeout"]; got.Kind != SourceFile || got.Line != 7 {
		t.Errorf("source of http.read_timeout = %+v", got)
	}
}

func TestInvalidValues(t *testing.T) {
	emptyDir(t)
	tests := []struct {
		env  string
		want string
	}{
		{"FLUXBASE_HTTP_ADDR=abc", `http.addr: "abc" is not a valid listen address; use host:port such as 127.0.0.1:8080, or :8080 for every interface (from FLUXBASE_HTTP_ADDR)`},
		{"FLUXBASE_HTTP_ADDR=127.0.0.1:99999", `http.addr: "127.0.0.1:99999" is not a valid listen address`},
		{"FLUXBASE_HTTP_ADDR=bad_host!:80", `http.addr: "bad_host!:80" is not a valid listen address`},
		{"FLUXBASE_DATA_DIR= ", ""}, // blank is unset: no problem
		{"FLUXBASE_PUBLIC_URL=api.example.com", `public_url: "api.example.com" is not an absolute http(s) URL`},
		{"FLUXBASE_PUBLIC_URL=https://api.example.com/?x=1", `public_url: "https://api.example.com/?x=1" must not contain credentials, a query or a fragment`},
		{"FLUXBASE_HTTP_MAX_BODY_BYTES=0", "http.max_body_bytes: must be greater than 0; use a size such as 10MiB"},
		{"FLUXBASE_HTTP_READ_HEADER_TIMEOUT=0s", "http.read_header_timeout: must be greater than 0"},
		{"FLUXBASE_HTTP_READ_TIMEOUT=-1s", "http.read_timeout: must not be negative"},
		{"FLUXBASE_HTTP_SHUTDOWN_TIMEOUT=0", "http.shutdown_timeout: must be greater than 0"},
		{"FLUXBASE_HTTP_TRUSTED_PROXIES=10.0.0.0/33", `http.trusted_proxies: "10.0.0.0/33" is not a network`},
		{"FLUXBASE_HTTP_TRUSTED_PROXIES=proxy.local", `http.trusted_proxies: "proxy.local" is not a network`},
		{"FLUXBASE_HTTP_CORS_ALLOWED_ORIGINS=https://app.example.com/path", `http.cors.allowed_origins: "https://app.example.com/path" is not an origin`},
		{"FLUXBASE_HTTP_CORS_ALLOWED_ORIGINS=app.example.com", `http.cors.allowed_origins: "app.example.com" is not an origin`},
		{"FLUXBASE_HTTP_CORS_ALLOWED_ORIGINS=https://*.com", `http.cors.allowed_origins: "https://*.com" is not an origin`},
		{"FLUXBASE_HTTP_CORS_ALLOWED_ORIGINS=https://a.*.example.com", `http.cors.allowed_origins: "https://a.*.example.com" is not an origin`},
		{"FLUXBASE_HTTP_CORS_ALLOWED_ORIGINS=https://*.*.example.com", `http.cors.allowed_origins: "https://*.*.example.com" is not an origin`},
		{"FLUXBASE_HTTP_CORS_ALLOWED_ORIGINS=https://*.example.com/x", `http.cors.allowed_origins: "https://*.example.com/x" is not an origin`},
		{"FLUXBASE_HTTP_CORS_ALLOWED_ORIGINS=https://*.example.com:8443,null,http://localhost:3000", ""},
		{"FLUXBASE_HTTP_CORS_ALLOW_CREDENTIALS=true", `http.cors.allow_credentials: cannot be true while http.cors.allowed_origins contains "*"`},
		{"FLUXBASE_HTTP_CORS_ALLOWED_METHODS=GET,PO ST", `http.cors.allowed_methods: "PO ST" is not an HTTP method`},
		{"FLUXBASE_HTTP_CORS_ALLOWED_HEADERS=x-ok,x:bad", `http.cors.allowed_headers: "x:bad" is not a header name`},
		{"FLUXBASE_HTTP_CORS_MAX_AGE=-1h", "http.cors.max_age: must not be negative"},
		{"FLUXBASE_DATABASE_URL=mysql://u@h/db", `database.url: has scheme "mysql", which is not PostgreSQL`},
		{"FLUXBASE_DATABASE_URL=postgres://u@h:notaport/db", "database.url: is not a valid PostgreSQL connection string"},
		{"FLUXBASE_DATABASE_AUTHENTICATOR_ROLE=Bad-Role", `database.authenticator_role: "Bad-Role" is not a valid role name`},
		{"FLUXBASE_DATABASE_AUTHENTICATOR_ROLE=pg_auth", `database.authenticator_role: "pg_auth" is reserved by PostgreSQL`},
		{"FLUXBASE_DATABASE_AUTHENTICATOR_ROLE=anon", `database.authenticator_role: "anon" is a role with another purpose`},
		{"FLUXBASE_DATABASE_MAX_CONNS=-1", "database.max_conns: must not be negative"},
		{"FLUXBASE_DATABASE_MIN_CONNS=100", ""}, // max_conns 0 is derived by the pool, which caps min_conns
		{"FLUXBASE_DATABASE_HEALTH_CHECK_PERIOD=0s", "database.health_check_period: must be greater than 0"},
		{"FLUXBASE_DATABASE_CONNECT_TIMEOUT=0s", "database.connect_timeout: must be greater than 0"},
		{"FLUXBASE_DATABASE_STATEMENT_TIMEOUT=-5s", "database.statement_timeout: must not be negative"},
		{"FLUXBASE_DATABASE_EMBEDDED_PORT=70000", "database.embedded.port: 70000 is not a TCP port"},
		{"FLUXBASE_DATABASE_EMBEDDED_OS_USER=root user", `database.embedded.os_user: "root user" is not a valid system user name`},
		{"FLUXBASE_LOG_LEVEL=loud", `log.level: "loud" is not a log level; use debug, info, warn or error (from FLUXBASE_LOG_LEVEL)`},
		{"FLUXBASE_LOG_FORMAT=xml", `log.format: "xml" is not a log format`},
		{"FLUXBASE_AUTH_JWT_ALGORITHM=RS256", `auth.jwt.algorithm: "RS256" is not supported; use ES256`},
		{"FLUXBASE_AUTH_JWT_ALGORITHM=HS256", "auth.jwt.secret: is required when auth.jwt.algorithm is HS256; set a random string of at least 32 bytes, such as the output of: openssl rand -base64 48 (set in fluxbase.yaml or FLUXBASE_AUTH_JWT_SECRET)"},
		{"FLUXBASE_AUTH_JWT_SECRET=short-secret", "auth.jwt.secret: is 12 bytes long; it must be at least 32 bytes"},
		{"FLUXBASE_AUTH_JWT_SECRET=super-secret-jwt-token-with-at-least-32-characters-long", "auth.jwt.secret: is a publicly known example secret"},
		{"FLUXBASE_AUTH_JWT_ISSUER= \t", ""}, // blank env is unset
		{"FLUXBASE_AUTH_JWT_LEEWAY=1h", "auth.jwt.leeway: must be between 0 and 5m"},
		{"FLUXBASE_AUTH_ANONYMOUS_ACCESS=sometimes", `auth.anonymous_access: "sometimes" is not a boolean`},
		{"FLUXBASE_STORAGE_RESUMABLE_EXPIRY=30s", "storage.resumable_expiry: must be at least 1m"},
		{"FLUXBASE_STORAGE_IMAGE_MAX_SOURCE_BYTES=0", "storage.image.max_source_bytes: must be greater than 0"},
		{"FLUXBASE_STORAGE_IMAGE_MAX_SOURCE_PIXELS=-1", "storage.image.max_source_pixels: must be greater than 0"},
		{"FLUXBASE_STORAGE_IMAGE_MAX_SOURCE_SIDE=0", "storage.image.max_source_side: must be from 1 to"},
		{"FLUXBASE_STORAGE_IMAGE_MAX_OUTPUT_SIDE=99999999", "storage.image.max_output_side: must be from 1 to"},
		{"FLUXBASE_STORAGE_IMAGE_CACHE_BYTES=0", ""},
		{"FLUXBASE_STORAGE_IMAGE_CACHE_BYTES=-1", "storage.image.cache_bytes: must not be negative"},
		{"FLUXBASE_STORAGE_IMAGE_DECODE_CONCURRENCY=0", "storage.image.decode_concurrency: must be from 1 to 256"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, err := Load(LoadOptions{Env: []string{tt.env}})
			if tt.want == "" {
				if err != nil && !strings.Contains(tt.env, "ISSUER") {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			lines := problemsOf(t, err)
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Errorf("got:\n%s\nwant one problem containing:\n%s", err, tt.want)
			}
			if strings.Contains(tt.env, "SECRET=") {
				secret := strings.SplitN(tt.env, "=", 2)[1]
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error echoes the secret: %s", err)
				}
			}
		})
	}
}

func TestValidateOnHandBuiltConfig(t *testing.T) {
	c := Default()
	c.Auth.JWT.Issuer = ""
	c.Migrations.Dir = ""
	c.DataDir = ""
	err := c.Validate()
	lines := problemsOf(t, err)
	want := []string{
		"data_dir: must not be empty",
		"auth.jwt.issuer: must not be empty",
		"migrations.dir: must not be empty",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d problems:\n%s", len(lines), err)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("problem %d = %q, want prefix %q", i, lines[i], want[i])
		}
	}
	if !strings.Contains(lines[0], "(set in fluxbase.yaml or FLUXBASE_DATA_DIR)") {
		t.Errorf("problem without a source should say where to set it: %q", lines[0])
	}
}

func TestMinConnsAboveMaxConns(t *testing.T) {
	emptyDir(t)
	_, err := Load(LoadOptions{Env: []string{"FLUXBASE_DATABASE_MAX_CONNS=5", "FLUXBASE_DATABASE_MIN_CONNS=10"}})
	lines := problemsOf(t, err)
	if len(lines) != 1 || !strings.Contains(lines[0], "database.min_conns: (10) is larger than database.max_conns (5)") {
		t.Errorf("got %v", lines)
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	path := writeFile(t, "http:\n  addr: nope\n  adr: x\nlog:\n  level: loud\ndatabase:\n  max_conns: lots\n")
	_, err := Load(LoadOptions{File: path, Env: []string{"FLUXBASE_LOG_FORMAT=xml"}, Flags: newFlags(t, "--http", "also-bad")})
	lines := problemsOf(t, err)
	joined := strings.Join(lines, "\n")
	for _, want := range []string{
		"http.adr: unknown key",
		`database.max_conns: "lots" is not a whole number`,
		`http.addr: "also-bad" is not a valid listen address; use host:port such as 127.0.0.1:8080, or :8080 for every interface (from --http)`,
		`log.level: "loud" is not a log level; use debug, info, warn or error (in ` + path + `:5)`,
		`log.format: "xml" is not a log format`,
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in:\n%s", want, joined)
		}
	}
	if len(lines) != 5 {
		t.Errorf("got %d problems, want 5:\n%s", len(lines), joined)
	}
}

func TestDatabaseURLProblemsDoNotLeakPasswords(t *testing.T) {
	emptyDir(t)
	const pw = "hunter2-very-secret"
	for _, u := range []string{
		"postgres://app:" + pw + "@db.example.com:notaport/app",
		"postgres://app:" + pw + "@db.example.com:5432/app?sslmode=bogus",
		"postgres://app:" + pw + "@[::1/app",
		"postgres://app@db.example.com/app?password=" + pw + "&connect_timeout=abc",
		"host=db.example.com password=" + pw + " port=nope",
		"host=db.example.com password='" + pw + "' sslmode=bogus",
		"host=db.example.com password=" + pw + " 'unterminated",
	} {
		t.Run(u, func(t *testing.T) {
			_, err := Load(LoadOptions{Env: []string{"DATABASE_URL=" + u}})
			if err == nil {
				t.Fatal("no error for an invalid URL")
			}
			msg := err.Error()
			if strings.Contains(msg, pw) {
				t.Errorf("message leaks the password: %s", msg)
			}
			if !containsAll(msg, "database.url:", "(from DATABASE_URL)", "postgres://user:password@host:5432/dbname") {
				t.Errorf("message does not explain: %s", msg)
			}
		})
	}
}

func TestRedaction(t *testing.T) {
	const pw, secret = "p4ss-w0rd-xyz", "0123456789abcdef0123456789abcdef-topsecret"
	c := Default()
	c.Database.URL = "postgres://app:" + pw + "@db.example.com:5432/app?sslmode=require"
	c.Auth.JWT.Secret = secret

	m := c.Redacted()
	if got := m["database"].(map[string]any)["url"]; got != "postgres://app:[redacted]@db.example.com:5432/app?sslmode=require" {
		t.Errorf("database.url = %v", got)
	}
	if got := m["auth"].(map[string]any)["jwt"].(map[string]any)["secret"]; got != "[redacted]" {
		t.Errorf("auth.jwt.secret = %v", got)
	}
	if got := m["http"].(map[string]any)["read_timeout"]; got != "1m" {
		t.Errorf("durations should print as people write them, got %v", got)
	}
	if got := m["http"].(map[string]any)["max_body_bytes"]; got != "10MiB" {
		t.Errorf("sizes should print with a unit, got %v", got)
	}
	y, err := c.RedactedYAML(nil)
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.RedactedJSON()
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"yaml": string(y), "json": string(j)} {
		if strings.Contains(out, pw) || strings.Contains(out, secret) {
			t.Errorf("%s output leaks a secret:\n%s", name, out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s output shows no redaction:\n%s", name, out)
		}
	}
	// An unset secret shows as empty, not as "[redacted]", so that the
	// output does not suggest one is configured.
	if Default().Redacted()["auth"].(map[string]any)["jwt"].(map[string]any)["secret"] != "" {
		t.Error("an empty secret should print empty")
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://app:pw@h/db", "postgres://app:[redacted]@h/db"},
		{"postgresql://app@h:5432/db", "postgresql://app@h:5432/db"},
		{"postgres://h/db", "postgres://h/db"},
		{"postgres://app:p@ss/w@h/db?sslmode=require", "postgres://app:[redacted]@h/db?sslmode=require"},
		{"postgres://app@h/db?password=pw&sslpassword=x&sslmode=verify-full", "postgres://app@h/db?password=[redacted]&sslpassword=[redacted]&sslmode=verify-full"},
		{"postgres://a:pw@h1:5432,h2:5433/db", "postgres://a:[redacted]@h1:5432,h2:5433/db"},
		{"host=h user=app password=pw dbname=db", "host=h user=app password=[redacted] dbname=db"},
		{"host=h password = 'a b\\'c' dbname=db", "host=h password = [redacted] dbname=db"},
		{"host=h sslpassword=x", "host=h sslpassword=[redacted]"},
	}
	for _, tt := range tests {
		if got := RedactDSN(tt.in); got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The printed configuration must load back to the same configuration, so
// that `fluxbase config > fluxbase.yaml` is a starting point.
func TestRedactedYAMLRoundTrip(t *testing.T) {
	emptyDir(t)
	c := Default()
	c.HTTP.Addr = ":9090"
	c.HTTP.CORS.AllowedOrigins = []string{"https://a.example.com", "http://localhost:3000"}
	c.HTTP.CORS.AllowCredentials = true
	c.HTTP.CORS.ExposedHeaders = []string{}
	c.HTTP.TrustedProxies = []string{"10.0.0.0/8"}
	c.HTTP.MaxBodyBytes = 1234567
	c.HTTP.WriteTimeout = 90 * time.Second
	c.Database.URL = "postgres://app@db.example.com/app"
	c.Log.Format = "json"
	c.PublicURL = "https://api.example.com"
	y, err := c.RedactedYAML(map[string]Source{"http.addr": {Kind: SourceEnv, Name: "FLUXBASE_HTTP_ADDR"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "addr: :9090 # from FLUXBASE_HTTP_ADDR") {
		t.Errorf("source comment missing:\n%s", y)
	}
	path := writeFile(t, string(y))
	got, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatalf("printed YAML does not load:\n%s\n%v", y, err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v\nyaml:\n%s", got, c, y)
	}
	j, err := c.RedactedJSON()
	if err != nil {
		t.Fatal(err)
	}
	// JSON keeps the file order too: data_dir first, metrics last.
	if !strings.HasPrefix(string(j), "{\n  \"data_dir\"") || strings.Index(string(j), "\"metrics\"") < strings.Index(string(j), "\"migrations\"") {
		t.Errorf("JSON not in file order:\n%s", j)
	}
}

func TestBindFlag(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("a", "", "")
	BindFlag(fs, "a", "http.addr")
	if FlagKey(fs.Lookup("a")) != "http.addr" {
		t.Error("FlagKey does not return the bound key")
	}
	for name, fn := range map[string]func(){
		"unknown key":  func() { BindFlag(fs, "a", "http.nope") },
		"missing flag": func() { BindFlag(fs, "nope", "http.addr") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			fn()
		})
	}
}

func TestTwoFlagsForOneKey(t *testing.T) {
	emptyDir(t)
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("a", "", "")
	fs.String("b", "", "")
	BindFlag(fs, "a", "http.addr")
	BindFlag(fs, "b", "http.addr")
	if err := fs.Parse([]string{"--a", ":1", "--b", ":2"}); err != nil {
		t.Fatal(err)
	}
	_, err := Load(LoadOptions{Flags: fs})
	if err == nil || !strings.Contains(err.Error(), "set by both --a and --b") {
		t.Fatalf("got %v", err)
	}
}

func TestSizesAndDurations(t *testing.T) {
	sizes := map[string]int64{"0": 0, "1024": 1024, "1_000": 1000, "512KiB": 512 << 10, "10MiB": 10 << 20, "10mib": 10 << 20,
		"1GB": 1e9, "3 MB": 3e6, "7B": 7, "2GiB": 2 << 30}
	for in, want := range sizes {
		got, err := parseBytes(in)
		if err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "1.5MiB", "ten", "-", "99999999999GiB"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
	for _, n := range []int64{0, 1, 1023, 1024, 10 << 20, 3 << 30, 1234567} {
		if got, _ := parseBytes(formatBytes(n)); got != n {
			t.Errorf("formatBytes(%d) = %q does not round-trip", n, formatBytes(n))
		}
	}
	durs := map[time.Duration]string{0: "0s", time.Hour: "1h", 10 * time.Minute: "10m", 90 * time.Second: "1m30s",
		24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 1500 * time.Millisecond: "1.5s", time.Hour + time.Second: "1h0m1s"}
	for d, want := range durs {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(want); err != nil || back != d {
			t.Errorf("%q does not parse back to %v", want, d)
		}
	}
}

func TestClosestKey(t *testing.T) {
	tests := map[string]string{
		"http.adr":           "http.addr",
		"http.cors.max_agee": "http.cors.max_age",
		"database.maxconns":  "database.max_conns",
		"cors":               "http.cors",
		"jwt":                "auth.jwt",
		"leeway":             "auth.jwt.leeway",
		"completely.unknown": "",
		"x":                  "",
	}
	for in, want := range tests {
		if got := closestKey(in); got != want {
			t.Errorf("closestKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// docs/configuration.md must describe every key with its environment
// variable and its actual default, so that the documentation cannot drift
// from the code.
func TestDocsDescribeEveryKey(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatalf("reading docs: %v", err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 5 {
			continue // not a settings table
		}
		key := strings.Trim(cells[0], "`")
		if _, dup := rows[key]; dup {
			t.Errorf("docs list %s twice", key)
		}
		rows[key] = cells
	}
	def := defaults()
	v := reflect.ValueOf(def).Elem()
	for _, f := range keys.fields {
		cells, ok := rows[f.key]
		if !ok {
			t.Errorf("docs/configuration.md has no row for %s", f.key)
			continue
		}
		if cells[1] != "`"+f.env+"`" {
			t.Errorf("%s: env column %q, want `%s`", f.key, cells[1], f.env)
		}
		if want := docDefault(&f, v.FieldByIndex(f.index)); cells[3] != want {
			t.Errorf("%s: default column %q, want %q", f.key, cells[3], want)
		}
		if strings.TrimSpace(cells[4]) == "" {
			t.Errorf("%s: no description", f.key)
		}
	}
	for key := range rows {
		if !IsKey(key) {
			t.Errorf("docs describe %s, which is not a key", key)
		}
	}
}

// docDefault is how the docs write a default: in backticks, lists
// comma-separated, empty as an em dash.
func docDefault(f *field, v reflect.Value) string {
	var s string
	switch x := displayValue(f, v).(type) {
	case []string:
		s = strings.Join(x, ", ")
	default:
		s = fmt.Sprint(x)
	}
	if s == "" {
		return "—"
	}
	return "`" + s + "`"
}

func TestAuthValidation(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
	c.Auth.SiteURL = "myapp://callback"
	c.Auth.RedirectAllowList = []string{"https://*.example.com/**", "myapp://**"}
	if err := c.Validate(); err != nil {
		t.Fatalf("deep links and wildcards are allowed: %v", err)
	}
	bad := Default()
	bad.Auth.SiteURL = "app.example.com"
	bad.Auth.RedirectAllowList = []string{"/relative"}
	bad.Auth.AccessTokenTTL = time.Second
	bad.Auth.RefreshTokenReuseInterval = time.Hour
	bad.Auth.EncryptionKey = "short"
	bad.Auth.Password.MinLength = 100
	bad.Auth.Password.RequiredCharacters = []string{"emoji"}
	bad.Auth.Password.BcryptCost = 40
	bad.Auth.Hooks.CustomClaims = "drop table x"
	bad.Auth.RateLimit.SignIn = 0
	bad.Auth.RateLimit.FailedSignInMaxBackoff = time.Millisecond
	bad.Auth.SMTP.Host = "smtp.example.com"
	bad.Auth.SMTP.TLS = "maybe"
	bad.Auth.Mailer.OTPLength = 3
	bad.Auth.MFA.Issuer = " "
	bad.Auth.External.OIDC.Enabled = true
	bad.Auth.External.GitHub.TokenURL = "ftp://x"
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad auth settings validated")
	}
	for _, key := range []string{
		"auth.site_url", "auth.redirect_allow_list", "auth.access_token_ttl", "auth.refresh_token_reuse_interval",
		"auth.encryption_key", "auth.password.min_length", "auth.password.required_characters",
		"auth.password.bcrypt_cost", "auth.hooks.custom_claims", "auth.rate_limit.sign_in",
		"auth.rate_limit.failed_sign_in_max_backoff", "auth.smtp.from", "auth.smtp.tls", "auth.mailer.otp_length",
		"auth.mfa.issuer", "auth.external.oidc.client_id", "auth.external.oidc.issuer", "auth.external.github.token_url",
	} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("no problem reported for %s in:\n%v", key, err)
		}
	}
	noMail := Default()
	noMail.Auth.Mailer.Autoconfirm = false
	if err := noMail.Validate(); err == nil || !strings.Contains(err.Error(), "auth.mailer.autoconfirm") {
		t.Errorf("requiring confirmation without SMTP must be refused: %v", err)
	}
}
