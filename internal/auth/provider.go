package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/fluxbase/fluxbase/internal/config"
)

// providerUser is what a provider told us about the person signing in.
type providerUser struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	AvatarURL     string
	UserName      string
	// Data is the identity_data stored with the identity (and copied into
	// a new user's user_metadata), in GoTrue's field names.
	Data map[string]any
}

// oauthProvider is one configured OAuth2 or OIDC provider.
type oauthProvider struct {
	name        string
	issuer      string // OIDC discovery; empty for plain OAuth2
	oauth       oauth2.Config
	userinfoURL string
	// fetchUser reads the user of a plain OAuth2 provider with its token.
	fetchUser func(ctx context.Context, hc *http.Client, p *oauthProvider, tok *oauth2.Token) (providerUser, error)
	// claimMap names, for custom OAuth2 providers, the userinfo fields that
	// hold id, email, email_verified, name and avatar_url.
	claimMap map[string]string
	// authParams are extra authorization request parameters.
	authParams []oauth2.AuthCodeOption
	// emailsVerified: the provider only hands out verified addresses
	// (Facebook, X) though it does not say so per address.
	emailsVerified bool
	// anyTenant accepts ID tokens whose issuer is the tenant-specific form
	// of a multi-tenant issuer (Microsoft's common endpoint).
	anyTenant bool

	mu       sync.Mutex
	oidc     *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

// providerHTTPTimeout bounds each call to a provider, so that a provider that hangs
// cannot hold a sign-in for long.
const providerHTTPTimeout = 15 * time.Second

type presetDef struct {
	issuer      string
	authURL     string
	tokenURL    string
	userinfoURL string
	scopes      []string
	fetchUser   func(ctx context.Context, hc *http.Client, p *oauthProvider, tok *oauth2.Token) (providerUser, error)
	authParams  []oauth2.AuthCodeOption
	verified    bool
	anyTenant   bool
}

// presets are the providers Fluxbase knows by name. OIDC ones are found by
// discovery from their issuer; the others have fixed endpoints and a
// function that reads the user from their API.
func presets(name, issuerOverride string) (presetDef, bool) {
	switch name {
	case "google":
		return presetDef{issuer: "https://accounts.google.com", scopes: []string{oidc.ScopeOpenID, "email", "profile"}}, true
	case "microsoft":
		iss := issuerOverride
		if iss == "" {
			iss = "https://login.microsoftonline.com/common/v2.0"
		}
		return presetDef{issuer: iss, scopes: []string{oidc.ScopeOpenID, "email", "profile"}, anyTenant: isMicrosoftMultiTenant(iss)}, true
	case "apple":
		// Apple posts the callback (response_mode=form_post) when name or
		// email is requested.
		return presetDef{issuer: "https://appleid.apple.com", scopes: []string{"name", "email"},
			authParams: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("response_mode", "form_post")}}, true
	case "linkedin":
		return presetDef{issuer: "https://www.linkedin.com/oauth", scopes: []string{oidc.ScopeOpenID, "email", "profile"}}, true
	case "gitlab":
		iss := issuerOverride
		if iss == "" {
			iss = "https://gitlab.com"
		}
		return presetDef{issuer: iss, scopes: []string{oidc.ScopeOpenID, "email", "profile"}}, true
	case "github":
		return presetDef{
			authURL: "https://github.com/login/oauth/authorize", tokenURL: "https://github.com/login/oauth/access_token",
			userinfoURL: "https://api.github.com/user", scopes: []string{"read:user", "user:email"}, fetchUser: fetchGitHubUser,
		}, true
	case "facebook":
		return presetDef{
			authURL: "https://www.facebook.com/v19.0/dialog/oauth", tokenURL: "https://graph.facebook.com/v19.0/oauth/access_token",
			userinfoURL: "https://graph.facebook.com/v19.0/me?fields=id,name,email,picture.type(large)",
			scopes:      []string{"email", "public_profile"}, fetchUser: fetchFacebookUser, verified: true,
		}, true
	case "twitter":
		return presetDef{
			authURL: "https://x.com/i/oauth2/authorize", tokenURL: "https://api.x.com/2/oauth2/token",
			userinfoURL: "https://api.x.com/2/users/me?user.fields=profile_image_url,confirmed_email",
			scopes:      []string{"users.read", "tweet.read", "users.email"}, fetchUser: fetchTwitterUser, verified: true,
		}, true
	case "bitbucket":
		return presetDef{
			authURL: "https://bitbucket.org/site/oauth2/authorize", tokenURL: "https://bitbucket.org/site/oauth2/access_token",
			userinfoURL: "https://api.bitbucket.org/2.0/user", scopes: []string{"account", "email"}, fetchUser: fetchBitbucketUser,
		}, true
	}
	return presetDef{}, false
}

