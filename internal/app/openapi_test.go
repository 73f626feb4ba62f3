package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/obs"
	"github.com/fluxbase/fluxbase/internal/openapi"
	"github.com/fluxbase/fluxbase/internal/openapi/openapitest"
	"github.com/fluxbase/fluxbase/internal/testutil"
)

// TestOpenAPICoversRoutes keeps the OpenAPI document in step with the
// router: every route served must be documented, and nothing else. The
// database has no tables of its own, so the document holds the fixed
// routes and the REST templates only.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	cfg := config.Default()
	cfg.Database.URL = db.AdminDSN
	cfg.Database.MaxConns = 4
	cfg.DataDir = t.TempDir()
	cfg.Migrations.ApplyOnStart = false
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	metrics := obs.NewMetrics()
	var closers []func(context.Context) error
	t.Cleanup(func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i](context.Background())
		}
	})
	svc, err := startServices(ctx, cfg, log, metrics, newHealth(), &closers)
	if err != nil {
		t.Fatal(err)
	}
	st, err := newStack(cfg, log, metrics)
	if err != nil {
		t.Fatal(err)
	}
	router := st.router(newHealth(), svc)

	rendered, err := mustDocs(docServices{schema: svc.schema}).builder.Render(ctx, openapi.Audience{})
	if err != nil {
		t.Fatal(err)
	}
	doc := openapitest.Validate(t, rendered.JSON)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	err = chi.Walk(router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		served[method+" "+strings.ReplaceAll(route, "/*/", "/")] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("route %s is served but not in the OpenAPI document", r)
		}
	}
	for r := range documented {
		// GET routes answer HEAD too (httpx's GetHead middleware).
		if !served[r] && !(strings.HasPrefix(r, "HEAD ") && served["GET "+strings.TrimPrefix(r, "HEAD ")]) {
			t.Errorf("route %s is documented but not served", r)
		}
	}
}

// TestBaseDocument checks the embedded document on its own: valid OpenAPI
// 3.0 and accepted by the model without loss.
func TestBaseDocument(t *testing.T) {
	t.Parallel()
	openapitest.Validate(t, openAPI)
	if _, err := newDocs(docServices{}); err != nil {
		t.Fatal(err)
	}
}

func TestAcceptsOpenAPI(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		accept []string
		want   bool
	}{
		{nil, true},
		{[]string{"*/*"}, true},
		{[]string{"application/openapi+json"}, true},
		{[]string{"application/json; charset=utf-8"}, true},
		{[]string{"text/html, application/xhtml+xml, */*;q=0.8"}, true},
		{[]string{"text/csv"}, false},
		{[]string{"application/openapi+json;q=0"}, false},
		{[]string{"garbage;;;"}, false},
		{[]string{"text/plain", "application/*"}, true},
	} {
		if got := acceptsOpenAPI(c.accept); got != c.want {
			t.Errorf("Accept %q: %v, want %v", c.accept, got, c.want)
		}
	}
}

func TestETagMatches(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		header string
		want   bool
	}{
		{`"abc"`, true}, {`W/"abc"`, true}, {`"x", "abc"`, true}, {`*`, true},
		{``, false}, {`"abcd"`, false}, {`abc`, false},
	} {
		if got := etagMatches(c.header, `"abc"`); got != c.want {
			t.Errorf("If-None-Match %q: %v, want %v", c.header, got, c.want)
		}
	}
}
