package rest_test

import (
	"net/http"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

// Functions: GET for stable and immutable ones, POST with named arguments
// or a single json parameter, variadic, overloads, every return kind, and
// filters/order/limit/select on set results.
func TestScenarioRPC(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	a := c.anon
	r := "/rest/v1/rpc/"
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("scalar with GET", r+"add_numbers?a=1&b=2", a, 200, bodyIs("3"), contentType("application/json")),
		post("scalar with POST", r+"add_numbers", a, map[string]any{"a": 40, "b": 2}, 200, bodyIs("42")),
		get("a default argument", r+"greet", a, 200, isJSON(`"Hello, world!"`)),
		get("a default argument given", r+"greet?name=Ann", a, 200, isJSON(`"Hello, Ann!"`)),
		post("a default argument with POST", r+"greet", a, map[string]any{}, 200, isJSON(`"Hello, world!"`)),
		get("the caller's identity as anon", r+"whoami", a, 200, isJSON(`"anonymous"`)),
		get("the caller's identity as a user", r+"whoami", c.alice, 200, isJSON(`"`+fixtures.AliceID+`"`)),
		get("setof scalar", r+"product_names", a, 200,
			isJSON(`["Aero Laptop 13","Titan Laptop 17","Pixel Phone","Fruit Phone","The Go Programming Language","Dune","Foundation","Garden Hose","Rake"]`)),
		get("setof scalar with limit", r+"fib?n=10&limit=3", a, 200, isJSON(`[0,1,1]`), hdr("Content-Range", "0-2/*")),
		get("setof scalar with offset", r+"fib?n=10&offset=5&limit=2", a, 200, isJSON(`[5,8]`), hdr("Content-Range", "5-6/*")),
		get("setof scalar with Range", r+"fib?n=10", h(a, "Range", "2-3"), 200, isJSON(`[1,2]`), hdr("Content-Range", "2-3/*")),
		get("setof scalar with a count", r+"fib?n=10&limit=2", h(a, "Prefer", "count=exact"), 206, hdr("Content-Range", "0-1/10")),
		get("scalar with a count", r+"add_numbers?a=3&b=4", h(a, "Prefer", "count=exact"), 200, bodyIs("7"), hdr("Content-Range", "0-0/1")),
		get("setof rows", r+"products_in_category?category=3&select=id,name", a, 200,
			isJSON(`[{"id":1,"name":"Aero Laptop 13"},{"id":2,"name":"Titan Laptop 17"}]`)),
		get("setof rows with a filter", r+"products_in_category?category=3&select=id&price=gt.1000", a, 200, ids(2)),
		get("setof rows with order", r+"products_in_category?category=6&select=id&order=price.asc", a, 200, ids(7, 6)),
		get("setof rows with limit and offset", r+"products_in_category?category=3&select=id&limit=1&offset=1", a, 200, ids(2), hdr("Content-Range", "1-1/*")),
		get("setof rows with a logic tree", r+"products_in_category?category=4&select=id&or=(stock.eq.0,price.lt.700)&order=id", a, 200, ids(3, 4)),
		get("setof rows with a count", r+"products_in_category?category=3&select=id", h(a, "Prefer", "count=exact"), 200, hdr("Content-Range", "0-1/2")),
		get("setof rows with a computed field", r+"products_in_category?category=4&select=id,in_stock&order=id", a, 200,
			isJSON(`[{"id":3,"in_stock":true},{"id":4,"in_stock":false}]`)),
		post("setof rows with POST and query parameters", r+"products_in_category?select=id&order=id.desc", a, map[string]any{"category": 3}, 200, ids(2, 1)),
		post("POST ignores Range", r+"fib", h(a, "Range", "0-0"), map[string]any{"n": 3}, 200, isJSON(`[0,1,1]`)),
		get("setof rows under row level security", r+"my_orders?select=id&order=id", c.alice, 200, ids(1, 2, 3)),
		get("setof rows of another user", r+"my_orders?select=id&order=id", c.bob, 200, ids(4, 5)),
		get("setof rows for service_role", r+"my_orders?select=id&order=id", c.svc, 200, ids(1, 2, 3, 4, 5, 6)),
		get("a single row is an object", r+"cheapest_product?select=id,name", a, 200, isJSON(`{"id":7,"name":"Foundation"}`)),
		get("a single row under row level security", r+"cheapest_product?select=id", c.svc, 200, isJSON(`{"id":10}`)),
		get("RETURNS TABLE", r+"order_stats", c.alice, 200,
			isJSON(`[{"customer_id":"`+fixtures.AliceID+`","order_count":3,"total_spent":1082.88}]`)),
		get("RETURNS TABLE with select, order and filter", r+"order_stats?select=order_count&order=order_count.desc&order_count=gt.1", c.svc, 200,
			isJSON(`[{"order_count":3},{"order_count":2}]`)),
		get("OUT parameters are an object", r+"price_bounds", a, 200, isJSON(`{"min_price":8.50,"max_price":1899.99}`)),
		post("a single unnamed json parameter takes the body", r+"echo_json", a, map[string]any{"a": []int{1, 2}, "b": map[string]any{"c": nil}}, 200,
			isJSON(`{"a":[1,2],"b":{"c":null}}`)),
		post("a single unnamed jsonb parameter", r+"count_keys", a, map[string]any{"x": 1, "y": 2, "z": 3}, 200, bodyIs("3")),
		post("a single json parameter takes an array of objects whole", r+"echo_json", a, []map[string]int{{"a": 1}, {"a": 2}}, 200,
			isJSON(`[{"a":1},{"a":2}]`)),
		// PostgREST reads an array body as objects with equal keys before
		// it looks for the function, so an array of scalars is refused
		// even for a single json parameter.
		post("an array of scalars is refused", r+"echo_json", a, []int{1, 2, 3}, 400, pgErr("PGRST102"),
			errField("message", "All object keys must match")),
		post("variadic with POST", r+"join_words", a, map[string]any{"words": []string{"a", "b", "c"}}, 200, isJSON(`"a b c"`)),
		get("variadic with a repeated GET parameter", r+"join_words?words=x&words=y", a, 200, isJSON(`"x y"`)),
		get("variadic with an array literal", r+"join_words?words={p,q,r}", a, 200, isJSON(`"p q r"`)),
		post("array argument", r+"sum_array", a, map[string]any{"vals": []int{1, 2, 3}}, 200, bodyIs("6")),
		get("array argument with GET", r+"sum_array?vals={4,5}", a, 200, bodyIs("9")),
		get("enum argument and result", r+"next_status?s=paid", a, 200, isJSON(`"shipped"`)),
		get("a bad enum value", r+"next_status?s=lost", a, 400, pgErr("22P02")),
		post("overload chosen by argument name", r+"describe_product", a, map[string]any{"id": 1}, 200, isJSON(`"product #1: Aero Laptop 13"`)),
		post("another overload", r+"describe_product", a, map[string]any{"sku": "BK-002"}, 200, isJSON(`"sku BK-002: Dune"`)),
		post("the overload with two arguments", r+"describe_product", a, map[string]any{"id": 1, "detailed": true}, 200,
			isJSON(`"product #1: Aero Laptop 13 (999.00 EUR)"`)),
		get("overload with GET", r+"describe_product?sku=LAP-002", a, 200, isJSON(`"sku LAP-002: Titan Laptop 17"`)),
		get("overloads that cannot be told apart", r+"lookup?key=1", a, 300, pgErr("PGRST203")),
		post("no overload takes these arguments", r+"describe_product", a, map[string]any{"foo": 1}, 404, pgErr("PGRST202")),
		get("an unknown function", r+"nope", a, 404, pgErr("PGRST202")),
		post("an unknown function with POST", r+"nope", a, map[string]any{}, 404, pgErr("PGRST202")),
		get("a missing argument", r+"add_numbers?a=1", a, 404, pgErr("PGRST202")),
		get("an extra argument", r+"add_numbers?a=1&b=2&c=3", a, 404, pgErr("PGRST202")),
		post("an argument of the wrong type", r+"add_numbers", a, map[string]any{"a": "x", "b": 1}, 400, pgErr("22P02")),
		post("invalid JSON", r+"add_numbers", h(a, "Content-Type", "application/json"), `{"a":1,`, 400, pgErr("PGRST102")),
		get("GET may not run a volatile function", r+"place_order?product_id=6&quantity=1", c.alice, 405,
			sqlCount(`select count(*) from orders where customer_id = '`+fixtures.AliceID+`'`, 3)),
		post("POST runs a volatile function", r+"place_order?select=customer_id,status,total", c.alice, map[string]any{"product_id": 6, "quantity": 2}, 200,
			isJSON(`{"customer_id":"`+fixtures.AliceID+`","status":"pending","total":19.98}`),
			sqlCount(`select count(*) from orders where customer_id = '`+fixtures.AliceID+`'`, 4)),
		post("tx=rollback undoes a function's writes", r+"place_order?select=status", h(c.alice, "Prefer", "tx=rollback"), map[string]any{"product_id": 6, "quantity": 1}, 200,
			isJSON(`{"status":"pending"}`), sqlCount(`select count(*) from orders where customer_id = '`+fixtures.AliceID+`'`, 4)),
		post("PTxxx sets the status", r+"place_order", a, map[string]any{"product_id": 6, "quantity": 1}, 401,
			pgErr("PT401"), errField("message", "Sign in to place an order")),
		post("RAISE gives 400 with message and hint", r+"place_order", c.alice, map[string]any{"product_id": 999, "quantity": 1}, 400,
			pgErr("P0001"), errField("message", "Product 999 does not exist"), errField("hint", "Pick a product from the catalog")),
		post("void returns 204", r+"restock", c.svc, map[string]any{"product_id": 7, "amount": 5}, 204,
			empty(), sqlCount(`select stock from products where id = 7`, 5)),
		post("a function anon may not execute", r+"restock", a, map[string]any{"product_id": 7, "amount": 5}, 401, pgErr("42501")),
		post("a function a user may not execute", r+"restock", c.alice, map[string]any{"product_id": 7, "amount": 5}, 403, pgErr("42501")),
		post("RAISE with detail and hint", r+"fail", a, map[string]any{"message": "boom"}, 400,
			pgErr("P0001"), errField("message", "boom"), errField("details", "raised on purpose"), errField("hint", "do not call fail")),
		get("RAISE through GET", r+"fail?message=bang", a, 400, pgErr("P0001"), errField("message", "bang")),
		post("PT402", r+"require_payment", a, map[string]any{}, 402,
			pgErr("PT402"), errField("message", "Payment required"), errField("details", "a subscription is needed")),
		get("division by zero", r+"divide?a=1&b=0", a, 400, pgErr("22012")),
		get("numeric result", r+"divide?a=7&b=2", a, 200, isJSON(`3.5`)),
		sc("PUT on a function", http.MethodPut, r+"add_numbers", a, map[string]any{"a": 1, "b": 2}, 405, pgErr("PGRST101")),
		sc("PATCH on a function", http.MethodPatch, r+"add_numbers", a, map[string]any{"a": 1, "b": 2}, 405, pgErr("PGRST101")),
		sc("DELETE on a function", http.MethodDelete, r+"add_numbers", a, nil, 405, pgErr("PGRST101")),
		sc("HEAD on a function", http.MethodHead, r+"product_names", a, nil, 200, empty(), contentType("application/json")),
		sc("HEAD with a count", http.MethodHead, r+"fib?n=10", h(a, "Prefer", "count=exact"), nil, 200, empty(), hdr("Content-Range", "0-9/10")),
		post("a function of another schema through Content-Profile", r+"total_quantity", h(a, "Content-Profile", "inventory"), map[string]any{}, 200,
			bodyIs("115"), hdr("Content-Profile", "inventory")),
		get("a function of another schema through Accept-Profile", r+"total_quantity", h(a, "Accept-Profile", "inventory"), 200, bodyIs("115")),
		get("a public function is not in the other schema", r+"add_numbers?a=1&b=1", h(a, "Accept-Profile", "inventory"), 404, pgErr("PGRST202")),
		get("a profile that is not exposed", r+"add_numbers?a=1&b=1", h(a, "Accept-Profile", "auth"), 406, pgErr("PGRST106")),
		get("Fluxbase's own functions are not reachable", r+"uid", a, 404, pgErr("PGRST202")),
		get("the native route", "/api/v1/rpc/add_numbers?a=2&b=3", a, 200, bodyIs("5")),
		post("the native route with POST", "/api/v1/rpc/join_words", a, map[string]any{"words": []string{"native", "call"}}, 200, isJSON(`"native call"`)),
	})
}
