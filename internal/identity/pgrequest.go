package identity

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/fluxbase/fluxbase/internal/pg"
)

// PGRequest describes r, made by id, for pg.(*DB).InRequestTx: the role to
// switch to, request.jwt.claims, request.method, request.path and
// request.headers (a JSON object of lowercase header names; repeated headers
// are joined with ", ", cookies with "; ", as HTTP/1.1 folds them).
// readOnly makes the transaction READ ONLY; use it for GET and HEAD.
func PGRequest(r *http.Request, id Identity, readOnly bool) pg.Request {
	return pg.Request{
		Role:     id.Role,
		Claims:   id.RawClaims,
		Method:   r.Method,
		Path:     r.URL.Path,
		Headers:  headersJSON(r),
		ReadOnly: readOnly,
	}
}

func headersJSON(r *http.Request) []byte {
	m := make(map[string]string, len(r.Header)+1)
	for name, values := range r.Header {
		key := strings.ToLower(name)
		sep := ", "
		if key == "cookie" {
			sep = "; "
		}
		m[key] = strings.Join(values, sep)
	}
	// net/http moves Host out of the header map; PostgREST exposes it.
	if r.Host != "" {
		m["host"] = r.Host
	}
	b, err := json.Marshal(m)
	if err != nil {
		// A map of strings always encodes; keep the contract of valid JSON.
		return []byte("{}")
	}
	return b
}
