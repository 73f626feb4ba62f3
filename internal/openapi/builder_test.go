package openapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fluxbase/fluxbase/internal/openapi"
	"github.com/fluxbase/fluxbase/internal/openapi/openapitest"
)

const base = `{
  "openapi": "3.0.3",
  "info": {"title": "T", "version": "1", "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"}},
  "paths": {
    "/health": {"get": {"operationId": "getHealth", "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}}}
  },
  "components": {"schemas": {"Health": {"type": "object", "properties": {"status": {"type": "string", "nullable": true}}}}}
}`

// counter is a contributor whose output follows a revision number.
type counter struct {
	rev   atomic.Int64
	calls atomic.Int64
	path  string
}

func (c *counter) Revision() any { return c.rev.Load() }

func (c *counter) ContributeOpenAPI(_ context.Context, doc *openapi.Document, aud openapi.Audience) error {
	c.calls.Add(1)
	if aud.Role == "nobody" {
		return nil
	}
	doc.Paths[c.path] = &openapi.PathItem{Get: &openapi.Operation{
		Summary:   "revision " + string(rune('0'+c.rev.Load())),
		Responses: map[string]*openapi.Response{"200": {Description: "ok", Content: map[string]*openapi.MediaType{"application/json": {Schema: openapi.SchemaRef(openapi.ComponentName("Thing/1 ~x"))}}}},
	}}
	doc.Components.Schemas = map[string]*openapi.Schema{openapi.ComponentName("Thing/1 ~x"): {Type: "object"}}
	doc.Tags = append(doc.Tags, openapi.Tag{Name: "things"})
	return nil
}

func TestBuilderMergesCachesAndRebuilds(t *testing.T) {
	t.Parallel()
	b, err := openapi.NewBuilder([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{path: "/things"}
	b.Register(c)

	r1, err := b.Render(context.Background(), openapi.Audience{})
	if err != nil {
		t.Fatal(err)
	}
	kin := openapitest.Validate(t, r1.JSON)
	if kin.Paths.Find("/health") == nil || kin.Paths.Find("/things") == nil {
		t.Fatalf("merged document lacks a path: %s", r1.JSON)
	}
	if !bytes.Contains(r1.JSON, []byte("revision 0")) {
		t.Fatalf("contribution missing: %s", r1.JSON)
	}

	r2, _ := b.Render(context.Background(), openapi.Audience{})
	if r2 != r1 || c.calls.Load() != 1 {
		t.Fatalf("unchanged revision rendered again (%d contributions)", c.calls.Load())
	}

	// Each audience has its own rendering.
	rn, err := b.Render(context.Background(), openapi.Audience{Role: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rn.JSON, []byte("/things")) || c.calls.Load() != 2 {
		t.Fatalf("audience ignored: %s", rn.JSON)
	}
	if again, _ := b.Render(context.Background(), openapi.Audience{}); again != r1 {
		t.Fatal("one audience's rendering replaced another's")
	}

	c.rev.Store(1)
	r3, err := b.Render(context.Background(), openapi.Audience{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(r3.JSON, []byte("revision 1")) || r3.ETag == r1.ETag {
		t.Fatalf("new revision not rendered: %s", r3.JSON)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	t.Parallel()
	var first []byte
	for range 20 {
		b, err := openapi.NewBuilder([]byte(base))
		if err != nil {
			t.Fatal(err)
		}
		b.Register(&counter{path: "/a"})
		r, err := b.Render(context.Background(), openapi.Audience{})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = r.JSON
		} else if !bytes.Equal(first, r.JSON) {
			t.Fatal("the same document rendered to different bytes")
		}
	}
}

func TestContributionsMayNotShareAComponent(t *testing.T) {
	t.Parallel()
	b, err := openapi.NewBuilder([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	b.Register(&counter{path: "/a"})
	b.Register(&counter{path: "/b"})
	if _, err := b.Document(context.Background(), openapi.Audience{}); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Fatalf("two contributions of one component: %v", err)
	}
}

func TestMergeRefusesRedefinitions(t *testing.T) {
	t.Parallel()
	b, err := openapi.NewBuilder([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	b.Register(&counter{path: "/health"})
	if _, err := b.Render(context.Background(), openapi.Audience{}); err == nil || !strings.Contains(err.Error(), "/health") {
		t.Fatalf("a contribution replacing a base path was accepted: %v", err)
	}
}

func TestParseRefusesUnknownFieldsAndOtherVersions(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"unknown field": strings.Replace(base, `"title": "T"`, `"title": "T", "summary": "x"`, 1),
		"3.1":           strings.Replace(base, `"3.0.3"`, `"3.1.0"`, 1),
		"not JSON":      `{"openapi":`,
	} {
		if _, err := openapi.NewBuilder([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRoundTrip checks that the model loses nothing of a document it
// accepts: parsing and rendering give back the same JSON value.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	doc, err := openapi.Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	r, err := openapi.Render(doc)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal([]byte(base), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r.JSON, &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatalf("round trip changed the document:\n%s\n%s", ja, jb)
	}
}

func TestMemo(t *testing.T) {
	t.Parallel()
	var m openapi.Memo
	builds := 0
	build := func() (*openapi.Document, error) {
		builds++
		return openapi.Parse([]byte(base))
	}
	r1, _ := m.Get(1, "public", build)
	r2, _ := m.Get(1, "public", build)
	if r1 != r2 || builds != 1 {
		t.Fatalf("memo rebuilt an unchanged document (%d builds)", builds)
	}
	_, _ = m.Get(1, "other", build)
	_, _ = m.Get(2, "public", build)
	if builds != 3 {
		t.Fatalf("memo served a stale or wrong document (%d builds)", builds)
	}
}

func TestComponentName(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, in := range []string{"orders", "order_items", "public.orders", "a b", "a-20b", "a-b", "a.b", "a-2eb", "Ünïcode", "x/y~z", ""} {
		out := openapi.ComponentName(in)
		for _, c := range out {
			if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", c) {
				t.Errorf("%q -> %q holds %q", in, out, c)
			}
		}
		if prev, dup := seen[out]; dup {
			t.Errorf("%q and %q both map to %q", prev, in, out)
		}
		seen[out] = in
	}
	if got := openapi.ComponentName("order_items"); got != "order_items" {
		t.Errorf("a plain name changed: %q", got)
	}
}
