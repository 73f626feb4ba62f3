package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/fluxbase/fluxbase/internal/config"
)

// fakeAPI is a hand-written stand-in for a provider's user API: it answers
// fixed JSON per path and checks the bearer token.
func fakeAPI(t *testing.T, routes map[string]any) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		v, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPresetUserFetchers(t *testing.T) {
	tok := &oauth2.Token{AccessToken: "tok"}
	cases := []struct {
		name   string
		routes map[string]any
		path   string
		fetch  func(context.Context, *http.Client, *oauthProvider, *oauth2.Token) (providerUser, error)
		want   providerUser
	}{
		{"github", map[string]any{
			"/user":        map[string]any{"id": 583231, "login": "octocat", "name": "The Octocat", "avatar_url": "https://a/x.png"},
			"/user/emails": []any{map[string]any{"email": "other@example.com", "primary": false, "verified": true}, map[string]any{"email": "Octo@Example.com", "primary": true, "verified": true}},
		}, "/user", fetchGitHubUser, providerUser{Subject: "583231", Email: "octo@example.com", EmailVerified: true, Name: "The Octocat", UserName: "octocat", AvatarURL: "https://a/x.png"}},
		{"bitbucket", map[string]any{
			"/2.0/user":        map[string]any{"uuid": "{abc}", "username": "bb", "display_name": "B B", "links": map[string]any{"avatar": map[string]any{"href": "https://a/b.png"}}},
			"/2.0/user/emails": map[string]any{"values": []any{map[string]any{"email": "bb@example.com", "is_primary": true, "is_confirmed": false}}},
		}, "/2.0/user", fetchBitbucketUser, providerUser{Subject: "{abc}", Email: "bb@example.com", EmailVerified: false, Name: "B B", UserName: "bb", AvatarURL: "https://a/b.png"}},
		{"facebook", map[string]any{
			"/me": map[string]any{"id": "10", "name": "F B", "email": "fb@example.com", "picture": map[string]any{"data": map[string]any{"url": "https://a/f.png"}}},
		}, "/me", fetchFacebookUser, providerUser{Subject: "10", Email: "fb@example.com", EmailVerified: true, Name: "F B", AvatarURL: "https://a/f.png"}},
		{"twitter", map[string]any{
			"/2/users/me": map[string]any{"data": map[string]any{"id": "44", "name": "X", "username": "x_user", "profile_image_url": "https://a/t.png", "confirmed_email": "x@example.com"}},
		}, "/2/users/me", fetchTwitterUser, providerUser{Subject: "44", Email: "x@example.com", EmailVerified: true, Name: "X", UserName: "x_user", AvatarURL: "https://a/t.png"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := fakeAPI(t, c.routes)
			p, err := newConfiguredProvider(c.name, config.ExternalProvider{Enabled: true, ClientID: "id", UserinfoURL: srv.URL + c.path}, "http://cb")
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.fetch(context.Background(), srv.Client(), p, tok)
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != c.want.Subject || got.Email != c.want.Email || got.EmailVerified != c.want.EmailVerified ||
				got.Name != c.want.Name || got.UserName != c.want.UserName || got.AvatarURL != c.want.AvatarURL {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			if got.Data["sub"] != c.want.Subject || got.Data["email"] != c.want.Email {
				t.Fatalf("identity data %v", got.Data)
			}
		})
	}
}

func TestMappedUserFetcher(t *testing.T) {
	srv := fakeAPI(t, map[string]any{"/me": map[string]any{"user": map[string]any{"uid": 7, "mail": "M@Example.com", "ok": "true"}, "display": "Em"}})
	p, err := newCustomProvider(customProviderRow{Name: "corp", Kind: "oauth2", ClientID: "c", AuthURL: srv.URL + "/a", TokenURL: srv.URL + "/t",
		UserinfoURL: srv.URL + "/me", ClaimMap: map[string]string{"id": "user.uid", "email": "user.mail", "email_verified": "user.ok", "name": "display"}}, "http://cb")
	if err != nil {
		t.Fatal(err)
	}
	u, err := p.fetchUser(context.Background(), srv.Client(), p, &oauth2.Token{AccessToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Subject != "7" || u.Email != "m@example.com" || !u.EmailVerified || u.Name != "Em" {
		t.Fatalf("got %+v", u)
	}
	if _, err := p.fetchUser(context.Background(), srv.Client(), p, &oauth2.Token{AccessToken: "wrong"}); err == nil {
		t.Fatal("a refused userinfo call succeeded")
	}
	if _, err := newCustomProvider(customProviderRow{Name: "x", Kind: "oauth2", ClientID: "c"}, "http://cb"); err == nil {
		t.Fatal("an oauth2 provider without URLs was accepted")
	}
}

func TestPresetsAndAuthURL(t *testing.T) {
	for _, name := range []string{"google", "github", "microsoft", "apple", "facebook", "twitter", "linkedin", "gitlab", "bitbucket"} {
		def, ok := presets(name, "")
		if !ok || (def.issuer == "" && (def.authURL == "" || def.tokenURL == "" || def.fetchUser == nil)) {
			t.Errorf("preset %s incomplete: %+v", name, def)
		}
	}
	if _, ok := presets("myspace", ""); ok {
		t.Error("unknown preset accepted")
	}
	ms, _ := presets("microsoft", "")
	if !ms.anyTenant {
		t.Error("the common Microsoft endpoint must accept any tenant")
	}
	single, _ := presets("microsoft", "https://login.microsoftonline.com/0000-tenant/v2.0")
	if single.anyTenant {
		t.Error("a tenant-specific Microsoft issuer must be checked exactly")
	}

	gh, _ := newConfiguredProvider("github", config.ExternalProvider{ClientID: "cid", Scopes: []string{"read:user"}}, "https://api.example/auth/v1/callback")
	u, err := url.Parse(gh.authCodeURL("st", "verifier-verifier-verifier-verifier-verifier", "n", []string{"repo"}))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "github.com" || q.Get("state") != "st" || q.Get("client_id") != "cid" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("scope") != "read:user repo" || q.Get("redirect_uri") != "https://api.example/auth/v1/callback" || q.Has("nonce") {
		t.Fatalf("github authorization URL %s", u)
	}
	apple, _ := newConfiguredProvider("apple", config.ExternalProvider{ClientID: "cid", AuthorizationURL: "https://appleid.apple.com/auth/authorize"}, "https://cb")
	u, _ = url.Parse(apple.authCodeURL("st", "v", "nonce-1", nil))
	if u.Query().Get("response_mode") != "form_post" || u.Query().Get("nonce") != "nonce-1" {
		t.Fatalf("apple authorization URL %s", u)
	}
}
