package rest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// Representations: single objects, CSV, stripped nulls, content
// negotiation; caching headers and Server-Timing.
func TestScenarioRepresentations(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	a := c.anon
	obj := h(a, "Accept", "application/vnd.pgrst.object+json")
	csv := h(a, "Accept", "text/csv")
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("single object", "/rest/v1/products?select=id,name&id=eq.6", obj, 200,
			isJSON(`{"id":6,"name":"Dune"}`), contentType("application/vnd.pgrst.object+json")),
		get("single object with an embed", "/rest/v1/products?select=name,categories(name)&id=eq.1", obj, 200,
			isJSON(`{"name":"Aero Laptop 13","categories":{"name":"Laptops"}}`)),
		get("single object of several rows", "/rest/v1/products?select=id&id=in.(1,2)", obj, 406,
			pgErr("PGRST116"), errField("details", "The result contains 2 rows")),
		get("single object of no row", "/rest/v1/products?select=id&id=eq.999", obj, 406,
			pgErr("PGRST116"), errField("details", "The result contains 0 rows")),
		get("single object of a row hidden by row level security", "/rest/v1/products?select=id&id=eq.10", obj, 406,
			pgErr("PGRST116"), errField("details", "The result contains 0 rows")),
		get("single object with a limit of one", "/rest/v1/products?select=id&order=id&limit=1", obj, 200, isJSON(`{"id":1}`)),
		get("single object from a function", "/rest/v1/rpc/products_in_category?category=5&select=id", obj, 200, isJSON(`{"id":5}`)),
		get("single object from a function returning several", "/rest/v1/rpc/products_in_category?category=3&select=id", obj, 406,
			pgErr("PGRST116")),
		get("array media type", "/rest/v1/products?select=id&id=eq.1", h(a, "Accept", "application/vnd.pgrst.array+json"), 200,
			isJSON(`[{"id":1}]`)),
		get("stripped nulls", "/rest/v1/products?select=id,description,sizes&id=in.(8,9)&order=id", h(a, "Accept", "application/vnd.pgrst.array+json;nulls=stripped"), 200,
			isJSON(`[{"id":8,"description":"Flexible hose, 20 m","sizes":["S","M","L"]},{"id":9,"sizes":["M","L"]}]`)),
		get("stripped nulls on a single object", "/rest/v1/products?select=id,description&id=eq.9", h(a, "Accept", "application/vnd.pgrst.object+json;nulls=stripped"), 200,
			isJSON(`{"id":9}`)),
		get("nulls are kept by default", "/rest/v1/products?select=id,description&id=eq.9", a, 200,
			isJSON(`[{"id":9,"description":null}]`)),
		get("csv", "/rest/v1/products?select=id,sku&id=lte.3&order=id", csv, 200,
			bodyIs("id,sku\n1,LAP-001\n2,LAP-002\n3,PHN-001"), contentType("text/csv")),
		get("csv quotes values with commas", "/rest/v1/products?select=id,description&id=eq.8", csv, 200,
			contains(`"Flexible hose, 20 m"`), contains("id,description\n8,")),
		get("csv quotes values with spaces as PostgreSQL's record output does", "/rest/v1/products?select=id,name&id=in.(6,8)&order=id", csv, 200,
			bodyIs("id,name\n6,Dune\n8,\"Garden Hose\"")),
		get("csv writes null as nothing", "/rest/v1/products?select=id,description&id=eq.9", csv, 200,
			bodyIs("id,description\n9,")),
		get("csv of a function's rows", "/rest/v1/rpc/products_in_category?category=6&select=id,sku", csv, 200,
			bodyIs("id,sku\n6,BK-002\n7,BK-003")),
		get("csv with a count", "/rest/v1/products?select=id&order=id&limit=2", h(csv, "Prefer", "count=exact"), 206,
			bodyIs("id\n1\n2"), hdr("Content-Range", "0-1/9")),
		get("json explicitly", "/rest/v1/products?select=id&id=eq.1", h(a, "Accept", "application/json"), 200,
			isJSON(`[{"id":1}]`), contentType("application/json")),
		get("any media type", "/rest/v1/products?select=id&id=eq.1", h(a, "Accept", "*/*"), 200, contentType("application/json")),
		get("quality values choose json", "/rest/v1/products?select=id&id=eq.1", h(a, "Accept", "application/xml;q=0.9, application/json"), 200,
			contentType("application/json")),
		get("a media type the server cannot produce", "/rest/v1/products", h(a, "Accept", "application/xml"), 406,
			pgErr("PGRST107")),
		get("plan output is off by default", "/rest/v1/products", h(a, "Accept", "application/vnd.pgrst.plan"), 406,
			pgErr("PGRST107")),
		get("plan output as json is off by default", "/rest/v1/products", h(a, "Accept", "application/vnd.pgrst.plan+json"), 406,
			pgErr("PGRST107")),
		get("GET carries an ETag", "/rest/v1/products?select=id&id=eq.1", a, 200, hdrMatch("ETag", `^(W/)?"[^"]+"$`)),
		{
			Name: "If-None-Match with the ETag is 304", Method: http.MethodGet, Path: "/rest/v1/products?select=id,name&id=eq.2", Headers: a,
			ExpectedStatus: 200,
			After: func(t testing.TB, s *apitest.Server, res *http.Response, _ []byte) {
				etag := res.Header.Get("ETag")
				if etag == "" {
					t.Fatal("no ETag")
				}
				r2, b2 := s.Do(t, http.MethodGet, "/rest/v1/products?select=id,name&id=eq.2", h(a, "If-None-Match", etag), nil)
				if r2.StatusCode != http.StatusNotModified || len(b2) != 0 {
					t.Errorf("If-None-Match %s: status %d, body %q; want 304 and no body", etag, r2.StatusCode, b2)
				}
				r3, _ := s.Do(t, http.MethodGet, "/rest/v1/products?select=id,name&id=eq.3", h(a, "If-None-Match", etag), nil)
				if r3.StatusCode != http.StatusOK {
					t.Errorf("another resource with the same If-None-Match: status %d, want 200", r3.StatusCode)
				}
				r4, _ := s.Do(t, http.MethodGet, "/rest/v1/products?select=id,name&id=eq.2", h(a, "If-None-Match", `"something-else"`), nil)
				if r4.StatusCode != http.StatusOK {
					t.Errorf("a stale ETag: status %d, want 200", r4.StatusCode)
				}
			},
		},
		{
			Name: "the ETag changes when the data changes", Method: http.MethodGet, Path: "/rest/v1/tags?select=id,name&id=eq.6", Headers: a,
			ExpectedStatus: 200,
			After: func(t testing.TB, s *apitest.Server, res *http.Response, _ []byte) {
				etag := res.Header.Get("ETag")
				if r, b := s.Do(t, http.MethodPatch, "/rest/v1/tags?id=eq.6", c.svc, map[string]any{"name": "clearance-2"}); r.StatusCode != http.StatusNoContent {
					t.Fatalf("PATCH: %d %s", r.StatusCode, b)
				}
				r2, _ := s.Do(t, http.MethodGet, "/rest/v1/tags?select=id,name&id=eq.6", h(a, "If-None-Match", etag), nil)
				if r2.StatusCode != http.StatusOK || r2.Header.Get("ETag") == etag {
					t.Errorf("after a change: status %d, ETag %q (was %q); want 200 and a new ETag", r2.StatusCode, r2.Header.Get("ETag"), etag)
				}
			},
		},
		get("ETag on a function call", "/rest/v1/rpc/add_numbers?a=1&b=2", a, 200, hdrMatch("ETag", `^(W/)?"[^"]+"$`)),
		get("Server-Timing names the phases", "/rest/v1/products?select=id&id=eq.1", a, 200,
			func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
				st := strings.Join(res.Header.Values("Server-Timing"), ",")
				for _, phase := range []string{"parse;dur=", "plan;dur=", "transaction;dur=", "response;dur="} {
					if !strings.Contains(st, phase) {
						t.Errorf("Server-Timing %q lacks %s", st, phase)
					}
				}
			}),
		sc("Server-Timing on writes", http.MethodPost, "/rest/v1/page_views", a, map[string]any{"path": "/timing"}, 201,
			hdrMatch("Server-Timing", `transaction;dur=[0-9.]+`)),
		get("Server-Timing on errors from the database", "/rest/v1/products?id=eq.abc", a, 400, hdrMatch("Server-Timing", `parse;dur=`)),

		// Media type handlers of rows: aggregates returning a media type
		// domain, for one table's rows or for any.
		get("a table's handler renders its rows", "/rest/v1/tags?id=lt.3&order=id", h(a, "Accept", "text/tab-separated-values"), 200,
			bodyIs("id\tname\n1\tsale\n2\tnew\n"), hdr("Content-Type", "text/tab-separated-values")),
		get("a table's handler over no rows is an empty body", "/rest/v1/tags?id=eq.999", h(a, "Accept", "text/tab-separated-values"), 200,
			empty(), hdr("Content-Type", "text/tab-separated-values")),
		get("a table's handler needs all its columns", "/rest/v1/tags?select=id,name", h(a, "Accept", "text/tab-separated-values"), 406,
			pgErr("PGRST107")),
		get("another table has no such handler", "/rest/v1/categories", h(a, "Accept", "text/tab-separated-values"), 406,
			pgErr("PGRST107")),
		get("an anyelement handler renders any rows, selected ones too", "/rest/v1/categories?select=id,name&id=lt.3&order=id", h(a, "Accept", "application/x-ndjson"), 200,
			bodyIs("{\"id\":1,\"name\":\"Electronics\"}\n{\"id\":2,\"name\":\"Computers\"}\n"), hdr("Content-Type", "application/x-ndjson")),
		get("a handler for a function's rows", "/rest/v1/rpc/products_in_category?category=6&select=id,name&order=id", h(a, "Accept", "application/x-ndjson"), 200,
			bodyIs("{\"id\":6,\"name\":\"Dune\"}\n{\"id\":7,\"name\":\"Foundation\"}\n")),
		get("JSON stays the default next to handlers", "/rest/v1/tags?id=eq.1", a, 200, isJSON(`[{"id":1,"name":"sale"}]`)),
		get("the vendor types are not overridden", "/rest/v1/tags?id=eq.1", h(a, "Accept", "application/vnd.pgrst.object+json, text/tab-separated-values"), 200,
			isJSON(`{"id":1,"name":"sale"}`)),
	})
}

