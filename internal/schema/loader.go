package schema

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Catalog queries. They run in one read-only repeatable-read transaction,
// sent as one batch (one round trip), with search_path set to pg_catalog
// alone so that format_type qualifies every user type with its schema.
//
// $1 is the exposed schemas. Partitions are left out, as PostgREST does:
// clients go through the partitioned table. Keys, foreign keys and view
// definitions are read for every user schema, not only the exposed ones,
// because views in an exposed schema commonly sit on tables in a private
// one and inherit their keys and relationships.

const systemSchemas = `('pg_catalog', 'information_schema', 'pg_toast')`

const relationsSQL = `
select c.oid, n.nspname, c.relname, c.relkind::text, c.reltype,
       coalesce(ds.description, ''),
       c.relrowsecurity,
       case when c.relkind in ('r', 'p') then 28
            when c.relkind in ('v', 'f') then pg_relation_is_updatable(c.oid, true)
            else 0 end
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_description ds on ds.objoid = c.oid and ds.classoid = 'pg_class'::regclass and ds.objsubid = 0
where n.nspname = any($1) and c.relkind in ('r', 'v', 'm', 'f', 'p') and not c.relispartition
order by c.oid`

const columnsSQL = `
select a.attrelid, a.attname, a.attnum,
       format_type(a.atttypid, a.atttypmod),
       format_type(a.atttypid, null),
       a.atttypid,
       case when t.typcategory = 'A' and et.oid is not null then et.typcategory else t.typcategory end::text,
       coalesce(et.oid, 0),
       coalesce(format_type(et.oid, null), ''),
       t.typcategory = 'A',
       not a.attnotnull,
       -- A default cannot refer to columns, so it is deparsed without its
       -- relation, which spares opening and locking every table; only
       -- generated columns' expressions need it.
       coalesce(pg_get_expr(d.adbin, case when a.attgenerated = '' then 0 else d.adrelid end), ''),
       a.atthasdef or a.attidentity <> '',
       a.attgenerated = 's',
       a.attidentity::text,
       coalesce(ds.description, ''),
       case when coalesce(et.oid, t.oid) in (1042, 1043) and a.atttypmod > 4 then a.atttypmod - 4 else 0 end,
       case when c.relkind in ('v', 'f') then pg_column_is_updatable(c.oid, a.attnum, true)
            else c.relkind in ('r', 'p') end,
       coalesce(case when t.typtype = 'e' then t.oid when et.typtype = 'e' then et.oid end, 0)
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
left join pg_type et on et.oid = t.typelem and t.typcategory = 'A'
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
left join pg_description ds on ds.objoid = a.attrelid and ds.classoid = 'pg_class'::regclass and ds.objsubid = a.attnum
where n.nspname = any($1) and c.relkind in ('r', 'v', 'm', 'f', 'p') and not c.relispartition
  and a.attnum > 0 and not a.attisdropped
order by a.attrelid, a.attnum`

// keysSQL lists primary keys and unique indexes usable as keys (no
// predicate, no expressions; INCLUDE columns left out) of every user table.
const keysSQL = `
select i.indrelid, i.indisprimary, (i.indkey::int2[])[0:i.indnkeyatts - 1]
from pg_index i
join pg_class c on c.oid = i.indrelid
join pg_namespace n on n.oid = c.relnamespace
where i.indisunique and i.indpred is null and i.indexprs is null
  and n.nspname not in ` + systemSchemas + ` and n.nspname not like 'pg\_temp%'
order by i.indrelid, not i.indisprimary, i.indexrelid`

// foreignKeysSQL lists the foreign keys of every user table. Column names
// are read here only for tables outside the exposed schemas (junction
// tables may live anywhere); the others' come from the columns query.
const foreignKeysSQL = `
select con.conname, con.conrelid, n1.nspname, c1.relname, con.confrelid, n2.nspname, c2.relname,
       con.conkey, con.confkey,
       case when n1.nspname = any($1) then null else
         array(select a.attname::text from unnest(con.conkey) with ordinality u(k, o)
               join pg_attribute a on a.attrelid = con.conrelid and a.attnum = u.k order by u.o) end
from pg_constraint con
join pg_class c1 on c1.oid = con.conrelid
join pg_namespace n1 on n1.oid = c1.relnamespace
join pg_class c2 on c2.oid = con.confrelid
join pg_namespace n2 on n2.oid = c2.relnamespace
where con.contype = 'f' and con.conparentid = 0
  and n1.nspname not in ` + systemSchemas + ` and n1.nspname not like 'pg\_temp%'
order by con.conrelid, con.conname`

