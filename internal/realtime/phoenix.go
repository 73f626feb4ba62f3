package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
)

// The Phoenix channels protocol, as Supabase Realtime speaks it, so that
// @supabase/realtime-js works unchanged. vsn 1.0.0 frames are JSON objects;
// vsn 2.0.0 frames are JSON arrays [join_ref, ref, topic, event, payload],
// plus binary frames for user broadcasts.

// phxFrame is one decoded client frame.
type phxFrame struct {
	JoinRef string
	Ref     string
	Topic   string
	Event   string
	Payload json.RawMessage
	// Broadcast is set for a binary user broadcast push.
	Broadcast *BroadcastMessage
}

type phxCodec interface {
	decode(typ websocket.MessageType, data []byte) (phxFrame, error)
	encode(m Message) (websocket.MessageType, []byte, error)
	form() wireForm
}

// v1: {"topic","event","payload","ref","join_ref"}.
type phxV1 struct{}

func (phxV1) decode(typ websocket.MessageType, data []byte) (phxFrame, error) {
	if typ != websocket.MessageText {
		return phxFrame{}, errors.New("vsn 1.0.0 takes text frames only")
	}
	var f struct {
		Topic   string          `json:"topic"`
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
		Ref     *string         `json:"ref"`
		JoinRef *string         `json:"join_ref"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return phxFrame{}, fmt.Errorf("malformed frame: %v", err)
	}
	return phxFrame{Topic: f.Topic, Event: f.Event, Payload: f.Payload, Ref: deref(f.Ref), JoinRef: deref(f.JoinRef)}, nil
}

// hubTopic is a Phoenix topic as the hub names channels: without the
// "realtime:" prefix, so that native and Phoenix clients share channels.
func hubTopic(t string) string { return strings.TrimPrefix(t, "realtime:") }

// phxTopic is the inverse of hubTopic for messages from the hub (replies
// already carry the client's own topic).
func phxTopic(t string) string {
	if t == "phoenix" || strings.HasPrefix(t, "realtime:") {
		return t
	}
	return "realtime:" + t
}

func (phxV1) form() wireForm { return formPhoenixV1 }

func (phxV1) encode(m Message) (websocket.MessageType, []byte, error) {
	payload := m.Payload
	if m.Broadcast != nil {
		payload = broadcastPayload(m.Broadcast)
	}
	// Built by hand: the payload is already JSON, and json.Marshal would
	// scan it again for every subscriber of a change.
	b := make([]byte, 0, len(payload)+len(m.Topic)+len(m.Event)+64)
	b = append(b, `{"topic":`...)
	b = appendJSONString(b, phxTopic(m.Topic))
	b = append(b, `,"event":`...)
	b = appendJSONString(b, m.Event)
	b = append(b, `,"payload":`...)
	b = appendRaw(b, payload)
	b = append(b, `,"ref":`...)
	b = appendNullable(b, m.Ref)
	b = append(b, `,"join_ref":`...)
	b = appendNullable(b, m.JoinRef)
	return websocket.MessageText, append(b, '}'), nil
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

func appendRaw(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// broadcastPayload is a broadcast as a JSON payload: binary payloads are
// sent base64-encoded (JSON has no bytes).
func broadcastPayload(b *BroadcastMessage) json.RawMessage {
	inner := b.Payload
	if b.Binary {
		inner, _ = json.Marshal([]byte(b.Payload))
	}
	if len(inner) == 0 {
		inner = json.RawMessage(`{}`)
	}
	out, _ := json.Marshal(map[string]any{"type": "broadcast", "event": b.Event, "payload": inner})
	return out
}

// v2: arrays, and binary user broadcasts.
type phxV2 struct{}

const (
	kindUserBroadcastPush = 3
	kindUserBroadcast     = 4
	encodingBinary        = 0
	encodingJSON          = 1
)

func (phxV2) decode(typ websocket.MessageType, data []byte) (phxFrame, error) {
	if typ == websocket.MessageBinary {
		return decodeBinaryPush(data)
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(data, &arr); err != nil || len(arr) != 5 {
		return phxFrame{}, errors.New("malformed frame: expected [join_ref, ref, topic, event, payload]")
	}
	var f phxFrame
	var joinRef, ref *string
	if json.Unmarshal(arr[0], &joinRef) != nil || json.Unmarshal(arr[1], &ref) != nil ||
		json.Unmarshal(arr[2], &f.Topic) != nil || json.Unmarshal(arr[3], &f.Event) != nil {
		return phxFrame{}, errors.New("malformed frame: join_ref, ref, topic and event must be strings")
	}
	f.JoinRef, f.Ref, f.Payload = deref(joinRef), deref(ref), arr[4]
	return f, nil
}

// decodeBinaryPush reads a userBroadcastPush: kind, five lengths (join
// ref, ref, topic, event, metadata), the payload encoding, the strings and
// the payload.
func decodeBinaryPush(b []byte) (phxFrame, error) {
	if len(b) < 7 || b[0] != kindUserBroadcastPush {
		return phxFrame{}, errors.New("unknown binary frame")
	}
	lens := b[1:6]
	enc := b[6]
	rest := b[7:]
	parts := make([]string, 5)
	for i, n := range lens {
		if int(n) > len(rest) {
			return phxFrame{}, errors.New("truncated binary frame")
		}
		parts[i], rest = string(rest[:n]), rest[n:]
	}
	msg := &BroadcastMessage{Event: parts[3], Payload: bytes.Clone(rest)}
	switch enc {
	case encodingJSON:
		if !json.Valid(rest) {
			return phxFrame{}, errors.New("binary frame: payload is not valid JSON")
		}
	case encodingBinary:
		msg.Binary = true
	default:
		return phxFrame{}, errors.New("binary frame: unknown payload encoding")
	}
	return phxFrame{JoinRef: parts[0], Ref: parts[1], Topic: parts[2], Event: "broadcast", Broadcast: msg}, nil
}

func (phxV2) form() wireForm { return formPhoenixV2 }

func (phxV2) encode(m Message) (websocket.MessageType, []byte, error) {
	if m.Broadcast != nil {
		return websocket.MessageBinary, encodeBinaryBroadcast(phxTopic(m.Topic), m.Broadcast), nil
	}
	b := make([]byte, 0, len(m.Payload)+len(m.Topic)+len(m.Event)+32)
	b = append(b, '[')
	b = appendNullable(b, m.JoinRef)
	b = append(b, ',')
	b = appendNullable(b, m.Ref)
	b = append(b, ',')
	b = appendJSONString(b, phxTopic(m.Topic))
	b = append(b, ',')
	b = appendJSONString(b, m.Event)
	b = append(b, ',')
	b = appendRaw(b, m.Payload)
	return websocket.MessageText, append(b, ']'), nil
}

// encodeBinaryBroadcast writes a userBroadcast: kind, topic, event and
// metadata lengths, the payload encoding, the strings and the payload.
func encodeBinaryBroadcast(topic string, b *BroadcastMessage) []byte {
	enc := byte(encodingJSON)
	payload := []byte(b.Payload)
	if b.Binary {
		enc = encodingBinary
	} else if len(payload) == 0 {
		payload = []byte(`{}`)
	}
	// Topic and event lengths are one byte each; longer ones are refused
	// when they come in.
	buf := make([]byte, 0, 5+len(topic)+len(b.Event)+len(payload))
	buf = append(buf, kindUserBroadcast, byte(len(topic)), byte(len(b.Event)), 0, enc)
	buf = append(buf, topic...)
	buf = append(buf, b.Event...)
	return append(buf, payload...)
}

// ProtocolOptions configure the WebSocket endpoints.
type ProtocolOptions struct {
	Identity *identity.Service
	// MaxMessageBytes bounds one incoming frame.
	MaxMessageBytes int64
	// HeartbeatTimeout closes a connection that sent nothing for this long.
	HeartbeatTimeout time.Duration
	// MessagesPerSecond bounds what one connection may send.
	MessagesPerSecond int
	// Limits on connections.
	Limits *ConnLimits
	// OriginPatterns are accepted cross-origin WebSocket origins.
	OriginPatterns []string
	// CheckSession, when set, refuses tokens whose auth session was
	// signed out or revoked, although they have not expired yet.
	CheckSession func(context.Context, identity.Identity) error
}

// verify checks a token's signature and claims and, for a user's token,
// that its session is still alive.
func (o ProtocolOptions) verify(ctx context.Context, token string) (identity.Identity, error) {
	id, err := o.Identity.Verify(ctx, token)
	if err == nil && o.CheckSession != nil {
		err = o.CheckSession(ctx, id)
	}
	return id, err
}

// PhoenixHandler serves /realtime/v1/websocket.
func (h *Hub) PhoenixHandler(opts ProtocolOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var codec phxCodec = phxV1{}
		switch vsn := r.URL.Query().Get("vsn"); vsn {
		case "", "1.0.0":
		case "2.0.0":
			codec = phxV2{}
		default:
			httpx.WriteError(w, r, httpx.NewError(http.StatusBadRequest, "unsupported_vsn",
				"unsupported protocol version "+vsn).WithHint("use vsn=1.0.0 or vsn=2.0.0"))
			return
		}
		// The API key authenticates the socket; channels may carry a
		// user's token in their join.
		ident, err := opts.verify(r.Context(), firstNonEmpty(r.URL.Query().Get("apikey"), r.Header.Get("apikey")))
		if err != nil {
			httpx.WriteError(w, r, err)
			return
		}
		sock, release, ok := accept(w, r, opts, ident.Subject)
		if !ok {
			return
		}
		c := h.NewConn(httpx.ClientIP(r), ident)
		h.serve(&phxSession{hub: h, conn: c, sock: sock, codec: codec, opts: opts}, release)
	})
}

// accept checks the connection limits and upgrades to a WebSocket. The
// caller owns release once ok.
func accept(w http.ResponseWriter, r *http.Request, opts ProtocolOptions, user string) (*socket, func(), bool) {
	release, err := opts.Limits.acquire(httpx.ClientIP(r), user)
	if err != nil {
		httpx.WriteError(w, r, err)
		return nil, nil, false
	}
	// The server's read and write timeouts are for plain requests; a
	// WebSocket lives as long as its heartbeats say.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	sb := &smallBuffers{ResponseWriter: w}
	ws, err := websocket.Accept(sb, r, &websocket.AcceptOptions{OriginPatterns: opts.OriginPatterns, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		release()
		return nil, nil, false
	}
	ws.SetReadLimit(opts.MaxMessageBytes)
	return newSocket(ws, sb.conn, sb.br, sb.out), release, true
}

// serve runs a session on its own goroutine and lets the HTTP handler
// return: the handler's goroutine carries the whole middleware stack and
// net/http's per-request state, which an upgraded connection no longer
// needs, and a fresh goroutine starts with a small stack. Hijacked
// connections are closed at shutdown by Hub.CloseAll.
func (h *Hub) serve(s *phxSession, release func()) {
	s.conn.idleTimeout = s.opts.HeartbeatTimeout
	s.conn.heard()
	h.Register(s.conn)
	go func() {
		defer release()
		// The connection leaves the hub when it closes (Conn.Close), which
		// run does last.
		s.run(context.Background())
	}()
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

type phxSession struct {
	hub   *Hub
	conn  *Conn
	sock  *socket
	codec phxCodec
	opts  ProtocolOptions
}

func (s *phxSession) run(ctx context.Context) {
	s.conn.attach(&connWriter{hub: s.hub, sock: s.sock, encode: s.codec.encode, form: s.codec.form()})
	s.readLoop(ctx)
	s.conn.Close("connection closed")
}

// readLoop reads frames until the client goes away, stays silent past the
// heartbeat timeout (the hub's sweeper closes the socket then) or breaks
// the rules.
//
// This goroutine lives as long as the connection, and a goroutine's stack
// shrinks only by half per collection. So while idle it only waits for
// the socket to become readable, which needs a minimal stack; each frame
// is read, decoded and handled on a short-lived goroutine, waited for so
// that frames keep their order. Reading (the WebSocket library), JSON and
// a join's database queries would otherwise leave every idle connection
// with a stack several times that size. A client sends a frame every few
// seconds at most, so the extra goroutine costs nothing noticeable.
func (s *phxSession) readLoop(ctx context.Context) {
	limiter := newRateLimiter(s.opts.MessagesPerSecond)
	for {
		if err := s.sock.waitReadable(); err != nil {
			return
		}
		more := false
		done := make(chan struct{})
		go func() {
			defer close(done)
			more = s.readOne(ctx, limiter)
		}()
		<-done
		if !more {
			return
		}
		select {
		case <-s.conn.Done():
			return
		default:
		}
	}
}

// readOne reads and handles one frame; false ends the connection.
func (s *phxSession) readOne(ctx context.Context, limiter *rateLimiter) bool {
	// A read without a deadline costs no timer: the heartbeat timeout is
	// the sweeper's.
	typ, data, err := s.sock.ws.Read(ctx)
	if err != nil {
		if websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
			s.conn.Close("message too big")
		}
		return false
	}
	s.conn.heard()
	s.conn.in.Add(1)
	s.hub.metrics.in()
	if !limiter.allow() {
		s.conn.Close("rate limit: more than the allowed messages per second")
		return false
	}
	f, err := s.codec.decode(typ, data)
	if err != nil {
		s.conn.send(Message{Topic: "phoenix", Event: "phx_error", Payload: reason(err.Error())})
		return true
	}
	s.handle(ctx, f)
	return true
}

func reason(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"reason": msg})
	return b
}

func reply(f phxFrame, status string, response any) Message {
	b, _ := json.Marshal(map[string]any{"status": status, "response": response})
	return Message{Topic: f.Topic, Event: "phx_reply", Ref: f.Ref, JoinRef: f.JoinRef, Payload: b}
}

// joinPayload is phx_join's payload as realtime-js sends it.
type joinPayload struct {
	Config struct {
		Broadcast struct {
			Self bool `json:"self"`
			Ack  bool `json:"ack"`
		} `json:"broadcast"`
		Presence struct {
			Key     string `json:"key"`
			Enabled *bool  `json:"enabled"`
		} `json:"presence"`
		PostgresChanges []ChangeRequest `json:"postgres_changes"`
		Private         bool            `json:"private"`
	} `json:"config"`
	AccessToken string `json:"access_token"`
}

func (s *phxSession) handle(ctx context.Context, f phxFrame) {
	switch {
	case f.Topic == "phoenix" && f.Event == "heartbeat":
		s.conn.send(reply(f, "ok", map[string]any{}))
	case f.Event == "phx_join":
		s.join(ctx, f)
	case f.Event == "phx_leave":
		s.hub.Leave(s.conn, hubTopic(f.Topic))
		s.conn.send(reply(f, "ok", map[string]any{}))
		s.conn.send(Message{Topic: f.Topic, Event: "phx_close", Ref: f.Ref, JoinRef: f.JoinRef, Payload: json.RawMessage(`{}`)})
	case f.Event == "access_token":
		var p struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(f.Payload, &p)
		if s.accessToken(ctx, f, p.AccessToken) {
			s.conn.send(reply(f, "ok", map[string]any{}))
		}
	case f.Event == "broadcast":
		s.broadcast(f)
	case f.Event == "presence":
		s.presence(f)
	default:
		if j := s.conn.join(hubTopic(f.Topic)); j == nil {
			s.conn.send(reply(f, "error", map[string]string{"reason": "unmatched topic"}))
		} else {
			s.conn.send(reply(f, "error", map[string]string{"reason": "unknown event " + f.Event}))
		}
	}
}

func (s *phxSession) join(ctx context.Context, f phxFrame) {
	var p joinPayload
	if len(f.Payload) > 0 {
		if err := json.Unmarshal(f.Payload, &p); err != nil {
			s.conn.send(reply(f, "error", map[string]string{"reason": "malformed join payload: " + err.Error()}))
			return
		}
	}
	if p.AccessToken != "" {
		if !s.accessToken(ctx, f, p.AccessToken) {
			return
		}
	}
	presenceEnabled := p.Config.Presence.Enabled == nil || *p.Config.Presence.Enabled
	j, err := s.hub.Join(ctx, s.conn, JoinRequest{
		Topic: hubTopic(f.Topic), JoinRef: firstNonEmpty(f.JoinRef, f.Ref), Private: p.Config.Private,
		Self: p.Config.Broadcast.Self, Ack: p.Config.Broadcast.Ack,
		PresenceKey: p.Config.Presence.Key, PresenceEnabled: presenceEnabled,
		Changes: p.Config.PostgresChanges,
	})
	if err != nil {
		var je *JoinError
		msg := "could not join: internal error"
		if errors.As(err, &je) {
			msg = je.Reason
		}
		s.conn.send(reply(f, "error", map[string]string{"reason": msg}))
		return
	}
	bindings := make([]*ChangeBinding, len(j.Changes))
	copy(bindings, j.Changes)
	s.conn.send(reply(f, "ok", map[string]any{"postgres_changes": bindings}))
	if len(bindings) > 0 {
		b, _ := json.Marshal(map[string]string{"status": "ok", "message": "Subscribed to PostgreSQL", "extension": "postgres_changes", "channel": j.Topic})
		s.conn.send(Message{Topic: f.Topic, Event: "system", JoinRef: j.JoinRef, Payload: b})
	}
	if j.PresenceEnabled {
		s.conn.send(Message{Topic: f.Topic, Event: "presence_state", JoinRef: j.JoinRef, Payload: s.hub.PresenceState(j.Topic)})
	}
}

// accessToken replaces the connection's identity. An invalid token closes
// the channels with a reason.
func (s *phxSession) accessToken(ctx context.Context, f phxFrame, token string) bool {
	id, err := s.opts.verify(ctx, token)
	if err != nil {
		msg := "invalid access token"
		if he := httpx.AsError(err); he != nil {
			msg = he.Message
		}
		s.conn.send(reply(f, "error", map[string]string{"reason": msg}))
		s.hub.expire(s.conn, msg)
		return false
	}
	s.conn.setIdentity(s.hub.intern(id))
	return true
}

func systemError(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"status": "error", "message": msg, "extension": "system"})
	return b
}

func (s *phxSession) broadcast(f phxFrame) {
	j := s.conn.join(hubTopic(f.Topic))
	if j == nil {
		s.conn.send(reply(f, "error", map[string]string{"reason": "join the topic before broadcasting"}))
		return
	}
	msg := f.Broadcast
	if msg == nil {
		var p BroadcastMessage
		if err := json.Unmarshal(f.Payload, &p); err != nil || p.Event == "" {
			s.conn.send(reply(f, "error", map[string]string{"reason": "a broadcast needs an event and a payload"}))
			return
		}
		msg = &p
	}
	if !s.hub.Broadcast(j, *msg) {
		s.conn.send(reply(f, "error", map[string]string{"reason": "Unauthorized: you do not have permissions to write to this channel topic"}))
		return
	}
	if j.Ack && f.Ref != "" {
		s.conn.send(reply(f, "ok", map[string]any{}))
	}
}

func (s *phxSession) presence(f phxFrame) {
	j := s.conn.join(hubTopic(f.Topic))
	if j == nil {
		s.conn.send(reply(f, "error", map[string]string{"reason": "join the topic before tracking presence"}))
		return
	}
	var p struct {
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(f.Payload, &p); err != nil {
		s.conn.send(reply(f, "error", map[string]string{"reason": "malformed presence payload"}))
		return
	}
	if !j.maySend {
		s.conn.send(reply(f, "error", map[string]string{"reason": "Unauthorized: you do not have permissions to track presence on this channel topic"}))
		return
	}
	switch p.Event {
	case "track":
		s.hub.Track(j, p.Payload)
	case "untrack":
		s.hub.Untrack(j)
	default:
		s.conn.send(reply(f, "error", map[string]string{"reason": "presence event must be track or untrack"}))
		return
	}
	s.conn.send(reply(f, "ok", map[string]any{}))
}

// rateLimiter is a token bucket refilled every second.
type rateLimiter struct {
	per    int
	tokens int
	last   time.Time
}

func newRateLimiter(perSecond int) *rateLimiter {
	return &rateLimiter{per: perSecond, tokens: perSecond, last: time.Now()}
}

func (l *rateLimiter) allow() bool {
	if l.per <= 0 {
		return true
	}
	now := time.Now()
	if elapsed := now.Sub(l.last); elapsed >= time.Second {
		l.tokens, l.last = l.per, now
	}
	if l.tokens == 0 {
		return false
	}
	l.tokens--
	return true
}
