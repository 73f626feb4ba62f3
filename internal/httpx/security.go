package httpx

import (
	"net/http"
	"strconv"
	"time"
)

// SecurityOptions are the security headers put on every response. An empty
// field means the header is not sent (and is removed if an outer
// SecurityHeaders set it), so a route-level SecurityHeaders fully decides
// for its routes: the dashboard mounts its own with a CSP that allows its
// scripts and X-Frame-Options SAMEORIGIN.
type SecurityOptions struct {
	// FrameOptions: DENY for the API, whose responses are never meant to be
	// framed.
	FrameOptions string
	// ContentSecurityPolicy: for JSON responses "default-src 'none';
	// frame-ancestors 'none'" means that a response opened in a browser can
	// neither run nor load anything.
	ContentSecurityPolicy string
	ReferrerPolicy        string
	// HSTSMaxAge > 0 sends Strict-Transport-Security, only on requests that
	// arrived over TLS (directly or per a trusted proxy): browsers ignore it
	// over plain HTTP, and sending it on a local http:// setup helps nobody.
	HSTSMaxAge            time.Duration
	HSTSIncludeSubdomains bool
}

// APISecurity is the policy for the API: JSON is never framed, never
// rendered as a document, and leaks no referrer. Cross-Origin-Resource-Policy
// is deliberately not set: it would stop browsers on other origins from
// reading API responses that CORS allows.
func APISecurity() SecurityOptions {
	return SecurityOptions{
		FrameOptions:          "DENY",
		ContentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'",
		ReferrerPolicy:        "no-referrer",
		HSTSMaxAge:            365 * 24 * time.Hour,
	}
}

// SecurityHeaders sets the headers of o before the handler runs; handlers
// may still override them for their own response.
func SecurityHeaders(o SecurityOptions) func(http.Handler) http.Handler {
	hsts := ""
	if o.HSTSMaxAge > 0 {
		hsts = "max-age=" + strconv.FormatInt(int64(o.HSTSMaxAge/time.Second), 10)
		if o.HSTSIncludeSubdomains {
			hsts += "; includeSubDomains"
		}
	}
	// The values are the same on every response, so each is one slice
	// shared by all of them instead of one allocated per header and
	// response. Capacity 1 makes an Add by a handler copy it, and header
	// values are never written in place.
	values := func(v string) []string {
		if v == "" {
			return nil
		}
		return []string{v}[:1:1]
	}
	nosniff := values("nosniff")
	frame, csp, referrer := values(o.FrameOptions), values(o.ContentSecurityPolicy), values(o.ReferrerPolicy)
	hstsValue := values(hsts)
	set := func(h http.Header, k string, v []string) {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h["X-Content-Type-Options"] = nosniff
			set(h, "X-Frame-Options", frame)
			set(h, "Content-Security-Policy", csp)
			set(h, "Referrer-Policy", referrer)
			if hsts != "" && IsHTTPS(r) {
				h["Strict-Transport-Security"] = hstsValue
			} else {
				delete(h, "Strict-Transport-Security")
			}
			next.ServeHTTP(w, r)
		})
	}
}