const viewsSQL = `
select r.ev_class, r.ev_action::text
from pg_rewrite r
join pg_class c on c.oid = r.ev_class
join pg_namespace n on n.oid = c.relnamespace
where r.rulename = '_RETURN' and c.relkind in ('v', 'm')
  and n.nspname not in ` + systemSchemas + `
order by r.ev_class`

// bytesDomainSQL tells whether the type rt is a domain over bytea, through
// domains over domains.
const bytesDomainSQL = `(rt.typtype = 'd' and 'bytea'::regtype in (
         with recursive base(t) as (
           select rt.typbasetype
           union all
           select d.typbasetype from base join pg_type d on d.oid = base.t and d.typtype = 'd')
         select t from base))`

const functionsSQL = `
select p.oid, n.nspname, p.proname,
       coalesce((select description from pg_description where objoid = p.oid and classoid = 'pg_proc'::regclass and objsubid = 0), ''),
       p.pronargdefaults,
       coalesce(p.proallargtypes, p.proargtypes::oid[]),
       array(select format_type(t, null) from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality u(t, o) order by o),
       coalesce(p.proargmodes::text[], '{}'),
       coalesce(p.proargnames, '{}'),
       p.prorettype, format_type(p.prorettype, null), p.proretset,
       rt.typtype::text, rt.typrelid, coalesce(rc.relkind::text, ''),
       p.provolatile::text, p.provariadic <> 0, p.proretset and p.prorows = 1,
       case when rt.typtype = 'd' and not p.proretset and rt.typname ~ '^[^/]+/[^/]+$' then rt.typname else '' end,
       ` + bytesDomainSQL + `
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
left join pg_class rc on rc.oid = rt.typrelid
where n.nspname = any($1) and p.prokind = 'f'
order by n.nspname, p.proname, p.pronargs, p.oid`

// compositeColumnsSQL describes composite types (CREATE TYPE ... AS)
// returned by functions of the exposed schemas.
const compositeColumnsSQL = `
select a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.atttypid
from pg_attribute a
join pg_class c on c.oid = a.attrelid and c.relkind = 'c'
where a.attnum > 0 and not a.attisdropped
  and c.reltype in (select p.prorettype from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = any($1))
order by a.attrelid, a.attnum`

// mediaAggregatesSQL lists the aggregates of the exposed schemas whose
// result is a domain named after a media type (media type handlers): the
// type of rows they take (0 for anyelement), the media type and whether
// the domain is over bytea.
const mediaAggregatesSQL = `
select n.nspname, p.proname,
       case when p.proargtypes[0] = 'anyelement'::regtype then 0 else p.proargtypes[0] end,
       rt.typname, ` + bytesDomainSQL + `
from pg_aggregate a
join pg_proc p on p.oid = a.aggfnoid
join pg_namespace n on n.oid = p.pronamespace
join pg_type rt on rt.oid = p.prorettype
where n.nspname = any($1) and p.pronargs = 1
  and rt.typtype = 'd' and rt.typname ~ '^[^/]+/[^/]+$'
order by n.nspname, p.proname, p.oid`

const enumsSQL = `
select t.oid, n.nspname, t.typname, array_agg(e.enumlabel::text order by e.enumsortorder)
from pg_enum e
join pg_type t on t.oid = e.enumtypid
join pg_namespace n on n.oid = t.typnamespace
group by t.oid, n.nspname, t.typname`

// keyInfo is one primary or unique key of any user table, by attribute
// numbers (names are only needed for exposed tables, whose columns are
// known).
type keyInfo struct {
	primary bool
	nums    []int16
}

// fkInfo is one foreign key of any user table. cols and fcols are the
// column names on each side, nil for a side outside the exposed schemas
// (except cols of a junction table, read from the catalog).
type fkInfo struct {
	name        string
	rel, frel   uint32
	relName     QualifiedName
	frelName    QualifiedName
	nums, fnums []int16
	cols, fcols []string
}

