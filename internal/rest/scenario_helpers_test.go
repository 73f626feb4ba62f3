package rest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

// The scenario tests are the specification of the REST engine, written from
// PostgREST 12's documented behaviour against the shop fixture. Each test
// function starts one server with the fixture loaded; its scenarios run in
// order against it, so scenarios that write either use rows no other
// scenario of the function looks at, or Prefer: tx=rollback.

// callers holds the header sets of the four kinds of caller.
type callers struct {
	// anon sends only the anon API key, as supabase-js does before sign-in.
	anon  map[string]string
	alice map[string]string
	bob   map[string]string
	carol map[string]string
	svc   map[string]string
}

// newShop starts a server exposing public and inventory, loads the shop
// fixture, and returns it with the callers' headers. configure runs after
// the defaults of the scenario tests.
func newShop(t *testing.T, configure ...func(*config.Config)) (*fixtures.Shop, callers) {
	t.Helper()
	all := append([]func(*config.Config){func(c *config.Config) {
		c.REST.Schemas = []string{"public", "inventory"}
	}}, configure...)
	s := apitest.NewServer(t, all...)
	shop := fixtures.Load(t, s)
	return shop, callers{
		anon:  map[string]string{"apikey": s.AnonKey},
		alice: fixtures.With(fixtures.Bearer(shop.Alice), "apikey", s.AnonKey),
		bob:   fixtures.With(fixtures.Bearer(shop.Bob), "apikey", s.AnonKey),
		carol: fixtures.With(fixtures.Bearer(shop.Carol), "apikey", s.AnonKey),
		svc:   fixtures.With(fixtures.Bearer(s.ServiceRoleKey), "apikey", s.ServiceRoleKey),
	}
}

// h returns base plus the given header pairs.
func h(base map[string]string, kv ...string) map[string]string {
	return fixtures.With(base, kv...)
}

// check is one assertion on a response.
type check func(t testing.TB, s *apitest.Server, res *http.Response, body []byte)

// sc builds a scenario: method, path, headers, body, status, then checks.
func sc(name, method, path string, headers map[string]string, body any, status int, checks ...check) apitest.Scenario {
	return apitest.Scenario{
		Name: name, Method: method, Path: path, Headers: headers, Body: body,
		ExpectedStatus: status,
		After: func(t testing.TB, s *apitest.Server, res *http.Response, b []byte) {
			t.Helper()
			for _, c := range checks {
				c(t, s, res, b)
			}
		},
	}
}

// get is sc for GET without a body.
func get(name, path string, headers map[string]string, status int, checks ...check) apitest.Scenario {
	return sc(name, http.MethodGet, path, headers, nil, status, checks...)
}

func decode(t testing.TB, body []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("body is not JSON: %v; body: %s", err, body)
	}
	return normalize(v)
}

// normalize turns json.Number into float64 so that 999.00 equals 999.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalize(x[k])
		}
	}
	return v
}

// isJSON requires the body to be JSON equal to want (numbers compared by
// value, object keys in any order, arrays in order).
func isJSON(want string) check {
	return func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
		t.Helper()
		got := decode(t, body)
		w := decode(t, []byte(want))
		if !reflect.DeepEqual(got, w) {
			t.Errorf("body = %s\nwant   %s", body, want)
		}
	}
}

// rows requires a JSON array of n elements.
func rows(n int) check {
	return func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
		t.Helper()
		arr, ok := decode(t, body).([]any)
		if !ok {
			t.Errorf("body is not a JSON array: %s", body)
			return
		}
		if len(arr) != n {
			t.Errorf("got %d rows, want %d; body: %s", len(arr), n, body)
		}
	}
}

// col requires a JSON array whose elements' field values are want, in order.
func col(field string, want ...any) check {
	return func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
		t.Helper()
		arr, ok := decode(t, body).([]any)
		if !ok {
			t.Errorf("body is not a JSON array: %s", body)
			return
		}
		got := make([]any, 0, len(arr))
		for _, e := range arr {
			m, ok := e.(map[string]any)
			if !ok {
				t.Errorf("element %v is not an object; body: %s", e, body)
				return
			}
			v, present := m[field]
			if !present {
				t.Errorf("element lacks %q; body: %s", field, body)
				return
			}
			got = append(got, v)
		}
		wn := decode(t, mustJSON(t, want)).([]any)
		if len(wn) == 0 && len(got) == 0 {
			return
		}
		if !reflect.DeepEqual(got, wn) {
			t.Errorf("%s = %v, want %v; body: %s", field, got, wn, body)
		}
	}
}

// ids is col("id", ...).
func ids(want ...any) check { return col("id", want...) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) == "null" {
		return []byte("[]")
	}
	return b
}

