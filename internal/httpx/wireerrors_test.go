package httpx_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// serveJSONErrors serves handler on a loopback listener wrapped by
// httpx.JSONErrors and returns its address; the statuses of the rewritten
// answers go to observed, when not nil.
func serveJSONErrors(t *testing.T, handler http.Handler, observed chan<- int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, MaxHeaderBytes: httpx.MaxHeaderBytes, ReadHeaderTimeout: 5 * time.Second}
	var observe func(int)
	if observed != nil {
		observe = func(status int) { observed <- status }
	}
	go func() { _ = srv.Serve(httpx.JSONErrors(ln, observe)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// sendRaw sends raw on a new connection and reads one response.
func sendRaw(t *testing.T, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// A request larger than the server reads is written while the answer
	// arrives; the write's error, if the server hangs up first, is not the
	// test's concern.
	go func() { _, _ = io.WriteString(c, raw) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.60q: %v", raw, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestJSONErrorsRewritesNetHTTPAnswers(t *testing.T) {
	reached, observed := make(chan string, 10), make(chan int, 20)
	addr := serveJSONErrors(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- r.URL.Path
		w.WriteHeader(http.StatusNoContent)
	}), observed)
	cases := []struct {
		name, raw  string
		status     int
		code, text string
	}{
		{"undecodable path", "GET /rest/v1/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed_request", "not valid HTTP"},
		{"malformed request line", "GET\r\nHost: x\r\n\r\n", 400, "malformed_request", "not valid HTTP"},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "malformed_request", "missing required Host header"},
		{"invalid header name", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400, "malformed_request", "not valid HTTP"},
		{"control character in a header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400, "malformed_request", "not valid HTTP"},
		{"malformed Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "malformed_request", "malformed Host header"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", httpx.MaxHeaderBytes+8192) + "\r\n\r\n", 431, "headers_too_large", "larger than the server accepts"},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "unsupported_transfer_encoding", "Transfer-Encoding"},
		{"unknown HTTP version", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 400, "unsupported_http_version", "HTTP version"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := sendRaw(t, addr, tc.raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
			var e map[string]any
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body is not JSON: %q", body)
			}
			for _, k := range []string{"code", "message", "details", "hint"} {
				if _, ok := e[k]; !ok {
					t.Fatalf("body has no %q: %s", k, body)
				}
			}
			if e["code"] != tc.code || !strings.Contains(e["message"].(string), tc.text) {
				t.Fatalf("body %s, want code %s and a message with %q", body, tc.code, tc.text)
			}
			select {
			case st := <-observed:
				if st != tc.status {
					t.Fatalf("observed status %d, want %d", st, tc.status)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the refusal was not observed")
			}
		})
	}
	select {
	case p := <-reached:
		t.Fatalf("a malformed request reached the handler: %s", p)
	default:
	}
}

// TestJSONErrorsLeavesResponsesAlone checks that handler answers pass
// unchanged, a plain-text 400 with Connection: close included, and that
// file downloads (sendfile), keep-alive and hijacked connections still work
// through the wrapper.
func TestJSONErrorsLeavesResponsesAlone(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f.bin")
	content := strings.Repeat("0123456789abcdef", 1<<14)
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/text400", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		http.Error(w, "400 Bad Request", http.StatusBadRequest)
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, file)
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		// The socket itself is still offered, to wait on without a
		// goroutine.
		if sc, ok := c.(syscall.Conn); !ok {
			t.Errorf("the hijacked %T is not a syscall.Conn", c)
		} else if _, err := sc.SyscallConn(); err != nil {
			t.Errorf("SyscallConn: %v", err)
		}
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		_, _ = c.Write([]byte("raw bytes"))
	})
	addr := serveJSONErrors(t, mux, nil)

	resp, body := sendRaw(t, addr, "GET /text400 HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 400 || string(body) != "400 Bad Request\n" {
		t.Fatalf("handler's 400 changed: %d %q", resp.StatusCode, body)
	}

	client := &http.Client{Timeout: 10 * time.Second}
	for range 2 { // the second request reuses the connection
		resp, err := client.Get("http://" + addr + "/file")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != content {
			t.Fatalf("file download: %d bytes, err %v", len(got), err)
		}
	}

	// A hijacked connection (a WebSocket) carries its handler's bytes.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
	got, _ := io.ReadAll(c)
	if want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nraw bytes"; string(got) != want {
		t.Fatalf("hijacked connection carried %q, want %q", got, want)
	}
}
