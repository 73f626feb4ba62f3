package rest

import (
	"strconv"
	"strings"

	"github.com/fluxbase/fluxbase/internal/schema"
)

// Column names of the result row every statement produces.
// total_count is NULL unless a count was asked for; page_count is the number
// of rows in body; body is the response body as PostgreSQL rendered it.

// bodyFormat says how the rows of _s become the response body.
type bodyFormat struct {
	media      string
	stripNulls bool
	// handler renders the rows when media is mediaHandler, taking them as
	// rowType (a quoted, qualified relation name) unless it takes any rows.
	handler *schema.MediaHandler
	rowType string
}

// jsonBodyExpr renders the aggregate that turns the rows of alias into
// the response body.
func jsonBodyExpr(alias string, f bodyFormat) string {
	agg := "json_agg(" + alias + ")"
	if f.stripNulls {
		agg = "json_strip_nulls(" + agg + ")"
	}
	switch f.media {
	case mediaHandler:
		if f.handler == nil {
			break
		}
		arg := alias
		if !f.handler.Any {
			arg += "::" + f.rowType
		}
		v := qualified(f.handler.Aggregate.Schema, f.handler.Aggregate.Name) + "(" + arg + ")"
		if f.handler.Binary {
			return v + "::bytea"
		}
		return "convert_to(" + v + "::text, 'UTF8')"
	case mediaObject:
		return "coalesce((" + agg + "->0)::text, '')"
	case mediaCSV:
		// The header comes from the keys of the first row; each row is its
		// composite text rendering without the parentheses, which quotes
		// like CSV does.
		return "coalesce((SELECT string_agg(quote_csv_key, ',') FROM (SELECT CASE WHEN k ~ '[,\"\\s]' THEN '\"' || replace(k, '\"', '\"\"') || '\"' ELSE k END AS quote_csv_key FROM json_object_keys((" +
			"json_agg(" + alias + ")->0)) AS k) _h), '') || chr(10) || coalesce(string_agg(substr(" + alias + "::text, 2, length(" + alias + "::text) - 2), chr(10)), '')"
	}
	return "coalesce(" + agg + ", '[]')::text"
}

// joinCond renders the condition tying child alias ca to parent alias pa
// through r.
func joinCond(r *schema.Relationship, pa, ca string) string {
	var conds []string
	if j := r.Junction; j != nil {
		ja := "j_" + ca
		var jc []string
		for i := range j.TargetColumns {
			jc = append(jc, ja+"."+quoteIdent(j.TargetJunctionColumns[i])+" = "+ca+"."+quoteIdent(j.TargetColumns[i]))
		}
		for i := range j.SourceColumns {
			jc = append(jc, ja+"."+quoteIdent(j.SourceJunctionColumns[i])+" = "+pa+"."+quoteIdent(j.SourceColumns[i]))
		}
		return "EXISTS (SELECT 1 FROM " + j.Table.Quoted() + " " + ja + " WHERE " + strings.Join(jc, " AND ") + ")"
	}
	for i := range r.Columns {
		conds = append(conds, ca+"."+quoteIdent(r.ForeignColumns[i])+" = "+pa+"."+quoteIdent(r.Columns[i]))
	}
	return strings.Join(conds, " AND ")
}

// embedSource renders the FROM item of child on alias ca and the
// conditions tying it to the parent row on pa.
func embedSource(child *node, pa, ca string) (string, []string) {
	if cf := child.computed; cf != nil {
		from := qualified(cf.Function.Schema, cf.Function.Name) + "(" + pa + ") " + ca
		if !cf.ReturnsSet {
			// A function returning one row gives a row of nulls when it
			// finds none: no row, so that the embed is null.
			return from, []string{"NOT (" + ca + " IS NULL)"}
		}
		return from, nil
	}
	return child.table.QualifiedName().Quoted() + " " + ca, []string{joinCond(child.rel, pa, ca)}
}

