package realtime

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// sockWriter is the only way bytes reach a client's socket: the frames
// the hub sends, already encoded, and the WebSocket library's own control
// frames (pongs, close), which reach it through the library's write
// buffer.
//
// A write never waits for the client. What the kernel takes at once is
// written by the caller, so fanning a change out to thousands of sockets
// costs one system call each and no goroutine; what it does not take waits
// here, in order, for a goroutine that runs only while there is a backlog.
// A client whose backlog grows past the connection's bounds is a slow
// client, disconnected with that reason.
type sockWriter struct {
	conn net.Conn
	// raw writes without waiting; nil when the connection has no
	// descriptor (everything then goes through the backlog).
	raw syscall.RawConn

	mu      sync.Mutex
	backlog []byte // accepted, not yet handed to the kernel, in order
	// started is how many of backlog's first bytes finish a frame whose
	// beginning the kernel already took (they cannot be dropped).
	started  int
	frames   int  // hub frames in backlog
	draining bool // a goroutine is writing the backlog
	drained  chan struct{}
	stopped  bool // the connection is closing: no more hub frames
	err      error

	// since is when the backlog write in progress began (Unix
	// nanoseconds; 0 when none): the hub's sweeper closes the connection
	// when it takes longer than writeTimeout.
	since atomic.Int64
}

var (
	errSlowClient = errors.New("slow client")
	errStopped    = errors.New("connection closing")
)

// maxBacklogBytes bounds what waits for one client, whatever the number
// of messages.
const maxBacklogBytes = 1 << 20

func newSockWriter(conn net.Conn) *sockWriter {
	w := &sockWriter{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

// Write takes the library's control frames. The library's buffer is large
// enough for any control frame and is flushed after each, so every call
// is one whole frame, which keeps them from interleaving with the hub's.
// They are never refused for size: the closing frame must reach a slow
// client too.
func (w *sockWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writeLocked(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeFrame writes one encoded frame of the hub's; errSlowClient when the
// backlog already holds maxFrames frames or maxBacklogBytes.
func (w *sockWriter) writeFrame(frame []byte, maxFrames int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return errStopped
	}
	if w.draining {
		if w.frames >= maxFrames || len(w.backlog) >= maxBacklogBytes {
			return errSlowClient
		}
		w.frames++
	}
	return w.writeLocked(frame)
}

// stop refuses further hub frames, and drops those still waiting whole:
// the connection is closing, and its closing frame should reach the
// client without waiting behind them.
func (w *sockWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.backlog = w.backlog[:w.started]
	w.frames = 0
	w.mu.Unlock()
}

// waitDrained returns once the backlog has been handed to the kernel, or
// after d.
func (w *sockWriter) waitDrained(d time.Duration) {
	w.mu.Lock()
	if !w.draining {
		w.mu.Unlock()
		return
	}
	if w.drained == nil {
		w.drained = make(chan struct{})
	}
	ch := w.drained
	w.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

func (w *sockWriter) writeLocked(p []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.draining {
		w.backlog = append(w.backlog, p...)
		return nil
	}
	n := 0
	if w.raw != nil {
		var err error
		if n, err = writeNow(w.raw, p); err != nil {
			w.err = err
			return err
		}
	}
	if n < len(p) {
		w.backlog = append(w.backlog[:0], p[n:]...)
		w.started, w.frames = 0, 0
		if n > 0 {
			w.started = len(p) - n
		}
		w.draining = true
		go w.drain()
	}
	return nil
}

// drain writes the backlog, waiting for the client, until it is empty.
func (w *sockWriter) drain() {
	for {
		w.mu.Lock()
		if len(w.backlog) == 0 || w.err != nil {
			w.draining, w.backlog, w.frames, w.started = false, nil, 0, 0
			if w.drained != nil {
				close(w.drained)
				w.drained = nil
			}
			w.mu.Unlock()
			return
		}
		chunk := w.backlog
		w.backlog, w.frames, w.started = nil, 0, 0
		w.mu.Unlock()

		w.since.Store(time.Now().UnixNano())
		_, err := w.conn.Write(chunk)
		w.since.Store(0)
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			// The stream is broken mid-frame; the reader sees the
			// connection end and the session closes.
			_ = w.conn.Close()
		}
	}
}

// stalledSince is when the write in progress began, 0 when none.
func (w *sockWriter) stalledSince() int64 { return w.since.Load() }

// wsFrame is a whole unmasked WebSocket frame (a server's) carrying one
// message.
func wsFrame(typ websocket.MessageType, payload []byte) []byte {
	op := byte(0x1)
	if typ == websocket.MessageBinary {
		op = 0x2
	}
	b := make([]byte, 0, len(payload)+10)
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, payload...)
}
