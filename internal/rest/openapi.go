package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/openapi"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// OpenAPI describes the REST API of the exposed schemas: it contributes
// the generic routes and one path per table, view and function to the
// merged document (/openapi.json), and renders the PostgREST root document
// of one schema (GET /rest/v1/). Both follow the current schema cache, so a
// reload shows up in the next document served, and both follow the
// caller's privileges as PostgREST's default openapi-mode does: a relation
// or function appears, with the methods the role may use, only when the
// role has a privilege on it (so anon cannot list tables it cannot touch).
type OpenAPI struct {
	current func() *schema.Cache
	catalog CatalogQuerier
	memo    openapi.Memo
}

// CatalogQuerier runs the privilege lookup (a *pgxpool.Pool of the admin
// connection does).
type CatalogQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// NewOpenAPI describes the API of the schema snapshots current returns
// (schema.Service.Current). With catalog nil, privileges are not looked up
// and every relation and function is described.
func NewOpenAPI(current func() *schema.Cache, catalog CatalogQuerier) *OpenAPI {
	return &OpenAPI{current: current, catalog: catalog}
}

// Revision is the schema snapshot: a reload replaces it. GRANT and REVOKE
// are DDL, so they reload it too.
func (o *OpenAPI) Revision() any { return o.current() }

// ContributeOpenAPI adds the REST routes to the merged document: the
// generic templates, then, for the default schema, /rest/v1/{name} and
// /rest/v1/rpc/{name}, and for every exposed schema the native
// /api/v1/tables/... and /api/v1/rpc/... paths (schema-qualified outside the
// default schema, as the native routes accept).
func (o *OpenAPI) ContributeOpenAPI(ctx context.Context, doc *openapi.Document, aud openapi.Audience) error {
	c := o.current()
	g := oaNewGen(c, doc)
	g.generic()
	if c == nil {
		return nil
	}
	grants, err := o.grants(ctx, c, aud.Role)
	if err != nil {
		return err
	}
	g.grants = grants
	def := c.DefaultSchema()
	for _, qn := range c.TableNames() {
		t := c.Tables[qn]
		if !grants.anyTable(t) {
			continue
		}
		g.tableSchemas(t)
		if qn.Schema == def {
			g.tablePaths("/rest/v1/"+oaPathName(t.Name), t, oaREST, "")
		}
		native := t.Name
		if qn.Schema != def {
			native = t.Schema + "." + t.Name
		}
		g.tablePaths("/api/v1/tables/"+oaPathName(native), t, oaNative, "")
		if len(t.PrimaryKey) > 0 {
			g.byKeyPaths("/api/v1/tables/"+oaPathName(native)+"/{id}", t)
		}
	}
	for _, qn := range c.FunctionNames() {
		fns := grants.functions(c.FunctionsByName[qn])
		if len(fns) == 0 {
			continue
		}
		g.functionSchemas(qn, fns)
		if qn.Schema == def {
			g.functionPaths("/rest/v1/rpc/"+oaPathName(qn.Name), qn, fns, oaREST, "")
		}
		native := qn.Name
		if qn.Schema != def {
			native = qn.Schema + "." + qn.Name
		}
		g.functionPaths("/api/v1/rpc/"+oaPathName(native), qn, fns, oaNative, "")
	}
	return nil
}

// oaUnknownProfile is PostgREST's answer to a profile header naming a schema
// that is not exposed.
func oaUnknownProfile(schemas []string) *httpx.Error {
	return httpx.NewError(http.StatusNotAcceptable, "PGRST106",
		"The schema must be one of the following: "+strings.Join(schemas, ", "))
}

// Profile renders the PostgREST root document of one exposed schema (""
// for the default one) for a role: paths relative to /rest/v1 for the
// schema's tables, views and functions only. Renderings are cached per
// schema snapshot, schema and role.
func (o *OpenAPI) Profile(ctx context.Context, profile, role string) (*openapi.Rendered, error) {
	c := o.current()
	if profile == "" {
		profile = c.DefaultSchema()
	}
	if !c.Exposed(profile) {
		var schemas []string
		if c != nil {
			schemas = c.Schemas
		}
		return nil, oaUnknownProfile(schemas)
	}
	return o.memo.Get(c, profile+"\x00"+role, func() (*openapi.Document, error) {
		grants, err := o.grants(ctx, c, role)
		if err != nil {
			return nil, err
		}
		return oaProfileDocument(c, profile, grants), nil
	})
}

func oaProfileDocument(c *schema.Cache, profile string, grants *oaGrants) *openapi.Document {
	doc := &openapi.Document{
		OpenAPI: openapi.Version,
		Info: openapi.Info{
			Title: "Fluxbase REST API: schema " + profile,
			Description: "The tables, views and functions of the schema " + profile +
				", in PostgREST's grammar. Every error is a JSON object {code, message, details, hint}.",
			Version: "12",
		},
		Servers:    []openapi.Server{{URL: "/rest/v1"}},
		Paths:      map[string]*openapi.PathItem{},
		Components: &openapi.Components{},
	}
	g := oaNewGen(c, doc)
	g.grants = grants
	g.commonComponents()
	doc.Paths["/"] = &openapi.PathItem{Get: &openapi.Operation{
		Tags:        []string{"Introspection"},
		Summary:     "OpenAPI description (this document)",
		OperationID: "getOpenAPI",
		Responses: map[string]*openapi.Response{"200": {Description: "This document.",
			Content: map[string]*openapi.MediaType{"application/openapi+json": {Schema: &openapi.Schema{Type: "object"}}}}},
	}}
	header := ""
	if profile != c.DefaultSchema() {
		header = profile
	}
	for _, qn := range c.TableNames() {
		t := c.Tables[qn]
		if qn.Schema != profile || !grants.anyTable(t) {
			continue
		}
		g.tableSchemas(t)
		g.tablePaths("/"+oaPathName(t.Name), t, oaREST, header)
	}
	for _, qn := range c.FunctionNames() {
		fns := grants.functions(c.FunctionsByName[qn])
		if qn.Schema != profile || len(fns) == 0 {
			continue
		}
		g.functionSchemas(qn, fns)
		g.functionPaths("/rpc/"+oaPathName(qn.Name), qn, fns, oaREST, header)
	}
	return doc
}

// oaGrants records what one role may do with the relations and functions
// of a snapshot; nil means everything.
type oaGrants struct {
	tables     map[uint32]oaTableGrant
	executable map[uint32]bool
}

type oaTableGrant struct{ sel, ins, upd, del bool }

// oaGrantsSQL asks PostgreSQL which privileges the role holds, counting
// those it inherits, and USAGE on the schema (without which nothing in it
// can be reached).
const oaGrantsSQL = `
select 'r', o.oid,
       coalesce(has_table_privilege($1, o.oid, 'SELECT'), false),
       coalesce(has_table_privilege($1, o.oid, 'INSERT'), false),
       coalesce(has_table_privilege($1, o.oid, 'UPDATE'), false),
       coalesce(has_table_privilege($1, o.oid, 'DELETE'), false)
  from unnest($2::oid[]) as o(oid)
  join pg_class c on c.oid = o.oid
 where has_schema_privilege($1, c.relnamespace, 'USAGE')
union all
select 'f', o.oid, coalesce(has_function_privilege($1, o.oid, 'EXECUTE'), false), false, false, false
  from unnest($3::oid[]) as o(oid)
  join pg_proc p on p.oid = o.oid
 where has_schema_privilege($1, p.pronamespace, 'USAGE')`

