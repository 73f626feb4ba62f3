package httpx_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

func TestRecoverRendersJSON500WithoutLeaking(t *testing.T) {
	env := newStack(t, nil)
	env.router.Get("/panic", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip") // meant for a body never sent
		panic("db password is hunter2")
	})
	req := httptest.NewRequest(http.MethodGet, "/panic", nil)
	req.Header.Set("Origin", "https://app.example.com")
	rec := env.do(req)

	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	body := rec.Body.String()
	e := decodeError(t, strings.NewReader(body))
	if e.Code != "internal_error" {
		t.Errorf("code %q", e.Code)
	}
	for _, leak := range []string{"hunter2", "goroutine", "recover_test.go", "panic"} {
		if strings.Contains(body, leak) {
			t.Errorf("body leaks %q: %s", leak, body)
		}
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	if rec.Header().Get("Content-Encoding") != "" {
		t.Errorf("stale Content-Encoding kept on the error")
	}
	// Headers set before the handler survive, so browsers can read the error.
	if rec.Header().Get("X-Request-ID") == "" || rec.Header().Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("request id or CORS header lost: %v", rec.Header())
	}

	var panicLine, accessLine map[string]any
	for _, l := range env.logs.lines(t) {
		switch l["msg"] {
		case "panic serving request":
			panicLine = l
		case "request":
			accessLine = l
		}
	}
	if panicLine == nil || accessLine == nil {
		t.Fatalf("missing log lines: %s", env.logs)
	}
	if panicLine["level"] != "ERROR" || !strings.Contains(panicLine["panic"].(string), "hunter2") {
		t.Errorf("panic line: %v", panicLine)
	}
	stack, _ := panicLine["stack"].(string)
	if !strings.Contains(stack, "goroutine") || !strings.Contains(stack, "recover_test.go") {
		t.Errorf("stack missing or not pointing at the panic: %q", stack)
	}
	if panicLine["request_id"] != rec.Header().Get("X-Request-ID") {
		t.Errorf("panic line request id %v", panicLine["request_id"])
	}
	if accessLine["status"] != float64(500) || !strings.Contains(accessLine["error"].(string), "hunter2") {
		t.Errorf("access line: %v", accessLine)
	}
}

func TestRecoverPassesAbortHandlerThrough(t *testing.T) {
	log, logs := newLogger()
	h := httpx.Recover(log)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("got %v, want http.ErrAbortHandler", p)
		}
		if logs.String() != "" {
			t.Errorf("abort was logged as a panic: %s", logs)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

func TestRecoverAfterHeadersSentAbortsInsteadOfDoubleWrite(t *testing.T) {
	log, logs := newLogger()
	h := httpx.Recover(log)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "partial")
		panic("late failure")
	}))
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Fatalf("got %v, want http.ErrAbortHandler", p)
			}
		}()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	}()
	if rec.Code != 200 || rec.Body.String() != "partial" {
		t.Fatalf("response was rewritten: %d %q", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "late failure") {
		t.Errorf("panic not logged: %s", logs)
	}
}

// Over a real connection, a panic in the middle of a streamed body must not
// look like a complete response to the client.
func TestRecoverMidStreamCutsTheConnection(t *testing.T) {
	env := newStack(t, nil)
	env.router.Get("/stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first chunk")
		w.(http.Flusher).Flush()
		panic("mid-stream")
	})
	resp, _, _ := rawRequest(t, env.router, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("body %q read to a clean end; the client cannot tell it is truncated", b)
	}
	if string(b) != "first chunk" {
		t.Errorf("body %q", b)
	}
}
