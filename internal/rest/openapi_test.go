package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/openapi"
	"github.com/fluxbase/fluxbase/internal/openapi/openapitest"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// openAPICache is a hand-built snapshot with one of each kind of relation
// and function the document describes differently.
func openAPICache() *schema.Cache {
	col := func(name, typ string, pos int, mods ...func(*schema.Column)) *schema.Column {
		c := &schema.Column{Name: name, Position: pos, Type: typ, TypeName: typ, Nullable: true, Updatable: true}
		if strings.HasSuffix(typ, "[]") {
			c.IsArray, c.ElemType = true, strings.TrimSuffix(typ, "[]")
		}
		for _, m := range mods {
			m(c)
		}
		return c
	}
	notNull := func(c *schema.Column) { c.Nullable = false }
	def := func(expr string) func(*schema.Column) {
		return func(c *schema.Column) { c.Default, c.HasDefault = expr, true }
	}
	identity := func(c *schema.Column) { c.Identity, c.HasDefault, c.Nullable = schema.IdentityAlways, true, false }
	table := func(s, name string, kind schema.Kind, pk []string, cols ...*schema.Column) *schema.Table {
		t := &schema.Table{Schema: s, Name: name, Kind: kind, Columns: cols, ColumnsByName: map[string]*schema.Column{}, PrimaryKey: pk,
			Insertable: true, Updatable: true, Deletable: true}
		for _, c := range cols {
			t.ColumnsByName[c.Name] = c
		}
		return t
	}
	orders := table("public", "orders", schema.KindTable, []string{"id"},
		col("id", "bigint", 1, identity),
		col("customer_id", "uuid", 2, notNull),
		col("status", "public.order_status", 3, notNull, def("'pending'::public.order_status"), func(c *schema.Column) {
			c.EnumValues = []string{"pending", "paid"}
		}),
		col("note", "character varying(20)", 4, func(c *schema.Column) { c.TypeName, c.MaxLength = "character varying", 20 }),
		col("tags", "text[]", 5),
		col("total", "numeric", 6, def("0")),
		col("order", "integer", 7),
		col("doc", "jsonb", 8, func(c *schema.Column) { c.Comment = "free-form" }),
	)
	orders.Comment = "Orders placed by customers"
	items := table("public", "order_items", schema.KindTable, []string{"order_id", "line"},
		col("order_id", "bigint", 1, notNull), col("line", "integer", 2, notNull), col("qty", "integer", 3, notNull))
	view := table("public", "order_summaries", schema.KindView, nil, col("id", "bigint", 1), col("n", "bigint", 2, func(c *schema.Column) { c.Updatable = false }))
	view.Insertable, view.Updatable, view.Deletable = false, false, false
	mv := table("public", "counts", schema.KindMaterializedView, nil, col("n", "bigint", 1))
	odd := table("public", "odd name/{x}", schema.KindTable, nil, col("a b", "text", 1))
	wh := table("inventory", "warehouses", schema.KindTable, []string{"id"}, col("id", "integer", 1, notNull), col("name", "text", 2, notNull))

	fn := func(s, name string, vol schema.Volatility, kind schema.ReturnKind, ret string, set bool, args ...schema.Arg) *schema.Function {
		f := &schema.Function{Schema: s, Name: name, Volatility: vol, ReturnKind: kind, ReturnType: ret, ReturnsSet: set, Args: args}
		for _, a := range args {
			if a.IsInput() && !a.HasDefault {
				f.RequiredArgs++
			}
		}
		return f
	}
	in := func(name, typ string) schema.Arg { return schema.Arg{Name: name, Type: typ, Mode: schema.ArgIn} }
	add := fn("public", "add_numbers", schema.Immutable, schema.ReturnScalar, "integer", false, in("a", "integer"), in("b", "integer"))
	myOrders := fn("public", "my_orders", schema.Stable, schema.ReturnSetOfComposite, "public.orders", true)
	myOrders.ReturnTable = &schema.QualifiedName{Schema: "public", Name: "orders"}
	restock := fn("public", "restock", schema.Volatile, schema.ReturnVoid, "void", false, in("product_id", "integer"), schema.Arg{Name: "amount", Type: "integer", Mode: schema.ArgIn, HasDefault: true})
	words := fn("public", "join_words", schema.Immutable, schema.ReturnScalar, "text", false, schema.Arg{Name: "words", Type: "text[]", Mode: schema.ArgVariadic})
	words.Variadic = true
	echo := fn("public", "echo_json", schema.Immutable, schema.ReturnScalar, "json", false, schema.Arg{Type: "json", Mode: schema.ArgIn})
	echo.SingleJSONParam, echo.SingleUnnamedParam = true, true
	d1 := fn("public", "describe", schema.Stable, schema.ReturnScalar, "text", false, in("id", "integer"))
	d2 := fn("public", "describe", schema.Stable, schema.ReturnScalar, "text", false, in("sku", "text"))
	stats := fn("public", "stats", schema.Stable, schema.ReturnTable, "record", true)
	stats.ReturnColumns = []schema.Arg{{Name: "status", Type: "public.order_status", Mode: schema.ArgTable}, {Name: "n", Type: "bigint", Mode: schema.ArgTable}}
	total := fn("inventory", "total_quantity", schema.Stable, schema.ReturnScalar, "bigint", false)
	orders.MediaHandlers = []*schema.MediaHandler{{MediaType: "text/tab-separated-values", Aggregate: schema.QualifiedName{Schema: "public", Name: "orders_tsv"}}}
	png := fn("public", "signature", schema.Immutable, schema.ReturnScalar, `"image/png"`, false)
	png.MediaType, png.MediaBinary = "image/png", true

	c := &schema.Cache{
		Schemas:         []string{"public", "inventory"},
		Tables:          map[schema.QualifiedName]*schema.Table{},
		FunctionsByName: map[schema.QualifiedName][]*schema.Function{},
		Enums:           map[schema.QualifiedName][]string{{Schema: "public", Name: "order_status"}: {"pending", "paid"}},
		Relations: map[schema.QualifiedName][]*schema.Relationship{
			{Schema: "public", Name: "order_items"}: {{Kind: schema.ManyToOne, Constraint: "order_items_order_id_fkey",
				Table: schema.QualifiedName{Schema: "public", Name: "order_items"}, Columns: []string{"order_id"},
				ForeignTable: schema.QualifiedName{Schema: "public", Name: "orders"}, ForeignColumns: []string{"id"}}},
		},
	}
	for _, t := range []*schema.Table{orders, items, view, mv, odd, wh} {
		c.Tables[t.QualifiedName()] = t
	}
	for _, f := range []*schema.Function{add, myOrders, restock, words, echo, d1, d2, stats, total, png} {
		qn := f.QualifiedName()
		c.FunctionsByName[qn] = append(c.FunctionsByName[qn], f)
	}
	return c
}

