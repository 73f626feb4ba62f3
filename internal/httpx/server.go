package httpx

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/fluxbase/fluxbase/internal/config"
)

// MaxHeaderBytes bounds request line and headers: large enough for big
// JWTs and cookies, small enough that headers cannot exhaust memory.
const MaxHeaderBytes = 1 << 20

// Fallbacks for timeouts left at zero, where net/http would wait forever.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
)

// NewServer builds the http.Server for handler. ReadHeaderTimeout is what
// stops slowloris clients (headers trickled byte by byte hold a connection
// only that long); ReadTimeout and WriteTimeout bound body reads and
// response writes (0 = none, for long uploads and streams); IdleTimeout
// closes idle keep-alive connections. net/http's own error log (TLS
// handshake failures, superfluous WriteHeader calls) goes to log at warn.
func NewServer(cfg config.HTTPConfig, handler http.Handler, log *slog.Logger) *http.Server {
	rht := cfg.ReadHeaderTimeout
	if rht <= 0 {
		rht = DefaultReadHeaderTimeout
	}
	idle := cfg.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           handler,
		ReadHeaderTimeout: rht,
		ReadTimeout:       max(cfg.ReadTimeout, 0),
		WriteTimeout:      max(cfg.WriteTimeout, 0),
		IdleTimeout:       idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.With(slog.String("component", "http")).Handler(), slog.LevelWarn),
	}
}
