package app_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/openapi/openapitest"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

// hiddenSQL creates objects in a schema that is not exposed: they must
// never appear in any document.
const hiddenSQL = `
create schema hidden_stuff;
create table hidden_stuff.secret_ledger (id int primary key, amount numeric);
create function hidden_stuff.secret_total() returns numeric language sql stable as 'select 1';
`

// documentPaths fetches a document and returns its paths with their
// methods.
func documentPaths(t *testing.T, s *apitest.Server, path string, headers map[string]string) (map[string]map[string]json.RawMessage, []byte, *http.Response) {
	t.Helper()
	res, body := s.Do(t, "GET", path, headers, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return doc.Paths, body, res
}

// waitForPath polls /openapi.json, as the service role, until path is (or,
// with present false, is no longer) documented: the schema cache reloads on
// its own after DDL.
func waitForPath(t *testing.T, s *apitest.Server, path string, present bool) []byte {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		paths, body, _ := documentPaths(t, s, "/openapi.json", bearer(s.ServiceRoleKey))
		if _, ok := paths[path]; ok == present {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: documented=%v after 15s, want %v", path, !present, present)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

func methodsOf(item map[string]json.RawMessage) string {
	var out []string
	for _, m := range []string{"get", "head", "post", "put", "patch", "delete"} {
		if _, ok := item[m]; ok {
			out = append(out, m)
		}
	}
	return strings.Join(out, " ")
}

// TestOpenAPIDocuments runs one server with the shop schema (public and
// inventory exposed) and objects in a schema that is not exposed.
func TestOpenAPIDocuments(t *testing.T) {
	t.Parallel()
	s := apitest.NewServer(t, func(c *config.Config) {
		c.REST.Schemas = []string{"public", "inventory"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Created first: once the shop is served, the cache has seen these.
	if _, err := s.DB.DB.Admin.Exec(ctx, hiddenSQL); err != nil {
		t.Fatal(err)
	}
	shop := fixtures.Load(t, s)
	t.Run("merged", func(t *testing.T) { testMergedDocument(t, s) })
	t.Run("root", func(t *testing.T) { testRESTRootDocument(t, s) })
	t.Run("privileges", func(t *testing.T) { testFollowsPrivileges(t, s, shop) })
	t.Run("ddl", func(t *testing.T) { testFollowsDDL(t, s) })
}

func testMergedDocument(t *testing.T, s *apitest.Server) {
	body := waitForPath(t, s, "/rest/v1/page_views", true)
	openapitest.Validate(t, body)
	paths, _, _ := documentPaths(t, s, "/openapi.json", bearer(s.ServiceRoleKey))

	for path, want := range map[string]string{
		"/rest/v1/orders":                      "get head post put patch delete",
		"/rest/v1/product_catalog":             "get head",
		"/rest/v1/category_product_counts":     "get head",
		"/rest/v1/rpc/add_numbers":             "get head post",
		"/rest/v1/rpc/place_order":             "post",
		"/rest/v1/rpc/echo_json":               "post",
		"/api/v1/tables/orders":                "get head post put patch delete",
		"/api/v1/tables/orders/{id}":           "get put patch delete",
		"/api/v1/tables/inventory.warehouses":  "get head post put patch delete",
		"/api/v1/rpc/inventory.total_quantity": "get head post",
		"/api/v1/rpc/add_numbers":              "get head post",
		"/rest/v1/{table}":                     "get head post put patch delete",
		"/openapi.json":                        "get",
		"/health":                              "get",
	} {
		item, ok := paths[path]
		if !ok {
			t.Errorf("%s is not documented", path)
			continue
		}
		if got := methodsOf(item); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	raw := string(body)
	for _, leak := range []string{"hidden_stuff", "secret_ledger", "secret_total", "refresh_tokens", "signing_keys", "/rest/v1/users", "/rest/v1/warehouses"} {
		if strings.Contains(raw, leak) {
			t.Errorf("the document mentions %q", leak)
		}
	}
	if !strings.Contains(raw, "<pk/>") || !strings.Contains(raw, "<fk table='customers' column='id'/>") {
		t.Error("primary and foreign key notes are missing")
	}
}

func testRESTRootDocument(t *testing.T, s *apitest.Server) {
	paths, body, res := documentPaths(t, s, "/rest/v1/", bearer(s.ServiceRoleKey))
	openapitest.Validate(t, body)
	if ct := res.Header.Get("Content-Type"); ct != "application/openapi+json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, p := range []string{"/", "/orders", "/products", "/rpc/add_numbers"} {
		if _, ok := paths[p]; !ok {
			t.Errorf("root document lacks %s", p)
		}
	}
	if _, ok := paths["/warehouses"]; ok {
		t.Error("the default profile shows the inventory schema")
	}

	paths, body, _ = documentPaths(t, s, "/rest/v1/", map[string]string{"Accept-Profile": "inventory", "Authorization": "Bearer " + s.ServiceRoleKey})
	openapitest.Validate(t, body)
	if _, ok := paths["/warehouses"]; !ok {
		t.Error("Accept-Profile: inventory does not describe inventory")
	}
	if _, ok := paths["/orders"]; ok {
		t.Error("Accept-Profile: inventory describes public")
	}

	etag := res.Header.Get("ETag")
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "unexposed profile", Method: "GET", Path: "/rest/v1/",
			Headers:        map[string]string{"Accept-Profile": "hidden_stuff"},
			ExpectedStatus: 406, ExpectedJSON: map[string]any{"code": "PGRST106", "message": "The schema must be one of the following: public, inventory"}},
		{Name: "Fluxbase's own schema", Method: "GET", Path: "/rest/v1/",
			Headers:        map[string]string{"Accept-Profile": "auth"},
			ExpectedStatus: 406, ExpectedJSON: map[string]any{"code": "PGRST106"}},
		{Name: "unacceptable media type", Method: "GET", Path: "/rest/v1/",
			Headers:        map[string]string{"Accept": "text/csv"},
			ExpectedStatus: 406, ExpectedJSON: map[string]any{"code": "PGRST107"}},
		{Name: "openapi media type", Method: "GET", Path: "/rest/v1/",
			Headers:         map[string]string{"Accept": "application/openapi+json"},
			ExpectedStatus:  200,
			ExpectedHeaders: map[string]string{"Content-Type": "application/openapi+json; charset=utf-8"}},
		{Name: "HEAD", Method: "HEAD", Path: "/rest/v1/",
			ExpectedStatus:  200,
			ExpectedHeaders: map[string]string{"Content-Type": "application/openapi+json; charset=utf-8"},
			After: func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
				if len(body) != 0 {
					t.Errorf("HEAD returned a body of %d bytes", len(body))
				}
			}},
		{Name: "not modified", Method: "GET", Path: "/rest/v1/",
			Headers:        map[string]string{"If-None-Match": etag, "Authorization": "Bearer " + s.ServiceRoleKey},
			ExpectedStatus: 304},
		{Name: "a bad token is refused", Method: "GET", Path: "/rest/v1/",
			Headers:        map[string]string{"Authorization": "Bearer not-a-jwt"},
			ExpectedStatus: 401},
	})
}

func testFollowsDDL(t *testing.T, s *apitest.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, before := documentPaths(t, s, "/openapi.json", bearer(s.ServiceRoleKey))

	if _, err := s.DB.DB.Admin.Exec(ctx, `create table public.gadgets (id bigint generated always as identity primary key, name text not null)`); err != nil {
		t.Fatal(err)
	}
	body := waitForPath(t, s, "/rest/v1/gadgets", true)
	openapitest.Validate(t, body)
	_, _, after := documentPaths(t, s, "/openapi.json", bearer(s.ServiceRoleKey))
	if before.Header.Get("ETag") == after.Header.Get("ETag") {
		t.Error("the ETag did not change with the document")
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required []string `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if req := doc.Components.Schemas["public.gadgets"].Required; len(req) != 1 || req[0] != "name" {
		t.Errorf("gadgets requires %v, want [name]", req)
	}
	root, _, _ := documentPaths(t, s, "/rest/v1/", bearer(s.ServiceRoleKey))
	if _, ok := root["/gadgets"]; !ok {
		t.Error("the root document did not follow the reload")
	}

	// NOTIFY pgrst also reloads (after a change the event trigger sees
	// too, so this checks the document follows whichever came first).
	if _, err := s.DB.DB.Admin.Exec(ctx, `drop table public.gadgets; notify pgrst, 'reload schema'`); err != nil {
		t.Fatal(err)
	}
	waitForPath(t, s, "/rest/v1/gadgets", false)
}

// testFollowsPrivileges checks that each caller's documents list what its
// role may use, and nothing it may not (PostgREST's follow-privileges).
func testFollowsPrivileges(t *testing.T, s *apitest.Server, shop *fixtures.Shop) {
	type expect map[string]string // path -> methods; "" = absent
	check := func(name string, headers map[string]string, want expect) {
		t.Helper()
		paths, body, _ := documentPaths(t, s, "/openapi.json", headers)
		if headers == nil {
			// The most filtered document: no reference may dangle (the
			// result of my_orders names orders, which anon cannot read).
			openapitest.Validate(t, body)
		}
		for path, methods := range want {
			if got := methodsOf(paths[path]); got != methods {
				t.Errorf("%s: %s: %q, want %q", name, path, got, methods)
			}
		}
		root, _, _ := documentPaths(t, s, "/rest/v1/", headers)
		for path, methods := range want {
			if rel, ok := strings.CutPrefix(path, "/rest/v1"); ok {
				if got := methodsOf(root[rel]); got != methods {
					t.Errorf("%s: root %s: %q, want %q", name, rel, got, methods)
				}
			}
		}
	}
	check("anon", nil, expect{
		"/rest/v1/products":          "get head",
		"/rest/v1/page_views":        "get head post",
		"/rest/v1/orders":            "",
		"/rest/v1/audit_log":         "",
		"/rest/v1/customer_profiles": "",
		"/api/v1/tables/orders/{id}": "",
		"/rest/v1/rpc/restock":       "",
		"/rest/v1/rpc/add_numbers":   "get head post",
		"/rest/v1/rpc/my_orders":     "get head post",
	})
	check("authenticated", fixtures.Bearer(shop.Alice), expect{
		"/rest/v1/orders":            "get head post put patch delete",
		"/rest/v1/customers":         "get head patch",
		"/rest/v1/audit_log":         "",
		"/api/v1/tables/orders/{id}": "get put patch delete",
		"/rest/v1/rpc/restock":       "",
	})
	check("service_role", bearer(s.ServiceRoleKey), expect{
		"/rest/v1/audit_log":   "get head post put patch delete",
		"/rest/v1/rpc/restock": "post",
	})

	// A token for a role that does not exist gets no document.
	ids, err := identity.New(context.Background(), s.DB.DB.Admin, s.Config.Auth, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ghost, err := ids.Sign(map[string]any{"role": "ghost", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/openapi.json", "/rest/v1/"} {
		res, body := s.Do(t, "GET", path, bearer(ghost), nil)
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "PGRST301") {
			t.Errorf("GET %s as a role that does not exist: %d %s", path, res.StatusCode, body)
		}
	}
}
