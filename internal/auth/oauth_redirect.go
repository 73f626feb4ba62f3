package auth

import (
	"net/url"
	"strings"
)

// allowedRedirect returns raw when it may be redirected to, else the site
// URL, as GoTrue does: a redirect goes to the site URL's host or to a URL
// matching auth.redirect_allow_list, never anywhere a link's holder asks.
func (s *Service) allowedRedirect(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return s.SiteURL()
	}
	if s.redirectAllowed(raw) {
		return raw
	}
	return s.SiteURL()
}

// redirectAllowed reports whether raw is the site's host or matches an
// allow-list pattern. Patterns are URLs where "*" matches within one
// host label or path segment and "**" matches anything.
func (s *Service) redirectAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil {
		return false
	}
	web := u.Scheme == "http" || u.Scheme == "https"
	if web && u.Host == "" {
		return false
	}
	// Native apps use custom schemes (myapp://callback), which only an
	// allow-list entry can admit.
	if !web && !customScheme(u.Scheme) {
		return false
	}
	if site, err := url.Parse(s.SiteURL()); err == nil && site.Host != "" && web && strings.EqualFold(site.Host, u.Host) {
		return true
	}
	for _, p := range s.cfg.RedirectAllowList {
		if globMatch(strings.TrimSpace(p), raw) {
			return true
		}
	}
	return false
}

func customScheme(s string) bool {
	if s == "" || s == "javascript" || s == "data" || s == "file" || s == "vbscript" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// globMatch matches s against pattern, where "**" matches any run of
// characters and "*" any run without '.' or '/' (so that
// https://*.example.com cannot be satisfied by https://evil.com/.example.com).
func globMatch(pattern, s string) bool {
	if pattern == "" {
		return false
	}
	// Iterative matching with backtracking to the last star, over bytes.
	var px, sx int
	type star struct {
		p, s int
		deep bool
	}
	var stars []star
	for sx < len(s) || px < len(pattern) {
		if px < len(pattern) {
			if strings.HasPrefix(pattern[px:], "**") {
				stars = append(stars, star{px + 2, sx, true})
				px += 2
				continue
			}
			if pattern[px] == '*' {
				stars = append(stars, star{px + 1, sx, false})
				px++
				continue
			}
			if sx < len(s) && pattern[px] == s[sx] {
				px++
				sx++
				continue
			}
		}
		// Backtrack: let the most recent star that can absorb one more
		// character do so.
		for len(stars) > 0 {
			st := &stars[len(stars)-1]
			if st.s < len(s) && (st.deep || (s[st.s] != '.' && s[st.s] != '/')) {
				st.s++
				px, sx = st.p, st.s
				break
			}
			stars = stars[:len(stars)-1]
		}
		if len(stars) == 0 {
			return false
		}
	}
	return true
}
