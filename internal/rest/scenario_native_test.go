package rest_test

import (
	"net/http"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

// The native routes: /api/v1/tables/{table}, {schema}.{table}, profile
// headers, rows by primary key (composite keys too) and /api/v1/rpc.
func TestScenarioNativeRoutes(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	n := "/api/v1/tables/"
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("the same grammar as /rest/v1", n+"products?select=name,categories(name)&id=eq.1", c.anon, 200,
			isJSON(`[{"name":"Aero Laptop 13","categories":{"name":"Laptops"}}]`)),
		get("filters, order and limit", n+"products?select=id&price=lt.100&order=price.desc&limit=2", c.anon, 200, ids(5, 8)),
		get("schema.table", n+"inventory.warehouses?select=name&order=id", c.anon, 200, col("name", "North", "South")),
		get("Accept-Profile", n+"warehouses?select=name&order=id", h(c.anon, "Accept-Profile", "inventory"), 200, col("name", "North", "South")),
		get("public.table", n+"public.tags?select=name&id=eq.1", c.anon, 200, isJSON(`[{"name":"sale"}]`)),
		get("an unexposed schema", n+"fluxbase.signing_keys", c.svc, 406, pgErr("PGRST106"), lacks("private_key")),
		get("the auth schema", n+"auth.users", c.svc, 406, pgErr("PGRST106")),
		get("pg_catalog", n+"pg_catalog.pg_authid", c.svc, 406, pgErr("PGRST106"), lacks("rolpassword")),
		get("an unknown table", n+"nope", c.anon, 404, anyErr("42P01", "PGRST205")),
		get("a parse error", n+"products?id=zz.1", c.anon, 400, pgErr("PGRST100")),
		get("a row by id", n+"products/1?select=id,name", c.anon, 200,
			isJSON(`{"id":1,"name":"Aero Laptop 13"}`), contentType("application/json")),
		get("every column of a row by id", n+"tags/3", c.anon, 200, isJSON(`{"id":3,"name":"bestseller"}`)),
		get("a row by id with an embed", n+"products/6?select=name,categories(name)", c.anon, 200,
			isJSON(`{"name":"Dune","categories":{"name":"Fiction"}}`)),
		get("no row with that id", n+"products/999", c.anon, 404, pgErr("not_found")),
		get("a row hidden by row level security", n+"products/10", c.anon, 404, pgErr("not_found")),
		get("the same row for service_role", n+"products/10?select=sku", c.svc, 200, isJSON(`{"sku":"OLD-001"}`)),
		get("a uuid key", n+"customers/"+fixtures.AliceID+"?select=first_name", c.alice, 200, isJSON(`{"first_name":"Alice"}`)),
		get("someone else's uuid key", n+"customers/"+fixtures.BobID+"?select=first_name", c.alice, 404, pgErr("not_found")),
		get("a composite key", n+"order_items/1,2?select=product_id,quantity", c.alice, 200, isJSON(`{"product_id":5,"quantity":1}`)),
		get("a composite key with too few values", n+"order_items/1", c.alice, 400, pgErr("PGRST105")),
		get("a composite key with too many values", n+"order_items/1,2,3", c.alice, 400, pgErr("PGRST105")),
		get("a key of the wrong type", n+"products/abc", c.anon, 400, pgErr("22P02")),
		get("a row by id in another schema", n+"inventory.warehouses/2?select=city", c.anon, 200, isJSON(`{"city":"Munich"}`)),
		get("a composite key in another schema", n+"inventory.stock_levels/1,BK-002?select=quantity", c.anon, 200, isJSON(`{"quantity":60}`)),
		get("a table without a primary key", n+"category_product_counts/3", c.anon, 400, pgErr("PGRST105")),
		sc("HEAD of a row", http.MethodHead, n+"tags/1", c.anon, nil, 200, empty()),
		sc("PATCH a row by id", http.MethodPatch, n+"tags/6?select=id,name", c.svc, map[string]any{"name": "clear"}, 200,
			contains(`"name":"clear"`), sqlCount(`select count(*) from tags where id = 6 and name = 'clear'`, 1)),
		sc("PATCH a row by id with return=minimal", http.MethodPatch, n+"tags/6", h(c.svc, "Prefer", "return=minimal"), map[string]any{"name": "clear-2"}, 204,
			empty()),
		sc("PATCH by id changes only that row", http.MethodPatch, n+"page_views/1", h(c.svc, "Prefer", "return=minimal"), map[string]any{"referrer": "by-id"}, 204,
			sqlCount(`select count(*) from page_views where referrer = 'by-id'`, 1)),
		sc("PATCH a row someone else owns", http.MethodPatch, n+"orders/4", c.alice, map[string]any{"notes": "x"}, 404,
			sqlCount(`select count(*) from orders where notes = 'x'`, 0)),
		sc("PUT a row by id", http.MethodPut, n+"tags/70", c.svc, map[string]any{"id": 70, "name": "seventy"}, 201,
			sqlCount(`select count(*) from tags where id = 70`, 1)),
		sc("PUT with a mismatching body", http.MethodPut, n+"tags/71", c.svc, map[string]any{"id": 72, "name": "x"}, 400, pgErr("PGRST115")),
		sc("DELETE a row by id", http.MethodDelete, n+"tags/70", c.svc, nil, 0,
			statusIn(200, 204), sqlCount(`select count(*) from tags where id = 70`, 0)),
		sc("DELETE by a composite key", http.MethodDelete, n+"product_tags/8,5", c.svc, nil, 0,
			statusIn(200, 204), sqlCount(`select count(*) from product_tags`, 10)),
		sc("DELETE by id under row level security", http.MethodDelete, n+"reviews/2", c.alice, nil, 404,
			sqlCount(`select count(*) from reviews where id = 2`, 1)),
		sc("POST to a row is not allowed", http.MethodPost, n+"tags/1", c.svc, map[string]any{"name": "x"}, 405),
		sc("POST on the native route", http.MethodPost, n+"inventory.warehouses?select=name", h(c.svc, "Prefer", "return=representation"),
			map[string]any{"name": "East", "city": "Dresden"}, 201, isJSON(`[{"name":"East"}]`)),
		get("native rpc", "/api/v1/rpc/fib?n=4", c.anon, 200, isJSON(`[0,1,1,2]`)),
		get("native rpc in another schema", "/api/v1/rpc/inventory.total_quantity", c.anon, 200, bodyIs("115")),
		get("native rpc unknown", "/api/v1/rpc/nope", c.anon, 404, pgErr("PGRST202")),
	})
}
