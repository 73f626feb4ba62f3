package httpx

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// BodyLimit caps request bodies at limit bytes (limit <= 0: no cap).
//
// A request that declares a larger Content-Length is refused before the
// handler runs with 413 and the JSON error; a body that is streamed
// (chunked) or lies about its length fails on the read that crosses the
// limit with *http.MaxBytesError, which AsError renders as the same 413.
//
// Routes that need another limit (uploads) are listed in exemptPrefixes,
// path prefixes as the router sees them (for example "/storage/v1/object/"),
// and install their own BodyLimit at route level. A nested BodyLimit
// always replaces the limit in effect, so it can also lower it.
func BodyLimit(limit int64, exemptPrefixes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(exemptPrefixes) > 0 {
				p := routingPath(r)
				for _, prefix := range exemptPrefixes {
					if strings.HasPrefix(p, prefix) {
						next.ServeHTTP(w, r)
						return
					}
				}
			}

			// The request state keeps the body as it arrived, so that a
			// route-level BodyLimit replaces an outer limit rather than
			// stacking below it.
			r, st := withState(r)
			if !st.bodySaved {
				st.body, st.bodySaved = r.Body, true
			}
			if limit <= 0 {
				r.Body = st.body
				next.ServeHTTP(w, r)
				return
			}
			if r.ContentLength > limit {
				if r.ProtoMajor == 1 {
					// The unread body would otherwise be drained or stall
					// the connection for the next request.
					w.Header().Set("Connection", "close")
				}
				WriteError(w, r, ErrBodyTooLarge.WithDetails(fmt.Sprintf("limit is %d bytes", limit)))
				return
			}
			if st.body != nil && st.body != http.NoBody {
				// The writer net/http created is the one MaxBytesReader can
				// tell to close the connection once the limit is crossed.
				r.Body = http.MaxBytesReader(innermost(w), st.body, limit)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// routingPath is the path chi routes on at this point of the stack.
func routingPath(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
		return rctx.RoutePath
	}
	if r.URL.RawPath != "" {
		return r.URL.RawPath
	}
	return r.URL.Path
}
