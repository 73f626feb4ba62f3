package openapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
)

// Audience is whom a document is rendered for. Contributors that follow
// the database's privileges describe only what Role may use (as PostgREST's
// default openapi-mode, follow-privileges, does); the zero Audience asks
// for everything.
type Audience struct {
	Role string
}

// Contributor adds one subsystem's paths and components to the document.
type Contributor interface {
	// Revision identifies the state the contribution is generated from
	// (for the REST API, the schema cache snapshot). It must be comparable
	// with ==; the Builder renders again when any contributor's revision
	// differs from the one it last rendered with.
	Revision() any
	// ContributeOpenAPI adds the contributor's paths, components and tags
	// for the audience. It must not remove or replace what is already
	// there: the Builder rejects a contribution that redefines a path or a
	// component.
	ContributeOpenAPI(ctx context.Context, doc *Document, aud Audience) error
}

// Builder merges the base document (Fluxbase's fixed routes) with the
// contributions, and caches the rendered JSON per audience until a
// contributor's revision changes.
type Builder struct {
	base []byte

	mu           sync.Mutex
	contributors []Contributor
	revisions    []any
	rendered     map[Audience]*Rendered
}

// Rendered is one rendering of a document.
type Rendered struct {
	JSON []byte
	// ETag is a strong entity tag of JSON.
	ETag string
}

// NewBuilder returns a Builder over a base document in OpenAPI 3.0 JSON.
// Fields outside the model are an error, so that nothing in the base
// document is dropped silently.
func NewBuilder(base []byte) (*Builder, error) {
	if _, err := Parse(base); err != nil {
		return nil, fmt.Errorf("openapi: base document: %w", err)
	}
	return &Builder{base: bytes.Clone(base)}, nil
}

// Parse decodes a document, refusing fields the model does not know.
func Parse(data []byte) (*Document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if doc.OpenAPI != Version {
		return nil, fmt.Errorf("openapi is %q, want %q", doc.OpenAPI, Version)
	}
	if doc.Paths == nil {
		doc.Paths = map[string]*PathItem{}
	}
	if doc.Components == nil {
		doc.Components = &Components{}
	}
	return &doc, nil
}

// Register adds a contributor; contributions are applied in registration
// order.
func (b *Builder) Register(c Contributor) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.contributors = append(b.contributors, c)
	b.rendered, b.revisions = nil, nil
}

// Document builds the merged document afresh.
func (b *Builder) Document(ctx context.Context, aud Audience) (*Document, error) {
	b.mu.Lock()
	contributors := append([]Contributor(nil), b.contributors...)
	b.mu.Unlock()
	return b.build(ctx, contributors, aud)
}

// Render returns the merged document for the audience as JSON, rendering
// it again only when a contributor's revision changed since it was last
// rendered.
func (b *Builder) Render(ctx context.Context, aud Audience) (*Rendered, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Revisions are read before building, so that a change racing with the
	// build is seen by the next Render.
	revs := make([]any, len(b.contributors))
	for i, c := range b.contributors {
		revs[i] = c.Revision()
	}
	if !sameRevisions(revs, b.revisions) || b.rendered == nil {
		b.revisions, b.rendered = revs, map[Audience]*Rendered{}
	}
	if r, ok := b.rendered[aud]; ok {
		return r, nil
	}
	doc, err := b.build(ctx, b.contributors, aud)
	if err != nil {
		return nil, err
	}
	r, err := Render(doc)
	if err != nil {
		return nil, err
	}
	b.rendered[aud] = r
	return r, nil
}

func sameRevisions(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// build parses the base and applies the contributions.
func (b *Builder) build(ctx context.Context, contributors []Contributor, aud Audience) (*Document, error) {
	doc, err := Parse(b.base)
	if err != nil {
		return nil, err
	}
	for i, c := range contributors {
		part := &Document{Paths: map[string]*PathItem{}, Components: &Components{}}
		if err := c.ContributeOpenAPI(ctx, part, aud); err != nil {
			return nil, err
		}
		if err := Merge(doc, part); err != nil {
			return nil, fmt.Errorf("openapi: contribution %d (%T): %w", i, c, err)
		}
	}
	return doc, nil
}

// Merge adds part's paths, components and tags to doc, refusing to
// redefine any of doc's.
func Merge(doc, part *Document) error {
	if doc.Paths == nil {
		doc.Paths = map[string]*PathItem{}
	}
	for p, item := range part.Paths {
		if _, dup := doc.Paths[p]; dup {
			return fmt.Errorf("path %s is defined twice", p)
		}
		doc.Paths[p] = item
	}
	if part.Components != nil {
		if doc.Components == nil {
			doc.Components = &Components{}
		}
		c, pc := doc.Components, part.Components
		var err error
		c.Schemas, err = mergeMap("schema", c.Schemas, pc.Schemas)
		if err != nil {
			return err
		}
		if c.Responses, err = mergeMap("response", c.Responses, pc.Responses); err != nil {
			return err
		}
		if c.Parameters, err = mergeMap("parameter", c.Parameters, pc.Parameters); err != nil {
			return err
		}
		if c.RequestBodies, err = mergeMap("request body", c.RequestBodies, pc.RequestBodies); err != nil {
			return err
		}
		if c.Headers, err = mergeMap("header", c.Headers, pc.Headers); err != nil {
			return err
		}
		if c.SecuritySchemes, err = mergeMap("security scheme", c.SecuritySchemes, pc.SecuritySchemes); err != nil {
			return err
		}
	}
	have := map[string]bool{}
	for _, t := range doc.Tags {
		have[t.Name] = true
	}
	for _, t := range part.Tags {
		if !have[t.Name] {
			doc.Tags = append(doc.Tags, t)
			have[t.Name] = true
		}
	}
	return nil
}

func mergeMap[V any](what string, dst, src map[string]V) (map[string]V, error) {
	if len(src) == 0 {
		return dst, nil
	}
	if dst == nil {
		dst = make(map[string]V, len(src))
	}
	for k, v := range src {
		if _, dup := dst[k]; dup {
			return nil, fmt.Errorf("component %s %q is defined twice", what, k)
		}
		dst[k] = v
	}
	return dst, nil
}

// Render encodes a document as compact JSON with its entity tag (the
// documents of large schemas run to megabytes; indentation would double
// that).
func Render(doc *Document) (*Rendered, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Descriptions hold <pk/> and <fk .../> markers that readers of
	// PostgREST's documents look for verbatim.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("openapi: render: %w", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return &Rendered{JSON: buf.Bytes(), ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`}, nil
}

// Memo caches renderings of documents derived from one changing source, by
// key (for the REST API, one document per exposed schema). A new revision
// drops every rendering of the previous one.
type Memo struct {
	mu    sync.Mutex
	rev   any
	byKey map[string]*Rendered
}

// Get returns the rendering of key at revision rev, building it on a miss.
func (m *Memo) Get(rev any, key string, build func() (*Document, error)) (*Rendered, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byKey == nil || m.rev != rev {
		m.rev, m.byKey = rev, map[string]*Rendered{}
	}
	if r, ok := m.byKey[key]; ok {
		return r, nil
	}
	doc, err := build()
	if err != nil {
		return nil, err
	}
	r, err := Render(doc)
	if err != nil {
		return nil, err
	}
	m.byKey[key] = r
	return r, nil
}
