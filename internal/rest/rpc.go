package rest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// serveRPC calls a function: GET and HEAD with arguments in the query
// string, POST with a JSON object of named arguments (or the raw body for a
// single unnamed parameter).
func (h *Handler) serveRPC(w http.ResponseWriter, r *http.Request, fam family, name string) {
	post := r.Method == http.MethodPost
	if !post && r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.fail(w, r, nil, errRPCMethod())
		return
	}
	req, name, err := h.begin(r, fam, name)
	if err != nil {
		h.fail(w, r, req, err)
		return
	}
	req.rpc = true
	cache := req.cache
	fns := cache.Functions(req.schema, name)
	argNames := map[string]bool{}
	for _, f := range fns {
		for _, a := range f.InputArgs() {
			if a.Name != "" {
				argNames[a.Name] = true
			}
		}
	}
	var isArg func(string, string) bool
	if !post {
		// A parameter is an argument when a parameter of the function has
		// its name, or when it is not shaped like a filter (so that an
		// unknown argument is reported as such).
		isArg = func(k, v string) bool {
			if argNames[k] {
				return true
			}
			switch k {
			case "order", "limit", "offset", "or", "and", "not.or", "not.and":
				return false
			}
			return !strings.Contains(k, ".") && !looksLikeFilter(v)
		}
	}
	q, err := ParseQuery(r.URL.RawQuery, isArg)
	if err != nil {
		h.fail(w, r, req, err)
		return
	}

	var keys []string
	var argsJSON, whole string
	var rawBody *string
	if post {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			h.fail(w, r, req, httpx.AsError(err))
			return
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			raw = []byte("{}")
		}
		if !json.Valid(raw) {
			h.fail(w, r, req, errBadJSON("the body is not valid JSON"))
			return
		}
		body := string(raw)
		whole = body
		switch {
		case req.prefer.Params == "single-object":
			rawBody = &body
		case raw[0] == '{' || raw[0] == '[':
			// An array is no bulk call (PostgREST dropped those in 11.0):
			// its objects must share their keys, which choose the
			// function, and the first object's values are the
			// arguments. A function with a single unnamed parameter
			// gets the whole array.
			first, objKeys, err := rpcArguments(raw, q.HasColumns)
			if err != nil {
				h.fail(w, r, req, err)
				return
			}
			keys, argsJSON = objKeys, first
			if q.HasColumns {
				// columns= names the arguments; the objects' keys are
				// not checked, as in PostgREST.
				keys = append([]string(nil), q.Columns...)
				sort.Strings(keys)
			}
		default:
			rawBody = &body
		}
	} else {
		obj := map[string]any{}
		for _, kv := range q.Args {
			switch prev := obj[kv.Key].(type) {
			case nil:
				obj[kv.Key] = kv.Value
				keys = append(keys, kv.Key)
			case string:
				obj[kv.Key] = []string{prev, kv.Value}
			case []string:
				obj[kv.Key] = append(prev, kv.Value)
			}
		}
		b, _ := json.Marshal(obj)
		argsJSON = string(b)
	}
	if len(fns) == 0 {
		h.fail(w, r, req, errNoFunction(req.schema, name, keys, cache))
		return
	}
	var fn *schema.Function
	if rawBody != nil {
		for _, f := range fns {
			if f.SingleUnnamedParam || f.SingleJSONParam {
				fn = f
				break
			}
		}
		if fn == nil && req.prefer.Params == "single-object" {
			// params=single-object passes the object to a function with
			// one json/jsonb parameter, named or not.
			for _, f := range fns {
				if in := f.InputArgs(); len(in) == 1 && (in[0].Type == "json" || in[0].Type == "jsonb") {
					fn = f
					break
				}
			}
		}
		if fn == nil {
			h.fail(w, r, req, errNoFunction(req.schema, name, keys, cache))
			return
		}
	} else {
		fn, err = chooseFunction(cache, req.schema, name, keys, post, post)
		if err != nil {
			h.fail(w, r, req, err)
			return
		}
		if fn.SingleUnnamedParam {
			body := cmp.Or(whole, argsJSON)
			rawBody = &body
		}
	}
	rt := returnTable(cache, fn)
	if fn.MediaType != "" {
		req.accept, req.acceptErr = ParseAccept(r.Header, fn.MediaType)
	} else if rt != nil && fn.ReturnsSet {
		negotiateHandler(req, rt.MediaHandlers)
	}
	if req.acceptErr != nil {
		h.fail(w, r, req, req.acceptErr)
		return
	}
	call := rpcCall{fn: fn, rawBody: rawBody, argsJSON: argsJSON}
	if rawBody == nil {
		given := map[string]bool{}
		for _, k := range keys {
			given[k] = true
		}
		for _, a := range fn.InputArgs() {
			if given[a.Name] {
				call.named = append(call.named, a)
			}
		}
	}

	var root *node
	scalar := fn.ReturnKind == schema.ReturnScalar || fn.ReturnKind == schema.ReturnSetOfScalar
	shaped := q.HasSelect || len(q.Filters) > 0 || len(q.Trees) > 0 || len(q.Order) > 0
	if rt != nil && fn.ReturnKind != schema.ReturnVoid && (!scalar || (fn.ReturnsSet && shaped)) {
		p := h.planner()
		p.cache = cache
		root, err = p.planRead(rt, q)
		if err != nil {
			h.fail(w, r, req, err)
			return
		}
	}
	page, err := ParseRange(r.Header)
	if err != nil || post {
		page = Page{Limit: -1}
	}
	page = page.intersect(q.Offset[""], q.Limit[""], hasKey(q.Offset, ""), hasKey(q.Limit, ""))
	if fn.ReturnsSet {
		page = h.maxRowsPage(page)
	}
	count := countMode(req.prefer.Count)
	if count != countNone {
		req.prefer.apply("count=" + req.prefer.Count)
	}
	format := bodyFormat{media: req.accept.Media, stripNulls: req.accept.NullsStrip, handler: req.handler}
	if rt != nil {
		format.rowType = rt.QualifiedName().Quoted()
	}
	st, err := buildRPC(call, root, page, count, format)
	if err != nil {
		h.fail(w, r, req, err)
		return
	}
	req.timing.phase("plan")
	readOnly := !post || fn.Volatility != schema.Volatile
	h.run(w, req, st, readOnly, page, func(res *result) (int, error) {
		if fn.ReturnKind == schema.ReturnVoid {
			res.body = nil
			return http.StatusNoContent, nil
		}
		if req.accept.Media == mediaObject && fn.ReturnsSet && res.page != 1 {
			return 0, errSingular(res.page)
		}
		if req.accept.Media == mediaObject && fn.ReturnsSet && len(res.body) > 0 {
			// The single row of the set, as an object.
			var arr []json.RawMessage
			if json.Unmarshal(res.body, &arr) == nil && len(arr) == 1 {
				res.body = arr[0]
			}
		}
		if fn.ReturnsSet {
			return rangeStatus(page, res)
		}
		if count != countNone {
			one := int64(1)
			res.total = &one
		}
		return http.StatusOK, nil
	})
}

// rpcArguments reads a JSON object, or an array of objects with the same
// keys, as the arguments of a call: the first object's text and its sorted
// keys. An empty array has no arguments. With firstOnly (columns= names
// the arguments) only the first object is looked at.
func rpcArguments(raw []byte, firstOnly bool) (string, []string, error) {
	objects := []json.RawMessage{raw}
	if raw[0] == '[' {
		objects = nil
		if err := json.Unmarshal(raw, &objects); err != nil {
			return "", nil, errBadJSON(jsonErr(err))
		}
		if len(objects) == 0 {
			return "{}", nil, nil
		}
		if firstOnly {
			objects = objects[:1]
		}
	}
	var keys []string
	for i, o := range objects {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(o, &obj); err != nil || obj == nil {
			if i == 0 && len(objects) == 1 && raw[0] == '{' {
				return "", nil, errBadJSON(jsonErr(err))
			}
			return "", nil, errKeysMismatch()
		}
		ks := make([]string, 0, len(obj))
		for k := range obj {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		if i == 0 {
			keys = ks
		} else if !slices.Equal(ks, keys) {
			return "", nil, errKeysMismatch()
		}
	}
	return string(objects[0]), keys, nil
}
