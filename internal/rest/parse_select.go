package rest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// CodeParse is PostgREST's code for a query string it cannot parse.
const CodeParse = "PGRST100"

// parseErr renders a grammar error the way PostgREST does: the parameter
// and its value in the message, what went wrong in the details.
func parseErr(what, input string, pos int, details string) *httpx.Error {
	col := utf8.RuneCountInString(input[:min(max(pos, 0), len(input))]) + 1
	return &httpx.Error{
		Status:  http.StatusBadRequest,
		Code:    CodeParse,
		Message: fmt.Sprintf("%q (line 1, column %d)", "failed to parse "+what+" ("+input+")", col),
		Details: details,
	}
}

// scanner walks a parameter value; all positions are byte offsets.
type scanner struct {
	s    string
	pos  int
	what string
}

func (p *scanner) eof() bool { return p.pos >= len(p.s) }

func (p *scanner) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.pos]
}

func (p *scanner) has(prefix string) bool { return strings.HasPrefix(p.s[p.pos:], prefix) }

func (p *scanner) skipSpaces() {
	for !p.eof() && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n' || p.s[p.pos] == '\r') {
		p.pos++
	}
}

func (p *scanner) fail(expecting string) *httpx.Error {
	if p.eof() {
		return parseErr(p.what, p.s, p.pos, "unexpected end of input expecting "+expecting)
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.pos:])
	return parseErr(p.what, p.s, p.pos, fmt.Sprintf("unexpected %q expecting %s", string(r), expecting))
}

func (p *scanner) expect(tok, expecting string) *httpx.Error {
	if !p.has(tok) {
		return p.fail(expecting)
	}
	p.pos += len(tok)
	return nil
}

func isIdentRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '$'
}

// ident reads a field name: a double-quoted name or letters, digits, _ and
// $, with single dashes inside (but not the -> of a JSON path).
func (p *scanner) ident() (string, bool) {
	if p.peek() == '"' {
		v, ok := p.quoted()
		return v, ok && v != ""
	}
	start := p.pos
	for !p.eof() {
		r, n := utf8.DecodeRuneInString(p.s[p.pos:])
		if isIdentRune(r) {
			p.pos += n
			continue
		}
		if r == '-' && p.pos > start && p.pos+1 < len(p.s) && p.s[p.pos+1] != '>' {
			if r2, _ := utf8.DecodeRuneInString(p.s[p.pos+1:]); isIdentRune(r2) {
				p.pos++
				continue
			}
		}
		break
	}
	return p.s[start:p.pos], p.pos > start
}

// quoted reads "..." with backslash escapes.
func (p *scanner) quoted() (string, bool) {
	if p.peek() != '"' {
		return "", false
	}
	p.pos++
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.pos]
		switch {
		case c == '\\' && p.pos+1 < len(p.s):
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		case c == '"':
			p.pos++
			return b.String(), true
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", false
}

