package realtime

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// rowFilter is a postgres_changes row filter in the REST grammar,
// `column=op.value`, with op one of eq neq lt lte gt gte in is like ilike,
// optionally negated with `not.`. It is evaluated by PostgreSQL on the
// changed row, with the value cast to the column's type, so comparisons
// are typed (numbers as numbers, timestamps as timestamps).
type rowFilter struct {
	column string
	typ    string // format_type of the column
	op     string
	negate bool
	values []string
}

var filterOps = map[string]string{"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}

// parseRowFilter parses a filter against a table's columns (name → type).
func parseRowFilter(s string, columns map[string]string) (*rowFilter, error) {
	col, rest, ok := strings.Cut(s, "=")
	if !ok || col == "" {
		return nil, fmt.Errorf("expected column=operator.value")
	}
	typ, ok := columns[col]
	if !ok {
		return nil, fmt.Errorf("column %q does not exist", col)
	}
	f := &rowFilter{column: col, typ: typ}
	if after, ok := strings.CutPrefix(rest, "not."); ok {
		f.negate, rest = true, after
	}
	op, val, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, fmt.Errorf("expected operator.value after %q", col+"=")
	}
	f.op = op
	switch op {
	case "eq", "neq", "lt", "lte", "gt", "gte", "like", "ilike":
		f.values = []string{val}
	case "in":
		vals, err := parseInList(val)
		if err != nil {
			return nil, err
		}
		f.values = vals
	case "is":
		switch strings.ToLower(val) {
		case "null", "true", "false", "unknown":
			f.values = []string{strings.ToLower(val)}
		default:
			return nil, fmt.Errorf("is. takes null, true, false or unknown")
		}
	default:
		return nil, fmt.Errorf("unsupported operator %q (use eq, neq, lt, lte, gt, gte, in, is, like or ilike)", op)
	}
	return f, nil
}

// parseInList reads `(a,b,"c,d")`: values separated by commas, optionally
// double-quoted with backslash escapes, as in the REST grammar.
func parseInList(s string) ([]string, error) {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, fmt.Errorf("in. takes a list in parentheses: in.(1,2,3)")
	}
	s = s[1 : len(s)-1]
	var out []string
	for len(s) > 0 || len(out) == 0 {
		var v string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated quoted value in in.()")
			}
			v, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			v, s = s[:end], s[end:]
		}
		out = append(out, v)
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, fmt.Errorf("expected , between values in in.()")
		}
		s = s[1:]
	}
	return out, nil
}

// sql renders the filter as a boolean expression on the row alias r,
// appending its values to args.
func (f *rowFilter) sql(args *[]any) string {
	col := "r." + pgx.Identifier{f.column}.Sanitize()
	param := func(v string) string {
		*args = append(*args, v)
		return "$" + strconv.Itoa(len(*args))
	}
	var expr string
	switch f.op {
	case "in":
		*args = append(*args, f.values)
		expr = fmt.Sprintf("%s = any($%d::text[]::%s[])", col, len(*args), f.typ)
	case "is":
		expr = col + " is " + f.values[0] // one of four keywords, checked when parsed
	case "like", "ilike":
		// The REST grammar writes % as *.
		*args = append(*args, strings.ReplaceAll(f.values[0], "*", "%"))
		expr = fmt.Sprintf("%s::text %s $%d", col, f.op, len(*args))
	default:
		expr = fmt.Sprintf("%s %s %s::text::%s", col, filterOps[f.op], param(f.values[0]), f.typ)
	}
	if f.negate {
		return "coalesce(not (" + expr + "), false)"
	}
	return "coalesce(" + expr + ", false)"
}
