package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
)

func TestNotFoundAndMethodNotAllowedAreJSON(t *testing.T) {
	env := newStack(t, nil)
	env.router.Get("/items", func(w http.ResponseWriter, r *http.Request) {})
	env.router.Post("/items", func(w http.ResponseWriter, r *http.Request) {})
	env.router.Route("/api/v1", func(r chi.Router) {
		r.Delete("/things/{id}", func(w http.ResponseWriter, r *http.Request) {})
		r.Patch("/things/{id}", func(w http.ResponseWriter, r *http.Request) {})
	})

	cases := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/nope", 404, "not_found", ""},
		{"GET", "/api/v1/nope", 404, "not_found", ""},
		{"DELETE", "/items", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"PUT", "/items", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"GET", "/api/v1/things/7", 405, "method_not_allowed", "PATCH, DELETE"},
		{"BREW", "/items", 405, "method_not_allowed", "GET, HEAD, POST"},
	}
	for _, c := range cases {
		rec := env.do(httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, rec.Code, c.status)
			continue
		}
		if e := decodeError(t, rec.Body); e.Code != c.code {
			t.Errorf("%s %s: code %q", c.method, c.path, e.Code)
		}
		if got := rec.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
}
