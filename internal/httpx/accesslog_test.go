package httpx_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/obs"
)

func TestAccessLogLineFields(t *testing.T) {
	env := newStack(t, nil)
	env.router.Get("/api/v1/tables/{table}", func(w http.ResponseWriter, r *http.Request) {
		httpx.SetLogAttr(r, "user_id", "u-1")
		httpx.SetLogAttr(r, "role", "anon")
		httpx.SetLogAttr(r, "role", "authenticated") // replaces
		_, _ = w.Write([]byte("hello world"))
	})

	req := httptest.NewRequest(http.MethodGet, "/api/v1/tables/todos?select=id&apikey=SECRETKEY&access_token=SECRETTOKEN&token=SECRET3", nil)
	req.RemoteAddr = "10.1.2.3:5555" // trusted proxy
	req.Header.Set("X-Forwarded-For", "203.0.113.9, 10.9.9.9")
	req.Header.Set("User-Agent", "test-agent/1.0")
	req.Header.Set("X-Request-ID", "req-42")
	rec := env.do(req)
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}

	lines := env.logs.accessLines(t)
	if len(lines) != 1 {
		t.Fatalf("want one access line, got %d: %s", len(lines), env.logs)
	}
	l := lines[0]
	want := map[string]any{
		"level":      "INFO",
		"request_id": "req-42",
		"method":     "GET",
		"route":      "/api/v1/tables/{table}",
		"path":       "/api/v1/tables/todos",
		"status":     float64(200),
		"bytes":      float64(len("hello world")),
		"ip":         "203.0.113.9",
		"user_agent": "test-agent/1.0",
		"user_id":    "u-1",
		"role":       "authenticated",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %#v, want %#v", k, l[k], v)
		}
	}
	if _, ok := l["duration_ms"].(float64); !ok {
		t.Errorf("duration_ms = %#v, want a number", l["duration_ms"])
	}
	if _, ok := l["error"]; ok {
		t.Errorf("unexpected error attr on a 200: %v", l["error"])
	}
	q, _ := l["query"].(string)
	if !strings.Contains(q, "select=id") || !strings.Contains(q, "apikey=REDACTED") {
		t.Errorf("query = %q", q)
	}
	if strings.Contains(env.logs.String(), "SECRET") {
		t.Errorf("a credential reached the log: %s", env.logs)
	}
}

func TestAccessLogServerErrorCarriesCause(t *testing.T) {
	env := newStack(t, nil)
	env.router.Get("/boom", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, fmt.Errorf("query users: %w", errors.New("connection reset by peer")))
	})
	env.router.Get("/missing", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, httpx.NewError(http.StatusNotFound, "row_not_found", "no such row"))
	})

	rec := env.do(httptest.NewRequest(http.MethodGet, "/boom", nil))
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "connection reset") {
		t.Fatalf("cause leaked into the body: %s", rec.Body)
	}
	env.do(httptest.NewRequest(http.MethodGet, "/missing", nil))
	env.do(httptest.NewRequest(http.MethodGet, "/nowhere/at/all", nil))

	lines := env.logs.accessLines(t)
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got %s", env.logs)
	}
	if lines[0]["level"] != "ERROR" || !strings.Contains(fmt.Sprint(lines[0]["error"]), "connection reset by peer") {
		t.Errorf("5xx line: %v", lines[0])
	}
	// 4xx are client mistakes: info, no error attr.
	if lines[1]["level"] != "INFO" || lines[1]["status"] != float64(404) || lines[1]["route"] != "/missing" {
		t.Errorf("4xx line: %v", lines[1])
	}
	if _, ok := lines[1]["error"]; ok {
		t.Errorf("4xx line has error attr: %v", lines[1])
	}
	if lines[2]["route"] != httpx.UnmatchedRoute || lines[2]["path"] != "/nowhere/at/all" {
		t.Errorf("unrouted line: %v", lines[2])
	}
}

func TestAccessLogImplicitStatusAndAbort(t *testing.T) {
	env := newStack(t, nil)
	env.router.Get("/empty", func(w http.ResponseWriter, r *http.Request) {})
	env.router.Get("/abort", func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	})
	if rec := env.do(httptest.NewRequest(http.MethodGet, "/empty", nil)); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("want http.ErrAbortHandler to propagate, got %v", p)
			}
		}()
		env.do(httptest.NewRequest(http.MethodGet, "/abort", nil))
	}()
	lines := env.logs.accessLines(t)
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %s", env.logs)
	}
	if lines[0]["status"] != float64(200) || lines[0]["bytes"] != float64(0) {
		t.Errorf("empty handler line: %v", lines[0])
	}
	if lines[1]["aborted"] != true || lines[1]["level"] != "ERROR" {
		t.Errorf("aborted line: %v", lines[1])
	}
}

func TestSetLogAttrWithoutAccessLogIsNoop(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	httpx.SetLogAttr(req, "user_id", "x") // must not panic
}