// exprOf renders a resolved field on alias.
func (s *sqlb) exprOf(alias string, col *schema.Column, cf *schema.ComputedField, f Field) string {
	if cf != nil {
		return qualified(cf.Function.Schema, cf.Function.Name) + "(" + alias + ")"
	}
	_ = col
	return s.fieldSQL(alias, f)
}

// whereConds renders the conditions of n on alias: its filters, logic
// trees, embed presence tests and !inner embeds.
func (s *sqlb) whereConds(n *node, alias string) []string {
	var conds []string
	for _, f := range n.filters {
		c, _ := s.filterSQL(s.exprOf(alias, f.col, f.computed, f.f.Field), f.col, f.f)
		conds = append(conds, c)
	}
	for _, t := range n.trees {
		conds = append(conds, s.treeSQL(t, alias))
	}
	for _, en := range n.embedNulls {
		e := s.existsSQL(en.child, alias)
		if en.isNull {
			e = "NOT " + e
		}
		conds = append(conds, e)
	}
	for _, c := range n.embeds {
		if c.join == JoinInner && !c.spread {
			conds = append(conds, s.existsSQL(c, alias))
		}
	}
	return conds
}

func (s *sqlb) treeSQL(t rtree, alias string) string {
	var parts []string
	fi, ki := 0, 0
	for _, isTree := range t.t.order {
		if isTree {
			parts = append(parts, s.treeSQL(t.kids[ki], alias))
			ki++
		} else {
			f := t.conds[fi]
			c, _ := s.filterSQL(s.exprOf(alias, f.col, f.computed, f.f.Field), f.col, f.f)
			parts = append(parts, c)
			fi++
		}
	}
	op := " AND "
	if t.t.Or {
		op = " OR "
	}
	out := "(" + strings.Join(parts, op) + ")"
	if len(parts) == 0 {
		out = "TRUE"
	}
	if t.t.Not {
		out = "NOT " + out
	}
	return out
}

// existsSQL tests that child has a row for the parent row on pa.
func (s *sqlb) existsSQL(child *node, pa string) string {
	ca := s.nextAlias("x")
	from, conds := embedSource(child, pa, ca)
	conds = append(conds, s.whereConds(child, ca)...)
	q := "EXISTS (SELECT 1 FROM " + from
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return q + ")"
}

// itemSQL renders one output column; groupable reports whether it takes
// part in an implicit GROUP BY.
func (s *sqlb) itemSQL(n *node, it item, alias string) (expr string, groupable bool) {
	switch {
	case it.countStar:
		e := "count(*)"
		if it.cast != "" {
			e = "(" + e + ")" + castSQL(it.cast)
		}
		return e, false
	case it.embed != nil:
		return s.embedSQL(it.embed, alias), false
	}
	e := s.exprOf(alias, it.col, it.computed, it.field)
	if it.agg != "" {
		if it.aggCast != "" {
			e = "(" + e + ")" + castSQL(it.aggCast)
		}
		e = it.agg + "(" + e + ")"
		if it.cast != "" {
			e = "(" + e + ")" + castSQL(it.cast)
		}
		return e, false
	}
	if it.cast != "" {
		e = "(" + e + ")" + castSQL(it.cast)
	}
	return e, true
}

// embedSQL renders a non-spread embed as a correlated scalar subquery: an
// object (or null) for to-one, an array for to-many. Being in the select
// list, PostgreSQL evaluates it only for the rows that survive the
// parent's LIMIT.
func (s *sqlb) embedSQL(child *node, pa string) string {
	ca := s.nextAlias("t")
	from, conds := embedSource(child, pa, ca)
	inner := s.nodeSelect(child, from, ca, conds, child.limit, child.offset)
	ea := s.nextAlias("e")
	if child.toOne() {
		return "(SELECT row_to_json(" + ea + ") FROM (" + inner + ") " + ea + ")"
	}
	return "(SELECT coalesce(json_agg(" + ea + "), '[]') FROM (" + inner + ") " + ea + ")"
}

