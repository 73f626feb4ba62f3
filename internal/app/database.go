package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/migrations"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// database is an open connection to Fluxbase's PostgreSQL, embedded or
// external, with everything that must be undone when it is closed.
type database struct {
	*pg.DB
	embedded *pg.Embedded // nil for an external server or an attached one
	// dsn reaches the server as the owner; logical replication for
	// realtime connects with it.
	dsn     string
	release func() // releases the data-directory lock; nil if not held
}

// Close closes the pools, stops the embedded server this process started and
// releases the data-directory lock, in that order.
func (d *database) Close(ctx context.Context) error {
	if d.DB != nil {
		d.DB.Close()
	}
	var err error
	if d.embedded != nil {
		err = d.embedded.Stop(ctx)
	}
	if d.release != nil {
		d.release()
	}
	return err
}

// embeddedOptions derives the launcher's options from the configuration.
func embeddedOptions(cfg *config.Config) pg.EmbeddedOptions {
	return pg.EmbeddedOptions{
		DataDir: cfg.EmbeddedDataDir(),
		BinDir:  cfg.Database.Embedded.BinDir,
		Port:    cfg.Database.Embedded.Port,
		OSUser:  cfg.Database.Embedded.OSUser,
	}
}

// openMode says what a command may do when the data directory is already in
// use by a running Fluxbase.
type openMode int

const (
	// exclusive: fail when another Fluxbase owns the data directory (serve).
	exclusive openMode = iota
	// shareRunning: connect to the PostgreSQL of the Fluxbase that owns the
	// data directory (migrate, keys), or start one for the command's
	// duration when none runs.
	shareRunning
)

// openDatabase connects to the configured PostgreSQL, starting the embedded
// one when no URL is configured, and applies Fluxbase's own migrations. It
// does not open the API pool; the caller does that when it serves requests.
func openDatabase(ctx context.Context, cfg *config.Config, mode openMode, log *slog.Logger) (*database, error) {
	d := &database{}
	dsn := cfg.Database.URL
	if cfg.UsesEmbedded() {
		if err := ensureDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
		release, err := pg.LockDir(cfg.DataDir)
		switch {
		case err == nil:
			d.release = release
			emb, err := pg.StartEmbedded(ctx, embeddedOptions(cfg), log)
			if err != nil {
				release()
				return nil, err
			}
			d.embedded = emb
			dsn = emb.DSN()
		case errors.Is(err, pg.ErrDirInUse) && mode == shareRunning:
			emb, aerr := pg.AttachEmbedded(ctx, embeddedOptions(cfg), log)
			if aerr != nil {
				return nil, fmt.Errorf("%w; and its PostgreSQL cannot be reached: %v", err, aerr)
			}
			log.Info("using the PostgreSQL of the running Fluxbase", "data_dir", cfg.DataDir)
			dsn = emb.DSN()
		default:
			return nil, err
		}
	}
	db, err := pg.Connect(ctx, cfg.Database, dsn, log)
	if err != nil {
		_ = d.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	d.DB = db
	d.dsn = dsn
	warnings, err := pg.CheckServer(ctx, db.Admin, true)
	if err != nil {
		_ = d.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	if err := migrations.Apply(ctx, db.Admin, log); err != nil {
		_ = d.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return d, nil
}

// ensureDataDir creates the data directory and proves it is writable, so
// that a bad --data-dir is reported as such rather than as a failure deep in
// the PostgreSQL launcher.
func ensureDataDir(dir string) error {
	fix := "choose another with --data-dir or FLUXBASE_DATA_DIR, or fix its permissions"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data_dir %s cannot be created: %v; %s", dir, unwrapPathError(err), fix)
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("data_dir %s is not writable: %v; %s", dir, unwrapPathError(err), fix)
	}
	name := probe.Name()
	_ = probe.Close()
	_ = os.Remove(name)
	return nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
