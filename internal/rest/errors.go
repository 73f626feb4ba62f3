package rest

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// The errors below are PostgREST's, with its codes, statuses and wording,
// so that clients written against PostgREST recognise them.

func errBadJSON(details string) *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "PGRST102", "Empty or invalid json").WithDetails(details)
}

// errKeysMismatch refuses an array body whose objects differ in their keys.
func errKeysMismatch() *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "PGRST102", "All object keys must match")
}

func errSchema(schemas []string) *httpx.Error {
	return httpx.NewError(http.StatusNotAcceptable, "PGRST106",
		"The schema must be one of the following: "+strings.Join(schemas, ", "))
}

func errContentType(ct string) *httpx.Error {
	return httpx.NewError(http.StatusUnsupportedMediaType, "PGRST107", "The request's Content-Type is not acceptable: "+ct)
}

func errNotEmbedded(name string) *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "PGRST108",
		fmt.Sprintf("'%s' is not an embedded resource in this request", name)).
		WithHint(fmt.Sprintf("Verify that '%s' is included in the 'select' query parameter.", name))
}

func errSingular(n int64) *httpx.Error {
	return httpx.NewError(http.StatusNotAcceptable, "PGRST116", "JSON object requested, multiple (or no) rows returned").
		WithDetails(fmt.Sprintf("The result contains %d rows", n))
}

func errRelatedOrder(parent, rel string) *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "PGRST118",
		fmt.Sprintf("A related order on '%s' is not possible", rel)).
		WithDetails(fmt.Sprintf("'%s' and '%s' do not form a many-to-one or one-to-one relationship", parent, rel))
}

func errSpread(parent, rel string) *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "PGRST119",
		fmt.Sprintf("A spread operation on '%s' is not possible", rel)).
		WithDetails(fmt.Sprintf("'%s' and '%s' do not form a many-to-one or one-to-one relationship", parent, rel))
}

func errEmbedFilter() *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "PGRST120",
		"Bad operator on the embedded resource").
		WithDetails("Only is null or not is null filters are allowed on embedded resources")
}

func errAggregatesDisabled() *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "PGRST123", "Use of aggregate functions is not allowed")
}

func errMaxAffected(n int64) *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "PGRST124", "Query result exceeds max-affected preference constraint").
		WithDetails(fmt.Sprintf("The query affects %d rows", n))
}

// errUnfilteredWrite refuses PATCH and DELETE without a filter, with the
// code and wording of pg-safeupdate, which Supabase installs for the same
// purpose.
func errUnfilteredWrite(method string) *httpx.Error {
	verb := "UPDATE"
	if method == http.MethodDelete {
		verb = "DELETE"
	}
	return httpx.NewError(http.StatusBadRequest, "21000", verb+" requires a WHERE clause").
		WithDetails("A " + method + " request without any filter would affect every row of the table.").
		WithHint("Add a filter, such as ?id=eq.1. To affect every row on purpose, use a filter every row meets, such as ?id=not.is.null.")
}

func errColumnWrite(col string, t *schema.Table) *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "PGRST204",
		fmt.Sprintf("Could not find the '%s' column of '%s' in the schema cache", col, t.Name))
}

func errUnknownColumn(t *schema.Table, col string) *httpx.Error {
	e := httpx.NewError(http.StatusBadRequest, "42703", fmt.Sprintf("column %s.%s does not exist", t.Name, col))
	if s := closest(col, columnNames(t)); s != "" {
		e = e.WithHint(fmt.Sprintf("Perhaps you meant to reference the column \"%s.%s\".", t.Name, s))
	}
	return e
}

func errUnknownTable(schemaName, name string, c *schema.Cache) *httpx.Error {
	e := httpx.NewError(http.StatusNotFound, "42P01", fmt.Sprintf("relation \"%s.%s\" does not exist", schemaName, name))
	var names []string
	for q := range c.Tables {
		if q.Schema == schemaName {
			names = append(names, q.Name)
		}
	}
	if s := closest(name, names); s != "" {
		e = e.WithHint(fmt.Sprintf("Perhaps you meant the table '%s.%s'", schemaName, s))
	}
	return e
}

func columnNames(t *schema.Table) []string {
	out := make([]string, 0, len(t.Columns))
	for _, c := range t.Columns {
		out = append(out, c.Name)
	}
	return out
}

func cardinality(r *schema.Relationship) string {
	switch r.Kind {
	case schema.ManyToOne:
		return "many-to-one"
	case schema.OneToMany:
		return "one-to-many"
	case schema.OneToOne:
		return "one-to-one"
	}
	return "many-to-many"
}

