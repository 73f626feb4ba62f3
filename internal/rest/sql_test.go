package rest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// testCache is a small schema: customers 1-n orders n-1 customers, orders
// n-n tags through order_tags, categories referencing themselves.
func testCache() *schema.Cache {
	c := &schema.Cache{
		Schemas:         []string{"public"},
		Tables:          map[schema.QualifiedName]*schema.Table{},
		FunctionsByName: map[schema.QualifiedName][]*schema.Function{},
		Relations:       map[schema.QualifiedName][]*schema.Relationship{},
	}
	add := func(name string, pk []string, cols ...string) *schema.Table {
		t := &schema.Table{Schema: "public", Name: name, Kind: schema.KindTable, PrimaryKey: pk, ColumnsByName: map[string]*schema.Column{}}
		for i, spec := range cols {
			n, typ, _ := strings.Cut(spec, ":")
			col := &schema.Column{Name: n, Position: i + 1, Type: typ, TypeName: typ, Nullable: true}
			t.Columns = append(t.Columns, col)
			t.ColumnsByName[n] = col
		}
		c.Tables[t.QualifiedName()] = t
		return t
	}
	customers := add("customers", []string{"id"}, "id:integer", "name:text", "data:jsonb", "doc:tsvector", "bio:text")
	orders := add("orders", []string{"id"}, "id:integer", "customer_id:integer", "total:numeric", "status:text")
	tags := add("tags", []string{"id"}, "id:integer", "name:text")
	add("order_tags", []string{"order_id", "tag_id"}, "order_id:integer", "tag_id:integer")
	cats := add("categories", []string{"id"}, "id:integer", "parent_id:integer", "name:text")
	q := func(t *schema.Table) schema.QualifiedName { return t.QualifiedName() }
	rel := func(kind schema.RelKind, con string, from *schema.Table, cols []string, to *schema.Table, fcols []string) {
		r := &schema.Relationship{Kind: kind, Constraint: con, Table: q(from), Columns: cols, ForeignTable: q(to), ForeignColumns: fcols, IsSelf: from == to}
		c.Relations[q(from)] = append(c.Relations[q(from)], r)
	}
	rel(schema.ManyToOne, "orders_customer_id_fkey", orders, []string{"customer_id"}, customers, []string{"id"})
	rel(schema.OneToMany, "orders_customer_id_fkey", customers, []string{"id"}, orders, []string{"customer_id"})
	transfers := add("transfers", []string{"id"}, "id:integer", "from_id:integer", "to_id:integer")
	rel(schema.OneToMany, "transfers_from_id_fkey", customers, []string{"id"}, transfers, []string{"from_id"})
	rel(schema.OneToMany, "transfers_to_id_fkey", customers, []string{"id"}, transfers, []string{"to_id"})
	rel(schema.ManyToOne, "categories_parent_id_fkey", cats, []string{"parent_id"}, cats, []string{"id"})
	rel(schema.OneToMany, "categories_parent_id_fkey", cats, []string{"id"}, cats, []string{"parent_id"})
	c.Relations[q(orders)] = append(c.Relations[q(orders)], &schema.Relationship{Kind: schema.ManyToMany, Table: q(orders), Columns: []string{"id"},
		ForeignTable: q(tags), ForeignColumns: []string{"id"}, Junction: &schema.Junction{Table: schema.QualifiedName{Schema: "public", Name: "order_tags"},
			SourceConstraint: "order_tags_order_id_fkey", SourceColumns: []string{"id"}, SourceJunctionColumns: []string{"order_id"},
			TargetConstraint: "order_tags_tag_id_fkey", TargetColumns: []string{"id"}, TargetJunctionColumns: []string{"tag_id"}}})
	ordersName := q(orders)
	customers.ComputedFields = map[string]*schema.ComputedField{
		"display":       {Function: &schema.Function{Schema: "public", Name: "display"}, ReturnType: "text"},
		"recent_orders": {Function: &schema.Function{Schema: "public", Name: "recent_orders"}, ReturnsSet: true, ReturnTable: &ordersName},
		"last_order":    {Function: &schema.Function{Schema: "public", Name: "last_order"}, ReturnTable: &ordersName, ToOne: true},
	}
	return c
}

