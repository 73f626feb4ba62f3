package httpx_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

func TestResponseWriterRecordsStatusAndBytes(t *testing.T) {
	rec := httptest.NewRecorder()
	rw := httpx.WrapResponseWriter(rec)
	if httpx.WrapResponseWriter(rw) != rw {
		t.Fatalf("wrapping twice nests recorders")
	}
	if rw.Status() != 0 || rw.WroteHeader() {
		t.Fatalf("fresh writer reports a status")
	}
	rw.WriteHeader(http.StatusCreated)
	_, _ = rw.Write([]byte("abc"))
	n, err := rw.ReadFrom(strings.NewReader("defgh"))
	if err != nil || n != 5 {
		t.Fatalf("ReadFrom: %d %v", n, err)
	}
	if rw.Status() != 201 || rw.BytesWritten() != 8 || rec.Body.String() != "abcdefgh" || rec.Code != 201 {
		t.Fatalf("status %d bytes %d body %q code %d", rw.Status(), rw.BytesWritten(), rec.Body, rec.Code)
	}
	if rw.Unwrap() != http.ResponseWriter(rec) {
		t.Fatalf("Unwrap does not return the wrapped writer")
	}

	rw = httpx.WrapResponseWriter(httptest.NewRecorder())
	_, _ = rw.Write([]byte("x"))
	if rw.Status() != 200 {
		t.Fatalf("implicit status %d", rw.Status())
	}
}

// Through the whole stack on a real connection: streaming with flushes,
// deadlines via http.ResponseController, and sendfile via ReadFrom.
func TestResponseWriterKeepsCapabilitiesThroughStack(t *testing.T) {
	env := newStack(t, nil)
	file := filepath.Join(t.TempDir(), "blob")
	payload := strings.Repeat("0123456789", 10000)
	if err := os.WriteFile(file, []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	flushed := make(chan struct{})
	env.router.Get("/stream", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Errorf("SetWriteDeadline through the wrapper: %v", err)
		}
		_, _ = io.WriteString(w, "event-1\n")
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush through the wrapper: %v", err)
		}
		<-flushed // the client saw event-1 before the handler returned
		_, _ = io.WriteString(w, "event-2\n")
	})
	env.router.Get("/file", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(file)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Errorf("wrapper hides io.ReaderFrom")
		}
		_, _ = io.Copy(w, f)
	})
	env.router.Get("/hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.js>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints) // informational, not the final status
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "made")
	})
	srv := httptest.NewServer(env.router)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/hints")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("hints: status %d", resp.StatusCode)
	}

	resp, err = http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "event-1\n" {
		t.Fatalf("first event %q %v", line, err)
	}
	close(flushed)
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if string(rest) != "event-2\n" {
		t.Fatalf("rest %q", rest)
	}

	resp, err = http.Get(srv.URL + "/file")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != payload {
		t.Fatalf("file body differs (%d bytes)", len(b))
	}
	srv.Client().CloseIdleConnections()

	var fileLine, hintsLine map[string]any
	for _, l := range env.logs.accessLines(t) {
		switch l["path"] {
		case "/file":
			fileLine = l
		case "/hints":
			hintsLine = l
		}
	}
	if hintsLine == nil || hintsLine["status"] != float64(201) {
		t.Errorf("access line after 103 Early Hints: %v", hintsLine)
	}
	if fileLine == nil || fileLine["bytes"] != float64(len(payload)) {
		t.Errorf("access line for the file: %v", fileLine)
	}
}

func TestResponseWriterHijackThroughStack(t *testing.T) {
	env := newStack(t, nil)
	env.router.Get("/ws", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "echo")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack through the wrapper: %v", err)
			return
		}
		defer conn.Close()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo: " + line)
		_ = brw.Flush()
	})
	resp, conn, br := rawRequest(t, env.router, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	_, _ = io.WriteString(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Fatalf("after hijack: %q %v", line, err)
	}
	conn.Close()

	deadline := time.Now().Add(2 * time.Second)
	for {
		lines := env.logs.accessLines(t)
		if len(lines) == 1 {
			if lines[0]["status"] != float64(101) {
				t.Errorf("hijacked request logged as %v", lines[0]["status"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access line for the hijacked request")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
