package pg_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/migrations"
	"github.com/fluxbase/fluxbase/internal/pg"
)

const devDSN = "postgres://postgres:devpass@127.0.0.1:55432/postgres"

// newDB: DEV ONLY, replaced by testutil.
func newDB(t *testing.T) (*pg.DB, string) {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 4)
	rand.Read(b)
	name := "fbtest_" + hex.EncodeToString(b)
	c, err := pgx.Connect(ctx, devDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "create database "+name); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(devDSN)
	u.Path = "/" + name
	dsn := u.String()
	db, err := pg.Connect(ctx, config.DatabaseConfig{}, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations.Apply(ctx, db.Admin, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.ConnectAPI(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		c, err := pgx.Connect(ctx, devDSN)
		if err == nil {
			c.Exec(ctx, "drop database "+name+" with (force)")
			c.Close(ctx)
		}
	})
	return db, dsn
}
