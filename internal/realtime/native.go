package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
)

// The native protocol at /realtime: one JSON object per WebSocket text
// message, with a "type".
//
// Client to server:
//
//	{"type":"access_token","id":"1","token":"<jwt>"}   authenticate (first message) or refresh
//	{"type":"subscribe","id":"2","channel":"room1","config":{...}}  same config as Phoenix's phx_join
//	{"type":"unsubscribe","id":"3","channel":"room1"}
//	{"type":"broadcast","id":"4","channel":"room1","event":"msg","payload":{...}}
//	{"type":"presence","id":"5","channel":"room1","event":"track","payload":{...}}
//	{"type":"heartbeat","id":"6"}
//
// Server to client: {"type":"ack","id",...} for every request that
// succeeded (a subscribe's ack lists its postgres_changes bindings with
// their ids), {"type":"error","id","message"} for one that did not, and
// the events postgres_changes, broadcast, presence_state, presence_diff,
// system and unsubscribed, each with its "channel".

type nativeIn struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Token   string          `json:"token"`
	Channel string          `json:"channel"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	Config  json.RawMessage `json:"config"`
}

// nativeEncode renders hub messages in the native protocol.
func nativeEncode(m Message) (websocket.MessageType, []byte, error) {
	out := map[string]any{"channel": m.Topic}
	switch m.Event {
	case "phx_reply":
		var r struct {
			Status   string          `json:"status"`
			Response json.RawMessage `json:"response"`
		}
		_ = json.Unmarshal(m.Payload, &r)
		out = map[string]any{"type": "ack", "id": m.Ref}
		if r.Status != "ok" {
			out["type"] = "error"
			var reason struct {
				Reason string `json:"reason"`
			}
			_ = json.Unmarshal(r.Response, &reason)
			out["message"] = reason.Reason
		} else if len(r.Response) > 2 {
			out["response"] = r.Response
		}
	case "phx_close":
		out["type"] = "unsubscribed"
	case "phx_error":
		var reason struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(m.Payload, &reason)
		out = map[string]any{"type": "error", "message": reason.Reason}
	case "broadcast":
		out["type"] = "broadcast"
		if b := m.Broadcast; b != nil {
			out["event"] = b.Event
			if b.Binary {
				out["payload"] = []byte(b.Payload) // base64 in JSON
				out["binary"] = true
			} else {
				out["payload"] = b.Payload
			}
		}
	default:
		// postgres_changes, presence_state, presence_diff and system carry
		// their payload as is.
		out["type"] = m.Event
		out["payload"] = m.Payload
	}
	b, err := json.Marshal(out)
	return websocket.MessageText, b, err
}

// NativeHandler serves the native protocol at /realtime. The token comes
// from the apikey or access_token query parameter, the apikey header, or
// the first message (an access_token message sent within ten seconds).
func (h *Hub) NativeHandler(opts ProtocolOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		token := firstNonEmpty(q.Get("access_token"), q.Get("apikey"), r.Header.Get("apikey"))
		var ident identity.Identity
		if token != "" {
			id, err := opts.verify(r.Context(), token)
			if err != nil {
				httpx.WriteError(w, r, err)
				return
			}
			ident = id
		}
		sock, release, ok := accept(w, r, opts, ident.Subject)
		if !ok {
			return
		}
		if token == "" {
			// The first message must authenticate.
			id, err := nativeFirstAuth(r.Context(), sock.ws, opts)
			if err != nil {
				_ = sock.ws.Close(websocket.StatusPolicyViolation, err.Error())
				release()
				return
			}
			ident = id
		}
		c := h.NewConn(httpx.ClientIP(r), ident)
		if token == "" {
			c.send(Message{Event: "phx_reply", Ref: "auth", Payload: json.RawMessage(`{"status":"ok","response":{}}`)})
		}
		h.serve(&phxSession{hub: h, conn: c, sock: sock, codec: nativeCodec{}, opts: opts}, release)
	})
}

func nativeFirstAuth(ctx context.Context, ws *websocket.Conn, opts ProtocolOptions) (identity.Identity, error) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	typ, data, err := ws.Read(rctx)
	if err != nil {
		return identity.Identity{}, errors.New("authenticate first: send an access_token message")
	}
	var m nativeIn
	if typ != websocket.MessageText || json.Unmarshal(data, &m) != nil || m.Type != "access_token" || m.Token == "" {
		return identity.Identity{}, errors.New("authenticate first: send an access_token message")
	}
	id, err := opts.verify(ctx, m.Token)
	if err != nil {
		msg := "invalid token"
		if he := httpx.AsError(err); he != nil {
			msg = he.Message
		}
		return identity.Identity{}, errors.New(msg)
	}
	return id, nil
}

// nativeCodec translates native messages to the frames phxSession handles,
// so that both protocols share one implementation of every operation.
type nativeCodec struct{}

func (nativeCodec) decode(typ websocket.MessageType, data []byte) (phxFrame, error) {
	if typ != websocket.MessageText {
		return phxFrame{}, errors.New("the native protocol takes JSON text messages")
	}
	var m nativeIn
	if err := json.Unmarshal(data, &m); err != nil {
		return phxFrame{}, errors.New("malformed message: " + err.Error())
	}
	f := phxFrame{Ref: m.ID, JoinRef: m.ID, Topic: m.Channel}
	switch m.Type {
	case "heartbeat":
		f.Topic, f.Event = "phoenix", "heartbeat"
	case "access_token":
		f.Event = "access_token"
		f.Payload, _ = json.Marshal(map[string]string{"access_token": m.Token})
	case "subscribe":
		f.Event = "phx_join"
		f.Payload, _ = json.Marshal(map[string]json.RawMessage{"config": orEmpty(m.Config)})
	case "unsubscribe":
		f.Event = "phx_leave"
	case "broadcast":
		f.Event = "broadcast"
		f.Payload, _ = json.Marshal(map[string]any{"type": "broadcast", "event": m.Event, "payload": orEmpty(m.Payload)})
	case "presence":
		f.Event = "presence"
		f.Payload, _ = json.Marshal(map[string]any{"type": "presence", "event": m.Event, "payload": orEmpty(m.Payload)})
	default:
		return phxFrame{}, errors.New("unknown message type " + m.Type + ": use subscribe, unsubscribe, broadcast, presence, heartbeat or access_token")
	}
	if f.Topic == "" && m.Type != "access_token" {
		return phxFrame{}, errors.New(m.Type + " needs a channel")
	}
	return f, nil
}

func (nativeCodec) form() wireForm { return formNative }

func (nativeCodec) encode(m Message) (websocket.MessageType, []byte, error) { return nativeEncode(m) }

func orEmpty(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage(`{}`)
	}
	return b
}
