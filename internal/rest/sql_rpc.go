package rest

import (
	"net/http"
	"sort"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// rpcCall is a resolved function call.
type rpcCall struct {
	fn *schema.Function
	// named are the input parameters passed by name, in declaration order.
	named []schema.Arg
	// argsJSON is an object of the named arguments' values.
	argsJSON string
	// rawBody is passed whole to a single unnamed parameter.
	rawBody *string
}

// chooseFunction resolves overloads by the argument names given, as
// PostgREST does: a candidate takes every given name and has a default
// for every parameter not given. A single unnamed json/jsonb (or other
// raw) parameter matches when nothing else does and a body is sent.
func chooseFunction(c *schema.Cache, schemaName, name string, keys []string, hasBody bool, post bool) (*schema.Function, error) {
	fns := c.Functions(schemaName, name)
	given := map[string]bool{}
	for _, k := range keys {
		given[k] = true
	}
	var matches []*schema.Function
	for _, f := range fns {
		if f.SingleUnnamedParam {
			continue
		}
		ok := true
		names := map[string]bool{}
		for _, a := range f.InputArgs() {
			if a.Name == "" {
				ok = false
				break
			}
			names[a.Name] = true
			if !given[a.Name] && !a.HasDefault {
				ok = false
			}
		}
		for k := range given {
			if !names[k] {
				ok = false
			}
		}
		if ok {
			matches = append(matches, f)
		}
	}
	if len(matches) == 0 && post {
		for _, f := range fns {
			if f.SingleUnnamedParam {
				matches = append(matches, f)
			}
		}
	}
	switch len(matches) {
	case 0:
		return nil, errNoFunction(schemaName, name, keys, c)
	case 1:
		return matches[0], nil
	}
	sort.Slice(matches, func(i, j int) bool { return len(matches[i].Args) < len(matches[j].Args) })
	return nil, errAmbiguousFunction(matches)
}

// returnTable is the relation-like shape of a function's result rows, so
// that select, filters and order apply to it like to a table.
func returnTable(c *schema.Cache, f *schema.Function) *schema.Table {
	if f.ReturnTable != nil {
		if t := c.Tables[*f.ReturnTable]; t != nil {
			return t
		}
	}
	if f.ReturnKind == schema.ReturnSetOfScalar || f.ReturnKind == schema.ReturnScalar {
		// A scalar result is a one-column relation named after the
		// function, as PostgREST presents it to select= and filters.
		col := &schema.Column{Name: f.Name, Position: 1, Type: f.ReturnType, TypeName: f.ReturnType, TypeOID: f.ReturnTypeOID, Nullable: true}
		return &schema.Table{Schema: f.Schema, Name: f.Name, Columns: []*schema.Column{col}, ColumnsByName: map[string]*schema.Column{f.Name: col}}
	}
	if len(f.ReturnColumns) == 0 {
		return nil
	}
	t := &schema.Table{Schema: f.Schema, Name: f.Name, ColumnsByName: map[string]*schema.Column{}}
	for i, a := range f.ReturnColumns {
		col := &schema.Column{Name: a.Name, Position: i + 1, Type: a.Type, TypeName: a.Type, TypeOID: a.TypeOID, Nullable: true}
		t.Columns = append(t.Columns, col)
		t.ColumnsByName[a.Name] = col
	}
	return t
}

// callSource renders the FROM item that calls the function; the caller
// appends the alias of its result.
func (s *sqlb) callSource(call rpcCall) string {
	fn := call.fn
	name := qualified(fn.Schema, fn.Name)
	if call.rawBody != nil {
		typ := "json"
		if in := fn.InputArgs(); len(in) == 1 {
			typ = in[0].Type
		}
		return name + "(" + s.arg(*call.rawBody) + "::" + typ + ")"
	}
	if len(call.named) == 0 {
		return name + "()"
	}
	var defs, args []string
	for _, a := range call.named {
		defs = append(defs, quoteIdent(a.Name)+" "+a.Type)
		v := "_a." + quoteIdent(a.Name)
		if a.Mode == schema.ArgVariadic {
			args = append(args, "VARIADIC "+quoteIdent(a.Name)+" := "+v)
		} else {
			args = append(args, quoteIdent(a.Name)+" := "+v)
		}
	}
	return "json_to_record(" + s.arg(call.argsJSON) + "::json) AS _a(" + strings.Join(defs, ", ") + ") CROSS JOIN LATERAL " +
		name + "(" + strings.Join(args, ", ") + ")"
}

// buildRPC renders a function call. root is the result's node for
// functions returning rows (nil for scalars and void).
func buildRPC(call rpcCall, root *node, page Page, count countMode, format bodyFormat) (readStatement, error) {
	s := &sqlb{}
	src := s.callSource(call)
	fn := call.fn
	switch {
	case format.media == mediaHandler && format.handler == nil:
		// The function's value is the body, as it is: the bytes of a
		// bytea, the text of anything else.
		body := "convert_to(_f.v::text, 'UTF8')"
		if fn.MediaBinary {
			body = "_f.v::bytea"
		}
		q := "SELECT NULL::bigint AS total_count, 1::bigint AS page_count, " + body + " AS body" + responseSettings + " FROM " + src + " AS _f(v)"
		return readStatement{SQL: q, Args: s.args}, nil
	case root != nil:
		if fn.ReturnKind == schema.ReturnSetOfScalar || fn.ReturnKind == schema.ReturnScalar {
			src += " AS t0(" + quoteIdent(fn.Name) + ")"
			st := buildRead(root, "", page, count, format, s, src)
			return st, nil
		}
		st := buildRead(root, src, page, count, format, s)
		if !fn.ReturnsSet && format.media != mediaCSV {
			// One row: the object itself (or null), not an array.
			st.SQL = strings.Replace(st.SQL, jsonBodyExpr("_s", format), singleRowBody(format), 1)
		}
		return st, nil
	case fn.ReturnKind == schema.ReturnVoid:
		q := "SELECT NULL::bigint AS total_count, 1::bigint AS page_count, NULL::text AS body" + responseSettings + " FROM " + src + " AS _f"
		return readStatement{SQL: q, Args: s.args}, nil
	case fn.ReturnsSet:
		var limit, offset string
		if page.Limit >= 0 {
			limit = " LIMIT " + intLit(page.Limit)
		}
		if page.Offset > 0 {
			offset = " OFFSET " + intLit(page.Offset)
		}
		total := "NULL::bigint"
		if count != countNone {
			total = "(SELECT count(*) FROM " + src + " AS _c(v))"
		}
		agg := "coalesce(json_agg(_f.v), '[]')::text"
		if format.media == mediaCSV {
			agg = "CASE WHEN count(*) > 0 THEN 'pgrst_scalar' ELSE '' END || chr(10) || coalesce(string_agg(" + csvScalar + ", chr(10)), '')"
		}
		q := "SELECT " + total + " AS total_count, count(*) AS page_count, " + agg + " AS body" + responseSettings + " FROM (SELECT v FROM " + src + " AS _f(v)" + limit + offset + ") _f"
		return readStatement{SQL: q, Args: s.args}, nil
	default:
		body := "to_json(_f.v)::text"
		if format.media == mediaCSV {
			body = "'pgrst_scalar' || chr(10) || " + csvScalar
		}
		q := "SELECT NULL::bigint AS total_count, 1::bigint AS page_count, " + body + " AS body" + responseSettings + " FROM " + src + " AS _f(v)"
		return readStatement{SQL: q, Args: s.args}, nil
	}
}

// csvScalar renders a function's scalar value _f.v as a CSV field, as
// PostgREST does under its column pgrst_scalar: the text of a one-column
// record without its parentheses, which quotes as CSV does.
const csvScalar = "substr(ROW(_f.v)::text, 2, length(ROW(_f.v)::text) - 2)"

func singleRowBody(f bodyFormat) string {
	agg := "json_agg(_s)"
	if f.stripNulls {
		agg = "json_strip_nulls(" + agg + ")"
	}
	return "coalesce((" + agg + "->0)::text, 'null')"
}

// errRPCMethod is PostgREST's answer to verbs other than GET, HEAD and POST
// on a function.
func errRPCMethod() *httpx.Error {
	return httpx.NewError(http.StatusMethodNotAllowed, "PGRST101", "Only GET and POST verbs are allowed for functions")
}
