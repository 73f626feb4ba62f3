package rest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// snapshots is a schema cache source whose snapshot a test replaces, as a
// reload does.
type snapshots struct{ cur atomic.Pointer[schema.Cache] }

func (s *snapshots) Current() *schema.Cache { return s.cur.Load() }

func newSnapshots(c *schema.Cache) *snapshots {
	s := &snapshots{}
	s.cur.Store(c)
	return s
}

// shapeTestCache is testCache with a second exposed schema holding a
// table of the same name, for Accept-Profile.
func shapeTestCache() *schema.Cache {
	c := testCache()
	c.Schemas = []string{"public", "inventory"}
	t := &schema.Table{Schema: "inventory", Name: "customers", Kind: schema.KindTable, PrimaryKey: []string{"id"}, ColumnsByName: map[string]*schema.Column{}}
	for i, n := range []string{"id", "sku"} {
		col := &schema.Column{Name: n, Position: i + 1, Type: "text", TypeName: "text"}
		t.Columns = append(t.Columns, col)
		t.ColumnsByName[n] = col
	}
	c.Tables[t.QualifiedName()] = t
	return c
}

type shapeReq struct {
	method, target string
	headers        []string // name, value, ...
	// raw, when set, replaces the query string of target as it is.
	raw string
}

// prepared is what a read derives from its request before the
// transaction.
type prepared struct {
	sql             string
	args            []any
	page            Page
	count           countMode
	contentLocation string
	err             string
}

// prepareFor runs a request through begin and prepareRead, reporting
// whether the kept statement of its shape served it.
func prepareFor(t *testing.T, h *Handler, sr shapeReq) (prepared, bool) {
	t.Helper()
	r := httptest.NewRequest(sr.method, sr.target, nil)
	if sr.raw != "" {
		r.URL.RawQuery = sr.raw
	}
	for i := 0; i+1 < len(sr.headers); i += 2 {
		r.Header.Add(sr.headers[i], sr.headers[i+1])
	}
	r = r.WithContext(identity.WithIdentity(r.Context(), identity.Identity{Role: "anon"}))
	fam := familyREST
	if strings.HasPrefix(r.URL.Path, "/api/v1/") {
		fam = familyNative
	}
	req, name, err := h.begin(r, fam, lastSegment(r, 0))
	if err != nil {
		return prepared{err: err.Error()}, false
	}
	tbl := req.cache.Table(req.schema, name)
	if tbl == nil {
		t.Fatalf("%s: no table %s.%s", sr.target, req.schema, name)
	}
	hit := false
	if sh := readShape(req, name); sh != nil {
		hit = h.shapes.get(req.cache, sh.key) != nil
	}
	pr, err := h.prepareRead(req, tbl, name)
	if err != nil {
		return prepared{err: err.Error()}, hit
	}
	return prepared{sql: pr.st.SQL, args: pr.st.Args, page: pr.page, count: pr.count, contentLocation: req.contentLocation}, hit
}

func shapeHandler(src CacheSource) *Handler {
	return New(Options{Schema: src, Config: config.RESTConfig{AggregatesEnabled: true, MaxEmbedDepth: 8}})
}

func get(target string, headers ...string) shapeReq {
	return shapeReq{method: http.MethodGet, target: "/rest/v1/" + target, headers: headers}
}

