package realtime

import (
	"encoding/json"
	"errors"
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

	// frame, when set, holds this message's encodings, shared by every
	// connection the same message goes to.
	frame *sharedFrame
}

// wireForm is one way of encoding messages: a protocol and version.
type wireForm uint8

const (
	formPhoenixV1 wireForm = iota
	formPhoenixV2
	formNative
	wireForms
)

// sharedFrame is one message as it goes on the wire, WebSocket frame
// included, encoded the first time a connection of each wire form writes
// it. A change fanned out to thousands of subscribers is encoded once, not
// once per subscriber, and the same bytes are written to every socket.
type sharedFrame struct {
	forms [wireForms]struct {
		once  sync.Once
		frame []byte
		err   error
	}
}

func (f *sharedFrame) encoded(w *connWriter, m Message) ([]byte, error) {
	e := &f.forms[w.form]
	e.once.Do(func() { e.frame, e.err = w.frame(m) })
	return e.frame, e.err
}

// BroadcastMessage is one client-to-client message.
type BroadcastMessage struct {
	Event string `json:"event"`
	// Payload is JSON, or raw bytes when Binary.
	Payload json.RawMessage `json:"payload"`
	Binary  bool            `json:"binary,omitempty"`
}

// Conn is one WebSocket client. The hub writes to its socket directly,
// without waiting for the client (see sockWriter); a client that cannot
// keep up is disconnected with a reason rather than letting its backlog
// grow.
//
// A connection costs one goroutine while idle, the one reading from it,
// with a minimal stack: a writer goroutine runs only while a backlog waits;
// the token's expiry and the heartbeat and write timeouts are deadlines
// that the hub's sweeper checks for every connection at once, not timers
// of its own; and connections presenting the same token share one decoded
// identity. That is what lets one instance hold tens of thousands of
// connections.
type Conn struct {
	ID          string
	IP          string
	ConnectedAt time.Time

	ident atomic.Pointer[identity.Identity]

	mu    sync.Mutex
	joins map[string]*Join // by topic
	queue []Message        // messages sent before the socket is attached
	max   int
	out   *connWriter // nil until a protocol attaches the socket

	closeOnce sync.Once
	closed    chan struct{}
	reason    atomic.Pointer[string]

	// Counters for the stats endpoint.
	in, sent atomic.Int64

	// idleTimeout is how long the client may stay silent; readBy is when
	// that runs out and expiresAt when the token expires (Unix
	// nanoseconds, zero for none). The hub's sweeper enforces them, and
	// the socket writer's write timeout.
	idleTimeout time.Duration
	readBy      atomic.Int64
	expiresAt   atomic.Int64
	sock        atomic.Pointer[sockWriter]
}

// writeTimeout bounds one write to a client.
const writeTimeout = 10 * time.Second

// connWriter is how messages reach the socket.
type connWriter struct {
	hub    *Hub
	sock   *socket
	encode func(Message) (websocket.MessageType, []byte, error)
	form   wireForm
}

// frame is m encoded as one WebSocket frame.
func (w *connWriter) frame(m Message) ([]byte, error) {
	typ, data, err := w.encode(m)
	if err != nil {
		return nil, err
	}
	return wsFrame(typ, data), nil
}

func newConn(id, ip string, queue int, ident *identity.Identity) *Conn {
	c := &Conn{ID: id, IP: ip, ConnectedAt: time.Now().UTC(), max: queue, closed: make(chan struct{})}
	c.ident.Store(ident)
	return c
}

// Identity is the caller's current identity (refreshed by access_token).
func (c *Conn) Identity() identity.Identity { return *c.ident.Load() }

// identity is the caller's current identity, shared with the other
// connections presenting the same token (never to be modified).
func (c *Conn) identity() *identity.Identity { return c.ident.Load() }

// attach connects the connection to a socket, writes what was sent
// before, and arms the token's expiry.
func (c *Conn) attach(w *connWriter) {
	c.sock.Store(w.sock.out)
	// What was sent before is written first; whatever is sent meanwhile
	// is queued behind it, until the queue is empty and the socket is
	// connected.
	var closedBefore bool
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			// Under the lock that Close takes: either Close saw the
			// writer and tears the connection down, or the connection was
			// closed before and that is left to this call.
			c.out = w
			select {
			case <-c.closed:
				closedBefore = true
			default:
			}
			c.mu.Unlock()
			break
		}
		queued := c.queue
		c.queue = nil
		c.mu.Unlock()
		for _, m := range queued {
			c.write(w, m, nil)
		}
	}
	if closedBefore {
		w.sock.out.stop()
		go w.teardown(c)
		return
	}
	c.armExpiry()
}