func isMicrosoftMultiTenant(iss string) bool {
	for _, t := range []string{"/common/", "/organizations/", "/consumers/"} {
		if strings.Contains(iss, t) {
			return true
		}
	}
	return false
}

// newConfiguredProvider builds a provider from its configuration entry.
// name is a preset name or "oidc" (generic, by issuer discovery).
func newConfiguredProvider(name string, c config.ExternalProvider, defaultRedirect string) (*oauthProvider, error) {
	p := &oauthProvider{name: name}
	var def presetDef
	if name == "oidc" {
		def = presetDef{issuer: c.Issuer, scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
	} else {
		var ok bool
		if def, ok = presets(name, c.Issuer); !ok {
			return nil, fmt.Errorf("unknown provider %q", name)
		}
	}
	p.issuer = def.issuer
	p.userinfoURL = firstNonEmpty(c.UserinfoURL, def.userinfoURL)
	p.fetchUser = def.fetchUser
	p.authParams = def.authParams
	p.emailsVerified = def.verified
	p.anyTenant = def.anyTenant
	scopes := def.scopes
	if len(c.Scopes) > 0 {
		scopes = c.Scopes
	}
	p.oauth = oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.Secret,
		RedirectURL:  firstNonEmpty(c.RedirectURI, defaultRedirect),
		Scopes:       scopes,
		Endpoint:     oauth2.Endpoint{AuthURL: firstNonEmpty(c.AuthorizationURL, def.authURL), TokenURL: firstNonEmpty(c.TokenURL, def.tokenURL)},
	}
	return p, nil
}

// customProviderRow is a provider added at run time (auth.oauth_providers).
type customProviderRow struct {
	Name, Kind, ClientID, Secret, Issuer, AuthURL, TokenURL, UserinfoURL, RedirectURI string
	Scopes                                                                            []string
	ClaimMap                                                                          map[string]string
}

func newCustomProvider(r customProviderRow, defaultRedirect string) (*oauthProvider, error) {
	switch r.Kind {
	case "oidc", "preset":
		name := "oidc"
		if r.Kind == "preset" {
			name = r.Name
		}
		p, err := newConfiguredProvider(name, config.ExternalProvider{
			ClientID: r.ClientID, Secret: r.Secret, Issuer: r.Issuer, AuthorizationURL: r.AuthURL,
			TokenURL: r.TokenURL, UserinfoURL: r.UserinfoURL, Scopes: r.Scopes, RedirectURI: r.RedirectURI,
		}, defaultRedirect)
		if err != nil {
			return nil, err
		}
		p.name = r.Name
		return p, nil
	case "oauth2":
		if r.AuthURL == "" || r.TokenURL == "" || r.UserinfoURL == "" {
			return nil, errors.New("an oauth2 provider needs authorization_url, token_url and userinfo_url")
		}
		return &oauthProvider{
			name:        r.Name,
			userinfoURL: r.UserinfoURL,
			fetchUser:   fetchMappedUser,
			claimMap:    r.ClaimMap,
			oauth: oauth2.Config{
				ClientID: r.ClientID, ClientSecret: r.Secret, RedirectURL: firstNonEmpty(r.RedirectURI, defaultRedirect),
				Scopes: r.Scopes, Endpoint: oauth2.Endpoint{AuthURL: r.AuthURL, TokenURL: r.TokenURL},
			},
		}, nil
	}
	return nil, fmt.Errorf("unknown provider kind %q", r.Kind)
}

