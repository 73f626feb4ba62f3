package rest_test

import (
	"net/http"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// An array body on a function is not a bulk call (PostgREST 11 dropped
// those): the objects must share their keys, the keys choose the
// function, and the first object's values are its arguments.
func TestScenarioRPCArrayBody(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	a := c.anon
	var out []apitest.Scenario
	for _, r := range []string{"/rest/v1/rpc/", "/api/v1/rpc/"} {
		out = append(out,
			post(r+": the first object's values", r+"add_numbers", a, []map[string]int{{"a": 1, "b": 2}, {"a": 3, "b": 4}}, 200, bodyIs("3")),
			post(r+": one object in an array", r+"add_numbers", a, []map[string]int{{"a": 5, "b": 6}}, 200, bodyIs("11")),
			post(r+": objects with different keys", r+"add_numbers", a, []map[string]int{{"a": 1, "b": 2}, {"a": 3}}, 400,
				pgErr("PGRST102"), errField("message", "All object keys must match")),
			post(r+": a scalar in the array", r+"add_numbers", a, []any{map[string]int{"a": 1, "b": 2}, 7}, 400, pgErr("PGRST102")),
			post(r+": keys no function takes", r+"add_numbers", a, []map[string]int{{"a": 1, "c": 2}}, 404, pgErr("PGRST202")),
			post(r+": an empty array is no arguments", r+"greet", a, []any{}, 200, bodyIs(`"Hello, world!"`)),
			post(r+": an object without a key another has", r+"greet", a, []map[string]string{{"name": "Ann"}, {}}, 400, pgErr("PGRST102")),
			post(r+": a set-returning function", r+"products_in_category?select=id&order=id", a, []map[string]int{{"category": 3}, {"category": 4}}, 200, ids(1, 2)),
			post(r+": columns= picks the arguments", r+"add_numbers?columns=a,b", a, map[string]int{"a": 2, "b": 3, "c": 4}, 200, bodyIs("5")),
			post(r+": columns= with an array", r+"add_numbers?columns=a,b", a, []map[string]int{{"a": 4, "b": 4, "c": 1}}, 200, bodyIs("8")),
			post(r+": columns= does not compare the objects' keys", r+"add_numbers?columns=a,b", a, []map[string]int{{"a": 1, "b": 1}, {"z": 9}}, 200, bodyIs("2")),
			post(r+": columns= naming no argument", r+"add_numbers?columns=a,x", a, map[string]int{"a": 1, "x": 2}, 404, pgErr("PGRST202")),
			post(r+": a hostile key", r+"add_numbers", a, []map[string]int{{`a"); drop table public.orders; --`: 1, "b": 2}}, 404, pgErr("PGRST202"),
				sqlCount(`select count(*) from public.orders`, 6)),
			post(r+": a hostile value", r+"add_numbers", a, []map[string]string{{"a": "1); drop table public.orders; --", "b": "2"}}, 400, pgErr("22P02"),
				sqlCount(`select count(*) from public.orders`, 6)),
			post(r+": a single json parameter gets the whole array", r+"echo_json", a, []map[string]int{{"x": 1}, {"x": 2}}, 200, isJSON(`[{"x":1},{"x":2}]`)),
		)
	}
	apitest.Run(t, s.Server, out)
}

// Content-Location on reads of tables and views: the path and the query
// string in canonical form (sorted, repeated names joined, percent-encoded).
func TestScenarioContentLocation(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	a := c.anon
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("a read", "/rest/v1/products?select=id&id=eq.1", a, 200, hdr("Content-Location", "/products?id=eq.1&select=id")),
		get("without a query string", "/rest/v1/tags", a, 200, hdr("Content-Location", "/tags")),
		get("sorted, with repeated names joined", "/rest/v1/products?select=id,name&id=lt.4&id=gt.1&order=id.desc", a, 200,
			ids(3, 2), hdr("Content-Location", "/products?id=lt.4,gt.1&order=id.desc&select=id%2Cname")),
		get("decoded, then encoded", "/rest/v1/products?name=eq.Aero+Laptop+13&select=id", a, 200,
			ids(1), hdr("Content-Location", "/products?name=eq.Aero%20Laptop%2013&select=id")),
		get("a view", "/rest/v1/product_catalog?select=*,categories(name)&limit=1", a, 200,
			hdr("Content-Location", "/product_catalog?limit=1&select=%2A%2Ccategories%28name%29")),
		sc("HEAD", http.MethodHead, "/rest/v1/tags?select=id", a, nil, 200, hdr("Content-Location", "/tags?select=id")),
		get("the native route names its own path", "/api/v1/tables/products?select=id&id=eq.1", a, 200,
			hdr("Content-Location", "/api/v1/tables/products?id=eq.1&select=id")),
		get("a native row", "/api/v1/tables/tags/1?select=name", a, 200, hdr("Content-Location", "/api/v1/tables/tags/1?select=name")),
		get("not on functions", "/rest/v1/rpc/product_names", a, 200, noHdr("Content-Location")),
		post("not on writes", "/rest/v1/page_views", a, map[string]any{"path": "/cl"}, 201, noHdr("Content-Location")),
		get("not on errors", "/rest/v1/products?id=eq.x", a, 400, noHdr("Content-Location")),
	})
}

