package rest_test

import (
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

// Row level security: anon, Alice, Bob (and Carol) and service_role each see
// and change exactly what the fixture's policies allow, through REST and RPC.
func TestScenarioRowLevelSecurity(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	cust := "/rest/v1/customers?select=first_name&order=first_name"
	ord := "/rest/v1/orders?select=id&order=id"
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("anon sees no customer", cust, c.anon, 200, bodyIs("[]")),
		get("Alice sees herself", cust, c.alice, 200, col("first_name", "Alice")),
		get("Bob sees himself", cust, c.bob, 200, col("first_name", "Bob")),
		get("service_role sees every customer", cust, c.svc, 200, col("first_name", "Alice", "Bob", "Carol")),
		get("anon may not read orders", ord, c.anon, 401, pgErr("42501")),
		get("Alice sees her orders", ord, c.alice, 200, ids(1, 2, 3)),
		get("Bob sees his orders", ord, c.bob, 200, ids(4, 5)),
		get("Carol sees hers", ord, c.carol, 200, ids(6)),
		get("service_role sees every order", ord, c.svc, 200, ids(1, 2, 3, 4, 5, 6)),
		get("a filter cannot reach another's rows", ord+"&id=eq.4", c.alice, 200, bodyIs("[]")),
		get("filtering on another's id finds nothing", ord+"&customer_id=eq."+fixtures.BobID, c.alice, 200, bodyIs("[]")),
		get("a logic tree cannot reach another's rows", ord+"&or=(customer_id.eq."+fixtures.BobID+",id.eq.5)", c.alice, 200, bodyIs("[]")),
		get("counts are counts of visible rows", ord, h(c.alice, "Prefer", "count=exact"), 200, hdr("Content-Range", "0-2/3")),
		get("aggregates see only visible rows", "/rest/v1/orders?select=count()", c.bob, 200, isJSON(`[{"count":2}]`)),
		get("a single object of another's row is absent", ord+"&id=eq.6", h(c.alice, "Accept", "application/vnd.pgrst.object+json"), 406,
			pgErr("PGRST116"), errField("details", "The result contains 0 rows")),
		get("order items follow their orders", "/rest/v1/order_items?select=order_id,line_no&order=order_id,line_no", c.alice, 200,
			isJSON(`[{"order_id":1,"line_no":1},{"order_id":1,"line_no":2},{"order_id":2,"line_no":1},{"order_id":3,"line_no":1}]`)),
		get("Bob's order items", "/rest/v1/order_items?select=count()", c.bob, 200, isJSON(`[{"count":2}]`)),
		get("Carol's order items", "/rest/v1/order_items?select=count()", c.carol, 200, isJSON(`[{"count":3}]`)),
		get("service_role's order items", "/rest/v1/order_items?select=count()", c.svc, 200, isJSON(`[{"count":9}]`)),
		get("Alice's profile", "/rest/v1/customer_profiles?select=bio", c.alice, 200, isJSON(`[{"bio":"Loves gadgets"}]`)),
		get("Carol has no profile", "/rest/v1/customer_profiles?select=bio", c.carol, 200, bodyIs("[]")),
		get("anon may not read profiles", "/rest/v1/customer_profiles", c.anon, 401, pgErr("42501")),
		get("anon sees active products only", "/rest/v1/products?select=count()", c.anon, 200, isJSON(`[{"count":9}]`)),
		get("users see active products only", "/rest/v1/products?select=count()", c.bob, 200, isJSON(`[{"count":9}]`)),
		get("service_role sees every product", "/rest/v1/products?select=count()", c.svc, 200, isJSON(`[{"count":10}]`)),
		get("an inactive product is invisible to anon", "/rest/v1/products?id=eq.10", c.anon, 200, bodyIs("[]")),
		get("the sentinel is invisible to anon", "/rest/v1/internal_notes", c.anon, 200, bodyIs("[]")),
		get("the sentinel is invisible to users", "/rest/v1/internal_notes", c.alice, 200, bodyIs("[]")),
		get("the sentinel counts as nothing", "/rest/v1/internal_notes", h(c.bob, "Prefer", "count=exact"), 200, hdr("Content-Range", "*/0")),
		get("service_role reads the sentinel", "/rest/v1/internal_notes?select=body", c.svc, 200, contains(fixtures.Sentinel)),
		get("reviews are public", "/rest/v1/reviews?select=id&order=id", c.anon, 200, ids(1, 2, 3, 4)),
		get("the view applies the caller's policies", "/rest/v1/order_summaries?select=id&order=id", c.bob, 200, ids(4, 5)),
		get("the view for anon", "/rest/v1/order_summaries", c.anon, 401, pgErr("42501")),
		get("embeds apply the policies of the embedded table", "/rest/v1/orders?select=id,customers(first_name)&order=id", c.bob, 200,
			isJSON(`[{"id":4,"customers":{"first_name":"Bob"}},{"id":5,"customers":{"first_name":"Bob"}}]`)),
		get("a review's author is hidden from another user", "/rest/v1/reviews?select=id,customers(first_name)&id=eq.1", c.bob, 200,
			isJSON(`[{"id":1,"customers":null}]`)),
		get("the native route applies the same policies", "/api/v1/tables/orders?select=id&order=id", c.carol, 200, ids(6)),

		patch("Alice updates her own customer row", "/rest/v1/customers?id=eq."+fixtures.AliceID+"&select=phone", h(c.alice, "Prefer", "return=representation"),
			map[string]any{"phone": "+49 30 7654321"}, 200, isJSON(`[{"phone":"+49 30 7654321"}]`)),
		patch("Alice cannot update Bob's customer row", "/rest/v1/customers?id=eq."+fixtures.BobID, h(c.alice, "Prefer", "return=representation"),
			map[string]any{"phone": "stolen"}, 200, bodyIs("[]"), sqlCount(`select count(*) from customers where phone = 'stolen'`, 0)),
		patch("a mass update touches only one's own rows", "/rest/v1/orders?id=gt.0", h(c.bob, "Prefer", "return=representation"),
			map[string]any{"notes": "bob was here"}, 200, rows(2), sqlCount(`select count(*) from orders where notes = 'bob was here'`, 2)),
		post("Bob places an order for himself", "/rest/v1/orders?select=customer_id", h(c.bob, "Prefer", "return=representation"),
			map[string]any{"customer_id": fixtures.BobID, "total": 10}, 201, isJSON(`[{"customer_id":"`+fixtures.BobID+`"}]`)),
		post("Bob cannot place an order for Alice", "/rest/v1/orders", c.bob,
			map[string]any{"customer_id": fixtures.AliceID, "total": 10}, 403, pgErr("42501"),
			sqlCount(`select count(*) from orders where customer_id = '`+fixtures.AliceID+`'`, 3)),
		post("anon cannot place orders", "/rest/v1/orders", c.anon, map[string]any{"customer_id": fixtures.AliceID, "total": 10}, 401, pgErr("42501")),
		post("Bob cannot add items to Alice's order", "/rest/v1/order_items", c.bob,
			map[string]any{"order_id": 1, "line_no": 3, "product_id": 6, "quantity": 1, "unit_price": 9.99}, 403, pgErr("42501")),
		del("Carol cannot delete her paid order", "/rest/v1/orders?id=eq.6", h(c.carol, "Prefer", "return=representation"), 200,
			bodyIs("[]"), sqlCount(`select count(*) from orders where id = 6`, 1)),
		del("a mass delete touches only deletable own rows", "/rest/v1/orders?id=gt.0&select=id", h(c.alice, "Prefer", "return=representation"), 200,
			ids(3), sqlCount(`select count(*) from orders`, 6)),
		del("anon cannot delete reviews", "/rest/v1/reviews?id=eq.1", c.anon, 401, pgErr("42501")),
		del("Bob deletes only his review", "/rest/v1/reviews?id=gt.0&select=id", h(c.bob, "Prefer", "return=representation"), 200,
			ids(2), sqlCount(`select count(*) from reviews`, 3)),
		patch("service_role changes anyone's row", "/rest/v1/orders?id=eq.6&select=notes", h(c.svc, "Prefer", "return=representation"),
			map[string]any{"notes": "checked"}, 200, isJSON(`[{"notes":"checked"}]`)),

		get("RPC: anon may not read orders through a function", "/rest/v1/rpc/my_orders", c.anon, 401, pgErr("42501")),
		get("RPC: Alice's orders", "/rest/v1/rpc/my_orders?select=id&order=id", c.alice, 200, ids(1, 2)),
		get("RPC: Bob's orders", "/rest/v1/rpc/my_orders?select=id&order=id", c.bob, 200, ids(4, 5, 101)),
		get("RPC: Carol's orders", "/rest/v1/rpc/my_orders?select=id", c.carol, 200, ids(6)),
		get("RPC: every order for service_role", "/rest/v1/rpc/my_orders?select=count()", c.svc, 200, isJSON(`[{"count":6}]`)),
		get("RPC: filters cannot widen what a function sees", "/rest/v1/rpc/my_orders?select=id&customer_id=eq."+fixtures.CarolID, c.alice, 200, bodyIs("[]")),
		get("RPC: RETURNS TABLE under policies", "/rest/v1/rpc/order_stats?select=order_count", c.bob, 200, isJSON(`[{"order_count":3}]`)),
		get("RPC: embedding on a function's rows under policies", "/rest/v1/rpc/my_orders?select=id,customers(first_name)&id=eq.6", c.carol, 200,
			isJSON(`[{"id":6,"customers":{"first_name":"Carol"}}]`)),
		get("RPC: the caller's identity", "/rest/v1/rpc/whoami", c.bob, 200, isJSON(`"`+fixtures.BobID+`"`)),
		post("RPC: an order is placed for the caller only", "/rest/v1/rpc/place_order?select=customer_id", c.carol,
			map[string]any{"product_id": 9, "quantity": 1}, 200, isJSON(`{"customer_id":"`+fixtures.CarolID+`"}`)),
		get("RPC: the sentinel stays hidden", "/rest/v1/rpc/product_names", c.alice, 200, lacks(fixtures.Sentinel, "Discontinued Widget")),
	})
}
