package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestReplicasShareOneDatabase starts three fluxbase processes at the same
// moment against one fresh external database (DATABASE_URL): each migration
// must be applied exactly once, all three must become ready, and they must
// agree on the signing key and the API keys.
func TestReplicasShareOneDatabase(t *testing.T) {
	t.Parallel()
	// A fluxbase with its embedded PostgreSQL provides the server.
	host := start(t, dataDir(t), nil)
	host.waitReady(90 * time.Second)
	adminURL := embeddedURL(t, host.dataDir, "fluxbase")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "create database replicas"); err != nil {
		t.Fatal(err)
	}
	dbURL := embeddedURL(t, host.dataDir, "replicas")

	var replicas []*instance
	for range 3 {
		replicas = append(replicas, start(t, dataDir(t), []string{"DATABASE_URL=" + dbURL}))
	}
	kids := map[string]bool{}
	for _, r := range replicas {
		r.waitReady(60 * time.Second)
		_, body := get(t, r.url+"/.well-known/jwks.json")
		var jwks struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		if err := json.Unmarshal([]byte(body), &jwks); err != nil || len(jwks.Keys) != 1 {
			t.Fatalf("jwks: %v %s", err, body)
		}
		kids[jwks.Keys[0].Kid] = true
	}
	if len(kids) != 1 {
		t.Fatalf("replicas use different signing keys: %v", kids)
	}

	rconn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer rconn.Close(ctx)
	var versions, rows int
	if err := rconn.QueryRow(ctx, "select count(distinct version), count(*) from fluxbase.schema_migrations").Scan(&versions, &rows); err != nil {
		t.Fatal(err)
	}
	if versions == 0 || versions != rows {
		t.Fatalf("schema_migrations: %d versions in %d rows", versions, rows)
	}

	var keys []string
	for range replicas {
		code, out, stderr, _ := runCmd(t, 30*time.Second, t.TempDir(), []string{"DATABASE_URL=" + dbURL}, "keys")
		if code != 0 {
			t.Fatalf("keys: %s", stderr)
		}
		keys = append(keys, out)
	}
	if keys[0] != keys[1] || keys[1] != keys[2] {
		t.Fatalf("replicas print different keys:\n%s", strings.Join(keys, "\n"))
	}
	for _, r := range replicas {
		r.stop()
	}
	host.stop()
}

// embeddedURL builds the superuser URL of the embedded server that a
// running fluxbase started on dataDir.
func embeddedURL(t *testing.T, dataDir, database string) string {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(dataDir, "pg.password"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := os.ReadFile(filepath.Join(dataDir, "pg", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(pid), "\n")
	if len(lines) < 4 {
		t.Fatalf("postmaster.pid: %q", pid)
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", strings.TrimSpace(string(pw))),
		Host:     fmt.Sprintf("127.0.0.1:%s", strings.TrimSpace(lines[3])),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}
