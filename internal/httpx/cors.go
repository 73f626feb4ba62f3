package httpx

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpsyntax"
)

type wildcardOrigin struct {
	scheme string
	suffix string // ".example.com"
	port   string
}

type corsPolicy struct {
	allowAll    bool
	origins     map[string]bool
	wildcards   []wildcardOrigin
	methods     map[string]bool
	methodList  string
	anyHeader   bool
	headers     map[string]bool
	exposed     string
	credentials bool
	maxAge      string
}

// CORS builds the cross-origin middleware from cfg; when cfg.Enabled is
// false it is a pass-through. Origins are matched exactly (after
// normalising case and default ports), as "https://*.example.com" (any
// subdomain at any depth, not example.com itself), or as "*" (any origin,
// refused together with credentials because browsers refuse it too).
//
// A preflight (OPTIONS with Access-Control-Request-Method) is answered here
// with 204 and never reaches the router. When the origin, method or a
// requested header is not allowed, the 204 carries no CORS headers and the
// browser blocks the real request; simple requests from other origins are
// served without CORS headers, so the browser hides the response.
func CORS(cfg config.CORSConfig) (func(http.Handler) http.Handler, error) {
	if !cfg.Enabled {
		return func(next http.Handler) http.Handler { return next }, nil
	}
	p, err := newCORSPolicy(cfg)
	if err != nil {
		return nil, err
	}
	return p.middleware, nil
}

func newCORSPolicy(cfg config.CORSConfig) (*corsPolicy, error) {
	p := &corsPolicy{
		origins:     map[string]bool{},
		methods:     map[string]bool{},
		headers:     map[string]bool{},
		credentials: cfg.AllowCredentials,
	}
	for _, o := range cfg.AllowedOrigins {
		o = strings.TrimSpace(o)
		switch {
		case o == "":
		case o == "*":
			if cfg.AllowCredentials {
				return nil, fmt.Errorf(`http.cors.allowed_origins: "*" cannot be combined with http.cors.allow_credentials; list the allowed origins instead`)
			}
			p.allowAll = true
		case strings.Contains(o, "*"):
			w, err := parseWildcardOrigin(o)
			if err != nil {
				return nil, err
			}
			p.wildcards = append(p.wildcards, w)
		default:
			n, ok := normalizeOrigin(o)
			if !ok {
				return nil, fmt.Errorf("http.cors.allowed_origins: %q is not an origin (want scheme://host[:port], for example https://app.example.com)", o)
			}
			p.origins[n] = true
		}
	}

	// An empty list means the documented default list, of which
	// config.Default holds the one copy.
	methods := cfg.AllowedMethods
	if len(methods) == 0 {
		methods = config.Default().HTTP.CORS.AllowedMethods
	}
	var ml []string
	for _, m := range methods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" || p.methods[m] {
			continue
		}
		if !httpsyntax.IsToken(m) {
			return nil, fmt.Errorf("http.cors.allowed_methods: %q is not an HTTP method", m)
		}
		p.methods[m] = true
		ml = append(ml, m)
	}
	p.methodList = strings.Join(ml, ", ")

	headers := cfg.AllowedHeaders
	if len(headers) == 0 {
		headers = config.Default().HTTP.CORS.AllowedHeaders
	}
	for _, h := range headers {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
		case h == "*":
			p.anyHeader = true
		case httpsyntax.IsToken(h):
			p.headers[strings.ToLower(h)] = true
		default:
			return nil, fmt.Errorf("http.cors.allowed_headers: %q is not a header name", h)
		}
	}

	exposed := cfg.ExposedHeaders
	if len(exposed) == 0 {
		exposed = config.Default().HTTP.CORS.ExposedHeaders
	}
	var el []string
	for _, h := range exposed {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !httpsyntax.IsToken(h) && h != "*" {
			return nil, fmt.Errorf("http.cors.exposed_headers: %q is not a header name", h)
		}
		el = append(el, h)
	}
	p.exposed = strings.Join(el, ", ")

	if cfg.MaxAge < 0 {
		return nil, fmt.Errorf("http.cors.max_age: must not be negative")
	}
	if s := int64(cfg.MaxAge.Seconds()); s > 0 {
		p.maxAge = strconv.FormatInt(s, 10)
	}
	return p, nil
}

