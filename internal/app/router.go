package app

import (
	_ "embed"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/obs"
	"github.com/fluxbase/fluxbase/internal/storage"
)

// stack builds routers with the middleware every request passes through
// (in the order httpx.Stack documents) and the routes that answer in every
// state of the instance.
type stack struct {
	cfg     *config.Config
	metrics *obs.Metrics
	mw      []func(http.Handler) http.Handler
}

func newStack(cfg *config.Config, log *slog.Logger, metrics *obs.Metrics) (*stack, error) {
	mw, err := httpx.Stack(httpx.StackOptions{HTTP: cfg.HTTP, Logger: log, Metrics: metrics,
		// Storage bounds its own bodies: uploads by storage.max_file_size.
		BodyLimitExempt: storage.BodyLimitExempt()})
	if err != nil {
		return nil, err
	}
	return &stack{cfg: cfg, metrics: metrics, mw: mw}, nil
}

// newRouter returns a router with the middleware stack, JSON 404 and 405
// answers, and the routes that answer whatever the state of the database:
// health, readiness, metrics and the OpenAPI document.
func (s *stack) newRouter(h *health) chi.Router {
	r := httpx.NewRouter(s.mw)
	r.Get("/health", h.handleHealth)
	r.Get("/ready", h.handleReady)
	r.Get("/openapi.json", serveOpenAPI)
	if s.cfg.Metrics.Enabled {
		r.Method(http.MethodGet, "/metrics", s.metrics.Handler())
	}
	return r
}

// openAPI documents every route the router serves; a test walks the router
// to keep the two in step.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPI)
}

var errStarting = httpx.NewError(http.StatusServiceUnavailable, "starting",
	"Fluxbase is starting and not ready to serve this request yet").WithHint("retry shortly; GET /ready answers 200 once it is ready")

// bootRouter serves while the database starts: every route but health,
// readiness and metrics answers 503 "starting".
func (s *stack) bootRouter(h *health) http.Handler {
	r := s.newRouter(h)
	starting := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, r, errStarting)
	}
	r.NotFound(starting)
	r.MethodNotAllowed(starting)
	return r
}

// router serves everything once the services are up.
func (s *stack) router(h *health, svc *services) chi.Router {
	r := s.newRouter(h)
	r.Method(http.MethodGet, "/.well-known/jwks.json", svc.identity.JWKSHandler())
	if rt := svc.realtime; rt != nil {
		r.Method(http.MethodGet, "/realtime/v1/websocket", rt.PhoenixHandler(s.cfg.HTTP.CORS.AllowedOrigins))
		r.Method(http.MethodGet, "/realtime", rt.NativeHandler(s.cfg.HTTP.CORS.AllowedOrigins))
		r.Group(func(r chi.Router) {
			r.Use(svc.identity.Middleware)
			r.Get("/api/v1/realtime/stats", rt.StatsHandler)
			r.Post("/api/v1/realtime/broadcast", rt.BroadcastHandler)
			r.Get("/api/v1/realtime/tables", rt.TablesHandler)
			r.Post("/api/v1/realtime/tables", rt.TablesHandler)
			r.Delete("/api/v1/realtime/tables/{table}", rt.TablesHandler)
		})
	}
	svc.storage.Mount(r)
	r.Route("/auth/v1", svc.auth.MountGoTrue)
	r.Route("/api/v1/auth", svc.auth.MountNative)
	return r
}
