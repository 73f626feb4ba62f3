package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/app"
	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/schema"
	"github.com/fluxbase/fluxbase/internal/testutil"
)

func TestReloadSchemaSignalsEveryInstance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tdb := testutil.NewDB(t)
	_, err := tdb.DB.Admin.Exec(ctx, `create table public.notes (id int primary key); create function public.hello() returns text language sql as $$ select 'hi' $$`)
	require.NoError(t, err)

	conn, err := tdb.DB.Admin.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "listen "+schema.Channel)
	require.NoError(t, err)

	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database.URL = tdb.AdminDSN
	require.NoError(t, cfg.Validate())
	var out bytes.Buffer
	require.NoError(t, app.ReloadSchema(ctx, app.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)}, &out))
	assert.Contains(t, out.String(), "Schema reload signalled")
	assert.Contains(t, out.String(), "Exposed schemas public: 1 tables and views, 1 functions")

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Opening the database may run DDL of its own (notified as "ddl").
	for {
		n, err := conn.Conn().WaitForNotification(wctx)
		require.NoError(t, err)
		if n.Payload == "reload" {
			break
		}
	}
}
