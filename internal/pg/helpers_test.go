package pg_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/pg"
	"github.com/fluxbase/fluxbase/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// newDB returns a migrated database of the test's own with both pools open,
// and the superuser DSN for opening more.
func newDB(t *testing.T) (*pg.DB, string) {
	t.Helper()
	tdb := testutil.NewDB(t)
	return tdb.DB, tdb.AdminDSN
}

// connectAPI opens a DB with both pools, as the app does once migrations
// have run. The caller closes it.
func connectAPI(t *testing.T, cfg config.DatabaseConfig, dsn string, log *slog.Logger) *pg.DB {
	t.Helper()
	ctx := context.Background()
	db, err := pg.Connect(ctx, cfg, dsn, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ConnectAPI(ctx); err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db
}

// newLegacyDB is newDB with database.legacy_claim_settings on.
func newLegacyDB(t *testing.T) *pg.DB {
	t.Helper()
	_, dsn := newDB(t)
	db := connectAPI(t, config.DatabaseConfig{LegacyClaimSettings: true}, dsn, nil)
	t.Cleanup(db.Close)
	return db
}

// tempRole returns a fresh role name starting with prefix, and drops that
// role, if the test made it, when the test ends: roles are cluster-wide,
// shared by every test database. Cleanups that must run before the drop
// (revoking the role's grants) are registered after this call.
func tempRole(t *testing.T, admin *pgxpool.Pool, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	role := prefix + hex.EncodeToString(b)
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "drop role if exists "+role)
	})
	return role
}

func requireNoErrors(t *testing.T, what string, errs []error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}