// discover resolves an OIDC provider's endpoints and keys on first use and
// keeps them; a failed discovery is retried by the next sign-in.
func (p *oauthProvider) discover(ctx context.Context, hc *http.Client) error {
	if p.issuer == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oidc != nil {
		return nil
	}
	dctx := oidc.ClientContext(ctx, hc)
	if p.anyTenant {
		// The common endpoint's discovery document names a templated
		// tenant issuer; the tenant is checked on each ID token instead.
		dctx = oidc.InsecureIssuerURLContext(dctx, p.issuer)
	}
	op, err := oidc.NewProvider(dctx, p.issuer)
	if err != nil {
		return fmt.Errorf("OIDC discovery for %s at %s: %w", p.name, p.issuer, err)
	}
	ep := op.Endpoint()
	if p.oauth.Endpoint.AuthURL == "" {
		p.oauth.Endpoint.AuthURL = ep.AuthURL
	}
	if p.oauth.Endpoint.TokenURL == "" {
		p.oauth.Endpoint.TokenURL = ep.TokenURL
	}
	if p.userinfoURL == "" {
		p.userinfoURL = op.UserInfoEndpoint()
	}
	p.verifier = op.Verifier(&oidc.Config{ClientID: p.oauth.ClientID, SkipIssuerCheck: p.anyTenant})
	p.oidc = op
	return nil
}

// authCodeURL is where the browser goes to sign in at the provider.
func (p *oauthProvider) authCodeURL(state, verifier, nonce string, extraScopes []string) string {
	cfg := p.oauth
	if len(extraScopes) > 0 {
		cfg.Scopes = append(append([]string{}, cfg.Scopes...), extraScopes...)
	}
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, p.authParams...)
	if p.issuer != "" {
		opts = append(opts, oidc.Nonce(nonce))
	}
	return cfg.AuthCodeURL(state, opts...)
}

// exchange trades the provider's code for tokens and reads the user: from
// the verified ID token (with the nonce checked) for OIDC, completed by
// userinfo when the token lacks the email; from the provider's API for
// plain OAuth2.
func (p *oauthProvider) exchange(ctx context.Context, hc *http.Client, code, verifier, nonce string) (providerUser, *oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	tok, err := p.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return providerUser{}, nil, fmt.Errorf("token exchange with %s: %w", p.name, err)
	}
	if p.issuer == "" {
		u, err := p.fetchUser(ctx, hc, p, tok)
		return u, tok, err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return providerUser{}, nil, fmt.Errorf("%s returned no id_token", p.name)
	}
	idt, err := p.verifier.Verify(oidc.ClientContext(ctx, hc), raw)
	if err != nil {
		return providerUser{}, nil, fmt.Errorf("%s id_token: %w", p.name, err)
	}
	if idt.Nonce != nonce {
		return providerUser{}, nil, fmt.Errorf("%s id_token: nonce does not match", p.name)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return providerUser{}, nil, err
	}
	if p.anyTenant {
		tid, _ := claims["tid"].(string)
		if tid == "" || idt.Issuer != strings.Replace(p.issuer, tenantSegment(p.issuer), "/"+tid+"/", 1) {
			return providerUser{}, nil, fmt.Errorf("%s id_token: issuer %q does not match its tenant", p.name, idt.Issuer)
		}
	}
	if _, has := claims["email"]; !has && p.userinfoURL != "" {
		info, err := p.oidc.UserInfo(oidc.ClientContext(ctx, hc), oauth2.StaticTokenSource(tok))
		if err == nil && info.Subject == idt.Subject {
			extra := map[string]any{}
			if info.Claims(&extra) == nil {
				for k, v := range extra {
					if _, ok := claims[k]; !ok {
						claims[k] = v
					}
				}
			}
		}
	}
	return userFromClaims(idt.Issuer, claims, p.emailsVerified), tok, nil
}