// setIdentity replaces the connection's identity (a refreshed token).
func (c *Conn) setIdentity(id *identity.Identity) {
	c.ident.Store(id)
	c.armExpiry()
}

// armExpiry makes the connection leave its channels when its token
// expires, each told why (the hub's sweeper does it); the socket stays
// open for a fresh token.
func (c *Conn) armExpiry() {
	at := c.tokenExpiry()
	c.mu.Lock()
	attached := c.out != nil
	c.mu.Unlock()
	if at.IsZero() || !attached {
		c.expiresAt.Store(0)
		return
	}
	c.expiresAt.Store(at.UnixNano())
}

// tokenExpiry is when the connection's token expires; zero for none.
func (c *Conn) tokenExpiry() time.Time {
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

// send writes m to the socket. It does not wait for the client: what the
// socket does not take at once waits in the socket writer's backlog, and a
// client whose backlog is full is disconnected as a slow client.
func (c *Conn) send(m Message) bool { return c.sendCounting(m, nil) }

// sendCounting is send for a fan-out: a message written is added to
// *written, which the fan-out adds to the metrics once, rather than to
// the shared counter once per connection. A nil written counts in the
// metrics directly.
func (c *Conn) sendCounting(m Message, written *int) bool {
	// The reason is set just before closed is closed; loading it is
	// cheaper than a receive on the channel, 10,000 times per change.
	if c.reason.Load() != nil {
		return false
	}
	c.mu.Lock()
	w := c.out
	if w == nil {
		if len(c.queue) >= c.max {
			c.mu.Unlock()
			c.Close("slow client: messages were not read fast enough")
			return false
		}
		c.queue = append(c.queue, m)
		c.mu.Unlock()
		return true
	}
	c.mu.Unlock()
	return c.write(w, m, written)
}

func (c *Conn) write(w *connWriter, m Message, written *int) bool {
	var frame []byte
	var err error
	if m.frame != nil {
		frame, err = m.frame.encoded(w, m)
	} else {
		frame, err = w.frame(m)
	}
	if err != nil {
		return true
	}
	switch err := w.sock.out.writeFrame(frame, c.max); {
	case err == nil:
	case errors.Is(err, errStopped):
		return false
	case errors.Is(err, errSlowClient):
		c.Close("slow client: messages were not read fast enough")
		return false
	default:
		c.Close("write failed: the client stopped reading")
		return false
	}
	c.sent.Add(1)
	if written != nil {
		*written++
	} else {
		w.hub.metrics.out(1)
	}
	return true
}

// Close ends the connection with a reason the client is told.
func (c *Conn) Close(reason string) {
	c.closeOnce.Do(func() {
		c.reason.Store(&reason)
		c.mu.Lock()
		close(c.closed)
		w := c.out
		c.mu.Unlock()
		if w != nil {
			w.sock.out.stop()
			// The close handshake waits for the client; the caller (often
			// the hub, fanning out) must not. The connection leaves its
			// channels at once: nothing more is delivered to it.
			go w.teardown(c)
		}
	})
}

// teardown takes a closed connection out of the hub and closes its
// socket; it runs once per connection, from Close or, for a connection
// closed before it had a socket, from attach.
func (w *connWriter) teardown(c *Conn) {
	w.hub.Unregister(c)
	w.sock.close(c.Reason())
}

// abort closes the connection at once, without a closing handshake: the
// client is silent or not reading, so it would not complete one.
func (c *Conn) abort(reason string) {
	c.Close(reason)
	c.mu.Lock()
	w := c.out
	c.mu.Unlock()
	if w != nil {
		_ = w.sock.ws.CloseNow()
	}
}

// overdue says why the connection must be closed at now, or "".
func (c *Conn) overdue(now int64) string {
	if by := c.readBy.Load(); by != 0 && now > by {
		return "heartbeat timeout: no message within " + c.idleTimeout.String()
	}
	if w := c.sock.Load(); w != nil {
		if since := w.stalledSince(); since != 0 && now-since > int64(writeTimeout) {
			return "write failed: the client stopped reading"
		}
	}
	return ""
}

// heard records that the client sent something.
func (c *Conn) heard() {
	if c.idleTimeout > 0 {
		c.readBy.Store(time.Now().Add(c.idleTimeout).UnixNano())
	}
}

// tokenExpired reports, once, that the token expired before now.
func (c *Conn) tokenExpired(now int64) bool {
	at := c.expiresAt.Load()
	return at != 0 && now >= at && c.expiresAt.CompareAndSwap(at, 0)
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
