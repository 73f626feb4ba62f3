package httpx_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
)

func startServer(t *testing.T, cfg config.HTTPConfig, h http.Handler) (*http.Server, string, *logBuffer) {
	t.Helper()
	log, logs := newLogger()
	srv := httpx.NewServer(cfg, h, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return srv, ln.Addr().String(), logs
}

func TestNewServerSettings(t *testing.T) {
	log, _ := newLogger()
	srv := httpx.NewServer(config.HTTPConfig{
		Addr:              "127.0.0.1:0",
		ReadHeaderTimeout: 3 * time.Second,
		ReadTimeout:       4 * time.Second,
		WriteTimeout:      5 * time.Second,
		IdleTimeout:       6 * time.Second,
	}, http.NotFoundHandler(), log)
	if srv.ReadHeaderTimeout != 3*time.Second || srv.ReadTimeout != 4*time.Second ||
		srv.WriteTimeout != 5*time.Second || srv.IdleTimeout != 6*time.Second ||
		srv.MaxHeaderBytes != 1<<20 || srv.ErrorLog == nil || srv.Addr != "127.0.0.1:0" {
		t.Errorf("server settings: %+v", srv)
	}
	// Zero would mean "wait forever" to net/http.
	srv = httpx.NewServer(config.HTTPConfig{}, http.NotFoundHandler(), log)
	if srv.ReadHeaderTimeout != httpx.DefaultReadHeaderTimeout || srv.IdleTimeout != httpx.DefaultIdleTimeout {
		t.Errorf("zero config: ReadHeaderTimeout %v IdleTimeout %v", srv.ReadHeaderTimeout, srv.IdleTimeout)
	}
}

// A slowloris client sends its headers one byte at a time so that each read
// succeeds and the connection is never idle; only a deadline on the whole
// header block frees the connection.
func TestServerCutsOffSlowloris(t *testing.T) {
	const rht = 300 * time.Millisecond
	var handled atomic.Int32
	_, addr, _ := startServer(t, config.HTTPConfig{ReadHeaderTimeout: rht, ReadTimeout: time.Minute, IdleTimeout: time.Minute},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handled.Add(1) }))

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// The server closes without answering; the reader notices at once.
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}()

	start := time.Now()
	headers := "GET / HTTP/1.1\r\nHost: x\r\nX-Padding: " + strings.Repeat("a", 200)
	cutOff := false
trickle:
	for i := 0; i < len(headers); i++ {
		if _, err := conn.Write([]byte{headers[i]}); err != nil {
			cutOff = true
			break
		}
		select {
		case <-closed:
			cutOff = true
			break trickle
		case <-time.After(20 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	if !cutOff {
		t.Fatalf("connection still open after trickling headers for %v", elapsed)
	}
	// The server's clock starts at accept, a little before ours.
	if elapsed < rht-50*time.Millisecond {
		t.Fatalf("cut off after %v, before the %v header timeout", elapsed, rht)
	}
	if elapsed > rht+2*time.Second {
		t.Fatalf("cut off only after %v", elapsed)
	}
	if handled.Load() != 0 {
		t.Fatalf("handler ran for an incomplete request")
	}

	// A normal client is still served.
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if handled.Load() != 1 {
		t.Fatalf("normal request not handled")
	}
}

func TestServerRejectsOversizedHeaders(t *testing.T) {
	_, addr, _ := startServer(t, config.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n")
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

func TestServerErrorLogGoesToSlog(t *testing.T) {
	srv, _, logs := startServer(t, config.HTTPConfig{}, http.NotFoundHandler())
	srv.ErrorLog.Print("http: TLS handshake error from 1.2.3.4:5: EOF")
	lines := logs.lines(t)
	if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["component"] != "http" ||
		!strings.Contains(lines[0]["msg"].(string), "TLS handshake error") {
		t.Errorf("error log lines: %v", lines)
	}
}