// grants looks up role's privileges on the snapshot's objects; an empty
// role, or no catalog, means everything.
func (o *OpenAPI) grants(ctx context.Context, c *schema.Cache, role string) (*oaGrants, error) {
	if o.catalog == nil || role == "" || c == nil {
		return nil, nil
	}
	tables := make([]uint32, 0, len(c.Tables))
	for _, t := range c.Tables {
		tables = append(tables, t.OID)
	}
	var fns []uint32
	for _, overloads := range c.FunctionsByName {
		for _, f := range overloads {
			fns = append(fns, f.OID)
		}
	}
	rows, err := o.catalog.Query(ctx, oaGrantsSQL, role, tables, fns)
	if err != nil {
		return nil, oaGrantsError(err)
	}
	defer rows.Close()
	g := &oaGrants{tables: map[uint32]oaTableGrant{}, executable: map[uint32]bool{}}
	for rows.Next() {
		var kind string
		var oid uint32
		var a, b, cc, d bool
		if err := rows.Scan(&kind, &oid, &a, &b, &cc, &d); err != nil {
			return nil, oaGrantsError(err)
		}
		if kind == "r" {
			g.tables[oid] = oaTableGrant{sel: a, ins: b, upd: cc, del: d}
		} else if a {
			g.executable[oid] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, oaGrantsError(err)
	}
	return g, nil
}

// oaGrantsError explains a failed lookup; a token naming a role that does
// not exist is the caller's problem, as it is for every other request.
func oaGrantsError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42704" {
		return httpx.NewError(http.StatusUnauthorized, "PGRST301", "the role of the token does not exist").WithDetails(pgErr.Message)
	}
	return fmt.Errorf("openapi: reading privileges: %w", err)
}

func (g *oaGrants) table(t *schema.Table) oaTableGrant {
	if g == nil {
		return oaTableGrant{true, true, true, true}
	}
	return g.tables[t.OID]
}

func (g *oaGrants) anyTable(t *schema.Table) bool {
	tg := g.table(t)
	return tg.sel || tg.ins || tg.upd || tg.del
}

// functions keeps the overloads the role may execute.
func (g *oaGrants) functions(fns []*schema.Function) []*schema.Function {
	if g == nil {
		return fns
	}
	var out []*schema.Function
	for _, f := range fns {
		if g.executable[f.OID] {
			out = append(out, f)
		}
	}
	return out
}

// oaFamily distinguishes the two route families in operation ids.
type oaFamily string

const (
	oaREST   oaFamily = "rest"
	oaNative oaFamily = "native"
)

// oaGen writes one document. Component keys are dot-joined, with each
// database name escaped by openapi.ComponentName (which never yields a dot),
// so keys of different kinds never collide:
//
//	schemas:       {schema}.{table}, patch.{schema}.{table},
//	               args.{schema}.{function}, result.{schema}.{function}
//	parameters:    rest.{name} (shared), filter.{schema}.{table}.{column}
//	responses:     rest.{name} (shared), rows.{schema}.{table},
//	               partial.{schema}.{table}, written.{schema}.{table}
type oaGen struct {
	c      *schema.Cache
	doc    *openapi.Document
	grants *oaGrants
}

func oaNewGen(c *schema.Cache, doc *openapi.Document) *oaGen {
	if doc.Paths == nil {
		doc.Paths = map[string]*openapi.PathItem{}
	}
	if doc.Components == nil {
		doc.Components = &openapi.Components{}
	}
	cm := doc.Components
	if cm.Schemas == nil {
		cm.Schemas = map[string]*openapi.Schema{}
	}
	if cm.Parameters == nil {
		cm.Parameters = map[string]*openapi.Parameter{}
	}
	if cm.Responses == nil {
		cm.Responses = map[string]*openapi.Response{}
	}
	return &oaGen{c: c, doc: doc}
}

func oaRowKey(qn schema.QualifiedName) string {
	return openapi.ComponentName(qn.Schema) + "." + openapi.ComponentName(qn.Name)
}

// oaPathName escapes a database name for use as one path segment of an
// OpenAPI path (where braces would read as a template).
func oaPathName(name string) string { return url.PathEscape(name) }

func oaBoolPtr(b bool) *bool { return &b }

