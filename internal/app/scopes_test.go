package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// TestAPIKeyScopes checks that every subsystem holds fbk_ keys to their
// scopes: REST tables and functions, storage reads and writes, and the
// server-side realtime broadcast.
func TestAPIKeyScopes(t *testing.T) {
	s := apitest.NewServer(t)
	if _, err := s.DB.DB.Admin.Exec(context.Background(), `
		create table public.notes (id int primary key, body text);
		grant select, insert on public.notes to service_role;
		insert into public.notes values (1, 'hello');
		create function public.add(a int, b int) returns int language sql stable as 'select a + b';
		grant execute on function public.add(int, int) to service_role;`); err != nil {
		t.Fatal(err)
	}
	if res, body := s.Do(t, http.MethodPost, "/api/v1/admin/schema/reload", map[string]string{"Authorization": "Bearer " + s.ServiceRoleKey}, nil); res.StatusCode >= 300 {
		t.Fatalf("schema reload: %d %s", res.StatusCode, body)
	}
	svc := map[string]string{"Authorization": "Bearer " + s.ServiceRoleKey}
	key := func(scopes ...string) map[string]string {
		t.Helper()
		res, body := s.Do(t, http.MethodPost, "/api/v1/auth/api-keys", svc,
			map[string]any{"name": "scoped", "scopes": scopes, "role": "service_role"})
		if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
			t.Fatalf("create key: %d %s", res.StatusCode, body)
		}
		var k struct {
			Key string `json:"key"`
		}
		if err := json.Unmarshal(body, &k); err != nil || k.Key == "" {
			t.Fatalf("create key answer %s", body)
		}
		return map[string]string{"apikey": k.Key}
	}
	if res, body := s.Do(t, http.MethodPost, "/storage/v1/bucket", svc, map[string]any{"id": "files", "name": "files"}); res.StatusCode != 200 {
		t.Fatalf("create bucket: %d %s", res.StatusCode, body)
	}
	if res, body := s.Do(t, http.MethodPost, "/storage/v1/object/files/a.txt", map[string]string{"Authorization": "Bearer " + s.ServiceRoleKey, "Content-Type": "text/plain"}, "a"); res.StatusCode != 200 {
		t.Fatalf("upload: %d %s", res.StatusCode, body)
	}

	reader := key("read:tables", "read:storage")
	writer := key("write:tables", "execute:functions", "write:storage", "write:realtime")
	denied := []string{`"code":"insufficient_scope"`}
	apitest.Run(t, s, []apitest.Scenario{
		{Name: "read:tables reads", Method: "GET", Path: "/rest/v1/notes?select=body", Headers: reader, ExpectedStatus: 200, ExpectedContent: []string{`"hello"`}},
		{Name: "read:tables cannot write", Method: "POST", Path: "/rest/v1/notes", Headers: reader, Body: map[string]any{"id": 2, "body": "x"}, ExpectedStatus: 403, ExpectedContent: denied},
		{Name: "no execute:functions", Method: "GET", Path: "/rest/v1/rpc/add?a=1&b=2", Headers: reader, ExpectedStatus: 403, ExpectedContent: denied},
		{Name: "write:tables writes", Method: "POST", Path: "/rest/v1/notes", Headers: writer, Body: map[string]any{"id": 3, "body": "y"}, ExpectedStatus: 201},
		{Name: "write:tables cannot read", Method: "GET", Path: "/api/v1/tables/notes", Headers: writer, ExpectedStatus: 403, ExpectedContent: denied},
		{Name: "execute:functions", Method: "GET", Path: "/rest/v1/rpc/add?a=1&b=2", Headers: writer, ExpectedStatus: 200, ExpectedContent: []string{"3"}},
		{Name: "read:storage downloads", Method: "GET", Path: "/storage/v1/object/files/a.txt", Headers: reader, ExpectedStatus: 200},
		{Name: "read:storage cannot upload", Method: "POST", Path: "/storage/v1/object/files/b.txt", Headers: reader, Body: "b", ExpectedStatus: 403, ExpectedContent: []string{"insufficient_scope"}},
		{Name: "write:storage uploads", Method: "POST", Path: "/storage/v1/object/files/c.txt", Headers: writer, Body: "c", ExpectedStatus: 200},
		{Name: "write:storage cannot download", Method: "GET", Path: "/storage/v1/object/files/a.txt", Headers: writer, ExpectedStatus: 403},
		{Name: "no write:realtime", Method: "POST", Path: "/api/v1/realtime/broadcast", Headers: reader,
			Body: map[string]any{"messages": []map[string]any{{"topic": "t", "event": "e"}}}, ExpectedStatus: 403, ExpectedContent: denied},
		{Name: "write:realtime broadcasts", Method: "POST", Path: "/api/v1/realtime/broadcast", Headers: writer,
			Body: map[string]any{"messages": []map[string]any{{"topic": "t", "event": "e"}}}, ExpectedStatus: 202},
	})
}
