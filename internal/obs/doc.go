// Package obs owns process observability: the slog logger built from the
// configuration (whose JSON handler, JSONHandler, also takes lines that a
// hot path formatted itself: the HTTP access log), and the Prometheus
// registry with the metrics that Fluxbase exposes on /metrics (HTTP
// traffic, connection pools, Go runtime, process).
//
// Metrics live on a private registry, never on the prometheus default one,
// so that several servers can run in one process (tests) without clashing.
// This package must not know about HTTP routing or the database beyond the
// pool statistics it is handed; the HTTP middleware that feeds it lives in
// internal/httpx.
package obs