func planFor(t *testing.T, table, rawQuery string) (*node, error) {
	t.Helper()
	c := testCache()
	q, err := ParseQuery(rawQuery, nil)
	if err != nil {
		return nil, err
	}
	p := &planner{cache: c, aggregates: true, maxDepth: 8}
	return p.planRead(c.Table("public", table), q)
}

func buildFor(t *testing.T, table, rawQuery string, count countMode) readStatement {
	t.Helper()
	root, err := planFor(t, table, rawQuery)
	if err != nil {
		t.Fatalf("%s?%s: %v", table, rawQuery, err)
	}
	return buildRead(root, testCache().Table("public", table).QualifiedName().Quoted(), Page{Limit: -1}, count, bodyFormat{media: mediaJSON}, nil)
}

func TestBuildRead(t *testing.T) {
	cases := []struct {
		table, query string
		want         []string // fragments of the SQL, in order
		args         []any
	}{
		{"customers", "", []string{`coalesce(json_agg(_s), '[]')::text AS body`, `SELECT t0."id" AS "id", t0."name" AS "name"`, `FROM "public"."customers" t0`}, nil},
		{"customers", "select=n:name", []string{`t0."name" AS "n"`}, nil},
		{"customers", "select=name::int", []string{`(t0."name")::"int4" AS "name"`}, nil},
		{"customers", "select=data->a->>b", []string{`t0."data"->$1::text->>$2::text AS "b"`}, []any{"a", "b"}},
		{"customers", "select=data->0", []string{`t0."data"->$1::int4 AS "data"`}, []any{int32(0)}},
		{"customers", "select=id&id=eq.5", []string{`WHERE t0."id" = $1`}, []any{"5"}},
		{"customers", "select=id&id=not.eq.5", []string{`WHERE NOT (t0."id" = $1)`}, []any{"5"}},
		{"customers", "select=id&name=like.*a*", []string{`t0."name" like $1`}, []any{"%a%"}},
		{"customers", "select=id&name=ilike(any).{a*,*b}", []string{`t0."name" ilike ANY($1)`}, []any{"{a%,%b}"}},
		{"customers", "select=id&name=match(all).{^a,b$}", []string{`t0."name" ~ ALL($1)`}, []any{"{^a,b$}"}},
		{"customers", "select=id&id=in.(1,2,3)", []string{`t0."id" = ANY($1)`}, []any{`{"1","2","3"}`}},
		{"customers", `select=id&name=in.("a,b","c\"d")`, []string{`t0."name" = ANY($1)`}, []any{`{"a,b","c\"d"}`}},
		{"customers", "select=id&name=is.null", []string{`t0."name" IS NULL`}, nil},
		{"customers", "select=id&name=not.is.not_null", []string{`NOT (t0."name" IS NOT NULL)`}, nil},
		{"customers", "select=id&name=is.unknown", []string{`t0."name" IS UNKNOWN`}, nil},
		{"customers", "select=id&name=isdistinct.x", []string{`t0."name" is distinct from $1`}, []any{"x"}},
		{"customers", "select=id&doc=fts.cat", []string{`t0."doc" @@ to_tsquery($1)`}, []any{"cat"}},
		{"customers", "select=id&doc=wfts(english).cat", []string{`t0."doc" @@ websearch_to_tsquery($1::regconfig, $2)`}, []any{"english", "cat"}},
		{"customers", "select=id&bio=plfts(simple).the cat", []string{`to_tsvector($1::regconfig, t0."bio") @@ plainto_tsquery($1::regconfig, $2)`}, []any{"simple", "the cat"}},
		{"customers", "select=id&bio=phfts.a b", []string{`to_tsvector(t0."bio") @@ phraseto_tsquery($1)`}, []any{"a b"}},
		{"customers", "select=id&data=cs.{\"a\":1}", []string{`t0."data" @> $1`}, nil},
		{"customers", "select=id&data->>k=eq.v", []string{`t0."data"->>$1::text = $2`}, []any{"k", "v"}},
		{"customers", "select=id&or=(id.eq.1,and(name.eq.a,id.gt.2))", []string{`WHERE (t0."id" = $1 OR (t0."name" = $2 AND t0."id" > $3))`}, []any{"1", "a", "2"}},
		{"customers", "select=id&not.or=(id.eq.1,id.eq.2)", []string{`WHERE NOT (t0."id" = $1 OR t0."id" = $2)`}, nil},
		{"customers", "select=id&order=name.desc.nullslast,id", []string{`ORDER BY t0."name" DESC NULLS LAST, t0."id" ASC`}, nil},
		{"customers", "select=id&order=data->>k.asc.nullsfirst", []string{`ORDER BY t0."data"->>$1::text ASC NULLS FIRST`}, []any{"k"}},
		{"customers", "select=id,display", []string{`"public"."display"(t0) AS "display"`}, nil},
		{"customers", "select=id&display=eq.x", []string{`WHERE "public"."display"(t0) = $1`}, nil},
		{"customers", "select=name,orders(id)", []string{`(SELECT coalesce(json_agg(e2), '[]') FROM (SELECT t1."id" AS "id" FROM "public"."orders" t1 WHERE t1."customer_id" = t0."id") e2) AS "orders"`}, nil},
		{"orders", "select=id,customers(name)", []string{`(SELECT row_to_json(e2) FROM (SELECT t1."name" AS "name" FROM "public"."customers" t1 WHERE t1."id" = t0."customer_id") e2) AS "customers"`}, nil},
		{"orders", "select=id,buyer:customers(name)", []string{`AS "buyer"`}, nil},
		{"orders", "select=id,customer_id(name)", []string{`t1."id" = t0."customer_id"`, `AS "customer_id"`}, nil},
		{"orders", "select=id,tags(name)", []string{`EXISTS (SELECT 1 FROM "public"."order_tags" j_t1 WHERE j_t1."tag_id" = t1."id" AND j_t1."order_id" = t0."id")`}, nil},
		{"customers", "select=id,orders!inner(id)&orders.status=eq.paid", []string{`WHERE EXISTS (SELECT 1 FROM "public"."orders" x`, `."status" = $`}, []any{"paid", "paid"}},
		{"customers", "select=id,orders(id)&orders=not.is.null", []string{`WHERE EXISTS (SELECT 1 FROM "public"."orders"`}, nil},
		{"customers", "select=id,orders(id)&orders=is.null", []string{`WHERE NOT EXISTS (SELECT 1 FROM "public"."orders"`}, nil},
		{"customers", "select=id,orders(id)&orders.order=total.desc&orders.limit=2&orders.offset=1", []string{`ORDER BY t1."total" DESC LIMIT 2 OFFSET 1`}, nil},
		{"orders", "select=id,...customers(name)", []string{`s1."name" AS "name"`, `LEFT JOIN LATERAL (SELECT t2."name" AS "name" FROM "public"."customers" t2 WHERE t2."id" = t0."customer_id") s1 ON TRUE`}, nil},
		{"orders", "select=id,...customers!inner(name)", []string{`JOIN LATERAL (`}, nil},
		{"orders", "select=id,customers(name)&order=customers(name).desc", []string{`ORDER BY (SELECT o3."name" FROM "public"."customers" o3 WHERE o3."id" = t0."customer_id" LIMIT 1) DESC`}, nil},
		{"categories", "select=name,parent:parent_id(name)", []string{`t1."id" = t0."parent_id"`}, nil},
		{"categories", "select=name,children:categories!parent_id(name)", []string{`t1."parent_id" = t0."id"`}, nil},
		{"categories", "select=name,children:categories!categories_parent_id_fkey(name)", []string{`t1."parent_id" = t0."id"`}, nil},
		{"categories", "select=name,categories(name)", []string{`t1."parent_id" = t0."id"`}, nil},
		{"customers", "select=id,transfers!to_id(id)", []string{`t1."to_id" = t0."id"`}, nil},
		{"customers", "select=id,transfers!transfers_from_id_fkey(id)", []string{`t1."from_id" = t0."id"`}, nil},
		{"orders", "select=count()", []string{`SELECT count(*) AS "count" FROM`}, nil},
		{"orders", "select=status,total.sum(),n:count()", []string{`t0."status" AS "status", sum(t0."total") AS "sum", count(*) AS "n"`, `GROUP BY t0."status"`}, nil},
		{"orders", "select=total::int.avg()::text", []string{`(avg((t0."total")::"int4"))::"text" AS "avg"`}, nil},
		{"customers", "select=name,orders(total.sum())", []string{`SELECT sum(t1."total") AS "sum" FROM "public"."orders" t1`}, nil},
		{"orders", "select=customers(name),total.sum()", []string{`::jsonb AS "customers"`, `GROUP BY 1`}, nil},
		{"customers", "select=id,recent_orders(id)", []string{`(SELECT coalesce(json_agg(e2), '[]') FROM (SELECT t1."id" AS "id" FROM "public"."recent_orders"(t0) t1) e2) AS "recent_orders"`}, nil},
		{"customers", "select=id,last_order(total)", []string{`(SELECT row_to_json(e2) FROM (SELECT t1."total" AS "total" FROM "public"."last_order"(t0) t1 WHERE NOT (t1 IS NULL)) e2) AS "last_order"`}, nil},
		{"customers", "select=id,recent_orders!inner(id)&recent_orders.status=eq.paid", []string{`WHERE EXISTS (SELECT 1 FROM "public"."recent_orders"(t0) x`}, nil},
		{"customers", `select="a\"b":name`, []string{`AS "a""b"`}, nil},
	}
	for _, c := range cases {
		st := buildFor(t, c.table, c.query, countNone)
		pos := 0
		for _, frag := range c.want {
			i := strings.Index(st.SQL[pos:], frag)
			if i < 0 {
				t.Errorf("%s?%s: SQL lacks (after offset %d) %s\nSQL: %s", c.table, c.query, pos, frag, st.SQL)
				break
			}
			pos += i + len(frag)
		}
		if c.args != nil {
			for i, a := range c.args {
				if i >= len(st.Args) || fmt.Sprint(st.Args[i]) != fmt.Sprint(a) {
					t.Errorf("%s?%s: args %#v, want %#v", c.table, c.query, st.Args, c.args)
					break
				}
			}
		}
		if n := strings.Count(st.SQL, "$"); n < len(st.Args) {
			t.Errorf("%s?%s: %d placeholders for %d args", c.table, c.query, n, len(st.Args))
		}
	}
}

