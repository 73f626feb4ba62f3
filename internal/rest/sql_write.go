package rest

import (
	"strings"

	"github.com/fluxbase/fluxbase/internal/schema"
)

// writeKind is the statement a write runs.
type writeKind int

const (
	writeInsert writeKind = iota
	writeUpdate
	writeDelete
	writeUpsertPut
)

// writeSpec is a resolved write.
type writeSpec struct {
	kind  writeKind
	table *schema.Table
	// columns written, in the order the client gave them.
	columns []*schema.Column
	// body is the JSON payload: an array of objects for inserts, one
	// object for updates.
	body string
	// filter holds the root conditions of updates and deletes.
	filter *node
	// rep is what is returned (select=), without root conditions.
	rep *node
	// onConflict columns for upserts; resolution merge or ignore.
	onConflict []string
	resolution string
	// missingDefault fills keys absent from an object with the column's
	// default instead of NULL.
	missingDefault bool
	// wantBody renders the representation; wantLocation the primary key
	// of the first row.
	wantBody     bool
	wantLocation bool
}

// buildWrite renders a write as one statement: the change in a CTE, then
// the same result row as a read (total, page count, body) plus the
// Location key.
func buildWrite(w writeSpec, format bodyFormat) readStatement {
	s := &sqlb{}
	t := w.table
	target := t.QualifiedName().Quoted()
	rowType := "NULL::" + target
	var cte string
	switch w.kind {
	case writeInsert, writeUpsertPut:
		cols := make([]string, len(w.columns))
		for i, c := range w.columns {
			cols[i] = quoteIdent(c.Name)
		}
		switch {
		case len(cols) == 0 && w.body == "[]":
			// An empty array: nothing to insert.
			cte = "SELECT " + returning(w) + ", false AS pgrst_inserted FROM " + target + " t0 WHERE false"
		case len(cols) == 0:
			// An empty object: one row of defaults.
			cte = "INSERT INTO " + target + " AS t0 DEFAULT VALUES RETURNING " + returning(w) + insertedFlag(t)
		case w.missingDefault:
			var exprs []string
			for _, c := range w.columns {
				v := "_r." + quoteIdent(c.Name)
				switch {
				case c.Generated:
					// Only sent values get here; PostgreSQL refuses them.
				case c.Default != "":
					// The default expression comes from the catalog.
					v = "CASE WHEN _e.j::jsonb ? " + s.arg(c.Name) + "::text THEN " + v + " ELSE " + c.Default + " END"
				case c.Identity != schema.IdentityNone:
					// An identity column's default is its sequence.
					v = "CASE WHEN _e.j::jsonb ? " + s.arg(c.Name) + "::text THEN " + v +
						" ELSE nextval(pg_get_serial_sequence(" + s.arg(target) + "::text, " + s.arg(c.Name) + "::text)) END"
				}
				exprs = append(exprs, v)
			}
			cte = "INSERT INTO " + target + " AS t0 (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(exprs, ", ") +
				" FROM json_array_elements(" + s.arg(w.body) + "::json) _e(j) CROSS JOIN LATERAL json_populate_record(" + rowType + ", _e.j) _r"
		default:
			cte = "INSERT INTO " + target + " AS t0 (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(prefixAll("_r.", cols), ", ") +
				" FROM json_populate_recordset(" + rowType + ", " + s.arg(w.body) + "::json) _r"
		}
		if w.resolution != "" && len(cols) > 0 {
			conflict := make([]string, len(w.onConflict))
			for i, c := range w.onConflict {
				conflict[i] = quoteIdent(c)
			}
			cte += " ON CONFLICT (" + strings.Join(conflict, ", ") + ")"
			if w.resolution == "ignore-duplicates" {
				cte += " DO NOTHING"
			} else {
				var sets []string
				for _, c := range cols {
					sets = append(sets, c+" = EXCLUDED."+c)
				}
				cte += " DO UPDATE SET " + strings.Join(sets, ", ")
			}
		}
		if len(cols) > 0 {
			cte += " RETURNING " + returning(w) + insertedFlag(t)
		}
	case writeUpdate:
		conds := s.whereConds(w.filter, "t0")
		where := ""
		if len(conds) > 0 {
			where = " WHERE " + strings.Join(conds, " AND ")
		}
		if len(w.columns) == 0 {
			// Nothing to change: the matching rows, unchanged.
			cte = "SELECT t0.* FROM " + target + " t0" + where
		} else {
			var sets []string
			for _, c := range w.columns {
				sets = append(sets, quoteIdent(c.Name)+" = _r."+quoteIdent(c.Name))
			}
			cte = "UPDATE " + target + " AS t0 SET " + strings.Join(sets, ", ") +
				" FROM json_populate_record(" + rowType + ", " + s.arg(w.body) + "::json) _r" + where + " RETURNING " + returning(w)
		}
	case writeDelete:
		conds := s.whereConds(w.filter, "t0")
		where := ""
		if len(conds) > 0 {
			where = " WHERE " + strings.Join(conds, " AND ")
		}
		cte = "DELETE FROM " + target + " AS t0" + where + " RETURNING " + returning(w)
	}

	body := "NULL::text"
	inner := "SELECT FROM pgrst_mut"
	if w.wantBody {
		from := "pgrst_mut t0"
		if usesComputed(w.rep) {
			// Computed fields take the table's row type; the CTE's rows are
			// anonymous records, so they are turned back into table rows.
			from = "pgrst_mut m0 CROSS JOIN LATERAL json_populate_record(" + rowType + ", row_to_json(m0)) t0"
		}
		inner = s.nodeSelect(w.rep, from, "t0", nil, nil, nil)
		body = jsonBodyExpr("_s", format)
	}
	location := "NULL::text"
	if w.wantLocation && len(t.PrimaryKey) > 0 {
		var keys []string
		for _, k := range t.PrimaryKey {
			keys = append(keys, "l0."+quoteIdent(k)+"::text")
		}
		location = "(SELECT json_build_array(" + strings.Join(keys, ", ") + ")::text FROM pgrst_mut l0 LIMIT 1)"
	}
	inserted := "NULL::bigint"
	if w.kind == writeInsert || w.kind == writeUpsertPut {
		inserted = "(SELECT count(*) FROM pgrst_mut WHERE pgrst_inserted)"
	}
	q := "WITH pgrst_mut AS (" + cte + ") SELECT NULL::bigint AS total_count, count(*) AS page_count, " + body +
		" AS body, " + location + " AS location, " + inserted + " AS inserted" + responseSettings + " FROM (" + inner + ") _s"
	return readStatement{SQL: q, Args: s.args}
}

