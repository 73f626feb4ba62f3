package realtime_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// A silent client is closed once the heartbeat timeout passes; one that
// sends heartbeats stays connected well past it.
func TestPhoenixHeartbeatTimeout(t *testing.T) {
	s := apitest.NewServer(t, func(c *config.Config) { c.Realtime.HeartbeatTimeout = 400 * time.Millisecond })
	url := strings.Replace(s.URL, "http://", "ws://", 1) + "/realtime/v1/websocket?vsn=1.0.0&apikey=" + s.AnonKey
	open := func() *websocket.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ws.CloseNow() })
		return ws
	}
	silent, alive := open(), open()

	heartbeat := []byte(`{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}`)
	stop := time.Now().Add(1500 * time.Millisecond)
	replies := 0
	for time.Now().Before(stop) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := alive.Write(ctx, websocket.MessageText, heartbeat); err != nil {
			cancel()
			t.Fatalf("a client sending heartbeats was disconnected: %v", err)
		}
		if _, data, err := alive.Read(ctx); err != nil || !strings.Contains(string(data), `"phx_reply"`) {
			cancel()
			t.Fatalf("heartbeat reply %s, %v", data, err)
		}
		cancel()
		replies++
		time.Sleep(100 * time.Millisecond)
	}
	if replies < 10 {
		t.Fatalf("only %d heartbeats answered", replies)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := silent.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("a silent client was not disconnected: %v", err)
	}
}
