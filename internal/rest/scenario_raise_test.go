package rest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// RAISE SQLSTATE 'PGRST' controls the whole error response, as in
// PostgREST 12: MESSAGE is the body, DETAIL the status and headers.
func TestScenarioRaisePGRST(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	_, err := s.DB.DB.Admin.Exec(context.Background(), `
create function public.raise_pgrst(kind text) returns void language plpgsql as $$
begin
  case kind
  when 'full' then
    raise sqlstate 'PGRST' using
      message = '{"code":"123","message":"Payment Required","details":"Quota exceeded","hint":"Upgrade your plan"}',
      detail = '{"status":402,"status_text":"Pay Up","headers":{"X-Powered-By":"Nerd Rage","Cache-Control":"no-store"}}';
  when 'minimal' then
    raise sqlstate 'PGRST' using message = '{"code":"teapot","message":"short and stout"}', detail = '{"status":418,"headers":{}}';
  when 'no detail' then
    raise sqlstate 'PGRST' using message = '{"code":"x","message":"y"}';
  when 'bad message' then
    raise sqlstate 'PGRST' using message = 'not json', detail = '{"status":400,"headers":{}}';
  when 'bad detail' then
    raise sqlstate 'PGRST' using message = '{"code":"x","message":"y"}', detail = '{"status":"400"}';
  when 'bad status' then
    raise sqlstate 'PGRST' using message = '{"code":"x","message":"y"}', detail = '{"status":99,"headers":{}}';
  else
    raise sqlstate 'PGRST' using message = '{"code":"x"}', detail = '{"status":400,"headers":{}}';
  end case;
end $$;
create function public.raise_on_write() returns trigger language plpgsql as $$
begin
  if new.path = '/forbidden' then
    raise sqlstate 'PGRST' using message = '{"code":"no_path","message":"this path is taken"}',
      detail = '{"status":409,"headers":{"Retry-After":"60"}}';
  end if;
  return new;
end $$;
create trigger raise_on_write before insert on public.page_views for each row execute function public.raise_on_write();`)
	if err != nil {
		t.Fatal(err)
	}
	// The schema cache reloads itself after DDL.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, _ := s.Do(t, http.MethodPost, "/rest/v1/rpc/raise_pgrst", c.anon, map[string]string{"kind": "minimal"})
		if res.StatusCode == 418 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var out []apitest.Scenario
	for _, r := range []string{"/rest/v1/rpc/", "/api/v1/rpc/"} {
		call := func(name, kind string, status int, checks ...check) apitest.Scenario {
			return post(r+": "+name, r+"raise_pgrst", c.anon, map[string]string{"kind": kind}, status, checks...)
		}
		out = append(out,
			call("status, headers and body", "full", 402,
				isJSON(`{"code":"123","message":"Payment Required","details":"Quota exceeded","hint":"Upgrade your plan"}`),
				hdr("X-Powered-By", "Nerd Rage"), hdr("Cache-Control", "no-store"), contentType("application/json")),
			call("details and hint are optional", "minimal", 418,
				isJSON(`{"code":"teapot","message":"short and stout","details":null,"hint":null}`)),
			call("a missing DETAIL", "no detail", 500, pgErr("PGRST121"),
				errField("message", `Could not parse JSON in the "RAISE SQLSTATE 'PGRST'" error`),
				errField("details", "DETAIL is missing in the RAISE statement")),
			call("a MESSAGE that is no JSON object", "bad message", 500, pgErr("PGRST121"),
				errField("details", "Invalid JSON value for MESSAGE: 'not json'")),
			call("a DETAIL without status and headers", "bad detail", 500, pgErr("PGRST121"),
				errField("details", `Invalid JSON value for DETAIL: '{"status":"400"}'`)),
			call("a status HTTP cannot carry", "bad status", 500, pgErr("PGRST121")),
			call("a MESSAGE without message", "other", 500, pgErr("PGRST121")),
		)
	}
	out = append(out,
		post("raised by a trigger of a write", "/rest/v1/page_views", c.anon, map[string]string{"path": "/forbidden"}, 409,
			isJSON(`{"code":"no_path","message":"this path is taken","details":null,"hint":null}`), hdr("Retry-After", "60"),
			sqlCount(`select count(*) from page_views where path = '/forbidden'`, 0)),
		post("raised by a trigger, native route", "/api/v1/tables/page_views", c.anon, map[string]string{"path": "/forbidden"}, 409,
			pgErr("no_path")),
	)
	apitest.Run(t, s.Server, out)
}

