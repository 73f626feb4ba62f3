package testservers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// TestOIDCProviderLogin drives the provider's own authorization-code flow
// to a redirect URI that nothing listens on: the code arrives in the URL.
func TestOIDCProviderLogin(t *testing.T) {
	redirect := "http://127.0.0.1:1/callback"
	p := StartOIDCProvider(t, []string{redirect}, []OIDCUser{{
		ID: "u1", Username: "alice", Password: "pw-alice-1", Email: "alice@example.com", EmailVerified: true,
	}})
	resp, err := http.Get(p.Issuer + ".well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Issuer string `json:"issuer"`
		Auth   string `json:"authorization_endpoint"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if disc.Issuer != p.Issuer {
		t.Fatalf("issuer %q, want %q", disc.Issuer, p.Issuer)
	}
	q := url.Values{
		"client_id": {p.ClientID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid email profile"}, "state": {"st-123"},
	}
	final := Login(t, disc.Auth+"?"+q.Encode(), "alice", "pw-alice-1", "http://127.0.0.1:1/")
	if final.Query().Get("state") != "st-123" || final.Query().Get("code") == "" {
		t.Fatalf("final redirect %s lacks code and state", final)
	}
}
