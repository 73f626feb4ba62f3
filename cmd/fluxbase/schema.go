package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/fluxbase/fluxbase/internal/app"
)

func (c *cli) schemaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Manage the REST API's schema cache",
		Long: `Manage the schema cache: what the REST API knows of your tables, views,
functions and relationships.

Running Fluxbase instances reload the cache by themselves within a second of
any DDL (CREATE, ALTER, DROP, COMMENT...). When the database owner is not a
superuser, that event trigger cannot exist and changes are found by a check
every few seconds; "fluxbase schema reload" applies them at once.`,
		Example: "  fluxbase schema reload",
		Args:    usageArgs(cobra.NoArgs),
		RunE:    showHelp,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "reload",
		Short: "Make every running instance reload its schema cache now",
		Long: `Read the exposed schemas (rest.schemas) once, to check that they can be read,
then signal every Fluxbase instance connected to the database to reload its
schema cache. It connects like "fluxbase migrate": to DATABASE_URL, or to the
embedded PostgreSQL of the Fluxbase running on the data directory.

The same signal can be sent from SQL, as for PostgREST:
  NOTIFY pgrst, 'reload schema';`,
		Example: `  fluxbase schema reload
  DATABASE_URL=postgres://app:secret@db:5432/app fluxbase schema reload`,
		Args: usageArgs(cobra.NoArgs),
		RunE: c.withApp(func(ctx context.Context, opts app.Options) error {
			return app.ReloadSchema(ctx, opts, c.stdout)
		}),
	})
	return cmd
}