// commonComponents defines the parameters and responses every REST
// operation shares.
func (g *oaGen) commonComponents() {
	p := g.doc.Components.Parameters
	if _, done := p["rest.select"]; done {
		return
	}
	q := func(name, desc string, s *openapi.Schema, example any) *openapi.Parameter {
		return &openapi.Parameter{Name: name, In: "query", Description: desc, Schema: s, Example: example}
	}
	str := func() *openapi.Schema { return &openapi.Schema{Type: "string"} }
	p["rest.select"] = q("select", "Columns to return, with aliases (alias:col), casts (col::text), JSON paths (col->a->>b), embedded resources (rel(*), rel!hint!inner(...), ...spread(...)), computed fields and aggregates (count(), col.sum()).", str(), "*")
	p["rest.order"] = q("order", "Ordering: comma-separated col[.asc|.desc][.nullsfirst|.nullslast], JSON paths and embedded to-one columns (rel(col)) included.", str(), "id.desc")
	p["rest.limit"] = q("limit", "Maximum number of rows (the server caps it at rest.max_rows).", &openapi.Schema{Type: "integer", Minimum: oaFloatPtr(0)}, nil)
	p["rest.offset"] = q("offset", "Number of rows to skip.", &openapi.Schema{Type: "integer", Minimum: oaFloatPtr(0)}, nil)
	p["rest.or"] = q("or", "Rows matching any of the conditions: or=(col.op.value,and(col.op.value,...),...).", str(), "(status.eq.paid,total.gt.100)")
	p["rest.and"] = q("and", "Rows matching all of the conditions: and=(col.op.value,or(...),...).", str(), nil)
	p["rest.columns"] = q("columns", "Which keys of the JSON body to insert or update (others are ignored); with Prefer: missing=default, absent keys take the column default.", str(), nil)
	p["rest.on_conflict"] = q("on_conflict", "The unique columns an upsert (Prefer: resolution=...) resolves conflicts on; the primary key by default.", str(), nil)
	p["rest.range"] = &openapi.Parameter{Name: "Range", In: "header", Description: "Rows to return, as first-last (0-based, inclusive), e.g. 0-24.", Schema: str(), Example: "0-24"}
	p["rest.rangeUnit"] = &openapi.Parameter{Name: "Range-Unit", In: "header", Description: "The unit of Range.", Schema: &openapi.Schema{Type: "string", Enum: []any{"items"}, Default: "items"}}
	prefer := func(desc string, values ...string) *openapi.Parameter {
		return &openapi.Parameter{Name: "Prefer", In: "header", Description: desc + " Several preferences are separated by commas.",
			Schema: &openapi.Schema{Type: "string", Example: strings.Join(values, ", ")}}
	}
	const tz = " timezone=<a name of pg_timezone_names>: run the request in that time zone (timestamps are read and rendered in it)."
	const applied = " The preferences honoured are listed in the Preference-Applied response header; the first preference of a kind wins."
	p["rest.preferGet"] = prefer("count=exact|planned|estimated: also count the matching rows (reported in Content-Range); handling=strict|lenient;"+tz+applied, "count=exact")
	p["rest.preferPost"] = prefer("return=minimal|headers-only|representation; resolution=merge-duplicates|ignore-duplicates (upsert); missing=default|null; count=exact|planned|estimated; tx=commit|rollback; handling=strict|lenient;"+tz+applied, "return=representation", "resolution=merge-duplicates")
	p["rest.preferPatch"] = prefer("return=minimal|headers-only|representation; max-affected=N (with handling=strict); count=exact|planned|estimated; tx=commit|rollback; handling=strict|lenient;"+tz+applied, "return=representation")
	p["rest.preferPut"] = prefer("return=minimal|headers-only|representation; tx=commit|rollback; handling=strict|lenient;"+tz+applied, "return=representation")
	p["rest.preferDelete"] = prefer("return=minimal|headers-only|representation; max-affected=N (with handling=strict); count=exact|planned|estimated; tx=commit|rollback; handling=strict|lenient;"+tz+applied, "return=representation")
	p["rest.preferRpc"] = prefer("count=exact|planned|estimated; tx=commit|rollback; handling=strict|lenient; params=single-object (pass the whole body as one json argument);"+tz+applied, "count=exact")
	if g.doc.Components.Headers == nil {
		g.doc.Components.Headers = map[string]*openapi.Header{}
	}
	g.doc.Components.Headers["rest.contentLocation"] = &openapi.Header{
		Description: "Where this representation lives: the relation's path and the query string in canonical form (parameters sorted by name, repeated names joined with commas, percent-encoded), as PostgREST writes it.",
		Schema:      &openapi.Schema{Type: "string"}, Example: "/products?id=eq.1&select=id%2Cname"}

	r := g.doc.Components.Responses
	errBody := map[string]*openapi.MediaType{"application/json": {Schema: oaRestErrorSchema()}}
	r["rest.error"] = &openapi.Response{Description: "An error: {code, message, details, hint}. Codes are PostgREST's (PGRSTnnn) or PostgreSQL's SQLSTATE; see docs/rest.md for the statuses.", Content: errBody}
	r["rest.noContent"] = &openapi.Response{Description: "Done; nothing returned (Prefer: return=minimal, or a void function)."}
	r["rest.notModified"] = &openapi.Response{Description: "The representation matches If-None-Match."}
}

func oaFloatPtr(f float64) *float64 { return &f }

func oaRestErrorSchema() *openapi.Schema {
	return &openapi.Schema{
		Type:     "object",
		Required: []string{"code", "message", "details", "hint"},
		Properties: map[string]*openapi.Schema{
			"code":    {Type: "string", Description: "PGRSTnnn or a SQLSTATE."},
			"message": {Type: "string"},
			"details": {Type: "string", Nullable: true},
			"hint":    {Type: "string", Nullable: true},
		},
	}
}