// nodeSelect renders SELECT ... FROM from WHERE ... for n on alias.
func (s *sqlb) nodeSelect(n *node, from, alias string, extra []string, limit, offset *int64) string {
	// The select list is written straight into the statement: it runs for
	// every output column of every request, so plain columns cost no
	// string of their own.
	var b strings.Builder
	b.Grow(64 + 48*len(n.items) + len(from))
	b.WriteString("SELECT ")
	var group, joins []string
	ncols := 0
	nextCol := func() {
		if ncols > 0 {
			b.WriteString(", ")
		}
		ncols++
	}
	col := func(e, name string) {
		nextCol()
		b.WriteString(e)
		b.WriteString(" AS ")
		writeIdent(&b, name)
	}
	for _, it := range n.items {
		if it.embed != nil && it.embed.spread {
			sa := s.nextAlias("s")
			child := it.embed
			ca := s.nextAlias("t")
			from, conds := embedSource(child, alias, ca)
			inner := s.nodeSelect(child, from, ca, conds, nil, nil)
			kind := "LEFT JOIN LATERAL"
			if child.join == JoinInner {
				kind = "JOIN LATERAL"
			}
			joins = append(joins, kind+" ("+inner+") "+sa+" ON TRUE")
			for _, ci := range spreadNames(child) {
				e := sa + "." + quoteIdent(ci)
				col(e, ci)
				group = append(group, e)
			}
			continue
		}
		if !n.hasAggs && plainColumn(it) {
			nextCol()
			b.WriteString(alias)
			b.WriteByte('.')
			writeIdent(&b, it.field.Name)
			b.WriteString(" AS ")
			writeIdent(&b, it.name)
			continue
		}
		e, g := s.itemSQL(n, it, alias)
		if it.embed != nil && n.hasAggs {
			// Beside aggregates an embed is a grouping term, as in
			// PostgREST: rows with equal embedded values form one group.
			// json has no equality, so the value is jsonb; the GROUP BY
			// names it by position so that its parameters appear once.
			col("("+e+")::jsonb", it.name)
			group = append(group, strconv.Itoa(ncols))
			continue
		}
		col(e, it.name)
		if g {
			group = append(group, e)
		}
	}
	// An empty select list still yields one (empty) object per row.
	b.WriteString(" FROM ")
	b.WriteString(from)
	for _, j := range joins {
		b.WriteString(" " + j)
	}
	conds := append(append([]string(nil), extra...), s.whereConds(n, alias)...)
	if len(conds) > 0 {
		b.WriteString(" WHERE " + strings.Join(conds, " AND "))
	}
	if n.hasAggs && len(group) > 0 {
		b.WriteString(" GROUP BY " + strings.Join(group, ", "))
	}
	if len(n.order) > 0 {
		var terms []string
		for _, o := range n.order {
			var e string
			if o.embed != nil {
				ca := s.nextAlias("o")
				from, conds := embedSource(o.embed, alias, ca)
				e = "(SELECT " + s.exprOf(ca, o.col, o.comp, o.t.Field) + " FROM " + from
				if len(conds) > 0 {
					e += " WHERE " + strings.Join(conds, " AND ")
				}
				e += " LIMIT 1)"
			} else {
				e = s.exprOf(alias, o.col, o.comp, o.t.Field)
			}
			if o.t.Desc {
				e += " DESC"
			} else {
				e += " ASC"
			}
			switch o.t.Nulls {
			case NullsFirst:
				e += " NULLS FIRST"
			case NullsLast:
				e += " NULLS LAST"
			}
			terms = append(terms, e)
		}
		b.WriteString(" ORDER BY " + strings.Join(terms, ", "))
	}
	if limit != nil {
		b.WriteString(" LIMIT " + intLit(*limit))
	}
	if offset != nil && *offset > 0 {
		b.WriteString(" OFFSET " + intLit(*offset))
	}
	return b.String()
}

