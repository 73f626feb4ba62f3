package rest

import (
	"strconv"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// sqlb accumulates SQL text and its bind parameters. Text only ever
// receives keywords, identifiers from the schema cache or quoted by
// quoteIdent, and $n placeholders; values go to args.
type sqlb struct {
	args  []any
	alias int
	// maxRows bounds the exact part of estimated counts.
	maxRows int64
	// binds records which parameters hold a filter value of the query
	// string, so that the statement can be reused with other values.
	binds []valueBind
	// opaque is set when a filter value went into the statement in a way
	// binds cannot describe; such a statement is never reused.
	opaque bool
}

// Ways a filter value becomes its parameter.
const (
	bindPlain = iota
	bindLike  // * becomes %
	bindList  // an in.(...) list becomes an array literal
)

// valueBind says that parameter arg holds the value of the query
// parameter at slot, turned into a parameter as kind says.
type valueBind struct {
	arg, slot, kind int
}

// intLit renders a page size or offset, an integer the request parser
// produced, as a literal instead of a parameter, as PostgREST does. Behind a
// parameter the planner cannot see how many rows are wanted: the generic
// plan of the prepared statement is then costed for a tenth of the relation,
// always loses against a custom plan, and PostgreSQL plans the statement
// again on every execution (for an embed, that planning costs more than
// running it). Being an int64, the text is only digits and a sign.
func intLit(n int64) string {
	return strconv.FormatInt(n, 10)
}

// arg adds a bind parameter and returns its placeholder.
func (s *sqlb) arg(v any) string {
	s.args = append(s.args, v)
	return "$" + strconv.Itoa(len(s.args))
}

// nextAlias returns a fresh table alias.
func (s *sqlb) nextAlias(prefix string) string {
	s.alias++
	return prefix + strconv.Itoa(s.alias)
}

// quoteIdent quotes an identifier; NUL bytes, which PostgreSQL rejects in
// identifiers, are dropped.
func quoteIdent(s string) string {
	if !strings.ContainsAny(s, "\x00\"") {
		return `"` + s + `"`
	}
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, "\x00", ""), `"`, `""`) + `"`
}

// writeIdent writes s quoted as quoteIdent does, without a string of its
// own.
func writeIdent(b *strings.Builder, s string) {
	if strings.ContainsAny(s, "\x00\"") {
		b.WriteString(quoteIdent(s))
		return
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}

func qualified(schemaName, name string) string {
	return quoteIdent(schemaName) + "." + quoteIdent(name)
}

// castTypes maps the SQL spellings PostgreSQL knows only as keywords to
// their catalog names, so casts can always be written as quoted names.
var castTypes = map[string]string{
	"int": "int4", "integer": "int4", "smallint": "int2", "bigint": "int8",
	"real": "float4", "float": "float8", "double": "float8", "boolean": "bool",
	"decimal": "numeric", "char": "bpchar", "character": "bpchar", "dec": "numeric",
}

// castSQL renders ::type for a cast the client asked for. The grammar only
// lets letters and digits through; the name is quoted so that it can only
// ever name a type.
func castSQL(t string) string {
	t = strings.ToLower(t)
	if c, ok := castTypes[t]; ok {
		t = c
	}
	return "::" + quoteIdent(t)
}

// fieldSQL renders a column with its JSON path.
func (s *sqlb) fieldSQL(alias string, f Field) string {
	if len(f.JSON) == 0 {
		return alias + "." + quoteIdent(f.Name)
	}
	var b strings.Builder
	b.WriteString(alias + "." + quoteIdent(f.Name))
	for _, st := range f.JSON {
		op := "->"
		if st.Text {
			op = "->>"
		}
		if st.Index {
			n, err := strconv.Atoi(st.Key)
			if err != nil {
				n = 0
			}
			b.WriteString(op + s.arg(int32(n)) + "::int4")
		} else {
			b.WriteString(op + s.arg(st.Key) + "::text")
		}
	}
	return b.String()
}

// pgArrayLiteral renders values as a PostgreSQL array literal, every
// element quoted, for binding as one parameter.
func pgArrayLiteral(vals []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range v {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func likePattern(v string) string { return strings.ReplaceAll(v, "*", "%") }

// valueArg adds the parameter holding f's value, v being that value as
// kind renders it, and records where it came from.
func (s *sqlb) valueArg(f Filter, v any, kind int) string {
	ph := s.arg(v)
	if f.slot > 0 {
		s.binds = append(s.binds, valueBind{arg: len(s.args) - 1, slot: f.slot, kind: kind})
	}
	return ph
}

// simpleValueArg adds the parameter of a one-value operator.
func (s *sqlb) simpleValueArg(f Filter) string {
	if f.Op == "like" || f.Op == "ilike" {
		return s.valueArg(f, likePattern(f.Value), bindLike)
	}
	return s.valueArg(f, f.Value, bindPlain)
}

// filterSQL renders one condition on expr, whose column is col (nil for
// a computed field or a cast result).
func (s *sqlb) filterSQL(expr string, col *schema.Column, f Filter) (string, *httpx.Error) {
	var out string
	switch {
	case f.Op == "is":
		switch f.Value {
		case "null":
			out = expr + " IS NULL"
		case "not_null":
			out = expr + " IS NOT NULL"
		case "true":
			out = expr + " IS TRUE"
		case "false":
			out = expr + " IS FALSE"
		default:
			out = expr + " IS UNKNOWN"
		}
	case f.Op == "in":
		out = expr + " = ANY(" + s.valueArg(f, pgArrayLiteral(f.List), bindList) + ")"
	case ftsOperators[f.Op] != "":
		fn := ftsOperators[f.Op]
		target := expr
		cfg := ""
		if f.Config != "" {
			cfg = s.arg(f.Config) + "::regconfig, "
		}
		if col == nil || col.TypeName != "tsvector" {
			target = "to_tsvector(" + cfg + expr + ")"
		}
		out = target + " @@ " + fn + "(" + cfg + s.valueArg(f, f.Value, bindPlain) + ")"
	case f.Quantifier != "":
		out = expr + " " + simpleOperators[f.Op] + " " + strings.ToUpper(f.Quantifier) + "(" + s.simpleValueArg(f) + ")"
	default:
		out = expr + " " + simpleOperators[f.Op] + " " + s.simpleValueArg(f)
	}
	if f.Not {
		out = "NOT (" + out + ")"
	}
	return out, nil
}