// generic adds the templated routes the router serves, described for any
// relation or function: a client may call a table created after it read
// this document.
func (g *oaGen) generic() {
	g.commonComponents()
	p := g.doc.Paths
	tableParam := &openapi.Parameter{Name: "table", In: "path", Required: true, Schema: &openapi.Schema{Type: "string"},
		Description: "A table, view or materialized view of an exposed schema."}
	nativeTableParam := &openapi.Parameter{Name: "table", In: "path", Required: true, Schema: &openapi.Schema{Type: "string"},
		Description: "A table, view or materialized view; {schema}.{table} outside the default schema (or name the schema with Accept-Profile / Content-Profile)."}
	fnParam := &openapi.Parameter{Name: "function", In: "path", Required: true, Schema: &openapi.Schema{Type: "string"},
		Description: "A function of an exposed schema."}
	nativeFnParam := &openapi.Parameter{Name: "function", In: "path", Required: true, Schema: &openapi.Schema{Type: "string"},
		Description: "A function; {schema}.{function} outside the default schema."}
	idParam := &openapi.Parameter{Name: "id", In: "path", Required: true, Schema: &openapi.Schema{Type: "string"},
		Description: "The primary key value. For a composite key, the values in key order separated by commas, each percent-encoded (a comma inside a value is %2C)."}
	anyRows := &openapi.Schema{Type: "array", Items: &openapi.Schema{Type: "object"}}
	anyBody := &openapi.RequestBody{Required: true, Content: map[string]*openapi.MediaType{
		"application/json": {Schema: &openapi.Schema{OneOf: []*openapi.Schema{{Type: "object"}, anyRows}}},
		"text/csv":         {Schema: &openapi.Schema{Type: "string"}},
	}}
	readParams := g.readParams(nil)
	rowsResp := func(desc string) map[string]*openapi.Response {
		return oaWithErrors(map[string]*openapi.Response{
			"200": {Description: desc, Content: oaRowContent(anyRows, &openapi.Schema{Type: "object"}), Headers: oaReadHeaders()},
			"206": {Description: "A part of the rows (Range / limit), with Content-Range.", Content: oaRowContent(anyRows, nil), Headers: oaReadHeaders()},
			"304": openapi.ResponseRef("rest.notModified"),
		})
	}
	writeResp := func(ok string) map[string]*openapi.Response {
		return oaWithErrors(map[string]*openapi.Response{
			ok:    {Description: "Done; with Prefer: return=representation, the affected rows.", Content: oaRowContent(anyRows, &openapi.Schema{Type: "object"})},
			"204": openapi.ResponseRef("rest.noContent"),
		})
	}
	generic := func(op *openapi.Operation, tag string, param *openapi.Parameter) *openapi.Operation {
		op.Tags = []string{tag}
		op.Parameters = append([]*openapi.Parameter{param}, op.Parameters...)
		return op
	}
	tableItem := func(param *openapi.Parameter, fam oaFamily, tag string) *openapi.PathItem {
		return &openapi.PathItem{
			Get:    generic(&openapi.Operation{OperationID: "get." + string(fam) + ".table", Summary: "Read rows", Parameters: readParams, Responses: rowsResp("The rows.")}, tag, param),
			Head:   generic(&openapi.Operation{OperationID: "head." + string(fam) + ".table", Summary: "Count rows (headers only)", Parameters: readParams, Responses: oaWithErrors(map[string]*openapi.Response{"200": {Description: "Headers only.", Headers: oaReadHeaders()}})}, tag, param),
			Post:   generic(&openapi.Operation{OperationID: "post." + string(fam) + ".table", Summary: "Insert or upsert rows", Parameters: oaRefs("rest.select", "rest.columns", "rest.on_conflict", "rest.preferPost"), RequestBody: anyBody, Responses: writeResp("201")}, tag, param),
			Patch:  generic(&openapi.Operation{OperationID: "patch." + string(fam) + ".table", Summary: "Update the rows matching the filters (a filter is required)", Parameters: oaRefs("rest.select", "rest.columns", "rest.order", "rest.limit", "rest.or", "rest.and", "rest.preferPatch"), RequestBody: anyBody, Responses: writeResp("200")}, tag, param),
			Put:    generic(&openapi.Operation{OperationID: "put." + string(fam) + ".table", Summary: "Insert or replace one row identified by eq filters on the whole primary key", Parameters: oaRefs("rest.select", "rest.columns", "rest.preferPut"), RequestBody: anyBody, Responses: writeResp("200")}, tag, param),
			Delete: generic(&openapi.Operation{OperationID: "delete." + string(fam) + ".table", Summary: "Delete the rows matching the filters (a filter is required)", Parameters: oaRefs("rest.select", "rest.order", "rest.limit", "rest.or", "rest.and", "rest.preferDelete"), Responses: writeResp("200")}, tag, param),
		}
	}
	rpcParams := oaRefs("rest.select", "rest.order", "rest.limit", "rest.offset", "rest.or", "rest.and", "rest.range", "rest.preferRpc")
	rpcItem := func(param *openapi.Parameter, fam oaFamily, tag string) *openapi.PathItem {
		resp := oaWithErrors(map[string]*openapi.Response{
			"200": {Description: "The function's result.", Content: map[string]*openapi.MediaType{"application/json": {Schema: &openapi.Schema{}}, "text/csv": {Schema: &openapi.Schema{Type: "string"}}}},
			"204": openapi.ResponseRef("rest.noContent"),
		})
		args := &openapi.RequestBody{Content: map[string]*openapi.MediaType{"application/json": {Schema: &openapi.Schema{Type: "object"}}}}
		// PUT, PATCH and DELETE are routed so that they answer PostgREST's
		// error rather than a bare 405.
		refused := func(method string) *openapi.Operation {
			return generic(&openapi.Operation{OperationID: method + "." + string(fam) + ".rpc", Deprecated: true,
				Summary: "Not allowed: functions are called with GET or POST",
				Responses: oaWithErrors(map[string]*openapi.Response{
					"405": {Description: "PGRST101: only GET and POST call functions.", Content: map[string]*openapi.MediaType{"application/json": {Schema: oaRestErrorSchema()}}},
				})}, tag, param)
		}
		return &openapi.PathItem{
			Put:    refused("put"),
			Patch:  refused("patch"),
			Delete: refused("delete"),
			Get:    generic(&openapi.Operation{OperationID: "get." + string(fam) + ".rpc", Summary: "Call a stable or immutable function (arguments in the query string)", Parameters: rpcParams, Responses: resp}, tag, param),
			Head:   generic(&openapi.Operation{OperationID: "head." + string(fam) + ".rpc", Summary: "Call a stable or immutable function, headers only", Parameters: rpcParams, Responses: oaWithErrors(map[string]*openapi.Response{"200": {Description: "Headers only."}})}, tag, param),
			Post:   generic(&openapi.Operation{OperationID: "post." + string(fam) + ".rpc", Summary: "Call a function (named arguments in a JSON object, or the whole body for a single unnamed json/jsonb parameter)", Parameters: rpcParams, RequestBody: args, Responses: resp}, tag, param),
		}
	}
	p["/rest/v1/{table}"] = tableItem(tableParam, oaREST, "REST (any table)")
	p["/rest/v1/rpc/{function}"] = rpcItem(fnParam, oaREST, "REST (any table)")
	p["/api/v1/tables/{table}"] = tableItem(nativeTableParam, oaNative, "Tables (any table)")
	p["/api/v1/rpc/{function}"] = rpcItem(nativeFnParam, oaNative, "Tables (any table)")
	byID := tableItem(nativeTableParam, "native.id", "Tables (any table)")
	byID.Post, byID.Head = nil, nil
	for _, op := range byID.Operations() {
		op.Parameters = append([]*openapi.Parameter{nativeTableParam, idParam}, op.Parameters[1:]...)
		op.Summary = strings.Replace(strings.Replace(op.Summary, "the rows matching the filters (a filter is required)", "the row with this primary key", 1), "Read rows", "Read the row with this primary key", 1)
	}
	byID.Put.Summary = "Insert or replace the row with this primary key"
	byID.Get.Parameters = []*openapi.Parameter{nativeTableParam, idParam, openapi.ParameterRef("rest.select")}
	byID.Get.Responses = oaWithErrors(map[string]*openapi.Response{
		"200": {Description: "The row (404 when no row has this key).", Content: map[string]*openapi.MediaType{"application/json": {Schema: &openapi.Schema{Type: "object"}}}},
		"304": openapi.ResponseRef("rest.notModified"),
	})
	byID.Patch.Parameters = append([]*openapi.Parameter{nativeTableParam, idParam}, oaRefs("rest.select", "rest.columns", "rest.preferPatch")...)
	byID.Put.Parameters = append([]*openapi.Parameter{nativeTableParam, idParam}, oaRefs("rest.select", "rest.columns", "rest.preferPut")...)
	byID.Delete.Parameters = append([]*openapi.Parameter{nativeTableParam, idParam}, oaRefs("rest.select", "rest.preferDelete")...)
	p["/api/v1/tables/{table}/{id}"] = byID

	p["/rest/v1/"] = &openapi.PathItem{
		Get: &openapi.Operation{
			OperationID: "getRESTRoot", Tags: []string{"REST (any table)"},
			Summary:     "The OpenAPI document of one exposed schema (PostgREST's root)",
			Description: "Paths relative to /rest/v1 for the tables, views and functions of the schema named by Accept-Profile (the default schema without it).",
			Parameters: []*openapi.Parameter{{Name: "Accept-Profile", In: "header", Schema: &openapi.Schema{Type: "string"},
				Description: "The exposed schema to describe."}},
			Responses: oaWithErrors(map[string]*openapi.Response{
				"200": {Description: "The document.", Content: map[string]*openapi.MediaType{"application/openapi+json": {Schema: &openapi.Schema{Type: "object"}}}},
				"304": openapi.ResponseRef("rest.notModified"),
			}),
		},
	}
	p["/api/v1/admin/schema/reload"] = &openapi.PathItem{
		Post: &openapi.Operation{
			OperationID: "reloadSchema", Tags: []string{"REST (any table)"},
			Summary:     "Reload the schema cache now (service_role only)",
			Description: "Fluxbase reloads by itself after DDL; this (like NOTIFY pgrst, 'reload schema' and `fluxbase schema reload`) forces it, e.g. after changes the event trigger cannot see.",
			Responses: oaWithErrors(map[string]*openapi.Response{
				"200": {Description: "Reloaded.", Content: map[string]*openapi.MediaType{"application/json": {Schema: &openapi.Schema{Type: "object"}}}},
				"204": {Description: "Reloaded."},
			}),
		},
	}
}

