package realtime_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

func TestRealtimeAdminEndpoints(t *testing.T) {
	s := newRTServer(t)
	s.exec(t, `create table public.notes (id int primary key)`)
	svc := map[string]string{"Authorization": "Bearer " + s.ServiceRoleKey}
	anon := map[string]string{"apikey": s.AnonKey}
	apitest.Run(t, s.Server, []apitest.Scenario{
		{Name: "list needs service_role", Method: http.MethodGet, Path: "/api/v1/realtime/tables", Headers: anon,
			ExpectedStatus: 403, ExpectedContent: []string{`"code":"forbidden"`}},
		{Name: "list", Method: http.MethodGet, Path: "/api/v1/realtime/tables", Headers: svc,
			ExpectedStatus: 200, ExpectedContent: []string{`{"schema":"public","table":"messages","replica_identity":"default"}`}},
		{Name: "enable", Method: http.MethodPost, Path: "/api/v1/realtime/tables", Headers: svc, Body: map[string]string{"table": "notes"},
			ExpectedStatus: 200, ExpectedContent: []string{`"table":"notes"`}},
		{Name: "enable unknown table", Method: http.MethodPost, Path: "/api/v1/realtime/tables", Headers: svc, Body: map[string]string{"table": "public.nope"},
			ExpectedStatus: 404, ExpectedContent: []string{`"code":"42P01"`}},
		{Name: "enable malformed", Method: http.MethodPost, Path: "/api/v1/realtime/tables", Headers: svc, Body: "{",
			ExpectedStatus: 400, ExpectedContent: []string{`"code":"invalid_body"`}},
		{Name: "disable", Method: http.MethodDelete, Path: "/api/v1/realtime/tables/public.notes", Headers: svc,
			ExpectedStatus: 200, NotExpectedContent: []string{`"notes"`}},
		{Name: "broadcast needs service_role", Method: http.MethodPost, Path: "/api/v1/realtime/broadcast", Headers: anon,
			Body: map[string]any{"messages": []map[string]any{{"topic": "t", "event": "e"}}}, ExpectedStatus: 403},
		{Name: "broadcast malformed", Method: http.MethodPost, Path: "/api/v1/realtime/broadcast", Headers: svc,
			Body: map[string]any{"messages": []map[string]any{{"topic": ""}}}, ExpectedStatus: 400},
		{Name: "stats needs service_role", Method: http.MethodGet, Path: "/api/v1/realtime/stats", Headers: anon, ExpectedStatus: 403},
	})

	// Server broadcast and stats, with a client connected.
	p := dial(t, s, s.AnonKey)
	p.push("realtime:news", "phx_join", map[string]any{"config": map[string]any{
		"postgres_changes": []map[string]any{{"event": "*", "schema": "public", "table": "messages"}}}})
	p.next("phx_reply", 10*time.Second)
	apitest.Run(t, s.Server, []apitest.Scenario{
		{Name: "broadcast", Method: http.MethodPost, Path: "/api/v1/realtime/broadcast", Headers: svc,
			Body: map[string]any{"messages": []map[string]any{{"topic": "news", "event": "flash", "payload": map[string]int{"n": 1}}}}, ExpectedStatus: 202},
		{Name: "stats", Method: http.MethodGet, Path: "/api/v1/realtime/stats", Headers: svc, ExpectedStatus: 200,
			ExpectedContent: []string{`"channels":[{"topic":"news","subscribers":1}]`, `"subscriptions":["news"]`, `"stream":"live"`}},
	})
	if f := p.next("broadcast", 5*time.Second); string(f.Payload) == "" {
		t.Fatal("no server broadcast")
	}
}