// Values never reach the SQL text, whatever they contain.
func TestValuesStayOutOfSQL(t *testing.T) {
	payloads := []string{"x'; drop table customers; --", `"); select pg_sleep(10); --`, "1 OR 1=1", "\x00", "é'\\"}
	for _, p := range payloads {
		for _, q := range []string{
			"select=id&name=eq." + p, "select=id&name=like." + p, "select=id&name=in.(" + p + ")",
			"select=id&doc=fts." + p, "select=id&data->>" + "k" + "=eq." + p,
		} {
			root, err := planFor(t, "customers", urlEscapeValues(q))
			if err != nil {
				continue
			}
			st := buildRead(root, `"public"."customers"`, Page{Limit: -1}, countExact, bodyFormat{media: mediaJSON}, nil)
			if strings.Contains(st.SQL, p) {
				t.Errorf("payload %q reached the SQL: %s", p, st.SQL)
			}
		}
	}
}

func urlEscapeValues(q string) string {
	var parts []string
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		parts = append(parts, k+"="+strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "#", "%23", "\x00", "%00").Replace(v))
	}
	return strings.Join(parts, "&")
}

func TestBuildReadCountsAndPages(t *testing.T) {
	root, err := planFor(t, "customers", "select=id&name=eq.a")
	if err != nil {
		t.Fatal(err)
	}
	st := buildRead(root, `"public"."customers"`, Page{Offset: 10, Limit: 5}, countExact, bodyFormat{media: mediaJSON}, nil)
	for _, frag := range []string{`(SELECT count(*) FROM "public"."customers" c0 WHERE c0."name" = $`, ` LIMIT 5 OFFSET 10) _s`} {
		if !strings.Contains(st.SQL, frag) {
			t.Errorf("SQL lacks %s: %s", frag, st.SQL)
		}
	}
	st = buildRead(root, `"public"."customers"`, Page{Limit: -1}, countPlanned, bodyFormat{media: mediaJSON}, nil)
	if !strings.Contains(st.SQL, "fluxbase.rest_planned_count($") {
		t.Errorf("planned count: %s", st.SQL)
	}
	// The query text handed to the planner function is an argument and
	// holds placeholders, not values.
	found := false
	for _, a := range st.Args {
		if s, ok := a.(string); ok && strings.HasPrefix(s, "SELECT 1 FROM") {
			found = true
			if !strings.Contains(s, `c0."name" = $1`) {
				t.Errorf("planned query text %q", s)
			}
		}
	}
	if !found {
		t.Errorf("planned query text not passed: %#v", st.Args)
	}
	for media, frag := range map[string]string{
		mediaObject: `coalesce((json_agg(_s)->0)::text, '')`,
		mediaCSV:    `string_agg(substr(_s::text, 2, length(_s::text) - 2), chr(10))`,
	} {
		st = buildRead(root, `"public"."customers"`, Page{Limit: -1}, countNone, bodyFormat{media: media}, nil)
		if !strings.Contains(st.SQL, frag) {
			t.Errorf("%s body: %s", media, st.SQL)
		}
	}
	st = buildRead(root, `"public"."customers"`, Page{Limit: -1}, countNone, bodyFormat{media: mediaJSON, stripNulls: true}, nil)
	if !strings.Contains(st.SQL, "json_strip_nulls(json_agg(_s))") {
		t.Errorf("nulls=stripped: %s", st.SQL)
	}
}

