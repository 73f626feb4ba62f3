package schema

import (
	"context"
	_ "embed"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

//go:embed testdata/catalog.sql
var catalogSQL string

// loadFixture returns a cache of public and api over the fixture schema.
func loadFixture(t *testing.T) (*Cache, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	tdb := testutil.NewDB(t)
	_, err := tdb.DB.Admin.Exec(ctx, catalogSQL)
	require.NoError(t, err)
	s := New(tdb.DB.Admin, []string{"public", "api"}, nil)
	require.NoError(t, s.Load(ctx))
	c := s.Current()
	require.NotNil(t, c)
	return c, tdb.DB.Admin
}

func qn(s, n string) QualifiedName { return QualifiedName{s, n} }

// rel finds the relationships from one relation to another of a kind.
func rels(c *Cache, from, to QualifiedName, kind RelKind) []*Relationship {
	var out []*Relationship
	for _, r := range c.Relationships(from) {
		if r.ForeignTable == to && r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

func oneRel(t *testing.T, c *Cache, from, to QualifiedName, kind RelKind) *Relationship {
	t.Helper()
	rs := rels(c, from, to, kind)
	require.Len(t, rs, 1, "%s relationships %s -> %s: %+v", kind, from, to, c.Relationships(from))
	return rs[0]
}

func TestRelationKinds(t *testing.T) {
	t.Parallel()
	c, _ := loadFixture(t)
	assert.Equal(t, []string{"public", "api"}, c.Schemas)
	assert.Equal(t, "public", c.DefaultSchema())
	assert.True(t, c.Exposed("api"))
	assert.False(t, c.Exposed("private"))
	assert.False(t, c.Exposed("auth"))

	kinds := map[string]Kind{
		"categories": KindTable, "events": KindPartitionedTable, "product_counts": KindMaterializedView,
		"active_products": KindView, "order_totals": KindView, "imports": KindForeignTable,
	}
	for name, k := range kinds {
		tb := c.Table("public", name)
		require.NotNil(t, tb, name)
		assert.Equal(t, k, tb.Kind, name)
	}
	assert.Nil(t, c.Table("public", "events_2026"), "partitions are reached through their parent")
	assert.Nil(t, c.Table("private", "authors"), "private schema is not exposed")
	assert.Nil(t, c.Table("fluxbase", "signing_keys"), "Fluxbase's own schemas are not read")
	assert.NotNil(t, c.Table("api", "books"))

	// Writability: tables yes; a simple view yes; an aggregate view and a
	// materialized view no.
	for _, name := range []string{"categories", "active_products"} {
		tb := c.Table("public", name)
		assert.True(t, tb.Insertable && tb.Updatable && tb.Deletable, name)
	}
	for _, name := range []string{"order_totals", "product_counts", "imports"} {
		tb := c.Table("public", name)
		assert.False(t, tb.Insertable || tb.Updatable || tb.Deletable, name)
	}
	assert.Equal(t, "Product categories", c.Table("public", "categories").Comment)

	names := c.TableNames()
	require.NotEmpty(t, names)
	assert.Equal(t, "public", names[0].Schema, "exposure order first")
	assert.Equal(t, "api", names[len(names)-1].Schema)
	assert.WithinDuration(t, time.Now(), c.LoadedAt, time.Minute)
	assert.Positive(t, c.LoadDuration)
}

func TestColumns(t *testing.T) {
	t.Parallel()
	c, _ := loadFixture(t)
	p := c.Table("public", "products")
	require.NotNil(t, p)
	var order []string
	for _, col := range p.Columns {
		order = append(order, col.Name)
	}
	assert.Equal(t, []string{"id", "category_id", "name", "price", "tags", "status", "statuses", "attrs", "during", "doc", "name_upper"}, order)
	assert.Equal(t, 1, p.Column("id").Position)

	id := p.Column("id")
	assert.Equal(t, "integer", id.Type)
	assert.Equal(t, uint32(23), id.TypeOID)
	assert.False(t, id.Nullable)
	assert.True(t, id.HasDefault)
	assert.Contains(t, id.Default, "nextval(")
	assert.Equal(t, "N", id.TypeCategory)

	price := p.Column("price")
	assert.Equal(t, "numeric(10,2)", price.Type)
	assert.Equal(t, "numeric", price.TypeName)
	assert.Equal(t, "0", price.Default)

	tags := p.Column("tags")
	assert.True(t, tags.IsArray)
	assert.Equal(t, "text[]", tags.Type)
	assert.Equal(t, "text", tags.ElemType)
	assert.Equal(t, uint32(25), tags.ElemTypeOID)
	assert.Equal(t, "S", tags.TypeCategory)
	assert.True(t, tags.Nullable)
	assert.False(t, tags.HasDefault)

	status := p.Column("status")
	assert.Equal(t, "public.status", status.Type, "user types are schema-qualified")
	assert.Equal(t, []string{"draft", "active", "archived"}, status.EnumValues)
	assert.Equal(t, "E", status.TypeCategory)
	assert.Equal(t, "'draft'::public.status", status.Default)
	statuses := p.Column("statuses")
	assert.Equal(t, "public.status[]", statuses.Type)
	assert.Equal(t, []string{"draft", "active", "archived"}, statuses.EnumValues)
	assert.Equal(t, []string{"draft", "active", "archived"}, c.Enums[qn("public", "status")])

	assert.Equal(t, "jsonb", p.Column("attrs").Type)
	assert.Equal(t, "tstzrange", p.Column("during").Type)
	assert.Equal(t, "R", p.Column("during").TypeCategory)
	assert.Equal(t, "tsvector", p.Column("doc").Type)

	gen := p.Column("name_upper")
	assert.True(t, gen.Generated)
	assert.Equal(t, "upper(name)", gen.Default)
	assert.True(t, gen.HasDefault)

	cat := c.Table("public", "categories")
	cid := cat.Column("id")
	assert.Equal(t, IdentityAlways, cid.Identity)
	assert.True(t, cid.HasDefault)
	assert.Empty(t, cid.Default)
	assert.Equal(t, "bigint", cid.Type)
	name := cat.Column("name")
	assert.Equal(t, "character varying(40)", name.Type)
	assert.Equal(t, "character varying", name.TypeName)
	assert.Equal(t, 40, name.MaxLength)
	assert.Equal(t, "Display name", name.Comment)
	assert.Equal(t, IdentityByDefault, c.Table("public", "passports").Column("id").Identity)
	assert.Equal(t, 9, c.Table("public", "passports").Column("number").MaxLength)
	assert.Equal(t, "gen_random_uuid()", c.Table("public", "customers").Column("id").Default)

	// View columns: renamed ones keep their type; aggregates are not
	// updatable.
	v := c.Table("public", "active_products")
	assert.Equal(t, "text", v.Column("title").Type)
	assert.True(t, v.Column("title").Updatable)
	tot := c.Table("public", "order_totals").Column("total")
	assert.Equal(t, "bigint", tot.Type)
	assert.False(t, tot.Updatable)
}

func TestKeys(t *testing.T) {
	t.Parallel()
	c, _ := loadFixture(t)
	assert.Equal(t, []string{"id"}, c.Table("public", "categories").PrimaryKey)
	assert.Equal(t, [][]string{{"name"}}, c.Table("public", "categories").UniqueKeys)
	assert.Equal(t, []string{"order_id", "product_id"}, c.Table("public", "order_items").PrimaryKey)
	assert.Equal(t, [][]string{{"email"}}, c.Table("public", "customers").UniqueKeys)
	assert.Equal(t, [][]string{{"customer_id"}}, c.Table("public", "passports").UniqueKeys)

	// Views inherit the key they expose, renamed, through views of views
	// and from a private schema.
	assert.Equal(t, []string{"id"}, c.Table("public", "active_products").PrimaryKey)
	assert.Equal(t, []string{"product_id"}, c.Table("public", "cheap_products").PrimaryKey)
	assert.Equal(t, []string{"id"}, c.Table("api", "books").PrimaryKey)
	assert.Nil(t, c.Table("public", "product_counts").PrimaryKey, "an aggregate shows no key")
	assert.Nil(t, c.Table("public", "events").PrimaryKey)
}

func TestFunctions(t *testing.T) {
	t.Parallel()
	c, _ := loadFixture(t)
	one := func(name string) *Function {
		fs := c.Functions("public", name)
		require.Len(t, fs, 1, name)
		return fs[0]
	}
	type want struct {
		kind  ReturnKind
		set   bool
		table string
		vol   Volatility
	}
	for name, w := range map[string]want{
		"ping":           {ReturnVoid, false, "", Volatile},
		"newest_product": {ReturnComposite, false, "products", Stable},
		"all_products":   {ReturnSetOfComposite, true, "products", Stable},
		"numbers":        {ReturnSetOfScalar, true, "", Immutable},
		"product_stats":  {ReturnTable, true, "", Stable},
		"one_pair":       {ReturnTable, false, "", Volatile},
		"make_pair":      {ReturnComposite, false, "", Volatile},
		"total":          {ReturnScalar, false, "", Immutable},
		"echo":           {ReturnScalar, false, "", Immutable},
	} {
		f := one(name)
		assert.Equal(t, w.kind, f.ReturnKind, name)
		assert.Equal(t, w.set, f.ReturnsSet, name)
		assert.Equal(t, w.vol, f.Volatility, name)
		if w.table == "" {
			assert.Nil(t, f.ReturnTable, name)
		} else if assert.NotNil(t, f.ReturnTable, name) {
			assert.Equal(t, qn("public", w.table), *f.ReturnTable, name)
		}
	}
	assert.False(t, one("ping").ReadOnly())
	assert.True(t, one("numbers").ReadOnly())
	assert.Equal(t, "void", one("ping").ReturnType)
	assert.Equal(t, "public.products", one("all_products").ReturnType)

	// RETURNS TABLE and OUT parameters describe the result columns; a
	// composite type's attributes do too.
	ps := one("product_stats")
	assert.Equal(t, []Arg{{Name: "category_id", Type: "bigint", TypeOID: 20, Mode: ArgTable}, {Name: "n", Type: "bigint", TypeOID: 20, Mode: ArgTable}}, ps.ReturnColumns)
	assert.Equal(t, []Arg{{Name: "min_price", Type: "numeric", TypeOID: 1700, Mode: ArgIn}}, ps.InputArgs())
	assert.Len(t, one("one_pair").ReturnColumns, 2)
	assert.Empty(t, one("one_pair").InputArgs())
	mp := one("make_pair").ReturnColumns
	require.Len(t, mp, 2)
	assert.Equal(t, "a", mp[0].Name)
	assert.Equal(t, "text", mp[1].Type)

	// Overloads, ordered by argument count then OID; defaults.
	adds := c.Functions("public", "add")
	require.Len(t, adds, 2)
	var intAdd *Function
	for _, f := range adds {
		if f.Args[0].Type == "integer" {
			intAdd = f
		}
	}
	require.NotNil(t, intAdd)
	assert.Equal(t, "Adds", intAdd.Comment)
	assert.False(t, intAdd.Args[0].HasDefault)
	assert.True(t, intAdd.Args[1].HasDefault)
	assert.Equal(t, 1, intAdd.RequiredArgs)
	assert.Equal(t, "integer", intAdd.ReturnType)

	tot := one("total")
	assert.True(t, tot.Variadic)
	assert.Equal(t, ArgVariadic, tot.Args[0].Mode)
	assert.Equal(t, "integer[]", tot.Args[0].Type)
	assert.Equal(t, "xs", tot.Args[0].Name)

	echo := one("echo")
	assert.True(t, echo.SingleJSONParam)
	assert.True(t, echo.SingleUnnamedParam)
	shout := one("shout")
	assert.False(t, shout.SingleJSONParam)
	assert.True(t, shout.SingleUnnamedParam)
	assert.False(t, one("numbers").SingleUnnamedParam)
	assert.Nil(t, c.Functions("public", "nope"))
}

func TestComputedFields(t *testing.T) {
	t.Parallel()
	c, _ := loadFixture(t)
	cf := c.Table("public", "products").ComputedFields
	require.Contains(t, cf, "label")
	assert.Equal(t, "text", cf["label"].ReturnType)
	require.Contains(t, cf, "discounted", "extra arguments with defaults are allowed")
	assert.NotContains(t, cf, "scaled", "an argument without a default is not")
	sib := c.Table("public", "categories").ComputedFields["siblings"]
	require.NotNil(t, sib)
	assert.True(t, sib.ReturnsSet)
	require.NotNil(t, sib.ReturnTable)
	assert.Equal(t, qn("public", "categories"), *sib.ReturnTable)
	assert.Empty(t, c.Table("public", "orders").ComputedFields)
}

func TestRelationships(t *testing.T) {
	t.Parallel()
	c, _ := loadFixture(t)
	orders, customers := qn("public", "orders"), qn("public", "customers")

	// Two foreign keys to the same table: two many-to-one relationships,
	// told apart by constraint.
	m2o := rels(c, orders, customers, ManyToOne)
	require.Len(t, m2o, 2)
	assert.Equal(t, "orders_billing_id_fkey", m2o[0].Constraint)
	assert.Equal(t, []string{"billing_id"}, m2o[0].Columns)
	assert.Equal(t, "orders_customer_id_fkey", m2o[1].Constraint)
	assert.Equal(t, []string{"customer_id"}, m2o[1].Columns)
	assert.Equal(t, []string{"id"}, m2o[1].ForeignColumns)
	assert.True(t, m2o[1].IsToOne())
	assert.True(t, m2o[1].ForeignKeyOnTable)
	assert.False(t, m2o[1].IsSelf)
	assert.Len(t, rels(c, customers, orders, OneToMany), 2)
	o2m := rels(c, customers, orders, OneToMany)[1]
	assert.Equal(t, []string{"id"}, o2m.Columns)
	assert.Equal(t, []string{"customer_id"}, o2m.ForeignColumns)
	assert.False(t, o2m.IsToOne())
	assert.False(t, o2m.ForeignKeyOnTable)

	// Composite key table: one-to-many from both parents.
	oi := oneRel(t, c, orders, qn("public", "order_items"), OneToMany)
	assert.Equal(t, []string{"order_id"}, oi.ForeignColumns)

	// A composite foreign key keeps its column pairing.
	sh := oneRel(t, c, qn("public", "shipments"), qn("public", "order_items"), ManyToOne)
	assert.Equal(t, []string{"order_id", "product_id"}, sh.Columns)
	assert.Equal(t, []string{"order_id", "product_id"}, sh.ForeignColumns)
	assert.Equal(t, "shipments_order_id_product_id_fkey", sh.Constraint)

	// One-to-one: a foreign key that is the primary key, or unique.
	prof := oneRel(t, c, customers, qn("public", "customer_profiles"), OneToOne)
	assert.False(t, prof.ForeignKeyOnTable)
	back := oneRel(t, c, qn("public", "customer_profiles"), customers, OneToOne)
	assert.True(t, back.ForeignKeyOnTable)
	oneRel(t, c, customers, qn("public", "passports"), OneToOne)
	oneRel(t, c, qn("public", "passports"), customers, OneToOne)
	assert.Empty(t, rels(c, customers, qn("public", "passports"), OneToMany))

	// Self-reference: parent (to-one) and children (to-many).
	cats := qn("public", "categories")
	parent := oneRel(t, c, cats, cats, ManyToOne)
	assert.True(t, parent.IsSelf)
	assert.Equal(t, []string{"parent_id"}, parent.Columns)
	children := oneRel(t, c, cats, cats, OneToMany)
	assert.True(t, children.IsSelf)
	assert.Equal(t, []string{"parent_id"}, children.ForeignColumns)

	// Many-to-many through a junction whose key holds both foreign keys.
	m2m := oneRel(t, c, qn("public", "products"), qn("public", "tags"), ManyToMany)
	require.NotNil(t, m2m.Junction)
	assert.Equal(t, Junction{
		Table:            qn("public", "product_tags"),
		SourceConstraint: "product_tags_product_id_fkey", SourceColumns: []string{"id"}, SourceJunctionColumns: []string{"product_id"},
		TargetConstraint: "product_tags_tag_id_fkey", TargetColumns: []string{"id"}, TargetJunctionColumns: []string{"tag_id"},
	}, *m2m.Junction)
	oneRel(t, c, qn("public", "tags"), qn("public", "products"), ManyToMany)
	// products and orders are joined by order_items' key too.
	oneRel(t, c, orders, qn("public", "products"), ManyToMany)
	// reviews' foreign keys are not in its key: no many-to-many.
	assert.Empty(t, rels(c, qn("public", "products"), customers, ManyToMany))
	// Self many-to-many, both ways.
	people := qn("public", "people")
	friends := rels(c, people, people, ManyToMany)
	require.Len(t, friends, 2)
	assert.True(t, friends[0].IsSelf)

	// Views reach their base tables' relationships, with their own column
	// names, through views of views.
	ap := oneRel(t, c, qn("public", "active_products"), cats, ManyToOne)
	assert.True(t, ap.Derived)
	assert.Equal(t, []string{"category_id"}, ap.Columns)
	cp := oneRel(t, c, qn("public", "cheap_products"), cats, ManyToOne)
	assert.Equal(t, []string{"cat"}, cp.Columns)
	assert.Equal(t, "products_category_id_fkey", cp.Constraint)
	rev := oneRel(t, c, cats, qn("public", "cheap_products"), OneToMany)
	assert.Equal(t, []string{"cat"}, rev.ForeignColumns)
	oneRel(t, c, qn("public", "cheap_products"), qn("public", "tags"), ManyToMany)
	oneRel(t, c, qn("public", "order_items"), qn("public", "active_products"), ManyToOne)
	// View to view, both over a private schema.
	bw := oneRel(t, c, qn("api", "books"), qn("api", "authors"), ManyToOne)
	assert.Equal(t, []string{"writer"}, bw.Columns)
	assert.Equal(t, []string{"id"}, bw.ForeignColumns)
	oneRel(t, c, qn("api", "authors"), qn("api", "books"), OneToMany)
	// Many-to-many between views, through a junction in a private schema.
	bg := oneRel(t, c, qn("api", "books"), qn("api", "genres"), ManyToMany)
	assert.Equal(t, Junction{
		Table:            qn("private", "book_genres"),
		SourceConstraint: "book_genres_book_id_fkey", SourceColumns: []string{"id"}, SourceJunctionColumns: []string{"book_id"},
		TargetConstraint: "book_genres_genre_id_fkey", TargetColumns: []string{"genre_no"}, TargetJunctionColumns: []string{"genre_id"},
	}, *bg.Junction)
	assert.True(t, bg.Derived)
	// The view that hides the foreign key column has no relationship.
	assert.Empty(t, rels(c, qn("public", "order_totals"), customers, ManyToOne))
	// Nothing leads into unexposed schemas.
	for from, rs := range c.Relations {
		assert.True(t, c.Exposed(from.Schema))
		for _, r := range rs {
			assert.True(t, c.Exposed(r.ForeignTable.Schema), "%s -> %s", from, r.ForeignTable)
		}
	}
}

func TestReservedSchemasNeverExposed(t *testing.T) {
	t.Parallel()
	tdb := testutil.NewDB(t)
	s := New(tdb.DB.Admin, []string{"fluxbase", "public", "auth", "pg_catalog", "public", "information_schema", "pg_toast", "storage"}, nil)
	require.NoError(t, s.Load(context.Background()))
	c := s.Current()
	assert.Equal(t, []string{"public"}, c.Schemas)
	for name := range c.Tables {
		assert.Equal(t, "public", name.Schema)
	}
	for name := range c.FunctionsByName {
		assert.Equal(t, "public", name.Schema)
	}
}

func TestViewOrigins(t *testing.T) {
	t.Parallel()
	// Escaped atoms (a column named with spaces and braces) and nested
	// nodes do not confuse the reader.
	rule := `({QUERY :commandType 1 :rtable ({RANGETBLENTRY :alias <> :eref {ALIAS :aliasname x :colnames ("a\ b" "c")} :rtekind 0 :relid 16400}) ` +
		`:targetList ({TARGETENTRY :expr {VAR :varno 1 :varattno 2} :resno 1 :resname a\ b\{\} :ressortgroupref 0 :resorigtbl 16400 :resorigcol 2 :resjunk false} ` +
		`{TARGETENTRY :expr {CONST :consttype 23 :constlen 4 :constbyval true :constisnull false :location 7 :constvalue 4 [ 1 0 0 0 0 0 0 0 ]} :resno 2 :resname one :ressortgroupref 0 :resorigtbl 0 :resorigcol 0 :resjunk false} ` +
		`{TARGETENTRY :expr <> :resno 3 :resname <> :resorigtbl 16400 :resorigcol 1 :resjunk true}) :onConflict <>})`
	got, err := viewOrigins(rule)
	require.NoError(t, err)
	assert.Equal(t, []viewColumnOrigin{{16400, 2}, {0, 0}}, got)

	for _, bad := range []string{"", "(", "({QUERY", "({QUERY :targetList ({TARGETENTRY)})", "{X}", "(a b c)"} {
		_, err := viewOrigins(bad)
		assert.Error(t, err, bad)
	}
}

func FuzzViewOrigins(f *testing.F) {
	f.Add(`({QUERY :targetList ({TARGETENTRY :resorigtbl 1 :resorigcol 2 :resjunk false})})`)
	f.Add(`(((((`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = viewOrigins(s)
	})
}
