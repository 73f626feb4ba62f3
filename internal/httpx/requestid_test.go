package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRequestIDEchoesValidIncomingID(t *testing.T) {
	var seen string
	h := httpx.AssignRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = httpx.RequestID(r.Context())
	}))
	for _, id := range []string{"abc-123", "trace:0af7651916cd43dd8448eb211c80319c", strings.Repeat("x", 128), "a"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("X-Request-ID", id)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("X-Request-ID"); got != id {
			t.Errorf("incoming %q: response header %q", id, got)
		}
		if seen != id {
			t.Errorf("incoming %q: context has %q", id, seen)
		}
	}
}

func TestRequestIDReplacesInsaneIncomingID(t *testing.T) {
	var seen string
	h := httpx.AssignRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = httpx.RequestID(r.Context())
	}))
	bad := []string{
		"",
		"has space",
		strings.Repeat("x", 129),
		"tab\there",
		"newline\nforged=log",
		"caf\u00e9",
		"nul\x00",
		"del\x7f",
	}
	for _, id := range bad {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if id != "" {
			req.Header["X-Request-Id"] = []string{id}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-ID")
		if got == id || !uuidV7.MatchString(got) {
			t.Errorf("incoming %q: want a generated UUIDv7, got %q", id, got)
		}
		if seen != got {
			t.Errorf("incoming %q: context %q differs from header %q", id, seen, got)
		}
	}
}

func TestNewRequestIDIsUniqueAndTimeOrdered(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 2000; i++ {
		id := httpx.NewRequestID()
		if !uuidV7.MatchString(id) {
			t.Fatalf("%q is not a UUIDv7", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		// The first 48 bits are the millisecond clock, so ids from later
		// milliseconds sort after earlier ones.
		if prev != "" && id[:13] < prev[:13] {
			t.Fatalf("id %q sorts before earlier %q", id, prev)
		}
		prev = id
	}
	a := httpx.NewRequestID()
	time.Sleep(3 * time.Millisecond)
	if b := httpx.NewRequestID(); b <= a {
		t.Fatalf("id %q generated later does not sort after %q", b, a)
	}
}

func TestRequestIDEmptyWithoutMiddleware(t *testing.T) {
	if id := httpx.RequestID(httptest.NewRequest(http.MethodGet, "/", nil).Context()); id != "" {
		t.Fatalf("got %q", id)
	}
}
