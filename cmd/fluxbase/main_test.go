package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fluxbase/fluxbase/internal/app"
	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/syncbuf"
)

// recorder is a backend that needs no database: it records what the
// commands asked of it.
type recorder struct {
	mu      sync.Mutex
	calls   []string
	opts    app.Options
	action  string
	serve   func(ctx context.Context) error
	err     error
	started chan struct{}
}

func (r *recorder) backend() backend {
	record := func(name string, opts app.Options) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, name)
		r.opts = opts
	}
	return backend{
		serve: func(ctx context.Context, opts app.Options) error {
			record("serve", opts)
			if r.started != nil {
				close(r.started)
			}
			if r.serve != nil {
				return r.serve(ctx)
			}
			return r.err
		},
		migrate: func(ctx context.Context, opts app.Options, action string, w io.Writer) error {
			record("migrate", opts)
			r.action = action
			_, _ = io.WriteString(w, "migrated "+action+"\n")
			return r.err
		},
		keys: func(ctx context.Context, opts app.Options) (string, string, error) {
			record("keys", opts)
			opts.Logger.Info("this log line must go to stderr")
			if r.err != nil {
				return "", "", r.err
			}
			return "anon.jwt.token", "service.jwt.token", nil
		},
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// execute runs the CLI in an empty working directory with env as the
// whole environment.
func execute(t *testing.T, r *recorder, env []string, args ...string) result {
	t.Helper()
	t.Chdir(t.TempDir())
	if r == nil {
		r = &recorder{}
	}
	var out, errOut bytes.Buffer
	c := &cli{
		stdout:  &out,
		stderr:  &errOut,
		environ: env,
		backend: r.backend(),
		forceExit: func(code int) {
			t.Errorf("unexpected forced exit %d", code)
		},
	}
	code := c.run(context.Background(), args)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func TestVersion(t *testing.T) {
	res := execute(t, nil, nil, "version")
	if res.code != exitOK {
		t.Fatalf("exit %d, stderr %s", res.code, res.stderr)
	}
	for _, want := range []string{"fluxbase ", "commit:", "built:", "go:      go1."} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, res.stdout)
		}
	}
	res = execute(t, nil, nil, "version", "--json")
	var info map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &info); err != nil || info["version"] == "" || info["go_version"] == "" {
		t.Errorf("version --json = %q (%v)", res.stdout, err)
	}
	res = execute(t, nil, nil, "--version")
	if res.code != exitOK || !strings.HasPrefix(res.stdout, "fluxbase ") {
		t.Errorf("--version = %d %q", res.code, res.stdout)
	}
}

// Every command's help must say what it does, how to call it, and show
// examples.
func TestHelpIsUseful(t *testing.T) {
	c := &cli{stdout: io.Discard, stderr: io.Discard}
	var walk func(cmd *cobra.Command)
	var paths [][]string
	walk = func(cmd *cobra.Command) {
		if cmd.Name() == "completion" || cmd.Name() == "help" {
			return // provided by cobra
		}
		if cmd.Short == "" || cmd.Long == "" || cmd.Example == "" {
			t.Errorf("%s: Short, Long and Example must all be set", cmd.CommandPath())
		}
		path := strings.Fields(cmd.CommandPath())[1:]
		paths = append(paths, path)
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	root := c.newRoot()
	root.InitDefaultHelpCmd()
	walk(root)
	if len(paths) < 8 {
		t.Fatalf("found only %d commands: %v", len(paths), paths)
	}
	for _, p := range paths {
		args := append(append([]string{}, p...), "--help")
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res := execute(t, nil, nil, args...)
			if res.code != exitOK {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			for _, want := range []string{"Usage:", "Examples:", "fluxbase"} {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("help lacks %q:\n%s", want, res.stdout)
				}
			}
		})
	}
	res := execute(t, nil, nil, "serve", "--help")
	for _, want := range []string{"--http", "(default \"127.0.0.1:8080\")", "--data-dir", "(default \"./fluxbase_data\")", "SIGTERM"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("serve help lacks %q", want)
		}
	}
	res = execute(t, nil, nil)
	if res.code != exitOK || !strings.Contains(res.stdout, "Quick start") || !strings.Contains(res.stdout, "Where data lives") {
		t.Errorf("bare fluxbase should print the overview: %d\n%s", res.code, res.stdout)
	}
}

func TestConfigCommandRedactsSecrets(t *testing.T) {
	const pw, secret = "db-pass-9f8e7d", "0123456789abcdef0123456789abcdef-jwt-secret"
	env := []string{
		"DATABASE_URL=postgres://app:" + pw + "@db.example.com:5432/app",
		"FLUXBASE_AUTH_JWT_SECRET=" + secret,
	}
	for _, args := range [][]string{{"config"}, {"config", "--json"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res := execute(t, nil, env, args...)
			if res.code != exitOK {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			all := res.stdout + res.stderr
			if strings.Contains(all, pw) || strings.Contains(all, secret) {
				t.Fatalf("output leaks a secret:\n%s", all)
			}
			if !strings.Contains(res.stdout, "postgres://app:[redacted]@db.example.com:5432/app") {
				t.Errorf("database.url not shown redacted:\n%s", res.stdout)
			}
			if len(args) == 2 {
				var m map[string]any
				if err := json.Unmarshal([]byte(res.stdout), &m); err != nil {
					t.Fatalf("not JSON: %v", err)
				}
				if got := m["auth"].(map[string]any)["jwt"].(map[string]any)["secret"]; got != "[redacted]" {
					t.Errorf("auth.jwt.secret = %v", got)
				}
			} else if !strings.Contains(res.stdout, "secret: '[redacted]' # from FLUXBASE_AUTH_JWT_SECRET") {
				t.Errorf("YAML should show the redacted secret and its source:\n%s", res.stdout)
			}
		})
	}
}

