package rest

import (
	"sort"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

var operatorList = func() string {
	var ops []string
	for k := range simpleOperators {
		ops = append(ops, k)
	}
	for k := range ftsOperators {
		ops = append(ops, k)
	}
	ops = append(ops, "in", "is")
	sort.Strings(ops)
	return "operator (" + strings.Join(ops, ", ") + ")"
}()

// ParseFilter parses a filter: the key (field or rel.field) and the value
// (not.op.value).
func ParseFilter(key, value string) (Filter, error) {
	path, field, err := parseFilterKey(key)
	if err != nil {
		return Filter{}, err
	}
	p := &scanner{s: value, what: "filter"}
	f, herr := p.opValue(false)
	if herr != nil {
		return Filter{}, herr
	}
	f.Path, f.Field = path, field
	return f, nil
}

// parseFilterKey splits rel.rel2.col->a into the embed path and the field.
func parseFilterKey(key string) ([]string, Field, error) {
	p := &scanner{s: key, what: "filter"}
	var path []string
	for {
		f, err := p.field()
		if err != nil {
			return nil, Field{}, err
		}
		if p.eof() {
			return path, f, nil
		}
		if p.peek() != '.' || len(f.JSON) > 0 {
			return nil, Field{}, p.fail(`"." or end of input`)
		}
		p.pos++
		path = append(path, f.Name)
	}
}

// opValue reads [not.]op[(modifier)].value. In a logic tree (inTree) the
// value ends at "," or ")" unless quoted.
func (p *scanner) opValue(inTree bool) (Filter, *httpx.Error) {
	var f Filter
	if p.has("not.") {
		f.Not = true
		p.pos += 4
	}
	start := p.pos
	for !p.eof() && p.s[p.pos] >= 'a' && p.s[p.pos] <= 'z' {
		p.pos++
	}
	op := p.s[start:p.pos]
	_, simple := simpleOperators[op]
	_, fts := ftsOperators[op]
	if !simple && !fts && op != "in" && op != "is" {
		p.pos = start
		return f, p.fail(`"not" or ` + operatorList)
	}
	f.Op = op
	if p.peek() == '(' {
		p.pos++
		mstart := p.pos
		for !p.eof() && p.s[p.pos] != ')' {
			p.pos++
		}
		if p.eof() {
			return f, p.fail(`")"`)
		}
		mod := p.s[mstart:p.pos]
		switch {
		case fts && mod != "" && validConfigName(mod):
			f.Config = mod
		case quantifiableOperators[op] && (mod == "any" || mod == "all"):
			f.Quantifier = mod
		default:
			p.pos = mstart
			if fts {
				return f, p.fail("text search configuration name")
			}
			return f, p.fail(`"any" or "all"`)
		}
		p.pos++
	}
	if err := p.expect(".", `"."`); err != nil {
		return f, err
	}
	switch op {
	case "in":
		list, err := p.inList()
		if err != nil {
			return f, err
		}
		f.List = list
	case "is":
		vstart := p.pos
		v := p.plainValue(inTree)
		switch strings.ToLower(v) {
		case "null", "not_null", "true", "false", "unknown":
			f.Value = strings.ToLower(v)
		default:
			p.pos = vstart
			return f, p.fail(`"null", "not_null", "true", "false" or "unknown"`)
		}
	default:
		f.Value = p.plainValue(inTree)
	}
	if !inTree && !p.eof() {
		return f, p.fail("end of input")
	}
	return f, nil
}

func validConfigName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

// plainValue reads a value: everything that is left, or in a logic tree a
// quoted value or everything up to "," or ")" (with {…} and (…) kept
// whole, for array and range literals).
func (p *scanner) plainValue(inTree bool) string {
	if !inTree {
		v := p.s[p.pos:]
		p.pos = len(p.s)
		return v
	}
	if p.peek() == '"' {
		save := p.pos
		if v, ok := p.quoted(); ok && (p.eof() || p.peek() == ',' || p.peek() == ')') {
			return v
		}
		p.pos = save
	}
	start := p.pos
	depth := 0
	for !p.eof() {
		c := p.s[p.pos]
		switch {
		case c == '{' || c == '[' || (c == '(' && p.pos > start):
			depth++
		case (c == '}' || c == ']') && depth > 0:
			depth--
		case c == ')' && depth > 0:
			depth--
		case (c == ',' || c == ')') && depth == 0:
			return p.s[start:p.pos]
		}
		p.pos++
	}
	return p.s[start:p.pos]
}

// inList reads (a,b,"c,d").
func (p *scanner) inList() ([]string, *httpx.Error) {
	if err := p.expect("(", `"("`); err != nil {
		return nil, err
	}
	list := []string{}
	if p.peek() == ')' {
		p.pos++
		return list, nil
	}
	for {
		if p.peek() == '"' {
			v, ok := p.quoted()
			if !ok {
				return nil, p.fail(`closing quote`)
			}
			list = append(list, v)
		} else {
			start := p.pos
			for !p.eof() && p.s[p.pos] != ',' && p.s[p.pos] != ')' {
				p.pos++
			}
			list = append(list, p.s[start:p.pos])
		}
		switch p.peek() {
		case ',':
			p.pos++
		case ')':
			p.pos++
			return list, nil
		default:
			return nil, p.fail(`"," or ")"`)
		}
	}
}

// ParseLogicTree parses key=value where key is [rel.][not.]or|and and value
// is (cond,cond,...).
func ParseLogicTree(key, value string) (LogicTree, error) {
	parts := strings.Split(key, ".")
	var t LogicTree
	n := len(parts)
	op := parts[n-1]
	if op != "or" && op != "and" {
		return t, parseErr("logic tree", key, 0, `expecting "or" or "and"`)
	}
	t.Or = op == "or"
	path := parts[:n-1]
	if len(path) > 0 && path[len(path)-1] == "not" {
		t.Not = true
		path = path[:len(path)-1]
	}
	for _, s := range path {
		if s == "" {
			return t, parseErr("logic tree", key, 0, "empty relation name")
		}
	}
	if len(path) > 0 {
		t.Path = path
	}
	p := &scanner{s: value, what: "logic tree"}
	if err := p.treeBody(&t, 0); err != nil {
		return t, err
	}
	if !p.eof() {
		return t, p.fail("end of input")
	}
	return t, nil
}

const maxTreeDepth = 64

// treeBody reads (cond,cond,...) into t.
func (p *scanner) treeBody(t *LogicTree, depth int) *httpx.Error {
	if depth > maxTreeDepth {
		return parseErr(p.what, p.s, p.pos, "logic tree is nested too deeply")
	}
	if err := p.expect("(", `"("`); err != nil {
		return err
	}
	for {
		p.skipSpaces()
		// A nested tree: [not.]and(...) / [not.]or(...).
		save := p.pos
		not := false
		if p.has("not.") {
			not = true
			p.pos += 4
		}
		if p.has("and(") || p.has("or(") {
			child := LogicTree{Not: not, Or: p.has("or(")}
			if child.Or {
				p.pos += 2
			} else {
				p.pos += 3
			}
			if err := p.treeBody(&child, depth+1); err != nil {
				return err
			}
			t.Children = append(t.Children, child)
			t.order = append(t.order, true)
		} else {
			p.pos = save
			f, err := p.field()
			if err != nil {
				return err
			}
			if err := p.expect(".", `"."`); err != nil {
				return err
			}
			cond, err := p.opValue(true)
			if err != nil {
				return err
			}
			cond.Field = f
			t.Filters = append(t.Filters, cond)
			t.order = append(t.order, false)
		}
		switch p.peek() {
		case ',':
			p.pos++
		case ')':
			p.pos++
			return nil
		default:
			return p.fail(`"," or ")"`)
		}
	}
}
