package test

import (
	"strings"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/testservers"
)

// TestAuthJS drives @supabase/auth-js (test/js/auth.test.mjs) against the
// built binary, with mail going to a real SMTP server (mailpit).
func TestAuthJS(t *testing.T) {
	t.Parallel()
	mp := testservers.StartMailpit(t)
	env := []string{}
	for k, v := range mp.Env("Fluxbase <no-reply@example.com>") {
		env = append(env, k+"="+v)
	}
	dir := dataDir(t)
	in := start(t, dir, env)
	in.waitReady(90 * time.Second)

	code, out, stderr, _ := runCmd(t, 60*time.Second, t.TempDir(), nil, "keys", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("fluxbase keys: exit %d: %s", code, stderr)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			keys[k] = v
		}
	}
	runNodeTest(t, "auth.test.mjs", map[string]string{
		"FLUXBASE_URL":              in.url,
		"FLUXBASE_ANON_KEY":         keys["FLUXBASE_ANON_KEY"],
		"FLUXBASE_SERVICE_ROLE_KEY": keys["FLUXBASE_SERVICE_ROLE_KEY"],
		"MAILPIT_URL":               mp.APIURL,
	})
}
