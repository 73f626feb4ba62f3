package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// pingFunc lets a test decide what the database answers.
type pingFunc func(ctx context.Context) (time.Duration, error)

func (f pingFunc) Ping(ctx context.Context) (time.Duration, error) { return f(ctx) }

// TestHealthLifecycle walks readiness through start-up, a database outage
// and shutdown: /health stays 200 throughout, /ready follows the state.
func TestHealthLifecycle(t *testing.T) {
	h := newHealth()
	var dbErr error
	probe := func(handler http.HandlerFunc) (int, healthBody) {
		h.mu.Lock()
		h.lastAt = time.Time{} // no caching between steps
		h.mu.Unlock()
		rec := httptest.NewRecorder()
		handler(rec, httptest.NewRequest("GET", "/", nil))
		var b healthBody
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
			t.Fatal(err)
		}
		return rec.Code, b
	}
	steps := []struct {
		name                  string
		before                func()
		health, ready         int
		status, database, phs string
	}{
		{"starting", func() {}, 200, 503, "starting", "starting", "starting"},
		{"ready", func() {
			h.setReady(pingFunc(func(context.Context) (time.Duration, error) { return time.Millisecond, dbErr }))
		}, 200, 200, "ok", "up", "ready"},
		{"database down", func() { dbErr = errors.New("connection refused") }, 200, 503, "degraded", "down", "ready"},
		{"database back", func() { dbErr = nil }, 200, 200, "ok", "up", "ready"},
		{"stopping", func() { h.setPhase("stopping") }, 200, 503, "stopping", "stopping", "stopping"},
	}
	for _, s := range steps {
		s.before()
		code, b := probe(h.handleHealth)
		if code != s.health || b.Status != s.status || b.Database.Status != s.database || b.Phase != s.phs {
			t.Errorf("%s: /health = %d %+v", s.name, code, b)
		}
		if code, _ := probe(h.handleReady); code != s.ready {
			t.Errorf("%s: /ready = %d, want %d", s.name, code, s.ready)
		}
	}
}
