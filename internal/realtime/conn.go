package realtime

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/fluxbase/fluxbase/internal/identity"
)

// Message is what the hub sends to a connection, independent of the wire
// protocol; each protocol encodes it its own way.
type Message struct {
	Topic   string
	Event   string
	Ref     string
	JoinRef string
	Payload json.RawMessage
	// Broadcast, when set, is a user broadcast (Payload is then unused):
	// Phoenix 2.0.0 sends it as a binary frame.
	Broadcast *BroadcastMessage
}

// BroadcastMessage is one client-to-client message.
type BroadcastMessage struct {
	Event string `json:"event"`
	// Payload is JSON, or raw bytes when Binary.
	Payload json.RawMessage `json:"payload"`
	Binary  bool            `json:"binary,omitempty"`
}

// Conn is one WebSocket client. The hub writes to it through a bounded
// queue; a client that cannot keep up is disconnected with a reason rather
// than letting the queue grow.
type Conn struct {
	ID          string
	IP          string
	ConnectedAt time.Time

	ident atomic.Pointer[identity.Identity]
	out   chan Message

	mu    sync.Mutex
	joins map[string]*Join // by topic

	closeOnce sync.Once
	closed    chan struct{}
	reason    atomic.Pointer[string]

	// identChanged wakes the writer to re-arm the token expiry timer.
	identChanged chan struct{}

	// Counters for the stats endpoint.
	in, sent atomic.Int64
}

func newConn(id, ip string, queue int, ident identity.Identity) *Conn {
	c := &Conn{ID: id, IP: ip, ConnectedAt: time.Now().UTC(), out: make(chan Message, queue),
		joins: map[string]*Join{}, closed: make(chan struct{}), identChanged: make(chan struct{}, 1)}
	c.ident.Store(&ident)
	return c
}

// Identity is the caller's current identity (refreshed by access_token).
func (c *Conn) Identity() identity.Identity { return *c.ident.Load() }

// setIdentity replaces the connection's identity (a refreshed token).
func (c *Conn) setIdentity(id identity.Identity) {
	c.ident.Store(&id)
	select {
	case c.identChanged <- struct{}{}:
	default:
	}
}

// expiry is when the connection's token expires; zero for none.
func (c *Conn) expiry() time.Time {
	id := c.Identity()
	switch exp := id.Claims["exp"].(type) {
	case json.Number:
		if n, err := exp.Int64(); err == nil {
			return time.Unix(n, 0)
		}
	case float64:
		return time.Unix(int64(exp), 0)
	}
	return time.Time{}
}

// send queues m; a full queue closes the connection.
func (c *Conn) send(m Message) bool {
	select {
	case <-c.closed:
		return false
	default:
	}
	select {
	case c.out <- m:
		return true
	default:
		c.Close("slow client: messages were not read fast enough")
		return false
	}
}

// Close ends the connection with a reason the client is told.
func (c *Conn) Close(reason string) {
	c.closeOnce.Do(func() {
		c.reason.Store(&reason)
		close(c.closed)
	})
}

// Done is closed when the connection is closing.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// Reason is why the connection was closed.
func (c *Conn) Reason() string {
	if r := c.reason.Load(); r != nil {
		return *r
	}
	return ""
}

// Outbox is the queue the protocol's writer drains.
func (c *Conn) Outbox() <-chan Message { return c.out }

func (c *Conn) join(topic string) *Join {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.joins[topic]
}

func (c *Conn) topics() []*Join {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Join, 0, len(c.joins))
	for _, j := range c.joins {
		out = append(out, j)
	}
	return out
}

// writeLoop drains a connection's queue to its socket, encoding each
// message for the protocol, until the connection closes (with its reason)
// or ctx ends. When the token expires, the connection leaves its channels,
// each told why; the socket stays open for a fresh access_token.
func writeLoop(ctx context.Context, h *Hub, c *Conn, ws *websocket.Conn, encode func(Message) (websocket.MessageType, []byte, error)) {
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	arm := func() {
		expiry.Stop()
		if at := c.expiry(); !at.IsZero() {
			expiry.Reset(time.Until(at))
		}
	}
	arm()
	for {
		select {
		case m := <-c.out:
			typ, data, err := encode(m)
			if err != nil {
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = ws.Write(wctx, typ, data)
			cancel()
			if err != nil {
				c.Close("write failed: the client stopped reading")
				_ = ws.CloseNow()
				return
			}
			c.sent.Add(1)
			h.metrics.out()
		case <-c.identChanged:
			arm()
		case <-expiry.C:
			h.expire(c, "Token has expired")
		case <-c.closed:
			closeWith(ws, c.Reason())
			return
		case <-ctx.Done():
			closeWith(ws, "server shutting down")
			return
		}
	}
}

// closeWith closes a socket with a status matching the reason.
func closeWith(ws *websocket.Conn, why string) {
	code := websocket.StatusNormalClosure
	switch {
	case strings.HasPrefix(why, "slow client"), strings.HasPrefix(why, "rate limit"), strings.HasPrefix(why, "message too big"):
		code = websocket.StatusPolicyViolation
	case why == "server shutting down":
		code = websocket.StatusGoingAway
	}
	// A close reason is at most 123 bytes.
	if len(why) > 123 {
		why = why[:123]
	}
	_ = ws.Close(code, why)
}