func wantCode(t *testing.T, what string, err error, status int, code string) *httpx.Error {
	t.Helper()
	var he *httpx.Error
	if !errors.As(err, &he) {
		t.Fatalf("%s: %v is not an *httpx.Error", what, err)
	}
	if he.Status != status || he.Code != code {
		t.Errorf("%s: %d %s (%s), want %d %s", what, he.Status, he.Code, he.Message, status, code)
	}
	return he
}

func TestPlanErrors(t *testing.T) {
	cases := []struct {
		table, query string
		status       int
		code         string
	}{
		{"customers", "select=nope", 400, "42703"},
		{"customers", "select=id&nope=eq.1", 400, "42703"},
		{"customers", "select=id&order=nope", 400, "42703"},
		{"customers", "select=id,nothing(*)", 400, "PGRST200"},
		{"customers", "select=id,orders!nohint(*)", 400, "PGRST200"},
		{"customers", "select=id&orders.id=eq.1", 400, "PGRST108"},
		{"customers", "select=id,orders(id)&orders=eq.1", 400, "PGRST120"},
		{"customers", "select=id,orders(id)&order=orders(id)", 400, "PGRST118"},
		{"customers", "select=id,...orders(id)", 400, "PGRST119"},
		{"customers", "select=id,orders(nope)", 400, "42703"},
		{"customers", "select=id&orders.limit=1", 400, "PGRST108"},
		{"customers", "select=id,recent_orders(nope)", 400, "42703"},
		{"customers", "select=id,...recent_orders(id)", 400, "PGRST119"},
		{"customers", "select=id,recent_orders", 400, "42703"},
	}
	for _, c := range cases {
		_, err := planFor(t, c.table, c.query)
		if err == nil {
			t.Errorf("%s?%s planned", c.table, c.query)
			continue
		}
		wantCode(t, c.table+"?"+c.query, err, c.status, c.code)
	}
	_, err := planFor(t, "customers", "select=id,transfers(*)")
	he := wantCode(t, "ambiguous", err, 300, "PGRST201")
	if he.Hint != "Try changing 'transfers' to one of the following: 'transfers!transfers_from_id_fkey', 'transfers!transfers_to_id_fkey'. Find the desired relationship in the 'details' key." {
		t.Errorf("hint %v", he.Hint)
	}
	if d, ok := he.Details.([]map[string]string); !ok || len(d) != 2 || d[0]["cardinality"] != "one-to-many" {
		t.Errorf("details %#v", he.Details)
	}
	_, err = planFor(t, "customers", "select=id,order(*)")
	he = wantCode(t, "typo", err, 400, "PGRST200")
	if he.Hint != "Perhaps you meant 'orders' instead of 'order'." {
		t.Errorf("hint %v", he.Hint)
	}
	// Aggregates can be switched off.
	c := testCache()
	q, _ := ParseQuery("select=count()", nil)
	_, err = (&planner{cache: c}).planRead(c.Table("public", "orders"), q)
	wantCode(t, "aggregates disabled", err, 400, "PGRST123")
	// Embedding depth is bounded.
	q, _ = ParseQuery("select=id,customers(id,orders(id,customers(id)))", nil)
	_, err = (&planner{cache: c, maxDepth: 2}).planRead(c.Table("public", "orders"), q)
	wantCode(t, "depth", err, 400, CodeParse)
}

