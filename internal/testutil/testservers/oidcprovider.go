package testservers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// OIDCProvider is a running zitadel example OpenID provider
// (github.com/zitadel/oidc/v3/example/server): discovery at
// Issuer/.well-known/openid-configuration, a confidential client
// ClientID/ClientSecret allowed to redirect to the URIs it was started
// with, and a username/password login form.
type OIDCProvider struct {
	Issuer       string
	ClientID     string
	ClientSecret string
}

// OIDCUser is an account of the provider.
type OIDCUser struct {
	ID            string
	Username      string
	Password      string
	FirstName     string
	LastName      string
	Email         string
	EmailVerified bool
}

// StartOIDCProvider starts the example provider from bin/tools (installed
// as "server") on a free port, allowing redirects to redirectURIs only, with
// the given users. The issuer names localhost, as the program hard-codes.
func StartOIDCProvider(t testing.TB, redirectURIs []string, users []OIDCUser) *OIDCProvider {
	t.Helper()
	return startOIDCProvider(t, 0, redirectURIs, users)
}

// StartOIDCProviderOn is StartOIDCProvider on a port chosen beforehand
// (with FreePort), for a server that must be configured with the issuer
// before the provider can be told its redirect URI.
func StartOIDCProviderOn(t testing.TB, port int, redirectURIs []string, users []OIDCUser) *OIDCProvider {
	t.Helper()
	return startOIDCProvider(t, port, redirectURIs, users)
}

// OIDCIssuer is the issuer the provider has on port.
func OIDCIssuer(port int) string { return fmt.Sprintf("http://localhost:%d/", port) }

func startOIDCProvider(t testing.TB, fixedPort int, redirectURIs []string, users []OIDCUser) *OIDCProvider {
	t.Helper()
	bin := ToolPath(t, "server")
	// The program's user file is a JSON object of its User struct by id.
	type fileUser struct {
		ID, Username, Password, FirstName, LastName, Email string
		EmailVerified                                      bool
		PreferredLanguage                                  string
	}
	file := map[string]fileUser{}
	for _, u := range users {
		file[u.ID] = fileUser{u.ID, u.Username, u.Password, u.FirstName, u.LastName, u.Email, u.EmailVerified, "en"}
	}
	b, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	usersFile := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(usersFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := fixedPort
		if port == 0 {
			port = FreePort(t)
		}
		p := startProcess(t, bin, nil, []string{
			"PORT=" + strconv.Itoa(port),
			"REDIRECT_URI=" + strings.Join(redirectURIs, ","),
			"USERS_FILE=" + usersFile,
		})
		issuer := OIDCIssuer(port)
		if lastErr = p.waitHTTP(issuer+".well-known/openid-configuration", 15*time.Second); lastErr == nil {
			// "web" is the program's confidential client with secret "secret".
			return &OIDCProvider{Issuer: issuer, ClientID: "web", ClientSecret: "secret"}
		}
		if fixedPort != 0 {
			break
		}
	}
	t.Fatalf("OIDC provider did not start: %v", lastErr)
	return nil
}

var hiddenIDRE = regexp.MustCompile(`name="id" value="([^"]+)"`)

// Login drives a browser through a sign-in: it follows authorizeURL
// (Fluxbase's /authorize) to the provider's login form, submits username
// and password, and follows the redirects until one leaves both Fluxbase
// and the provider, i.e. reaches the application. It returns that final
// URL (the application's redirect, with the session or an error in its
// fragment or query) without requesting it.
func Login(t testing.TB, authorizeURL, username, password string, appPrefix string) *url.URL {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var final *url.URL
	client := &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), appPrefix) {
				final = req.URL
				return http.ErrUseLastResponse
			}
			if len(via) > 20 {
				return fmt.Errorf("too many redirects")
			}
			return nil
		},
	}
	resp, err := client.Get(authorizeURL)
	if err != nil {
		t.Fatalf("GET %s: %v", authorizeURL, err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if final != nil {
		return final
	}
	m := hiddenIDRE.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no login form at %s (status %d):\n%s", resp.Request.URL, resp.StatusCode, page)
	}
	form := url.Values{"id": {string(m[1])}, "username": {username}, "password": {password}}
	loginURL := resp.Request.URL.ResolveReference(&url.URL{Path: "/login/username"})
	resp, err = client.PostForm(loginURL.String(), form)
	if err != nil {
		t.Fatalf("POST %s: %v", loginURL, err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if final == nil {
		t.Fatalf("sign-in did not reach the application (status %d at %s):\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	return final
}