func oaRefs(names ...string) []*openapi.Parameter {
	out := make([]*openapi.Parameter, len(names))
	for i, n := range names {
		out[i] = openapi.ParameterRef(n)
	}
	return out
}

func oaWithErrors(m map[string]*openapi.Response) map[string]*openapi.Response {
	m["default"] = openapi.ResponseRef("rest.error")
	return m
}

// oaRowContent lists the representations of a row set: a JSON array, one
// object (Accept: application/vnd.pgrst.object+json) and CSV.
func oaRowContent(rows, one *openapi.Schema) map[string]*openapi.MediaType {
	m := map[string]*openapi.MediaType{
		"application/json": {Schema: rows},
		"text/csv":         {Schema: &openapi.Schema{Type: "string"}},
	}
	if one != nil {
		m["application/vnd.pgrst.object+json"] = &openapi.MediaType{Schema: one}
	}
	return m
}

// readParams are the parameters of a read: filters on the columns (when
// known), select, order, paging and counting.
func (g *oaGen) readParams(t *schema.Table) []*openapi.Parameter {
	var out []*openapi.Parameter
	if t != nil {
		out = g.filterParams(t)
	}
	return append(out, oaRefs("rest.select", "rest.order", "rest.limit", "rest.offset", "rest.or", "rest.and", "rest.range", "rest.rangeUnit", "rest.preferGet")...)
}

// oaReservedParams are query parameters with a meaning of their own: a
// column or argument of that name cannot be addressed as a filter.
var oaReservedParams = map[string]bool{
	"select": true, "order": true, "limit": true, "offset": true, "or": true, "and": true,
	"not.or": true, "not.and": true, "columns": true, "on_conflict": true,
}

// filterParams defines (once) and references the per-column row filters.
func (g *oaGen) filterParams(t *schema.Table) []*openapi.Parameter {
	out := make([]*openapi.Parameter, 0, len(t.Columns))
	for _, col := range t.Columns {
		if oaReservedParams[col.Name] {
			continue
		}
		k := "filter." + oaRowKey(t.QualifiedName()) + "." + openapi.ComponentName(col.Name)
		if _, ok := g.doc.Components.Parameters[k]; !ok {
			g.doc.Components.Parameters[k] = &openapi.Parameter{
				Name: col.Name, In: "query",
				Description: "Filter on " + col.Name + " (" + col.Type + "): operator.value, e.g. eq.x, gt.x, in.(a,b), is.null, like.*x*, not.eq.x.",
				Schema:      &openapi.Schema{Type: "string"},
			}
		}
		out = append(out, openapi.ParameterRef(k))
	}
	return out
}

// tableSchemas defines the row schema of a relation and, when it can be
// updated, the schema of an update body (no required keys).
func (g *oaGen) tableSchemas(t *schema.Table) {
	qn := t.QualifiedName()
	k := oaRowKey(qn)
	if _, done := g.doc.Components.Schemas[k]; done {
		return
	}
	fks := map[string]string{}
	for _, r := range g.c.Relationships(qn) {
		if r.Kind != schema.ManyToOne && r.Kind != schema.OneToOne {
			continue
		}
		if r.Junction != nil || r.Table != qn {
			continue
		}
		for i, col := range r.Columns {
			if i < len(r.ForeignColumns) {
				if _, seen := fks[col]; !seen {
					fks[col] = fmt.Sprintf("This is a Foreign Key to `%s.%s`.<fk table='%s' column='%s'/>",
						r.ForeignTable.Name, r.ForeignColumns[i], r.ForeignTable.Name, r.ForeignColumns[i])
				}
			}
		}
	}
	pk := map[string]bool{}
	for _, c := range t.PrimaryKey {
		pk[c] = true
	}
	row := &openapi.Schema{Type: "object", Description: t.Comment, Properties: map[string]*openapi.Schema{}}
	patch := &openapi.Schema{Type: "object", Description: "Columns to set.", Properties: map[string]*openapi.Schema{}}
	for _, col := range t.Columns {
		s := g.columnSchema(col)
		var notes []string
		if pk[col.Name] {
			notes = append(notes, "This is a Primary Key.<pk/>")
		}
		if fk, ok := fks[col.Name]; ok {
			notes = append(notes, fk)
		}
		desc := col.Comment
		if len(notes) > 0 {
			if desc != "" {
				desc += "\n\n"
			}
			desc += "Note:\n" + strings.Join(notes, "\n")
		}
		s.Description = desc
		readOnly := col.Generated || col.Identity == schema.IdentityAlways || (t.IsView() && !col.Updatable) || t.Kind == schema.KindMaterializedView
		s.ReadOnly = readOnly
		row.Properties[col.Name] = s
		if !col.Nullable && !col.HasDefault && !readOnly {
			row.Required = append(row.Required, col.Name)
		}
		if !readOnly {
			ps := *s
			patch.Properties[col.Name] = &ps
		}
	}
	g.doc.Components.Schemas[k] = row
	rows := &openapi.Schema{Type: "array", Items: openapi.SchemaRef(k)}
	one := openapi.SchemaRef(k)
	read := oaRowContent(rows, one)
	for _, mh := range t.MediaHandlers {
		// A media type handler: the rows as its aggregate renders them.
		raw := &openapi.Schema{Type: "string", Description: "Rendered by " + mh.Aggregate.String() + "."}
		if mh.Binary {
			raw.Format = "binary"
		}
		read[mh.MediaType] = &openapi.MediaType{Schema: raw}
	}
	g.doc.Components.Responses["rows."+k] = &openapi.Response{Description: "The rows.", Content: read, Headers: oaReadHeaders()}
	g.doc.Components.Responses["partial."+k] = &openapi.Response{Description: "A part of the rows (Range / limit), with Content-Range.", Content: oaRowContent(rows, nil), Headers: oaReadHeaders()}
	g.doc.Components.Responses["written."+k] = &openapi.Response{Description: "Done; with Prefer: return=representation, the rows written.", Content: oaRowContent(rows, one)}
	if t.Updatable && t.Kind != schema.KindMaterializedView {
		g.doc.Components.Schemas["patch."+k] = patch
	}
}

var oaTypeModifiers = regexp.MustCompile(`\(.*\)`)

// columnSchema maps a column's type to a JSON schema the way PostgREST
// does: the JSON type the value is rendered as, the PostgreSQL type as the
// format.
func (g *oaGen) columnSchema(col *schema.Column) *openapi.Schema {
	var s *openapi.Schema
	if col.IsArray {
		elem := g.typeSchema(col.ElemType)
		if len(col.EnumValues) > 0 {
			elem.Enum = oaEnumValues(col.EnumValues)
		}
		s = &openapi.Schema{Type: "array", Format: col.TypeName, Items: elem}
	} else {
		s = g.typeSchema(col.TypeName)
		if len(col.EnumValues) > 0 {
			s.Type = "string"
			s.Enum = oaEnumValues(col.EnumValues)
		}
		if col.MaxLength > 0 {
			n := col.MaxLength
			s.MaxLength = &n
		}
	}
	s.Nullable = col.Nullable
	if col.Default != "" {
		if v, ok := oaLiteralDefault(col.Default, s.Type); ok {
			s.Default = v
		}
	}
	return s
}

