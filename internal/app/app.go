package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fluxbase/fluxbase/internal/auth"
	"github.com/fluxbase/fluxbase/internal/buildinfo"
	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/migrations"
	"github.com/fluxbase/fluxbase/internal/obs"
	"github.com/fluxbase/fluxbase/internal/realtime"
	"github.com/fluxbase/fluxbase/internal/schema"
	"github.com/fluxbase/fluxbase/internal/storage"
)

// Options are what every entry point needs.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	// Ready, when set, is called once the instance serves requests, with
	// the address it listens on (tests use it to find a port picked by
	// the kernel).
	Ready func(addr net.Addr)
}

// Serve runs Fluxbase until ctx is cancelled, then shuts down gracefully:
// it stops accepting connections, lets requests in flight finish (up to
// http.shutdown_timeout), closes the database pools and stops the embedded
// PostgreSQL.
//
// The HTTP listener is bound first, so that a port already in use fails at
// once and /health and /ready answer while the database starts; every other
// route answers 503 until the instance is ready.
func Serve(ctx context.Context, opts Options) error {
	cfg, log := opts.Config, opts.Logger
	log.Info("starting Fluxbase", "version", buildinfo.Version, "http", cfg.HTTP.Addr, "data_dir", cfg.DataDir)

	metrics := obs.NewMetrics()
	h := newHealth()
	stack, err := newStack(cfg, log, metrics)
	if err != nil {
		return err
	}
	var handler atomic.Pointer[http.Handler]
	boot := stack.bootRouter(h)
	handler.Store(&boot)

	ln, err := listen(cfg.HTTP.Addr)
	if err != nil {
		return err
	}
	srv := httpx.NewServer(cfg.HTTP, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*handler.Load()).ServeHTTP(w, r)
	}), log)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(httpx.JSONErrors(ln, metrics.ObserveUnparsed)) }()
	log.Info("listening", "addr", ln.Addr().String())

	// Everything started from here on is stopped by the deferred closers,
	// in reverse order, whatever path Serve leaves by.
	var closers []func(context.Context) error
	shutdown := func() {
		// Readiness fails first, so that load balancers stop sending new
		// requests while those in flight finish.
		h.setPhase("stopping")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.HTTP.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("HTTP shutdown did not finish in time; closing remaining connections", "error", err)
			_ = srv.Close()
		}
		for i := len(closers) - 1; i >= 0; i-- {
			if err := closers[i](sctx); err != nil {
				log.Warn("shutdown step failed", "error", err)
			}
		}
		log.Info("Fluxbase stopped")
	}

	started := time.Now()
	svc, err := startServices(ctx, cfg, log, metrics, h, &closers)
	if err != nil {
		shutdown()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var full http.Handler = stack.router(h, svc)
	handler.Store(&full)
	h.setReady(svc.db)
	log.Info("Fluxbase is ready", "startup_ms", time.Since(started).Milliseconds(), "addr", ln.Addr().String())
	if opts.Ready != nil {
		opts.Ready(ln.Addr())
	}

	select {
	case <-ctx.Done():
		log.Info("stopping: draining requests in flight, then closing the database", "timeout", cfg.HTTP.ShutdownTimeout.String())
	case err := <-serveErr:
		shutdown()
		return fmt.Errorf("http server: %w", err)
	}
	shutdown()
	return nil
}

// services are what the full router serves.
type services struct {
	db       *database
	identity *identity.Service
	auth     *auth.Service
	storage  *storage.Handler
	realtime *realtime.Service // nil when realtime.enabled is false
	// schema is the REST schema cache, loaded before the instance is ready
	// and kept current by its Run loop.
	schema *schema.Service
}

