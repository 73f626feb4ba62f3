package schema

import (
	"sort"
	"strings"
	"time"
)

// QualifiedName names a relation, type or function by schema and name.
type QualifiedName struct {
	Schema string
	Name   string
}

// String renders the name as schema.name, without quoting (for messages
// and map keys; SQL text quotes it through Quoted).
func (q QualifiedName) String() string { return q.Schema + "." + q.Name }

// Quoted renders the name as a quoted SQL identifier "schema"."name".
func (q QualifiedName) Quoted() string { return quoteIdent(q.Schema) + "." + quoteIdent(q.Name) }

// quoteIdent quotes one identifier the way PostgreSQL's quote_ident does
// when quoting is needed (always quoting is equally valid and simpler).
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, "\x00", ""), `"`, `""`) + `"`
}

// Kind is the kind of a relation.
type Kind string

// Relation kinds (pg_class.relkind).
const (
	KindTable            Kind = "table"
	KindView             Kind = "view"
	KindMaterializedView Kind = "materialized_view"
	KindForeignTable     Kind = "foreign_table"
	KindPartitionedTable Kind = "partitioned_table"
)

// Cache is one immutable snapshot of the exposed schemas. Nothing in it is
// modified after Load returns it; readers share it without locking.
type Cache struct {
	// Schemas are the exposed schemas in configuration order; the first is
	// the default when a request names none.
	Schemas []string
	// Tables holds tables, views, materialized views, foreign tables and
	// partitioned tables of the exposed schemas.
	Tables map[QualifiedName]*Table
	// Functions holds the functions of the exposed schemas; overloads share
	// one name, so each name maps to all of them (ordered by argument count,
	// then by argument types).
	FunctionsByName map[QualifiedName][]*Function
	// Enums maps an enum type (in any schema, since exposed tables may use
	// types from other schemas) to its labels in sort order.
	Enums map[QualifiedName][]string
	// Relations holds every relationship, keyed by the table it is embedded
	// from.
	Relations map[QualifiedName][]*Relationship
	// LoadedAt is when the catalog was read.
	LoadedAt time.Time
	// LoadDuration is how long reading and assembling the catalog took.
	LoadDuration time.Duration
	// PreRequest is the pre-request function that the database configures
	// as PostgREST's in-database configuration does (the authenticator
	// role's pgrst.db_pre_request setting), quoted and qualified; empty
	// when it configures none. See Service.ReadRoleConfig.
	PreRequest string
}

// Table returns a relation of an exposed schema, or nil.
func (c *Cache) Table(schema, name string) *Table {
	if c == nil {
		return nil
	}
	return c.Tables[QualifiedName{schema, name}]
}

// Functions returns every overload of a function, or nil.
func (c *Cache) Functions(schema, name string) []*Function {
	if c == nil {
		return nil
	}
	return c.FunctionsByName[QualifiedName{schema, name}]
}

// Relationships returns the relationships that can be embedded from the
// relation, in a stable order (by target, then constraint).
func (c *Cache) Relationships(from QualifiedName) []*Relationship {
	if c == nil {
		return nil
	}
	return c.Relations[from]
}

// Exposed reports whether a schema is one of the exposed schemas.
func (c *Cache) Exposed(schema string) bool {
	if c == nil {
		return false
	}
	for _, s := range c.Schemas {
		if s == schema {
			return true
		}
	}
	return false
}

// DefaultSchema is the schema used when a request names none.
func (c *Cache) DefaultSchema() string {
	if c == nil || len(c.Schemas) == 0 {
		return ""
	}
	return c.Schemas[0]
}

// TableNames returns the qualified names of every relation, sorted by
// schema (in exposure order) then name; for stable documents and listings.
func (c *Cache) TableNames() []QualifiedName { return sortedNames(c, c.Tables) }

// FunctionNames returns the qualified names of every function, sorted like
// TableNames.
func (c *Cache) FunctionNames() []QualifiedName { return sortedNames(c, c.FunctionsByName) }