// shapeGroups are requests grouped by shape: within a group only filter
// values differ, so every request after the first reuses the first one's
// statement; any two groups differ in something that changes the
// statement or the response, so the first request of each group is built
// afresh. nocache groups are never kept.
var shapeGroups = []struct {
	name    string
	nocache bool
	reqs    []shapeReq
}{
	{"eq", false, []shapeReq{get("customers?id=eq.1"), get("customers?id=eq.2"), get("customers?id=eq.not.eq.3"),
		get("customers?id=eq.%22quoted%22"), get("customers?id=eq.%C3%A9t%C3%A9%20%E2%9C%93"), get("customers?id=eq.a%26b%3Dc"),
		get("customers?id=eq."), get("customers?id=eq.(1,2)"), get("customers?i%64=eq.4"), get("customers?id=eq.1+2"),
		get("customers?id=eq.in.(1,2)"), get("customers?id=eq.is.null"), get("customers?id=eq.'%3B%20drop%20table%20x%3B--"),
		get("customers?id=eq.$1"), get("customers?id=eq.*")}},
	{"neq", false, []shapeReq{get("customers?id=neq.1"), get("customers?id=neq.eq.1")}},
	{"not eq", false, []shapeReq{get("customers?id=not.eq.1"), get("customers?id=not.eq.5")}},
	{"eq twice", false, []shapeReq{get("customers?id=eq.1&id=eq.2"), get("customers?id=eq.3&id=eq.4")}},
	{"eq on another column", false, []shapeReq{get("customers?name=eq.1"), get("customers?name=eq.a*")}},
	{"like", false, []shapeReq{get("customers?name=like.a*"), get("customers?name=like.*b*"), get("customers?name=like.plain")}},
	{"ilike", false, []shapeReq{get("customers?name=ilike.a*"), get("customers?name=ilike.**")}},
	{"in", false, []shapeReq{get("customers?id=in.(1,2)"), get("customers?id=in.(3,4,5)"), get("customers?id=in.(%22a,b%22,c)"),
		get("customers?id=in.()"), get("customers?id=in.(%22x%5C%22y%22)")}},
	{"not in", false, []shapeReq{get("customers?id=not.in.(1,2)")}},
	{"is null", false, []shapeReq{get("customers?id=is.null"), get("customers?id=is.NULL")}},
	{"is true", false, []shapeReq{get("customers?id=is.true")}},
	{"not is null", false, []shapeReq{get("customers?id=not.is.null")}},
	{"fts english", false, []shapeReq{get("customers?doc=fts(english).cat"), get("customers?doc=fts(english).dog%20%26%20bird")}},
	{"fts french", false, []shapeReq{get("customers?doc=fts(french).cat")}},
	{"plfts", false, []shapeReq{get("customers?doc=plfts.cat"), get("customers?doc=plfts.dog")}},
	{"fts on text", false, []shapeReq{get("customers?bio=fts.cat")}},
	{"like any", false, []shapeReq{get("customers?name=like(any).{a*,b*}"), get("customers?name=like(any).{c*}")}},
	{"like all", false, []shapeReq{get("customers?name=like(all).{a*}")}},
	{"eq any", false, []shapeReq{get("customers?name=eq(any).{a}")}},
	{"select", false, []shapeReq{get("customers?select=id,name&id=eq.1"), get("customers?select=id,name&id=eq.9")}},
	{"select one column", false, []shapeReq{get("customers?select=id&id=eq.1")}},
	{"params in another order", false, []shapeReq{get("customers?id=eq.1&select=id"), get("customers?id=eq.2&select=id")}},
	{"select with a cast", false, []shapeReq{get("customers?select=id::text&id=eq.1")}},
	{"embed filter", false, []shapeReq{get("customers?select=id,orders(id,status)&orders.status=eq.paid"),
		get("customers?select=id,orders(id,status)&orders.status=eq.shipped")}},
	{"embed filter neq", false, []shapeReq{get("customers?select=id,orders(id,status)&orders.status=neq.paid")}},
	{"inner embed", false, []shapeReq{get("customers?select=id,orders!inner(id)&orders.status=eq.paid&id=gt.1"),
		get("customers?select=id,orders!inner(id)&orders.status=eq.new&id=gt.5")}},
	{"embed is null", false, []shapeReq{get("customers?select=id,orders(id)&orders=is.null")}},
	{"embed not is null", false, []shapeReq{get("customers?select=id,orders(id)&orders=not.is.null")}},
	{"order limit offset", false, []shapeReq{get("customers?order=id.desc&limit=10&offset=5&id=gt.1"), get("customers?order=id.desc&limit=10&offset=5&id=gt.7")}},
	{"another limit", false, []shapeReq{get("customers?order=id.desc&limit=11&offset=5&id=gt.1")}},
	{"another offset", false, []shapeReq{get("customers?order=id.desc&limit=10&offset=6&id=gt.1")}},
	{"another order", false, []shapeReq{get("customers?order=id.asc&limit=10&offset=5&id=gt.1")}},
	{"embed limit", false, []shapeReq{get("customers?select=id,orders(id)&orders.limit=2&id=gt.1"), get("customers?select=id,orders(id)&orders.limit=2&id=gt.3")}},
	{"json path text", false, []shapeReq{get("customers?data->>a=eq.1"), get("customers?data->>a=eq.2")}},
	{"json path json", false, []shapeReq{get("customers?data->a=eq.1")}},
	{"json path other key", false, []shapeReq{get("customers?data->>b=eq.1")}},
	{"json path index", false, []shapeReq{get("customers?data->0=eq.1"), get("customers?data->0=eq.7")}},
	{"or", false, []shapeReq{get("customers?or=(id.eq.1,id.eq.2)"), get("customers?or=(id.eq.1,id.eq.2)")}},
	{"or with other values", false, []shapeReq{get("customers?or=(id.eq.1,id.eq.3)")}},
	{"range", false, []shapeReq{get("customers?id=gt.1", "Range", "0-9"), get("customers?id=gt.2", "Range", "0-9")}},
	{"another range", false, []shapeReq{get("customers?id=gt.1", "Range", "0-19")}},
	{"object", false, []shapeReq{get("customers?id=eq.1", "Accept", "application/vnd.pgrst.object+json"), get("customers?id=eq.2", "Accept", "application/vnd.pgrst.object+json")}},
	{"csv", false, []shapeReq{get("customers?id=eq.1", "Accept", "text/csv")}},
	{"nulls stripped", false, []shapeReq{get("customers?id=eq.1", "Accept", "application/vnd.pgrst.array+json;nulls=stripped")}},
	{"exact count", false, []shapeReq{get("customers?id=eq.1", "Prefer", "count=exact"), get("customers?id=eq.2", "Prefer", "count=exact")}},
	{"planned count", true, []shapeReq{get("customers?id=eq.1", "Prefer", "count=planned"), get("customers?id=eq.2", "Prefer", "count=planned")}},
	{"head", false, []shapeReq{{method: http.MethodHead, target: "/rest/v1/customers?id=eq.1"}, {method: http.MethodHead, target: "/rest/v1/customers?id=eq.2"}}},
	{"profile", false, []shapeReq{get("customers?id=eq.1", "Accept-Profile", "inventory"), get("customers?id=eq.2", "Accept-Profile", "inventory")}},
	{"other table", false, []shapeReq{get("orders?id=eq.1"), get("orders?id=eq.2")}},
	{"native", false, []shapeReq{{method: http.MethodGet, target: "/api/v1/tables/customers?id=eq.1"}, {method: http.MethodGet, target: "/api/v1/tables/customers?id=eq.2"},
		{method: http.MethodGet, target: "/api/v1/tables/custom%65rs?id=eq.3"}}},
	{"unknown column", true, []shapeReq{get("customers?nope=eq.1"), get("customers?nope=eq.2")}},
	{"bad select", true, []shapeReq{get("customers?select=id,&id=eq.1"), get("customers?select=id,&id=eq.2")}},
	{"bad operator", true, []shapeReq{get("customers?id=xx.1"), get("customers?id=xx.2")}},
	{"bad escape", true, []shapeReq{get("customers?id=eq.%zz"), get("customers?id=eq.%zz")}},
	{"bad range", true, []shapeReq{get("customers?id=eq.1", "Range", "9-1"), get("customers?id=eq.2", "Range", "9-1")}},
	{"plan error", true, []shapeReq{get("customers?select=id,nope(id)&id=eq.1"), get("customers?select=id,nope(id)&id=eq.2")}},
}

