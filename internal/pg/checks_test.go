package pg_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/pg"
)

func TestCheckServerAcceptsTheTestServer(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	warnings, err := pg.CheckServer(ctx, db.Admin, true)
	if err != nil {
		t.Fatalf("CheckServer: %v", err)
	}
	var wal string
	if err := db.Admin.QueryRow(ctx, "show wal_level").Scan(&wal); err != nil {
		t.Fatal(err)
	}
	if wal == "logical" && len(warnings) != 0 {
		t.Fatalf("unexpected warnings: %q", warnings)
	}
	if wal != "logical" && (len(warnings) != 1 || !strings.Contains(warnings[0], "ALTER SYSTEM SET wal_level = logical")) {
		t.Fatalf("wal_level %s: warnings %q", wal, warnings)
	}
}

// TestCheckServerExplainsMissingPrivileges connects as a plain login role,
// then grants what the messages ask for and checks again.
func TestCheckServerExplainsMissingPrivileges(t *testing.T) {
	t.Parallel()
	base, dsn := newDB(t)
	ctx := context.Background()
	role := tempRole(t, base.Admin, "fb_check_")
	const password = "check-pw-123"
	if _, err := base.Admin.Exec(ctx, "create role "+role+" login password '"+password+"'"); err != nil {
		t.Fatal(err)
	}
	dbName := base.Admin.Config().ConnConfig.Database
	t.Cleanup(func() {
		_, _ = base.Admin.Exec(context.Background(), "revoke create on database "+pgx.Identifier{dbName}.Sanitize()+" from "+role)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, password)
	limited, err := pg.Connect(ctx, config.DatabaseConfig{}, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()

	warnings, err := pg.CheckServer(ctx, limited.Admin, true)
	if err == nil {
		t.Fatal("a role without CREATEROLE passed the check")
	}
	msg := err.Error()
	for _, want := range []string{
		`ALTER ROLE "` + role + `" CREATEROLE;`,
		`GRANT CREATE ON DATABASE ` + pgx.Identifier{dbName}.Sanitize() + ` TO "` + role + `";`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "BYPASSRLS") {
		t.Errorf("service_role exists with BYPASSRLS, yet the error mentions it:\n%s", msg)
	}
	if len(strings.Split(msg, "\n")) != 2 {
		t.Errorf("want one line per gap:\n%s", msg)
	}
	foundReplication := false
	for _, w := range warnings {
		foundReplication = foundReplication || strings.Contains(w, `ALTER ROLE "`+role+`" REPLICATION;`)
	}
	if !foundReplication {
		t.Errorf("no REPLICATION warning: %q", warnings)
	}
	if w, _ := pg.CheckServer(ctx, limited.Admin, false); len(w) != 0 {
		t.Errorf("warnings without wantLogical: %q", w)
	}

	// Following the advice is enough.
	if _, err := base.Admin.Exec(ctx, "alter role "+role+" createrole"); err != nil {
		t.Fatal(err)
	}
	if _, err := base.Admin.Exec(ctx, "grant create on database "+pgx.Identifier{dbName}.Sanitize()+" to "+role); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.CheckServer(ctx, limited.Admin, false); err != nil {
		t.Fatalf("after the grants: %v", err)
	}
}