func relDescription(r *schema.Relationship) string {
	if r.Junction != nil {
		j := r.Junction
		return fmt.Sprintf("%s using %s(%s) and %s(%s)", j.Table.Name,
			j.SourceConstraint, strings.Join(j.SourceJunctionColumns, ", "),
			j.TargetConstraint, strings.Join(j.TargetJunctionColumns, ", "))
	}
	return fmt.Sprintf("%s using %s(%s) and %s(%s)", r.Constraint,
		r.Table.Name, strings.Join(r.Columns, ", "), r.ForeignTable.Name, strings.Join(r.ForeignColumns, ", "))
}

func relHintName(r *schema.Relationship) string {
	if r.Junction != nil {
		return r.Junction.Table.Name
	}
	return r.Constraint
}

func errNoRelationship(parent *schema.Table, name, hint string, c *schema.Cache) *httpx.Error {
	details := fmt.Sprintf("Searched for a foreign key relationship between '%s' and '%s' in the schema '%s', but no matches were found.", parent.Name, name, parent.Schema)
	if hint != "" {
		details = fmt.Sprintf("Searched for a foreign key relationship between '%s' and '%s' using the hint '%s' in the schema '%s', but no matches were found.", parent.Name, name, hint, parent.Schema)
	}
	e := httpx.NewError(http.StatusBadRequest, "PGRST200",
		fmt.Sprintf("Could not find a relationship between '%s' and '%s' in the schema cache", parent.Name, name)).WithDetails(details)
	var names []string
	for _, r := range c.Relationships(parent.QualifiedName()) {
		names = append(names, r.ForeignTable.Name)
	}
	if s := closest(name, names); s != "" && s != name {
		e = e.WithHint(fmt.Sprintf("Perhaps you meant '%s' instead of '%s'.", s, name))
	}
	return e
}

func errAmbiguousRelationship(parent *schema.Table, name string, rels []*schema.Relationship) *httpx.Error {
	details := make([]map[string]string, 0, len(rels))
	hints := make([]string, 0, len(rels))
	for _, r := range rels {
		details = append(details, map[string]string{
			"cardinality":  cardinality(r),
			"embedding":    fmt.Sprintf("%s with %s", parent.Name, r.ForeignTable.Name),
			"relationship": relDescription(r),
		})
		hints = append(hints, fmt.Sprintf("'%s!%s'", name, relHintName(r)))
	}
	return &httpx.Error{Status: http.StatusMultipleChoices, Code: "PGRST201",
		Message: fmt.Sprintf("Could not embed because more than one relationship was found for '%s' and '%s'", parent.Name, name),
		Details: details,
		Hint:    fmt.Sprintf("Try changing '%s' to one of the following: %s. Find the desired relationship in the 'details' key.", name, strings.Join(hints, ", ")),
	}
}

func errNoFunction(schemaName, name string, keys []string, c *schema.Cache) *httpx.Error {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	withParams := ""
	if len(sorted) > 0 {
		withParams = " with parameters " + strings.Join(sorted, ", ")
	} else {
		withParams = " without parameters"
	}
	e := httpx.NewError(http.StatusNotFound, "PGRST202",
		fmt.Sprintf("Could not find the function %s.%s(%s) in the schema cache", schemaName, name, strings.Join(sorted, ", "))).
		WithDetails(fmt.Sprintf("Searched for the function %s.%s%s or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.", schemaName, name, withParams))
	var names []string
	for q := range c.FunctionsByName {
		if q.Schema == schemaName {
			names = append(names, q.Name)
		}
	}
	if s := closest(name, names); s != "" {
		e = e.WithHint(fmt.Sprintf("Perhaps you meant to call the function %s.%s", schemaName, s))
	}
	return e
}

func errAmbiguousFunction(fns []*schema.Function) *httpx.Error {
	var parts []string
	for _, f := range fns {
		var args []string
		for _, a := range f.InputArgs() {
			args = append(args, a.Name+" => "+a.Type)
		}
		parts = append(parts, fmt.Sprintf("%s.%s(%s)", f.Schema, f.Name, strings.Join(args, ", ")))
	}
	return &httpx.Error{Status: http.StatusMultipleChoices, Code: "PGRST203",
		Message: "Could not choose the best candidate function between: " + strings.Join(parts, ", "),
		Hint:    "Try renaming the parameters or the function itself in the database so function overloading can be resolved"}
}

// closest returns the candidate nearest to s by edit distance, if near
// enough to be a plausible typo.
func closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := levenshtein(strings.ToLower(s), strings.ToLower(c))
		if d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(2, len(s)/3) {
		return ""
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