// normalizeOrigin lower-cases scheme and host and drops a default port, so
// that configured origins compare equal to the serialisation browsers send.
func normalizeOrigin(s string) (string, bool) {
	if strings.EqualFold(s, "null") {
		return "null", true
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		(u.Path != "" && u.Path != "/") || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, true
	}
	return scheme + "://" + host, true
}

func parseWildcardOrigin(s string) (wildcardOrigin, error) {
	bad := fmt.Errorf("http.cors.allowed_origins: %q: a wildcard origin looks like https://*.example.com", s)
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !strings.HasPrefix(rest, "*.") || strings.Count(s, "*") != 1 {
		return wildcardOrigin{}, bad
	}
	n, ok := normalizeOrigin(scheme + "://x" + rest[1:])
	if !ok {
		return wildcardOrigin{}, bad
	}
	u, _ := url.Parse(n)
	base := strings.TrimPrefix(u.Hostname(), "x.")
	// "*.com" would allow every site in a public suffix.
	if !strings.Contains(base, ".") {
		return wildcardOrigin{}, fmt.Errorf("http.cors.allowed_origins: %q: the wildcard needs a registrable domain below it, like https://*.example.com", s)
	}
	return wildcardOrigin{scheme: u.Scheme, suffix: "." + base, port: u.Port()}, nil
}

func (p *corsPolicy) originAllowed(origin string) bool {
	if origin == "" {
		return false
	}
	if p.allowAll {
		return true
	}
	n, ok := normalizeOrigin(origin)
	if !ok {
		return false
	}
	if p.origins[n] {
		return true
	}
	if n == "null" || len(p.wildcards) == 0 {
		return false
	}
	u, err := url.Parse(n)
	if err != nil {
		return false
	}
	host := u.Hostname()
	for _, w := range p.wildcards {
		if u.Scheme == w.scheme && u.Port() == w.port &&
			len(host) > len(w.suffix) && strings.HasSuffix(host, w.suffix) {
			return true
		}
	}
	return false
}

// varyOrigin: the response differs per Origin unless every origin gets
// the same "*".
func (p *corsPolicy) varyOrigin() bool { return !p.allowAll || p.credentials }

func (p *corsPolicy) allowOriginValue(origin string) string {
	if p.allowAll && !p.credentials {
		return "*"
	}
	return origin
}

func (p *corsPolicy) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if r.Method == http.MethodOptions && origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			p.preflight(w, r, origin)
			return
		}
		h := w.Header()
		if p.varyOrigin() {
			h.Add("Vary", "Origin")
		}
		if p.originAllowed(origin) {
			h.Set("Access-Control-Allow-Origin", p.allowOriginValue(origin))
			if p.credentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			if p.exposed != "" {
				h.Set("Access-Control-Expose-Headers", p.exposed)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// safelistedMethods never need to be listed for the browser to allow them.
var safelistedMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true}

func (p *corsPolicy) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	defer w.WriteHeader(http.StatusNoContent)

	if !p.originAllowed(origin) {
		return
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !p.methods[strings.ToUpper(method)] && !safelistedMethods[method] {
		return
	}
	var requested []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, name := range strings.Split(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" || slices.Contains(requested, name) {
				continue
			}
			if !httpsyntax.IsToken(name) || (!p.anyHeader && !p.headers[name]) {
				return
			}
			requested = append(requested, name)
		}
	}

	h.Set("Access-Control-Allow-Origin", p.allowOriginValue(origin))
	if p.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", p.methodList)
	if len(requested) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(requested, ", "))
	}
	if p.maxAge != "" {
		h.Set("Access-Control-Max-Age", p.maxAge)
	}
}
