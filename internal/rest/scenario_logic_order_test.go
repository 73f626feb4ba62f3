package rest_test

import (
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// Logic trees (or/and, nested, negated, on embeds) and ordering.
func TestScenarioLogicAndOrder(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	p := "/rest/v1/products?select=id&order=id&"
	a := c.anon
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("or", p+"or=(id.eq.1,id.eq.3)", a, 200, ids(1, 3)),
		get("or on two columns", p+"or=(price.lt.10,price.gt.1500)", a, 200, ids(2, 6, 7)),
		get("and", p+"and=(price.gt.10,price.lt.100)", a, 200, ids(5, 8, 9)),
		get("and with a top-level filter", p+"and=(price.gt.10,price.lt.100)&stock=gt.10", a, 200, ids(5, 8)),
		get("or nested in and", p+"and=(stock.gt.0,or(category_id.eq.3,category_id.eq.6))", a, 200, ids(1, 2, 6)),
		get("and nested in or", p+"or=(id.eq.1,and(price.lt.10,stock.gt.0))", a, 200, ids(1, 6)),
		get("three levels", p+"or=(and(or(id.eq.1,id.eq.2),price.gt.1000),id.eq.9)", a, 200, ids(2, 9)),
		get("not.or", p+"not.or=(id.lte.7,price.gt.20)", a, 200, ids(9)),
		get("not.and", p+"not.and=(price.gt.10,price.lt.1000)", a, 200, ids(2, 4, 6, 7)),
		get("negated operator inside or", p+"or=(stock.not.eq.0,id.eq.4)", a, 200, ids(1, 2, 3, 4, 5, 6, 8, 9)),
		get("negated group inside or", p+"or=(id.eq.1,not.and(id.gt.2,id.lt.9))", a, 200, ids(1, 2, 9)),
		get("in inside or", p+"or=(id.in.(1,2),name.eq.Dune)", a, 200, ids(1, 2, 6)),
		get("quoted value with a comma inside or", p+`or=(description.eq."Flexible%20hose,%2020%20m",id.eq.1)`, a, 200, ids(1, 8)),
		get("quoted value with parentheses inside or", p+`or=(name.eq."(none)",id.eq.2)`, a, 200, ids(2)),
		get("is null inside or", p+"or=(description.is.null,id.eq.1)", a, 200, ids(1, 9)),
		get("like with * inside or", p+"or=(name.like.*Phone,name.like.Dune)", a, 200, ids(3, 4, 6)),
		get("fts inside or", p+"or=(search.fts.laptop,id.eq.9)", a, 200, ids(1, 2, 9)),
		get("cs inside or", p+"or=(sizes.cs.{S},id.eq.1)", a, 200, ids(1, 8)),
		get("any modifier inside or", p+"or=(name.like(any).{Dune,Rake},id.eq.1)", a, 200, ids(1, 6, 9)),
		get("json path inside or", p+"or=(attributes->>color.eq.blue,attributes->>color.eq.white)", a, 200, ids(3, 4)),
		get("range operator inside and", p+"and=(age_range.adj.[12,16),price.lt.100)", a, 200, ids(5, 8, 9)),
		get("two or parameters are both applied", p+"or=(id.eq.1,id.eq.2)&or=(id.eq.2,id.eq.3)", a, 200, ids(2)),
		get("or on an embedded resource", "/rest/v1/categories?select=id,products(id)&id=in.(6,7)&products.or=(stock.eq.0,price.lt.20)&order=id&products.order=id", a, 200,
			isJSON(`[{"id":6,"products":[{"id":6},{"id":7}]},{"id":7,"products":[{"id":9}]}]`)),
		get("or referring to an embedded column", "/rest/v1/products?select=id,categories!inner(slug)&or=(slug.eq.fiction,slug.eq.garden)&order=id", a, 400,
			pgErr("42703")),
		get("unclosed or", p+"or=(id.eq.1", a, 400, pgErr("PGRST100")),
		get("or without parentheses", p+"or=id.eq.1", a, 400, pgErr("PGRST100")),
		get("empty or", p+"or=()", a, 400, pgErr("PGRST100")),
		get("unknown operator inside or", p+"or=(id.zz.1)", a, 400, pgErr("PGRST100")),
		get("unknown column inside or", p+"or=(nope.eq.1)", a, 400, pgErr("42703")),
		get("trailing comma inside or", p+"or=(id.eq.1,)", a, 400, pgErr("PGRST100")),

		get("order ascending", "/rest/v1/products?select=id&order=price", a, 200, ids(7, 6, 9, 8, 5, 3, 1, 4, 2)),
		get("order descending", "/rest/v1/products?select=id&order=price.desc", a, 200, ids(2, 4, 1, 3, 5, 8, 9, 6, 7)),
		get("order explicit asc", "/rest/v1/products?select=id&order=stock.asc,id.asc", a, 200, ids(4, 7, 2, 1, 9, 3, 8, 5, 6)),
		get("order on several columns", "/rest/v1/products?select=id&order=category_id.desc,id.asc", a, 200, ids(8, 9, 6, 7, 5, 3, 4, 1, 2)),
		get("order on several columns mixed", "/rest/v1/products?select=id&order=category_id.asc,price.desc", a, 200, ids(2, 1, 4, 3, 5, 6, 7, 8, 9)),
		get("nulls first", "/rest/v1/products?select=id&order=description.asc.nullsfirst&limit=1", a, 200, ids(9)),
		get("nulls last", "/rest/v1/products?select=id&order=description.desc.nullslast,id&limit=9", a, 200,
			ids(6, 7, 4, 2, 1, 8, 3, 5, 9)),
		get("descending puts nulls first by default", "/rest/v1/products?select=id&order=description.desc&limit=1", a, 200, ids(9)),
		get("nullsfirst without a direction", "/rest/v1/products?select=id&order=category_id.nullsfirst,id", c.svc, 200,
			ids(10, 1, 2, 3, 4, 5, 6, 7, 8, 9)),
		get("order on a json path", "/rest/v1/products?select=id&order=attributes->ram.desc.nullslast,id&limit=4", a, 200, ids(2, 1, 3, 4)),
		get("order on a json path as text", "/rest/v1/products?select=id&order=attributes->>color.asc,id&limit=3", a, 200, ids(2, 3, 8)),
		get("order on a computed field", "/rest/v1/customers?select=first_name&order=full_name.desc", c.svc, 200,
			col("first_name", "Carol", "Bob", "Alice")),
		get("order on a column not selected", "/rest/v1/products?select=name&order=stock.desc&limit=2", a, 200,
			col("name", "Dune", "The Go Programming Language")),
		get("order on an alias is not allowed", "/rest/v1/products?select=cost:price&order=cost", a, 400, pgErr("42703")),
		get("order on an enum follows its declaration", "/rest/v1/orders?select=id&order=status,id", c.svc, 200, ids(3, 1, 6, 2, 4, 5)),
		get("order on an unknown column", "/rest/v1/products?order=nope", a, 400, pgErr("42703")),
		get("order with a bad direction", "/rest/v1/products?order=price.sideways", a, 400, pgErr("PGRST100")),
		get("order with a bad nulls option", "/rest/v1/products?order=price.asc.nullsmiddle", a, 400, pgErr("PGRST100")),
		get("empty order item", "/rest/v1/products?order=price,,id", a, 400, pgErr("PGRST100")),
	})
}