// Table is a relation: a table, view, materialized view, foreign table or
// partitioned table.
type Table struct {
	Schema  string
	Name    string
	OID     uint32
	Kind    Kind
	Comment string
	// Insertable, Updatable and Deletable say which writes the relation
	// accepts (always true for tables; for views as PostgreSQL reports
	// through pg_relation_is_updatable, which counts INSTEAD triggers and
	// rules).
	Insertable bool
	Updatable  bool
	Deletable  bool
	// Columns in attribute order; ColumnsByName indexes them.
	Columns       []*Column
	ColumnsByName map[string]*Column
	// PrimaryKey lists the primary key columns in key order; for a view,
	// the view's columns that expose its base table's whole primary key.
	PrimaryKey []string
	// UniqueKeys lists unique constraints and unique indexes without a
	// predicate or expressions (the primary key excluded), each in key order.
	UniqueKeys [][]string
	// ComputedFields are functions taking this relation's row type as their
	// only required argument, by function name.
	ComputedFields map[string]*ComputedField
	// MediaHandlers are the aggregates that render this relation's rows in
	// a media type of their own (see MediaHandler): its own, then those
	// taking any rows, for the media types it has none of its own for.
	MediaHandlers []*MediaHandler
	// RLSEnabled reports row level security on the table.
	RLSEnabled bool
}

// MediaHandler is an aggregate that renders rows in a media type:
// PostgREST's media type handler for tables, views and set-returning
// functions. Its result type is a domain named after the media type, such
// as "text/tab-separated-values" or "application/vnd.twkb".
type MediaHandler struct {
	MediaType string
	// Aggregate is the aggregate's schema and name.
	Aggregate QualifiedName
	// Binary says the domain is over bytea: its bytes are the body.
	Binary bool
	// Any says it takes anyelement (any row) rather than the row type of
	// one relation, which then takes the relation's columns exactly.
	Any bool
}

// QualifiedName returns the table's schema and name.
func (t *Table) QualifiedName() QualifiedName { return QualifiedName{t.Schema, t.Name} }

// Column returns a column by name, or nil.
func (t *Table) Column(name string) *Column {
	if t == nil {
		return nil
	}
	return t.ColumnsByName[name]
}

// IsView reports whether the relation is a view or materialized view.
func (t *Table) IsView() bool { return t.Kind == KindView || t.Kind == KindMaterializedView }

// Identity is a column's identity kind.
type Identity string

// Identity kinds (pg_attribute.attidentity).
const (
	IdentityNone      Identity = ""
	IdentityAlways    Identity = "always"
	IdentityByDefault Identity = "by_default"
)

// Column is a column of a relation.
type Column struct {
	Name string
	// Position is the 1-based attribute number (gaps from dropped columns
	// are kept, so it matches pg_attribute.attnum).
	Position int
	// Type is format_type's rendering with modifiers, e.g.
	// "character varying(20)", "integer[]", "public.status" (types outside
	// pg_catalog and the search path are schema-qualified).
	Type string
	// TypeName is the type without modifiers or array brackets for scalars,
	// e.g. "character varying", "integer", "public.status"; for arrays it is
	// the array type's name without modifiers, e.g. "integer[]".
	TypeName string
	TypeOID  uint32
	// IsArray reports an array type; ElemType/ElemTypeOID name its element.
	IsArray     bool
	ElemType    string
	ElemTypeOID uint32
	// TypeCategory is pg_type.typcategory of the column's type (of the
	// element for arrays): N numeric, S string, B boolean, D date/time,
	// U user (json, jsonb, uuid, ...), E enum, R range, A array...
	TypeCategory string
	Nullable     bool
	// Default is the default expression text (pg_get_expr), empty when
	// there is none. For identity columns it is empty and HasDefault true.
	Default    string
	HasDefault bool
	// Generated reports a stored generated column (never writable); its
	// Default is then the generation expression.
	Generated bool
	Identity  Identity
	Comment   string
	// EnumValues lists the labels in sort order when the type (or the
	// array's element type) is an enum.
	EnumValues []string
	// MaxLength is the character length limit of varchar(n)/char(n), else 0.
	MaxLength int
	// Updatable is false for a view column that does not map to a base
	// table column (information_schema.columns.is_updatable).
	Updatable bool
}