func mergedDocument(t *testing.T, c *schema.Cache) (*openapi.Document, []byte) {
	t.Helper()
	b, err := openapi.NewBuilder([]byte(`{"openapi":"3.0.3","info":{"title":"t","version":"1"},"paths":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	b.Register(NewOpenAPI(func() *schema.Cache { return c }, nil))
	r, err := b.Render(context.Background(), openapi.Audience{})
	if err != nil {
		t.Fatal(err)
	}
	openapitest.Validate(t, r.JSON)
	var doc openapi.Document
	if err := json.Unmarshal(r.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	return &doc, r.JSON
}

func methods(item *openapi.PathItem) []string {
	var out []string
	for m := range item.Operations() {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

func TestOpenAPIMergedDocument(t *testing.T) {
	t.Parallel()
	doc, raw := mergedDocument(t, openAPICache())

	wantMethods := map[string]string{
		"/rest/v1/orders":                          "DELETE GET HEAD PATCH POST PUT",
		"/rest/v1/order_items":                     "DELETE GET HEAD PATCH POST PUT",
		"/rest/v1/order_summaries":                 "GET HEAD",
		"/rest/v1/counts":                          "GET HEAD",
		"/rest/v1/odd%20name%2F%7Bx%7D":            "DELETE GET HEAD PATCH POST",
		"/api/v1/tables/orders":                    "DELETE GET HEAD PATCH POST PUT",
		"/api/v1/tables/orders/{id}":               "DELETE GET PATCH PUT",
		"/api/v1/tables/order_items/{id}":          "DELETE GET PATCH PUT",
		"/api/v1/tables/inventory.warehouses":      "DELETE GET HEAD PATCH POST PUT",
		"/api/v1/tables/inventory.warehouses/{id}": "DELETE GET PATCH PUT",
		"/rest/v1/rpc/add_numbers":                 "GET HEAD POST",
		"/rest/v1/rpc/my_orders":                   "GET HEAD POST",
		"/rest/v1/rpc/restock":                     "POST",
		"/rest/v1/rpc/echo_json":                   "POST",
		"/rest/v1/rpc/describe":                    "GET HEAD POST",
		"/api/v1/rpc/add_numbers":                  "GET HEAD POST",
		"/api/v1/rpc/inventory.total_quantity":     "GET HEAD POST",
		"/rest/v1/{table}":                         "DELETE GET HEAD PATCH POST PUT",
		"/api/v1/tables/{table}/{id}":              "DELETE GET PATCH PUT",
		"/rest/v1/":                                "GET",
	}
	for path, want := range wantMethods {
		item := doc.Paths[path]
		if item == nil {
			t.Errorf("%s missing", path)
			continue
		}
		if got := strings.Join(methods(item), " "); got != want {
			t.Errorf("%s: methods %s, want %s", path, got, want)
		}
	}
	for _, absent := range []string{
		"/rest/v1/warehouses", "/rest/v1/inventory.warehouses", "/rest/v1/rpc/total_quantity",
		"/api/v1/tables/order_summaries/{id}", "/api/v1/tables/counts/{id}",
	} {
		if doc.Paths[absent] != nil {
			t.Errorf("%s should not be documented", absent)
		}
	}

	row := doc.Components.Schemas["public.orders"]
	if row == nil {
		t.Fatal("no schema for public.orders")
	}
	if row.Description != "Orders placed by customers" {
		t.Errorf("table comment: %q", row.Description)
	}
	if !slices.Equal(row.Required, []string{"customer_id"}) {
		t.Errorf("required = %v, want only the NOT NULL column without a default", row.Required)
	}
	id := row.Properties["id"]
	if id.Type != "integer" || id.Format != "bigint" || !id.ReadOnly || !strings.Contains(id.Description, "<pk/>") {
		t.Errorf("id: %+v", id)
	}
	if st := row.Properties["status"]; st.Type != "string" || len(st.Enum) != 2 || st.Default != "pending" || st.Nullable {
		t.Errorf("status: %+v", st)
	}
	if n := row.Properties["note"]; n.MaxLength == nil || *n.MaxLength != 20 || !n.Nullable || n.Format != "character varying" {
		t.Errorf("note: %+v", n)
	}
	if tg := row.Properties["tags"]; tg.Type != "array" || tg.Items == nil || tg.Items.Type != "string" {
		t.Errorf("tags: %+v", tg)
	}
	if tot := row.Properties["total"]; tot.Type != "number" || tot.Default != float64(0) {
		t.Errorf("total: %+v", tot)
	}
	if d := row.Properties["doc"]; d.Type != "" || d.Format != "jsonb" || d.Description != "free-form" {
		t.Errorf("doc: %+v", d)
	}
	fk := doc.Components.Schemas["public.order_items"].Properties["order_id"].Description
	if !strings.Contains(fk, "<fk table='orders' column='id'/>") {
		t.Errorf("foreign key note missing: %q", fk)
	}
	if _, ok := doc.Components.Schemas["patch.public.order_summaries"]; ok {
		t.Error("a read-only view has an update body")
	}
	if v := doc.Components.Schemas["public.order_summaries"].Properties["n"]; !v.ReadOnly {
		t.Error("a view column that maps to no base column is not read-only")
	}

	// Per-column filters, but not for a column named like a reserved
	// parameter.
	get := doc.Paths["/rest/v1/orders"].Get
	var params []string
	for _, p := range get.Parameters {
		params = append(params, strings.TrimPrefix(p.Ref, "#/components/parameters/"))
	}
	for _, want := range []string{"filter.public.orders.status", "rest.select", "rest.order", "rest.limit", "rest.offset", "rest.range", "rest.preferGet"} {
		if !slices.Contains(params, want) {
			t.Errorf("GET /rest/v1/orders lacks %s (has %v)", want, params)
		}
	}
	if slices.Contains(params, "filter.public.orders.order") {
		t.Error("a column named order became a filter parameter")
	}
	if post := doc.Paths["/rest/v1/orders"].Post; post.RequestBody == nil || post.Responses["201"] == nil {
		t.Error("POST lacks its body or 201")
	}
	if !strings.Contains(string(raw), `"on_conflict"`) {
		t.Error("on_conflict is not documented")
	}
	// Reads of relations answer with Content-Location; Prefer documents
	// timezone= and Preference-Applied.
	if h := doc.Components.Headers["rest.contentLocation"]; h == nil || !strings.Contains(h.Description, "canonical") {
		t.Errorf("the Content-Location header component: %+v", h)
	}
	for _, r := range []*openapi.Response{doc.Components.Responses["rows.public.orders"], doc.Components.Responses["partial.public.orders"],
		doc.Paths["/rest/v1/orders"].Head.Responses["200"], doc.Paths["/rest/v1/{table}"].Get.Responses["200"]} {
		if r == nil || r.Headers["Content-Location"] == nil || r.Headers["Content-Location"].Ref != "#/components/headers/rest.contentLocation" {
			t.Errorf("a read response lacks Content-Location: %+v", r)
		}
	}
	for _, k := range []string{"rest.preferGet", "rest.preferPost", "rest.preferPatch", "rest.preferPut", "rest.preferDelete", "rest.preferRpc"} {
		if d := doc.Components.Parameters[k].Description; !strings.Contains(d, "timezone=") || !strings.Contains(d, "Preference-Applied") {
			t.Errorf("%s: %s", k, d)
		}
	}

	// Composite keys are explained on the by-key route.
	idp := doc.Paths["/api/v1/tables/order_items/{id}"].Get.Parameters[0]
	if idp.Name != "id" || !strings.Contains(idp.Description, "comma") {
		t.Errorf("composite key parameter: %+v", idp)
	}

	// Functions: arguments and results.
	args := doc.Components.Schemas["args.public.add_numbers"]
	if !slices.Equal(args.Required, []string{"a", "b"}) || args.Properties["a"].Type != "integer" {
		t.Errorf("add_numbers args: %+v", args)
	}
	if r := doc.Components.Schemas["args.public.restock"]; !slices.Equal(r.Required, []string{"product_id"}) {
		t.Errorf("restock args: required %v", r.Required)
	}
	if r := doc.Components.Schemas["result.public.my_orders"]; r.Type != "array" || r.Items.Ref != "#/components/schemas/public.orders" {
		t.Errorf("my_orders result: %+v", r)
	}
	if r := doc.Components.Schemas["result.public.stats"]; r.Type != "array" || r.Items.Properties["status"] == nil || len(r.Items.Properties["status"].Enum) != 2 {
		t.Errorf("stats result: %+v", r)
	}
	if a := doc.Components.Schemas["args.public.join_words"].Properties["words"]; a.Type != "array" {
		t.Errorf("variadic argument: %+v", a)
	}
	if a := doc.Components.Schemas["args.public.describe"]; len(a.OneOf) != 2 {
		t.Errorf("overloads: %+v", a)
	}
	if doc.Paths["/rest/v1/rpc/restock"].Post.Responses["204"] == nil {
		t.Error("a void function lacks 204")
	}
	if mt := doc.Paths["/rest/v1/rpc/signature"].Get.Responses["200"].Content["image/png"]; mt == nil || mt.Schema.Format != "binary" {
		t.Errorf("a media type handler's response: %+v", mt)
	}
	if mt := doc.Components.Responses["rows.public.orders"].Content["text/tab-separated-values"]; mt == nil || mt.Schema.Type != "string" {
		t.Errorf("a table's media type handler: %+v", mt)
	}
	var getArgs []string
	for _, p := range doc.Paths["/rest/v1/rpc/add_numbers"].Get.Parameters {
		if p.In == "query" && p.Ref == "" {
			getArgs = append(getArgs, p.Name)
		}
	}
	if !slices.Equal(getArgs, []string{"a", "b"}) {
		t.Errorf("GET arguments: %v", getArgs)
	}
}

func TestOpenAPIProfileDocument(t *testing.T) {
	t.Parallel()
	c := openAPICache()
	o := NewOpenAPI(func() *schema.Cache { return c }, nil)

	def, err := o.Profile(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	kin := openapitest.Validate(t, def.JSON)
	if kin.Servers[0].URL != "/rest/v1" {
		t.Errorf("server: %s", kin.Servers[0].URL)
	}
	for _, p := range []string{"/", "/orders", "/order_items", "/rpc/add_numbers"} {
		if kin.Paths.Find(p) == nil {
			t.Errorf("default profile lacks %s", p)
		}
	}
	if kin.Paths.Find("/warehouses") != nil || strings.Contains(string(def.JSON), "inventory") {
		t.Error("the default profile describes another schema")
	}
	again, _ := o.Profile(context.Background(), "public", "")
	if again != def {
		t.Error("the public profile was rendered again for the same snapshot")
	}

	inv, err := o.Profile(context.Background(), "inventory", "")
	if err != nil {
		t.Fatal(err)
	}
	kin = openapitest.Validate(t, inv.JSON)
	wh := kin.Paths.Find("/warehouses")
	if wh == nil || kin.Paths.Find("/rpc/total_quantity") == nil || kin.Paths.Find("/orders") != nil {
		t.Fatalf("inventory profile paths wrong: %s", inv.JSON)
	}
	found := false
	for _, p := range wh.Get.Parameters {
		if p.Value.Name == "Accept-Profile" && p.Value.Required {
			found = true
		}
	}
	if !found {
		t.Error("a non-default profile's reads do not require Accept-Profile")
	}

	_, err = o.Profile(context.Background(), "auth", "")
	he := httpx.AsError(err)
	if he == nil || he.Status != http.StatusNotAcceptable || he.Code != "PGRST106" || !strings.Contains(he.Message, "public, inventory") {
		t.Errorf("unexposed profile: %v", err)
	}
}

func TestOpenAPIFollowsTheSnapshot(t *testing.T) {
	t.Parallel()
	c := openAPICache()
	cur := c
	o := NewOpenAPI(func() *schema.Cache { return cur }, nil)
	b, err := openapi.NewBuilder([]byte(`{"openapi":"3.0.3","info":{"title":"t","version":"1"},"paths":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	b.Register(o)
	r1, err := b.Render(context.Background(), openapi.Audience{})
	if err != nil {
		t.Fatal(err)
	}
	next := *c
	next.Tables = map[schema.QualifiedName]*schema.Table{}
	for k, v := range c.Tables {
		if k.Name != "orders" {
			next.Tables[k] = v
		}
	}
	cur = &next
	r2, err := b.Render(context.Background(), openapi.Audience{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(r1.JSON), `"/rest/v1/orders"`) || strings.Contains(string(r2.JSON), `"/rest/v1/orders"`) {
		t.Error("the document did not follow the new snapshot")
	}
}

func TestOpenAPIEmptyCache(t *testing.T) {
	t.Parallel()
	doc, _ := mergedDocument(t, &schema.Cache{Schemas: []string{"public"}})
	if doc.Paths["/rest/v1/{table}"] == nil || doc.Paths["/api/v1/rpc/{function}"] == nil {
		t.Error("generic routes missing")
	}
	doc, _ = mergedDocument(t, nil)
	if doc.Paths["/rest/v1/"] == nil {
		t.Error("generic routes missing before the first load")
	}
}
