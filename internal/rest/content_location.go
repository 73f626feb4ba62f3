package rest

import (
	"net/url"
	"sort"
	"strings"

	"github.com/fluxbase/fluxbase/internal/schema"
)

// contentLocation is the Content-Location of a read, as PostgREST writes
// it: the table's path relative to the API root and the canonical form of
// the query string. The native family names its own full path.
func contentLocation(req *request, t *schema.Table) string {
	path := "/" + url.PathEscape(t.Name)
	if req.fam == familyNative {
		path = strings.TrimSuffix(req.r.URL.EscapedPath(), "/")
	}
	if q := canonicalQuery(req.r.URL.RawQuery); q != "" {
		return path + "?" + q
	}
	return path
}

// canonicalQuery renders a query string the way PostgREST's Content-Location
// does: parameters decoded, sorted by name (keeping the order of equal
// names), the values of a repeated name joined with commas, and every byte
// other than ASCII letters, digits and -_.~ percent-encoded.
func canonicalQuery(raw string) string {
	type param struct{ k, v string }
	var params []param
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		params = append(params, param{unescapeQuery(k), unescapeQuery(v)})
	}
	sort.SliceStable(params, func(i, j int) bool { return params[i].k < params[j].k })
	var b strings.Builder
	for i, p := range params {
		if i > 0 && params[i-1].k == p.k {
			b.WriteByte(',')
			encodeQueryPart(&b, p.v)
			continue
		}
		if i > 0 {
			b.WriteByte('&')
		}
		encodeQueryPart(&b, p.k)
		b.WriteByte('=')
		encodeQueryPart(&b, p.v)
	}
	return b.String()
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
