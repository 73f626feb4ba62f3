package realtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// userBroadcastPush encodes a vsn 2.0.0 binary broadcast as realtime-js
// does: kind 3, the lengths of join ref, ref, topic, event and metadata,
// the payload encoding, the strings, then the payload.
func userBroadcastPush(joinRef, ref, topic, event string, encoding byte, payload []byte) []byte {
	b := []byte{3, byte(len(joinRef)), byte(len(ref)), byte(len(topic)), byte(len(event)), 0, encoding}
	b = append(b, joinRef...)
	b = append(b, ref...)
	b = append(b, topic...)
	b = append(b, event...)
	return append(b, payload...)
}

func TestPhoenixV2ArraysAndBinaryBroadcast(t *testing.T) {
	s := newRTServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(s.URL, "http://", "ws://", 1)+"/realtime/v1/websocket?vsn=2.0.0&apikey="+s.AnonKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	write := func(typ websocket.MessageType, b []byte) {
		t.Helper()
		if err := ws.Write(ctx, typ, b); err != nil {
			t.Fatal(err)
		}
	}
	join, _ := json.Marshal([]any{"1", "1", "realtime:bin", "phx_join", map[string]any{"config": map[string]any{"broadcast": map[string]any{"self": true}}}})
	write(websocket.MessageText, join)
	_, data, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var reply []json.RawMessage
	if err := json.Unmarshal(data, &reply); err != nil || len(reply) != 5 || string(reply[3]) != `"phx_reply"` || !strings.Contains(string(reply[4]), `"ok"`) {
		t.Fatalf("join reply %s", data)
	}

	// JSON payload in a binary push; then raw bytes.
	write(websocket.MessageBinary, userBroadcastPush("1", "2", "realtime:bin", "evt", 1, []byte(`{"a":1}`)))
	write(websocket.MessageBinary, userBroadcastPush("1", "3", "realtime:bin", "raw", 0, []byte{0, 1, 2, 255}))
	var got [][]byte
	for len(got) < 2 {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ == websocket.MessageBinary {
			got = append(got, data)
		}
	}
	// userBroadcast: kind 4, topic, event and metadata lengths, encoding.
	want := func(b []byte, event string, enc byte, payload []byte) {
		t.Helper()
		topic := "realtime:bin"
		if b[0] != 4 || int(b[1]) != len(topic) || int(b[2]) != len(event) || b[3] != 0 || b[4] != enc {
			t.Fatalf("header % x", b[:5])
		}
		rest := b[5:]
		if string(rest[:len(topic)]) != topic || string(rest[len(topic):len(topic)+len(event)]) != event ||
			!bytes.Equal(rest[len(topic)+len(event):], payload) {
			t.Fatalf("frame %q", b)
		}
	}
	want(got[0], "evt", 1, []byte(`{"a":1}`))
	want(got[1], "raw", 0, []byte{0, 1, 2, 255})

	// A malformed binary frame gets an error, not a dropped socket.
	write(websocket.MessageBinary, []byte{3, 200, 0})
	_, data, err = ws.Read(ctx)
	if err != nil || !strings.Contains(string(data), "phx_error") {
		t.Fatalf("after a malformed frame: %s %v", data, err)
	}
}
