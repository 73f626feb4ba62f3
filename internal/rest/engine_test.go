package rest_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

// TestEngineSettings covers the rest.* settings and the response headers
// the engine adds: explain_enabled, statement_timeouts, max_rows,
// aggregates, ETag/If-None-Match, Server-Timing and the schema reload route.
func TestEngineSettings(t *testing.T) {
	t.Parallel()
	s := apitest.NewServer(t, func(c *config.Config) {
		c.REST.Schemas = []string{"public", "inventory"}
		c.REST.ExplainEnabled = true
		c.REST.MaxRows = 3
		c.REST.StatementTimeouts = []string{"anon=200ms"}
	})
	shop := fixtures.Load(t, s)
	anon := map[string]string{"apikey": s.AnonKey}
	svc := fixtures.With(fixtures.Bearer(s.ServiceRoleKey), "apikey", s.ServiceRoleKey)
	ctx := context.Background()
	if _, err := s.DB.DB.Admin.Exec(ctx, `create function public.slow_answer() returns int language sql stable as 'select 42 from pg_sleep(1)';
		grant execute on function public.slow_answer() to anon, service_role`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, "/rest/v1/rpc/slow_answer", svc)

	timing := regexp.MustCompile(`^parse;dur=[0-9.]+, plan;dur=[0-9.]+, transaction;dur=[0-9.]+, response;dur=[0-9.]+$`)
	var etag string
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "max_rows caps a read", Method: "GET", Path: "/rest/v1/products?select=id&order=id", Headers: anon,
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Range": "0-2/*"}},
		{Name: "max_rows caps a larger limit", Method: "GET", Path: "/rest/v1/products?select=id&order=id&limit=50&offset=1", Headers: anon,
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Range": "1-3/*"}},
		{Name: "max_rows with an exact count", Method: "GET", Path: "/rest/v1/products?select=id&order=id", Headers: fixtures.With(anon, "Prefer", "count=exact"),
			ExpectedStatus: 206, ExpectedHeaders: map[string]string{"Content-Range": "0-2/9"}},
		{Name: "planned count is a number", Method: "GET", Path: "/rest/v1/products?select=id&price=gt.1", Headers: fixtures.With(anon, "Prefer", "count=planned"),
			After: func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
				if cr := res.Header.Get("Content-Range"); !regexp.MustCompile(`^0-2/[0-9]+$`).MatchString(cr) {
					t.Errorf("Content-Range %q", cr)
				}
				if res.StatusCode != 200 && res.StatusCode != 206 {
					t.Errorf("status %d", res.StatusCode)
				}
			}},
		{Name: "estimated count is a number", Method: "GET", Path: "/rest/v1/products?select=id", Headers: fixtures.With(anon, "Prefer", "count=estimated"),
			ExpectedStatus: 206, ExpectedHeaders: map[string]string{"Preference-Applied": "count=estimated"},
			After: func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
				if cr := res.Header.Get("Content-Range"); !regexp.MustCompile(`^0-2/[0-9]+$`).MatchString(cr) {
					t.Errorf("Content-Range %q", cr)
				}
			}},
		{Name: "Server-Timing has the four phases", Method: "GET", Path: "/rest/v1/products?select=id&id=eq.1", Headers: anon,
			After: func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
				if st := res.Header.Get("Server-Timing"); !timing.MatchString(st) {
					t.Errorf("Server-Timing %q", st)
				}
			}},
		{Name: "GET carries an ETag", Method: "GET", Path: "/rest/v1/products?select=id,name&id=eq.1", Headers: anon, ExpectedStatus: 200,
			After: func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
				etag = res.Header.Get("ETag")
				if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
					t.Errorf("ETag %q", etag)
				}
			}},
		{Name: "explain as text", Method: "GET", Path: "/rest/v1/products?select=id&id=eq.1", Headers: fixtures.With(anon, "Accept", "application/vnd.pgrst.plan"),
			ExpectedStatus: 200, ExpectedContent: []string{"Scan"},
			ExpectedHeaders: map[string]string{"Content-Type": `application/vnd.pgrst.plan+text; for="application/json"; charset=utf-8`}},
		{Name: "explain as json", Method: "GET", Path: "/rest/v1/products?select=id", Headers: fixtures.With(anon, "Accept", "application/vnd.pgrst.plan+json"),
			ExpectedStatus: 200, ExpectedContent: []string{`"Plan"`}},
		{Name: "explain analyze of a write rolls it back", Method: "POST", Path: "/rest/v1/tags", Body: map[string]any{"name": "explained"},
			Headers: fixtures.With(svc, "Accept", "application/vnd.pgrst.plan+json; options=analyze"), ExpectedStatus: 200, ExpectedContent: []string{`"Actual Rows"`}},
		{Name: "the explained write left nothing", Method: "GET", Path: "/rest/v1/tags?name=eq.explained", Headers: svc, ExpectedStatus: 200, ExpectedContent: []string{"[]"}},
		{Name: "a statement over the role's timeout is cancelled", Method: "GET", Path: "/rest/v1/rpc/slow_answer", Headers: anon,
			ExpectedStatus: 500, ExpectedContent: []string{`"code":"57014"`}},
		{Name: "a role without a timeout waits", Method: "GET", Path: "/rest/v1/rpc/slow_answer", Headers: svc, ExpectedStatus: 200, ExpectedContent: []string{"42"}},
		{Name: "GET on a volatile function that writes", Method: "GET", Path: "/rest/v1/rpc/place_order?product_id=1&quantity=1",
			Headers: fixtures.Bearer(shop.Alice), ExpectedStatus: 405, ExpectedJSON: map[string]any{"code": "25006"}},
		{Name: "HEAD on a function", Method: "HEAD", Path: "/rest/v1/rpc/add_numbers?a=1&b=2", Headers: anon, ExpectedStatus: 200,
			After: func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
				if len(body) != 0 {
					t.Errorf("HEAD body %q", body)
				}
			}},
		{Name: "CSV", Method: "GET", Path: "/rest/v1/tags?select=id,name&id=in.(1,2)&order=id", Headers: fixtures.With(anon, "Accept", "text/csv"),
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Type": "text/csv; charset=utf-8"},
			After: func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
				if string(body) != "id,name\n1,sale\n2,new" {
					t.Errorf("CSV body %q", body)
				}
			}},
		{Name: "nulls=stripped", Method: "GET", Path: "/rest/v1/categories?select=id,parent_id&id=eq.1",
			Headers: fixtures.With(anon, "Accept", "application/vnd.pgrst.array+json;nulls=stripped"), ExpectedStatus: 200,
			After: func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
				if string(body) != `[{"id":1}]` {
					t.Errorf("body %s", body)
				}
			}},
		{Name: "missing=default fills an identity column from its sequence", Method: "POST", Path: "/rest/v1/tags?select=name",
			Body:    []map[string]any{{"name": "md-a"}, {"id": 900, "name": "md-b"}},
			Headers: fixtures.With(svc, "Prefer", "return=representation, missing=default"), ExpectedStatus: 201,
			ExpectedContent: []string{`"name":"md-a"`, `"name":"md-b"`}, ExpectedHeaders: map[string]string{"Preference-Applied": "missing=default, return=representation"}},
		{Name: "count=exact on a delete", Method: "DELETE", Path: "/rest/v1/tags?name=like.md-*", Headers: fixtures.With(svc, "Prefer", "count=exact"),
			ExpectedStatus: 204, ExpectedHeaders: map[string]string{"Content-Range": "0-1/2"}},
		{Name: "schema reload needs a token", Method: "POST", Path: "/api/v1/admin/schema/reload", ExpectedStatus: 401},
		{Name: "schema reload with the anon key is forbidden", Method: "POST", Path: "/api/v1/admin/schema/reload", Headers: anon, ExpectedStatus: 403},
		{Name: "schema reload for a user is forbidden", Method: "POST", Path: "/api/v1/admin/schema/reload", Headers: fixtures.Bearer(shop.Alice), ExpectedStatus: 403},
		{Name: "schema reload", Method: "POST", Path: "/api/v1/admin/schema/reload", Headers: svc, ExpectedStatus: 200,
			ExpectedContent: []string{`"schemas":["public","inventory"]`}},
	})
	res, _ := s.Do(t, "GET", "/rest/v1/products?select=id,name&id=eq.1", fixtures.With(anon, "If-None-Match", etag), nil)
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the current ETag: status %d", res.StatusCode)
	}
	res, _ = s.Do(t, "GET", "/rest/v1/products?select=id,name&id=eq.2", fixtures.With(anon, "If-None-Match", etag), nil)
	if res.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match with another ETag: status %d", res.StatusCode)
	}
}

// TestEngineDefaults checks that explain is off by default, and the
// aggregates switch.
func TestEngineDefaults(t *testing.T) {
	t.Parallel()
	s := apitest.NewServer(t, func(c *config.Config) { c.REST.AggregatesEnabled = false })
	fixtures.Load(t, s)
	anon := map[string]string{"apikey": s.AnonKey}
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "explain is off by default", Method: "GET", Path: "/rest/v1/products?select=id", Headers: fixtures.With(anon, "Accept", "application/vnd.pgrst.plan"),
			ExpectedStatus: 406, ExpectedJSON: map[string]any{"code": "PGRST107"}},
		{Name: "aggregates off", Method: "GET", Path: "/rest/v1/products?select=price.sum()", Headers: anon,
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "PGRST123"}},
	})
}

// waitFor polls path until it answers 200: the schema cache picks up DDL
// asynchronously.
func waitFor(t *testing.T, s *apitest.Server, path string, headers map[string]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, body := s.Do(t, "GET", path, headers, nil)
		if res.StatusCode == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered 200: %d %s", path, res.StatusCode, strings.TrimSpace(string(body)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