// pgErr requires PostgREST's error body: an object with exactly code,
// message, details and hint, code being want.
func pgErr(code string) check {
	return func(t testing.TB, _ *apitest.Server, res *http.Response, body []byte) {
		t.Helper()
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("error body is not a JSON object: %v; body: %s", err, body)
			return
		}
		for _, k := range []string{"code", "message", "details", "hint"} {
			if _, ok := m[k]; !ok {
				t.Errorf("error body lacks %q: %s", k, body)
			}
		}
		var got string
		_ = json.Unmarshal(m["code"], &got)
		if got != code {
			t.Errorf("code = %q, want %q; body: %s", got, code, body)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("error Content-Type = %q, want application/json", ct)
		}
	}
}

// anyErr requires the error body shape with one of the given codes: where
// PostgREST 12 and later versions differ, either is accepted.
func anyErr(codes ...string) check {
	return func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("error body is not a JSON object: %v; body: %s", err, body)
			return
		}
		for _, k := range []string{"code", "message", "details", "hint"} {
			if _, ok := m[k]; !ok {
				t.Errorf("error body lacks %q: %s", k, body)
			}
		}
		for _, c := range codes {
			if m["code"] == c {
				return
			}
		}
		t.Errorf("code = %v, want one of %v; body: %s", m["code"], codes, body)
	}
}

// errField requires the error body's key to equal want (nil for null).
func errField(key string, want any) check {
	return func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("body is not a JSON object: %v; body: %s", err, body)
			return
		}
		if !reflect.DeepEqual(m[key], want) {
			t.Errorf("%s = %#v, want %#v; body: %s", key, m[key], want, body)
		}
	}
}

// contains requires every fragment to appear in the body.
func contains(frags ...string) check {
	return func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
		t.Helper()
		for _, f := range frags {
			if !bytes.Contains(body, []byte(f)) {
				t.Errorf("body lacks %q; body: %s", f, body)
			}
		}
	}
}

// lacks requires no fragment to appear in the body.
func lacks(frags ...string) check {
	return func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
		t.Helper()
		for _, f := range frags {
			if bytes.Contains(body, []byte(f)) {
				t.Errorf("body contains %q; body: %s", f, body)
			}
		}
	}
}

// bodyIs requires the body to be exactly want.
func bodyIs(want string) check {
	return func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
		t.Helper()
		if string(body) != want {
			t.Errorf("body = %q, want %q", body, want)
		}
	}
}

// empty requires an empty body.
func empty() check { return bodyIs("") }

// hdr requires the header to equal want; "" requires it absent.
func hdr(name, want string) check {
	return func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
		t.Helper()
		got, present := res.Header[http.CanonicalHeaderKey(name)]
		switch {
		case want == "" && present:
			t.Errorf("header %s = %q, want it absent", name, got)
		case want != "" && (len(got) == 0 || got[0] != want):
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
}

// hdrMatch requires the header to match the regular expression.
func hdrMatch(name, pattern string) check {
	re := regexp.MustCompile(pattern)
	return func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
		t.Helper()
		if got := res.Header.Get(name); !re.MatchString(got) {
			t.Errorf("header %s = %q, want it to match %s", name, got, pattern)
		}
	}
}

// hdrHas requires the comma-separated header to list every item.
func hdrHas(name string, items ...string) check {
	return func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
		t.Helper()
		var parts []string
		for _, v := range res.Header.Values(name) {
			for _, p := range strings.Split(v, ",") {
				parts = append(parts, strings.TrimSpace(p))
			}
		}
		for _, it := range items {
			found := false
			for _, p := range parts {
				if p == it {
					found = true
				}
			}
			if !found {
				t.Errorf("header %s = %q lacks %q", name, parts, it)
			}
		}
	}
}

// contentType requires the Content-Type's media type (before ;) to be want.
func contentType(want string) check {
	return func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
		t.Helper()
		got := res.Header.Get("Content-Type")
		mt, _, _ := strings.Cut(got, ";")
		if strings.TrimSpace(mt) != want {
			t.Errorf("Content-Type = %q, want %s", got, want)
		}
	}
}

// sqlCount requires the admin query to return n: a direct look at the
// database, bypassing the engine.
func sqlCount(query string, n int64) check {
	return func(t testing.TB, s *apitest.Server, _ *http.Response, _ []byte) {
		t.Helper()
		var got int64
		if err := s.DB.DB.Admin.QueryRow(t.Context(), query).Scan(&got); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if got != n {
			t.Errorf("%s = %d, want %d", query, got, n)
		}
	}
}

// jsonArray builds a JSON array of n objects from f, for bulk bodies.
func jsonArray(n int, f func(i int) string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(f(i))
	}
	b.WriteByte(']')
	return b.String()
}