// typeSchema maps a type name (format_type text) to a schema. Arrays map
// to arrays of their element; enums (looked up in the cache) to strings
// with their labels.
func (g *oaGen) typeSchema(typ string) *openapi.Schema {
	typ = strings.TrimSpace(typ)
	if strings.HasSuffix(typ, "[]") {
		return &openapi.Schema{Type: "array", Format: typ, Items: g.typeSchema(strings.TrimSuffix(typ, "[]"))}
	}
	base := strings.TrimSpace(oaTypeModifiers.ReplaceAllString(typ, ""))
	s := &openapi.Schema{Format: base}
	switch base {
	case "smallint", "integer", "bigint", "int2", "int4", "int8", "oid":
		s.Type = "integer"
	case "numeric", "decimal", "real", "double precision", "float4", "float8":
		s.Type = "number"
	case "boolean", "bool":
		s.Type = "boolean"
	case "json", "jsonb":
		// Any JSON value: no type.
	case "record", "anyelement":
		s.Type = "object"
	default:
		s.Type = "string"
		if labels := g.enumLabels(base); labels != nil {
			s.Enum = oaEnumValues(labels)
		}
	}
	return s
}

// enumLabels finds an enum's labels by the (possibly unqualified) name
// format_type gave it.
func (g *oaGen) enumLabels(name string) []string {
	if g.c == nil || len(g.c.Enums) == 0 {
		return nil
	}
	name = strings.ReplaceAll(name, `"`, "")
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return g.c.Enums[schema.QualifiedName{Schema: name[:i], Name: name[i+1:]}]
	}
	for _, s := range append(append([]string(nil), g.c.Schemas...), "public") {
		if l, ok := g.c.Enums[schema.QualifiedName{Schema: s, Name: name}]; ok {
			return l
		}
	}
	return nil
}

func oaEnumValues(labels []string) []any {
	out := make([]any, len(labels))
	for i, l := range labels {
		out[i] = l
	}
	return out
}

var (
	oaNumericDefault = regexp.MustCompile(`^\(?(-?[0-9]+(\.[0-9]+)?)\)?(::[a-z ]+)?$`)
	oaStringDefault  = regexp.MustCompile(`^'((?:[^']|'')*)'::[a-zA-Z_. "()0-9\[\]]+$`)
)

// oaLiteralDefault reports a column default that is a constant (not an
// expression such as now() or nextval()) as a JSON value.
func oaLiteralDefault(expr, typ string) (any, bool) {
	switch {
	case typ == "boolean" && (expr == "true" || expr == "false"):
		return expr == "true", true
	case (typ == "integer" || typ == "number") && oaNumericDefault.MatchString(expr):
		m := oaNumericDefault.FindStringSubmatch(expr)
		var v float64
		if _, err := fmt.Sscan(m[1], &v); err == nil {
			if typ == "integer" {
				return int64(v), true
			}
			return v, true
		}
	case typ == "string" && oaStringDefault.MatchString(expr):
		return strings.ReplaceAll(oaStringDefault.FindStringSubmatch(expr)[1], "''", "'"), true
	}
	return nil, false
}

// profileParams are the headers that select a non-default schema on the
// PostgREST routes of the profile document.
func oaProfileParam(name, profile string) *openapi.Parameter {
	return &openapi.Parameter{Name: name, In: "header", Required: true,
		Description: "Selects the schema " + profile + " (not the default one).",
		Schema:      &openapi.Schema{Type: "string", Enum: []any{profile}}}
}

func oaOpID(method string, fam oaFamily, qn schema.QualifiedName, suffix string) string {
	id := method + "." + string(fam) + "." + oaRowKey(qn)
	if suffix != "" {
		id += "." + suffix
	}
	return id
}

func oaTableTag(qn schema.QualifiedName, c *schema.Cache) string {
	if qn.Schema == c.DefaultSchema() {
		return qn.Name
	}
	return qn.String()
}

// tablePaths adds the operations a relation allows under path. profile,
// when set, is a non-default schema that the PostgREST routes must name
// with Accept-Profile / Content-Profile.
func (g *oaGen) tablePaths(path string, t *schema.Table, fam oaFamily, profile string) {
	qn := t.QualifiedName()
	k := oaRowKey(qn)
	rows := &openapi.Schema{Type: "array", Items: openapi.SchemaRef(k)}
	one := openapi.SchemaRef(k)
	tag := []string{oaTableTag(qn, g.c)}
	read := g.readParams(t)
	write := func(filters bool, extra ...string) []*openapi.Parameter {
		var ps []*openapi.Parameter
		if filters {
			ps = g.filterParams(t)
		}
		ps = append(ps, oaRefs(extra...)...)
		if profile != "" {
			ps = append(ps, oaProfileParam("Content-Profile", profile))
		}
		return ps
	}
	if profile != "" {
		read = append(read, oaProfileParam("Accept-Profile", profile))
	}
	grant := g.grants.table(t)
	desc := t.Comment
	item := &openapi.PathItem{Description: desc}
	if grant.sel {
		g.readOperations(item, t, fam, tag, read)
	}
	writable := t.Kind != schema.KindMaterializedView
	body := func(s *openapi.Schema, required bool) *openapi.RequestBody {
		return &openapi.RequestBody{Required: required, Content: map[string]*openapi.MediaType{
			"application/json": {Schema: s},
			"text/csv":         {Schema: &openapi.Schema{Type: "string"}},
		}}
	}
	written := func(ok string) map[string]*openapi.Response {
		return oaWithErrors(map[string]*openapi.Response{
			ok:    openapi.ResponseRef("written." + k),
			"204": openapi.ResponseRef("rest.noContent"),
		})
	}
	if writable && t.Insertable && grant.ins {
		conflict := []string{"rest.select", "rest.columns"}
		if len(t.PrimaryKey) > 0 || len(t.UniqueKeys) > 0 {
			conflict = append(conflict, "rest.on_conflict")
		}
		item.Post = &openapi.Operation{
			Tags: tag, OperationID: oaOpID("post", fam, qn, ""), Summary: "Insert (or upsert) rows into " + qn.String(),
			Parameters:  write(false, append(conflict, "rest.preferPost")...),
			RequestBody: body(&openapi.Schema{OneOf: []*openapi.Schema{one, rows}}, true),
			Responses:   written("201"),
		}
	}
	if writable && t.Updatable && grant.upd {
		item.Patch = &openapi.Operation{
			Tags: tag, OperationID: oaOpID("patch", fam, qn, ""), Summary: "Update the rows of " + qn.String() + " matching the filters (a filter is required)",
			Parameters:  write(true, "rest.select", "rest.columns", "rest.order", "rest.limit", "rest.or", "rest.and", "rest.preferPatch"),
			RequestBody: body(openapi.SchemaRef("patch."+k), true),
			Responses:   written("200"),
		}
		if t.Insertable && grant.ins && len(t.PrimaryKey) > 0 {
			item.Put = &openapi.Operation{
				Tags: tag, OperationID: oaOpID("put", fam, qn, ""), Summary: "Insert or replace one row of " + qn.String() + ", identified by eq filters on every primary key column (" + strings.Join(t.PrimaryKey, ", ") + ")",
				Parameters:  write(true, "rest.select", "rest.columns", "rest.preferPut"),
				RequestBody: body(one, true),
				Responses:   written("200"),
			}
		}
	}
	if writable && t.Deletable && grant.del {
		item.Delete = &openapi.Operation{
			Tags: tag, OperationID: oaOpID("delete", fam, qn, ""), Summary: "Delete the rows of " + qn.String() + " matching the filters (a filter is required)",
			Parameters: write(true, "rest.select", "rest.order", "rest.limit", "rest.or", "rest.and", "rest.preferDelete"),
			Responses:  written("200"),
		}
	}
	if len(item.Operations()) > 0 {
		g.doc.Paths[path] = item
	}
}

