package rest

import (
	"encoding/binary"
	"sync"

	"github.com/fluxbase/fluxbase/internal/schema"
)

// Reads of the same shape (the same table, headers that matter and query
// string but for the values of filters) plan to the same statement with
// other parameters. The statement of a shape is therefore built once per
// schema cache snapshot and reused, with the request's values bound in
// their places; the query string is still split and every filter value
// still parsed, which is what tells shapes apart.

// The statements kept at a time are bounded in number and in bytes (key,
// statement text and parameters), so that long query strings cannot make
// the cache large; a shape bigger than shapeEntryMaxBytes is not kept.
const (
	shapeCacheSize     = 1024
	shapeCacheMaxBytes = 8 << 20
	shapeEntryMaxBytes = 64 << 10
)

// shapeCache holds the statements of the current schema cache snapshot.
type shapeCache struct {
	mu      sync.RWMutex
	snap    *schema.Cache
	entries map[string]*shapeEntry
	bytes   int
}

// shapeEntry is everything a read derives from its shape.
type shapeEntry struct {
	sql string
	// args are the parameters of the request that built the entry; those
	// binds names are replaced, the others depend on the shape alone.
	args  []any
	binds []valueBind
	page  Page
	count countMode
	// order is the canonical order of the query parameters, which
	// depends on their names alone.
	order []int
	// size approximates the bytes the entry and its key hold.
	size int
}

// shape is a read's key and the values the key leaves out.
type shape struct {
	key    []byte
	params []QueryParam
	// filters holds, at the index of each filter parameter whose value
	// is left out of the key, that filter as parsed.
	filters []Filter
}

// readShape computes the shape of a read of the table name, or nil when
// the query string does not parse (the full parse then reports why).
// The key holds, unambiguously (each string prefixed with its length),
// every input of planning and building but the values of filters: route
// family, method, schema, table, Range, the media type, count mode, and
// each parameter in order with its name, and either its whole value or,
// for a filter, its operator, negation, modifier and, for is, its value.
func readShape(req *request, name string) *shape {
	r := req.r
	params, err := SplitQuery(r.URL.RawQuery)
	if err != nil {
		return nil
	}
	k := make([]byte, 0, 48+len(name)+len(r.URL.RawQuery))
	k = append(k, byte(req.fam))
	k = appendKeyString(k, r.Method)
	k = appendKeyString(k, req.schema)
	k = appendKeyString(k, name)
	k = appendKeyString(k, r.Header.Get("Range"))
	k = appendKeyString(k, req.accept.Media)
	k = appendKeyString(k, req.accept.Handler)
	k = appendKeyBool(k, req.accept.NullsStrip)
	k = appendKeyString(k, req.prefer.Count)
	sh := &shape{params: params}
	for i, kv := range params {
		k = appendKeyString(k, kv.Key)
		if kind, _ := classifyParam(kv.Key); kind != paramFilter {
			k = append(k, 'L')
			k = appendKeyString(k, kv.Value)
			continue
		}
		p := scanner{s: kv.Value, what: "filter"}
		f, herr := p.opValue(false)
		if herr != nil {
			return nil
		}
		k = append(k, 'F')
		k = appendKeyBool(k, f.Not)
		k = appendKeyString(k, f.Op)
		k = appendKeyString(k, f.Quantifier)
		k = appendKeyString(k, f.Config)
		if f.Op == "is" {
			k = appendKeyString(k, f.Value)
			continue
		}
		if sh.filters == nil {
			sh.filters = make([]Filter, len(params))
		}
		sh.filters[i] = f
	}
	sh.key = k
	return sh
}

func appendKeyString(k []byte, s string) []byte {
	k = binary.AppendUvarint(k, uint64(len(s)))
	return append(k, s...)
}

func appendKeyBool(k []byte, b bool) []byte {
	if b {
		return append(k, 1)
	}
	return append(k, 0)
}

// abstracted reports whether the value of parameter i is left out of the
// key.
func (sh *shape) abstracted(i int) bool {
	return sh.filters != nil && sh.filters[i].Op != ""
}

// get returns the entry of key for snapshot snap, if any.
func (c *shapeCache) get(snap *schema.Cache, key []byte) *shapeEntry {
	c.mu.RLock()
	var e *shapeEntry
	if c.snap == snap {
		e = c.entries[string(key)]
	}
	c.mu.RUnlock()
	return e
}

// put keeps the statement st a request of shape sh built from snapshot
// snap, when snap is the current snapshot (a request that began before a
// reload leaves the cache alone) and every left-out value has its
// parameter.
func (c *shapeCache) put(snap, current *schema.Cache, sh *shape, st readStatement, s *sqlb, page Page, count countMode, order []int) {
	if snap != current || s.opaque {
		return
	}
	for i := range sh.params {
		if !sh.abstracted(i) {
			continue
		}
		bound := false
		for _, b := range s.binds {
			if b.slot == i+1 {
				bound = true
				break
			}
		}
		if !bound {
			return
		}
	}
	for _, b := range s.binds {
		if !sh.abstracted(b.slot - 1) {
			return
		}
	}
	// The entry keeps no value of the request that built it.
	var args []any
	if st.Args != nil {
		args = make([]any, len(st.Args))
		copy(args, st.Args)
	}
	for _, b := range s.binds {
		args[b.arg] = nil
	}
	size := 2*len(sh.key) + len(st.SQL) + 16*len(args) + 24*len(s.binds) + 8*len(order) + 128
	for _, a := range args {
		if v, ok := a.(string); ok {
			size += len(v)
		}
	}
	if size > shapeEntryMaxBytes {
		return
	}
	e := &shapeEntry{sql: st.SQL, args: args, binds: s.binds, page: page, count: count, order: order, size: size}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != snap {
		c.snap, c.entries, c.bytes = snap, make(map[string]*shapeEntry), 0
	}
	key := string(sh.key)
	if old := c.entries[key]; old != nil {
		c.bytes -= old.size
		delete(c.entries, key)
	}
	// Any entries: map iteration starts at a random place.
	for k, old := range c.entries {
		if len(c.entries) < shapeCacheSize && c.bytes+size <= shapeCacheMaxBytes {
			break
		}
		c.bytes -= old.size
		delete(c.entries, k)
	}
	c.entries[key] = e
	c.bytes += size
}

// statement is the entry's statement with the values of sh bound.
func (e *shapeEntry) statement(sh *shape) readStatement {
	if e.args == nil {
		return readStatement{SQL: e.sql}
	}
	args := make([]any, len(e.args))
	copy(args, e.args)
	for _, b := range e.binds {
		f := &sh.filters[b.slot-1]
		switch b.kind {
		case bindLike:
			args[b.arg] = likePattern(f.Value)
		case bindList:
			args[b.arg] = pgArrayLiteral(f.List)
		default:
			args[b.arg] = f.Value
		}
	}
	return readStatement{SQL: e.sql, Args: args}
}
