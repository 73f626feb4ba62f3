package rest

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// Query is a parsed query string.
type Query struct {
	// Select is nil when select= is absent (all columns).
	Select    []SelectItem
	HasSelect bool
	Filters   []Filter
	Trees     []LogicTree
	// Order, Limit and Offset are keyed by embed path ("" for the root,
	// "rel" or "rel.child" for embeds).
	Order      map[string][]OrderTerm
	Limit      map[string]int64
	Offset     map[string]int64
	Columns    []string
	HasColumns bool
	OnConflict []string
	// Args are the parameters taken as function arguments (GET RPC), in
	// query-string order.
	Args []QueryParam
}

// QueryParam is one key=value pair of the query string.
type QueryParam struct{ Key, Value string }

// SplitQuery decodes a raw query string keeping the order of its pairs.
func SplitQuery(raw string) ([]QueryParam, error) {
	return splitPairs(raw, func(s string) (string, error) {
		d, err := url.QueryUnescape(s)
		if err != nil {
			return "", httpx.NewError(http.StatusBadRequest, CodeParse, "the query string is not valid percent-encoding").WithDetails(err.Error())
		}
		return d, nil
	})
}

// splitPairs splits a raw query string into its key=value pairs, in order,
// skipping empty parts, with each key and value decoded by decode.
func splitPairs(raw string, decode func(string) (string, error)) ([]QueryParam, error) {
	if raw == "" {
		return nil, nil
	}
	out := make([]QueryParam, 0, strings.Count(raw, "&")+1)
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		dk, err := decode(k)
		if err != nil {
			return nil, err
		}
		dv, err := decode(v)
		if err != nil {
			return nil, err
		}
		out = append(out, QueryParam{dk, dv})
	}
	return out, nil
}

// ParseQuery parses a query string. isArg, when set, claims parameters that
// are function arguments (GET RPC) before they are read as filters.
func ParseQuery(raw string, isArg func(key, value string) bool) (*Query, error) {
	params, err := SplitQuery(raw)
	if err != nil {
		return nil, err
	}
	q := &Query{Order: map[string][]OrderTerm{}, Limit: map[string]int64{}, Offset: map[string]int64{}}
	for i, kv := range params {
		if err := q.add(kv, i+1, isArg); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// Kinds of query parameters.
type paramKind int

const (
	paramFilter paramKind = iota
	paramSelect
	paramColumns
	paramOnConflict
	paramOrder
	paramLimit
	paramOffset
	paramTree
)

// classifyParam tells what a query parameter is by its key alone; path is
// the embed path of order, limit and offset ("" for the root). Function
// arguments of GET RPC are claimed before this applies.
func classifyParam(key string) (kind paramKind, path string) {
	switch key {
	case "select":
		return paramSelect, ""
	case "columns":
		return paramColumns, ""
	case "on_conflict":
		return paramOnConflict, ""
	}
	// rel.rel2.param or param.
	last := key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		path, last = key[:i], key[i+1:]
	}
	switch last {
	case "order":
		return paramOrder, path
	case "limit":
		return paramLimit, path
	case "offset":
		return paramOffset, path
	case "or", "and":
		return paramTree, path
	}
	return paramFilter, path
}

// add reads one parameter; slot is its 1-based position in the query
// string.
func (q *Query) add(kv QueryParam, slot int, isArg func(string, string) bool) error {
	key, value := kv.Key, kv.Value
	kind, path := classifyParam(key)
	switch kind {
	case paramSelect:
		items, err := ParseSelect(value)
		if err != nil {
			return err
		}
		q.Select, q.HasSelect = items, true
		return nil
	case paramColumns:
		cols, err := ParseColumns(value)
		if err != nil {
			return err
		}
		q.Columns, q.HasColumns = cols, true
		return nil
	case paramOnConflict:
		cols, err := ParseColumns(value)
		if err != nil {
			return err
		}
		q.OnConflict = cols
		return nil
	}
	if isArg != nil && isArg(key, value) {
		q.Args = append(q.Args, kv)
		return nil
	}
	switch kind {
	case paramOrder:
		terms, err := ParseOrder(value)
		if err != nil {
			return err
		}
		q.Order[path] = terms
		return nil
	case paramLimit, paramOffset:
		name := "limit"
		if kind == paramOffset {
			name = "offset"
		}
		n, err := parseNonNegative(name, value)
		if err != nil {
			return err
		}
		if kind == paramLimit {
			q.Limit[path] = n
		} else {
			q.Offset[path] = n
		}
		return nil
	case paramTree:
		t, err := ParseLogicTree(key, value)
		if err != nil {
			return err
		}
		q.Trees = append(q.Trees, t)
		return nil
	}
	f, err := ParseFilter(key, value)
	if err != nil {
		return err
	}
	f.slot = slot
	q.Filters = append(q.Filters, f)
	return nil
}

// hasRootFilters reports whether any filter or logic tree applies to the
// root resource (PATCH and DELETE refuse to run without one).
func (q *Query) hasRootFilters() bool {
	for _, f := range q.Filters {
		if len(f.Path) == 0 {
			return true
		}
	}
	for _, t := range q.Trees {
		if len(t.Path) == 0 {
			return true
		}
	}
	return false
}

// looksLikeFilter reports whether a value has the op.value shape of a
// filter; GET RPC treats other parameters as function arguments.
func looksLikeFilter(value string) bool {
	v := strings.TrimPrefix(value, "not.")
	i := strings.IndexAny(v, ".(")
	if i <= 0 {
		return false
	}
	op := v[:i]
	_, simple := simpleOperators[op]
	_, fts := ftsOperators[op]
	return simple || fts || op == "in" || op == "is"
}