// readOperations adds GET and HEAD of a relation.
func (g *oaGen) readOperations(item *openapi.PathItem, t *schema.Table, fam oaFamily, tag []string, read []*openapi.Parameter) {
	qn := t.QualifiedName()
	k := oaRowKey(qn)
	item.Get = &openapi.Operation{
		Tags: tag, OperationID: oaOpID("get", fam, qn, ""), Summary: "Read " + string(t.Kind) + " " + qn.String(),
		Parameters: read,
		Responses: oaWithErrors(map[string]*openapi.Response{
			"200": openapi.ResponseRef("rows." + k),
			"206": openapi.ResponseRef("partial." + k),
			"304": openapi.ResponseRef("rest.notModified"),
		}),
	}
	item.Head = &openapi.Operation{
		Tags: tag, OperationID: oaOpID("head", fam, qn, ""), Summary: "Count rows of " + qn.String() + " (headers only)",
		Parameters: read,
		Responses:  oaWithErrors(map[string]*openapi.Response{"200": {Description: "Headers only: Content-Range carries the count with Prefer: count=...", Headers: oaReadHeaders()}}),
	}
}

// oaReadHeaders are the headers of a read of a table or view.
func oaReadHeaders() map[string]*openapi.Header {
	return map[string]*openapi.Header{"Content-Location": openapi.HeaderRef("rest.contentLocation")}
}

// byKeyPaths adds /api/v1/tables/{table}/{id} for one relation.
func (g *oaGen) byKeyPaths(path string, t *schema.Table) {
	qn := t.QualifiedName()
	k := oaRowKey(qn)
	one := openapi.SchemaRef(k)
	tag := []string{oaTableTag(qn, g.c)}
	idDesc := "The primary key (" + strings.Join(t.PrimaryKey, ", ") + ")"
	idSchema := &openapi.Schema{Type: "string"}
	if len(t.PrimaryKey) == 1 {
		if col := t.Column(t.PrimaryKey[0]); col != nil {
			idSchema = g.columnSchema(col)
			idSchema.Nullable, idSchema.Default = false, nil
		}
	} else {
		idDesc += ": the values in key order, separated by commas, each percent-encoded (a comma inside a value is %2C)"
	}
	id := &openapi.Parameter{Name: "id", In: "path", Required: true, Description: idDesc + ".", Schema: idSchema}
	withID := func(names ...string) []*openapi.Parameter {
		return append([]*openapi.Parameter{id}, oaRefs(names...)...)
	}
	single := func(ok string) map[string]*openapi.Response {
		return oaWithErrors(map[string]*openapi.Response{
			ok:    {Description: "The row written, in an array (unless Prefer: return=minimal), or 404 when no row has this key.", Content: map[string]*openapi.MediaType{"application/json": {Schema: &openapi.Schema{Type: "array", Items: one}}}},
			"204": openapi.ResponseRef("rest.noContent"),
		})
	}
	grant := g.grants.table(t)
	item := &openapi.PathItem{}
	item.Get = &openapi.Operation{Tags: tag, OperationID: oaOpID("get", "native.id", qn, ""), Summary: "Read one row of " + qn.String() + " by primary key",
		Parameters: withID("rest.select"),
		Responses: oaWithErrors(map[string]*openapi.Response{
			"200": {Description: "The row (404 when no row has this key).", Content: map[string]*openapi.MediaType{"application/json": {Schema: one}}},
			"304": openapi.ResponseRef("rest.notModified"),
		})}
	if !grant.sel {
		item.Get = nil
	}
	writable := t.Kind != schema.KindMaterializedView
	if writable && t.Updatable && grant.upd {
		item.Patch = &openapi.Operation{Tags: tag, OperationID: oaOpID("patch", "native.id", qn, ""), Summary: "Update one row of " + qn.String() + " by primary key",
			Parameters:  withID("rest.select", "rest.columns", "rest.preferPatch"),
			RequestBody: &openapi.RequestBody{Required: true, Content: map[string]*openapi.MediaType{"application/json": {Schema: openapi.SchemaRef("patch." + k)}}},
			Responses:   single("200")}
		if t.Insertable && grant.ins {
			item.Put = &openapi.Operation{Tags: tag, OperationID: oaOpID("put", "native.id", qn, ""), Summary: "Insert or replace one row of " + qn.String() + " by primary key",
				Parameters:  withID("rest.select", "rest.columns", "rest.preferPut"),
				RequestBody: &openapi.RequestBody{Required: true, Content: map[string]*openapi.MediaType{"application/json": {Schema: one}}},
				Responses:   single("200")}
		}
	}
	if writable && t.Deletable && grant.del {
		item.Delete = &openapi.Operation{Tags: tag, OperationID: oaOpID("delete", "native.id", qn, ""), Summary: "Delete one row of " + qn.String() + " by primary key",
			Parameters: withID("rest.select", "rest.preferDelete"),
			Responses:  single("200")}
	}
	if len(item.Operations()) > 0 {
		g.doc.Paths[path] = item
	}
}

// functionSchemas defines the arguments object of a function (each
// overload's, as oneOf when there are several) and its result.
func (g *oaGen) functionSchemas(qn schema.QualifiedName, fns []*schema.Function) {
	k := oaRowKey(qn)
	if _, done := g.doc.Components.Schemas["args."+k]; done {
		return
	}
	var variants []*openapi.Schema
	for _, f := range fns {
		variants = append(variants, g.argsSchema(f))
	}
	args := variants[0]
	if len(variants) > 1 {
		args = &openapi.Schema{OneOf: variants, Description: "One of the overloads' arguments."}
	}
	g.doc.Components.Schemas["args."+k] = args
	g.doc.Components.Schemas["result."+k] = g.resultSchema(fns[0])
}