func TestBuildWrite(t *testing.T) {
	c := testCache()
	orders := c.Table("public", "orders")
	rep := &node{table: orders, name: "orders"}
	(&planner{cache: c}).planItems(rep, []SelectItem{{Kind: SelectStar}}, 0)
	cols := []*schema.Column{orders.Column("customer_id"), orders.Column("total")}

	st := buildWrite(writeSpec{kind: writeInsert, table: orders, columns: cols, body: `[{"customer_id":1,"total":2}]`, rep: rep, wantBody: true}, bodyFormat{media: mediaJSON})
	for _, frag := range []string{
		`WITH pgrst_mut AS (INSERT INTO "public"."orders" AS t0 ("customer_id", "total") SELECT _r."customer_id", _r."total" FROM json_populate_recordset(NULL::"public"."orders", $1::json) _r RETURNING t0.*, (t0.xmax = 0) AS pgrst_inserted)`,
		`FROM (SELECT t0."id" AS "id"`, `FROM pgrst_mut t0) _s`,
	} {
		if !strings.Contains(st.SQL, frag) {
			t.Errorf("insert lacks %s\n%s", frag, st.SQL)
		}
	}
	if len(st.Args) != 1 || st.Args[0] != `[{"customer_id":1,"total":2}]` {
		t.Errorf("insert args %#v", st.Args)
	}

	st = buildWrite(writeSpec{kind: writeInsert, table: orders, columns: cols, body: "[]", rep: rep, resolution: "merge-duplicates", onConflict: []string{"id"}}, bodyFormat{media: mediaJSON})
	if !strings.Contains(st.SQL, `ON CONFLICT ("id") DO UPDATE SET "customer_id" = EXCLUDED."customer_id", "total" = EXCLUDED."total"`) {
		t.Errorf("upsert: %s", st.SQL)
	}
	st = buildWrite(writeSpec{kind: writeInsert, table: orders, columns: cols, body: "[]", rep: rep, resolution: "ignore-duplicates", onConflict: []string{"id"}}, bodyFormat{media: mediaJSON})
	if !strings.Contains(st.SQL, `ON CONFLICT ("id") DO NOTHING`) {
		t.Errorf("ignore duplicates: %s", st.SQL)
	}
	withDefault := []*schema.Column{{Name: "status", Default: "'new'::text"}}
	st = buildWrite(writeSpec{kind: writeInsert, table: orders, columns: withDefault, body: "[]", rep: rep, missingDefault: true}, bodyFormat{media: mediaJSON})
	if !strings.Contains(st.SQL, `CASE WHEN _e.j::jsonb ? $1::text THEN _r."status" ELSE 'new'::text END`) {
		t.Errorf("missing=default: %s", st.SQL)
	}

	filter := &node{table: orders}
	q, _ := ParseQuery("id=eq.7", nil)
	(&planner{cache: c}).attachParams(filter, q)
	st = buildWrite(writeSpec{kind: writeUpdate, table: orders, columns: cols[1:], body: `{"total":3}`, filter: filter, rep: rep}, bodyFormat{media: mediaJSON})
	if !strings.Contains(st.SQL, `UPDATE "public"."orders" AS t0 SET "total" = _r."total" FROM json_populate_record(NULL::"public"."orders", $2::json) _r WHERE t0."id" = $1 RETURNING 1 AS pgrst_one`) {
		t.Errorf("update: %s", st.SQL)
	}
	st = buildWrite(writeSpec{kind: writeDelete, table: orders, filter: filter, rep: rep, wantLocation: true}, bodyFormat{media: mediaJSON})
	if !strings.Contains(st.SQL, `DELETE FROM "public"."orders" AS t0 WHERE t0."id" = $1 RETURNING t0."id"`) ||
		!strings.Contains(st.SQL, `json_build_array(l0."id"::text)`) {
		t.Errorf("delete: %s", st.SQL)
	}
}

