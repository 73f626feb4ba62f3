package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/auth"
	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/obs"
	"github.com/fluxbase/fluxbase/internal/realtime"
	"github.com/fluxbase/fluxbase/internal/testutil"
)

// TestOpenAPICoversRoutes keeps the OpenAPI document in step with the
// router: every route served must be documented, and nothing else.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	cfg := config.Default()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ids, err := identity.New(context.Background(), db.DB.Admin, cfg.Auth, log)
	if err != nil {
		t.Fatal(err)
	}
	st, err := newStack(cfg, log, obs.NewMetrics())
	if err != nil {
		t.Fatal(err)
	}
	authSvc, err := auth.New(context.Background(), db.DB, ids, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	rt := realtime.New(realtime.Options{Config: cfg.Realtime, DB: db.DB, Identity: ids, Logger: log})
	router := st.router(newHealth(), &services{identity: ids, auth: authSvc, realtime: rt})

	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	err = chi.Walk(router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		served[method+" "+route] = true
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
		if !served[r] {
			t.Errorf("route %s is documented but not served", r)
		}
	}
}
