package rest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/pg"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// TestScenarioPreRequest: with rest.pre_request, every request calls the
// function as its role, with its settings in force, before its statement,
// on reads (whose fast path it leaves), writes and RPC alike; an error it
// raises ends the request with that error, and nothing the request would
// have written is kept.
func TestScenarioPreRequest(t *testing.T) {
	t.Parallel()
	s, c := newShop(t, func(cfg *config.Config) { cfg.REST.PreRequest = "public.check_request" })
	a := c.anon
	blocked := h(a, "X-Blocked", "yes")
	pv := "/rest/v1/page_views"
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("a read calls it as anon", "/rest/v1/products?id=eq.1&select=id", a, 200,
			isJSON(`[{"id":1}]`), hdr("X-Checked-As", "anon")),
		get("a read calls it as the user", "/rest/v1/orders?select=id&limit=1", c.alice, 200,
			hdr("X-Checked-As", "authenticated")),
		get("RPC calls it", "/rest/v1/rpc/add_numbers?a=1&b=2", a, 200, bodyIs("3"), hdr("X-Checked-As", "anon")),
		post("a write calls it", pv, a, map[string]any{"path": "/pre"}, 201,
			hdr("X-Checked-As", "anon"), sqlCount(`select count(*) from page_views where path = '/pre'`, 1)),
		get("its error refuses a read", "/rest/v1/products?id=eq.1", blocked, 403,
			pgErr("PT403"), errField("message", "blocked by the pre-request function"), errField("hint", "Leave out X-Blocked.")),
		post("its error refuses a write, which is not kept", pv, blocked, map[string]any{"path": "/pre-blocked"}, 403,
			pgErr("PT403"), sqlCount(`select count(*) from page_views where path = '/pre-blocked'`, 0)),
		get("its error refuses RPC", "/rest/v1/rpc/add_numbers?a=1&b=2", blocked, 403, pgErr("PT403")),
	})
}

// TestScenarioPreRequestInAnotherSchema: a pre-request function in a
// schema only the request's role may use (not the authenticator, which
// prepares statements before the role switch) still runs, inside the
// transaction.
func TestScenarioPreRequestInAnotherSchema(t *testing.T) {
	t.Parallel()
	s, c := newShop(t, func(cfg *config.Config) { cfg.REST.PreRequest = "inventory.stamp_request" })
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("a read", "/rest/v1/products?id=eq.1&select=id", c.anon, 200, isJSON(`[{"id":1}]`), hdr("X-Stamped", "inventory")),
		post("a write", "/rest/v1/page_views", c.anon, map[string]any{"path": "/stamped"}, 201, hdr("X-Stamped", "inventory")),
	})
}

// TestPreRequestFromRoleSetting: the pre-request function can also come
// from the database, as Supabase projects configure it (ALTER ROLE
// authenticator SET pgrst.db_pre_request, then NOTIFY pgrst, 'reload
// config'), and resetting the setting removes it.
func TestPreRequestFromRoleSetting(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	ctx := context.Background()
	admin := s.Server.DB.DB.Admin
	var dbName string
	if err := admin.QueryRow(ctx, "select current_database()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	alter := "alter role " + pgx.Identifier{pg.DefaultAuthenticatorRole}.Sanitize() + " in database " + pgx.Identifier{dbName}.Sanitize()
	checkedAs := func() string {
		res, _ := s.Server.Do(t, http.MethodGet, "/rest/v1/products?id=eq.1&select=id", c.anon, nil)
		return res.Header.Get("X-Checked-As")
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for got := checkedAs(); got != want; got = checkedAs() {
			if time.Now().After(deadline) {
				t.Fatalf("X-Checked-As = %q, want %q", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("")
	if _, err := admin.Exec(ctx, alter+" set pgrst.db_pre_request = 'check_request'"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "notify pgrst, 'reload config'"); err != nil {
		t.Fatal(err)
	}
	waitFor("anon")
	blocked := func() {
		t.Helper()
		res, body := s.Server.Do(t, http.MethodGet, "/rest/v1/products?id=eq.1", h(c.anon, "X-Blocked", "yes"), nil)
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("blocked request: %d %s", res.StatusCode, body)
		}
	}
	blocked()
	// A value that is no function name keeps the check in force.
	if _, err := admin.Exec(ctx, alter+" set pgrst.db_pre_request = 'check_request(); drop table products'"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "notify pgrst, 'reload config'"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	blocked()
	if _, err := admin.Exec(ctx, alter+" reset pgrst.db_pre_request"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "notify pgrst, 'reload config'"); err != nil {
		t.Fatal(err)
	}
	waitFor("")
}