func TestChooseFunction(t *testing.T) {
	c := testCache()
	mk := func(name string, args ...schema.Arg) *schema.Function {
		f := &schema.Function{Schema: "public", Name: name, Args: args, ReturnKind: schema.ReturnScalar, ReturnType: "text"}
		c.FunctionsByName[f.QualifiedName()] = append(c.FunctionsByName[f.QualifiedName()], f)
		return f
	}
	byID := mk("describe", schema.Arg{Name: "id", Type: "integer", Mode: schema.ArgIn})
	bySKU := mk("describe", schema.Arg{Name: "sku", Type: "text", Mode: schema.ArgIn})
	detailed := mk("describe", schema.Arg{Name: "id", Type: "integer", Mode: schema.ArgIn}, schema.Arg{Name: "detailed", Type: "boolean", Mode: schema.ArgIn})
	greet := mk("greet", schema.Arg{Name: "name", Type: "text", Mode: schema.ArgIn, HasDefault: true})
	raw := mk("echo", schema.Arg{Type: "json", Mode: schema.ArgIn})
	raw.SingleUnnamedParam, raw.SingleJSONParam = true, true
	mk("amb", schema.Arg{Name: "a", Type: "integer", Mode: schema.ArgIn, HasDefault: true})
	mk("amb", schema.Arg{Name: "b", Type: "integer", Mode: schema.ArgIn, HasDefault: true})

	cases := []struct {
		name string
		keys []string
		post bool
		want *schema.Function
		code string
	}{
		{"describe", []string{"id"}, true, byID, ""},
		{"describe", []string{"sku"}, false, bySKU, ""},
		{"describe", []string{"detailed", "id"}, true, detailed, ""},
		{"describe", []string{"nope"}, true, nil, "PGRST202"},
		{"greet", nil, false, greet, ""},
		{"greet", []string{"name"}, false, greet, ""},
		{"echo", []string{"anything"}, true, raw, ""},
		{"echo", nil, false, nil, "PGRST202"},
		{"amb", nil, true, nil, "PGRST203"},
		{"missing", nil, true, nil, "PGRST202"},
	}
	for _, cs := range cases {
		f, err := chooseFunction(c, "public", cs.name, cs.keys, cs.post, cs.post)
		if cs.code != "" {
			if err == nil {
				t.Errorf("%s%v: chose %v", cs.name, cs.keys, f)
				continue
			}
			status := 404
			if cs.code == "PGRST203" {
				status = 300
			}
			wantCode(t, cs.name, err, status, cs.code)
			continue
		}
		if err != nil || f != cs.want {
			t.Errorf("%s%v: %v, %v", cs.name, cs.keys, f, err)
		}
	}
}

