package migrations_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/migrations"
	"github.com/fluxbase/fluxbase/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// emptyDB creates a database without any migration on the shared test
// server, dropped when the test ends, and returns its superuser DSN.
func emptyDB(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	tdb := testutil.NewDB(t)
	name := tdb.Name + "_empty"
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := tdb.DB.Admin.Exec(ctx, "create database "+ident); err != nil {
		t.Fatal(err)
	}
	// Registered after NewDB's cleanup, so it runs before the pools close.
	t.Cleanup(func() {
		if _, err := tdb.DB.Admin.Exec(context.Background(), "drop database if exists "+ident+" with (force)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(tdb.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// migratedDSN returns the superuser DSN of a database on which Fluxbase's
// migrations have run (a clone of the harness's template).
func migratedDSN(t *testing.T) string {
	t.Helper()
	return testutil.NewDB(t).AdminDSN
}

func migratedDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return openPool(t, migratedDSN(t))
}

func openPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// emptyPool opens a pool on a database of the test's own without any
// migration.
func emptyPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	return openPool(t, emptyDB(t))
}

// appliedDB is a database that started empty and that this test migrated
// with Apply, for tests of what Apply itself leaves behind.
func appliedDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := emptyPool(t)
	if err := migrations.Apply(context.Background(), pool, nil); err != nil {
		t.Fatal(err)
	}
	return pool
}

func status(t *testing.T, pool *pgxpool.Pool) []migrations.StatusRow {
	t.Helper()
	st, err := migrations.Status(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
