package identity

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/pg"
)

// TestHeadersJSONEncodesLikeEncodingJSON checks the hand-written encoder
// against encoding/json on awkward header values: both must decode to the
// same strings, and the output must be valid JSON.
func TestHeadersJSONEncodesLikeEncodingJSON(t *testing.T) {
	values := []string{
		"", "plain", `quote " and backslash \`, "tab\tnewline\ncr\r", "nul\x00bell\x07esc\x1bdel\x7f",
		"<html>&amp;", "héllo wörld ✓ 😀", "bad utf-8 \xff\xfe end", "truncated \xe2\x82", "\u2028\u2029",
	}
	for _, v := range values {
		r := httptest.NewRequest(http.MethodGet, "http://h.example/x", nil)
		r.Header["X-Value"] = []string{v}
		got := headersJSON(r)
		require.True(t, json.Valid(got), "invalid JSON for %q: %s", v, got)
		var m map[string]string
		require.NoError(t, json.Unmarshal(got, &m))
		want, err := json.Marshal(map[string]string{"x-value": v})
		require.NoError(t, err)
		var wm map[string]string
		require.NoError(t, json.Unmarshal(want, &wm))
		assert.Equal(t, wm["x-value"], m["x-value"], "value %q", v)
		assert.Equal(t, "h.example", m["host"])
	}
}

func TestHeadersJSONFoldsNamesThatDifferInCase(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://h.example/x", nil)
	r.Header["X-A"] = []string{"1"}
	r.Header["x-a"] = []string{"2"}
	r.Header["Host"] = []string{"ignored.example"}
	var m map[string]string
	require.NoError(t, json.Unmarshal(headersJSON(r), &m))
	assert.Contains(t, []string{"1, 2", "2, 1"}, m["x-a"])
	assert.Equal(t, "h.example", m["host"])
	assert.Len(t, m, 2)
}

// TestCookiesJSON checks request.cookies: name to value, the last value of
// a repeated name, nothing (so {}) without a Cookie header, and valid JSON
// for awkward names and values.
func TestCookiesJSON(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://h.example/x", nil)
	assert.Nil(t, cookiesJSON(r))

	r.Header.Add("Cookie", `session=abc; theme="dark"; session=xyz`)
	r.Header.Add("Cookie", `lang=fr; bad name=1; q=a\"b`)
	got := cookiesJSON(r)
	require.True(t, json.Valid(got), "%s", got)
	var m map[string]string
	require.NoError(t, json.Unmarshal(got, &m))
	assert.Equal(t, map[string]string{"session": "xyz", "theme": "dark", "lang": "fr"}, m)
	var hs map[string]string
	require.NoError(t, json.Unmarshal(headersJSON(r), &hs))
	assert.NotContains(t, hs, "cookie", "the cookies are request.cookies, not in request.headers")

	for _, v := range []string{"", "\x00\xff", "é😀", `"`, ";;;=;"} {
		r := httptest.NewRequest(http.MethodGet, "http://h.example/x", nil)
		r.Header.Set("Cookie", "a="+v)
		if got := cookiesJSON(r); !json.Valid(got) {
			t.Errorf("cookie value %q: invalid JSON %q", v, got)
		}
	}
}

func FuzzHeadersJSON(f *testing.F) {
	f.Add("X-Test", "value")
	f.Add("Cookie", "a=1\x00\xff")
	f.Fuzz(func(t *testing.T, name, value string) {
		r := httptest.NewRequest(http.MethodGet, "http://h.example/x", nil)
		r.Header[name] = []string{value, value}
		got := headersJSON(r)
		if !json.Valid(got) {
			t.Fatalf("invalid JSON: %q", got)
		}
	})
}

// TestPGRequestLegacyClaims checks the claims handed to pg already decoded:
// strings as they are, null and absent as empty, and anything else left to
// PostgreSQL (Known false), exactly as pg would read them from RawClaims.
func TestPGRequestLegacyClaims(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://h.example/rest/v1/t", nil)
	cases := []struct {
		claims map[string]any
		want   pg.LegacyClaims
	}{
		{map[string]any{"role": "anon"}, pg.LegacyClaims{Role: "anon", Known: true}},
		{map[string]any{"sub": "u1", "role": "authenticated", "email": "a@example.com", "aud": "authenticated"},
			pg.LegacyClaims{Sub: "u1", Role: "authenticated", Email: "a@example.com", Known: true}},
		{map[string]any{"sub": nil, "role": "authenticated"}, pg.LegacyClaims{Role: "authenticated", Known: true}},
		{map[string]any{"sub": json.Number("42"), "role": "authenticated"}, pg.LegacyClaims{}},
		{map[string]any{"email": map[string]any{"x": "y"}}, pg.LegacyClaims{}},
		{nil, pg.LegacyClaims{}},
	}
	for _, c := range cases {
		raw, err := json.Marshal(c.claims)
		require.NoError(t, err)
		got := PGRequest(r, Identity{Role: "anon", Claims: c.claims, RawClaims: raw}, true)
		assert.Equal(t, c.want, got.LegacyClaims, "claims %s", raw)
		assert.True(t, got.HeadersValid)
		assert.True(t, json.Valid(got.Headers))
	}
}
