package rest

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

var querySeeds = []string{
	"select=*",
	"select=id,name,orders(id,total)&id=gt.1&order=name.desc.nullslast&limit=10&offset=5",
	"select=n:name::text,data->a->>b,orders!inner(id)&orders.status=eq.paid&orders.order=id&orders.limit=1",
	"select=...customers(name),total.sum(),count()",
	"or=(id.eq.1,and(name.like.*a*,not.id.in.(1,2,\"3,4\")))&not.and=(id.is.null)",
	"name=ilike(any).{a*,b*}&doc=fts(english).cat&tags=cs.{a}&r=adj.[1,2)",
	"id=in.()&name=is.not_null&x=isdistinct.5&data->>k=match.^a",
	"columns=a,b&on_conflict=id",
	"select=id,categories!parent_id(name)&order=categories(name).desc",
	"select=%22quoted%20col%22&%22quoted%20col%22=eq.x",
	"select=a(b(c(d(e(f)))))",
	"id=eq.1'%3B%20drop%20table%20x%3B--",
	"select=id,,", "or=(", "limit=-1", "id=zz.1",
}

// checkParseError asserts that a rejected query is a client error.
func checkParseError(t *testing.T, err error) {
	var he *httpx.Error
	if !errors.As(err, &he) {
		t.Fatalf("error %v is not an *httpx.Error", err)
	}
	if he.Status < 400 || he.Status >= 500 {
		t.Fatalf("status %d for a parse error", he.Status)
	}
}

// FuzzParseQuery feeds arbitrary query strings through the parser and, when
// they parse, through the planner and the SQL builder against a test
// schema: nothing may panic, every rejection is a 4xx, and no filter value
// may appear in the SQL text.
func FuzzParseQuery(f *testing.F) {
	for _, s := range querySeeds {
		f.Add(s)
	}
	c := testCache()
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseQuery(raw, nil)
		if err != nil {
			checkParseError(t, err)
			return
		}
		for _, table := range []string{"customers", "orders"} {
			p := &planner{cache: c, aggregates: true, maxDepth: 8}
			root, err := p.planRead(c.Table("public", table), q)
			if err != nil {
				checkParseError(t, err)
				continue
			}
			st := buildRead(root, c.Table("public", table).QualifiedName().Quoted(), Page{Limit: -1}, countExact, bodyFormat{media: mediaJSON}, nil)
			for _, fl := range q.Filters {
				if len(fl.Value) >= 6 && !strings.ContainsAny(fl.Value, `"`) && strings.Contains(st.SQL, fl.Value) && !strings.Contains(fieldNames(q), fl.Value) {
					t.Fatalf("value %q reached the SQL: %s", fl.Value, st.SQL)
				}
			}
			if strings.Count(st.SQL, "$") < len(st.Args) {
				t.Fatalf("fewer placeholders than arguments: %s", st.SQL)
			}
		}
	})
}

// fieldNames lists the identifiers and aliases of q, which legitimately
// appear (quoted) in the SQL text.
func fieldNames(q *Query) string {
	var b strings.Builder
	var walk func([]SelectItem)
	walk = func(items []SelectItem) {
		for _, it := range items {
			b.WriteString(it.Alias + " " + it.Field.Name + " " + it.Relation + " " + it.Cast + " ")
			for _, s := range it.Field.JSON {
				b.WriteString(s.Key + " ")
			}
			walk(it.Children)
		}
	}
	walk(q.Select)
	return b.String()
}

// FuzzParseLogicTree checks that the logic-tree parser never panics, that
// it rejects with 400 PGRST100, and that what it accepts renders to SQL.
func FuzzParseLogicTree(f *testing.F) {
	for _, s := range []string{
		"(id.eq.1,name.eq.2)", "(and(a.gt.1,b.lt.2),not.or(c.is.null,d.in.(1,2)))",
		`(name.eq."a,b",id.eq.1)`, "(tags.cs.{a,b},r.adj.[1,5))", "(doc.fts(english).cat)",
		"(data->>k.eq.v,name.like(any).{a*,b*})", "(", "()", "(a.eq.1", "(a.eq.1))", "(not.and(a.eq.1))",
	} {
		f.Add("or", s)
		f.Add("not.and", s)
	}
	c := testCache()
	f.Fuzz(func(t *testing.T, key, value string) {
		tr, err := ParseLogicTree(key, value)
		if err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status != 400 || he.Code != CodeParse {
				t.Fatalf("rejection %v is not 400 PGRST100", err)
			}
			return
		}
		p := &planner{cache: c}
		rt, err := p.resolveTree(c.Table("public", "customers"), tr)
		if err != nil {
			checkParseError(t, err)
			return
		}
		s := &sqlb{}
		out := s.treeSQL(rt, "t0")
		if strings.Count(out, "(") != strings.Count(out, ")") {
			t.Fatalf("unbalanced SQL %q", out)
		}
	})
}

// FuzzParseAccept feeds arbitrary Accept headers, with and without media
// type handlers: nothing may panic, a rejection is 406 PGRST107, and a
// chosen handler is one of those offered.
func FuzzParseAccept(f *testing.F) {
	for _, s := range []string{
		"", "*/*", "application/json", "text/csv;q=0.5, application/json", "image/png, */*;q=0.8",
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/vnd.pgrst.object+json;nulls=stripped",
		`application/vnd.pgrst.plan+json; for="text/csv"; options=analyze|verbose`, "text/plain;q=abc", ";;,,", "a/b;q=-1",
	} {
		f.Add(s, "image/png")
		f.Add(s, "*/*")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, accept, handler string) {
		a, err := ParseAccept(http.Header{"Accept": {accept}}, handler)
		if err != nil {
			var he *httpx.Error
			if !errors.As(err, &he) || he.Status != http.StatusNotAcceptable || he.Code != "PGRST107" {
				t.Fatalf("rejection %v is not 406 PGRST107", err)
			}
			return
		}
		if a.Media == mediaHandler && a.Handler != handler {
			t.Fatalf("chose the handler %q, offered %q", a.Handler, handler)
		}
		if a.Media == "" {
			t.Fatal("no representation chosen and no error")
		}
	})
}
