package httpx_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// echoLen reads the whole body and reports its length, or renders the read
// error the way every handler does.
func echoLen(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]int{"len": len(b)})
}

// chunked hides the length of a body so it is streamed.
type chunked struct{ io.Reader }

func bodyLimitRouter(t *testing.T, reached *bool) *chi.Mux {
	t.Helper()
	r := chi.NewRouter()
	r.Use(httpx.BodyLimit(100, "/uploads/"))
	r.NotFound(httpx.NotFound)
	r.Post("/echo", func(w http.ResponseWriter, r *http.Request) {
		*reached = true
		echoLen(w, r)
	})
	r.With(httpx.BodyLimit(10)).Post("/small", echoLen)
	r.With(httpx.BodyLimit(1000)).Post("/uploads/file", echoLen)
	r.Post("/uploads/unlimited", echoLen)
	return r
}

func TestBodyLimitDeclaredLengthRejectedUpFront(t *testing.T) {
	var reached bool
	r := bodyLimitRouter(t, &reached)
	req := httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(strings.Repeat("a", 101)))
	rec := serve(r, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", rec.Code)
	}
	if e := decodeError(t, rec.Body); e.Code != "body_too_large" || e.Details != "limit is 100 bytes" {
		t.Errorf("error %+v", e)
	}
	if reached {
		t.Errorf("handler ran for an oversized body")
	}
	if rec.Header().Get("Connection") != "close" {
		t.Errorf("connection not closed after refusing an unread body")
	}

	rec = serve(r, httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(strings.Repeat("a", 100))))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"len":100`) {
		t.Errorf("body at the limit: %d %s", rec.Code, rec.Body)
	}
}

func TestBodyLimitStreamedBody(t *testing.T) {
	var reached bool
	r := bodyLimitRouter(t, &reached)
	srv := httptest.NewServer(r)
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()

	post := func(path string, n int) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, chunked{bytes.NewReader(bytes.Repeat([]byte("b"), n))})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := post("/echo", 5000); code != 413 || !strings.Contains(body, `"body_too_large"`) {
		t.Errorf("chunked over the limit: %d %s", code, body)
	}
	if !reached {
		t.Errorf("a chunked body has no declared length; the handler should have started reading")
	}
	if code, body := post("/echo", 99); code != 200 || !strings.Contains(body, `"len":99`) {
		t.Errorf("chunked under the limit: %d %s", code, body)
	}
	// A route-level limit replaces the global one, downwards...
	if code, _ := post("/small", 11); code != 413 {
		t.Errorf("route-level lower limit: %d", code)
	}
	// ...and, on exempt prefixes, upwards or away.
	if code, body := post("/uploads/file", 900); code != 200 || !strings.Contains(body, `"len":900`) {
		t.Errorf("route-level higher limit: %d %s", code, body)
	}
	if code, _ := post("/uploads/file", 1001); code != 413 {
		t.Errorf("route-level higher limit exceeded: %d", code)
	}
	if code, body := post("/uploads/unlimited", 50000); code != 200 || !strings.Contains(body, `"len":50000`) {
		t.Errorf("exempt route: %d %s", code, body)
	}
}

func TestBodyLimitDeclaredOnRouteLevel(t *testing.T) {
	var reached bool
	r := bodyLimitRouter(t, &reached)
	rec := serve(r, httptest.NewRequest(http.MethodPost, "/uploads/file", strings.NewReader(strings.Repeat("c", 1001))))
	if rec.Code != 413 || !strings.Contains(rec.Body.String(), "limit is 1000 bytes") {
		t.Errorf("declared over route limit: %d %s", rec.Code, rec.Body)
	}
	rec = serve(r, httptest.NewRequest(http.MethodPost, "/uploads/file", strings.NewReader(strings.Repeat("c", 500))))
	if rec.Code != 200 {
		t.Errorf("declared under route limit: %d %s", rec.Code, rec.Body)
	}
}
