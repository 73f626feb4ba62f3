package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/migrations"
)

// Migrate runs `fluxbase migrate up|status`: Fluxbase's own migrations are
// always applied first (the user's may depend on its roles and schemas),
// then the user's SQL files from migrations.dir.
func Migrate(ctx context.Context, opts Options, action string, w io.Writer) error {
	cfg, log := opts.Config, opts.Logger
	if action != "up" && action != "status" {
		return fmt.Errorf("unknown migrate action %q; use up or status", action)
	}
	db, err := openDatabase(ctx, cfg, shareRunning, log)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close(context.WithoutCancel(ctx)) }()

	if action == "up" {
		applied, err := migrations.ApplyUser(ctx, db.Admin, cfg.Migrations.Dir, log)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintf(w, "Nothing to apply: every migration in %s is applied.\n", cfg.Migrations.Dir)
			return nil
		}
		for _, name := range applied {
			fmt.Fprintf(w, "applied  %s\n", name)
		}
		fmt.Fprintf(w, "%d migration(s) applied.\n", len(applied))
		return nil
	}

	own, err := migrations.Status(ctx, db.Admin)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Fluxbase schema")
	for _, m := range own {
		fmt.Fprintf(tw, "  %04d_%s\t%s\n", m.Version, m.Name, when(m.State(), m.AppliedAt))
	}
	user, err := migrations.UserStatus(ctx, db.Admin, cfg.Migrations.Dir)
	switch {
	case errors.Is(err, migrations.ErrNoMigrationsDir):
		fmt.Fprintf(tw, "User migrations (%s)\tdirectory not found\n", cfg.Migrations.Dir)
	case err != nil:
		return err
	default:
		fmt.Fprintf(tw, "User migrations (%s)\n", cfg.Migrations.Dir)
		if len(user) == 0 {
			fmt.Fprintln(tw, "  (no .sql files)")
		}
		for _, m := range user {
			fmt.Fprintf(tw, "  %s\t%s\n", m.Name, when(m.State(), m.AppliedAt))
		}
	}
	return tw.Flush()
}

// when renders a migration's state, with the time it ran when it ran.
func when(state string, at time.Time) string {
	if at.IsZero() {
		return state
	}
	return state + " " + at.UTC().Format(time.RFC3339)
}

// Keys returns the anon and service_role API keys. They are derived from
// the persisted signing key, so they are the same on every call, on every
// replica, until the key is rotated.
func Keys(ctx context.Context, opts Options) (anonKey, serviceRoleKey string, err error) {
	db, err := openDatabase(ctx, opts.Config, shareRunning, opts.Logger)
	if err != nil {
		return "", "", err
	}
	defer func() { _ = db.Close(context.WithoutCancel(ctx)) }()
	ids, err := identity.New(ctx, db.Admin, opts.Config.Auth, opts.Logger)
	if err != nil {
		return "", "", err
	}
	return ids.AnonKey(), ids.ServiceRoleKey(), nil
}