func TestBuildRPC(t *testing.T) {
	fn := &schema.Function{Schema: "public", Name: "add", ReturnKind: schema.ReturnScalar, ReturnType: "integer",
		Args: []schema.Arg{{Name: "a", Type: "integer", Mode: schema.ArgIn}, {Name: "b", Type: "integer", Mode: schema.ArgIn}}}
	st, err := buildRPC(rpcCall{fn: fn, named: fn.Args, argsJSON: `{"a":1,"b":2}`}, nil, Page{Limit: -1}, countNone, bodyFormat{media: mediaJSON})
	if err != nil {
		t.Fatal(err)
	}
	want := `FROM json_to_record($1::json) AS _a("a" integer, "b" integer) CROSS JOIN LATERAL "public"."add"("a" := _a."a", "b" := _a."b") AS _f(v)`
	if !strings.Contains(st.SQL, want) || !strings.Contains(st.SQL, "to_json(_f.v)::text AS body") {
		t.Errorf("scalar rpc: %s", st.SQL)
	}
	v := &schema.Function{Schema: "public", Name: "join_words", ReturnKind: schema.ReturnScalar, ReturnType: "text", Variadic: true,
		Args: []schema.Arg{{Name: "words", Type: "text[]", Mode: schema.ArgVariadic}}}
	st, _ = buildRPC(rpcCall{fn: v, named: v.Args, argsJSON: `{"words":["a"]}`}, nil, Page{Limit: -1}, countNone, bodyFormat{media: mediaJSON})
	if !strings.Contains(st.SQL, `"public"."join_words"(VARIADIC "words" := _a."words")`) {
		t.Errorf("variadic: %s", st.SQL)
	}
	body := `{"x":1}`
	j := &schema.Function{Schema: "public", Name: "echo", ReturnKind: schema.ReturnScalar, ReturnType: "json", SingleUnnamedParam: true,
		Args: []schema.Arg{{Type: "json", Mode: schema.ArgIn}}}
	st, _ = buildRPC(rpcCall{fn: j, rawBody: &body}, nil, Page{Limit: -1}, countNone, bodyFormat{media: mediaJSON})
	if !strings.Contains(st.SQL, `"public"."echo"($1::json)`) || st.Args[0] != body {
		t.Errorf("raw body: %s %#v", st.SQL, st.Args)
	}
	set := &schema.Function{Schema: "public", Name: "fib", ReturnKind: schema.ReturnSetOfScalar, ReturnsSet: true, ReturnType: "integer"}
	st, _ = buildRPC(rpcCall{fn: set}, nil, Page{Offset: 2, Limit: 3}, countExact, bodyFormat{media: mediaJSON})
	if !strings.Contains(st.SQL, `(SELECT v FROM "public"."fib"() AS _f(v) LIMIT 3 OFFSET 2) _f`) || !strings.Contains(st.SQL, "(SELECT count(*) FROM") {
		t.Errorf("setof scalar: %s", st.SQL)
	}
	void := &schema.Function{Schema: "public", Name: "noop", ReturnKind: schema.ReturnVoid, ReturnType: "void"}
	st, _ = buildRPC(rpcCall{fn: void}, nil, Page{Limit: -1}, countNone, bodyFormat{media: mediaJSON})
	if !strings.Contains(st.SQL, `FROM "public"."noop"() AS _f`) {
		t.Errorf("void: %s", st.SQL)
	}
}

func TestCastSQL(t *testing.T) {
	for in, want := range map[string]string{"int": `::"int4"`, "TEXT": `::"text"`, "bigint": `::"int8"`, "jsonb": `::"jsonb"`, "boolean": `::"bool"`} {
		if got := castSQL(in); got != want {
			t.Errorf("castSQL(%q) = %s, want %s", in, got, want)
		}
	}
	if got := quoteIdent("a\"b\x00c"); got != `"a""bc"` {
		t.Errorf("quoteIdent: %s", got)
	}
	if got := pgArrayLiteral([]string{`a"b`, `c\d`, ""}); got != `{"a\"b","c\\d",""}` {
		t.Errorf("pgArrayLiteral: %s", got)
	}
}
