package realtime

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"

	"github.com/coder/websocket"
)

// Buffer sizes of an upgraded connection. net/http hands a hijacked
// connection 4 KiB read and 4 KiB write buffers, sized for HTTP requests
// and responses; they would stay for the socket's whole life, the larger
// part of an idle connection's memory. Clients send small frames
// (heartbeats, joins), and a read larger than the buffer goes straight to
// the socket. The library writes only control frames (the hub's frames go
// to the socket's writer whole): the write buffer holds the largest,
// 127 bytes, so that each reaches the writer in one piece.
const (
	socketReadBuffer  = 512
	socketWriteBuffer = 256
)

// smallBuffers is a ResponseWriter whose Hijack gives the WebSocket
// library smaller buffers than net/http's, and remembers the connection,
// the read buffer and the writer for the socket.
type smallBuffers struct {
	http.ResponseWriter
	conn net.Conn
	br   *bufio.Reader
	out  *sockWriter
}

func (w *smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Whatever the client sent after its handshake is already in
	// net/http's buffer. It must be in the new buffer too: the WebSocket
	// library takes what is buffered and reads the connection after it.
	br := bufio.NewReaderSize(conn, socketReadBuffer)
	if n := brw.Reader.Buffered(); n > 0 {
		pending, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(pending)), conn), max(n, socketReadBuffer))
		if _, err := br.Peek(n); err != nil {
			_ = conn.Close()
			return nil, nil, err
		}
	}
	// The upgrade response is still in net/http's write buffer.
	if err := brw.Writer.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	w.conn, w.br, w.out = conn, br, newSockWriter(conn)
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.out, socketWriteBuffer)), nil
}

// socket is an accepted WebSocket with what waiting for it to become
// readable needs.
type socket struct {
	ws *websocket.Conn
	// raw waits for the descriptor to be readable; nil when the
	// connection has none (it is then read without waiting first).
	raw syscall.RawConn
	// br is the library's read buffer: a frame may wait there rather
	// than in the kernel. mu orders looking at it with the closing
	// handshake, which reads it from another goroutine.
	br *bufio.Reader
	mu sync.Mutex
	// out writes to the connection.
	out *sockWriter
}

func newSocket(ws *websocket.Conn, conn net.Conn, br *bufio.Reader, out *sockWriter) *socket {
	s := &socket{ws: ws, br: br, out: out}
	if sc, ok := conn.(syscall.Conn); ok && br != nil {
		if raw, err := sc.SyscallConn(); err == nil {
			s.raw = raw
		}
	}
	return s
}

// waitReadable returns when a frame can be read without waiting, or the
// connection is closed (an error).
func (s *socket) waitReadable() error {
	if s.raw == nil {
		return nil
	}
	s.mu.Lock()
	buffered := s.br.Buffered() > 0
	s.mu.Unlock()
	if buffered {
		return nil
	}
	return s.raw.Read(readable)
}

// close ends the connection with a closing handshake telling the client
// why, once what was already written has reached the kernel (closing the
// connection would lose it), or after the write timeout.
func (s *socket) close(reason string) {
	if s.out != nil {
		s.out.waitDrained(writeTimeout)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	closeWith(s.ws, reason)
}