// startServices brings up the database and everything that depends on it,
// appending to closers what must be stopped at shutdown.
func startServices(ctx context.Context, cfg *config.Config, log *slog.Logger, metrics *obs.Metrics, h *health, closers *[]func(context.Context) error) (*services, error) {
	h.setPhase("database")
	db, err := openDatabase(ctx, cfg, exclusive, log)
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, db.Close)

	if cfg.Migrations.ApplyOnStart {
		h.setPhase("user_migrations")
		applied, err := migrations.ApplyUser(ctx, db.Admin, cfg.Migrations.Dir, log)
		if err != nil && !errors.Is(err, migrations.ErrNoMigrationsDir) {
			return nil, err
		}
		if len(applied) > 0 {
			log.Info("applied user migrations", "count", len(applied))
		}
	}
	db.SetAPISearchPath(cfg.REST.ExtraSearchPath)
	if err := db.ConnectAPI(ctx); err != nil {
		return nil, err
	}
	if err := metrics.RegisterPool("admin", db.Admin.Stat); err != nil {
		return nil, err
	}
	if err := metrics.RegisterPool("api", db.API.Stat); err != nil {
		return nil, err
	}

	h.setPhase("identity")
	ids, err := identity.New(ctx, db.Admin, cfg.Auth, log)
	if err != nil {
		return nil, err
	}
	h.setPhase("schema_cache")
	sc := schema.New(db.Admin, cfg.REST.Schemas, log)
	sc.ReadRoleConfig(cfg.Database.AuthenticatorRole)
	if err := sc.Load(ctx); err != nil {
		return nil, err
	}
	if c := sc.Current(); c != nil {
		log.Info("schema cache loaded", "schemas", c.Schemas, "relations", len(c.Tables),
			"functions", len(c.FunctionsByName), "duration_ms", c.LoadDuration.Milliseconds())
	}

	h.setPhase("auth")
	authSvc, err := auth.New(ctx, db.DB, ids, cfg, log)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { _ = ids.Run(runCtx) })
	wg.Go(func() { _ = sc.Run(runCtx) })
	wg.Go(func() { _ = authSvc.Run(runCtx) })
	wg.Go(func() { _ = authSvc.RunMailer(runCtx) })
	*closers = append(*closers, func(context.Context) error { stop(); wg.Wait(); return nil })

	h.setPhase("storage")
	backend, err := storage.OpenBackend(ctx, cfg)
	if err != nil {
		return nil, err
	}
	store, err := storage.New(ctx, db.DB, backend, cfg.Storage, log)
	if err != nil {
		return nil, err
	}
	wg.Go(func() { _ = store.Run(runCtx) })

	svc := &services{db: db, identity: ids, schema: sc, auth: authSvc, storage: storage.NewHandler(store, ids, cfg)}
	if cfg.Realtime.Enabled {
		h.setPhase("realtime")
		rt := realtime.New(realtime.Options{Config: cfg.Realtime, DB: db.DB, Identity: ids, ReplicationDSN: db.dsn,
			CheckSession: authSvc.CheckSession, Logger: log})
		if err := rt.EnableTables(ctx); err != nil {
			return nil, err
		}
		if err := rt.RegisterMetrics(metrics.Registry()); err != nil {
			return nil, err
		}
		wg.Go(func() { _ = rt.Run(runCtx) })
		// WebSockets are not requests: HTTP shutdown does not wait for
		// them, so they are closed here, each with the reason.
		*closers = append(*closers, func(context.Context) error {
			rt.Hub().CloseAll("server shutting down")
			return nil
		})
		svc.realtime = rt
	}
	return svc, nil
}

// listen binds addr, explaining the usual failures in terms of the setting.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	fix := "choose another address with --http or FLUXBASE_HTTP_ADDR"
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("http.addr %s is already in use by another process; stop it or %s", addr, fix)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("http.addr %s: permission denied (ports below 1024 need privileges); %s", addr, fix)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return nil, fmt.Errorf("http.addr %s: no such address on this machine; %s", addr, fix)
	}
	return nil, fmt.Errorf("http.addr %s: %v; %s", addr, err, fix)
}
