package rest

// The types in this file are the parsed request: what the client asked for,
// before anything is checked against the schema cache.

// JSONStep is one step of a JSON path: col->key or col->>key.
type JSONStep struct {
	// Text is true for ->> (the result is text).
	Text bool
	// Key is the object key or, when Index is true, the array index.
	Key   string
	Index bool
}

// Field is a column reference with an optional JSON path.
type Field struct {
	Name string
	JSON []JSONStep
}

// lastKey is the name PostgREST gives a JSON path in the output: its last
// key, or the column name without a path or when the path ends with an
// array index.
func (f Field) lastKey() string {
	if len(f.JSON) == 0 || f.JSON[len(f.JSON)-1].Index {
		return f.Name
	}
	return f.JSON[len(f.JSON)-1].Key
}

// SelectKind tells the kinds of select items apart.
type SelectKind int

const (
	SelectStar SelectKind = iota
	SelectField
	SelectEmbed
	// SelectCount is the bare count() aggregate.
	SelectCount
)

// Join types of embeds.
const (
	JoinDefault = ""
	JoinInner   = "inner"
	JoinLeft    = "left"
)

// SelectItem is one entry of select=.
type SelectItem struct {
	Kind  SelectKind
	Alias string
	// Field is the column (SelectField).
	Field Field
	// Cast is the type after ::, applied to the column or, with an
	// aggregate, to the aggregate's result.
	Cast string
	// Aggregate is sum, avg, min, max or count applied to Field.
	Aggregate string
	// AggregateCast is the cast of the column inside the aggregate
	// (col::int.sum()).
	AggregateCast string

	// Embed parts.
	Relation string
	Hint     string
	Join     string
	Spread   bool
	Children []SelectItem
}

// Operators that take one value.
var simpleOperators = map[string]string{
	"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=",
	"like": "like", "ilike": "ilike", "match": "~", "imatch": "~*",
	"cs": "@>", "cd": "<@", "ov": "&&", "sl": "<<", "sr": ">>", "nxl": "&<", "nxr": "&>", "adj": "-|-",
	"isdistinct": "is distinct from",
}

// Operators accepting the (any) and (all) modifiers.
var quantifiableOperators = map[string]bool{
	"eq": true, "neq": true, "gt": true, "gte": true, "lt": true, "lte": true,
	"like": true, "ilike": true, "match": true, "imatch": true,
}

var ftsOperators = map[string]string{
	"fts": "to_tsquery", "plfts": "plainto_tsquery", "phfts": "phraseto_tsquery", "wfts": "websearch_to_tsquery",
}

// Filter is one condition: field op value.
type Filter struct {
	// Path is the embed path the filter applies to (empty for the root).
	Path  []string
	Field Field
	Op    string
	Not   bool
	// Quantifier is "any" or "all" for op(any) / op(all).
	Quantifier string
	// Config is the text search configuration of fts(config).
	Config string
	// Value is the operand; List for in.
	Value string
	List  []string
	// slot is the 1-based position of the query parameter the value came
	// from (0 when it came from elsewhere), so that a cached statement can
	// bind another request's value in its place.
	slot int
}

// LogicTree is and=(...) / or=(...), possibly negated and nested.
type LogicTree struct {
	Path     []string
	Or       bool
	Not      bool
	Filters  []Filter
	Children []LogicTree
	// Order of the conditions: true for a child tree, false for a filter,
	// so that the SQL keeps the client's order.
	order []bool
}

// Nulls placement in order=.
const (
	NullsDefault = ""
	NullsFirst   = "first"
	NullsLast    = "last"
)

// OrderTerm is one entry of order=.
type OrderTerm struct {
	// Relation is set for rel(col): ordering by an embedded to-one column.
	Relation string
	Field    Field
	Desc     bool
	Nulls    string
}
