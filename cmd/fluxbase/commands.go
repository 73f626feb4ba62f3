package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fluxbase/fluxbase/internal/app"
	"github.com/fluxbase/fluxbase/internal/buildinfo"
	"github.com/fluxbase/fluxbase/internal/config"
)

func (c *cli) newRoot() *cobra.Command {
	def := config.Default()
	info := buildinfo.Get()
	root := &cobra.Command{
		Use:   "fluxbase",
		Short: "Fluxbase: a backend for your app in one binary, on PostgreSQL",
		Long: `Fluxbase is a Backend-as-a-Service in one binary. Point it at PostgreSQL, or
let it start its own. Every request runs as a PostgreSQL role (anon,
authenticated or service_role) with the caller's JWT claims, so your row level
security policies decide what each caller may see and change.

Quick start:
  fluxbase serve              start on http://127.0.0.1:8080 with its own PostgreSQL
  eval "$(fluxbase keys)"     export FLUXBASE_ANON_KEY and FLUXBASE_SERVICE_ROLE_KEY
  curl http://127.0.0.1:8080/health

Where data lives:
  With no database configured, Fluxbase runs its own PostgreSQL (from the
  system's binaries) with its data in ./fluxbase_data/pg; --data-dir moves it.
  With DATABASE_URL (or --database-url) set, every piece of state lives in that
  database instead, and several Fluxbase instances can share it.

Configuration:
  Built-in defaults, then ./fluxbase.yaml (or --config), then DATABASE_URL, then
  FLUXBASE_* environment variables, then flags; each overrides the one before.
  "fluxbase config" shows the result and where each value came from;
  docs/configuration.md lists every setting.`,
		Example: `  fluxbase serve
  fluxbase serve --http 0.0.0.0:8080 --data-dir /var/lib/fluxbase
  DATABASE_URL=postgres://app:secret@db:5432/app fluxbase serve
  fluxbase migrate up --dir ./migrations
  fluxbase config --json`,
		Version:       info.String(),
		Args:          usageArgs(cobra.NoArgs),
		RunE:          showHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{cmd: cmd, err: err}
	})

	pf := root.PersistentFlags()
	pf.String("config", "", "configuration file (default ./"+config.DefaultFile+" if it exists; env "+config.ConfigFileEnv+")")
	pf.String("data-dir", def.DataDir, "directory for local data: the embedded PostgreSQL and the instance lock")
	pf.String("database-url", "", "external PostgreSQL URL (default: start an embedded PostgreSQL; env DATABASE_URL)")
	pf.String("log-level", def.Log.Level, "log level: debug, info, warn or error")
	pf.String("log-format", def.Log.Format, "log format: auto (text on a terminal, JSON otherwise), json or text")
	config.BindFlag(pf, "data-dir", "data_dir")
	config.BindFlag(pf, "database-url", "database.url")
	config.BindFlag(pf, "log-level", "log.level")
	config.BindFlag(pf, "log-format", "log.format")

	root.AddCommand(c.serveCmd(def), c.migrateCmd(def), c.schemaCmd(), c.keysCmd(), c.configCmd(), c.versionCmd())
	return root
}

func (c *cli) serveCmd(def *config.Config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Fluxbase server",
		Long: `Run the Fluxbase server until it receives SIGINT (Ctrl-C) or SIGTERM.

On start it binds the HTTP address, starts the embedded PostgreSQL (or connects
to the configured one, retrying for up to database.connect_timeout), applies
Fluxbase's own schema migrations, and then serves requests. /health answers at
once; /ready answers 200 once the database is ready.

On SIGINT or SIGTERM it stops accepting connections, lets requests in flight
finish (up to http.shutdown_timeout), and stops the embedded PostgreSQL. A
second signal exits at once.`,
		Example: `  fluxbase serve
  fluxbase serve --http :8080 --data-dir /var/lib/fluxbase
  FLUXBASE_LOG_FORMAT=json fluxbase serve --database-url postgres://app:secret@db:5432/app`,
		Args: usageArgs(cobra.NoArgs),
		RunE: c.withApp(func(ctx context.Context, opts app.Options) error {
			return c.backend.serve(ctx, opts)
		}),
	}
	cmd.Flags().String("http", def.HTTP.Addr, "HTTP listen address, host:port (\":8080\" listens on every interface)")
	config.BindFlag(cmd.Flags(), "http", "http.addr")
	return cmd
}