// loadCatalog reads the catalog and assembles a Cache.
func loadCatalog(ctx context.Context, pool *pgxpool.Pool, schemas []string) (*Cache, string, error) {
	started := time.Now()
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, "", fmt.Errorf("schema cache: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	c := &Cache{
		Schemas:         slices.Clone(schemas),
		Tables:          map[QualifiedName]*Table{},
		FunctionsByName: map[QualifiedName][]*Function{},
		Enums:           map[QualifiedName][]string{},
		Relations:       map[QualifiedName][]*Relationship{},
	}
	l := &loader{
		c:         c,
		byOID:     map[uint32]*Table{},
		byRowType: map[uint32]*Table{},
		enums:     map[uint32][]string{},
		keys:      map[uint32][]keyInfo{},
		views:     map[uint32][]viewColumnOrigin{},
		composite: map[uint32][]Arg{},
		mediaAggs: map[uint32][]*MediaHandler{},
	}

	b := &pgx.Batch{}
	b.Queue("set local search_path = pg_catalog")
	b.Queue(enumsSQL).Query(l.scanEnums)
	b.Queue(relationsSQL, schemas).Query(l.scanRelations)
	b.Queue(columnsSQL, schemas).Query(l.scanColumns)
	b.Queue(keysSQL).Query(l.scanKeys)
	b.Queue(foreignKeysSQL, schemas).Query(l.scanForeignKeys)
	b.Queue(viewsSQL).Query(l.scanViews)
	b.Queue(compositeColumnsSQL, schemas).Query(l.scanComposite)
	b.Queue(functionsSQL, schemas).Query(l.scanFunctions)
	b.Queue(mediaAggregatesSQL, schemas).Query(l.scanMediaAggregates)
	var fingerprint string
	b.Queue(fingerprintSQL).QueryRow(func(r pgx.Row) error { return r.Scan(&fingerprint) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, "", fmt.Errorf("schema cache: reading the catalog: %w", err)
	}
	c.LoadedAt = time.Now()

	l.assemble()
	c.LoadDuration = time.Since(started)
	return c, fingerprint, nil
}

type loader struct {
	c         *Cache
	byOID     map[uint32]*Table
	byRowType map[uint32]*Table
	enums     map[uint32][]string
	keys      map[uint32][]keyInfo
	fks       []fkInfo
	views     map[uint32][]viewColumnOrigin
	composite map[uint32][]Arg
	funcs     []*Function
	// mediaAggs are the media type handlers by the row type they take (0
	// for anyelement).
	mediaAggs map[uint32][]*MediaHandler
	// resolvedViews maps a view's OID to, per view column, the base table
	// column it shows (zero for expressions), through views of views.
	resolvedViews map[uint32][]baseCol
	// viewsByBase lists, per base table, the exposed views showing some of
	// its columns.
	viewsByBase map[uint32][]*Table
}

func (l *loader) scanMediaAggregates(rows pgx.Rows) error {
	var h MediaHandler
	var rowType uint32
	_, err := pgx.ForEachRow(rows, []any{&h.Aggregate.Schema, &h.Aggregate.Name, &rowType, &h.MediaType, &h.Binary}, func() error {
		mh := h
		mh.Any = rowType == 0
		l.mediaAggs[rowType] = append(l.mediaAggs[rowType], &mh)
		return nil
	})
	return err
}

func (l *loader) scanEnums(rows pgx.Rows) error {
	var oid uint32
	var q QualifiedName
	var labels []string
	_, err := pgx.ForEachRow(rows, []any{&oid, &q.Schema, &q.Name, &labels}, func() error {
		l.enums[oid] = labels
		l.c.Enums[q] = labels
		return nil
	})
	return err
}

func (l *loader) scanRelations(rows pgx.Rows) error {
	var (
		oid, rowType uint32
		schema, name string
		relkind      string
		comment      string
		rls          bool
		updatable    int32
	)
	_, err := pgx.ForEachRow(rows, []any{&oid, &schema, &name, &relkind, &rowType, &comment, &rls, &updatable}, func() error {
		t := &Table{
			Schema: schema, Name: name, OID: oid, Kind: relKind(relkind), Comment: comment, RLSEnabled: rls,
			Updatable:     updatable&(1<<2) != 0,
			Insertable:    updatable&(1<<3) != 0,
			Deletable:     updatable&(1<<4) != 0,
			ColumnsByName: map[string]*Column{},
		}
		l.c.Tables[t.QualifiedName()] = t
		l.byOID[oid] = t
		l.byRowType[rowType] = t
		return nil
	})
	return err
}

func relKind(k string) Kind {
	switch k {
	case "v":
		return KindView
	case "m":
		return KindMaterializedView
	case "f":
		return KindForeignTable
	case "p":
		return KindPartitionedTable
	}
	return KindTable
}

func (l *loader) scanColumns(rows pgx.Rows) error {
	var (
		rel     uint32
		col     Column
		pos     int16
		ident   string
		maxLen  int32
		enumOID uint32
	)
	_, err := pgx.ForEachRow(rows, []any{&rel, &col.Name, &pos, &col.Type, &col.TypeName, &col.TypeOID, &col.TypeCategory,
		&col.ElemTypeOID, &col.ElemType, &col.IsArray, &col.Nullable, &col.Default, &col.HasDefault, &col.Generated,
		&ident, &col.Comment, &maxLen, &col.Updatable, &enumOID}, func() error {
		t := l.byOID[rel]
		if t == nil {
			return nil
		}
		c := col
		c.Position = int(pos)
		c.MaxLength = int(maxLen)
		switch ident {
		case "a":
			c.Identity = IdentityAlways
		case "d":
			c.Identity = IdentityByDefault
		}
		if enumOID != 0 {
			c.EnumValues = l.enums[enumOID]
		}
		if c.Generated {
			// A generated column's expression is not a default: it cannot
			// be written at all.
			c.HasDefault = true
		}
		p := &c
		t.Columns = append(t.Columns, p)
		t.ColumnsByName[c.Name] = p
		return nil
	})
	return err
}

func (l *loader) scanKeys(rows pgx.Rows) error {
	var (
		rel     uint32
		primary bool
		nums    []int16
	)
	_, err := pgx.ForEachRow(rows, []any{&rel, &primary, &nums}, func() error {
		l.keys[rel] = append(l.keys[rel], keyInfo{primary: primary, nums: nums})
		return nil
	})
	return err
}

func (l *loader) scanForeignKeys(rows pgx.Rows) error {
	var fk fkInfo
	_, err := pgx.ForEachRow(rows, []any{&fk.name, &fk.rel, &fk.relName.Schema, &fk.relName.Name, &fk.frel,
		&fk.frelName.Schema, &fk.frelName.Name, &fk.nums, &fk.fnums, &fk.cols}, func() error {
		l.fks = append(l.fks, fk)
		return nil
	})
	return err
}

func (l *loader) scanViews(rows pgx.Rows) error {
	var (
		oid    uint32
		action string
	)
	_, err := pgx.ForEachRow(rows, []any{&oid, &action}, func() error {
		origins, err := viewOrigins(action)
		if err != nil {
			// A view whose definition cannot be read still works; it just
			// has no key or relationships of its own.
			return nil
		}
		l.views[oid] = origins
		return nil
	})
	return err
}

func (l *loader) scanComposite(rows pgx.Rows) error {
	var (
		rel uint32
		a   Arg
	)
	_, err := pgx.ForEachRow(rows, []any{&rel, &a.Name, &a.Type, &a.TypeOID}, func() error {
		a.Mode = ArgOut
		l.composite[rel] = append(l.composite[rel], a)
		return nil
	})
	return err
}

func (l *loader) scanFunctions(rows pgx.Rows) error {
	var (
		f          Function
		nDefaults  int16
		argTypes   []uint32
		argFormats []string
		argModes   []string
		argNames   []string
		retType    string
		retRel     uint32
		retRelKind string
		volatility string
	)
	_, err := pgx.ForEachRow(rows, []any{&f.OID, &f.Schema, &f.Name, &f.Comment, &nDefaults, &argTypes, &argFormats,
		&argModes, &argNames, &f.ReturnTypeOID, &f.ReturnType, &f.ReturnsSet, &retType, &retRel, &retRelKind,
		&volatility, &f.Variadic, &f.SingleRow, &f.MediaType, &f.MediaBinary}, func() error {
		fn := f
		fn.Args = make([]Arg, len(argTypes))
		for i := range argTypes {
			a := Arg{TypeOID: argTypes[i], Type: argFormats[i], Mode: ArgIn}
			if i < len(argNames) {
				a.Name = argNames[i]
			}
			if i < len(argModes) {
				a.Mode = argMode(argModes[i])
			}
			fn.Args[i] = a
		}
		// pronargdefaults counts the last input parameters.
		for i := len(fn.Args) - 1; i >= 0 && nDefaults > 0; i-- {
			if fn.Args[i].IsInput() {
				fn.Args[i].HasDefault = true
				nDefaults--
			}
		}
		var outs []Arg
		inputs := 0
		for _, a := range fn.Args {
			if a.IsInput() {
				inputs++
				if !a.HasDefault {
					fn.RequiredArgs++
				}
			}
			if a.Mode == ArgOut || a.Mode == ArgInOut || a.Mode == ArgTable {
				outs = append(outs, a)
			}
		}
		if in := fn.InputArgs(); len(in) == 1 && in[0].Name == "" {
			fn.SingleUnnamedParam = true
			fn.SingleJSONParam = in[0].TypeOID == jsonOID || in[0].TypeOID == jsonbOID
		}
		switch volatility {
		case "i":
			fn.Volatility = Immutable
		case "s":
			fn.Volatility = Stable
		default:
			fn.Volatility = Volatile
		}
		composite := retType == "c"
		switch {
		case fn.ReturnTypeOID == voidOID:
			fn.ReturnKind = ReturnVoid
		case fn.ReturnTypeOID == recordOID && len(outs) > 0:
			fn.ReturnKind = ReturnTable
			fn.ReturnColumns = outs
		case composite && fn.ReturnsSet:
			fn.ReturnKind = ReturnSetOfComposite
		case composite:
			fn.ReturnKind = ReturnComposite
		case fn.ReturnsSet:
			fn.ReturnKind = ReturnSetOfScalar
		default:
			fn.ReturnKind = ReturnScalar
		}
		if composite {
			if retRelKind == "c" {
				fn.ReturnColumns = l.composite[retRel]
			} else if t := l.byOID[retRel]; t != nil {
				q := t.QualifiedName()
				fn.ReturnTable = &q
			}
		}
		p := &fn
		l.funcs = append(l.funcs, p)
		q := p.QualifiedName()
		l.c.FunctionsByName[q] = append(l.c.FunctionsByName[q], p)
		return nil
	})
	return err
}

// Well-known type OIDs (fixed in pg_type.dat).
const (
	jsonOID   = 114
	jsonbOID  = 3802
	voidOID   = 2278
	recordOID = 2249
)

func argMode(m string) ArgMode {
	switch m {
	case "o":
		return ArgOut
	case "b":
		return ArgInOut
	case "v":
		return ArgVariadic
	case "t":
		return ArgTable
	}
	return ArgIn
}

// assemble derives keys, computed fields and relationships once every
// query has been read.
func (l *loader) assemble() {
	// Foreign key column names of exposed tables.
	for i := range l.fks {
		fk := &l.fks[i]
		if t := l.byOID[fk.rel]; t != nil {
			fk.cols = columnNames(t, fk.nums)
		}
		if t := l.byOID[fk.frel]; t != nil {
			fk.fcols = columnNames(t, fk.fnums)
		}
	}
	// Keys of exposed tables.
	for oid, t := range l.byOID {
		for _, k := range l.keys[oid] {
			names := columnNames(t, k.nums)
			if names == nil {
				continue
			}
			if k.primary {
				t.PrimaryKey = names
			} else {
				t.UniqueKeys = append(t.UniqueKeys, names)
			}
		}
	}
	// Views: resolve each column to its base table column, then inherit the
	// primary key (and unique keys) whose columns the view exposes.
	l.resolveViews()
	for oid, t := range l.byOID {
		if !t.IsView() {
			continue
		}
		t.PrimaryKey, t.UniqueKeys = l.viewKeys(oid)
	}

	// Computed fields: a function whose first input is the row type and
	// whose other inputs all have defaults. One returning rows of a table
	// is also a computed relationship, to-one when it returns a single row
	// or a set declared ROWS 1, as in PostgREST.
	for _, f := range l.funcs {
		in := f.InputArgs()
		if len(in) == 0 || f.ReturnKind == ReturnVoid || f.Variadic && len(in) == 1 {
			continue
		}
		t := l.byRowType[in[0].TypeOID]
		if t == nil || f.Schema != t.Schema && !l.c.Exposed(f.Schema) {
			continue
		}
		rest := true
		for _, a := range in[1:] {
			if !a.HasDefault {
				rest = false
			}
		}
		if !rest {
			continue
		}
		if t.ComputedFields == nil {
			t.ComputedFields = map[string]*ComputedField{}
		}
		if _, dup := t.ComputedFields[f.Name]; dup {
			continue
		}
		t.ComputedFields[f.Name] = &ComputedField{Function: f, ReturnType: f.ReturnType, ReturnsSet: f.ReturnsSet, ReturnTable: f.ReturnTable,
			ToOne: !f.ReturnsSet || f.SingleRow}
	}

	// Media type handlers: a relation's own, then those for any rows of a
	// media type it has none of its own for.
	for rowType, hs := range l.mediaAggs {
		if t := l.byRowType[rowType]; t != nil && rowType != 0 {
			t.MediaHandlers = hs
		}
	}
	if anyRows := l.mediaAggs[0]; len(anyRows) > 0 {
		for _, t := range l.c.Tables {
			for _, h := range anyRows {
				if !slices.ContainsFunc(t.MediaHandlers, func(o *MediaHandler) bool { return o.MediaType == h.MediaType }) {
					t.MediaHandlers = append(t.MediaHandlers, h)
				}
			}
		}
	}

	l.relationships()
}

// columnNames maps attribute numbers to the table's column names, or nil
// when one is unknown.
func columnNames(t *Table, nums []int16) []string {
	out := make([]string, 0, len(nums))
	for _, n := range nums {
		i := sort.Search(len(t.Columns), func(i int) bool { return t.Columns[i].Position >= int(n) })
		if i == len(t.Columns) || t.Columns[i].Position != int(n) {
			return nil
		}
		out = append(out, t.Columns[i].Name)
	}
	return out
}

// resolved maps view OID → per view column (index = attnum-1) → base
// table column, following views of views.
type baseCol struct {
	table uint32
	col   int16
}

func (l *loader) resolveViews() {
	l.resolvedViews = map[uint32][]baseCol{}
	for oid := range l.views {
		l.resolveView(oid, 0)
	}
}

func (l *loader) resolveView(oid uint32, depth int) []baseCol {
	if r, ok := l.resolvedViews[oid]; ok {
		return r
	}
	origins := l.views[oid]
	out := make([]baseCol, len(origins))
	l.resolvedViews[oid] = out // breaks cycles (which PostgreSQL forbids anyway)
	for i, o := range origins {
		if o.Table == 0 {
			continue
		}
		if _, isView := l.views[o.Table]; isView && depth < 64 {
			inner := l.resolveView(o.Table, depth+1)
			if int(o.Column) >= 1 && int(o.Column) <= len(inner) {
				out[i] = inner[o.Column-1]
			}
			continue
		}
		out[i] = baseCol{o.Table, o.Column}
	}
	return out
}

// viewColumns returns the view's column names exposing the base table's
// columns nums (in order), or nil when some column is not exposed.
func (l *loader) viewColumns(view *Table, base uint32, nums []int16) []string {
	mapping := l.resolvedViews[view.OID]
	out := make([]string, 0, len(nums))
	for _, n := range nums {
		found := ""
		for i, bc := range mapping {
			if bc.table == base && bc.col == n && i < len(view.Columns) {
				found = view.Columns[i].Name
				break
			}
		}
		if found == "" {
			return nil
		}
		out = append(out, found)
	}
	return out
}

// viewKeys derives a view's primary key and unique keys from the keys of
// the base tables whose key columns it exposes; the primary key comes from
// the first base table (in column order) whose whole primary key is shown.
func (l *loader) viewKeys(oid uint32) (pk []string, uniques [][]string) {
	view := l.byOID[oid]
	seen := map[uint32]bool{}
	for _, bc := range l.resolvedViews[oid] {
		if bc.table == 0 || seen[bc.table] {
			continue
		}
		seen[bc.table] = true
		for _, k := range l.keys[bc.table] {
			cols := l.viewColumns(view, bc.table, k.nums)
			if cols == nil {
				continue
			}
			if k.primary && pk == nil {
				pk = cols
			} else {
				uniques = append(uniques, cols)
			}
		}
	}
	return pk, uniques
}

// endpoint is one exposed relation that shows a base table's key columns:
// the table itself or a view on it.
type endpoint struct {
	name QualifiedName
	cols []string
	view bool
}

// endpoints lists the exposed relations through which the base table's
// columns nums can be joined.
func (l *loader) endpoints(base uint32, cols []string, nums []int16) []endpoint {
	var out []endpoint
	if t := l.byOID[base]; t != nil && !t.IsView() {
		out = append(out, endpoint{name: t.QualifiedName(), cols: cols})
	}
	for _, v := range l.viewsByBase[base] {
		if vc := l.viewColumns(v, base, nums); vc != nil {
			out = append(out, endpoint{name: v.QualifiedName(), cols: vc, view: true})
		}
	}
	return out
}

// isUnique reports whether the columns nums of a base table are exactly one
// of its keys (in any order).
func (l *loader) isUnique(rel uint32, nums []int16) bool {
	for _, k := range l.keys[rel] {
		if sameSet(k.nums, nums) {
			return true
		}
	}
	return false
}

func sameSet(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func subset(a, of []int16) bool {
	for _, x := range a {
		if !slices.Contains(of, x) {
			return false
		}
	}
	return true
}

func (l *loader) relationships() {
	l.viewsByBase = map[uint32][]*Table{}
	for oid, mapping := range l.resolvedViews {
		v := l.byOID[oid]
		if v == nil {
			continue
		}
		seen := map[uint32]bool{}
		for _, bc := range mapping {
			if bc.table != 0 && !seen[bc.table] {
				seen[bc.table] = true
				l.viewsByBase[bc.table] = append(l.viewsByBase[bc.table], v)
			}
		}
	}
	for _, vs := range l.viewsByBase {
		sort.Slice(vs, func(i, j int) bool { return vs[i].OID < vs[j].OID })
	}

	add := func(r *Relationship) { l.c.Relations[r.Table] = append(l.c.Relations[r.Table], r) }

	for _, fk := range l.fks {
		unique := l.isUnique(fk.rel, fk.nums)
		from := l.endpoints(fk.rel, fk.cols, fk.nums)
		to := l.endpoints(fk.frel, fk.fcols, fk.fnums)
		for _, a := range from {
			for _, b := range to {
				self := a.name == b.name
				fwd, back := ManyToOne, OneToMany
				if unique {
					fwd, back = OneToOne, OneToOne
				}
				add(&Relationship{Kind: fwd, Constraint: fk.name, Table: a.name, Columns: a.cols,
					ForeignTable: b.name, ForeignColumns: b.cols, IsSelf: self, ForeignKeyOnTable: true,
					Derived: a.view || b.view})
				add(&Relationship{Kind: back, Constraint: fk.name, Table: b.name, Columns: b.cols,
					ForeignTable: a.name, ForeignColumns: a.cols, IsSelf: self, Derived: a.view || b.view})
			}
		}
	}

	// Many-to-many: a junction table with two foreign keys whose columns
	// all belong to its primary key.
	byRel := map[uint32][]fkInfo{}
	for _, fk := range l.fks {
		byRel[fk.rel] = append(byRel[fk.rel], fk)
	}
	for rel, fks := range byRel {
		if len(fks) < 2 {
			continue
		}
		var pk []int16
		for _, k := range l.keys[rel] {
			if k.primary {
				pk = k.nums
			}
		}
		if pk == nil {
			continue
		}
		jname := fks[0].relName
		for _, s := range fks {
			if !subset(s.nums, pk) {
				continue
			}
			for _, t := range fks {
				if s.name == t.name || !subset(t.nums, pk) {
					continue
				}
				for _, a := range l.endpoints(s.frel, s.fcols, s.fnums) {
					for _, b := range l.endpoints(t.frel, t.fcols, t.fnums) {
						add(&Relationship{Kind: ManyToMany, Table: a.name, Columns: a.cols,
							ForeignTable: b.name, ForeignColumns: b.cols, IsSelf: a.name == b.name,
							Derived: a.view || b.view,
							Junction: &Junction{Table: jname,
								SourceConstraint: s.name, SourceColumns: a.cols, SourceJunctionColumns: s.cols,
								TargetConstraint: t.name, TargetColumns: b.cols, TargetJunctionColumns: t.cols}})
					}
				}
			}
		}
	}

	for _, rels := range l.c.Relations {
		sort.SliceStable(rels, func(i, j int) bool {
			a, b := rels[i], rels[j]
			if a.ForeignTable != b.ForeignTable {
				return a.ForeignTable.String() < b.ForeignTable.String()
			}
			if a.Kind != b.Kind {
				return a.Kind < b.Kind
			}
			if a.Constraint != b.Constraint {
				return a.Constraint < b.Constraint
			}
			if a.Junction != nil && b.Junction != nil && a.Junction.Table != b.Junction.Table {
				return a.Junction.Table.String() < b.Junction.Table.String()
			}
			return strings.Join(a.Columns, ",") < strings.Join(b.Columns, ",")
		})
	}
}
