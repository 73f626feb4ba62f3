package httpx_test

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/obs"
	"github.com/fluxbase/fluxbase/internal/testutil/syncbuf"
)

// logBuffer collects JSON log lines; safe for handlers running on server
// goroutines.
type logBuffer struct {
	syncbuf.Buffer
}

// lines decodes every logged line.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// accessLines are the lines AccessLog wrote.
func (b *logBuffer) accessLines(t *testing.T) []map[string]any {
	var out []map[string]any
	for _, l := range b.lines(t) {
		if l["msg"] == "request" {
			out = append(out, l)
		}
	}
	return out
}

// rawRequest serves h over a real connection, sends request as written and
// reads the response head: for what only a real connection shows (a cut
// connection, hijacking). The connection and its reader stay usable; both
// are closed when the test ends.
func rawRequest(t *testing.T, h http.Handler, request string) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(conn, request)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, conn, br
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	// The production JSON handler, whose access log lines take the
	// hand-formatted path (see TestAccessLogLineMatchesSlog).
	return slog.New(obs.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

type stackEnv struct {
	router  *chi.Mux
	logs    *logBuffer
	metrics *obs.Metrics
}

func testHTTPConfig() config.HTTPConfig {
	return config.HTTPConfig{
		MaxBodyBytes:   1024,
		TrustedProxies: []string{"10.0.0.0/8"},
		CORS: config.CORSConfig{
			Enabled:        true,
			AllowedOrigins: []string{"https://app.example.com"},
		},
	}
}

// newStack builds the standard stack with routes used across tests.
func newStack(t *testing.T, mutate func(*httpx.StackOptions)) *stackEnv {
	t.Helper()
	log, logs := newLogger()
	m := obs.NewMetrics()
	o := httpx.StackOptions{HTTP: testHTTPConfig(), Logger: log, Metrics: m}
	if mutate != nil {
		mutate(&o)
	}
	mws, err := httpx.Stack(o)
	if err != nil {
		t.Fatalf("Stack: %v", err)
	}
	return &stackEnv{router: httpx.NewRouter(mws), logs: logs, metrics: m}
}

func (e *stackEnv) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, req)
	return rec
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details"`
	Hint    any    `json:"hint"`
}

func decodeError(t *testing.T, body io.Reader) errorBody {
	t.Helper()
	raw, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	var e errorBody
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("body is not the JSON error: %q: %v", raw, err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	for _, k := range []string{"code", "message", "details", "hint"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("error body %s lacks %q", raw, k)
		}
	}
	return e
}
