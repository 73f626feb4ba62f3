package rest

import (
	"net/url"
	"sort"
	"strings"

	"github.com/fluxbase/fluxbase/internal/schema"
)

// renderContentLocation is the Content-Location of a read, as PostgREST
// writes it: the table's path relative to the API root (the native family
// names its own full path) and the canonical form of the query string,
// params (decoded) taken in the order order gives: sorted by name, keeping
// the order of equal names (canonicalOrder), the values of a repeated name
// joined with commas, and every byte other than ASCII letters, digits and
// -_.~ percent-encoded.
func renderContentLocation(req *request, t *schema.Table, params []QueryParam, order []int) string {
	var b strings.Builder
	size := len(t.Name) + 2
	for _, p := range params {
		size += len(p.Key) + len(p.Value) + 2
	}
	b.Grow(size + size/2)
	if req.fam == familyNative {
		b.WriteString(strings.TrimSuffix(req.r.URL.EscapedPath(), "/"))
	} else {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(t.Name))
	}
	if len(params) > 0 {
		b.WriteByte('?')
		writeCanonicalQuery(&b, params, order)
	}
	return b.String()
}

// splitLenient splits a query string into decoded pairs, keeping a part
// that is not valid percent-encoding as it is.
func splitLenient(raw string) []QueryParam {
	params, _ := splitPairs(raw, func(s string) (string, error) { return unescapeQuery(s), nil })
	return params
}

// canonicalOrder is the order of params sorted by name, equal names
// keeping their order. It depends on the names alone.
func canonicalOrder(params []QueryParam) []int {
	order := make([]int, len(params))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return params[order[i]].Key < params[order[j]].Key })
	return order
}

func writeCanonicalQuery(b *strings.Builder, params []QueryParam, order []int) {
	for n, i := range order {
		p := params[i]
		if n > 0 && params[order[n-1]].Key == p.Key {
			b.WriteByte(',')
			encodeQueryPart(b, p.Value)
			continue
		}
		if n > 0 {
			b.WriteByte('&')
		}
		encodeQueryPart(b, p.Key)
		b.WriteByte('=')
		encodeQueryPart(b, p.Value)
	}
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func encodeQueryPart(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}