// Prefer: missing=default leaves generated columns, and identity columns
// GENERATED ALWAYS, to PostgreSQL when the body does not give them.
func TestScenarioMissingDefaultGenerated(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	md := h(c.svc, "Prefer", "missing=default, return=representation, tx=rollback")
	var out []apitest.Scenario
	for _, p := range []string{"/rest/v1/", "/api/v1/tables/"} {
		out = append(out,
			post(p+": a stored generated column", p+"order_items?columns=order_id,line_no,product_id,quantity,unit_price,subtotal&select=line_no,subtotal", md,
				[]map[string]any{{"order_id": 1, "line_no": 90, "product_id": 1, "quantity": 3, "unit_price": 2}}, 201,
				isJSON(`[{"line_no":90,"subtotal":6.00}]`)),
			post(p+": an identity column GENERATED ALWAYS", p+"statement_log?columns=id,table_name,operation&select=table_name", md,
				[]map[string]any{{"table_name": "t1", "operation": "x"}, {"table_name": "t2", "operation": "y"}}, 201,
				isJSON(`[{"table_name":"t1"},{"table_name":"t2"}]`)),
			post(p+": a value given for a generated column is refused", p+"order_items?columns=order_id,line_no,product_id,quantity,unit_price,subtotal", md,
				[]map[string]any{{"order_id": 1, "line_no": 91, "product_id": 1, "quantity": 1, "unit_price": 2}, {"order_id": 1, "line_no": 92, "product_id": 1, "quantity": 1, "unit_price": 2, "subtotal": 5}}, 400,
				pgErr("428C9")),
			post(p+": a value given for an always identity is refused", p+"statement_log", md,
				map[string]any{"id": 99, "table_name": "t", "operation": "x"}, 400, pgErr("428C9")),
		)
	}
	apitest.Run(t, s.Server, out)
}

// Beside aggregates, an embedded resource is a grouping term, as in
// PostgREST: rows whose embedded values are equal form one group.
func TestScenarioAggregatesWithEmbeds(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	var out []apitest.Scenario
	for _, p := range []string{"/rest/v1/", "/api/v1/tables/"} {
		out = append(out,
			get(p+": grouped by a to-one embed", p+"orders?select=count(),customers(vip)", c.svc, 200,
				sameRows(`[{"count":3,"customers":{"vip":true}},{"count":3,"customers":{"vip":false}}]`)),
			get(p+": a column, an aggregate and an aliased embed", p+"orders?select=status,count(),customer:customers(first_name)&status=eq.paid", c.svc, 200,
				sameRows(`[{"status":"paid","count":1,"customer":{"first_name":"Alice"}},{"status":"paid","count":1,"customer":{"first_name":"Carol"}}]`)),
			get(p+": sum grouped by the embedded value", p+"orders?select=total.sum(),customers(vip)", c.svc, 200,
				sameRows(`[{"sum":1082.88,"customers":{"vip":true}},{"sum":2646.49,"customers":{"vip":false}}]`)),
			// Laptops and phones both embed two active products: one group.
			get(p+": grouped by a to-many embed", p+"categories?select=count(),products(active)&id=in.(3,4,5)", c.svc, 200,
				sameRows(`[{"count":1,"products":[{"active":true}]},{"count":2,"products":[{"active":true},{"active":true}]}]`)),
			get(p+": under row level security", p+"orders?select=count(),customers(first_name)", c.alice, 200,
				isJSON(`[{"count":3,"customers":{"first_name":"Alice"}}]`)),
		)
	}
	apitest.Run(t, s.Server, out)
}
