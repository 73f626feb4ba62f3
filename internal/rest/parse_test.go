package rest

import (
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

func field(name string, steps ...JSONStep) Field { return Field{Name: name, JSON: steps} }
func arrow(k string) JSONStep                    { return JSONStep{Key: k} }
func arrow2(k string) JSONStep                   { return JSONStep{Key: k, Text: true} }

func TestParseSelect(t *testing.T) {
	cases := []struct {
		in   string
		want []SelectItem
	}{
		{"*", []SelectItem{{Kind: SelectStar}}},
		{"id,name", []SelectItem{{Kind: SelectField, Field: field("id")}, {Kind: SelectField, Field: field("name")}}},
		{" id , name ", []SelectItem{{Kind: SelectField, Field: field("id")}, {Kind: SelectField, Field: field("name")}}},
		{"n:name", []SelectItem{{Kind: SelectField, Alias: "n", Field: field("name")}}},
		{"price::text", []SelectItem{{Kind: SelectField, Field: field("price"), Cast: "text"}}},
		{"p:price::int", []SelectItem{{Kind: SelectField, Alias: "p", Field: field("price"), Cast: "int"}}},
		{"data->a->>b", []SelectItem{{Kind: SelectField, Field: field("data", arrow("a"), arrow2("b"))}}},
		{"data->0", []SelectItem{{Kind: SelectField, Field: field("data", JSONStep{Key: "0", Index: true})}}},
		{"data->-1", []SelectItem{{Kind: SelectField, Field: field("data", JSONStep{Key: "-1", Index: true})}}},
		{"data->>a1", []SelectItem{{Kind: SelectField, Field: field("data", arrow2("a1"))}}},
		{`"my col"`, []SelectItem{{Kind: SelectField, Field: field("my col")}}},
		{`"a\"b"`, []SelectItem{{Kind: SelectField, Field: field(`a"b`)}}},
		{"first-name", []SelectItem{{Kind: SelectField, Field: field("first-name")}}},
		{"count()", []SelectItem{{Kind: SelectCount, Aggregate: "count"}}},
		{"c:count()::int", []SelectItem{{Kind: SelectCount, Alias: "c", Aggregate: "count", Cast: "int"}}},
		{"price.sum()", []SelectItem{{Kind: SelectField, Field: field("price"), Aggregate: "sum"}}},
		{"price::int.avg()::text", []SelectItem{{Kind: SelectField, Field: field("price"), Aggregate: "avg", AggregateCast: "int", Cast: "text"}}},
		{"total:price.max()", []SelectItem{{Kind: SelectField, Alias: "total", Field: field("price"), Aggregate: "max"}}},
		{"orders(*)", []SelectItem{{Kind: SelectEmbed, Relation: "orders", Children: []SelectItem{{Kind: SelectStar}}}}},
		{"orders()", []SelectItem{{Kind: SelectEmbed, Relation: "orders"}}},
		{"o:orders!inner(id)", []SelectItem{{Kind: SelectEmbed, Alias: "o", Relation: "orders", Join: JoinInner,
			Children: []SelectItem{{Kind: SelectField, Field: field("id")}}}}},
		{"orders!fk_name!left(id)", []SelectItem{{Kind: SelectEmbed, Relation: "orders", Hint: "fk_name", Join: JoinLeft,
			Children: []SelectItem{{Kind: SelectField, Field: field("id")}}}}},
		{"...customers(name)", []SelectItem{{Kind: SelectEmbed, Relation: "customers", Spread: true,
			Children: []SelectItem{{Kind: SelectField, Field: field("name")}}}}},
		{"a(b(c(d)))", []SelectItem{{Kind: SelectEmbed, Relation: "a", Children: []SelectItem{{Kind: SelectEmbed, Relation: "b",
			Children: []SelectItem{{Kind: SelectEmbed, Relation: "c", Children: []SelectItem{{Kind: SelectField, Field: field("d")}}}}}}}}},
		{"", nil},
	}
	for _, c := range cases {
		got, err := ParseSelect(c.in)
		if err != nil {
			t.Errorf("ParseSelect(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseSelect(%q)\n got %#v\nwant %#v", c.in, got, c.want)
		}
	}
}

func wantParseError(t *testing.T, what string, err error, column int) {
	t.Helper()
	var he *httpx.Error
	if !errors.As(err, &he) {
		t.Fatalf("%s: error %v is not an *httpx.Error", what, err)
	}
	if he.Status != http.StatusBadRequest || he.Code != CodeParse {
		t.Errorf("%s: status %d code %s, want 400 PGRST100", what, he.Status, he.Code)
	}
	if column > 0 && !strings.Contains(he.Message, "column "+strconv.Itoa(column)+")") {
		t.Errorf("%s: message %q does not point at column %d", what, he.Message, column)
	}
}

func TestParseSelectErrors(t *testing.T) {
	cases := []string{
		"id,", "id,,name", "orders(", "orders(id", "orders)", "a:", ":a", "id::", "id.nope()", "id.sum(",
		"orders!(id)", "orders!inner!left(id)", "orders!a!b(id)", "...", "...x", "a:...b(c)", "data->", "data->>",
		"*x", "id name", `"unterminated`, "x(" + strings.Repeat("a(", 40) + ")",
	}
	for _, in := range cases {
		_, err := ParseSelect(in)
		if err == nil {
			t.Errorf("ParseSelect(%q) succeeded", in)
			continue
		}
		wantParseError(t, in, err, 0)
	}
	_, err := ParseSelect("id,,name")
	var he *httpx.Error
	errors.As(err, &he)
	if he.Message != `"failed to parse select parameter (id,,name)" (line 1, column 4)` {
		t.Errorf("message %q", he.Message)
	}
	if !strings.HasPrefix(he.Details.(string), `unexpected ","`) {
		t.Errorf("details %q", he.Details)
	}
}

func TestParseFilter(t *testing.T) {
	cases := []struct {
		key, value string
		want       Filter
	}{
		{"id", "eq.1", Filter{Field: field("id"), Op: "eq", Value: "1"}},
		{"id", "neq.1", Filter{Field: field("id"), Op: "neq", Value: "1"}},
		{"id", "not.eq.1", Filter{Field: field("id"), Op: "eq", Not: true, Value: "1"}},
		{"name", "eq.a.b.c", Filter{Field: field("name"), Op: "eq", Value: "a.b.c"}},
		{"name", "eq.", Filter{Field: field("name"), Op: "eq", Value: ""}},
		{"name", "like.*abc*", Filter{Field: field("name"), Op: "like", Value: "*abc*"}},
		{"name", "ilike(any).{a*,b*}", Filter{Field: field("name"), Op: "ilike", Quantifier: "any", Value: "{a*,b*}"}},
		{"name", "like(all).{a*,*b}", Filter{Field: field("name"), Op: "like", Quantifier: "all", Value: "{a*,*b}"}},
		{"id", "eq(any).{1,2}", Filter{Field: field("id"), Op: "eq", Quantifier: "any", Value: "{1,2}"}},
		{"id", "in.(1,2,3)", Filter{Field: field("id"), Op: "in", List: []string{"1", "2", "3"}}},
		{"id", "in.()", Filter{Field: field("id"), Op: "in", List: []string{}}},
		{"name", `in.("a,b","c\"d",e)`, Filter{Field: field("name"), Op: "in", List: []string{"a,b", `c"d`, "e"}}},
		{"name", "not.in.(a)", Filter{Field: field("name"), Op: "in", Not: true, List: []string{"a"}}},
		{"x", "is.null", Filter{Field: field("x"), Op: "is", Value: "null"}},
		{"x", "is.NULL", Filter{Field: field("x"), Op: "is", Value: "null"}},
		{"x", "is.not_null", Filter{Field: field("x"), Op: "is", Value: "not_null"}},
		{"x", "is.true", Filter{Field: field("x"), Op: "is", Value: "true"}},
		{"x", "is.unknown", Filter{Field: field("x"), Op: "is", Value: "unknown"}},
		{"x", "not.is.null", Filter{Field: field("x"), Op: "is", Not: true, Value: "null"}},
		{"x", "isdistinct.5", Filter{Field: field("x"), Op: "isdistinct", Value: "5"}},
		{"doc", "fts.cat", Filter{Field: field("doc"), Op: "fts", Value: "cat"}},
		{"doc", "fts(english).cat & dog", Filter{Field: field("doc"), Op: "fts", Config: "english", Value: "cat & dog"}},
		{"doc", "plfts.the cat", Filter{Field: field("doc"), Op: "plfts", Value: "the cat"}},
		{"doc", "phfts(simple).a b", Filter{Field: field("doc"), Op: "phfts", Config: "simple", Value: "a b"}},
		{"doc", "not.wfts.\"a\" -b", Filter{Field: field("doc"), Op: "wfts", Not: true, Value: `"a" -b`}},
		{"tags", "cs.{a,b}", Filter{Field: field("tags"), Op: "cs", Value: "{a,b}"}},
		{"tags", "cd.{a}", Filter{Field: field("tags"), Op: "cd", Value: "{a}"}},
		{"tags", "ov.{a}", Filter{Field: field("tags"), Op: "ov", Value: "{a}"}},
		{"r", "sl.[1,2)", Filter{Field: field("r"), Op: "sl", Value: "[1,2)"}},
		{"r", "sr.[1,2)", Filter{Field: field("r"), Op: "sr", Value: "[1,2)"}},
		{"r", "nxl.[1,2)", Filter{Field: field("r"), Op: "nxl", Value: "[1,2)"}},
		{"r", "nxr.[1,2)", Filter{Field: field("r"), Op: "nxr", Value: "[1,2)"}},
		{"r", "adj.[1,2)", Filter{Field: field("r"), Op: "adj", Value: "[1,2)"}},
		{"name", "match.^a", Filter{Field: field("name"), Op: "match", Value: "^a"}},
		{"name", "imatch.^A", Filter{Field: field("name"), Op: "imatch", Value: "^A"}},
		{"data->>color", "eq.red", Filter{Field: field("data", arrow2("color")), Op: "eq", Value: "red"}},
		{"data->a->>b", "eq.1", Filter{Field: field("data", arrow("a"), arrow2("b")), Op: "eq", Value: "1"}},
		{"orders.total", "gt.10", Filter{Path: []string{"orders"}, Field: field("total"), Op: "gt", Value: "10"}},
		{"a.b.c", "lt.1", Filter{Path: []string{"a", "b"}, Field: field("c"), Op: "lt", Value: "1"}},
	}
	for _, c := range cases {
		got, err := ParseFilter(c.key, c.value)
		if err != nil {
			t.Errorf("ParseFilter(%q, %q): %v", c.key, c.value, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseFilter(%q, %q)\n got %#v\nwant %#v", c.key, c.value, got, c.want)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	cases := [][2]string{
		{"id", "1"}, {"id", "foo.1"}, {"id", "eq"}, {"id", "eq1"}, {"id", "not.1"}, {"id", "in.1,2"},
		{"id", "in.(1,2"}, {"id", `in.("a)`}, {"id", "is.maybe"}, {"id", "eq(some).1"}, {"id", "fts(bad config).x"},
		{"id", "in(any).(1)"}, {"", "eq.1"}, {"a..b", "eq.1"}, {"a->", "eq.1"}, {"id", "EQ.1"},
	}
	for _, c := range cases {
		if _, err := ParseFilter(c[0], c[1]); err == nil {
			t.Errorf("ParseFilter(%q, %q) succeeded", c[0], c[1])
		} else {
			wantParseError(t, c[0]+"="+c[1], err, 0)
		}
	}
	_, err := ParseFilter("id", "foo.1")
	var he *httpx.Error
	errors.As(err, &he)
	if he.Message != `"failed to parse filter (foo.1)" (line 1, column 1)` {
		t.Errorf("message %q", he.Message)
	}
}

func TestParseLogicTree(t *testing.T) {
	tr, err := ParseLogicTree("or", "(id.eq.1,name.like.*x*,and(price.gt.1,price.lt.5),not.or(a.is.null,b.in.(1,2)))")
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Or || tr.Not || len(tr.Filters) != 2 || len(tr.Children) != 2 {
		t.Fatalf("tree %#v", tr)
	}
	if tr.Children[0].Or || len(tr.Children[0].Filters) != 2 {
		t.Errorf("and child %#v", tr.Children[0])
	}
	if !tr.Children[1].Not || !tr.Children[1].Or || !reflect.DeepEqual(tr.Children[1].Filters[1].List, []string{"1", "2"}) {
		t.Errorf("not.or child %#v", tr.Children[1])
	}
	if !reflect.DeepEqual(tr.order, []bool{false, false, true, true}) {
		t.Errorf("order %v", tr.order)
	}

	cases := []struct {
		key, value string
		check      func(LogicTree) bool
	}{
		{"and", "(a.eq.1)", func(t LogicTree) bool { return !t.Or && len(t.Filters) == 1 }},
		{"not.and", "(a.eq.1,b.eq.2)", func(t LogicTree) bool { return t.Not && !t.Or }},
		{"orders.or", "(a.eq.1,b.eq.2)", func(t LogicTree) bool { return reflect.DeepEqual(t.Path, []string{"orders"}) }},
		{"a.b.not.or", "(x.eq.1)", func(t LogicTree) bool { return t.Not && reflect.DeepEqual(t.Path, []string{"a", "b"}) }},
		{"or", `(name.eq."a,b",id.eq.1)`, func(t LogicTree) bool { return t.Filters[0].Value == "a,b" }},
		{"or", `(name.eq."(x)",id.eq.1)`, func(t LogicTree) bool { return t.Filters[0].Value == "(x)" }},
		{"or", "(tags.cs.{a,b},id.eq.1)", func(t LogicTree) bool { return t.Filters[0].Value == "{a,b}" }},
		{"or", "(r.adj.[1,5),id.eq.1)", func(t LogicTree) bool { return t.Filters[0].Value == "[1,5)" && len(t.Filters) == 2 }},
		{"or", "(name.like(any).{a*,b*},id.eq.1)", func(t LogicTree) bool { return t.Filters[0].Quantifier == "any" }},
		{"or", "(doc.fts(english).cat,id.eq.1)", func(t LogicTree) bool { return t.Filters[0].Config == "english" }},
		{"or", "(data->>color.eq.red,id.not.eq.1)", func(t LogicTree) bool {
			return t.Filters[0].Field.JSON[0].Key == "color" && t.Filters[1].Not
		}},
		{"or", "(id.eq.1, id.eq.2)", func(t LogicTree) bool { return len(t.Filters) == 2 && t.Filters[1].Value == "2" }},
	}
	for _, c := range cases {
		got, err := ParseLogicTree(c.key, c.value)
		if err != nil {
			t.Errorf("ParseLogicTree(%q, %q): %v", c.key, c.value, err)
			continue
		}
		if !c.check(got) {
			t.Errorf("ParseLogicTree(%q, %q) = %#v", c.key, c.value, got)
		}
	}
}

func TestParseLogicTreeErrors(t *testing.T) {
	cases := [][2]string{
		{"or", "id.eq.1"}, {"or", "(id.eq.1"}, {"or", "(id.eq.1))"}, {"or", "(id.xx.1)"}, {"or", "(id)"},
		{"or", "(and(id.eq.1)"}, {"or", "(,)"}, {"or", ""}, {"xor", "(a.eq.1)"}, {".or", "(a.eq.1)"},
		{"or", "(" + strings.Repeat("and(", 80) + "a.eq.1" + strings.Repeat(")", 81)},
	}
	for _, c := range cases {
		if _, err := ParseLogicTree(c[0], c[1]); err == nil {
			t.Errorf("ParseLogicTree(%q, %q) succeeded", c[0], c[1])
		} else {
			wantParseError(t, c[0]+"="+c[1], err, 0)
		}
	}
}

func TestParseOrder(t *testing.T) {
	cases := []struct {
		in   string
		want []OrderTerm
	}{
		{"id", []OrderTerm{{Field: field("id")}}},
		{"id.desc", []OrderTerm{{Field: field("id"), Desc: true}}},
		{"id.asc.nullsfirst", []OrderTerm{{Field: field("id"), Nulls: NullsFirst}}},
		{"id.desc.nullslast,name", []OrderTerm{{Field: field("id"), Desc: true, Nulls: NullsLast}, {Field: field("name")}}},
		{"id.nullslast", []OrderTerm{{Field: field("id"), Nulls: NullsLast}}},
		{"data->>a.desc", []OrderTerm{{Field: field("data", arrow2("a")), Desc: true}}},
		{"customers(name).desc", []OrderTerm{{Relation: "customers", Field: field("name"), Desc: true}}},
		{" id , name.desc", []OrderTerm{{Field: field("id")}, {Field: field("name"), Desc: true}}},
	}
	for _, c := range cases {
		got, err := ParseOrder(c.in)
		if err != nil {
			t.Errorf("ParseOrder(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseOrder(%q)\n got %#v\nwant %#v", c.in, got, c.want)
		}
	}
	for _, in := range []string{"", "id.up", "id,", "a(b", "id.desc.sideways", ",id"} {
		if _, err := ParseOrder(in); err == nil {
			t.Errorf("ParseOrder(%q) succeeded", in)
		}
	}
}

func TestParseQuery(t *testing.T) {
	q, err := ParseQuery("select=id,orders(id)&id=gt.1&id=lt.9&or=(a.eq.1,b.eq.2)&orders.or=(c.eq.3)&order=id.desc&orders.order=id&limit=5&offset=10&orders.limit=2&orders.offset=1&columns=a,b&on_conflict=email&orders.status=eq.paid", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !q.HasSelect || len(q.Select) != 2 || len(q.Filters) != 3 || len(q.Trees) != 2 {
		t.Fatalf("query %#v", q)
	}
	if q.Limit[""] != 5 || q.Offset[""] != 10 || q.Limit["orders"] != 2 || q.Offset["orders"] != 1 {
		t.Errorf("limits %v offsets %v", q.Limit, q.Offset)
	}
	if len(q.Order[""]) != 1 || len(q.Order["orders"]) != 1 {
		t.Errorf("order %v", q.Order)
	}
	if !reflect.DeepEqual(q.Columns, []string{"a", "b"}) || !reflect.DeepEqual(q.OnConflict, []string{"email"}) {
		t.Errorf("columns %v on_conflict %v", q.Columns, q.OnConflict)
	}
	if !q.hasRootFilters() {
		t.Error("root filters not seen")
	}
	q, _ = ParseQuery("orders.status=eq.paid&orders.or=(a.eq.1)", nil)
	if q.hasRootFilters() {
		t.Error("embedded filters counted as root filters")
	}
	// Percent-encoding and + for space.
	q, err = ParseQuery("name=eq.a%20b&title=eq.c+d&x=in.(%22a%2Cb%22)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Filters[0].Value != "a b" || q.Filters[1].Value != "c d" || q.Filters[2].List[0] != "a,b" {
		t.Errorf("decoded %#v", q.Filters)
	}
	// Arguments are claimed before filters.
	q, err = ParseQuery("n=5&id=eq.1", func(k, _ string) bool { return k == "n" })
	if err != nil || len(q.Args) != 1 || q.Args[0] != (QueryParam{"n", "5"}) || len(q.Filters) != 1 {
		t.Errorf("args %#v filters %#v err %v", q.Args, q.Filters, err)
	}
	for _, bad := range []string{"limit=-1", "limit=x", "offset=1.5", "select=(", "id=zz.1", "order=id.x", "or=(a.eq.1", "name=%zz", "columns=,"} {
		if _, err := ParseQuery(bad, nil); err == nil {
			t.Errorf("ParseQuery(%q) succeeded", bad)
		}
	}
}

func TestLooksLikeFilter(t *testing.T) {
	for v, want := range map[string]bool{"eq.1": true, "not.in.(1)": true, "fts(english).x": true, "5": false, "hello.world": false, "": false, "{1,2}": false} {
		if got := looksLikeFilter(v); got != want {
			t.Errorf("looksLikeFilter(%q) = %v", v, got)
		}
	}
}

func TestParsePrefer(t *testing.T) {
	h := http.Header{}
	h.Add("Prefer", "return=representation, count=exact")
	h.Add("Prefer", "resolution=merge-duplicates,missing=default,tx=rollback,max-affected=5,handling=lenient,bogus=1")
	p, err := ParsePrefer(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Return != "representation" || p.Count != "exact" || p.Resolution != "merge-duplicates" || p.Missing != "default" ||
		p.Tx != "rollback" || !p.HasMax || p.MaxAffected != 5 || p.Handling != "lenient" {
		t.Errorf("prefer %#v", p)
	}
	h = http.Header{"Prefer": {"handling=strict, bogus=1, count=sometimes"}}
	_, err = ParsePrefer(h, nil)
	var he *httpx.Error
	if !errors.As(err, &he) || he.Code != "PGRST122" || he.Status != 400 || !strings.Contains(he.Details.(string), "bogus=1") {
		t.Errorf("strict error %#v", err)
	}
	h = http.Header{"Prefer": {"handling=strict, return=minimal"}}
	if _, err := ParsePrefer(h, nil); err != nil {
		t.Errorf("strict with valid preferences: %v", err)
	}
	// The first preference of a kind wins, across headers too.
	h = http.Header{"Prefer": {"return=headers-only, count=planned", "return=representation, count=exact, max-affected=2, max-affected=9"}}
	if p, err := ParsePrefer(h, nil); err != nil || p.Return != "headers-only" || p.Count != "planned" || p.MaxAffected != 2 {
		t.Errorf("first wins: %#v, %v", p, err)
	}
	// timezone= is valid only when the zone check accepts it.
	zones := func(z string) bool { return z == "Europe/Berlin" }
	h = http.Header{"Prefer": {"timezone=Europe/Berlin, timezone=UTC"}}
	if p, err := ParsePrefer(h, zones); err != nil || p.Timezone != "Europe/Berlin" {
		t.Errorf("timezone: %#v, %v", p, err)
	}
	h = http.Header{"Prefer": {"handling=strict, timezone=Europe/Paris"}}
	if _, err := ParsePrefer(h, zones); err == nil {
		t.Error("an unknown zone with handling=strict is accepted")
	}
	h = http.Header{"Prefer": {"handling=strict, max-affected=x"}}
	if p, err := ParsePrefer(h, zones); err != nil || p.HasMax {
		t.Errorf("a malformed max-affected: %#v, %v", p, err)
	}
}

func TestPreferenceAppliedOrder(t *testing.T) {
	var p Prefer
	for _, s := range []string{"timezone=UTC", "handling=lenient", "tx=commit", "count=exact", "return=minimal", "missing=default", "resolution=merge-duplicates", "max-affected=3"} {
		p.apply(s)
	}
	want := "resolution=merge-duplicates, missing=default, return=minimal, count=exact, tx=commit, handling=lenient, timezone=UTC, max-affected=3"
	if got := p.appliedHeader(); got != want {
		t.Errorf("Preference-Applied = %q, want %q", got, want)
	}
}

func TestParseAccept(t *testing.T) {
	cases := map[string]Accept{
		"":                                  {Media: mediaJSON},
		"*/*":                               {Media: mediaJSON},
		"application/json":                  {Media: mediaJSON},
		"application/vnd.pgrst.object+json": {Media: mediaObject},
		"application/vnd.pgrst.object+json;nulls=stripped": {Media: mediaObject, NullsStrip: true},
		"application/vnd.pgrst.array+json;nulls=stripped":  {Media: mediaJSON, NullsStrip: true},
		"text/csv":                         {Media: mediaCSV},
		"text/html, text/csv;q=0.5":        {Media: mediaCSV},
		"text/csv;q=0.2, application/json": {Media: mediaJSON},
		"application/vnd.pgrst.plan+json; options=analyze|verbose": {Media: mediaPlan, PlanFormat: "json", PlanAnalyze: true, PlanVerbose: true},
		`application/vnd.pgrst.plan; for="text/csv"`:               {Media: mediaPlan, PlanFormat: "text", PlanFor: "text/csv"},
	}
	for in, want := range cases {
		got, err := ParseAccept(http.Header{"Accept": {in}}, "")
		if in == "" {
			got, err = ParseAccept(http.Header{}, "")
		}
		if err != nil {
			t.Errorf("ParseAccept(%q): %v", in, err)
			continue
		}
		if got != want {
			t.Errorf("ParseAccept(%q) = %#v, want %#v", in, got, want)
		}
	}
	for _, in := range []string{"text/xml", "text/plain", "application/octet-stream"} {
		_, err := ParseAccept(http.Header{"Accept": {in}}, "")
		var he *httpx.Error
		if !errors.As(err, &he) || he.Status != 406 || he.Code != "PGRST107" {
			t.Errorf("unsupported media %s: %v", in, err)
		}
	}
	// A function's handler is chosen in the order of the Accept header's
	// qualities, before or after the built-in representations.
	handled := map[string]Accept{
		"image/png":                         {Media: mediaHandler, Handler: "image/png"},
		"image/png, */*":                    {Media: mediaHandler, Handler: "image/png"},
		"text/html, image/png, */*;q=0.8":   {Media: mediaHandler, Handler: "image/png"},
		"application/json, image/png":       {Media: mediaJSON},
		"image/png;q=0.5, application/json": {Media: mediaJSON},
		"":                                  {Media: mediaJSON},
	}
	for in, want := range handled {
		got, err := ParseAccept(http.Header{"Accept": {in}}, "image/png")
		if err != nil || got != want {
			t.Errorf("ParseAccept(%q) with an image/png handler = %#v, %v; want %#v", in, got, err, want)
		}
	}
	// A handler of application/json overrides the built-in JSON, also for
	// */* and no Accept at all; the vendor types stay built in.
	for _, in := range []string{"", "*/*", "application/json"} {
		if got, _ := ParseAccept(http.Header{"Accept": {in}}, "application/json"); got.Handler != "application/json" {
			t.Errorf("ParseAccept(%q) with a JSON handler = %#v", in, got)
		}
	}
	if got, _ := ParseAccept(http.Header{"Accept": {mediaObject}}, mediaObject); got.Media != mediaObject {
		t.Errorf("a handler overrode a vendor type: %#v", got)
	}
	if got, err := ParseAccept(http.Header{"Accept": {"app/bingo"}}, "*/*"); err != nil || got.Handler != "*/*" {
		t.Errorf("the */* handler did not answer app/bingo: %#v, %v", got, err)
	}
}

func TestRangeAndPage(t *testing.T) {
	cases := []struct {
		rng                 string
		offset, limit       int64
		hasOffset, hasLimit bool
		want                Page
	}{
		{"", 0, 0, false, false, Page{Limit: -1}},
		{"0-9", 0, 0, false, false, Page{Offset: 0, Limit: 10}},
		{"5-", 0, 0, false, false, Page{Offset: 5, Limit: -1}},
		{"items=2-3", 0, 0, false, false, Page{Offset: 2, Limit: 2}},
		{"junk", 0, 0, false, false, Page{Limit: -1}},
		{"", 10, 5, true, true, Page{Offset: 10, Limit: 5}},
		{"", 0, 0, false, true, Page{Offset: 0, Limit: 0}},
		{"1-5", 0, 2, false, true, Page{Offset: 1, Limit: 2}},
		{"0-9", 20, 0, true, false, Page{Offset: 20, Limit: 0}},
		{"", 7, 0, true, false, Page{Offset: 7, Limit: -1}},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.rng != "" {
			h.Set("Range", c.rng)
		}
		p, err := ParseRange(h)
		if err != nil {
			t.Fatalf("%q: %v", c.rng, err)
		}
		got := p.intersect(c.offset, c.limit, c.hasOffset, c.hasLimit)
		if got != c.want {
			t.Errorf("range %q offset %d limit %d: %#v, want %#v", c.rng, c.offset, c.limit, got, c.want)
		}
	}
	_, err := ParseRange(http.Header{"Range": {"5-2"}})
	var he *httpx.Error
	if !errors.As(err, &he) || he.Status != 416 || he.Code != "PGRST103" {
		t.Errorf("inverted range: %v", err)
	}
}

func TestDecodeJSONPayload(t *testing.T) {
	p, err := decodeJSONPayload([]byte(`[{"b":1,"a":{"x":[1,{"y":2}]}},{"a":"s,:{}[]\"","b":null},{"b":2,"a\u0041":3}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a", "b"}, {"a", "b"}, {"aA", "b"}}
	if !reflect.DeepEqual(p.keySets, want) || !p.isArray {
		t.Errorf("keySets %v", p.keySets)
	}
	if p.sameKeys() {
		t.Error("different keys reported the same")
	}
	// Objects written alike share a key set; those written otherwise get
	// their own, equal or not.
	p, err = decodeJSONPayload([]byte(`[{"a":1,"b":2},{"a":3,"b":4},{"b":5,"a":6},{"a":7,"a":8},{"a":9},{"\u0061":0},{},{}]`))
	if err != nil {
		t.Fatal(err)
	}
	want = [][]string{{"a", "b"}, {"a", "b"}, {"a", "b"}, {"a"}, {"a"}, {"a"}, {}, {}}
	if !reflect.DeepEqual(p.keySets, want) {
		t.Errorf("keySets %q, want %q", p.keySets, want)
	}
	if &p.keySets[0][0] != &p.keySets[1][0] {
		t.Error("objects written alike did not share their key set")
	}
	p, _ = decodeJSONPayload([]byte(` {"x":1, "y":[{"z":1}]} `))
	if !reflect.DeepEqual(p.keys, []string{"x", "y"}) || p.isArray || len(p.objects) != 1 {
		t.Errorf("object payload %#v", p)
	}
	p, _ = decodeJSONPayload([]byte(`[]`))
	if len(p.keySets) != 0 || p.json != "[]" {
		t.Errorf("empty array %#v", p)
	}
	for _, bad := range []string{``, `   `, `[1,2]`, `["a"]`, `[{"a":1},3]`, `[[]]`, `"x"`, `42`, `{"a":}`, `[{"a":1}`, `{"a":1}x`} {
		_, err := decodeJSONPayload([]byte(bad))
		var he *httpx.Error
		if !errors.As(err, &he) || he.Code != "PGRST102" || he.Status != 400 {
			t.Errorf("payload %q: %v", bad, err)
		}
	}
}