// EXPLAIN output, enabled by configuration.
func TestScenarioExplain(t *testing.T) {
	t.Parallel()
	s, c := newShop(t, withExplain)
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("text plan", "/rest/v1/products?select=id&id=eq.1", h(c.anon, "Accept", "application/vnd.pgrst.plan"), 200,
			contentType("application/vnd.pgrst.plan+text"), contains("Scan")),
		get("json plan", "/rest/v1/products?select=id&id=eq.1", h(c.anon, "Accept", "application/vnd.pgrst.plan+json"), 200,
			contentType("application/vnd.pgrst.plan+json"), contains(`"Plan"`)),
		get("plan with analyze", "/rest/v1/products?select=id", h(c.anon, "Accept", `application/vnd.pgrst.plan+json; options=analyze`), 200,
			contains(`"Actual Rows"`)),
		get("plan of a function call", "/rest/v1/rpc/fib?n=3", h(c.anon, "Accept", "application/vnd.pgrst.plan+json"), 200,
			contains(`"Plan"`)),
		get("plans respect row level security", "/rest/v1/orders", h(c.anon, "Accept", "application/vnd.pgrst.plan"), 401,
			pgErr("42501")),
		sc("plan of a write does not write", http.MethodPost, "/rest/v1/page_views", h(c.anon, "Accept", "application/vnd.pgrst.plan+json"),
			map[string]any{"path": "/explained"}, 200, contains(`"Plan"`), sqlCount(`select count(*) from page_views where path = '/explained'`, 0)),
	})
}
