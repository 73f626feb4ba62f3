package test

import "testing"

// TestTusJS drives tus-js-client (npm), as Supabase's resumable upload
// guide uses it, against the binary, once per storage backend.
func TestTusJS(t *testing.T) {
	forEachBackend(t, func(t *testing.T, in *instance, secret string) {
		runNodeTest(t, "tus.test.mjs", map[string]string{
			"FLUXBASE_URL":              in.url,
			"FLUXBASE_SERVICE_ROLE_KEY": hs256(t, secret, "service_role"),
		})
	})
}
