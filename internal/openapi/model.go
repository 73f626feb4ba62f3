package openapi

import "net/url"

// Version is the OpenAPI version of every document Fluxbase renders: 3.0.3
// is what Supabase's tooling and most code generators read.
const Version = "3.0.3"

// Document is an OpenAPI 3.0 document. Maps render with sorted keys, so
// the same content always renders to the same bytes.
type Document struct {
	OpenAPI      string                `json:"openapi"`
	Info         Info                  `json:"info"`
	Servers      []Server              `json:"servers,omitempty"`
	Paths        map[string]*PathItem  `json:"paths"`
	Components   *Components           `json:"components,omitempty"`
	Security     []SecurityRequirement `json:"security,omitempty"`
	Tags         []Tag                 `json:"tags,omitempty"`
	ExternalDocs *ExternalDocs         `json:"externalDocs,omitempty"`
}

// Info describes the API.
type Info struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Version     string   `json:"version"`
	License     *License `json:"license,omitempty"`
}

// License names the API's license.
type License struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
}

// Server is a base URL the paths are relative to.
type Server struct {
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
}

// Tag groups operations.
type Tag struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// ExternalDocs points to further documentation.
type ExternalDocs struct {
	Description string `json:"description,omitempty"`
	URL         string `json:"url"`
}

// SecurityRequirement maps a security scheme name to its scopes.
type SecurityRequirement map[string][]string

// PathItem holds the operations of one path.
type PathItem struct {
	Summary     string       `json:"summary,omitempty"`
	Description string       `json:"description,omitempty"`
	Get         *Operation   `json:"get,omitempty"`
	Put         *Operation   `json:"put,omitempty"`
	Post        *Operation   `json:"post,omitempty"`
	Delete      *Operation   `json:"delete,omitempty"`
	Options     *Operation   `json:"options,omitempty"`
	Head        *Operation   `json:"head,omitempty"`
	Patch       *Operation   `json:"patch,omitempty"`
	Parameters  []*Parameter `json:"parameters,omitempty"`
}

// Operations returns the item's operations by upper-case HTTP method.
func (p *PathItem) Operations() map[string]*Operation {
	out := map[string]*Operation{}
	for m, op := range map[string]*Operation{
		"GET": p.Get, "PUT": p.Put, "POST": p.Post, "DELETE": p.Delete,
		"OPTIONS": p.Options, "HEAD": p.Head, "PATCH": p.Patch,
	} {
		if op != nil {
			out[m] = op
		}
	}
	return out
}

// Operation is one method on one path.
type Operation struct {
	Tags        []string               `json:"tags,omitempty"`
	Summary     string                 `json:"summary,omitempty"`
	Description string                 `json:"description,omitempty"`
	OperationID string                 `json:"operationId,omitempty"`
	Parameters  []*Parameter           `json:"parameters,omitempty"`
	RequestBody *RequestBody           `json:"requestBody,omitempty"`
	Responses   map[string]*Response   `json:"responses"`
	Deprecated  bool                   `json:"deprecated,omitempty"`
	Security    *[]SecurityRequirement `json:"security,omitempty"`
}

// Parameter is a query, header or path parameter, or a reference to one.
type Parameter struct {
	Ref         string  `json:"$ref,omitempty"`
	Name        string  `json:"name,omitempty"`
	In          string  `json:"in,omitempty"`
	Description string  `json:"description,omitempty"`
	Required    bool    `json:"required,omitempty"`
	Deprecated  bool    `json:"deprecated,omitempty"`
	Style       string  `json:"style,omitempty"`
	Explode     *bool   `json:"explode,omitempty"`
	Schema      *Schema `json:"schema,omitempty"`
	Example     any     `json:"example,omitempty"`
}

// RequestBody is an operation's body, or a reference to one.
type RequestBody struct {
	Ref         string                `json:"$ref,omitempty"`
	Description string                `json:"description,omitempty"`
	Required    bool                  `json:"required,omitempty"`
	Content     map[string]*MediaType `json:"content,omitempty"`
}

// MediaType describes one representation of a body.
type MediaType struct {
	Schema  *Schema `json:"schema,omitempty"`
	Example any     `json:"example,omitempty"`
}

// Response is one response of an operation, or a reference to one.
type Response struct {
	Ref         string                `json:"$ref,omitempty"`
	Description string                `json:"description,omitempty"`
	Headers     map[string]*Header    `json:"headers,omitempty"`
	Content     map[string]*MediaType `json:"content,omitempty"`
}

