package rest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

// The error catalogue: the PGRST codes the engine implements and the
// SQLSTATE to HTTP status table, each with PostgREST's body
// {code, message, details, hint}.
func TestScenarioErrors(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	a := c.anon
	expired := s.Token(t, map[string]any{"sub": fixtures.AliceID, "role": "authenticated", "exp": time.Now().Add(-time.Hour).Unix()})
	ghost := s.Token(t, map[string]any{"sub": fixtures.AliceID, "role": "ghost"})
	apitest.Run(t, s.Server, []apitest.Scenario{
		// SQLSTATE → HTTP status.
		post("23505 unique violation is 409", "/rest/v1/tags", c.svc, map[string]any{"name": "new"}, 409,
			pgErr("23505"), contains("duplicate key value violates unique constraint")),
		post("23503 foreign key violation is 409", "/rest/v1/product_tags", c.svc, map[string]any{"product_id": 1, "tag_id": 999}, 409,
			pgErr("23503")),
		get("42501 for anon is 401", "/rest/v1/orders", a, 401,
			pgErr("42501"), contains("permission denied"), hdrMatch("WWW-Authenticate", `^Bearer`)),
		get("42501 for a user is 403", "/rest/v1/audit_log", c.alice, 403, pgErr("42501")),
		get("42501 for anon on a table with no grant is 401", "/rest/v1/audit_log", a, 401, pgErr("42501")),
		get("service_role has the grant", "/rest/v1/audit_log?select=action", c.svc, 200, isJSON(`[{"action":"seeded"}]`)),
		get("42P01 undefined table is 404", "/rest/v1/no_such_table", a, 404, anyErr("42P01", "PGRST205")),
		get("42883 undefined operator is 404", "/rest/v1/products?name=ov.{a}", a, 404, pgErr("42883")),
		post("P0001 raise is 400", "/rest/v1/rpc/fail", a, map[string]any{"message": "nope"}, 400, pgErr("P0001")),
		post("PT402 is 402", "/rest/v1/rpc/require_payment", a, map[string]any{}, 402, pgErr("PT402")),
		post("PT401 is 401", "/rest/v1/rpc/place_order", a, map[string]any{"product_id": 1, "quantity": 1}, 401, pgErr("PT401")),
		get("25006 read-only transaction is 405", "/rest/v1/rpc/place_order?product_id=1&quantity=1", c.alice, 405, pgErr("25006")),
		get("22P02 invalid text representation is 400", "/rest/v1/products?id=eq.one", a, 400, pgErr("22P02")),
		post("23502 not null violation is 400", "/rest/v1/page_views", a, map[string]any{"referrer": "x"}, 400, pgErr("23502")),
		post("23514 check violation is 400", "/rest/v1/reviews", c.alice, map[string]any{"product_id": 1, "rating": 0}, 400, pgErr("23514")),
		get("22012 division by zero is 400", "/rest/v1/rpc/divide?a=1&b=0", a, 400, pgErr("22012")),
		get("42703 undefined column is 400", "/rest/v1/products?select=nope", a, 400, pgErr("42703")),
		post("428C9 generated column is 400", "/rest/v1/order_items", c.alice,
			map[string]any{"order_id": 3, "line_no": 9, "product_id": 1, "quantity": 1, "unit_price": 1, "subtotal": 1}, 400, pgErr("428C9")),
		get("22023 a token naming an unknown role is 401", "/rest/v1/products?select=id&id=eq.1", fixtures.Bearer(ghost), 401),
		get("an expired token is 401", "/rest/v1/products?select=id&id=eq.1", fixtures.Bearer(expired), 401),
		get("a malformed token is 401", "/rest/v1/products?select=id&id=eq.1", fixtures.Bearer("not.a.token"), 401),

		// PostgREST's own codes.
		get("PGRST100 query string parse error", "/rest/v1/products?id=eq", a, 400, pgErr("PGRST100")),
		get("PGRST100 bad select", "/rest/v1/products?select=id,(", a, 400, pgErr("PGRST100")),
		get("PGRST100 bad order", "/rest/v1/products?order=id.up", a, 400, pgErr("PGRST100")),
		get("PGRST100 bad limit", "/rest/v1/products?limit=ten", a, 400, pgErr("PGRST100")),
		sc("PGRST101 method on a function", http.MethodPut, "/rest/v1/rpc/greet", a, map[string]any{}, 405, pgErr("PGRST101")),
		post("PGRST102 invalid body", "/rest/v1/tags", h(c.svc, "Content-Type", "application/json"), `{"name":}`, 400, pgErr("PGRST102")),
		post("PGRST102 keys of a bulk insert differ", "/rest/v1/tags", c.svc, []map[string]any{{"name": "p"}, {"id": 90}}, 400, pgErr("PGRST102")),
		get("PGRST103 range not satisfiable", "/rest/v1/products?offset=50", h(a, "Prefer", "count=exact"), 416, pgErr("PGRST103"),
			errField("message", "Requested range not satisfiable")),
		put("PGRST105 PUT without the key", "/rest/v1/tags?name=eq.sale", c.svc, map[string]any{"id": 1, "name": "sale"}, 405, pgErr("PGRST105")),
		get("PGRST106 schema not exposed", "/rest/v1/products", h(a, "Accept-Profile", "storage"), 406, pgErr("PGRST106")),
		get("PGRST107 media type not available", "/rest/v1/products", h(a, "Accept", "image/png"), 406, pgErr("PGRST107")),
		post("PGRST107 content type not accepted", "/rest/v1/tags", h(c.svc, "Content-Type", "application/octet-stream"), `x`, 415, pgErr("PGRST107")),
		get("PGRST108 filter on a resource not embedded", "/rest/v1/categories?products.id=eq.1", a, 400, pgErr("PGRST108"),
			errField("message", "'products' is not an embedded resource in this request")),
		put("PGRST114 PUT with a limit", "/rest/v1/tags?id=eq.1&limit=1", c.svc, map[string]any{"id": 1, "name": "sale"}, 400, pgErr("PGRST114")),
		put("PGRST115 PUT body and key differ", "/rest/v1/tags?id=eq.1", c.svc, map[string]any{"id": 2, "name": "sale"}, 400, pgErr("PGRST115")),
		get("PGRST116 not one row", "/rest/v1/products", h(a, "Accept", "application/vnd.pgrst.object+json"), 406, pgErr("PGRST116"),
			errField("details", "The result contains 9 rows")),
		sc("PGRST117 unsupported method", "TRACE", "/rest/v1/products", a, nil, 405, anyErr("PGRST117", "method_not_allowed")),
		get("PGRST118 order by a to-many embed", "/rest/v1/categories?select=id,products(id)&order=products(id)", a, 400, pgErr("PGRST118")),
		get("PGRST119 spread of a to-many embed", "/rest/v1/categories?select=id,...products(id)", a, 400, pgErr("PGRST119")),
		get("PGRST120 bad operator on an embed", "/rest/v1/products?select=id,categories(id)&categories=like.x", a, 400, pgErr("PGRST120")),
		patch("PGRST122 invalid preference with handling=strict", "/rest/v1/tags?id=eq.1", h(c.svc, "Prefer", "handling=strict, return=everything"),
			map[string]any{"name": "sale"}, 400, pgErr("PGRST122")),
		del("PGRST124 max-affected", "/rest/v1/page_views?id=lte.3", h(c.svc, "Prefer", "handling=strict, max-affected=1"), 400, pgErr("PGRST124")),
		get("PGRST200 no relationship", "/rest/v1/tags?select=id,customers(id)", a, 400, pgErr("PGRST200")),
		get("PGRST201 ambiguous embedding", "/rest/v1/products?select=id,product_links(kind)", a, 300, pgErr("PGRST201")),
		get("PGRST202 function not found", "/rest/v1/rpc/no_such_function", a, 404, pgErr("PGRST202")),
		get("PGRST203 ambiguous overload", "/rest/v1/rpc/lookup?key=abc", a, 300, pgErr("PGRST203")),
		post("PGRST204 column not found", "/rest/v1/tags", c.svc, map[string]any{"nom": "x"}, 400, pgErr("PGRST204")),
		patch("21000 update without a filter", "/rest/v1/tags", c.svc, map[string]any{"name": "x"}, 400, pgErr("21000")),
		del("21000 delete without a filter", "/rest/v1/tags", c.svc, 400, pgErr("21000")),
		get("errors never show the generated SQL", "/rest/v1/products?select=id,nope&order=id", a, 400,
			lacks("json_agg", "json_build", "SELECT", "select ", `from "`, "pgrst_", "_source")),
	})
}
