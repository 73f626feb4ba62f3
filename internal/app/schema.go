package app

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/fluxbase/fluxbase/internal/schema"
)

// ReloadSchema runs `fluxbase schema reload`: it reads the exposed schemas
// once (so that a catalog the cache cannot read fails here, with the
// reason) and then signals every Fluxbase instance on the database to
// reload its schema cache.
func ReloadSchema(ctx context.Context, opts Options, w io.Writer) error {
	cfg, log := opts.Config, opts.Logger
	db, err := openDatabase(ctx, cfg, shareRunning, log)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close(context.WithoutCancel(ctx)) }()

	s := schema.New(db.Admin, cfg.REST.Schemas, log)
	if err := s.Load(ctx); err != nil {
		return err
	}
	if _, err := db.Admin.Exec(ctx, "select pg_notify($1, 'reload')", schema.Channel); err != nil {
		return fmt.Errorf("signalling the schema reload: %w", err)
	}
	c := s.Current()
	fps := 0
	for _, f := range c.FunctionsByName {
		fps += len(f)
	}
	fmt.Fprintf(w, "Schema reload signalled to every Fluxbase instance on this database.\n")
	fmt.Fprintf(w, "Exposed schemas %s: %d tables and views, %d functions (read in %s).\n",
		strings.Join(c.Schemas, ", "), len(c.Tables), fps, c.LoadDuration.Round(100_000))
	return nil
}
