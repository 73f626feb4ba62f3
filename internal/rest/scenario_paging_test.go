package rest_test

import (
	"net/http"
	"testing"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// statusIn accepts any of the statuses, for counts whose estimate decides
// between 200 and 206.
func statusIn(codes ...int) check {
	return func(t testing.TB, _ *apitest.Server, res *http.Response, body []byte) {
		t.Helper()
		for _, c := range codes {
			if res.StatusCode == c {
				return
			}
		}
		t.Errorf("status = %d, want one of %v; body: %s", res.StatusCode, codes, body)
	}
}

// Paging with limit/offset and Range, counts and Content-Range, HEAD.
func TestScenarioPagingAndCounts(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	p := "/rest/v1/products?select=id&order=id"
	a := c.anon
	exact := h(a, "Prefer", "count=exact")
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("every row with its range", p, a, 200, ids(1, 2, 3, 4, 5, 6, 7, 8, 9), hdr("Content-Range", "0-8/*")),
		get("limit", p+"&limit=2", a, 200, ids(1, 2), hdr("Content-Range", "0-1/*")),
		get("limit and offset", p+"&limit=2&offset=2", a, 200, ids(3, 4), hdr("Content-Range", "2-3/*")),
		get("offset alone", p+"&offset=7", a, 200, ids(8, 9), hdr("Content-Range", "7-8/*")),
		get("offset past the end", p+"&offset=100", a, 200, bodyIs("[]"), hdr("Content-Range", "*/*")),
		get("limit zero", p+"&limit=0", a, 200, bodyIs("[]"), hdr("Content-Range", "*/*")),
		get("limit larger than the table", p+"&limit=1000", a, 200, rows(9), hdr("Content-Range", "0-8/*")),
		get("limit that is not a number", p+"&limit=abc", a, 400, pgErr("PGRST100")),
		get("offset that is not a number", p+"&offset=-x", a, 400, pgErr("PGRST100")),
		get("Range header", p, h(a, "Range", "0-2", "Range-Unit", "items"), 200, ids(1, 2, 3), hdr("Content-Range", "0-2/*")),
		get("Range header without Range-Unit", p, h(a, "Range", "3-4"), 200, ids(4, 5), hdr("Content-Range", "3-4/*")),
		get("open-ended Range", p, h(a, "Range", "5-"), 200, ids(6, 7, 8, 9), hdr("Content-Range", "5-8/*")),
		get("Range and limit intersect", p+"&limit=2", h(a, "Range", "1-5"), 200, ids(2, 3), hdr("Content-Range", "1-2/*")),
		get("Range with the lower bound above the upper", p, h(a, "Range", "3-1"), 416, pgErr("PGRST103")),
		get("count=exact", p, exact, 200, rows(9), hdr("Content-Range", "0-8/9"), hdrHas("Preference-Applied", "count=exact")),
		get("count=exact with a limit is partial", p+"&limit=2", exact, 206, ids(1, 2), hdr("Content-Range", "0-1/9")),
		get("count=exact with Range is partial", p, h(exact, "Range", "2-3"), 206, ids(3, 4), hdr("Content-Range", "2-3/9")),
		get("count=exact of the last page", p+"&offset=8", exact, 206, ids(9), hdr("Content-Range", "8-8/9")),
		get("count=exact with a filter", p+"&id=in.(1,2)", exact, 200, hdr("Content-Range", "0-1/2")),
		get("count=exact of nothing", p+"&id=eq.999", exact, 200, bodyIs("[]"), hdr("Content-Range", "*/0")),
		get("count=exact with an offset past the end", p+"&offset=100", exact, 416,
			pgErr("PGRST103"), hdr("Content-Range", "*/9"), errField("details", "An offset of 100 was requested, but there are only 9 rows.")),
		get("count=exact under row level security", p, h(c.svc, "Prefer", "count=exact"), 200, hdr("Content-Range", "0-9/10")),
		get("count=exact with an inner embed filter", "/rest/v1/products?select=id,tags!inner(name)&tags.name=eq.sale", exact, 200,
			hdr("Content-Range", "0-1/2")),
		get("count=exact on a view", "/rest/v1/product_catalog?select=id&category_id=eq.6", exact, 200, hdr("Content-Range", "0-1/2")),
		get("count=planned", p, h(a, "Prefer", "count=planned"), 0, statusIn(200, 206),
			hdrMatch("Content-Range", `^0-8/[0-9]+$`), hdrHas("Preference-Applied", "count=planned")),
		get("count=estimated", p, h(a, "Prefer", "count=estimated"), 0, statusIn(200, 206),
			hdrMatch("Content-Range", `^0-8/[0-9]+$`), hdrHas("Preference-Applied", "count=estimated")),
		get("an unknown count is ignored", p, h(a, "Prefer", "count=approximate"), 200, hdr("Content-Range", "0-8/*")),
		sc("HEAD", http.MethodHead, p, a, nil, 200, empty(), hdr("Content-Range", "0-8/*"), contentType("application/json")),
		sc("HEAD with count=exact", http.MethodHead, p, exact, nil, 200, empty(), hdr("Content-Range", "0-8/9")),
		sc("HEAD with a count and a limit", http.MethodHead, p+"&limit=1", exact, nil, 206, empty(), hdr("Content-Range", "0-0/9")),
		sc("HEAD with a filter", http.MethodHead, p+"&price=gt.1000", exact, nil, 200, empty(), hdr("Content-Range", "0-1/2")),
		sc("HEAD of an unknown table", http.MethodHead, "/rest/v1/nope", a, nil, 404, empty()),
		sc("HEAD of a forbidden table", http.MethodHead, "/rest/v1/orders", a, nil, 401, empty()),
		sc("HEAD on the native route", http.MethodHead, "/api/v1/tables/products?select=id", exact, nil, 200, empty(), hdr("Content-Range", "0-8/9")),
	})
}

