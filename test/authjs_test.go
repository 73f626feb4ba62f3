package test

import (
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

	anon, service := instanceKeys(t, dir)
	runNodeTest(t, "auth.test.mjs", map[string]string{
		"FLUXBASE_URL":              in.url,
		"FLUXBASE_ANON_KEY":         anon,
		"FLUXBASE_SERVICE_ROLE_KEY": service,
		"MAILPIT_URL":               mp.APIURL,
	})
}
