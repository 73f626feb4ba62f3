package rest_test

import (
	"net/http"
	"reflect"
	"sort"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// sameRows requires a JSON array holding want's elements in any order.
func sameRows(want string) check {
	return func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
		t.Helper()
		got, ok1 := decode(t, body).([]any)
		exp, ok2 := decode(t, []byte(want)).([]any)
		if !ok1 || !ok2 {
			t.Errorf("body = %s, want an array like %s", body, want)
			return
		}
		key := func(rows []any) []string {
			out := make([]string, len(rows))
			for i, r := range rows {
				out[i] = string(mustJSON(t, r))
			}
			sort.Strings(out)
			return out
		}
		if !reflect.DeepEqual(key(got), key(exp)) {
			t.Errorf("body = %s\nwant (any order) %s", body, want)
		}
	}
}

// noHdr requires a response header to be absent.
func noHdr(name string) check {
	return func(t testing.TB, _ *apitest.Server, res *http.Response, _ []byte) {
		t.Helper()
		if v, ok := res.Header[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("%s = %q, want none", name, v)
		}
	}
}

// Prefer: timezone sets the transaction's TimeZone when the name is one of
// pg_timezone_names; any other value is an invalid preference.
func TestScenarioPreferTimezone(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	la := h(c.svc, "Prefer", "timezone=America/Los_Angeles")
	o := "/rest/v1/orders?select=placed_at&id=eq.1"
	apitest.Run(t, s.Server, []apitest.Scenario{
		get("timestamps are rendered in the zone", o, la, 200,
			isJSON(`[{"placed_at":"2024-03-01T02:00:00-08:00"}]`), hdr("Preference-Applied", "timezone=America/Los_Angeles")),
		get("the zone does not outlive its request", o, c.svc, 200,
			isJSON(`[{"placed_at":"2024-03-01T10:00:00+00:00"}]`), noHdr("Preference-Applied")),
		get("filter values are read in the zone", "/rest/v1/orders?select=id&placed_at=eq.2024-03-01%2002:00:00", la, 200, ids(1)),
		get("on the native route", "/api/v1/tables/orders?select=placed_at&id=eq.1", h(c.svc, "Prefer", "timezone=Asia/Tokyo"), 200,
			isJSON(`[{"placed_at":"2024-03-01T19:00:00+09:00"}]`), hdr("Preference-Applied", "timezone=Asia/Tokyo")),
		get("an unknown zone is ignored", o, h(c.svc, "Prefer", "timezone=Mars/Olympus_Mons"), 200,
			isJSON(`[{"placed_at":"2024-03-01T10:00:00+00:00"}]`), noHdr("Preference-Applied")),
		get("names are matched exactly, as in pg_timezone_names", o, h(c.svc, "Prefer", "timezone=america/los_angeles"), 200,
			isJSON(`[{"placed_at":"2024-03-01T10:00:00+00:00"}]`)),
		get("a hostile zone is ignored", o, h(c.svc, "Prefer", "timezone=UTC'); select pg_sleep(5); --"), 200,
			isJSON(`[{"placed_at":"2024-03-01T10:00:00+00:00"}]`)),
		get("an unknown zone with handling=strict", o, h(c.svc, "Prefer", "handling=strict, timezone=Nowhere/Town"), 400,
			pgErr("PGRST122"), errField("details", "Invalid preferences: timezone=Nowhere/Town")),
		get("a known zone with handling=strict", o, h(c.svc, "Prefer", "handling=strict, timezone=UTC"), 200,
			hdr("Preference-Applied", "handling=strict, timezone=UTC")),
		post("writes read and render in the zone", "/rest/v1/page_views?select=visited_at",
			h(c.svc, "Prefer", "timezone=Asia/Tokyo, return=representation, tx=rollback"),
			map[string]any{"path": "/tz", "visited_at": "2024-01-01 09:00:00"}, 201,
			isJSON(`[{"visited_at":"2024-01-01T09:00:00+09:00"}]`),
			hdr("Preference-Applied", "return=representation, tx=rollback, timezone=Asia/Tokyo")),
		post("functions run in the zone", "/rest/v1/rpc/whoami", h(c.svc, "Prefer", "timezone=Europe/Madrid"), nil, 200,
			hdr("Preference-Applied", "timezone=Europe/Madrid")),
		get("functions called with GET too", "/api/v1/rpc/my_orders?select=placed_at&id=eq.1", h(c.alice, "Prefer", "timezone=America/Los_Angeles"), 200,
			isJSON(`[{"placed_at":"2024-03-01T02:00:00-08:00"}]`)),
	})
}

// Preference-Applied lists what was honoured in PostgREST's order; the
// first of two preferences of a kind wins; handling=lenient ignores
// invalid preferences and is reported.
func TestScenarioPreferApplied(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	pv := "/rest/v1/page_views"
	apitest.Run(t, s.Server, []apitest.Scenario{
		post("PostgREST's order", pv+"?select=path", h(c.svc, "Prefer", "tx=rollback, handling=strict, count=exact, return=representation, missing=default"),
			map[string]any{"path": "/pa"}, 201,
			hdr("Preference-Applied", "missing=default, return=representation, count=exact, tx=rollback, handling=strict")),
		post("the first of a kind wins", pv, h(c.svc, "Prefer", "return=minimal, return=representation, tx=rollback"),
			map[string]any{"path": "/first"}, 201, empty(), hdr("Preference-Applied", "return=minimal, tx=rollback")),
		get("handling=lenient ignores invalid preferences and is reported", "/rest/v1/tags?select=id&id=eq.1",
			h(c.anon, "Prefer", "handling=lenient, foo, bar=baz, count=sometimes"), 200, ids(1), hdr("Preference-Applied", "handling=lenient")),
		get("count on reads", "/rest/v1/tags?select=id&id=eq.1", h(c.anon, "Prefer", "count=exact, handling=lenient"), 200,
			hdr("Preference-Applied", "count=exact, handling=lenient")),
		get("a malformed max-affected is ignored, even with handling=strict", "/rest/v1/tags?select=id&id=eq.1",
			h(c.anon, "Prefer", "handling=strict, max-affected=many"), 200, ids(1)),
		sc("max-affected is reported with handling=strict", http.MethodPatch, "/rest/v1/tags?id=eq.1",
			h(c.svc, "Prefer", "handling=strict, max-affected=5, tx=rollback"), map[string]any{"name": "renamed"}, 204,
			hdr("Preference-Applied", "tx=rollback, handling=strict, max-affected=5")),
		sc("count on a delete", http.MethodDelete, "/rest/v1/page_views?path=eq./nothing",
			h(c.svc, "Prefer", "count=planned"), nil, 204, hdr("Preference-Applied", "count=planned")),
		post("missing=null is reported", pv, h(c.svc, "Prefer", "missing=null, tx=rollback"),
			map[string]any{"path": "/mn"}, 201, hdr("Preference-Applied", "missing=null, tx=rollback")),
		sc("count=exact on HEAD of a function", http.MethodHead, "/rest/v1/rpc/fib?n=5", h(c.anon, "Prefer", "count=exact"), nil, 200,
			empty(), hdr("Content-Range", "0-4/5"), hdr("Preference-Applied", "count=exact")),
		sc("count=exact on HEAD of a function, native route", http.MethodHead, "/api/v1/rpc/fib?n=5", h(c.anon, "Prefer", "count=exact"), nil, 200,
			empty(), hdr("Content-Range", "0-4/5")),
	})
}
