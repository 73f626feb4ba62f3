package rest_test

import (
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// Aggregates: count(), sum(), avg(), min(), max() with implicit GROUP BY,
// casts, aliases, inside embeds and on function results.
func TestScenarioAggregates(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	p := "/rest/v1/products?select="
	a := c.anon
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("count()", p+"count()", a, 200, isJSON(`[{"count":9}]`)),
		get("count() under row level security", p+"count()", c.svc, 200, isJSON(`[{"count":10}]`)),
		get("count() with a filter", p+"count()&category_id=eq.3", a, 200, isJSON(`[{"count":2}]`)),
		get("count() with an alias", p+"n:count()", a, 200, isJSON(`[{"n":9}]`)),
		get("count() grouped by a column", p+"category_id,count()&order=category_id", a, 200,
			isJSON(`[{"category_id":3,"count":2},{"category_id":4,"count":2},{"category_id":5,"count":1},{"category_id":6,"count":2},{"category_id":7,"count":2}]`)),
		get("count of a column skips nulls", p+"description.count()", a, 200, isJSON(`[{"count":8}]`)),
		get("sum()", p+"stock.sum()", a, 200, isJSON(`[{"sum":161}]`)),
		get("sum() of numeric", p+"price.sum()", a, 200, isJSON(`[{"sum":4794.38}]`)),
		get("sum() grouped", p+"category_id,stock.sum()&category_id=in.(3,6)&order=category_id", a, 200,
			isJSON(`[{"category_id":3,"sum":7},{"category_id":6,"sum":100}]`)),
		get("avg()", p+"price.avg()&category_id=eq.6", a, 200, isJSON(`[{"avg":9.245}]`)),
		get("min() and max()", p+"price.min(),price.max()", a, 200, isJSON(`[{"min":8.50,"max":1899.99}]`)),
		get("aggregate with an alias", p+"total:stock.sum()", a, 200, isJSON(`[{"total":161}]`)),
		get("cast of the aggregate's result", p+"price.sum()::int", a, 200, isJSON(`[{"sum":4794}]`)),
		get("cast of the column inside the aggregate", p+"price::int.sum()", a, 200, isJSON(`[{"sum":4795}]`)),
		get("aggregate of a json path", p+"ram:attributes->ram::int.sum()", a, 200, isJSON(`[{"ram":62}]`)),
		get("several aggregates grouped by two columns", p+"category_id,active,count(),stock.max()&category_id=eq.4", a, 200,
			isJSON(`[{"category_id":4,"active":true,"count":2,"max":10}]`)),
		get("aggregate of nothing", p+"stock.sum()&id=eq.999", a, 200, isJSON(`[{"sum":null}]`)),
		get("count() of nothing", p+"count()&id=eq.999", a, 200, isJSON(`[{"count":0}]`)),
		get("aggregate inside an embed", "/rest/v1/categories?select=name,products(stock.sum())&id=eq.3", a, 200,
			isJSON(`[{"name":"Laptops","products":[{"sum":7}]}]`)),
		get("count() inside an embed", "/rest/v1/categories?select=name,products(count())&id=in.(3,5)&order=id", a, 200,
			isJSON(`[{"name":"Laptops","products":[{"count":2}]},{"name":"Books","products":[{"count":1}]}]`)),
		get("count inside an embed without parentheses", "/rest/v1/categories?select=name,products(count)&id=eq.6", a, 200,
			isJSON(`[{"name":"Fiction","products":[{"count":2}]}]`)),
		get("aggregate grouped by a to-one embed", "/rest/v1/order_items?select=quantity.sum(),products(category_id)&order_id=in.(1,2)", c.alice, 200,
			rows(3)),
		get("aggregate on a function's rows", "/rest/v1/rpc/products_in_category?category=3&select=price.sum()", a, 200,
			isJSON(`[{"sum":2898.99}]`)),
		get("aggregate under row level security of another user", "/rest/v1/orders?select=total.sum()", c.bob, 200,
			isJSON(`[{"sum":2598.99}]`)),
		get("unknown aggregate", p+"price.median()", a, 400, pgErr("PGRST100")),
		get("aggregate of a type without it", p+"name.sum()", a, 404, pgErr("42883")),
	})
}

// With aggregates switched off, every aggregate is refused.
func TestScenarioAggregatesDisabled(t *testing.T) {
	t.Parallel()
	s, c := newShop(t, withoutAggregates)
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("count()", "/rest/v1/products?select=count()", c.anon, 400, pgErr("PGRST123"),
			errField("message", "Use of aggregate functions is not allowed")),
		get("sum()", "/rest/v1/products?select=stock.sum()", c.anon, 400, pgErr("PGRST123")),
		get("aggregate inside an embed", "/rest/v1/categories?select=name,products(count())", c.anon, 400, pgErr("PGRST123")),
		get("aggregate on a function's rows", "/rest/v1/rpc/fib?n=3&select=count()", c.anon, 400, pgErr("PGRST123")),
		get("plain reads still work", "/rest/v1/products?select=id&id=eq.1", c.anon, 200, ids(1)),
	})
}