// response.status and response.headers, set by the SQL a request runs,
// change the status and add headers of a successful response, as in
// PostgREST 12.
func TestScenarioResponseSettings(t *testing.T) {
	t.Parallel()
	s, c := newShop(t)
	_, err := s.DB.DB.Admin.Exec(context.Background(), `
create function public.set_response(status text, headers text) returns text language plpgsql as $$
begin
  perform set_config('response.status', status, true);
  perform set_config('response.headers', headers, true);
  return 'ok';
end $$;
create function public.respond_on_write() returns trigger language plpgsql as $$
begin
  if new.path = '/accepted' then
    perform set_config('response.status', '202', true);
    perform set_config('response.headers', '[{"X-Queued":"yes"}]', true);
  elsif new.path = '/bad-status' then
    perform set_config('response.status', 'soon', true);
  end if;
  return new;
end $$;
create trigger respond_on_write before insert on public.page_views for each row execute function public.respond_on_write();`)
	if err != nil {
		t.Fatal(err)
	}
	waitForFunction(t, s.Server, "/rest/v1/rpc/set_response?status=&headers=", c.anon)
	var out []apitest.Scenario
	for _, r := range []string{"/rest/v1/rpc/", "/api/v1/rpc/"} {
		call := func(name, status, headers string, code int, checks ...check) apitest.Scenario {
			return post(r+": "+name, r+"set_response", c.anon, map[string]string{"status": status, "headers": headers}, code, checks...)
		}
		out = append(out,
			call("status and headers", "201", `[{"X-Custom":"1"},{"Cache-Control":"max-age=60"}]`, 201,
				bodyIs(`"ok"`), hdr("X-Custom", "1"), hdr("Cache-Control", "max-age=60")),
			call("a header replaces Fluxbase's own", "", `[{"Content-Type":"text/plain; charset=utf-8"}]`, 200,
				bodyIs(`"ok"`), contentType("text/plain")),
			call("framing headers stay Fluxbase's", "", `[{"Content-Length":"1"}]`, 200, bodyIs(`"ok"`)),
			call("headers that are no array of one-key objects", "", `{"X-A":"1"}`, 500, pgErr("PGRST111"),
				errField("message", "response.headers guc must be a JSON array composed of objects with a single key and a string value")),
			call("an object with two keys", "", `[{"X-A":"1","X-B":"2"}]`, 500, pgErr("PGRST111")),
			call("a status that is no number", "often", "", 500, pgErr("PGRST112"),
				errField("message", "response.status guc must be a valid status code")),
		)
	}
	out = append(out,
		get("with GET", "/rest/v1/rpc/set_response?status=203&headers=%5B%7B%22X-Get%22%3A%22y%22%7D%5D", c.anon, 203,
			bodyIs(`"ok"`), hdr("X-Get", "y")),
		post("set by a trigger of a write", "/rest/v1/page_views", c.anon, map[string]string{"path": "/accepted"}, 202,
			hdr("X-Queued", "yes"), sqlCount(`select count(*) from page_views where path = '/accepted'`, 1)),
		post("an invalid status set by a write is not committed", "/api/v1/tables/page_views", c.anon, map[string]string{"path": "/bad-status"}, 500,
			pgErr("PGRST112"), sqlCount(`select count(*) from page_views where path = '/bad-status'`, 0)),
		get("nothing set, nothing changed", "/rest/v1/tags?select=id&id=eq.1", c.anon, 200, ids(1)),
	)
	apitest.Run(t, s.Server, out)
}

// waitForFunction waits until the schema cache, which reloads itself after
// DDL, knows the function a GET on path calls.
func waitForFunction(t *testing.T, s *apitest.Server, path string, headers map[string]string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, _ := s.Do(t, http.MethodGet, path, headers, nil)
		if res.StatusCode != http.StatusNotFound {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers 404 after DDL", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