func (g *oaGen) argsSchema(f *schema.Function) *openapi.Schema {
	if f.SingleUnnamedParam {
		in := f.InputArgs()
		s := &openapi.Schema{Description: "The whole body is passed as the single unnamed argument."}
		if len(in) == 1 {
			s = g.typeSchema(in[0].Type)
			s.Description = "The whole body is passed as the single unnamed argument (" + in[0].Type + ")."
		}
		return s
	}
	s := &openapi.Schema{Type: "object", Description: f.Comment, Properties: map[string]*openapi.Schema{}}
	for _, a := range f.InputArgs() {
		if a.Name == "" {
			continue
		}
		as := g.typeSchema(a.Type)
		if a.Mode == schema.ArgVariadic && as.Type != "array" {
			as = &openapi.Schema{Type: "array", Items: as}
		}
		if a.Mode == schema.ArgVariadic {
			as.Description = "Variadic: an array of values."
		}
		s.Properties[a.Name] = as
		if !a.HasDefault {
			s.Required = append(s.Required, a.Name)
		}
	}
	return s
}

// resultSchema describes what a call returns.
func (g *oaGen) resultSchema(f *schema.Function) *openapi.Schema {
	row := func() *openapi.Schema {
		if f.ReturnTable != nil {
			if rt := g.c.Table(f.ReturnTable.Schema, f.ReturnTable.Name); rt != nil {
				// The rows' shape is part of the function's result even
				// when the caller may not read the table itself.
				g.tableSchemas(rt)
				return openapi.SchemaRef(oaRowKey(*f.ReturnTable))
			}
		}
		if len(f.ReturnColumns) > 0 {
			s := &openapi.Schema{Type: "object", Properties: map[string]*openapi.Schema{}}
			for _, c := range f.ReturnColumns {
				cs := g.typeSchema(c.Type)
				cs.Nullable = true
				s.Properties[c.Name] = cs
			}
			return s
		}
		return &openapi.Schema{Type: "object"}
	}
	switch f.ReturnKind {
	case schema.ReturnVoid:
		return &openapi.Schema{Description: "The function returns void: 204 No Content.", Nullable: true}
	case schema.ReturnScalar:
		s := g.typeSchema(f.ReturnType)
		s.Nullable = true
		return s
	case schema.ReturnSetOfScalar:
		return &openapi.Schema{Type: "array", Items: g.typeSchema(f.ReturnType)}
	case schema.ReturnComposite:
		s := row()
		if s.Ref == "" {
			s.Nullable = true
		}
		return s
	case schema.ReturnSetOfComposite:
		return &openapi.Schema{Type: "array", Items: row()}
	case schema.ReturnTable:
		if f.ReturnsSet {
			return &openapi.Schema{Type: "array", Items: row()}
		}
		return row()
	}
	return &openapi.Schema{}
}

// resultColumns are the columns a set-returning function's rows can be
// filtered on.
func (g *oaGen) resultColumns(f *schema.Function) *schema.Table {
	if !f.ReturnsSet {
		return nil
	}
	if f.ReturnTable != nil {
		return g.c.Table(f.ReturnTable.Schema, f.ReturnTable.Name)
	}
	return nil
}

// functionPaths adds /rpc/{function}: POST always, GET and HEAD when every
// overload is stable or immutable.
func (g *oaGen) functionPaths(path string, qn schema.QualifiedName, fns []*schema.Function, fam oaFamily, profile string) {
	k := oaRowKey(qn)
	f := fns[0]
	tag := []string{"rpc"}
	readOnly := true
	for _, fn := range fns {
		readOnly = readOnly && fn.ReadOnly()
	}
	result := openapi.SchemaRef("result." + k)
	resp := oaWithErrors(map[string]*openapi.Response{
		"200": {Description: "The result.", Content: map[string]*openapi.MediaType{"application/json": {Schema: result}, "text/csv": {Schema: &openapi.Schema{Type: "string"}}}},
	})
	if f.ReturnKind == schema.ReturnVoid {
		resp["204"] = openapi.ResponseRef("rest.noContent")
	}
	for _, fn := range fns {
		if fn.MediaType != "" {
			// A media type handler: the value itself, in that media type.
			raw := &openapi.Schema{Type: "string"}
			if fn.MediaBinary {
				raw.Format = "binary"
			}
			resp["200"].Content[fn.MediaType] = &openapi.MediaType{Schema: raw}
		}
	}
	if f.ReturnsSet {
		resp["206"] = &openapi.Response{Description: "A part of the rows (Range / limit), with Content-Range.", Content: map[string]*openapi.MediaType{"application/json": {Schema: result}}}
	}
	var setParams []*openapi.Parameter
	if f.ReturnsSet {
		if t := g.resultColumns(f); t != nil {
			setParams = g.filterParams(t)
		}
		setParams = append(setParams, oaRefs("rest.select", "rest.order", "rest.limit", "rest.offset", "rest.or", "rest.and", "rest.range")...)
	}
	desc := f.Comment
	item := &openapi.PathItem{Description: desc}
	post := append(append([]*openapi.Parameter(nil), setParams...), openapi.ParameterRef("rest.preferRpc"))
	if profile != "" {
		post = append(post, oaProfileParam("Content-Profile", profile))
	}
	item.Post = &openapi.Operation{
		Tags: tag, OperationID: oaOpID("post", fam, qn, "rpc"), Summary: "Call " + qn.String(),
		Parameters:  post,
		RequestBody: &openapi.RequestBody{Required: f.RequiredArgs > 0, Content: map[string]*openapi.MediaType{"application/json": {Schema: openapi.SchemaRef("args." + k)}}},
		Responses:   resp,
	}
	if readOnly && !f.SingleUnnamedParam {
		var get []*openapi.Parameter
		seen := map[string]bool{}
		for _, fn := range fns {
			for _, a := range fn.InputArgs() {
				if a.Name == "" || seen[a.Name] || oaReservedParams[a.Name] {
					continue
				}
				seen[a.Name] = true
				as := g.typeSchema(a.Type)
				p := &openapi.Parameter{Name: a.Name, In: "query", Schema: as, Required: len(fns) == 1 && !a.HasDefault,
					Description: "Argument " + a.Name + " (" + a.Type + ")."}
				if a.Mode == schema.ArgVariadic {
					p.Description = "Variadic argument " + a.Name + ": repeat the parameter for each value."
					if as.Type != "array" {
						p.Schema = &openapi.Schema{Type: "array", Items: as}
					}
					p.Explode = oaBoolPtr(true)
				}
				get = append(get, p)
			}
		}
		for _, p := range setParams {
			if p.Ref != "" {
				if cp := g.doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]; cp != nil && seen[cp.Name] {
					continue
				}
			}
			get = append(get, p)
		}
		get = append(get, openapi.ParameterRef("rest.preferRpc"))
		if profile != "" {
			get = append(get, oaProfileParam("Accept-Profile", profile))
		}
		item.Get = &openapi.Operation{Tags: tag, OperationID: oaOpID("get", fam, qn, "rpc"), Summary: "Call " + qn.String() + " (" + string(f.Volatility) + ")", Parameters: get, Responses: resp}
		item.Head = &openapi.Operation{Tags: tag, OperationID: oaOpID("head", fam, qn, "rpc"), Summary: "Call " + qn.String() + ", headers only", Parameters: get,
			Responses: oaWithErrors(map[string]*openapi.Response{"200": {Description: "Headers only."}})}
	}
	g.doc.Paths[path] = item
}
