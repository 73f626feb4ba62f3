package rest_test

import (
	"net/http"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

func patch(name, path string, headers map[string]string, body any, status int, checks ...check) apitest.Scenario {
	return sc(name, http.MethodPatch, path, headers, body, status, checks...)
}

func del(name, path string, headers map[string]string, status int, checks ...check) apitest.Scenario {
	return sc(name, http.MethodDelete, path, headers, nil, status, checks...)
}

func put(name, path string, headers map[string]string, body any, status int, checks ...check) apitest.Scenario {
	return sc(name, http.MethodPut, path, headers, body, status, checks...)
}

// PATCH with filters and preferences; refused without filters.
func TestScenarioUpdate(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	svcRepr := h(c.svc, "Prefer", "return=representation")
	apitest.Run(t, s.Server, []apitest.Scenario{
		patch("minimal by default", "/rest/v1/tags?id=eq.6", c.svc, map[string]any{"name": "clearance-sale"}, 204,
			empty(), sqlCount(`select count(*) from tags where id = 6 and name = 'clearance-sale'`, 1)),
		patch("return=representation", "/rest/v1/tags?id=eq.6", svcRepr, map[string]any{"name": "clearance-x"}, 200,
			isJSON(`[{"id":6,"name":"clearance-x"}]`), hdrHas("Preference-Applied", "return=representation")),
		patch("select= shapes the representation", "/rest/v1/products?id=eq.9&select=id,stock", svcRepr, map[string]any{"stock": 8}, 200,
			isJSON(`[{"id":9,"stock":8}]`)),
		patch("an embed in the representation", "/rest/v1/products?id=eq.9&select=stock,categories(name)", svcRepr, map[string]any{"stock": 9}, 200,
			isJSON(`[{"stock":9,"categories":{"name":"Garden"}}]`)),
		patch("several rows", "/rest/v1/page_views?id=in.(1,2)&select=id&order=id", svcRepr, map[string]any{"referrer": "patched"}, 200,
			ids(1, 2), sqlCount(`select count(*) from page_views where referrer = 'patched'`, 2)),
		patch("a logic tree is a filter", "/rest/v1/page_views?or=(id.eq.3)&select=id", svcRepr, map[string]any{"duration_ms": 1}, 200,
			ids(3)),
		patch("no row matches", "/rest/v1/tags?id=eq.999", svcRepr, map[string]any{"name": "ghost"}, 200, bodyIs("[]")),
		patch("refused without any filter", "/rest/v1/page_views", c.svc, map[string]any{"referrer": "everything"}, 400,
			pgErr("21000"), sqlCount(`select count(*) from page_views where referrer = 'everything'`, 0)),
		patch("limit is not a filter", "/rest/v1/page_views?limit=1", c.svc, map[string]any{"referrer": "everything"}, 400,
			pgErr("21000")),
		patch("select and order are not filters", "/rest/v1/page_views?select=id&order=id", c.svc, map[string]any{"referrer": "everything"}, 400,
			pgErr("21000")),
		patch("refused without filters on the native route", "/api/v1/tables/page_views", c.svc, map[string]any{"referrer": "everything"}, 400,
			pgErr("21000"), sqlCount(`select count(*) from page_views where referrer = 'everything'`, 0)),
		patch("one's own row", "/rest/v1/orders?id=eq.3&select=id,notes", h(c.alice, "Prefer", "return=representation"), map[string]any{"notes": "ring twice"}, 200,
			isJSON(`[{"id":3,"notes":"ring twice"}]`)),
		patch("someone else's row is invisible", "/rest/v1/orders?id=eq.4", h(c.alice, "Prefer", "return=representation"), map[string]any{"notes": "hijacked"}, 200,
			bodyIs("[]"), sqlCount(`select count(*) from orders where notes = 'hijacked'`, 0)),
		patch("moving one's row to someone else is refused", "/rest/v1/orders?id=eq.3", c.alice, map[string]any{"customer_id": fixtures.BobID}, 403,
			pgErr("42501"), sqlCount(`select count(*) from orders where id = 3 and customer_id = '`+fixtures.AliceID+`'`, 1)),
		patch("anon may not update", "/rest/v1/products?id=eq.1", c.anon, map[string]any{"price": 1}, 401, pgErr("42501")),
		patch("authenticated may not update products", "/rest/v1/products?id=eq.1", c.alice, map[string]any{"price": 1}, 403, pgErr("42501")),
		patch("an unknown column", "/rest/v1/tags?id=eq.1", c.svc, map[string]any{"nope": 1}, 400, pgErr("PGRST204")),
		patch("a value of the wrong type", "/rest/v1/products?id=eq.1", c.svc, map[string]any{"stock": "many"}, 400, pgErr("22P02")),
		patch("invalid JSON", "/rest/v1/tags?id=eq.1", h(c.svc, "Content-Type", "application/json"), `{"name"`, 400, pgErr("PGRST102")),
		patch("a unique violation", "/rest/v1/tags?id=eq.2", c.svc, map[string]any{"name": "sale"}, 409, pgErr("23505")),
		patch("through an updatable view", "/rest/v1/order_summaries?id=eq.5&select=id,status", h(c.bob, "Prefer", "return=representation"),
			map[string]any{"status": "pending"}, 200, isJSON(`[{"id":5,"status":"pending"}]`)),
		patch("in another schema", "/rest/v1/warehouses?id=eq.2&select=city", h(svcRepr, "Content-Profile", "inventory"), map[string]any{"city": "Nuremberg"}, 200,
			isJSON(`[{"city":"Nuremberg"}]`)),
		patch("tx=rollback", "/rest/v1/tags?id=eq.1&select=name", h(c.svc, "Prefer", "return=representation, tx=rollback"), map[string]any{"name": "rolled"}, 200,
			isJSON(`[{"name":"rolled"}]`), hdrHas("Preference-Applied", "tx=rollback"),
			sqlCount(`select count(*) from tags where id = 1 and name = 'sale'`, 1)),
		patch("max-affected exceeded with handling=strict", "/rest/v1/page_views?id=in.(1,2,3)", h(c.svc, "Prefer", "handling=strict, max-affected=2"),
			map[string]any{"duration_ms": 9}, 400, pgErr("PGRST124"), errField("details", "The query affects 3 rows"),
			sqlCount(`select count(*) from page_views where duration_ms = 9`, 0)),
		patch("max-affected respected", "/rest/v1/page_views?id=in.(1,2)", h(c.svc, "Prefer", "handling=strict, max-affected=2"),
			map[string]any{"duration_ms": 10}, 204, sqlCount(`select count(*) from page_views where duration_ms = 10`, 2)),
		patch("max-affected without handling=strict is ignored", "/rest/v1/page_views?id=in.(1,2,3)", h(c.svc, "Prefer", "max-affected=1"),
			map[string]any{"duration_ms": 11}, 204, sqlCount(`select count(*) from page_views where duration_ms = 11`, 3)),
		patch("an invalid preference with handling=strict", "/rest/v1/tags?id=eq.1", h(c.svc, "Prefer", "handling=strict, foo=bar"),
			map[string]any{"name": "sale"}, 400, pgErr("PGRST122"), errField("details", "Invalid preferences: foo=bar")),
		patch("an invalid preference is ignored by default", "/rest/v1/tags?id=eq.1", h(c.svc, "Prefer", "foo=bar"),
			map[string]any{"name": "sale"}, 204),
		patch("a single object of several rows rolls back", "/rest/v1/page_views?id=in.(1,2)", h(svcRepr, "Accept", "application/vnd.pgrst.object+json"),
			map[string]any{"duration_ms": 12}, 406, pgErr("PGRST116"), sqlCount(`select count(*) from page_views where duration_ms = 12`, 0)),
		patch("a single object of one row", "/rest/v1/page_views?id=eq.1&select=id,duration_ms", h(svcRepr, "Accept", "application/vnd.pgrst.object+json"),
			map[string]any{"duration_ms": 13}, 200, isJSON(`{"id":1,"duration_ms":13}`)),
	})
}

// DELETE with filters and preferences; refused without filters.
func TestScenarioDelete(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	svcRepr := h(c.svc, "Prefer", "return=representation")
	apitest.Run(t, s.Server, []apitest.Scenario{
		del("minimal by default", "/rest/v1/page_views?id=eq.3", c.svc, 204,
			empty(), sqlCount(`select count(*) from page_views where id = 3`, 0)),
		del("return=representation", "/rest/v1/page_views?id=eq.2&select=id,path", svcRepr, 200,
			isJSON(`[{"id":2,"path":"/products/1"}]`)),
		del("refused without any filter", "/rest/v1/page_views", c.svc, 400,
			pgErr("21000"), sqlCount(`select count(*) from page_views`, 1)),
		del("refused with only a limit", "/rest/v1/page_views?limit=1", c.svc, 400, pgErr("21000")),
		del("refused without filters on the native route", "/api/v1/tables/page_views", c.svc, 400,
			pgErr("21000"), sqlCount(`select count(*) from page_views`, 1)),
		del("anon may not delete", "/rest/v1/page_views?id=eq.1", c.anon, 401, pgErr("42501")),
		del("one's own pending order", "/rest/v1/orders?id=eq.3&select=id", h(c.alice, "Prefer", "return=representation"), 200,
			isJSON(`[{"id":3}]`), sqlCount(`select count(*) from order_items where order_id = 3`, 0)),
		del("a paid order is kept by the policy", "/rest/v1/orders?id=eq.1", h(c.alice, "Prefer", "return=representation"), 200,
			bodyIs("[]"), sqlCount(`select count(*) from orders where id = 1`, 1)),
		del("someone else's review is invisible", "/rest/v1/reviews?id=eq.1", h(c.bob, "Prefer", "return=representation"), 200,
			bodyIs("[]"), sqlCount(`select count(*) from reviews where id = 1`, 1)),
		del("one's own review", "/rest/v1/reviews?id=eq.1", c.alice, 204, sqlCount(`select count(*) from reviews where id = 1`, 0)),
		del("tx=rollback", "/rest/v1/tags?id=eq.5&select=name", h(c.svc, "Prefer", "return=representation, tx=rollback"), 200,
			isJSON(`[{"name":"eco"}]`), sqlCount(`select count(*) from tags where id = 5`, 1)),
		del("max-affected exceeded with handling=strict", "/rest/v1/tags?id=in.(4,5,6)", h(c.svc, "Prefer", "handling=strict, max-affected=1"), 400,
			pgErr("PGRST124"), errField("details", "The query affects 3 rows"), sqlCount(`select count(*) from tags where id in (4, 5, 6)`, 3)),
		del("a foreign key violation", "/rest/v1/categories?id=eq.1", c.svc, 409, pgErr("23503")),
		del("with a logic tree", "/rest/v1/tags?or=(name.eq.clearance,name.eq.nope)&select=id", svcRepr, 200, ids(6)),
		del("in another schema", "/rest/v1/stock_levels?warehouse_id=eq.2&sku=eq.GD-001", h(c.svc, "Content-Profile", "inventory"), 204,
			sqlCount(`select count(*) from inventory.stock_levels where warehouse_id = 2 and sku = 'GD-001'`, 0)),
	})
}

// PUT replaces or creates one row named by its whole primary key.
func TestScenarioPut(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	svcRepr := h(c.svc, "Prefer", "return=representation")
	apitest.Run(t, s.Server, []apitest.Scenario{
		put("creates a row", "/rest/v1/tags?id=eq.50", svcRepr, map[string]any{"id": 50, "name": "fifty"}, 201,
			isJSON(`[{"id":50,"name":"fifty"}]`)),
		put("replaces a row", "/rest/v1/tags?id=eq.50", svcRepr, map[string]any{"id": 50, "name": "fifty-one"}, 200,
			isJSON(`[{"id":50,"name":"fifty-one"}]`)),
		put("minimal", "/rest/v1/tags?id=eq.50", c.svc, map[string]any{"id": 50, "name": "fifty-two"}, 204,
			empty(), sqlCount(`select count(*) from tags where id = 50 and name = 'fifty-two'`, 1)),
		put("a composite key", "/rest/v1/product_tags?product_id=eq.9&tag_id=eq.1", svcRepr, map[string]any{"product_id": 9, "tag_id": 1}, 201,
			isJSON(`[{"product_id":9,"tag_id":1}]`)),
		put("without the key filter", "/rest/v1/tags", c.svc, map[string]any{"id": 51, "name": "x"}, 405, pgErr("PGRST105")),
		put("with an operator other than eq", "/rest/v1/tags?id=gt.50", c.svc, map[string]any{"id": 51, "name": "x"}, 405, pgErr("PGRST105")),
		put("with a filter on another column", "/rest/v1/tags?id=eq.51&name=eq.x", c.svc, map[string]any{"id": 51, "name": "x"}, 405, pgErr("PGRST105")),
		put("with part of a composite key", "/rest/v1/product_tags?product_id=eq.9", c.svc, map[string]any{"product_id": 9, "tag_id": 2}, 405, pgErr("PGRST105")),
		put("the body must match the key", "/rest/v1/tags?id=eq.51", c.svc, map[string]any{"id": 52, "name": "x"}, 400,
			pgErr("PGRST115"), sqlCount(`select count(*) from tags where id in (51, 52)`, 0)),
		put("limit is not allowed", "/rest/v1/tags?id=eq.51&limit=1", c.svc, map[string]any{"id": 51, "name": "x"}, 400, pgErr("PGRST114")),
		put("under row level security", "/rest/v1/reviews?id=eq.3&select=id,rating,body", h(c.alice, "Prefer", "return=representation"),
			map[string]any{"id": 3, "product_id": 6, "customer_id": fixtures.AliceID, "rating": 2, "body": "changed", "created_at": "2024-01-01T00:00:00Z"}, 200,
			isJSON(`[{"id":3,"rating":2,"body":"changed"}]`)),
		put("someone else's row is refused", "/rest/v1/reviews?id=eq.4", c.alice,
			map[string]any{"id": 4, "product_id": 3, "customer_id": fixtures.CarolID, "rating": 1, "body": "x", "created_at": "2024-01-01T00:00:00Z"}, 403,
			pgErr("42501"), sqlCount(`select rating from reviews where id = 4`, 3)),
		put("anon may not", "/rest/v1/tags?id=eq.60", c.anon, map[string]any{"id": 60, "name": "x"}, 401, pgErr("42501")),
	})
}