// field reads a column name and its JSON path.
func (p *scanner) field() (Field, *httpx.Error) {
	name, ok := p.ident()
	if !ok {
		return Field{}, p.fail("field name")
	}
	f := Field{Name: name}
	for p.has("->") {
		step := JSONStep{}
		p.pos += 2
		if p.peek() == '>' {
			step.Text = true
			p.pos++
		}
		// An array index: an integer, possibly negative.
		start := p.pos
		if p.peek() == '-' {
			p.pos++
		}
		for !p.eof() && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		digits := p.s[start:p.pos]
		if digits != "" && digits != "-" && (p.eof() || !isIdentByte(p.s[p.pos])) {
			step.Key, step.Index = digits, true
		} else {
			p.pos = start
			key, ok := p.ident()
			if !ok {
				return Field{}, p.fail("json key or index")
			}
			step.Key = key
		}
		f.JSON = append(f.JSON, step)
	}
	return f, nil
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

// castName reads the type of ::type (letters and digits, as PostgREST).
func (p *scanner) castName() (string, *httpx.Error) {
	start := p.pos
	for !p.eof() && isIdentByte(p.s[p.pos]) && p.s[p.pos] < 0x80 {
		p.pos++
	}
	if p.pos == start {
		return "", p.fail("cast type")
	}
	return p.s[start:p.pos], nil
}

var aggregateNames = map[string]bool{"sum": true, "avg": true, "min": true, "max": true, "count": true}

// ParseSelect parses the value of select=.
func ParseSelect(s string) ([]SelectItem, error) {
	p := &scanner{s: s, what: "select parameter"}
	items, err := p.selectList(0)
	if err != nil {
		return nil, err
	}
	if !p.eof() {
		return nil, p.fail(`"," or end of input`)
	}
	return items, nil
}

const maxSelectDepth = 32

func (p *scanner) selectList(depth int) ([]SelectItem, *httpx.Error) {
	if depth > maxSelectDepth {
		return nil, parseErr(p.what, p.s, p.pos, "embedding is nested too deeply")
	}
	var items []SelectItem
	for {
		p.skipSpaces()
		// An empty list: rel() or an empty select.
		if len(items) == 0 && (p.eof() || p.peek() == ')') {
			return items, nil
		}
		it, err := p.selectItem(depth)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		p.skipSpaces()
		if p.peek() != ',' {
			return items, nil
		}
		p.pos++
	}
}

func (p *scanner) selectItem(depth int) (SelectItem, *httpx.Error) {
	if p.peek() == '*' {
		p.pos++
		return SelectItem{Kind: SelectStar}, nil
	}
	if p.has("...") {
		p.pos += 3
		name, ok := p.ident()
		if !ok {
			return SelectItem{}, p.fail("relation name")
		}
		it, err := p.embedRest(SelectItem{Relation: name, Spread: true}, depth)
		return it, err
	}
	start := p.pos
	name, ok := p.ident()
	if !ok {
		return SelectItem{}, p.fail(`field name, "*" or "..."`)
	}
	var alias string
	if p.peek() == ':' && !p.has("::") {
		p.pos++
		alias = name
		p.skipSpaces()
		if p.has("...") {
			return SelectItem{}, p.fail("field name or relation (a spread cannot have an alias)")
		}
		start = p.pos
		name, ok = p.ident()
		if !ok {
			return SelectItem{}, p.fail("field name or relation")
		}
	}
	switch {
	case name == "count" && p.has("()"):
		p.pos += 2
		it := SelectItem{Kind: SelectCount, Alias: alias, Aggregate: "count"}
		if p.has("::") {
			p.pos += 2
			c, err := p.castName()
			if err != nil {
				return it, err
			}
			it.Cast = c
		}
		return it, nil
	case p.peek() == '(' || p.peek() == '!':
		return p.embedRest(SelectItem{Alias: alias, Relation: name}, depth)
	}
	p.pos = start
	f, err := p.field()
	if err != nil {
		return SelectItem{}, err
	}
	it := SelectItem{Kind: SelectField, Alias: alias, Field: f}
	if p.has("::") {
		p.pos += 2
		c, err := p.castName()
		if err != nil {
			return it, err
		}
		it.Cast = c
	}
	if p.peek() == '.' {
		save := p.pos
		p.pos++
		agg, _ := p.ident()
		if !aggregateNames[agg] || !p.has("()") {
			p.pos = save
			return it, p.fail("aggregate function (sum(), avg(), min(), max(), count())")
		}
		p.pos += 2
		it.Aggregate = agg
		it.AggregateCast, it.Cast = it.Cast, ""
		if p.has("::") {
			p.pos += 2
			c, err := p.castName()
			if err != nil {
				return it, err
			}
			it.Cast = c
		}
	}
	return it, nil
}

// embedRest reads the !hint!inner(...) part of an embed whose name is read.
func (p *scanner) embedRest(it SelectItem, depth int) (SelectItem, *httpx.Error) {
	it.Kind = SelectEmbed
	for p.peek() == '!' {
		p.pos++
		w, ok := p.ident()
		if !ok {
			return it, p.fail("hint or join type (inner, left)")
		}
		switch {
		case w == JoinInner || w == JoinLeft:
			if it.Join != "" {
				return it, parseErr(p.what, p.s, p.pos, "only one join type (inner, left) per embed")
			}
			it.Join = w
		case it.Hint == "":
			it.Hint = w
		default:
			return it, parseErr(p.what, p.s, p.pos, "only one hint per embed")
		}
	}
	if err := p.expect("(", `"("`); err != nil {
		return it, err
	}
	children, err := p.selectList(depth + 1)
	if err != nil {
		return it, err
	}
	it.Children = children
	p.skipSpaces()
	if err := p.expect(")", `"," or ")"`); err != nil {
		return it, err
	}
	return it, nil
}

// ParseOrder parses the value of order=.
func ParseOrder(s string) ([]OrderTerm, error) {
	p := &scanner{s: s, what: "order"}
	var terms []OrderTerm
	for {
		p.skipSpaces()
		var t OrderTerm
		start := p.pos
		name, ok := p.ident()
		if !ok {
			return nil, p.fail("field name")
		}
		if p.peek() == '(' {
			p.pos++
			t.Relation = name
			f, err := p.field()
			if err != nil {
				return nil, err
			}
			t.Field = f
			if err := p.expect(")", `")"`); err != nil {
				return nil, err
			}
		} else {
			p.pos = start
			f, err := p.field()
			if err != nil {
				return nil, err
			}
			t.Field = f
		}
		for p.peek() == '.' {
			p.pos++
			w, _ := p.ident()
			switch w {
			case "asc":
				t.Desc = false
			case "desc":
				t.Desc = true
			case "nullsfirst":
				t.Nulls = NullsFirst
			case "nullslast":
				t.Nulls = NullsLast
			default:
				p.pos -= len(w)
				return nil, p.fail(`"asc", "desc", "nullsfirst" or "nullslast"`)
			}
		}
		terms = append(terms, t)
		p.skipSpaces()
		if p.eof() {
			return terms, nil
		}
		if err := p.expect(",", `"," or end of input`); err != nil {
			return nil, err
		}
	}
}

// ParseColumns parses columns= (a list of field names).
func ParseColumns(s string) ([]string, error) {
	p := &scanner{s: s, what: "columns parameter"}
	var out []string
	for {
		p.skipSpaces()
		name, ok := p.ident()
		if !ok {
			return nil, p.fail("field name")
		}
		out = append(out, name)
		p.skipSpaces()
		if p.eof() {
			return out, nil
		}
		if err := p.expect(",", `"," or end of input`); err != nil {
			return nil, err
		}
	}
}

// parseNonNegative parses limit= and offset=.
func parseNonNegative(name, v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		p := &scanner{s: v, what: name}
		return 0, p.fail("digit")
	}
	return n, nil
}