// ComputedField is a function usable as a virtual column of a table.
type ComputedField struct {
	Function *Function
	// ReturnType is format_type of the return type.
	ReturnType string
	// ReturnsSet and ReturnTable let a computed field be embedded like a
	// relationship when it returns rows of a table.
	ReturnsSet  bool
	ReturnTable *QualifiedName
	// ToOne says that, embedded, it yields one row at most (an object):
	// it returns a single row, or a set declared ROWS 1.
	ToOne bool
}

// RelKind is the cardinality of a relationship seen from the side embedded
// from.
type RelKind string

// Relationship kinds.
const (
	ManyToOne  RelKind = "many_to_one"
	OneToMany  RelKind = "one_to_many"
	OneToOne   RelKind = "one_to_one"
	ManyToMany RelKind = "many_to_many"
)

// Relationship lets ForeignTable be embedded from Table. Columns and
// ForeignColumns pair up one to one: Table.Columns[i] joins
// ForeignTable.ForeignColumns[i]. For ManyToMany the join goes through
// Junction and Columns/ForeignColumns are the columns the junction
// references on each side.
type Relationship struct {
	Kind RelKind
	// Constraint is the foreign key's name; empty for ManyToMany, whose
	// hint is the junction table's name (Junction.Table.Name).
	Constraint     string
	Table          QualifiedName
	Columns        []string
	ForeignTable   QualifiedName
	ForeignColumns []string
	// IsSelf reports a relationship from a table to itself.
	IsSelf bool
	// ForeignKeyOnTable reports that the foreign key is declared on Table's
	// side (Table.Columns reference ForeignTable.ForeignColumns); it tells
	// the two directions of a one-to-one relationship apart.
	ForeignKeyOnTable bool
	// Junction is set for ManyToMany only.
	Junction *Junction
	// Derived reports a relationship of a view obtained through its base
	// tables rather than from a foreign key declared on it.
	Derived bool
}

// IsToOne reports whether embedding yields at most one row (an object
// rather than an array).
func (r *Relationship) IsToOne() bool { return r.Kind == ManyToOne || r.Kind == OneToOne }

// Junction is the join table of a many-to-many relationship.
// SourceConstraint joins Junction.SourceJunctionColumns to
// Relationship.Table's SourceColumns; TargetConstraint joins
// TargetJunctionColumns to Relationship.ForeignTable's TargetColumns.
type Junction struct {
	Table                 QualifiedName
	SourceConstraint      string
	SourceColumns         []string
	SourceJunctionColumns []string
	TargetConstraint      string
	TargetColumns         []string
	TargetJunctionColumns []string
}

// ArgMode is how a function parameter is passed.
type ArgMode string

// Parameter modes (pg_proc.proargmodes).
const (
	ArgIn       ArgMode = "in"
	ArgOut      ArgMode = "out"
	ArgInOut    ArgMode = "inout"
	ArgVariadic ArgMode = "variadic"
	ArgTable    ArgMode = "table"
)

// Arg is one function parameter.
type Arg struct {
	// Name is empty for unnamed parameters.
	Name    string
	Type    string
	TypeOID uint32
	Mode    ArgMode
	// HasDefault reports that the caller may omit it.
	HasDefault bool
}

// IsInput reports whether the caller passes this parameter.
func (a Arg) IsInput() bool { return a.Mode == ArgIn || a.Mode == ArgInOut || a.Mode == ArgVariadic }

