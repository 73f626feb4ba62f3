package app

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/obs"
	"github.com/fluxbase/fluxbase/internal/rest"
	"github.com/fluxbase/fluxbase/internal/storage"
)

// stack builds routers with the middleware every request passes through
// (in the order httpx.Stack documents) and the routes that answer in every
// state of the instance.
type stack struct {
	cfg     *config.Config
	log     *slog.Logger
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
	return &stack{cfg: cfg, log: log, metrics: metrics, mw: mw}, nil
}

// newRouter returns a router with the middleware stack, JSON 404 and 405
// answers, and the routes that answer whatever the state of the database:
// health, readiness, metrics and the OpenAPI document.
func (s *stack) newRouter(h *health, d *docs) chi.Router {
	r := httpx.NewRouter(s.mw)
	r.Get("/health", h.handleHealth)
	r.Get("/ready", h.handleReady)
	r.Get("/openapi.json", d.serveJSON)
	if s.cfg.Metrics.Enabled {
		r.Method(http.MethodGet, "/metrics", s.metrics.Handler())
	}
	return r
}

var errStarting = httpx.NewError(http.StatusServiceUnavailable, "starting",
	"Fluxbase is starting and not ready to serve this request yet").WithHint("retry shortly; GET /ready answers 200 once it is ready")

// bootRouter serves while the database starts: every route but health,
// readiness and metrics answers 503 "starting".
func (s *stack) bootRouter(h *health) http.Handler {
	r := s.newRouter(h, mustDocs(docServices{}))
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
	d := mustDocs(docServices{schema: svc.schema, identity: svc.identity, catalog: svc.db.Admin})
	r := s.newRouter(h, d)
	r.Get("/rest/v1/", d.serveRESTRoot)
	r.Method(http.MethodGet, "/.well-known/jwks.json", svc.identity.JWKSHandler())
	s.mountREST(r, svc)
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

// mountREST mounts the REST engine: the PostgREST-compatible /rest/v1
// family and the native /api/v1/tables and /api/v1/rpc family, behind the
// identity middleware so that every request runs as its caller's role, and
// the admin route that reloads the schema cache.
func (s *stack) mountREST(r chi.Router, svc *services) {
	h := rest.New(rest.Options{DB: svc.db.DB, Schema: svc.schema, Config: s.cfg.REST, Logger: s.log})
	table := func(r chi.Router, path string, fn http.HandlerFunc) {
		r.Get(path, fn)
		r.Post(path, fn)
		r.Patch(path, fn)
		r.Put(path, fn)
		r.Delete(path, fn)
	}
	rpc := func(r chi.Router, path string, fn http.HandlerFunc) {
		r.Get(path, fn)
		r.Post(path, fn)
		// Other verbs reach the engine, which answers PGRST101 as
		// PostgREST does.
		r.Put(path, fn)
		r.Patch(path, fn)
		r.Delete(path, fn)
	}
	r.Group(func(r chi.Router) {
		r.Use(svc.identity.Middleware)
		table(r, "/rest/v1/{table}", h.ServeTable)
		rpc(r, "/rest/v1/rpc/{function}", h.ServeRPC)
		table(r, "/api/v1/tables/{table}", h.ServeNativeTable)
		r.Get("/api/v1/tables/{table}/{id}", h.ServeNativeRow)
		r.Patch("/api/v1/tables/{table}/{id}", h.ServeNativeRow)
		r.Put("/api/v1/tables/{table}/{id}", h.ServeNativeRow)
		r.Delete("/api/v1/tables/{table}/{id}", h.ServeNativeRow)
		rpc(r, "/api/v1/rpc/{function}", h.ServeNativeRPC)
		r.Post("/api/v1/admin/schema/reload", rest.ReloadHandler(svc.schema))
	})
}
