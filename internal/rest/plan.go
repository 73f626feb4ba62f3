package rest

import (
	"net/http"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// node is a resolved resource of a read: the root or an embed, with
// everything checked against the schema cache.
type node struct {
	table *schema.Table
	// name is the key the embed is rendered under (alias or relation).
	name string
	// relName is the name the client used for the relation (for params
	// such as rel.limit, which use the relation name or alias).
	rel *schema.Relationship
	// computed is set instead of rel for an embed through a function
	// taking the parent's row type and returning rows of a table (a
	// computed relationship).
	computed *schema.ComputedField
	join     string
	spread   bool
	items    []item
	embeds   []*node
	// filters/trees at this level; nullFilters test child embeds.
	filters     []rfilter
	trees       []rtree
	embedNulls  []embedNull
	order       []rorder
	limit       *int64
	offset      *int64
	hasAggs     bool
	parentTable *schema.Table
}

// toOne reports whether the embed yields at most one row (an object).
func (n *node) toOne() bool {
	if n.computed != nil {
		return n.computed.ToOne
	}
	return n.rel != nil && n.rel.IsToOne()
}

// item is one output column of a node.
type item struct {
	name string
	// exactly one of: col (with field), computed, embed, count.
	col       *schema.Column
	field     Field
	computed  *schema.ComputedField
	embed     *node
	countStar bool
	cast      string
	agg       string
	aggCast   string
}

type rfilter struct {
	f        Filter
	col      *schema.Column
	computed *schema.ComputedField
}

type rtree struct {
	t     LogicTree
	conds []rfilter
	kids  []rtree
}

type embedNull struct {
	child  *node
	isNull bool
}

type rorder struct {
	t     OrderTerm
	col   *schema.Column
	comp  *schema.ComputedField
	embed *node
}

// planner resolves a parsed query against one schema cache snapshot.
type planner struct {
	cache      *schema.Cache
	aggregates bool
	maxDepth   int
}

// pseudoTypes cannot be cast to: a value of them is not something a
// response can hold.
var pseudoTypes = map[string]bool{
	"unknown": true, "any": true, "anyelement": true, "anyarray": true, "anynonarray": true, "anyenum": true,
	"anyrange": true, "anymultirange": true, "anycompatible": true, "anycompatiblearray": true,
	"anycompatiblenonarray": true, "anycompatiblerange": true, "anycompatiblemultirange": true,
	"cstring": true, "internal": true, "language_handler": true, "fdw_handler": true, "table_am_handler": true,
	"index_am_handler": true, "tsm_handler": true, "record": true, "trigger": true, "event_trigger": true,
	"pg_ddl_command": true, "void": true,
}

func checkCast(c string) error {
	if c != "" && pseudoTypes[strings.ToLower(c)] {
		return httpx.NewError(http.StatusBadRequest, CodeParse, "cannot cast to the pseudo-type "+strings.ToLower(c)).
			WithHint("cast to a concrete type, such as text or int")
	}
	return nil
}

// resolveField finds the column or computed field a Field names.
func (p *planner) resolveField(t *schema.Table, f Field) (*schema.Column, *schema.ComputedField, *httpx.Error) {
	if c := t.Column(f.Name); c != nil {
		return c, nil, nil
	}
	if cf := t.ComputedFields[f.Name]; cf != nil && !cf.ReturnsSet {
		return nil, cf, nil
	}
	return nil, nil, errUnknownColumn(t, f.Name)
}

// planRead builds the node tree of a read of t.
func (p *planner) planRead(t *schema.Table, q *Query) (*node, error) {
	root := &node{table: t, name: t.Name}
	sel := q.Select
	if !q.HasSelect {
		sel = []SelectItem{{Kind: SelectStar}}
	}
	if err := p.planItems(root, sel, 0); err != nil {
		return nil, err
	}
	if err := p.attachParams(root, q); err != nil {
		return nil, err
	}
	return root, nil
}

func (p *planner) planItems(n *node, sel []SelectItem, depth int) error {
	if p.maxDepth > 0 && depth > p.maxDepth {
		return httpx.NewError(http.StatusBadRequest, CodeParse, "embedding is nested too deeply").
			WithDetails("rest.max_embed_depth limits how deeply resources may be embedded")
	}
	for _, it := range sel {
		switch it.Kind {
		case SelectStar:
			for _, c := range n.table.Columns {
				n.items = append(n.items, item{name: c.Name, col: c, field: Field{Name: c.Name}})
			}
		case SelectCount:
			if !p.aggregates {
				return errAggregatesDisabled()
			}
			n.hasAggs = true
			name := it.Alias
			if name == "" {
				name = "count"
			}
			if err := checkCast(it.Cast); err != nil {
				return err
			}
			n.items = append(n.items, item{name: name, countStar: true, cast: it.Cast, agg: "count"})
		case SelectField:
			if depth > 0 && it.Field.Name == "count" && len(it.Field.JSON) == 0 && it.Aggregate == "" && n.table.Column("count") == nil {
				// rel(count) is PostgREST's older spelling of rel(count()).
				if !p.aggregates {
					return errAggregatesDisabled()
				}
				n.hasAggs = true
				name := it.Alias
				if name == "" {
					name = "count"
				}
				n.items = append(n.items, item{name: name, countStar: true, cast: it.Cast, agg: "count"})
				continue
			}
			col, cf, err := p.resolveField(n.table, it.Field)
			if err != nil {
				return err
			}
			if cf != nil && len(it.Field.JSON) > 0 {
				return errUnknownColumn(n.table, it.Field.Name)
			}
			name := it.Alias
			if name == "" {
				name = it.Field.lastKey()
				if it.Aggregate != "" {
					name = it.Aggregate
				}
			}
			if it.Aggregate != "" {
				if !p.aggregates {
					return errAggregatesDisabled()
				}
				n.hasAggs = true
			}
			for _, c := range []string{it.Cast, it.AggregateCast} {
				if err := checkCast(c); err != nil {
					return err
				}
			}
			n.items = append(n.items, item{name: name, col: col, computed: cf, field: it.Field,
				cast: it.Cast, agg: it.Aggregate, aggCast: it.AggregateCast})
		case SelectEmbed:
			child, err := p.planEmbed(n, it, depth)
			if err != nil {
				return err
			}
			n.embeds = append(n.embeds, child)
			// An embed with an empty select list only filters (rel() with
			// rel=not.is.null); it adds nothing to the output.
			if len(it.Children) > 0 {
				n.items = append(n.items, item{name: child.name, embed: child})
			}
		}
	}
	return nil
}

func (p *planner) planEmbed(parent *node, it SelectItem, depth int) (*node, error) {
	// A function of the parent's row returning rows of a table embeds
	// like a relationship (a computed relationship), and wins over a
	// foreign key of the same name, as in PostgREST.
	if cf := parent.table.ComputedFields[it.Relation]; cf != nil && cf.ReturnTable != nil && it.Hint == "" {
		if target := p.cache.Tables[*cf.ReturnTable]; target != nil {
			name := it.Alias
			if name == "" {
				name = it.Relation
			}
			child := &node{table: target, name: name, computed: cf, join: it.Join, spread: it.Spread, parentTable: parent.table}
			if it.Spread && !cf.ToOne {
				return nil, errSpread(parent.table.Name, it.Relation)
			}
			if err := p.planItems(child, it.Children, depth+1); err != nil {
				return nil, err
			}
			return child, nil
		}
	}
	rel, err := p.findRelationship(parent.table, it.Relation, it.Hint)
	if err != nil {
		return nil, err
	}
	target := p.cache.Tables[rel.ForeignTable]
	if target == nil {
		return nil, errNoRelationship(parent.table, it.Relation, it.Hint, p.cache)
	}
	if it.Spread && !rel.IsToOne() {
		return nil, errSpread(parent.table.Name, it.Relation)
	}
	name := it.Alias
	if name == "" {
		name = it.Relation
	}
	child := &node{table: target, name: name, rel: rel, join: it.Join, spread: it.Spread, parentTable: parent.table}
	sel := it.Children
	if err := p.planItems(child, sel, depth+1); err != nil {
		return nil, err
	}
	return child, nil
}

// findRelationship picks the relationship an embed means, PostgREST's way:
// by target table name, else by a foreign key column or constraint name;
// a hint narrows the candidates by constraint, column or junction name.
func (p *planner) findRelationship(t *schema.Table, name, hint string) (*schema.Relationship, error) {
	rels := p.cache.Relationships(t.QualifiedName())
	var cands []*schema.Relationship
	for _, r := range rels {
		if r.ForeignTable.Name == name {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		for _, r := range rels {
			if r.Constraint == name && r.Junction == nil {
				cands = append(cands, r)
			}
		}
	}
	if len(cands) == 0 {
		for _, r := range rels {
			if r.Kind == schema.ManyToOne && len(r.Columns) == 1 && r.Columns[0] == name {
				cands = append(cands, r)
			}
		}
	}
	if hint != "" {
		var kept []*schema.Relationship
		for _, r := range cands {
			if matchesHint(r, hint) {
				kept = append(kept, r)
			}
		}
		cands = kept
	}
	switch len(cands) {
	case 0:
		return nil, errNoRelationship(t, name, hint, p.cache)
	case 1:
		return cands[0], nil
	}
	// A foreign key declared on the table beats one derived through a view.
	var direct []*schema.Relationship
	for _, r := range cands {
		if !r.Derived {
			direct = append(direct, r)
		}
	}
	if len(direct) == 1 {
		return direct[0], nil
	}
	// A self-reference named by the table (or its constraint) is the
	// one-to-many side, as in PostgREST: the children.
	var o2m []*schema.Relationship
	for _, r := range cands {
		if r.IsSelf && r.Kind == schema.OneToMany {
			o2m = append(o2m, r)
		}
	}
	if len(o2m) == 1 && len(cands) == 2 && cands[0].Constraint == cands[1].Constraint {
		return o2m[0], nil
	}
	return nil, errAmbiguousRelationship(t, name, cands)
}

func matchesHint(r *schema.Relationship, hint string) bool {
	if r.Junction != nil {
		j := r.Junction
		return j.Table.Name == hint || j.SourceConstraint == hint || j.TargetConstraint == hint
	}
	if r.Constraint == hint || r.ForeignTable.Name == hint {
		return true
	}
	// A column hint names the foreign key column: on the embedding side
	// for many-to-one, on the embedded side for one-to-many. For a
	// self-reference it means the one-to-many side (the children); the
	// parent is embedded by naming the column itself (parent_id(...)).
	cols := r.Columns
	if r.Kind == schema.OneToMany {
		cols = r.ForeignColumns
	} else if r.IsSelf {
		return false
	}
	return len(cols) == 1 && cols[0] == hint
}

// findChild finds an embed of n by the name the client gave it.
func findChild(n *node, name string) *node {
	for _, c := range n.embeds {
		if c.name == name {
			return c
		}
	}
	for _, c := range n.embeds {
		if c.rel != nil && c.rel.ForeignTable.Name == name {
			return c
		}
	}
	return nil
}

// nodeAt follows an embed path from root.
func nodeAt(root *node, path []string) (*node, error) {
	n := root
	for _, p := range path {
		c := findChild(n, p)
		if c == nil {
			return nil, errNotEmbedded(strings.Join(path, "."))
		}
		n = c
	}
	return n, nil
}

func splitPath(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ".")
}

// attachParams places filters, logic trees, order, limit and offset on the
// nodes their paths name.
func (p *planner) attachParams(root *node, q *Query) error {
	for _, f := range q.Filters {
		n, err := nodeAt(root, f.Path)
		if err != nil {
			return err
		}
		// rel=is.null / rel=not.is.null on an embed tests its presence.
		if len(f.Field.JSON) == 0 && n.table.Column(f.Field.Name) == nil {
			if child := findChild(n, f.Field.Name); child != nil {
				if f.Op != "is" || (f.Value != "null" && f.Value != "not_null") {
					return errEmbedFilter()
				}
				isNull := f.Value == "null"
				if f.Not {
					isNull = !isNull
				}
				n.embedNulls = append(n.embedNulls, embedNull{child: child, isNull: isNull})
				continue
			}
		}
		rf, err := p.resolveFilter(n.table, f)
		if err != nil {
			return err
		}
		n.filters = append(n.filters, rf)
	}
	for _, t := range q.Trees {
		n, err := nodeAt(root, t.Path)
		if err != nil {
			return err
		}
		rt, err := p.resolveTree(n.table, t)
		if err != nil {
			return err
		}
		n.trees = append(n.trees, rt)
	}
	for key, terms := range q.Order {
		n, err := nodeAt(root, splitPath(key))
		if err != nil {
			return err
		}
		for _, t := range terms {
			ro := rorder{t: t}
			target := n.table
			if t.Relation != "" {
				child := findChild(n, t.Relation)
				if child == nil {
					return errNotEmbedded(t.Relation)
				}
				if !child.toOne() {
					return errRelatedOrder(n.table.Name, t.Relation)
				}
				ro.embed, target = child, child.table
			}
			col, cf, err := p.resolveField(target, t.Field)
			if err != nil {
				return err
			}
			ro.col, ro.comp = col, cf
			n.order = append(n.order, ro)
		}
	}
	for key, v := range q.Limit {
		n, err := nodeAt(root, splitPath(key))
		if err != nil {
			return err
		}
		v := v
		n.limit = &v
	}
	for key, v := range q.Offset {
		n, err := nodeAt(root, splitPath(key))
		if err != nil {
			return err
		}
		v := v
		n.offset = &v
	}
	return nil
}

func (p *planner) resolveFilter(t *schema.Table, f Filter) (rfilter, error) {
	col, cf, err := p.resolveField(t, f.Field)
	if err != nil {
		return rfilter{}, err
	}
	return rfilter{f: f, col: col, computed: cf}, nil
}

func (p *planner) resolveTree(t *schema.Table, lt LogicTree) (rtree, error) {
	rt := rtree{t: lt}
	for _, f := range lt.Filters {
		rf, err := p.resolveFilter(t, f)
		if err != nil {
			return rt, err
		}
		rt.conds = append(rt.conds, rf)
	}
	for _, c := range lt.Children {
		k, err := p.resolveTree(t, c)
		if err != nil {
			return rt, err
		}
		rt.kids = append(rt.kids, k)
	}
	return rt, nil
}