// TestShapeCache runs every request of shapeGroups, in turn, through one
// handler (which keeps statements) and through a handler of its own (which
// builds everything afresh): both must derive the same statement, bind
// values, page, count and Content-Location, and the shared handler must
// reuse a statement exactly when the shape was seen before.
func TestShapeCache(t *testing.T) {
	src := newSnapshots(shapeTestCache())
	shared := shapeHandler(src)
	hits := 0
	for _, g := range shapeGroups {
		for i, sr := range g.reqs {
			got, hit := prepareFor(t, shared, sr)
			want, _ := prepareFor(t, shapeHandler(src), sr)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s %s (request %d of the group)\n got %#v\nwant %#v", g.name, sr.method, sr.target, i, got, want)
			}
			if wantHit := i > 0 && !g.nocache; hit != wantHit {
				t.Errorf("%s: %s %s: reused a statement: %v, want %v", g.name, sr.method, sr.target, hit, wantHit)
			}
			if hit {
				hits++
			}
		}
	}
	if hits < 40 {
		t.Errorf("only %d requests reused a statement", hits)
	}
}

// TestShapeCacheValues checks the bound values themselves, not only that
// they agree with a fresh build.
func TestShapeCacheValues(t *testing.T) {
	src := newSnapshots(shapeTestCache())
	h := shapeHandler(src)
	prepareFor(t, h, get("customers?select=id&name=like.x*&id=in.(1,2)&doc=fts(english).a&id=eq.0"))
	got, hit := prepareFor(t, h, get("customers?select=id&name=like.%22a*b%22%2C%C3%A9&id=in.(%22q,r%22,s)&doc=fts(english).not.eq.1&id=eq.%27%29%3B--"))
	if !hit {
		t.Fatal("the second request built its statement again")
	}
	want := []any{`"a%b",é`, `{"q,r","s"}`, "english", "not.eq.1", "');--"}
	if !reflect.DeepEqual(got.args, want) {
		t.Errorf("args %#v, want %#v", got.args, want)
	}
	if wantLoc := "/customers?doc=fts%28english%29.not.eq.1&id=in.%28%22q%2Cr%22%2Cs%29,eq.%27%29%3B--&name=like.%22a%2Ab%22%2C%C3%A9&select=id"; got.contentLocation != wantLoc {
		t.Errorf("Content-Location %s, want %s", got.contentLocation, wantLoc)
	}
	for _, v := range []string{"a%b", "q,r", "not.eq", "');--", "é"} {
		if strings.Contains(got.sql, v) {
			t.Errorf("the statement holds the value %q: %s", v, got.sql)
		}
	}
	// The kept entry holds no value of the request that built it.
	for _, e := range h.shapes.entries {
		for _, b := range e.binds {
			if e.args[b.arg] != nil {
				t.Errorf("entry keeps the value %#v", e.args[b.arg])
			}
		}
	}
}

