package httpx

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// NotFound is the router's handler for paths no route matches: the JSON
// error with code not_found.
func NotFound(w http.ResponseWriter, r *http.Request) {
	markUnmatched(r)
	WriteError(w, r, ErrNotFound)
}

// probeMethods are the methods chi routes; Allow lists those the path has.
var probeMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace,
}

// MethodNotAllowed is the router's handler for a path that exists with
// other methods: 405 with the JSON error and the Allow header RFC 9110
// requires. chi does not hand the allowed methods to a custom handler, so
// they are found by asking the root router about each method.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	markUnmatched(r)
	allowed := AllowedMethods(r)
	e := ErrMethodNotAllowed
	if len(allowed) > 0 {
		list := strings.Join(allowed, ", ")
		w.Header().Set("Allow", list)
		e = e.WithDetails("allowed methods: " + list)
	}
	WriteError(w, r, e)
}

// AllowedMethods lists the methods the router would accept for r's path.
func AllowedMethods(r *http.Request) []string {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil || rctx.Routes == nil {
		return nil
	}
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	if path == "" {
		path = "/"
	}
	var allowed []string
	for _, m := range probeMethods {
		if rctx.Routes.Match(chi.NewRouteContext(), m, path) ||
			(m == http.MethodHead && rctx.Routes.Match(chi.NewRouteContext(), http.MethodGet, path)) {
			allowed = append(allowed, m)
		}
	}
	return allowed
}