func tenantSegment(iss string) string {
	for _, t := range []string{"/common/", "/organizations/", "/consumers/"} {
		if strings.Contains(iss, t) {
			return t
		}
	}
	return ""
}

// userFromClaims reads standard OIDC claims.
func userFromClaims(iss string, c map[string]any, verified bool) providerUser {
	u := providerUser{
		Subject:   str(c["sub"]),
		Email:     strings.ToLower(str(c["email"])),
		Name:      firstNonEmpty(str(c["name"]), strings.TrimSpace(str(c["given_name"])+" "+str(c["family_name"]))),
		AvatarURL: str(c["picture"]),
		UserName:  firstNonEmpty(str(c["preferred_username"]), str(c["nickname"])),
	}
	u.EmailVerified = verified || boolish(c["email_verified"])
	u.Data = identityData(iss, u)
	for _, k := range []string{"given_name", "family_name", "locale", "phone_number"} {
		if v, ok := c[k]; ok {
			u.Data[k] = v
		}
	}
	return u
}

// identityData is GoTrue's identity_data for u.
func identityData(iss string, u providerUser) map[string]any {
	d := map[string]any{
		"iss":            iss,
		"sub":            u.Subject,
		"provider_id":    u.Subject,
		"email":          u.Email,
		"email_verified": u.EmailVerified,
		"phone_verified": false,
	}
	if u.Name != "" {
		d["name"], d["full_name"] = u.Name, u.Name
	}
	if u.AvatarURL != "" {
		d["avatar_url"], d["picture"] = u.AvatarURL, u.AvatarURL
	}
	if u.UserName != "" {
		d["user_name"], d["preferred_username"] = u.UserName, u.UserName
	}
	return d
}

// getProviderJSON GETs url with the bearer token and decodes the answer.
func getProviderJSON(ctx context.Context, hc *http.Client, rawURL string, tok *oauth2.Token, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", redactQuery(rawURL), resp.Status)
	}
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.UseNumber()
	return d.Decode(v)
}

func redactQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "provider URL"
	}
	u.RawQuery = ""
	return u.String()
}

func fetchGitHubUser(ctx context.Context, hc *http.Client, p *oauthProvider, tok *oauth2.Token) (providerUser, error) {
	var me struct {
		ID        json.Number `json:"id"`
		Login     string      `json:"login"`
		Name      string      `json:"name"`
		AvatarURL string      `json:"avatar_url"`
	}
	if err := getProviderJSON(ctx, hc, p.userinfoURL, tok, &me); err != nil {
		return providerUser{}, err
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	emailsURL := strings.TrimSuffix(p.userinfoURL, "/user") + "/user/emails"
	if err := getProviderJSON(ctx, hc, emailsURL, tok, &emails); err != nil {
		return providerUser{}, err
	}
	u := providerUser{Subject: me.ID.String(), Name: me.Name, AvatarURL: me.AvatarURL, UserName: me.Login}
	for _, e := range emails {
		if e.Primary {
			u.Email, u.EmailVerified = strings.ToLower(e.Email), e.Verified
		}
	}
	u.Data = identityData("https://api.github.com", u)
	return u, nil
}

func fetchFacebookUser(ctx context.Context, hc *http.Client, p *oauthProvider, tok *oauth2.Token) (providerUser, error) {
	var me struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Email   string `json:"email"`
		Picture struct {
			Data struct {
				URL string `json:"url"`
			} `json:"data"`
		} `json:"picture"`
	}
	if err := getProviderJSON(ctx, hc, p.userinfoURL, tok, &me); err != nil {
		return providerUser{}, err
	}
	u := providerUser{Subject: me.ID, Name: me.Name, Email: strings.ToLower(me.Email), EmailVerified: me.Email != "" && p.emailsVerified, AvatarURL: me.Picture.Data.URL}
	u.Data = identityData("https://www.facebook.com", u)
	return u, nil
}

