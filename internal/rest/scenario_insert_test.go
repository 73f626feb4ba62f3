package rest_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

func post(name, path string, headers map[string]string, body any, status int, checks ...check) apitest.Scenario {
	return sc(name, http.MethodPost, path, headers, body, status, checks...)
}

// Inserts: single, arrays, bulk, columns=, missing=default, representations,
// errors; and upserts.
func TestScenarioInsert(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	a := c.anon
	repr := h(a, "Prefer", "return=representation")
	pv := "/rest/v1/page_views"
	// A statement-level trigger logs each INSERT statement on page_views:
	// thousands of rows must arrive in one.
	var before int64
	bulk := post("bulk insert of thousands of rows is one statement", pv, a,
		jsonArray(5000, func(i int) string { return fmt.Sprintf(`{"path":"/bulk/%d","duration_ms":%d}`, i, i) }), 201,
		empty(), sqlCount(`select count(*) from page_views where path like '/bulk/%'`, 5000),
		sqlCount(`select sum(duration_ms) from page_views where path like '/bulk/%'`, 4999*5000/2),
		func(t testing.TB, s *apitest.Server, _ *http.Response, _ []byte) {
			if n := insertStatements(t, s) - before; n != 1 {
				t.Errorf("the bulk insert ran %d INSERT statements, want 1", n)
			}
		})
	bulk.Setup = func(t testing.TB, s *apitest.Server) { before = insertStatements(t, s) }
	apitest.Run(t, s.Server, []apitest.Scenario{
		post("one object, minimal by default", pv, a, map[string]any{"path": "/a"}, 201,
			empty(), hdr("Location", ""), hdr("Content-Range", "*/*"), sqlCount(`select count(*) from page_views where path = '/a'`, 1)),
		post("return=representation", pv, repr, map[string]any{"path": "/b", "duration_ms": 5}, 201,
			col("path", "/b"), col("duration_ms", 5), contentType("application/json"), hdr("Location", ""),
			hdrHas("Preference-Applied", "return=representation")),
		post("return=headers-only", pv, h(a, "Prefer", "return=headers-only"), map[string]any{"path": "/c"}, 201,
			empty(), hdrMatch("Location", `(^|/)page_views\?id=eq\.[0-9]+$`), hdrHas("Preference-Applied", "return=headers-only")),
		post("return=minimal", pv, h(a, "Prefer", "return=minimal"), map[string]any{"path": "/c2"}, 201,
			empty(), hdrHas("Preference-Applied", "return=minimal")),
		post("an array", pv+"?select=path", repr, []map[string]any{{"path": "/d1"}, {"path": "/d2"}}, 201,
			isJSON(`[{"path":"/d1"},{"path":"/d2"}]`)),
		bulk,
		post("select= shapes the representation", pv+"?select=path,duration_ms", repr, map[string]any{"path": "/e"}, 201,
			isJSON(`[{"path":"/e","duration_ms":0}]`)),
		post("columns= ignores other keys", pv+"?columns=path,referrer&select=path,referrer,duration_ms", repr,
			map[string]any{"path": "/f", "referrer": "r", "duration_ms": 99}, 201,
			isJSON(`[{"path":"/f","referrer":"r","duration_ms":0}]`)),
		post("columns= makes missing keys null", pv+"?columns=path,duration_ms&select=path,duration_ms", repr,
			[]map[string]any{{"path": "/g1", "duration_ms": 3}, {"path": "/g2"}}, 201,
			isJSON(`[{"path":"/g1","duration_ms":3},{"path":"/g2","duration_ms":null}]`)),
		post("missing=default uses the column default", pv+"?columns=path,duration_ms&select=path,duration_ms", h(repr, "Prefer", "return=representation, missing=default"),
			[]map[string]any{{"path": "/h1", "duration_ms": 3}, {"path": "/h2"}}, 201,
			isJSON(`[{"path":"/h1","duration_ms":3},{"path":"/h2","duration_ms":0}]`), hdrHas("Preference-Applied", "missing=default")),
		post("objects of an array must have the same keys", pv, a,
			[]map[string]any{{"path": "/i1", "duration_ms": 1}, {"path": "/i2"}}, 400, pgErr("PGRST102")),
		post("an empty array inserts nothing", pv, repr, []any{}, 201, bodyIs("[]")),
		post("a not null violation", pv, a, map[string]any{"referrer": "x"}, 400, pgErr("23502")),
		post("invalid JSON", pv, h(a, "Content-Type", "application/json"), `{"path":`, 400, pgErr("PGRST102")),
		post("a JSON scalar", pv, h(a, "Content-Type", "application/json"), `42`, 400, pgErr("PGRST102")),
		post("an unknown key", pv, a, map[string]any{"path": "/j", "nope": 1}, 400, pgErr("PGRST204")),
		post("an unknown column in columns=", pv+"?columns=path,nope", a, map[string]any{"path": "/j"}, 400, pgErr("PGRST204")),
		post("a value of the wrong type", pv, a, map[string]any{"path": "/k", "duration_ms": "abc"}, 400, pgErr("22P02")),
		post("an explicit identity value", pv+"?select=id,path", repr, map[string]any{"id": 50, "path": "/l"}, 201,
			isJSON(`[{"id":50,"path":"/l"}]`)),
		post("an unsupported Content-Type", pv, h(a, "Content-Type", "text/xml"), `<path>/m</path>`, 415, pgErr("PGRST107")),
		post("CSV body", pv, h(a, "Content-Type", "text/csv"), "path,duration_ms\n/csv1,7\n/csv2,8", 201,
			sqlCount(`select count(*) from page_views where path in ('/csv1', '/csv2') and duration_ms in (7, 8)`, 2)),
		post("the representation of a write in CSV", pv+"?select=path,duration_ms", h(repr, "Accept", "text/csv"),
			[]map[string]any{{"path": "/csv3", "duration_ms": 3}, {"path": "/csv, 4", "duration_ms": 4}}, 201,
			bodyIs("path,duration_ms\n/csv3,3\n\"/csv, 4\",4"), contentType("text/csv")),
		post("a generated column cannot be written", "/rest/v1/order_items", c.alice,
			map[string]any{"order_id": 3, "line_no": 2, "product_id": 6, "quantity": 1, "unit_price": 9.99, "subtotal": 1}, 400, pgErr("428C9")),
		post("a unique violation", "/rest/v1/tags", c.svc, map[string]any{"name": "sale"}, 409, pgErr("23505")),
		post("a foreign key violation", "/rest/v1/reviews", c.alice, map[string]any{"product_id": 999, "rating": 3}, 409, pgErr("23503")),
		post("a check violation", "/rest/v1/reviews", c.alice, map[string]any{"product_id": 2, "rating": 9}, 400, pgErr("23514")),
		post("row level security refuses a row for someone else", "/rest/v1/reviews", c.alice,
			map[string]any{"product_id": 2, "rating": 4, "customer_id": fixtures.BobID}, 403, pgErr("42501")),
		post("the default comes from auth.uid()", "/rest/v1/reviews?select=customer_id,rating", h(c.alice, "Prefer", "return=representation"),
			map[string]any{"product_id": 2, "rating": 4, "body": "Fast"}, 201,
			isJSON(`[{"customer_id":"`+fixtures.AliceID+`","rating":4}]`)),
		post("anon may not insert reviews", "/rest/v1/reviews", a, map[string]any{"product_id": 2, "rating": 4}, 401, pgErr("42501")),
		post("an embed in the representation", "/rest/v1/reviews?select=rating,products(name)", h(c.bob, "Prefer", "return=representation"),
			map[string]any{"product_id": 6, "rating": 4}, 201,
			isJSON(`[{"rating":4,"products":{"name":"Dune"}}]`)),
		post("a single object representation", "/rest/v1/tags?select=name", h(c.svc, "Prefer", "return=representation", "Accept", "application/vnd.pgrst.object+json"),
			map[string]any{"name": "single"}, 201, isJSON(`{"name":"single"}`)),
		post("a single object representation of two rows", "/rest/v1/tags?select=name", h(c.svc, "Prefer", "return=representation", "Accept", "application/vnd.pgrst.object+json"),
			[]map[string]any{{"name": "two-a"}, {"name": "two-b"}}, 406, pgErr("PGRST116"),
			sqlCount(`select count(*) from tags where name like 'two-%'`, 0)),
		post("tx=rollback returns the row and keeps nothing", "/rest/v1/tags?select=name", h(c.svc, "Prefer", "return=representation, tx=rollback"),
			map[string]any{"name": "ephemeral"}, 201, isJSON(`[{"name":"ephemeral"}]`),
			hdrHas("Preference-Applied", "tx=rollback"), sqlCount(`select count(*) from tags where name = 'ephemeral'`, 0)),
		post("tx=commit", "/rest/v1/tags", h(c.svc, "Prefer", "tx=commit"), map[string]any{"name": "kept"}, 201,
			hdrHas("Preference-Applied", "tx=commit"), sqlCount(`select count(*) from tags where name = 'kept'`, 1)),
		post("insert into another schema", "/rest/v1/warehouses?select=name,city", h(c.svc, "Content-Profile", "inventory", "Prefer", "return=representation"),
			map[string]any{"name": "West", "city": "Cologne"}, 201,
			isJSON(`[{"name":"West","city":"Cologne"}]`), hdr("Content-Profile", "inventory")),
		post("insert into an unexposed schema", "/rest/v1/warehouses", h(c.svc, "Content-Profile", "fluxbase"),
			map[string]any{"name": "x"}, 406, pgErr("PGRST106")),
		post("insert through an updatable view", "/rest/v1/order_summaries?select=customer_id,status,total", h(c.alice, "Prefer", "return=representation"),
			map[string]any{"customer_id": fixtures.AliceID, "total": 5}, 201,
			isJSON(`[{"customer_id":"`+fixtures.AliceID+`","status":"pending","total":5.00}]`)),
		post("insert through a view keeps row level security", "/rest/v1/order_summaries", c.alice,
			map[string]any{"customer_id": fixtures.BobID, "total": 5}, 403, pgErr("42501")),
		post("a materialized view cannot be written", "/rest/v1/category_product_counts", c.svc,
			map[string]any{"category_id": 1, "product_count": 1}, 400, pgErr("42809")),
		post("an unknown table", "/rest/v1/nope", c.svc, map[string]any{"a": 1}, 404, anyErr("42P01", "PGRST205")),
		post("insert on the native route", "/api/v1/tables/page_views?select=path", repr, map[string]any{"path": "/native"}, 201,
			isJSON(`[{"path":"/native"}]`)),
	})
}

