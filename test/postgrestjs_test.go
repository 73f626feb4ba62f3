// The file is not named postgrest_js_test.go: the _js suffix would make Go
// build it for GOOS=js only.

package test

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

// TestPostgrestJS drives @supabase/postgrest-js, unchanged, against the
// built binary serving the shop schema, applied as the user's migration at
// start-up: embeds, every filter method, order/range, single/maybeSingle,
// counts, writes with .select(), rpc and CSV (test/js/postgrest.test.mjs).
func TestPostgrestJS(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	cwd := filepath.Dir(dir)
	migrations := filepath.Join(cwd, "migrations")
	if err := os.MkdirAll(migrations, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(migrations, "0001_shop.sql"), []byte(fixtures.ShopSQL), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 48)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	jwtSecret := base64.RawURLEncoding.EncodeToString(secret)
	env := []string{
		"FLUXBASE_MIGRATIONS_DIR=" + migrations,
		"FLUXBASE_MIGRATIONS_APPLY_ON_START=true",
		"FLUXBASE_REST_SCHEMAS=public,inventory",
		"FLUXBASE_AUTH_JWT_SECRET=" + jwtSecret,
	}
	in := start(t, dir, env)
	in.waitReady(90 * time.Second)

	anon, service := instanceKeys(t, dir, env...)

	runNodeTest(t, "postgrest.test.mjs", map[string]string{
		"FLUXBASE_URL":              in.url,
		"FLUXBASE_ANON_KEY":         anon,
		"FLUXBASE_SERVICE_ROLE_KEY": service,
		"FLUXBASE_JWT_SECRET":       jwtSecret,
	})
}
