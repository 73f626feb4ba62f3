package schema

import (
	"errors"
	"strconv"
	"strings"
)

// PostgreSQL stores a view's query as the text form of its parse tree
// (pg_rewrite.ev_action). The only way to learn which base table column a
// view column comes from is to read each target entry's resorigtbl and
// resorigcol there, as PostgREST does. This file reads just enough of that
// format: nodes {TYPE :field value ...}, lists (...), atoms and <> (null),
// with backslash escapes inside atoms.

// node is one parsed {TYPE ...} node.
type node struct {
	typ    string
	fields map[string][]any // values: string atom, *node, []any list, nil
}

// viewColumnOrigin is where one view column comes from.
type viewColumnOrigin struct {
	// Table is the relation OID (a table, or another view) and Column its
	// attribute number; both zero for computed expressions.
	Table  uint32
	Column int16
}

// viewOrigins parses a view's ev_action and returns, for each visible
// column in order, the relation column it is a plain reference to.
func viewOrigins(evAction string) ([]viewColumnOrigin, error) {
	p := &nodeParser{s: evAction}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, errors.New("view rule: not a list of queries")
	}
	q, ok := list[0].(*node)
	if !ok || q.typ != "QUERY" {
		return nil, errors.New("view rule: no QUERY node")
	}
	tl := q.field("targetList")
	entries, _ := tl.([]any)
	var out []viewColumnOrigin
	for _, e := range entries {
		te, ok := e.(*node)
		if !ok || te.typ != "TARGETENTRY" {
			continue
		}
		if te.atom("resjunk") == "true" {
			continue
		}
		tbl, _ := strconv.ParseUint(te.atom("resorigtbl"), 10, 32)
		col, _ := strconv.ParseInt(te.atom("resorigcol"), 10, 16)
		out = append(out, viewColumnOrigin{Table: uint32(tbl), Column: int16(col)})
	}
	return out, nil
}

func (n *node) field(name string) any {
	v := n.fields[name]
	if len(v) == 0 {
		return nil
	}
	return v[0]
}

func (n *node) atom(name string) string {
	s, _ := n.field(name).(string)
	return s
}

type nodeParser struct {
	s   string
	pos int
}

// token kinds
const (
	tokEOF = iota
	tokOpenBrace
	tokCloseBrace
	tokOpenParen
	tokCloseParen
	tokField
	tokAtom
	tokNull
)

type token struct {
	kind int
	text string
}

func (p *nodeParser) next() token {
	for p.pos < len(p.s) && isNodeSpace(p.s[p.pos]) {
		p.pos++
	}
	if p.pos >= len(p.s) {
		return token{kind: tokEOF}
	}
	switch p.s[p.pos] {
	case '{':
		p.pos++
		return token{kind: tokOpenBrace}
	case '}':
		p.pos++
		return token{kind: tokCloseBrace}
	case '(':
		p.pos++
		return token{kind: tokOpenParen}
	case ')':
		p.pos++
		return token{kind: tokCloseParen}
	}
	var b strings.Builder
	escaped := false
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '\\' && p.pos+1 < len(p.s) {
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
			escaped = true
			continue
		}
		if isNodeSpace(c) || c == '{' || c == '}' || c == '(' || c == ')' {
			break
		}
		b.WriteByte(c)
		p.pos++
	}
	text := b.String()
	switch {
	case !escaped && text == "<>":
		return token{kind: tokNull}
	case !escaped && len(text) > 1 && text[0] == ':':
		return token{kind: tokField, text: text[1:]}
	}
	return token{kind: tokAtom, text: text}
}

func (p *nodeParser) peek() token {
	save := p.pos
	t := p.next()
	p.pos = save
	return t
}

func isNodeSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// maxNodeDepth bounds recursion on pathological input.
const maxNodeDepth = 10000

func (p *nodeParser) value() (any, error) { return p.valueDepth(0) }

func (p *nodeParser) valueDepth(depth int) (any, error) {
	if depth > maxNodeDepth {
		return nil, errors.New("view rule: nested too deeply")
	}
	t := p.next()
	switch t.kind {
	case tokNull:
		return nil, nil
	case tokAtom:
		return t.text, nil
	case tokOpenParen:
		var list []any
		for {
			switch p.peek().kind {
			case tokCloseParen:
				p.next()
				return list, nil
			case tokEOF:
				return nil, errors.New("view rule: unterminated list")
			}
			v, err := p.valueDepth(depth + 1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
	case tokOpenBrace:
		head := p.next()
		if head.kind != tokAtom {
			return nil, errors.New("view rule: node without a type")
		}
		n := &node{typ: head.text, fields: map[string][]any{}}
		var cur string
		for {
			switch pk := p.peek(); pk.kind {
			case tokCloseBrace:
				p.next()
				return n, nil
			case tokEOF:
				return nil, errors.New("view rule: unterminated node")
			case tokField:
				p.next()
				cur = pk.text
				if _, ok := n.fields[cur]; !ok {
					n.fields[cur] = nil
				}
				continue
			}
			v, err := p.valueDepth(depth + 1)
			if err != nil {
				return nil, err
			}
			n.fields[cur] = append(n.fields[cur], v)
		}
	}
	return nil, errors.New("view rule: unexpected token")
}
