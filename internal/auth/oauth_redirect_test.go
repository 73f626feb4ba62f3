package auth

import (
	"testing"

	"github.com/fluxbase/fluxbase/internal/config"
)

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"http://localhost:3000/**", "http://localhost:3000/auth/callback?x=1", true},
		{"http://localhost:3000/**", "http://localhost:3000.evil.com/", false},
		{"https://*.example.com/**", "https://app.example.com/cb", true},
		{"https://*.example.com/**", "https://evil.com/.example.com/cb", false},
		{"https://*.example.com/**", "https://a.b.example.com/cb", false},
		{"https://example.com/cb", "https://example.com/cb", true},
		{"https://example.com/cb", "https://example.com/cb/x", false},
		{"https://example.com/*", "https://example.com/cb", true},
		{"https://example.com/*", "https://example.com/cb/x", false},
		{"myapp://**", "myapp://login-callback", true},
		{"", "x", false},
	}
	for _, c := range cases {
		if got := globMatch(c.pattern, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestAllowedRedirect(t *testing.T) {
	s := &Service{cfg: config.AuthConfig{
		SiteURL:           "https://app.example.com",
		RedirectAllowList: []string{"http://localhost:3000/**", "myapp://**"},
	}}
	cases := map[string]string{
		"":                                    "https://app.example.com",
		"https://app.example.com/welcome":     "https://app.example.com/welcome",
		"http://localhost:3000/cb":            "http://localhost:3000/cb",
		"myapp://cb":                          "myapp://cb",
		"https://evil.com/":                   "https://app.example.com",
		"javascript:alert(1)":                 "https://app.example.com",
		"https://user@app.example.com/":       "https://app.example.com",
		"//evil.com/x":                        "https://app.example.com",
		"https://app.example.com.evil.com/cb": "https://app.example.com",
	}
	for in, want := range cases {
		if got := s.allowedRedirect(in); got != want {
			t.Errorf("allowedRedirect(%q) = %q, want %q", in, got, want)
		}
	}
}