func TestConfigCommandShowsFlagsAndWarnings(t *testing.T) {
	res := execute(t, nil, []string{"FLUXBASE_HTTP_ADR=:1"}, "config", "--log-level", "debug", "--data-dir", "/srv/fb")
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"level: debug # from --log-level", "data_dir: /srv/fb # from --data-dir"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
	if !strings.Contains(res.stderr, "fluxbase: warning: environment variable FLUXBASE_HTTP_ADR is not a Fluxbase setting and is ignored; did you mean FLUXBASE_HTTP_ADDR?") {
		t.Errorf("no typo warning on stderr: %q", res.stderr)
	}
}

func TestInvalidConfiguration(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	file := filepath.Join(dir, "fluxbase.yaml")
	if err := os.WriteFile(file, []byte("http:\n  adr: x\ndatabase:\n  max_conns: lots\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"serve", "--config", file, "--http", "nonsense"},
		{"config", "--config", file, "--http-not-a-flag-here"},
		{"keys", "--config", file},
		{"migrate", "up", "--config", file},
		{"config", "--config", file},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := &recorder{}
			res := execute(t, r, []string{"FLUXBASE_LOG_LEVEL=loud"}, args...)
			if len(r.calls) != 0 {
				t.Errorf("backend called despite invalid configuration: %v", r.calls)
			}
			if res.stdout != "" {
				t.Errorf("stdout should stay empty, got %q", res.stdout)
			}
			if strings.Contains(strings.Join(args, " "), "not-a-flag") {
				if res.code != exitUsage || !strings.Contains(res.stderr, "unknown flag") {
					t.Errorf("unknown flag: exit %d\n%s", res.code, res.stderr)
				}
				return
			}
			if res.code != exitError {
				t.Errorf("exit %d, want %d", res.code, exitError)
			}
			lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
			for _, l := range lines {
				if !strings.HasPrefix(l, "fluxbase: ") {
					t.Errorf("line without prefix: %q", l)
				}
			}
			want := []string{
				"fluxbase: http.adr: unknown key; did you mean http.addr? (in " + file + ":2)",
				`fluxbase: database.max_conns: "lots" is not a whole number (in ` + file + ":4)",
				`fluxbase: log.level: "loud" is not a log level; use debug, info, warn or error (from FLUXBASE_LOG_LEVEL)`,
			}
			if args[0] == "serve" {
				want = append(want, `fluxbase: http.addr: "nonsense" is not a valid listen address`)
			}
			for _, w := range want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
			if len(lines) != len(want) {
				t.Errorf("want %d lines, one per problem, got:\n%s", len(want), res.stderr)
			}
			if strings.Contains(res.stderr, "Usage:") {
				t.Error("configuration errors must not print usage")
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `fluxbase: unknown command "bogus" for "fluxbase"`},
		{[]string{"serv"}, `did you mean serve?`},
		{[]string{"migrate", "stats"}, `fluxbase: unknown command "stats" for "fluxbase migrate"; did you mean status?`},
		{[]string{"serve", "--htp", ":1"}, "fluxbase: unknown flag: --htp"},
		{[]string{"serve", "extra"}, `fluxbase: unknown command "extra" for "fluxbase serve"`},
		{[]string{"keys", "--http", ":1"}, "fluxbase: unknown flag: --http"},
		{[]string{"version", "--json=maybe"}, "fluxbase: invalid argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := &recorder{}
			res := execute(t, r, nil, tt.args...)
			if res.code != exitUsage {
				t.Errorf("exit %d, want %d", res.code, exitUsage)
			}
			if !strings.HasPrefix(res.stderr, "fluxbase: ") || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr = %q, want %q", res.stderr, tt.want)
			}
			if !strings.Contains(res.stderr, "Usage:") {
				t.Errorf("usage errors should show the usage:\n%s", res.stderr)
			}
			if len(r.calls) != 0 || res.stdout != "" {
				t.Errorf("nothing should run: calls %v, stdout %q", r.calls, res.stdout)
			}
		})
	}
}

func TestKeysPrintsExactlyTwoLines(t *testing.T) {
	r := &recorder{}
	res := execute(t, r, []string{"FLUXBASE_LOG_FORMAT=json"}, "keys")
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if want := "FLUXBASE_ANON_KEY=anon.jwt.token\nFLUXBASE_SERVICE_ROLE_KEY=service.jwt.token\n"; res.stdout != want {
		t.Errorf("stdout = %q, want %q", res.stdout, want)
	}
	if !strings.Contains(res.stderr, "this log line must go to stderr") {
		t.Errorf("logs should go to stderr: %q", res.stderr)
	}
}

