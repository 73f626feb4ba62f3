package test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/testservers"
)

// TestOIDCSignInBinary signs in through a real OpenID provider (zitadel's
// example server) with the built binary, configured only through
// FLUXBASE_AUTH_EXTERNAL_OIDC_* variables: authorize, the provider's login
// form, the callback, and the session in the application's redirect.
func TestOIDCSignInBinary(t *testing.T) {
	t.Parallel()
	port := testservers.FreePort(t)
	dir := dataDir(t)
	in := start(t, dir, []string{
		"FLUXBASE_AUTH_EXTERNAL_OIDC_ENABLED=true",
		"FLUXBASE_AUTH_EXTERNAL_OIDC_CLIENT_ID=web",
		"FLUXBASE_AUTH_EXTERNAL_OIDC_SECRET=secret",
		"FLUXBASE_AUTH_EXTERNAL_OIDC_ISSUER=" + testservers.OIDCIssuer(port),
		"FLUXBASE_AUTH_REDIRECT_ALLOW_LIST=http://localhost:3000/**",
	})
	in.waitReady(90 * time.Second)
	// Discovery is lazy, so the provider may start after Fluxbase, once
	// Fluxbase's callback URL is known.
	testservers.StartOIDCProviderOn(t, port, []string{in.url + "/auth/v1/callback"}, []testservers.OIDCUser{
		{ID: "u-hal", Username: "hal", Password: "hal-pw-1", FirstName: "Hal", Email: "hal@example.com", EmailVerified: true},
	})
	final := testservers.Login(t, in.url+"/auth/v1/authorize?provider=oidc&redirect_to="+url.QueryEscape("http://localhost:3000/cb"),
		"hal", "hal-pw-1", "http://localhost:3000/")
	frag, err := url.ParseQuery(final.Fragment)
	if err != nil || frag.Get("access_token") == "" {
		t.Fatalf("no session in %s", final)
	}
	req, _ := http.NewRequest(http.MethodGet, in.url+"/auth/v1/user", nil)
	req.Header.Set("Authorization", "Bearer "+frag.Get("access_token"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var u struct {
		Email      string `json:"email"`
		Identities []struct {
			Provider string `json:"provider"`
		} `json:"identities"`
	}
	if err := json.NewDecoder(res.Body).Decode(&u); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /user: %d %v", res.StatusCode, err)
	}
	if u.Email != "hal@example.com" || len(u.Identities) != 1 || u.Identities[0].Provider != "oidc" {
		t.Fatalf("user %+v", u)
	}
	if exp, _ := strconv.Atoi(frag.Get("expires_in")); exp <= 0 {
		t.Fatalf("expires_in %q", frag.Get("expires_in"))
	}
}