// TestShapeCacheReload: a new schema cache snapshot invalidates every kept
// statement, and a request that began on an older snapshot neither uses
// nor keeps one.
func TestShapeCacheReload(t *testing.T) {
	old := shapeTestCache()
	src := newSnapshots(old)
	h := shapeHandler(src)
	first, _ := prepareFor(t, h, get("customers?id=eq.1"))
	if _, hit := prepareFor(t, h, get("customers?id=eq.2")); !hit {
		t.Fatal("the statement was not kept")
	}
	if strings.Contains(first.sql, `"extra"`) {
		t.Fatal("the old snapshot has no column extra")
	}
	reloaded := shapeTestCache()
	tbl := reloaded.Table("public", "customers")
	col := &schema.Column{Name: "extra", Position: len(tbl.Columns) + 1, Type: "text", TypeName: "text"}
	tbl.Columns = append(tbl.Columns, col)
	tbl.ColumnsByName["extra"] = col
	src.cur.Store(reloaded)
	got, hit := prepareFor(t, h, get("customers?id=eq.3"))
	if hit || !strings.Contains(got.sql, `"extra"`) {
		t.Fatalf("after the reload: reused %v, statement %s", hit, got.sql)
	}
	if _, hit := prepareFor(t, h, get("customers?id=eq.4")); !hit {
		t.Fatal("the new snapshot's statement was not kept")
	}

	// A request that began before the reload.
	r := httptest.NewRequest(http.MethodGet, "/rest/v1/customers?id=eq.5", nil)
	req := &request{r: r, cache: old, schema: "public", timing: newTiming(), accept: Accept{Media: mediaJSON}}
	pr, err := h.prepareRead(req, old.Table("public", "customers"), "customers")
	if err != nil || strings.Contains(pr.st.SQL, `"extra"`) {
		t.Fatalf("old snapshot: %v %s", err, pr.st.SQL)
	}
	if h.shapes.snap != reloaded {
		t.Fatal("a request on an old snapshot replaced the kept statements")
	}
	got, hit = prepareFor(t, h, get("customers?id=eq.6"))
	if !hit || !strings.Contains(got.sql, `"extra"`) {
		t.Fatalf("reused %v, statement %s", hit, got.sql)
	}
}

