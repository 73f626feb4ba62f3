package app

import (
	_ "embed"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/openapi"
	"github.com/fluxbase/fluxbase/internal/rest"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// openAPI is the base document: Fluxbase's fixed routes. Subsystems add
// theirs through openapi.Contributor; a test walks the router to keep the
// merged document and the routes in step.
//
//go:embed openapi.json
var openAPI []byte

// docs serves the OpenAPI documents: /openapi.json (everything) and the
// PostgREST root GET /rest/v1/ (one schema's REST API).
type docs struct {
	builder *openapi.Builder
	rest    *rest.OpenAPI
	// authenticate puts the caller's identity in the request context: the
	// documents describe what the caller's role may use.
	authenticate func(http.Handler) http.Handler
}

// docServices are what the documents are generated from; all nil while
// the database starts, when only the base document is served.
type docServices struct {
	schema   *schema.Service
	identity *identity.Service
	// catalog answers the privilege lookups.
	catalog rest.CatalogQuerier
}

// newDocs returns the documents of an instance.
func newDocs(s docServices) (*docs, error) {
	b, err := openapi.NewBuilder(openAPI)
	if err != nil {
		return nil, err
	}
	d := &docs{builder: b, authenticate: func(h http.Handler) http.Handler { return h }}
	if s.schema != nil {
		d.rest = rest.NewOpenAPI(s.schema.Current, s.catalog)
		b.Register(d.rest)
	}
	if s.identity != nil {
		d.authenticate = s.identity.Middleware
	}
	return d, nil
}

// mustDocs is newDocs for the router: the base document is embedded and
// checked by tests, so an error is a build defect.
func mustDocs(s docServices) *docs {
	d, err := newDocs(s)
	if err != nil {
		panic(fmt.Sprintf("app: embedded openapi.json: %v", err))
	}
	return d
}

// audience is whom a request's document is for: its caller's role.
func audience(r *http.Request) openapi.Audience {
	if id, ok := identity.FromContext(r.Context()); ok {
		return openapi.Audience{Role: id.Role}
	}
	return openapi.Audience{}
}

// serveJSON answers GET /openapi.json with the merged document.
func (d *docs) serveJSON(w http.ResponseWriter, r *http.Request) {
	d.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, err := d.builder.Render(r.Context(), audience(r))
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		w.Header().Add("Vary", "Authorization, apikey")
		writeDocument(w, r, doc, "application/json")
	})).ServeHTTP(w, r)
}

// serveRESTRoot answers GET /rest/v1/ as PostgREST's root does: the OpenAPI
// document of the schema named by Accept-Profile (the default one without
// it), as application/openapi+json.
func (d *docs) serveRESTRoot(w http.ResponseWriter, r *http.Request) {
	if !acceptsOpenAPI(r.Header.Values("Accept")) {
		httpx.WriteError(w, r, httpx.NewError(http.StatusNotAcceptable, "PGRST107",
			"None of these media types are available: "+strings.Join(r.Header.Values("Accept"), ", ")))
		return
	}
	if d.rest == nil {
		httpx.WriteError(w, r, errStarting)
		return
	}
	d.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, err := d.rest.Profile(r.Context(), strings.TrimSpace(r.Header.Get("Accept-Profile")), audience(r).Role)
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		w.Header().Add("Vary", "Accept-Profile, Authorization, apikey")
		writeDocument(w, r, doc, "application/openapi+json; charset=utf-8")
	})).ServeHTTP(w, r)
}

// writeDocument sends a rendered document with its entity tag, answering
// 304 when the client already has it.
func writeDocument(w http.ResponseWriter, r *http.Request, doc *openapi.Rendered, contentType string) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", doc.ETag)
	if etagMatches(r.Header.Get("If-None-Match"), doc.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", fmt.Sprint(len(doc.JSON)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(doc.JSON)
	}
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110 13.1.2).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// acceptsOpenAPI reports whether the Accept header values admit the
// document: no header, */*, application/*, application/json or
// application/openapi+json (parameters and q-values aside; q=0 refuses).
func acceptsOpenAPI(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			if q := strings.TrimSpace(params["q"]); q == "0" || q == "0.0" || q == "0.00" || q == "0.000" {
				continue
			}
			switch mt {
			case "*/*", "application/*", "application/json", "application/openapi+json":
				return true
			}
		}
	}
	return false
}