func fetchTwitterUser(ctx context.Context, hc *http.Client, p *oauthProvider, tok *oauth2.Token) (providerUser, error) {
	var me struct {
		Data struct {
			ID              string `json:"id"`
			Name            string `json:"name"`
			Username        string `json:"username"`
			ProfileImageURL string `json:"profile_image_url"`
			ConfirmedEmail  string `json:"confirmed_email"`
		} `json:"data"`
	}
	if err := getProviderJSON(ctx, hc, p.userinfoURL, tok, &me); err != nil {
		return providerUser{}, err
	}
	d := me.Data
	u := providerUser{Subject: d.ID, Name: d.Name, UserName: d.Username, AvatarURL: d.ProfileImageURL,
		Email: strings.ToLower(d.ConfirmedEmail), EmailVerified: d.ConfirmedEmail != ""}
	u.Data = identityData("https://api.x.com", u)
	return u, nil
}

func fetchBitbucketUser(ctx context.Context, hc *http.Client, p *oauthProvider, tok *oauth2.Token) (providerUser, error) {
	var me struct {
		UUID        string `json:"uuid"`
		Username    string `json:"username"`
		DisplayName string `json:"display_name"`
		Links       struct {
			Avatar struct {
				Href string `json:"href"`
			} `json:"avatar"`
		} `json:"links"`
	}
	if err := getProviderJSON(ctx, hc, p.userinfoURL, tok, &me); err != nil {
		return providerUser{}, err
	}
	var emails struct {
		Values []struct {
			Email     string `json:"email"`
			Primary   bool   `json:"is_primary"`
			Confirmed bool   `json:"is_confirmed"`
		} `json:"values"`
	}
	if err := getProviderJSON(ctx, hc, strings.TrimSuffix(p.userinfoURL, "/user")+"/user/emails", tok, &emails); err != nil {
		return providerUser{}, err
	}
	u := providerUser{Subject: me.UUID, Name: me.DisplayName, UserName: me.Username, AvatarURL: me.Links.Avatar.Href}
	for _, e := range emails.Values {
		if e.Primary {
			u.Email, u.EmailVerified = strings.ToLower(e.Email), e.Confirmed
		}
	}
	u.Data = identityData("https://bitbucket.org", u)
	return u, nil
}

// fetchMappedUser reads a custom OAuth2 provider's userinfo answer, taking
// each field from the dotted path its claim map names (defaults: the OIDC
// claim names).
func fetchMappedUser(ctx context.Context, hc *http.Client, p *oauthProvider, tok *oauth2.Token) (providerUser, error) {
	var info map[string]any
	if err := getProviderJSON(ctx, hc, p.userinfoURL, tok, &info); err != nil {
		return providerUser{}, err
	}
	get := func(field, def string) any {
		path := def
		if m, ok := p.claimMap[field]; ok && m != "" {
			path = m
		}
		var cur any = info
		for _, part := range strings.Split(path, ".") {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = obj[part]
		}
		return cur
	}
	u := providerUser{
		Subject:       str(get("id", "sub")),
		Email:         strings.ToLower(str(get("email", "email"))),
		EmailVerified: boolish(get("email_verified", "email_verified")),
		Name:          str(get("name", "name")),
		AvatarURL:     str(get("avatar_url", "picture")),
	}
	if u.Subject == "" {
		return providerUser{}, errors.New("the provider's userinfo has no user id")
	}
	u.Data = identityData(redactQuery(p.userinfoURL), u)
	return u, nil
}

// str renders a JSON scalar as a string (ids are often numbers).
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// boolish reads a boolean that some providers send as a string.
func boolish(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
