package httpx

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/obs"
)

// StackOptions configures the standard middleware stack.
type StackOptions struct {
	HTTP   config.HTTPConfig
	Logger *slog.Logger
	// Metrics, when set, receives the HTTP metrics.
	Metrics *obs.Metrics
	// Security defaults to APISecurity().
	Security *SecurityOptions
	// BodyLimitExempt are path prefixes whose routes set their own body
	// limit (see BodyLimit).
	BodyLimitExempt []string
}

// Stack returns the standard middleware in the order they must run:
//
//  1. AssignRequestID – first, so every later line carries the id
//  2. RealIP – client address and scheme, for the log and HSTS
//  3. AccessLog, 4. Metrics – outside Recover, so a panic is counted as
//     the 500 it became
//  5. Recover
//  6. SecurityHeaders, 7. CORS – before anything that can fail, so error
//     responses carry them too and browsers can read them
//  8. BodyLimit
//  9. GetHead – HEAD served by GET routes
func Stack(o StackOptions) ([]func(http.Handler) http.Handler, error) {
	if o.Logger == nil {
		return nil, errors.New("httpx: Stack needs a logger")
	}
	proxies, err := ParseTrustedProxies(o.HTTP.TrustedProxies)
	if err != nil {
		return nil, err
	}
	cors, err := CORS(o.HTTP.CORS)
	if err != nil {
		return nil, err
	}
	sec := APISecurity()
	if o.Security != nil {
		sec = *o.Security
	}
	return []func(http.Handler) http.Handler{
		AssignRequestID,
		RealIP(proxies),
		AccessLog(o.Logger),
		Metrics(o.Metrics),
		Recover(o.Logger),
		SecurityHeaders(sec),
		cors,
		BodyLimit(o.HTTP.MaxBodyBytes, o.BodyLimitExempt...),
		// HEAD on a GET route runs the GET handler without its body, as
		// RFC 9110 expects; load balancers commonly probe with HEAD.
		middleware.GetHead,
	}, nil
}

// NewRouter returns a chi router with the middleware from Stack and the
// JSON NotFound and MethodNotAllowed handlers, ready for routes. The
// middleware holds no per-router state, so one Stack can serve several
// routers.
func NewRouter(mws []func(http.Handler) http.Handler) *chi.Mux {
	r := chi.NewRouter()
	r.Use(mws...)
	r.NotFound(NotFound)
	r.MethodNotAllowed(MethodNotAllowed)
	return r
}