// The server-side maximum of rows caps every read, like PostgREST's
// db-max-rows.
func TestScenarioMaxRows(t *testing.T) {
	t.Parallel()
	s, c := newShop(t, withMaxRows(3))
	p := "/rest/v1/products?select=id&order=id"
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("the cap applies without a limit", p, c.anon, 200, ids(1, 2, 3), hdr("Content-Range", "0-2/*")),
		get("a larger limit is capped", p+"&limit=100", c.anon, 200, ids(1, 2, 3)),
		get("a smaller limit is kept", p+"&limit=2", c.anon, 200, ids(1, 2)),
		get("offset pages beyond the cap", p+"&offset=3", c.anon, 200, ids(4, 5, 6), hdr("Content-Range", "3-5/*")),
		get("the count is still the total", p, h(c.anon, "Prefer", "count=exact"), 206, ids(1, 2, 3), hdr("Content-Range", "0-2/9")),
		get("Range beyond the cap", p, h(c.anon, "Range", "0-8"), 200, ids(1, 2, 3)),
		get("the cap applies to function results", "/rest/v1/rpc/fib?n=10", c.anon, 200, isJSON(`[0,1,1]`)),
		get("the cap applies on the native route", "/api/v1/tables/products?select=id&order=id", c.anon, 200, ids(1, 2, 3)),
	})
}

// The per-role statement timeout cancels anon's slow statement while an
// authenticated caller's equally slow one completes.
func TestScenarioStatementTimeout(t *testing.T) {
	t.Parallel()
	s, c := newShop(t, func(cfg *config.Config) {
		cfg.REST.StatementTimeouts = []string{"anon=200ms", "authenticated=8s"}
	})
	apitest.Run(t, s.Server, []apitest.Scenario{
		post("anon's slow statement is cancelled", "/rest/v1/rpc/slow", c.anon, map[string]any{"seconds": 2}, 0,
			pgErr("57014"), statusIn(500, 503, 504)),
		post("an authenticated caller's statement is not", "/rest/v1/rpc/slow", c.alice, map[string]any{"seconds": 0.5}, 204, empty()),
		get("anon's quick statements run", "/rest/v1/products?select=id&id=eq.1", c.anon, 200, ids(1)),
	})
}