// ReturnKind classifies what a function returns.
type ReturnKind string

// Return kinds.
const (
	ReturnVoid   ReturnKind = "void"
	ReturnScalar ReturnKind = "scalar"
	// ReturnComposite is one row of a table or composite type.
	ReturnComposite ReturnKind = "composite"
	// ReturnSetOfScalar is SETOF a scalar type.
	ReturnSetOfScalar ReturnKind = "setof_scalar"
	// ReturnSetOfComposite is SETOF a table or composite type.
	ReturnSetOfComposite ReturnKind = "setof_composite"
	// ReturnTable is RETURNS TABLE (...) or OUT parameters (a set when
	// ReturnsSet, one record otherwise).
	ReturnTable ReturnKind = "table"
)

// Volatility is a function's volatility class.
type Volatility string

// Volatility classes (pg_proc.provolatile).
const (
	Immutable Volatility = "immutable"
	Stable    Volatility = "stable"
	Volatile  Volatility = "volatile"
)

// Function is one function (one overload) of an exposed schema.
type Function struct {
	Schema  string
	Name    string
	OID     uint32
	Comment string
	// Args are all parameters in declaration order, OUT and TABLE ones
	// included (see Arg.IsInput).
	Args []Arg
	// ReturnType is format_type of the declared return type ("void",
	// "integer", "public.orders", "record", "SETOF" is not included).
	ReturnType    string
	ReturnTypeOID uint32
	ReturnsSet    bool
	// SingleRow reports a set-returning function declared ROWS 1, which
	// PostgREST takes as a to-one computed relationship.
	SingleRow bool
	// MediaType is the media type a function returning a domain named
	// after one answers in (PostgREST's media type handlers), such as
	// "text/html", "image/png" or "*/*"; MediaBinary says that the domain
	// is over bytea, so that its bytes are the body.
	MediaType   string
	MediaBinary bool
	ReturnKind  ReturnKind
	// ReturnTable is the relation whose row type the function returns
	// (composite and setof composite of a table or view), so its result can
	// be embedded from and filtered like that relation.
	ReturnTable *QualifiedName
	// ReturnColumns describe the result row for ReturnTable kinds (from OUT
	// and TABLE parameters) and for composite types that are not relations.
	ReturnColumns []Arg
	Volatility    Volatility
	// Variadic reports a VARIADIC last parameter.
	Variadic bool
	// SingleJSONParam reports a single unnamed json or jsonb parameter: the
	// whole request body is passed to it.
	SingleJSONParam bool
	// SingleUnnamedParam reports a single unnamed parameter of any type
	// (PostgREST passes the raw body for json, jsonb, text, xml, bytea).
	SingleUnnamedParam bool
	// RequiredArgs is the number of input parameters without a default.
	RequiredArgs int
}

// QualifiedName returns the function's schema and name.
func (f *Function) QualifiedName() QualifiedName { return QualifiedName{f.Schema, f.Name} }

// InputArgs returns the parameters a caller passes, in order.
func (f *Function) InputArgs() []Arg {
	out := make([]Arg, 0, len(f.Args))
	for _, a := range f.Args {
		if a.IsInput() {
			out = append(out, a)
		}
	}
	return out
}

// ReadOnly reports whether the function may be called with GET (stable or
// immutable).
func (f *Function) ReadOnly() bool { return f.Volatility != Volatile }

// sortedNames returns a map's keys ordered by exposed-schema position, then
// name.
func sortedNames[V any](c *Cache, m map[QualifiedName]V) []QualifiedName {
	if c == nil {
		return nil
	}
	rank := make(map[string]int, len(c.Schemas))
	for i, s := range c.Schemas {
		rank[s] = i
	}
	out := make([]QualifiedName, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Schema != out[j].Schema {
			return rank[out[i].Schema] < rank[out[j].Schema]
		}
		return out[i].Name < out[j].Name
	})
	return out
}