// TestShapeCacheBounded: the number of kept statements stays bounded.
func TestShapeCacheBounded(t *testing.T) {
	h := shapeHandler(newSnapshots(shapeTestCache()))
	for i := 0; i < shapeCacheSize+50; i++ {
		prepareFor(t, h, get(fmt.Sprintf("customers?id=eq.1&limit=%d", i)))
	}
	if n := len(h.shapes.entries); n > shapeCacheSize || n < shapeCacheSize/2 {
		t.Fatalf("%d entries kept, bound %d", n, shapeCacheSize)
	}

	// Long query strings: the bytes kept stay bounded too.
	h = shapeHandler(newSnapshots(shapeTestCache()))
	long := strings.Repeat("id,", 1000)
	for i := 0; i < 500; i++ {
		prepareFor(t, h, get(fmt.Sprintf("customers?select=%sname&id=eq.1&limit=%d", long, i)))
	}
	total := 0
	for k, e := range h.shapes.entries {
		total += e.size
		if e.size < len(k)+len(e.sql) {
			t.Fatalf("entry size %d below its key and statement (%d)", e.size, len(k)+len(e.sql))
		}
	}
	if total != h.shapes.bytes || total > shapeCacheMaxBytes || len(h.shapes.entries) < 10 {
		t.Fatalf("%d entries of %d bytes (counted %d), bound %d", len(h.shapes.entries), total, h.shapes.bytes, shapeCacheMaxBytes)
	}
	// A shape bigger than one entry may be is never kept.
	huge := get("customers?select=" + strings.Repeat("name,", 8000) + "id&id=eq.1")
	prepareFor(t, h, huge)
	if _, hit := prepareFor(t, h, huge); hit {
		t.Fatal("a huge shape was kept")
	}
}

// TestShapeCacheConcurrent: requests of the same and of other shapes at
// the same time each get their own values.
func TestShapeCacheConcurrent(t *testing.T) {
	src := newSnapshots(shapeTestCache())
	h := shapeHandler(src)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				sr := get(fmt.Sprintf("customers?select=id,orders(id)&orders.status=eq.s%d&id=gt.%d&limit=%d", i, g, i%3))
				got, _ := prepareFor(t, h, sr)
				want, _ := prepareFor(t, shapeHandler(src), sr)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\n got %#v\nwant %#v", sr.target, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzShapeCache: a query string with filters whose values the fuzzer
// picks, run with two sets of values through one handler, must derive
// exactly what a handler building everything afresh derives.
func FuzzShapeCache(f *testing.F) {
	for _, s := range querySeeds {
		f.Add(s, "1", "2")
	}
	f.Add("select=id,orders(id)", "eq.1", "not.in.(1,2)")
	f.Add("order=id&limit=3", `"a,b"`, "é*%")
	f.Add("", ")", "(")
	src := newSnapshots(shapeTestCache())
	f.Fuzz(func(t *testing.T, raw, v1, v2 string) {
		h := shapeHandler(src)
		for _, v := range []string{v1, v2, v1} {
			e := url.QueryEscape(v)
			q := "id=eq." + e + "&name=like." + e + "&bio=not.ilike(any)." + e + "&id=in.(" + e + ")&doc=fts(english)." + e
			if raw != "" {
				q = raw + "&" + q
			}
			sr := shapeReq{method: http.MethodGet, target: "/rest/v1/customers", raw: q}
			got, _ := prepareFor(t, h, sr)
			want, _ := prepareFor(t, shapeHandler(src), sr)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s:\n got %#v\nwant %#v", q, got, want)
			}
		}
	})
}
