package rest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// payload is a decoded write body: the JSON text of an array of objects
// (or one object) and the keys the objects carry.
type payload struct {
	json    string
	keys    []string
	isArray bool
	// keySets are the sorted keys of each object.
	keySets [][]string
	// objects holds the decoded object when there is exactly one.
	objects []map[string]json.RawMessage
}

// readPayload reads the body as JSON, CSV or a form, PostgREST's three
// accepted request media types.
func readPayload(r *http.Request) (*payload, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, httpx.AsError(err)
	}
	ct := r.Header.Get("Content-Type")
	media := "application/json"
	if ct != "" {
		m, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, errContentType(ct)
		}
		media = m
	}
	switch media {
	case "application/json", "application/vnd.pgrst.object+json", "application/vnd.pgrst.array+json":
		return decodeJSONPayload(raw)
	case "text/csv":
		j, err := csvToJSON(raw)
		if err != nil {
			return nil, err
		}
		return decodeJSONPayload(j)
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(raw))
		if err != nil {
			return nil, errBadJSON("the form body is not valid: " + err.Error())
		}
		obj := map[string]string{}
		for k, v := range vals {
			obj[k] = v[len(v)-1]
		}
		j, _ := json.Marshal(obj)
		return decodeJSONPayload(j)
	}
	return nil, errContentType(ct)
}

func decodeJSONPayload(raw []byte) (*payload, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, errBadJSON("the request body is empty")
	}
	if !json.Valid(trimmed) {
		var v any
		err := json.Unmarshal(trimmed, &v)
		return nil, errBadJSON(jsonErr(err))
	}
	p := &payload{json: string(trimmed)}
	switch trimmed[0] {
	case '[':
		p.isArray = true
		sets, err := scanObjectKeys(trimmed)
		if err != nil {
			return nil, err
		}
		p.keySets = sets
		if len(sets) == 1 {
			// One object: kept whole, for PUT's key checks.
			var arr []map[string]json.RawMessage
			if err := json.Unmarshal(trimmed, &arr); err != nil {
				return nil, errBadJSON(jsonErr(err))
			}
			p.objects = arr
		}
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &obj); err != nil {
			return nil, errBadJSON(jsonErr(err))
		}
		p.objects = []map[string]json.RawMessage{obj}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		p.keySets = [][]string{keys}
	default:
		return nil, errBadJSON("the body must be a JSON object or an array of objects")
	}
	if len(p.keySets) > 0 {
		p.keys = p.keySets[0]
	}
	return p, nil
}

// scanObjectKeys lists the sorted keys of each object of a JSON array (which
// must be valid JSON) without decoding the values: bulk inserts of
// thousands of rows only need the keys checked, PostgreSQL reads the rest.
// An object whose keys are written exactly as the previous object's, the
// usual case in a bulk insert, shares that object's key set, so it costs
// a comparison of bytes and no allocation.
func scanObjectKeys(b []byte) ([][]string, error) {
	var sets [][]string
	// cur and prev are the keys of this object and of the previous one as
	// written (quoted, escapes kept), in order, as offsets into b (which
	// keeps the garbage collector's write barriers out of the loop);
	// prevSet is prev's key set.
	var cur, prev []span
	var prevSet []string
	depth := 0
	expectKey := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			j := i + 1
			for ; j < len(b); j++ {
				if b[j] == '\\' {
					j++
					continue
				}
				if b[j] == '"' {
					break
				}
			}
			if depth == 2 && expectKey {
				cur = append(cur, span{i, j + 1})
			} else if depth == 1 {
				return nil, errBadJSON("every element of the array must be a JSON object")
			}
			i = j
			continue
		case '{', '[':
			if depth == 1 && c != '{' {
				return nil, errBadJSON("every element of the array must be a JSON object")
			}
			depth++
			if depth == 2 {
				cur = cur[:0]
				expectKey = true
			}
			continue
		case '}', ']':
			if depth == 2 {
				if prevSet == nil || !slices.EqualFunc(cur, prev, func(x, y span) bool { return bytes.Equal(b[x.from:x.to], b[y.from:y.to]) }) {
					set, err := keySet(b, cur)
					if err != nil {
						return nil, err
					}
					prevSet = set
					prev, cur = cur, prev
				}
				sets = append(sets, prevSet)
			}
			depth--
			continue
		case ',':
			if depth == 2 {
				expectKey = true
			}
			continue
		case ':':
			if depth == 2 {
				expectKey = false
			}
			continue
		}
		if depth == 1 {
			// A number, true, false or null as an element.
			return nil, errBadJSON("every element of the array must be a JSON object")
		}
	}
	return sets, nil
}