func insertStatements(t testing.TB, s *apitest.Server) int64 {
	t.Helper()
	var n int64
	q := `select count(*) from statement_log where table_name = 'page_views' and operation = 'INSERT'`
	if err := s.DB.DB.Admin.QueryRow(t.Context(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Upserts with resolution=merge-duplicates|ignore-duplicates and on_conflict.
func TestScenarioUpsert(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	merge := h(c.svc, "Prefer", "resolution=merge-duplicates, return=representation")
	ignore := h(c.svc, "Prefer", "resolution=ignore-duplicates, return=representation")
	apitest.Run(t, s.Server, []apitest.Scenario{
		post("merge on a unique column", "/rest/v1/tags?on_conflict=name&select=name", merge,
			[]map[string]any{{"name": "sale"}, {"name": "summer"}}, 201,
			isJSON(`[{"name":"sale"},{"name":"summer"}]`), hdrHas("Preference-Applied", "resolution=merge-duplicates"),
			sqlCount(`select count(*) from tags where name in ('sale', 'summer')`, 2),
			sqlCount(`select id from tags where name = 'sale'`, 1)),
		post("ignore duplicates returns only the new rows", "/rest/v1/tags?on_conflict=name&select=name", ignore,
			[]map[string]any{{"name": "new"}, {"name": "winter"}}, 201,
			isJSON(`[{"name":"winter"}]`), hdrHas("Preference-Applied", "resolution=ignore-duplicates")),
		post("merge on the primary key updates", "/rest/v1/categories?select=id,name", merge,
			[]map[string]any{{"id": 7, "name": "Garden & Outdoor", "slug": "garden"}}, 200,
			isJSON(`[{"id":7,"name":"Garden & Outdoor"}]`)),
		post("merge of a mix of new and existing rows", "/rest/v1/categories?select=id,name&order=id", merge,
			[]map[string]any{{"id": 6, "name": "Novels", "slug": "fiction"}, {"id": 8, "name": "Toys", "slug": "toys"}}, 201,
			isJSON(`[{"id":6,"name":"Novels"},{"id":8,"name":"Toys"}]`)),
		post("merge with columns=", "/rest/v1/categories?columns=id,name,slug&select=id,slug", merge,
			[]map[string]any{{"id": 8, "name": "Toys", "slug": "toys-and-games", "parent_id": 1}}, 200,
			isJSON(`[{"id":8,"slug":"toys-and-games"}]`), sqlCount(`select count(*) from categories where id = 8 and parent_id is null`, 1)),
		post("merge with a composite key", "/rest/v1/product_tags?select=product_id,tag_id", merge,
			[]map[string]any{{"product_id": 9, "tag_id": 5}, {"product_id": 1, "tag_id": 2}}, 201,
			rows(2), sqlCount(`select count(*) from product_tags where product_id = 9`, 1)),
		post("on_conflict without a unique constraint", "/rest/v1/page_views?on_conflict=path", merge,
			map[string]any{"path": "/"}, 400, pgErr("42P10")),
		post("on_conflict naming an unknown column", "/rest/v1/tags?on_conflict=nope", merge,
			map[string]any{"name": "x"}, 400, anyErr("42703", "PGRST204")),
		post("a duplicate without a resolution is a conflict", "/rest/v1/tags", c.svc,
			map[string]any{"name": "gift"}, 409, pgErr("23505")),
		post("upsert of one's own row", "/rest/v1/reviews?select=id,rating", h(c.alice, "Prefer", "resolution=merge-duplicates, return=representation"),
			map[string]any{"id": 3, "product_id": 6, "rating": 4, "customer_id": fixtures.AliceID}, 200,
			isJSON(`[{"id":3,"rating":4}]`)),
		post("upsert of someone else's row is refused", "/rest/v1/reviews", h(c.bob, "Prefer", "resolution=merge-duplicates"),
			map[string]any{"id": 1, "product_id": 1, "rating": 1, "customer_id": fixtures.BobID}, 403,
			pgErr("42501"), sqlCount(`select rating from reviews where id = 1`, 5)),
		post("ignore duplicates under row level security", "/rest/v1/reviews?select=id", h(c.bob, "Prefer", "resolution=ignore-duplicates, return=representation"),
			map[string]any{"id": 1, "product_id": 1, "rating": 1, "customer_id": fixtures.BobID}, 0,
			statusIn(200, 201), bodyIs("[]"), sqlCount(`select rating from reviews where id = 1`, 5)),
		post("an unknown resolution with handling=strict", "/rest/v1/tags", h(c.svc, "Prefer", "handling=strict, resolution=overwrite"),
			map[string]any{"name": "strict"}, 400, pgErr("PGRST122")),
	})
}