func prefixAll(p string, xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = p + x
	}
	return out
}

// insertedFlag adds pgrst_inserted to RETURNING: whether the row was
// inserted rather than updated by ON CONFLICT, which decides between 201
// and 200. Only tables have xmax; rows written through views count as
// inserted.
func insertedFlag(t *schema.Table) string {
	if t.Kind == schema.KindTable || t.Kind == schema.KindPartitionedTable {
		return ", (t0.xmax = 0) AS pgrst_inserted"
	}
	return ", true AS pgrst_inserted"
}

// usesComputed reports whether n's own columns, filters or order use a
// computed field.
func usesComputed(n *node) bool {
	for _, it := range n.items {
		if it.computed != nil {
			return true
		}
	}
	for _, f := range n.filters {
		if f.computed != nil {
			return true
		}
	}
	for _, o := range n.order {
		if o.comp != nil && o.embed == nil {
			return true
		}
	}
	return false
}

// returning is what the change hands to the rest of the statement: whole
// rows when they are rendered, else only the primary key (for Location),
// so that return=minimal neither copies rows nor needs the right to read
// them back (RLS SELECT policies apply to RETURNING), as in PostgREST.
func returning(w writeSpec) string {
	if w.wantBody {
		return "t0.*"
	}
	if w.wantLocation && len(w.table.PrimaryKey) > 0 {
		return strings.Join(prefixAll("t0.", quoteAll(w.table.PrimaryKey)), ", ")
	}
	return "1 AS pgrst_one"
}

func quoteAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = quoteIdent(x)
	}
	return out
}