func TestCommandsReceiveTheConfiguration(t *testing.T) {
	r := &recorder{}
	env := []string{"DATABASE_URL=postgres://env@h/db", "FLUXBASE_HTTP_ADDR=127.0.0.1:7000", "FLUXBASE_LOG_LEVEL=error"}
	res := execute(t, r, env, "serve", "--http", "127.0.0.1:7001", "--data-dir", "/srv/fb-data", "--database-url", "postgres://flag@h/db")
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	c := r.opts.Config
	if c.HTTP.Addr != "127.0.0.1:7001" || c.DataDir != "/srv/fb-data" || c.Database.URL != "postgres://flag@h/db" || c.Log.Level != "error" {
		t.Errorf("serve got %+v", c)
	}
	if r.opts.Logger == nil {
		t.Error("no logger")
	}

	for _, action := range []string{"up", "status"} {
		r = &recorder{}
		res = execute(t, r, nil, "migrate", action, "--dir", "db/migrations")
		if res.code != exitOK || r.action != action || r.opts.Config.Migrations.Dir != "db/migrations" {
			t.Errorf("migrate %s: exit %d action %q dir %q", action, res.code, r.action, r.opts.Config.Migrations.Dir)
		}
		if res.stdout != "migrated "+action+"\n" {
			t.Errorf("migrate output should go to stdout: %q", res.stdout)
		}
	}
	// --dir may also come before the action.
	r = &recorder{}
	if res = execute(t, r, nil, "migrate", "--dir", "x", "status"); res.code != exitOK || r.opts.Config.Migrations.Dir != "x" {
		t.Errorf("migrate --dir x status: exit %d dir %q", res.code, r.opts.Config.Migrations.Dir)
	}
}

func TestRuntimeErrorIsOneLine(t *testing.T) {
	r := &recorder{err: errors.New("cannot reach the database at db:5432: connection refused")}
	res := execute(t, r, nil, "keys")
	if res.code != exitError {
		t.Errorf("exit %d", res.code)
	}
	if !strings.HasSuffix(res.stderr, "fluxbase: cannot reach the database at db:5432: connection refused\n") {
		t.Errorf("stderr = %q", res.stderr)
	}
	if strings.Contains(res.stderr, "Usage:") || res.stdout != "" {
		t.Error("runtime errors must not print usage or anything on stdout")
	}
}

func TestSignalsStopServe(t *testing.T) {
	r := &recorder{started: make(chan struct{})}
	r.serve = func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	}
	done := make(chan result, 1)
	go func() { done <- execute(t, r, nil, "serve", "--log-format", "json") }()
	<-r.started
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-done:
		if res.code != exitOK {
			t.Errorf("exit %d after SIGTERM: %s", res.code, res.stderr)
		}
		if !strings.Contains(res.stderr, "shutting down") {
			t.Errorf("no shutdown log: %q", res.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

func TestSecondSignalForcesExit(t *testing.T) {
	t.Chdir(t.TempDir())
	started, forced := make(chan struct{}), make(chan int, 1)
	release := make(chan struct{})
	var stderr syncbuf.Buffer
	c := &cli{
		stdout:  io.Discard,
		stderr:  &stderr,
		environ: []string{"FLUXBASE_LOG_FORMAT=json"},
		backend: backend{serve: func(ctx context.Context, _ app.Options) error {
			close(started)
			<-ctx.Done()
			<-release // a shutdown that hangs
			return nil
		}},
		forceExit: func(code int) {
			forced <- code
			close(release)
		},
	}
	done := make(chan int, 1)
	go func() { done <- c.run(context.Background(), []string{"serve"}) }()
	<-started
	_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
	time.Sleep(50 * time.Millisecond)
	_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case code := <-forced:
		if code != 128+int(syscall.SIGINT) {
			t.Errorf("forced exit code %d, want %d", code, 128+int(syscall.SIGINT))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second signal did not force an exit")
	}
	<-done
	if !strings.Contains(stderr.String(), "second signal") {
		t.Errorf("no log of the forced exit: %s", stderr.String())
	}
}

// Each flag that sets a configuration key must be listed in that key's row
// of docs/configuration.md.
func TestDocsListEveryFlag(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| `") {
			key, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
			rows[key] = line
		}
	}
	c := &cli{stdout: io.Discard, stderr: io.Discard}
	seen := 0
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		check := func(f *pflag.Flag) {
			key := config.FlagKey(f)
			if key == "" {
				return
			}
			seen++
			if !strings.Contains(rows[key], "`--"+f.Name+"`") {
				t.Errorf("docs row for %s does not mention --%s", key, f.Name)
			}
		}
		cmd.LocalNonPersistentFlags().VisitAll(check)
		cmd.PersistentFlags().VisitAll(check)
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(c.newRoot())
	if seen < 6 {
		t.Errorf("found only %d bound flags", seen)
	}
}
