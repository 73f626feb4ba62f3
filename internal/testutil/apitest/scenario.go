package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Scenario is one API call and what must come back. A table of scenarios
// reads as the specification of an endpoint.
type Scenario struct {
	Name   string
	Method string
	// Path is appended to the server's URL, query string included.
	Path    string
	Headers map[string]string
	// Body is sent as is when it is a string or []byte, else as JSON.
	Body any
	// Setup runs before the request, e.g. to create rows.
	Setup func(t testing.TB, s *Server)

	ExpectedStatus int
	// ExpectedContent are fragments that must appear in the body; with
	// JSON, write them as the server does, e.g. `"code":"not_found"`.
	ExpectedContent    []string
	NotExpectedContent []string
	// ExpectedHeaders must be present with exactly these values; an empty
	// value means the header must be absent.
	ExpectedHeaders map[string]string
	// ExpectedJSON, when set, requires the body to be a JSON document whose
	// top-level fields include these (compared after a JSON round trip, so
	// numbers are float64).
	ExpectedJSON map[string]any
	// After runs last, with the response (its body already read into body).
	After func(t testing.TB, s *Server, res *http.Response, body []byte)
}

// Run runs each scenario as a subtest against s.
func Run(t *testing.T, s *Server, scenarios []Scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) { sc.run(t, s) })
	}
}

func (sc Scenario) run(t *testing.T, s *Server) {
	if sc.Setup != nil {
		sc.Setup(t, s)
	}
	res, body := s.Do(t, sc.Method, sc.Path, sc.Headers, sc.Body)
	if sc.ExpectedStatus != 0 && res.StatusCode != sc.ExpectedStatus {
		t.Errorf("status = %d, want %d; body: %s", res.StatusCode, sc.ExpectedStatus, body)
	}
	for _, frag := range sc.ExpectedContent {
		if !bytes.Contains(body, []byte(frag)) {
			t.Errorf("body lacks %q; body: %s", frag, body)
		}
	}
	for _, frag := range sc.NotExpectedContent {
		if bytes.Contains(body, []byte(frag)) {
			t.Errorf("body contains %q, which it must not; body: %s", frag, body)
		}
	}
	for k, want := range sc.ExpectedHeaders {
		got, present := res.Header[http.CanonicalHeaderKey(k)]
		switch {
		case want == "" && present:
			t.Errorf("header %s = %q, want it absent", k, got)
		case want != "" && (len(got) == 0 || got[0] != want):
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if sc.ExpectedJSON != nil {
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("body is not a JSON object: %v; body: %s", err, body)
		}
		for k, want := range sc.ExpectedJSON {
			if !jsonEqual(doc[k], want) {
				t.Errorf("field %q = %#v, want %#v", k, doc[k], want)
			}
		}
	}
	if sc.After != nil {
		sc.After(t, s, res, body)
	}
}

// Do sends one request to s and returns the response with its body read.
func (s *Server) Do(t testing.TB, method, path string, headers map[string]string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encoding request body: %v", err)
		}
		rd = bytes.NewReader(enc)
		if headers == nil || headers["Content-Type"] == "" {
			headers = withHeader(headers, "Content-Type", "application/json")
		}
	}
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading response of %s %s: %v", method, path, err)
	}
	return res, out
}

func withHeader(h map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(h)+1)
	for hk, hv := range h {
		out[hk] = hv
	}
	out[k] = v
	return out
}

func jsonEqual(got, want any) bool {
	a, err1 := json.Marshal(got)
	var norm any
	b, err2 := json.Marshal(want)
	if err1 != nil || err2 != nil || json.Unmarshal(b, &norm) != nil {
		return false
	}
	c, _ := json.Marshal(norm)
	return bytes.Equal(a, c)
}