func (c *cli) migrateCmd(def *config.Config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply your SQL migrations, or show their status",
		Long: `Apply your own SQL migrations, or show which are applied.

Migrations are the .sql files in the migrations directory (migrations.dir,
default ./migrations), applied in name order (name them 0001_create_todos.sql,
0002_...), each exactly once and in its own transaction, and recorded in the
table fluxbase.user_migrations. A failing file stops the run with its name and
the PostgreSQL error; the files before it stay applied.

Fluxbase's own schema is always migrated first, so your migrations can use the
roles anon, authenticated and service_role and the auth.uid() helpers.`,
		Example: `  fluxbase migrate up
  fluxbase migrate status --dir ./db/migrations
  DATABASE_URL=postgres://app:secret@db:5432/app fluxbase migrate up`,
		Args: usageArgs(cobra.NoArgs),
		RunE: showHelp,
	}
	cmd.PersistentFlags().String("dir", def.Migrations.Dir, "directory of your .sql migration files")
	config.BindFlag(cmd.PersistentFlags(), "dir", "migrations.dir")

	action := func(name, short, long, example string) *cobra.Command {
		return &cobra.Command{
			Use:     name,
			Short:   short,
			Long:    long,
			Example: example,
			Args:    usageArgs(cobra.NoArgs),
			RunE: c.withApp(func(ctx context.Context, opts app.Options) error {
				return c.backend.migrate(ctx, opts, name, c.stdout)
			}),
		}
	}
	cmd.AddCommand(
		action("up", "Apply the migrations not applied yet",
			`Apply, in name order, every migration file not applied yet. Each runs in its own
transaction; the first failure stops the run and is reported with the file name
and the PostgreSQL error. Running it again only applies what is new, and several
processes running it at once apply each file once.`,
			"  fluxbase migrate up\n  fluxbase migrate up --dir ./db/migrations"),
		action("status", "Show which migrations are applied and which are pending",
			`List Fluxbase's own schema migrations and your migration files, each with its
state (applied, with the time, or pending). Changes nothing.`,
			"  fluxbase migrate status"),
	)
	return cmd
}

func (c *cli) keysCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keys",
		Short: "Print the anon and service_role API keys",
		Long: `Print the two API keys, as shell assignments and nothing else on standard output:

  FLUXBASE_ANON_KEY=...          for browsers and apps: requests run as the role anon
  FLUXBASE_SERVICE_ROLE_KEY=...  for servers only: requests run as service_role,
                                 which bypasses row level security. Keep it secret.

The keys are tokens signed with the server's signing key, which is generated at
first start and kept in the database, so they are the same on every run and every
replica. Logs go to standard error.`,
		Example: `  eval "$(fluxbase keys)"
  fluxbase keys > .env.local
  DATABASE_URL=postgres://app:secret@db:5432/app fluxbase keys`,
		Args: usageArgs(cobra.NoArgs),
		RunE: c.withApp(func(ctx context.Context, opts app.Options) error {
			anon, service, err := c.backend.keys(ctx, opts)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.stdout, "FLUXBASE_ANON_KEY=%s\nFLUXBASE_SERVICE_ROLE_KEY=%s\n", anon, service)
			return err
		}),
	}
}

func (c *cli) configCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration, with secrets redacted",
		Long: `Print the configuration that serve would run with: the defaults overridden by the
configuration file, DATABASE_URL, FLUXBASE_* variables and flags, validated.
Secrets are shown as [redacted] (for database.url, only its password). In YAML,
each value that is not a default is followed by a comment saying where it was
set. Invalid settings are reported, one per line, with exit code 1.`,
		Example: `  fluxbase config
  fluxbase config --json
  FLUXBASE_HTTP_ADDR=:9000 fluxbase config --config ./staging.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := c.load(cmd)
			if err != nil {
				return err
			}
			for _, w := range l.Warnings {
				fmt.Fprintf(c.stderr, "fluxbase: warning: %s\n", w)
			}
			var out []byte
			if asJSON {
				out, err = l.Config.RedactedJSON()
			} else {
				file := l.File
				if file == "" {
					file = "none"
				}
				out, err = l.Config.RedactedYAML(l.Sources)
				out = append([]byte("# Effective Fluxbase configuration; secrets are redacted.\n# Configuration file: "+file+"\n"), out...)
			}
			if err != nil {
				return err
			}
			_, err = c.stdout.Write(out)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of YAML")
	return cmd
}

func (c *cli) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Long: `Print which build of Fluxbase this is: its version, the commit it was built
from (marked "modified" if the tree had uncommitted changes), the build date,
and the Go version and platform.`,
		Example: "  fluxbase version\n  fluxbase version --json",
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := buildinfo.Get()
			if asJSON {
				b, err := json.MarshalIndent(info, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.stdout, "%s\n", b)
				return err
			}
			commit := info.ShortCommit()
			if info.Modified {
				commit += " (modified)"
			}
			date := info.Date
			if date == "" {
				date = "unknown"
			}
			var b strings.Builder
			fmt.Fprintf(&b, "fluxbase %s\n", info.Version)
			fmt.Fprintf(&b, "  commit:  %s\n", commit)
			fmt.Fprintf(&b, "  built:   %s\n", date)
			fmt.Fprintf(&b, "  go:      %s %s\n", info.GoVersion, info.Platform)
			_, err := fmt.Fprint(c.stdout, b.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
