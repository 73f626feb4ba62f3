package test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
)

// instanceKeys runs `fluxbase keys` (with env, the instance's settings)
// against a running instance's data directory and returns its anon and
// service_role keys.
func instanceKeys(t *testing.T, dir string, env ...string) (anon, serviceRole string) {
	t.Helper()
	code, stdout, stderr, _ := runCmd(t, 60*time.Second, filepath.Dir(dir), env, "keys", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("keys: exit %d: %s", code, stderr)
	}
	for _, line := range strings.Split(stdout, "\n") {
		if v, ok := strings.CutPrefix(line, "FLUXBASE_ANON_KEY="); ok {
			anon = v
		}
		if v, ok := strings.CutPrefix(line, "FLUXBASE_SERVICE_ROLE_KEY="); ok {
			serviceRole = v
		}
	}
	if anon == "" || serviceRole == "" {
		t.Fatalf("keys output: %s", stdout)
	}
	return anon, serviceRole
}

// TestRealtimeSurvivesPostgresRestart kills PostgreSQL under subscribed
// clients: they are told the change stream broke, then that it is live
// again, and changes committed after that reach them. Fluxbase keeps
// running throughout.
func TestRealtimeSurvivesPostgresRestart(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	in := start(t, dir, nil)
	in.waitReady(90 * time.Second)
	_, service := instanceKeys(t, dir)

	ctx := context.Background()
	dbURL := embeddedURL(t, dir, "fluxbase")
	exec := func(sql string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			conn, err := pgx.Connect(ctx, dbURL)
			if err == nil {
				_, err = conn.Exec(ctx, sql)
				conn.Close(ctx)
			}
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", sql, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	exec(`create table public.events (id serial primary key, note text); select realtime.enable_realtime('public.events')`)

	wsURL := strings.Replace(in.url, "http://", "ws://", 1) + "/realtime/v1/websocket?vsn=1.0.0&apikey=" + service
	ws, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	frames := make(chan map[string]json.RawMessage, 64)
	go func() {
		defer close(frames)
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var f map[string]json.RawMessage
			if json.Unmarshal(data, &f) == nil {
				frames <- f
			}
		}
	}()
	// wait returns the next frame whose event and payload contain want.
	wait := func(event, want string, within time.Duration) {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case f, ok := <-frames:
				if !ok {
					t.Fatalf("socket closed waiting for %s %s", event, want)
				}
				if string(f["event"]) == `"`+event+`"` && strings.Contains(string(f["payload"]), want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %s containing %q within %s", event, want, within)
			}
		}
	}
	join, _ := json.Marshal(map[string]any{"topic": "realtime:events", "event": "phx_join", "ref": "1", "join_ref": "1",
		"payload": map[string]any{"config": map[string]any{"postgres_changes": []map[string]any{{"event": "*", "schema": "public", "table": "events"}}}}})
	if err := ws.Write(ctx, websocket.MessageText, join); err != nil {
		t.Fatal(err)
	}
	wait("phx_reply", `"ok"`, 30*time.Second)
	exec(`insert into public.events (note) values ('before')`)
	wait("postgres_changes", `"before"`, 10*time.Second)

	pid := postmasterPID(t, filepath.Join(dir, "pg"))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait("system", "change stream broke", 30*time.Second)
	wait("system", "change stream is live", 60*time.Second)
	exec(`insert into public.events (note) values ('after')`)
	wait("postgres_changes", `"after"`, 10*time.Second)
	if !in.running() {
		t.Fatal("fluxbase exited")
	}
	// Heartbeats still answer on the same socket.
	hb, _ := json.Marshal(map[string]any{"topic": "phoenix", "event": "heartbeat", "ref": "9", "payload": map[string]any{}})
	if err := ws.Write(ctx, websocket.MessageText, hb); err != nil {
		t.Fatal(err)
	}
	wait("phx_reply", `"ok"`, 10*time.Second)
	in.stop()
}
