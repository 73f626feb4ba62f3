package rest_test

import (
	"testing"

	"github.com/fluxbase/fluxbase/internal/config"
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