// Header describes a response header, or references one.
type Header struct {
	Ref         string  `json:"$ref,omitempty"`
	Description string  `json:"description,omitempty"`
	Required    bool    `json:"required,omitempty"`
	Schema      *Schema `json:"schema,omitempty"`
	Example     any     `json:"example,omitempty"`
}

// Schema is a JSON Schema object in OpenAPI 3.0's dialect (nullable rather
// than type arrays), or a reference to one.
type Schema struct {
	Ref                  string             `json:"$ref,omitempty"`
	Type                 string             `json:"type,omitempty"`
	Format               string             `json:"format,omitempty"`
	Title                string             `json:"title,omitempty"`
	Description          string             `json:"description,omitempty"`
	Enum                 []any              `json:"enum,omitempty"`
	Default              any                `json:"default,omitempty"`
	Example              any                `json:"example,omitempty"`
	Nullable             bool               `json:"nullable,omitempty"`
	ReadOnly             bool               `json:"readOnly,omitempty"`
	WriteOnly            bool               `json:"writeOnly,omitempty"`
	Pattern              string             `json:"pattern,omitempty"`
	MaxLength            *int               `json:"maxLength,omitempty"`
	Minimum              *float64           `json:"minimum,omitempty"`
	Maximum              *float64           `json:"maximum,omitempty"`
	MinItems             *int               `json:"minItems,omitempty"`
	MaxItems             *int               `json:"maxItems,omitempty"`
	Items                *Schema            `json:"items,omitempty"`
	Properties           map[string]*Schema `json:"properties,omitempty"`
	Required             []string           `json:"required,omitempty"`
	AdditionalProperties *Schema            `json:"additionalProperties,omitempty"`
	OneOf                []*Schema          `json:"oneOf,omitempty"`
	AnyOf                []*Schema          `json:"anyOf,omitempty"`
	AllOf                []*Schema          `json:"allOf,omitempty"`
}

// Components holds the reusable parts of the document.
type Components struct {
	Schemas         map[string]*Schema         `json:"schemas,omitempty"`
	Responses       map[string]*Response       `json:"responses,omitempty"`
	Parameters      map[string]*Parameter      `json:"parameters,omitempty"`
	RequestBodies   map[string]*RequestBody    `json:"requestBodies,omitempty"`
	Headers         map[string]*Header         `json:"headers,omitempty"`
	SecuritySchemes map[string]*SecurityScheme `json:"securitySchemes,omitempty"`
}

// SecurityScheme describes how callers authenticate.
type SecurityScheme struct {
	Type         string `json:"type"`
	Description  string `json:"description,omitempty"`
	Name         string `json:"name,omitempty"`
	In           string `json:"in,omitempty"`
	Scheme       string `json:"scheme,omitempty"`
	BearerFormat string `json:"bearerFormat,omitempty"`
}

// Ref helpers build references to components.

// SchemaRef references components.schemas[name].
func SchemaRef(name string) *Schema { return &Schema{Ref: "#/components/schemas/" + escapeRef(name)} }

// ParameterRef references components.parameters[name].
func ParameterRef(name string) *Parameter {
	return &Parameter{Ref: "#/components/parameters/" + escapeRef(name)}
}

// ResponseRef references components.responses[name].
func ResponseRef(name string) *Response {
	return &Response{Ref: "#/components/responses/" + escapeRef(name)}
}

// HeaderRef references components.headers[name].
func HeaderRef(name string) *Header {
	return &Header{Ref: "#/components/headers/" + escapeRef(name)}
}

// RequestBodyRef references components.requestBodies[name].
func RequestBodyRef(name string) *RequestBody {
	return &RequestBody{Ref: "#/components/requestBodies/" + escapeRef(name)}
}

// escapeRef escapes a component name for a JSON pointer (RFC 6901) inside a
// URI fragment: names come from database identifiers and may hold '/', '~',
// spaces or anything else.
func escapeRef(name string) string {
	return url.PathEscape(escapePointer(name))
}

func escapePointer(name string) string {
	out := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '~':
			out = append(out, '~', '0')
		case '/':
			out = append(out, '~', '1')
		default:
			out = append(out, name[i])
		}
	}
	return string(out)
}

// ComponentName turns any string (a table or function name, which may hold
// any character) into a component name OpenAPI 3.0 accepts
// ([a-zA-Z0-9._-]+), without dots. The mapping is one to one: '-', '.' and
// every other byte outside [a-zA-Z0-9_] are written as '-' and two hex
// digits, so snake_case names stay readable, two names never collide, and
// names joined with '.' (schema.table) stay unambiguous.
func ComponentName(s string) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
			out = append(out, c)
		default:
			out = append(out, '-', hex[c>>4], hex[c&15])
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}
