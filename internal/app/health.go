package app

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxbase/fluxbase/internal/buildinfo"
	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// pinger is the part of the database that health checks need.
type pinger interface {
	Ping(ctx context.Context) (time.Duration, error)
}

// health tracks whether this instance can serve requests. It is ready once
// the database answers and Fluxbase's migrations are applied; until then
// /ready answers 503 and the API answers 503 "starting". It stops being
// ready when shutdown begins.
type health struct {
	started time.Time
	phase   atomic.Pointer[string]
	db      atomic.Pointer[pinger]

	// The database answer is cached briefly so that load-balancer probes
	// hammering /ready cost at most one ping per interval.
	mu       sync.Mutex
	lastAt   time.Time
	lastErr  error
	lastPing time.Duration
}

const (
	pingTimeout  = 2 * time.Second
	pingCacheFor = time.Second
)

func newHealth() *health {
	h := &health{started: time.Now()}
	h.setPhase("starting")
	return h
}

func (h *health) setPhase(p string) { h.phase.Store(&p) }

// setReady records the database and marks the instance ready.
func (h *health) setReady(db pinger) {
	h.db.Store(&db)
	h.setPhase("ready")
}

func (h *health) ready() bool { return *h.phase.Load() == "ready" }

// ping returns the database latency, measured at most once per pingCacheFor.
func (h *health) ping(ctx context.Context) (time.Duration, error) {
	p := h.db.Load()
	if p == nil {
		return 0, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.lastAt) < pingCacheFor {
		return h.lastPing, h.lastErr
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	h.lastPing, h.lastErr = (*p).Ping(ctx)
	h.lastAt = time.Now()
	return h.lastPing, h.lastErr
}

type dbHealth struct {
	Status    string   `json:"status"`
	LatencyMS *float64 `json:"latency_ms"`
	Error     string   `json:"error,omitempty"`
}

type healthBody struct {
	Status        string   `json:"status"`
	Phase         string   `json:"phase"`
	Version       string   `json:"version"`
	UptimeSeconds float64  `json:"uptime_seconds"`
	Database      dbHealth `json:"database"`
}

// check builds the health document and says whether the instance is ready.
func (h *health) check(ctx context.Context) (healthBody, bool) {
	b := healthBody{
		Phase:         *h.phase.Load(),
		Version:       buildinfo.Version,
		UptimeSeconds: time.Since(h.started).Round(time.Millisecond).Seconds(),
	}
	if !h.ready() {
		b.Status = "starting"
		if b.Phase == "stopping" {
			b.Status = "stopping"
		}
		b.Database.Status = b.Status
		return b, false
	}
	lat, err := h.ping(ctx)
	if err != nil {
		b.Status = "degraded"
		b.Database = dbHealth{Status: "down", Error: pg.ErrorFrom(err).Message}
		return b, false
	}
	ms := float64(lat.Microseconds()) / 1000
	b.Status = "ok"
	b.Database = dbHealth{Status: "up", LatencyMS: &ms}
	return b, true
}

// handleHealth answers 200 whenever the process is alive, with the state of
// the database in the body: a liveness probe must not restart Fluxbase
// because PostgreSQL is briefly away. Readiness is /ready.
func (h *health) handleHealth(w http.ResponseWriter, r *http.Request) {
	b, _ := h.check(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, b)
}

// handleReady answers 200 when this instance can serve requests, else 503.
func (h *health) handleReady(w http.ResponseWriter, r *http.Request) {
	b, ok := h.check(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	httpx.WriteJSON(w, status, b)
}
