package identity

import (
	"net/http"
	"slices"
	"strings"

	"github.com/fluxbase/fluxbase/internal/pg"

	"github.com/fluxbase/fluxbase/internal/jsonenc"
)

// PGRequest describes r, made by id, for pg.(*DB).InRequestTx: the role to
// switch to, request.jwt.claims, request.method, request.path,
// request.headers (a JSON object of lowercase header names; repeated headers
// are joined with ", ", as HTTP/1.1 folds them; without the Cookie header,
// as in PostgREST) and request.cookies (a JSON object of cookie names and
// values).
// readOnly makes the transaction READ ONLY; use it for GET and HEAD.
func PGRequest(r *http.Request, id Identity, readOnly bool) pg.Request {
	return pg.Request{
		Role:         id.Role,
		Claims:       id.RawClaims,
		LegacyClaims: legacyClaims(id),
		Method:       r.Method,
		Path:         r.URL.Path,
		Headers:      headersJSON(r),
		Cookies:      cookiesJSON(r),
		HeadersValid: true,
		ReadOnly:     readOnly,
	}
}

// legacyClaims reads the claims the request.jwt.claim.* settings hold from
// the decoded claims, which RawClaims encodes, so that pg need not decode
// RawClaims again on every request.
func legacyClaims(id Identity) pg.LegacyClaims {
	if id.Claims == nil {
		return pg.LegacyClaims{}
	}
	return pg.LegacyClaimsOf(id.Claims)
}

// cookiesJSON encodes r's cookies as the JSON object request.cookies holds,
// name to value; when a name repeats, the last value wins, as in PostgREST.
// Without cookies it is nil, which pg sends as {}.
func cookiesJSON(r *http.Request) []byte {
	if _, ok := r.Header["Cookie"]; !ok {
		return nil
	}
	cs := r.Cookies()
	last := make(map[string]int, len(cs))
	for i, c := range cs {
		last[c.Name] = i
	}
	b := make([]byte, 0, 64)
	b = append(b, '{')
	for i, c := range cs {
		if last[c.Name] != i {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, c.Name)
		b = append(b, ':')
		b = jsonenc.AppendString(b, c.Value)
	}
	return append(b, '}')
}

// headersJSON encodes the headers as a JSON object with sorted keys. It
// runs for every request, so it appends the JSON itself instead of going
// through a map and encoding/json.
func headersJSON(r *http.Request) []byte {
	// Names keep net/http's spelling here and are lowercased as they are
	// written out: sorting and merging fold ASCII case instead, which
	// spares a lowercase copy of every name on every request.
	type header struct{ name, value string }
	hs := make([]header, 0, len(r.Header)+1)
	size := 2
	for name, values := range r.Header {
		// Cookies are request.cookies, and not repeated here, as in
		// PostgREST.
		if (r.Host != "" && equalFoldASCII(name, "host")) || equalFoldASCII(name, "cookie") {
			continue
		}
		v := strings.Join(values, ", ")
		hs = append(hs, header{name, v})
		size += len(name) + len(v) + 6
	}
	// net/http moves Host out of the header map; PostgREST exposes it.
	if r.Host != "" {
		hs = append(hs, header{"host", r.Host})
		size += len(r.Host) + 10
	}
	slices.SortFunc(hs, func(a, b header) int { return compareFoldASCII(a.name, b.name) })
	// Names that only differ in case (set in the map directly, bypassing
	// canonicalization) become one member, as HTTP folds repeated headers.
	out := hs[:0]
	for _, h := range hs {
		if n := len(out); n > 0 && equalFoldASCII(out[n-1].name, h.name) {
			out[n-1].value += ", " + h.value
			continue
		}
		out = append(out, h)
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, h := range out {
		if i > 0 {
			b = append(b, ',')
		}
		start := len(b)
		b = jsonenc.AppendString(b, h.name)
		// Escapes are lowercase already; only the name's letters change.
		for j := start; j < len(b); j++ {
			if c := b[j]; 'A' <= c && c <= 'Z' {
				b[j] = c + ('a' - 'A')
			}
		}
		b = append(b, ':')
		b = jsonenc.AppendString(b, h.value)
	}
	return append(b, '}')
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// compareFoldASCII compares a and b as strings.Compare compares their
// ASCII-lowercased forms.
func compareFoldASCII(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if ca, cb := lowerASCII(a[i]), lowerASCII(b[i]); ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

func equalFoldASCII(a, b string) bool {
	return len(a) == len(b) && compareFoldASCII(a, b) == 0
}
