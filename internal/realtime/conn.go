package realtime

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

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

	// Counters for the stats endpoint.
	in, sent atomic.Int64
}

func newConn(id, ip string, queue int, ident identity.Identity) *Conn {
	c := &Conn{ID: id, IP: ip, ConnectedAt: time.Now().UTC(), out: make(chan Message, queue),
		joins: map[string]*Join{}, closed: make(chan struct{})}
	c.ident.Store(&ident)
	return c
}

// Identity is the caller's current identity (refreshed by access_token).
func (c *Conn) Identity() identity.Identity { return *c.ident.Load() }

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

// waitClosed is a helper for writers: it returns when ctx ends or the
// connection closes.
func (c *Conn) waitClosed(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-c.closed:
	}
}
