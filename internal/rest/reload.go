package rest

import (
	"context"
	"net/http"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// Reloader reloads a schema cache (*schema.Service does).
type Reloader interface {
	Reload(ctx context.Context) error
	Current() *schema.Cache
}

// ReloadHandler serves POST /api/v1/admin/schema/reload: service_role only,
// it reloads this instance's schema cache at once and answers with what
// the new snapshot holds.
func ReloadHandler(s Reloader) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := identity.FromContext(r.Context())
		if !ok || id.Role != identity.RoleServiceRole {
			status := http.StatusForbidden
			if !ok || id.Anonymous() {
				status = http.StatusUnauthorized
			}
			httpx.WriteError(w, r, httpx.NewError(status, "forbidden", "reloading the schema cache needs the service_role key").
				WithHint("send the service_role key as a bearer token"))
			return
		}
		if err := s.Reload(r.Context()); err != nil {
			httpx.WriteError(w, r, httpx.NewError(http.StatusServiceUnavailable, "PGRST002",
				"Could not query the database for the schema cache").WithDetails(err.Error()))
			return
		}
		c := s.Current()
		functions := 0
		for _, f := range c.FunctionsByName {
			functions += len(f)
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{
			"schemas":     c.Schemas,
			"relations":   len(c.Tables),
			"functions":   functions,
			"loaded_at":   c.LoadedAt,
			"duration_ms": c.LoadDuration.Milliseconds(),
		})
	}
}