// span is b[from:to] of a JSON text b.
type span struct{ from, to int }

// keySet returns the sorted, distinct keys of one object of b from the
// keys as written (quoted JSON strings).
func keySet(b []byte, quoted []span) ([]string, error) {
	keys := make([]string, 0, len(quoted))
	for _, sp := range quoted {
		q := b[sp.from:sp.to]
		key := string(q[1 : len(q)-1])
		if bytes.IndexByte(q, '\\') >= 0 {
			if err := json.Unmarshal(q, &key); err != nil {
				return nil, errBadJSON(jsonErr(err))
			}
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

func jsonErr(err error) string {
	if err == nil {
		return "the body is not valid JSON"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// sameKeys checks that every object has the first object's keys, as
// PostgREST requires of bulk inserts without columns=.
func (p *payload) sameKeys() bool {
	for _, ks := range p.keySets[1:] {
		if len(ks) != len(p.keys) {
			return false
		}
		for i := range ks {
			if ks[i] != p.keys[i] {
				return false
			}
		}
	}
	return true
}

// csvToJSON turns CSV with a header row into a JSON array of objects;
// the unquoted text NULL is SQL NULL.
func csvToJSON(raw []byte) ([]byte, error) {
	rd := csv.NewReader(bytes.NewReader(raw))
	rd.FieldsPerRecord = -1
	recs, err := rd.ReadAll()
	if err != nil {
		return nil, errBadJSON("the CSV body is not valid: " + err.Error())
	}
	if len(recs) == 0 {
		return nil, errBadJSON("the CSV body has no header row")
	}
	head := recs[0]
	out := make([]map[string]any, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		if len(rec) != len(head) {
			return nil, errBadJSON(fmt.Sprintf("a CSV row has %d fields, but the header has %d", len(rec), len(head)))
		}
		obj := make(map[string]any, len(head))
		for i, h := range head {
			if rec[i] == "NULL" {
				obj[h] = nil
			} else {
				obj[h] = rec[i]
			}
		}
		out = append(out, obj)
	}
	return json.Marshal(out)
}

// write serves POST, PATCH, PUT and DELETE on a table or view.
func (h *Handler) write(w http.ResponseWriter, req *request, t *schema.Table, q *Query) {
	r := req.r
	method := r.Method
	if (method == http.MethodPatch || method == http.MethodDelete) && !q.hasRootFilters() {
		h.fail(w, r, req, errUnfilteredWrite(method))
		return
	}
	p := h.planner()
	p.cache = req.cache
	// The representation: select= over the changed rows.
	repQuery := *q
	repQuery.Filters, repQuery.Trees = nil, nil
	for _, f := range q.Filters {
		if len(f.Path) > 0 {
			repQuery.Filters = append(repQuery.Filters, f)
		}
	}
	for _, tr := range q.Trees {
		if len(tr.Path) > 0 {
			repQuery.Trees = append(repQuery.Trees, tr)
		}
	}
	rep, err := p.planRead(t, &repQuery)
	if err != nil {
		h.fail(w, r, req, err)
		return
	}
	filterQuery := &Query{Filters: q.Filters, Trees: q.Trees, Order: map[string][]OrderTerm{}, Limit: map[string]int64{}, Offset: map[string]int64{}}
	var rootFilters []Filter
	for _, f := range q.Filters {
		if len(f.Path) == 0 {
			rootFilters = append(rootFilters, f)
		}
	}
	var rootTrees []LogicTree
	for _, tr := range q.Trees {
		if len(tr.Path) == 0 {
			rootTrees = append(rootTrees, tr)
		}
	}
	filterQuery.Filters, filterQuery.Trees = rootFilters, rootTrees
	filter := &node{table: t, name: t.Name}
	if err := p.attachParams(filter, filterQuery); err != nil {
		h.fail(w, r, req, err)
		return
	}

	spec := writeSpec{table: t, rep: rep, filter: filter}
	switch method {
	case http.MethodPost:
		spec.kind = writeInsert
	case http.MethodPatch:
		spec.kind = writeUpdate
	case http.MethodDelete:
		spec.kind = writeDelete
	case http.MethodPut:
		spec.kind = writeUpsertPut
	}
	pref := &req.prefer
	if method != http.MethodDelete {
		pl, err := readPayload(r)
		if err != nil {
			h.fail(w, r, req, err)
			return
		}
		if err := h.shapeWrite(req, &spec, pl, q); err != nil {
			h.fail(w, r, req, err)
			return
		}
	}
	switch pref.Return {
	case "representation":
		spec.wantBody = true
		pref.apply("return=representation")
	case "headers-only":
		spec.wantLocation = method == http.MethodPost
		pref.apply("return=headers-only")
	case "minimal":
		pref.apply("return=minimal")
	}
	if req.fam == familyNative && req.byKey == nil && method == http.MethodPost && pref.Return == "" {
		spec.wantLocation = true
	}
	if req.accept.Media == mediaPlan {
		spec.wantBody = true
	}
	if pref.Count != "" {
		pref.apply("count=" + pref.Count)
	}
	strict := pref.Handling == "strict"
	if pref.HasMax && strict && method != http.MethodPost && method != http.MethodPut {
		pref.apply(fmt.Sprintf("max-affected=%d", pref.MaxAffected))
	}
	format := bodyFormat{media: req.accept.Media, stripNulls: req.accept.NullsStrip}
	st := buildWrite(spec, format)
	req.timing.phase("plan")
	h.run(w, req, st, false, Page{Limit: -1}, func(res *result) (int, error) {
		if pref.HasMax && strict && res.page > pref.MaxAffected {
			return 0, errMaxAffected(res.page)
		}
		if req.accept.Media == mediaObject && spec.wantBody && res.page != 1 {
			return 0, errSingular(res.page)
		}
		if req.byKey != nil && res.page == 0 && method != http.MethodPut {
			return 0, httpx.NewError(http.StatusNotFound, "not_found",
				fmt.Sprintf("no row of %s.%s has the id %s", t.Schema, t.Name, strings.Join(req.byKey, ",")))
		}
		if !spec.wantBody {
			res.body = nil
		}
		if pref.Count == "exact" && method != http.MethodPost {
			n := res.page
			res.total = &n
		}
		switch {
		case method == http.MethodPost && spec.resolution == "merge-duplicates" && res.inserted != nil && *res.inserted == 0 && res.page > 0:
			// Every row existed and was updated: nothing was created.
			return http.StatusOK, nil
		case method == http.MethodPost:
			return http.StatusCreated, nil
		case method == http.MethodPut && res.inserted != nil && *res.inserted > 0:
			return http.StatusCreated, nil
		case spec.wantBody:
			return http.StatusOK, nil
		}
		return http.StatusNoContent, nil
	})
}

// shapeWrite checks the payload against the table and fills the spec's
// columns, body and conflict handling.
func (h *Handler) shapeWrite(req *request, spec *writeSpec, pl *payload, q *Query) error {
	t := spec.table
	pref := &req.prefer
	if spec.kind == writeUpsertPut && req.byKey != nil && len(pl.objects) == 1 {
		// The id in the path supplies key values the body leaves out.
		obj := pl.objects[0]
		changed := false
		for i, k := range t.PrimaryKey {
			if _, ok := obj[k]; !ok && i < len(req.byKey) {
				v, _ := json.Marshal(req.byKey[i])
				obj[k] = v
				pl.keys = append(pl.keys, k)
				changed = true
			}
		}
		if changed {
			j, _ := json.Marshal(obj)
			pl.json = string(j)
			pl.isArray = false
		}
	}
	keys := pl.keys
	if q.HasColumns {
		keys = q.Columns
	} else if len(pl.keySets) > 1 && !pl.sameKeys() && pref.Missing != "default" {
		return errKeysMismatch()
	}
	// given is every key some object has, when missing=default lets the
	// objects differ in their keys.
	var given map[string]bool
	if pref.Missing == "default" {
		given = map[string]bool{}
		for _, ks := range pl.keySets {
			for _, k := range ks {
				given[k] = true
			}
		}
	}
	if len(pl.keySets) > 1 && given != nil {
		keys = keys[:0:0]
		for k := range given {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	}
	// Columns in table order, so the statement text is stable.
	set := map[string]bool{}
	for _, k := range keys {
		if t.Column(k) == nil {
			return errColumnWrite(k, t)
		}
		set[k] = true
	}
	for _, c := range t.Columns {
		if !set[c.Name] {
			continue
		}
		if given != nil && spec.kind == writeInsert && !given[c.Name] && (c.Generated || c.Identity == schema.IdentityAlways) {
			// The default of a generated column, or of an identity column
			// GENERATED ALWAYS, is what PostgreSQL computes when the column
			// is left out; no expression can stand in for it. A value sent
			// for one still reaches PostgreSQL, which refuses it (428C9).
			continue
		}
		spec.columns = append(spec.columns, c)
	}
	switch spec.kind {
	case writeInsert:
		body := pl.json
		if !pl.isArray {
			body = "[" + body + "]"
		}
		spec.body = body
		switch pref.Missing {
		case "default":
			spec.missingDefault = true
			pref.apply("missing=default")
		case "null":
			pref.apply("missing=null")
		}
		spec.onConflict = q.OnConflict
		if len(spec.onConflict) == 0 {
			spec.onConflict = t.PrimaryKey
		}
		// Without a primary key or on_conflict= there is nothing to
		// detect duplicates by: PostgREST then inserts plainly and does
		// not report the resolution as applied.
		if pref.Resolution != "" && len(spec.onConflict) > 0 {
			spec.resolution = pref.Resolution
			pref.apply("resolution=" + pref.Resolution)
			for _, c := range spec.onConflict {
				if t.Column(c) == nil {
					return errColumnWrite(c, t)
				}
			}
		}
	case writeUpdate:
		if pl.isArray {
			return errBadJSON("a PATCH body must be a single JSON object")
		}
		spec.body = pl.json
	case writeUpsertPut:
		if err := checkPut(t, q, pl); err != nil {
			return err
		}
		spec.body = "[" + pl.json + "]"
		spec.resolution = "merge-duplicates"
		spec.onConflict = t.PrimaryKey
	}
	return nil
}

// checkPut enforces PostgREST's rules for PUT: filters on exactly the
// primary key with eq, a single object, and key values that agree with
// the filters.
func checkPut(t *schema.Table, q *Query, pl *payload) error {
	if len(pl.objects) != 1 {
		return errBadJSON("a PUT body must be a single JSON object")
	}
	if len(t.PrimaryKey) == 0 {
		return httpx.NewError(http.StatusMethodNotAllowed, "PGRST105", "Filters must include all and only primary key columns with 'eq' operators")
	}
	if len(q.Limit) > 0 || len(q.Offset) > 0 {
		return httpx.NewError(http.StatusBadRequest, "PGRST114", "limit/offset querystring parameters are not allowed for PUT")
	}
	vals := map[string]string{}
	for _, f := range q.Filters {
		if len(f.Path) > 0 || f.Op != "eq" || f.Not || f.Quantifier != "" || len(f.Field.JSON) > 0 {
			return httpx.NewError(http.StatusMethodNotAllowed, "PGRST105", "Filters must include all and only primary key columns with 'eq' operators")
		}
		vals[f.Field.Name] = f.Value
	}
	if len(vals) != len(t.PrimaryKey) || len(q.Trees) > 0 {
		return httpx.NewError(http.StatusMethodNotAllowed, "PGRST105", "Filters must include all and only primary key columns with 'eq' operators")
	}
	obj := pl.objects[0]
	for _, k := range t.PrimaryKey {
		v, ok := vals[k]
		if !ok {
			return httpx.NewError(http.StatusMethodNotAllowed, "PGRST105", "Filters must include all and only primary key columns with 'eq' operators")
		}
		raw, ok := obj[k]
		if !ok || !jsonEqualsText(raw, v) {
			return httpx.NewError(http.StatusBadRequest, "PGRST115", "Payload values do not match URL in primary key column(s)")
		}
	}
	return nil
}

// jsonEqualsText compares a JSON scalar with the text of a URL value.
func jsonEqualsText(raw json.RawMessage, text string) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == text
	}
	return strings.TrimSpace(string(raw)) == text
}

func decodeStringArray(s string) ([]string, error) {
	var out []string
	err := json.Unmarshal([]byte(s), &out)
	return out, err
}
