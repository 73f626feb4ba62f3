package realtime_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// nativeClient speaks the native protocol: it reads every message into a
// channel.
type nativeClient struct {
	t  *testing.T
	ws *websocket.Conn
	in chan map[string]json.RawMessage
}

func dialNative(t *testing.T, s *rtServer, query string) *nativeClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(s.URL, "http://", "ws://", 1)+"/realtime"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(4 << 20)
	c := &nativeClient{t: t, ws: ws, in: make(chan map[string]json.RawMessage, 100)}
	go func() {
		defer close(c.in)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]json.RawMessage
			if json.Unmarshal(data, &m) == nil {
				c.in <- m
			}
		}
	}()
	t.Cleanup(func() { _ = ws.CloseNow() })
	return c
}

func (c *nativeClient) send(m map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	if err := c.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

// expect returns the next message of type typ, skipping others.
func (c *nativeClient) expect(typ string) map[string]json.RawMessage { return c.expectAny(typ) }

// expectAny returns the next message of one of types, skipping others.
func (c *nativeClient) expectAny(types ...string) map[string]json.RawMessage {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.t.Fatalf("connection closed waiting for %v", types)
			}
			for _, typ := range types {
				if string(m["type"]) == `"`+typ+`"` {
					return m
				}
			}
		case <-deadline:
			c.t.Fatalf("no %v message", types)
		}
	}
}

func TestNativeProtocol(t *testing.T) {
	s := newRTServer(t)
	alice := "11111111-1111-1111-1111-111111111111"

	// Authenticated by its first message.
	c := dialNative(t, s, "")
	c.send(map[string]any{"type": "access_token", "id": "1", "token": s.token(t, alice)})
	if ack := c.expect("ack"); string(ack["id"]) != `"auth"` {
		t.Fatalf("auth ack %v", ack)
	}
	c.send(map[string]any{"type": "subscribe", "id": "2", "channel": "feed", "config": map[string]any{
		"broadcast":        map[string]any{"self": true},
		"postgres_changes": []map[string]any{{"event": "INSERT", "schema": "public", "table": "messages", "filter": "room=in.(1,2)"}},
	}})
	ack := c.expect("ack")
	if string(ack["id"]) != `"2"` || !strings.Contains(string(ack["response"]), `"postgres_changes"`) {
		t.Fatalf("subscribe ack %v", ack)
	}
	s.exec(t, `insert into public.messages (room, owner, body) values (2, $1, 'native')`, alice)
	ev := c.expect("postgres_changes")
	if string(ev["channel"]) != `"feed"` || !strings.Contains(string(ev["payload"]), `"native"`) {
		t.Fatalf("change %v", ev)
	}

	c.send(map[string]any{"type": "broadcast", "id": "3", "channel": "feed", "event": "ping", "payload": map[string]int{"n": 1}})
	if b := c.expect("broadcast"); string(b["event"]) != `"ping"` {
		t.Fatalf("broadcast %v", b)
	}
	c.send(map[string]any{"type": "heartbeat", "id": "4"})
	c.expect("ack")
	c.send(map[string]any{"type": "nonsense", "id": "5"})
	if e := c.expect("error"); !strings.Contains(string(e["message"]), "unknown message type") {
		t.Fatalf("error %v", e)
	}
	c.send(map[string]any{"type": "unsubscribe", "id": "6", "channel": "feed"})
	c.expect("unsubscribed")

	// A Phoenix client and a native client share channels.
	p := dial(t, s, s.AnonKey)
	p.push("realtime:shared", "phx_join", map[string]any{"config": map[string]any{}})
	p.next("phx_reply", 10*time.Second)
	c.send(map[string]any{"type": "subscribe", "id": "7", "channel": "shared"})
	c.expect("ack")
	p.push("realtime:shared", "broadcast", map[string]any{"type": "broadcast", "event": "cross", "payload": map[string]any{}})
	if b := c.expect("broadcast"); string(b["event"]) != `"cross"` {
		t.Fatalf("cross-protocol broadcast %v", b)
	}

	// Without a valid first message the connection is closed.
	bad := dialNative(t, s, "")
	bad.send(map[string]any{"type": "subscribe", "channel": "x"})
	select {
	case _, ok := <-bad.in:
		if ok {
			t.Fatal("unauthenticated connection got a message")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("unauthenticated connection was not closed")
	}
}

// A client that stops reading is disconnected with a reason once its
// queue is full, instead of the server buffering without bound.
func TestSlowClientIsDisconnected(t *testing.T) {
	s := apitest.NewServer(t, func(c *config.Config) { c.Realtime.QueueSize = 16 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(s.URL, "http://", "ws://", 1)+"/realtime?apikey="+s.ServiceRoleKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","id":"1","channel":"firehose"}`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the subscription is registered; from now on nothing is read

	payload := `{"blob":"` + strings.Repeat("z", 64<<10) + `"}`
	body := `{"messages":[` + strings.TrimSuffix(strings.Repeat(`{"topic":"firehose","event":"e","payload":`+payload+`},`, 50), ",") + `]}`
	svc := map[string]string{"Authorization": "Bearer " + s.ServiceRoleKey, "Content-Type": "application/json"}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, _ := s.Do(t, "POST", "/api/v1/realtime/broadcast", svc, body)
		if res.StatusCode != 202 {
			t.Fatalf("broadcast: %d", res.StatusCode)
		}
		_, stats := s.Do(t, "GET", "/api/v1/realtime/stats", svc, nil)
		if strings.Contains(string(stats), `"connections":[]`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slow client still connected: %s", stats)
		}
	}
	// What the client finds when it reads again: its messages, then the
	// close frame with the reason.
	for {
		_, _, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || !strings.Contains(err.Error(), "slow client") {
				t.Fatalf("closed with %v", err)
			}
			return
		}
	}
}