func TestRedactQuery(t *testing.T) {
	cases := map[string]string{
		"":                               "",
		"select=id,name&order=id.desc":   "select=id,name&order=id.desc",
		"apikey=abc":                     "apikey=REDACTED",
		"APIKEY=abc&x=1":                 "APIKEY=REDACTED&x=1",
		"access_token=a&refresh_token=b": "access_token=REDACTED&refresh_token=REDACTED",
		"token=t&type=signup":            "token=REDACTED&type=signup",
		"code=c&state=s":                 "code=REDACTED&state=s",
		"X-Amz-Signature=s&X-Amz-Credential=c&X-Amz-Date=d": "X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&X-Amz-Date=d",
		"api%5Fkey=v":          "api%5Fkey=REDACTED",
		"apikey":               "apikey",
		"client_secret=s&id=1": "client_secret=REDACTED&id=1",
	}
	for in, want := range cases {
		if got := httpx.RedactQuery(in); got != want {
			t.Errorf("RedactQuery(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAccessLogLineMatchesSlog checks that the hand-formatted access log
// line is, byte for byte, the line slog's JSONHandler writes for the same
// request (but for the time and the duration), hostile values included.
func TestAccessLogLineMatchesSlog(t *testing.T) {
	type attr struct {
		key   string
		value any
	}
	cases := []struct {
		name    string
		target  string
		headers map[string]string
		attrs   []attr
		status  int
		cause   error
		abort   bool
	}{
		{name: "plain", target: "/echo/items?select=id,name&order=id.desc",
			attrs: []attr{{"role", "anon"}}},
		{name: "hostile path, query and headers",
			target: "/echo/%22%5C%0A%0D%09%00%7F%3C%3E%26%E2%80%A8%E2%80%A9%FF%C3%A9?q=%22%0a&x=\"\\<>&apikey=SECRET",
			headers: map[string]string{
				"User-Agent":   "\"quoted\" \\ back <b>&amp; \x01\x1f\x7f \xff\xfe é \u2028\u2029 日本",
				"X-Request-ID": `id-"'\<>&`,
			},
			attrs: []attr{{"user_id", "\"\n\u2028\xff"}, {"weird\"key\n", "v"}}},
		{name: "every plain kind", target: "/echo/kinds",
			attrs: []attr{{"s", "x"}, {"i", -42}, {"i64", int64(1) << 60}, {"u64", uint64(1) << 63},
				{"f", 0.1}, {"tiny", 1e-9}, {"huge", 1e22}, {"neg", -2.5}, {"zero", 0.0},
				{"b", true}, {"d", 1500 * time.Millisecond}}},
		{name: "kinds slog encodes itself", target: "/echo/other",
			attrs: []attr{{"t", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}, {"m", map[string]int{"a": 1}}, {"e", errors.New("bad <thing>")}}},
		{name: "server error", target: "/echo/boom", status: 500, cause: errors.New("connection \"reset\"\n by peer")},
		{name: "client error", target: "/echo/missing", status: 404},
		{name: "aborted", target: "/echo/abort", abort: true},
		{name: "unmatched", target: "/nowhere?apikey=SECRET"},
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		for _, c := range cases {
			if r.Header.Get("X-Case") != c.name {
				continue
			}
			for _, a := range c.attrs {
				httpx.SetLogAttr(r, a.key, a.value)
			}
			switch {
			case c.abort:
				panic(http.ErrAbortHandler)
			case c.cause != nil:
				httpx.WriteError(w, r, c.cause)
			case c.status != 0:
				httpx.WriteError(w, r, httpx.NewError(c.status, "x", "x"))
			default:
				_, _ = w.Write([]byte("ok"))
			}
		}
	}
	run := func(log *slog.Logger, logs *logBuffer) []string {
		mws, err := httpx.Stack(httpx.StackOptions{HTTP: testHTTPConfig(), Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		router := httpx.NewRouter(mws)
		router.Handle("/echo/*", http.HandlerFunc(handler))
		for i, c := range cases {
			req := httptest.NewRequest(http.MethodGet, c.target, nil)
			req.Header.Set("X-Request-ID", fmt.Sprintf("case-%d", i))
			req.Header.Set("X-Case", c.name)
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			func() {
				defer func() { _ = recover() }()
				router.ServeHTTP(httptest.NewRecorder(), req)
			}()
		}
		return strings.SplitAfter(logs.String(), "\n")
	}
	slogBuf, fastBuf := &logBuffer{}, &logBuffer{}
	want := run(slog.New(slog.NewJSONHandler(slogBuf, nil)), slogBuf)
	got := run(slog.New(obs.NewJSONHandler(fastBuf, nil)), fastBuf)
	if len(got) != len(want) {
		t.Fatalf("%d lines, slog wrote %d:\n%s\nslog:\n%s", len(got), len(want), fastBuf, slogBuf)
	}
	varying := regexp.MustCompile(`"time":"[^"]*","|"duration_ms":[0-9.e+-]+,`)
	for i := range want {
		w, g := varying.ReplaceAllString(want[i], ""), varying.ReplaceAllString(got[i], "")
		if g != w {
			t.Errorf("line %d:\n got %s\nwant %s", i, g, w)
		}
		if g != "" && !json.Valid([]byte(got[i])) {
			t.Errorf("line %d is not valid JSON: %s", i, got[i])
		}
	}
	if strings.Contains(fastBuf.String(), "SECRET") {
		t.Errorf("a credential reached the log: %s", fastBuf)
	}
	// The varying fields are there, in slog's format.
	for _, l := range fastBuf.lines(t) {
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["time"])); err != nil {
			t.Errorf("time %v: %v", l["time"], err)
		}
		if _, ok := l["duration_ms"].(float64); !ok {
			t.Errorf("duration_ms = %#v", l["duration_ms"])
		}
	}
}
