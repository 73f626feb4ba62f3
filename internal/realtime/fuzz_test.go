package realtime

import (
	"testing"

	"github.com/coder/websocket"
)

// Frames come from anyone who can open a socket: decoding must never
// panic, and whatever decodes must encode again.
func FuzzPhoenixDecode(f *testing.F) {
	f.Add(false, []byte(`["1","1","realtime:room","phx_join",{"config":{}}]`))
	f.Add(false, []byte(`{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}`))
	f.Add(true, []byte{3, 1, 1, 4, 1, 0, 1, '1', '2', 'r', 'o', 'o', 'm', 'e', '{', '}'})
	f.Add(true, []byte{3, 255, 255, 255, 255, 255, 0})
	f.Fuzz(func(t *testing.T, binary bool, data []byte) {
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		for _, codec := range []phxCodec{phxV1{}, phxV2{}, nativeCodec{}} {
			fr, err := codec.decode(typ, data)
			if err != nil {
				continue
			}
			m := Message{Topic: fr.Topic, Event: fr.Event, Ref: fr.Ref, JoinRef: fr.JoinRef, Payload: fr.Payload, Broadcast: fr.Broadcast}
			if _, _, err := codec.encode(m); err != nil {
				t.Fatalf("%T: decoded %q but cannot encode it: %v", codec, data, err)
			}
		}
	})
}

// Filters become SQL: whatever parses must render with its values as
// parameters only.
func FuzzRowFilter(f *testing.F) {
	for _, s := range []string{"id=eq.1", "name=not.in.(a,\"b,c\")", "x=is.null", "name=ilike.*a*", "id=gt.", "=eq.1", "id=in.(", `id=in.("a\"b")`} {
		f.Add(s)
	}
	cols := map[string]string{"id": "integer", "name": "text", "x": "boolean"}
	f.Fuzz(func(t *testing.T, s string) {
		rf, err := parseRowFilter(s, cols)
		if err != nil {
			return
		}
		var args []any
		sql := rf.sql(&args)
		// The SQL text must not depend on the values at all.
		other := *rf
		other.values = make([]string, len(rf.values))
		for i := range other.values {
			other.values[i] = "v"
		}
		if rf.op == "is" {
			other.values = rf.values // is. takes keywords, checked when parsed
		}
		var otherArgs []any
		if got := other.sql(&otherArgs); got != sql {
			t.Fatalf("values reached the SQL text: %s vs %s", sql, got)
		}
	})
}
