package rest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/schema"
)

// benchCache is the schema of BenchmarkServe: items n-1 customers, items
// 1-n notes.
func benchCache() *schema.Cache {
	c := &schema.Cache{
		Schemas:         []string{"public"},
		Tables:          map[schema.QualifiedName]*schema.Table{},
		FunctionsByName: map[schema.QualifiedName][]*schema.Function{},
		Relations:       map[schema.QualifiedName][]*schema.Relationship{},
	}
	add := func(name string, cols ...string) *schema.Table {
		t := &schema.Table{Schema: "public", Name: name, Kind: schema.KindTable, PrimaryKey: []string{"id"}, ColumnsByName: map[string]*schema.Column{}}
		for i, spec := range cols {
			n, typ, _ := strings.Cut(spec, ":")
			col := &schema.Column{Name: n, Position: i + 1, Type: typ, TypeName: typ}
			t.Columns = append(t.Columns, col)
			t.ColumnsByName[n] = col
		}
		c.Tables[t.QualifiedName()] = t
		return t
	}
	customers := add("bench_customers", "id:int4", "name:text")
	items := add("bench_items", "id:int8", "customer_id:int4", "title:text", "price:numeric", "status:text", "created_at:timestamptz")
	notes := add("bench_notes", "id:int8", "item_id:int8", "body:text")
	rel := func(kind schema.RelKind, con string, from *schema.Table, cols []string, to *schema.Table, fcols []string) {
		r := &schema.Relationship{Kind: kind, Constraint: con, Table: from.QualifiedName(), Columns: cols, ForeignTable: to.QualifiedName(), ForeignColumns: fcols}
		c.Relations[from.QualifiedName()] = append(c.Relations[from.QualifiedName()], r)
	}
	rel(schema.ManyToOne, "bench_items_customer_id_fkey", items, []string{"customer_id"}, customers, []string{"id"})
	rel(schema.OneToMany, "bench_items_customer_id_fkey", customers, []string{"id"}, items, []string{"customer_id"})
	rel(schema.ManyToOne, "bench_notes_item_id_fkey", notes, []string{"item_id"}, items, []string{"id"})
	rel(schema.OneToMany, "bench_notes_item_id_fkey", items, []string{"id"}, notes, []string{"item_id"})
	return c
}

var benchQueries = []struct{ name, query string }{
	{"a_by_key", "id=eq.17"},
	{"b_filter_order", "status=eq.paid&created_at=lt.2026-01-01T05:00:00Z&order=created_at.desc&limit=100"},
	{"c_embeds", "select=id,title,price,customer:bench_customers(id,name),notes:bench_notes(id,body)&id=gte.17&order=id.asc&limit=20"},
}

// BenchmarkParsePlanBuild measures what a read does between the schema
// snapshot and the transaction: the full path (parse the query string,
// plan it against the schema cache, the page, Content-Location, build the
// statement) and the path of a shape already seen (the shape key, the
// statement with the values bound, Content-Location).
//
//	go test -run '^$' -bench ParsePlanBuild -benchmem ./internal/rest/
func BenchmarkParsePlanBuild(b *testing.B) {
	c := benchCache()
	t := c.Table("public", "bench_items")
	for _, bq := range benchQueries {
		r := httptest.NewRequest(http.MethodGet, "/rest/v1/bench_items?"+bq.query, nil)
		req := &request{r: r, cache: c, schema: "public", accept: Accept{Media: mediaJSON}}
		b.Run(bq.name+"/full", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				q, err := ParseQuery(r.URL.RawQuery, nil)
				if err != nil {
					b.Fatal(err)
				}
				p := &planner{cache: c, aggregates: true, maxDepth: 8}
				root, err := p.planRead(t, q)
				if err != nil {
					b.Fatal(err)
				}
				page, _ := ParseRange(r.Header)
				page = page.intersect(q.Offset[""], q.Limit[""], hasKey(q.Offset, ""), hasKey(q.Limit, ""))
				params := splitLenient(r.URL.RawQuery)
				_ = renderContentLocation(req, t, params, canonicalOrder(params))
				_ = buildRead(root, t.QualifiedName().Quoted(), page, countNone, bodyFormat{media: mediaJSON}, &sqlb{})
			}
		})
		b.Run(bq.name+"/shape", func(b *testing.B) {
			sc := &shapeCache{}
			sh := readShape(req, t.Name)
			q, _ := ParseQuery(r.URL.RawQuery, nil)
			root, err := (&planner{cache: c}).planRead(t, q)
			if err != nil {
				b.Fatal(err)
			}
			s := &sqlb{}
			st := buildRead(root, t.QualifiedName().Quoted(), Page{Limit: -1}, countNone, bodyFormat{media: mediaJSON}, s)
			params := sh.params
			sc.put(c, c, sh, st, s, Page{Limit: -1}, countNone, canonicalOrder(params))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sh := readShape(req, t.Name)
				e := sc.get(c, sh.key)
				if e == nil {
					b.Fatal("no entry")
				}
				_ = renderContentLocation(req, t, sh.params, e.order)
				_ = e.statement(sh)
			}
		})
	}
}

// BenchmarkDecodeJSONPayload reads the body of a bulk insert of 1000 rows,
// as in case (d) of bench/rest.
func BenchmarkDecodeJSONPayload(b *testing.B) {
	var body bytes.Buffer
	body.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"customer_id":%d,"kind":"click","payload":{"n":%d,"tags":["a","b"]},"created_at":"2026-01-01T00:00:00Z"}`, i%100+1, i)
	}
	body.WriteByte(']')
	b.SetBytes(int64(body.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeJSONPayload(body.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