// plainColumn reports whether it is a column as it is: no JSON path, cast,
// aggregate or computed field.
func plainColumn(it item) bool {
	return it.col != nil && it.embed == nil && it.computed == nil && !it.countStar &&
		len(it.field.JSON) == 0 && it.cast == "" && it.agg == ""
}

// spreadNames lists the output names a spread contributes, nested spreads
// flattened.
func spreadNames(n *node) []string {
	var out []string
	for _, it := range n.items {
		if it.embed != nil && it.embed.spread {
			out = append(out, spreadNames(it.embed)...)
			continue
		}
		out = append(out, it.name)
	}
	return out
}

// countSQL renders the exact count of rows n's filters select from from.
func (s *sqlb) countSQL(n *node, from, alias string) string {
	conds := s.whereConds(n, alias)
	q := "SELECT count(*) FROM " + from
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return "(" + q + ")"
}

// readStatement is the one statement of a read: the page, its size, the
// total when asked for, and the body.
type readStatement struct {
	SQL  string
	Args []any
}

// countMode says how the total is computed.
type countMode string

const (
	countNone      countMode = ""
	countExact     countMode = "exact"
	countPlanned   countMode = "planned"
	countEstimated countMode = "estimated"
)

// buildRead renders a read of root from fromTable (a relation or a function
// call with alias t0).
func buildRead(root *node, source string, page Page, count countMode, format bodyFormat, s *sqlb, aliased ...string) readStatement {
	if s == nil {
		s = &sqlb{}
	}
	alias := "t0"
	from := source + " " + alias
	countFrom, countAlias := source+" c0", "c0"
	if len(aliased) == 1 {
		// The source already names its columns with alias t0.
		from, countFrom, countAlias = aliased[0], aliased[0], alias
	}
	var limit, offset *int64
	if page.Limit >= 0 {
		l := page.Limit
		limit = &l
	}
	if page.Offset > 0 {
		o := page.Offset
		offset = &o
	}
	inner := s.nodeSelect(root, from, alias, nil, limit, offset)
	total := "NULL::bigint"
	switch count {
	case countExact:
		total = s.countSQL(root, countFrom, countAlias)
	case countPlanned, countEstimated:
		total = s.plannedCountSQL(root, source, count, page)
	}
	q := "SELECT " + total + " AS total_count, count(*) AS page_count, " + jsonBodyExpr("_s", format) +
		" AS body" + responseSettings + " FROM (" + inner + ") _s"
	return readStatement{SQL: q, Args: s.args}
}

// plannedCountSQL estimates the total with the planner's row estimate,
// through fluxbase.rest_planned_count, which prepares the row query built
// here (values stay parameters, passed as a text array) and reads the
// estimate of EXPLAIN. For estimated counts the exact count is used when
// the estimate is below the page's upper bound, as PostgREST does.
func (s *sqlb) plannedCountSQL(root *node, source string, count countMode, page Page) string {
	sub := &sqlb{alias: s.alias}
	conds := sub.whereConds(root, "c0")
	// The values travel inside one array literal, which binds cannot
	// describe.
	s.opaque = true
	text := "SELECT 1 FROM " + source + " c0"
	if len(conds) > 0 {
		text += " WHERE " + strings.Join(conds, " AND ")
	}
	s.alias = sub.alias
	vals := make([]string, len(sub.args))
	for i, a := range sub.args {
		vals[i] = argText(a)
	}
	planned := "fluxbase.rest_planned_count(" + s.arg(text) + "::text, " + s.arg(pgArrayLiteral(vals)) + "::text[])"
	if count == countPlanned {
		return "(SELECT " + planned + ")"
	}
	exact := s.countSQL(root, source+" c0", "c0")
	bound := int64(1000)
	if s.maxRows > 0 {
		bound = s.maxRows
	} else if page.Limit >= 0 {
		bound = page.Offset + page.Limit
	}
	return "(SELECT CASE WHEN p > " + s.arg(bound) + "::bigint THEN p ELSE " + exact + " END FROM " + planned + " AS p)"
}

func argText(a any) string {
	switch v := a.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	}
	return ""
}
