package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fluxbase/fluxbase/internal/app"
	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/obs"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line was wrong
)

// backend is what the commands call to do their work: internal/app in the
// binary, a stand-in in tests that need no database.
type backend struct {
	serve   func(ctx context.Context, opts app.Options) error
	migrate func(ctx context.Context, opts app.Options, action string, w io.Writer) error
	keys    func(ctx context.Context, opts app.Options) (anonKey, serviceRoleKey string, err error)
}

func appBackend() backend {
	return backend{serve: app.Serve, migrate: app.Migrate, keys: app.Keys}
}

// cli is one invocation of the program, with its standard streams and
// environment passed in rather than taken from the process.
type cli struct {
	stdout, stderr io.Writer
	environ        []string
	backend        backend
	// forceExit ends the process when a second shutdown signal arrives.
	forceExit func(code int)
}

// usageError is a mistake on the command line: it is reported with the
// command's usage and exit code 2.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// run executes the command line args and returns the exit code.
func (c *cli) run(ctx context.Context, args []string) int {
	root := c.newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		c.printError(ue.err)
		fmt.Fprint(c.stderr, "\n"+ue.cmd.UsageString())
		return exitUsage
	}
	c.printError(err)
	return exitError
}

// printError writes err as lines prefixed with "fluxbase: ": one line per
// problem for configuration errors, usually one line otherwise.
func (c *cli) printError(err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			fmt.Fprintf(c.stderr, "fluxbase: %s\n", p)
		}
		return
	}
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(c.stderr, "fluxbase: %s\n", line)
	}
}

// load resolves the configuration for cmd from the file, the environment
// and the flags the user set.
func (c *cli) load(cmd *cobra.Command) (*config.Loaded, error) {
	file, err := cmd.Flags().GetString("config")
	if err != nil {
		return nil, err
	}
	return config.Resolve(config.LoadOptions{File: file, Env: c.environ, Flags: cmd.Flags()})
}

// setup loads the configuration and builds the logger, which writes to
// stderr so that stdout carries only the command's output.
func (c *cli) setup(cmd *cobra.Command) (app.Options, error) {
	l, err := c.load(cmd)
	if err != nil {
		return app.Options{}, err
	}
	log, err := obs.NewLogger(l.Config.Log, c.stderr)
	if err != nil {
		return app.Options{}, err
	}
	for _, w := range l.Warnings {
		log.Warn(w)
	}
	file := l.File
	if file == "" {
		file = "(none)"
	}
	log.Debug("configuration loaded", slog.String("file", file))
	return app.Options{Config: l.Config, Logger: log}, nil
}

// withApp is the action of the commands that call the backend: it loads
// the configuration, builds the logger, and runs do with a context that
// the first SIGINT or SIGTERM cancels.
func (c *cli) withApp(do func(ctx context.Context, opts app.Options) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		opts, err := c.setup(cmd)
		if err != nil {
			return err
		}
		ctx, stop := c.withSignals(cmd.Context(), opts.Logger)
		defer stop()
		return do(ctx, opts)
	}
}

// usageArgs wraps an argument validator so that its errors are reported as
// usage errors, with suggestions for mistyped subcommands.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			if cmd.HasSubCommands() && len(args) > 0 {
				msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
				if cmd.SuggestionsMinimumDistance <= 0 {
					cmd.SuggestionsMinimumDistance = 2
				}
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					msg += "; did you mean " + strings.Join(s, " or ") + "?"
				}
				err = errors.New(msg)
			}
			return &usageError{cmd: cmd, err: err}
		}
		return nil
	}
}

// showHelp is the action of commands that only group subcommands.
func showHelp(cmd *cobra.Command, _ []string) error {
	return cmd.Help()
}
