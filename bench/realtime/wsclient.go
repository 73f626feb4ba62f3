//go:build linux

package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// The generator's WebSocket client. It shares two cores with the server
// it measures, so receiving must cost as little as possible: rather than
// a goroutine per connection woken by the runtime for each frame (and a
// second, empty read before it sleeps again), a few pollers, one per
// core, wait on epoll for many sockets at once and read each ready socket
// once. Two receive times are kept: when the read returned, which is what
// a client application could observe, and when the kernel queued the
// data on the socket (SO_TIMESTAMPNS), which is when the frame reached the
// client, however late the generator got to read it on a busy machine.
// Frames from the server are unmasked and never fragmented, so parsing
// one is reading its length.

// wsConn is one client connection; the handshake and the join happen on
// the caller's goroutine, then a poller reads it.
type wsConn struct {
	conn net.Conn
	fd   int

	wmu sync.Mutex // orders writes (joins, heartbeats, broadcasts)

	// rmu orders the poller's reads with closing, so that a closed
	// descriptor (whose number may be reused) is never read.
	rmu    sync.Mutex
	closed bool
	buf    []byte // received bytes not yet parsed
	poller *poller
	client *client
}

// wsDial opens a WebSocket to rawURL (ws://host/path?query).
func wsDial(rawURL string, timeout time.Duration) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, timeout)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", u.RequestURI(), u.Host, base64.StdEncoding.EncodeToString(key[:]))
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake: %s", res.Status)
	}
	c := &wsConn{conn: conn, buf: make([]byte, 0, 4096)}
	// Frames the server sent right after its answer may already be in the
	// handshake's buffer.
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		c.buf = append(c.buf, p...)
	}
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = raw.Control(func(fd uintptr) { c.fd = int(fd) })
	if err := syscall.SetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// write sends one masked text frame, as a client must.
func (c *wsConn) write(payload []byte) error {
	f := make([]byte, 0, len(payload)+14)
	f = append(f, 0x81)
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	f = append(f, mask[:]...)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write(f)
	return err
}

// readFrame reads the next text frame's payload while the connection is
// not yet handed to a poller (the join).
func (c *wsConn) readFrame() ([]byte, error) {
	for {
		if p, n, ok := parseFrame(c.buf); ok {
			if p == nil {
				return nil, errClosedFrame
			}
			out := bytes.Clone(p)
			c.buf = c.buf[:copy(c.buf, c.buf[n:])]
			return out, nil
		}
		if len(c.buf) == cap(c.buf) {
			c.buf = append(c.buf, make([]byte, len(c.buf))...)[:len(c.buf)]
		}
		n, err := c.conn.Read(c.buf[len(c.buf):cap(c.buf)])
		c.buf = c.buf[:len(c.buf)+n]
		if err != nil {
			return nil, err
		}
	}
}

var errClosedFrame = errors.New("the server closed the connection")

// parseFrame finds the first whole frame in b: its payload and its whole
// length. A close frame's payload is nil.
func parseFrame(b []byte) (payload []byte, n int, ok bool) {
	if len(b) < 2 {
		return nil, 0, false
	}
	op := b[0] & 0x0f
	size, head := int(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return nil, 0, false
		}
		size, head = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return nil, 0, false
		}
		size, head = int(binary.BigEndian.Uint64(b[2:])), 10
	}
	if len(b) < head+size {
		return nil, 0, false
	}
	if op == 0x8 {
		return nil, head + size, true
	}
	return b[head : head+size], head + size, true
}

// close closes the connection; the poller stops reading it first.
func (c *wsConn) close() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if c.poller != nil {
		_ = syscall.EpollCtl(c.poller.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	}
	_ = c.conn.Close()
}

// poller reads the connections registered with it, calling handle with
// each frame's payload and the time the read returned.
type poller struct {
	epfd int

	mu    sync.Mutex
	conns []*wsConn
}

// pollers is one poller per core.
type pollers struct {
	all  []*poller
	next int
	mu   sync.Mutex
}

// frameHandler receives a frame's payload with the time its read returned
// and the time the kernel received it.
type frameHandler func(c *wsConn, payload []byte, read, arrived time.Time)

func newPollers(handle frameHandler) (*pollers, error) {
	ps := &pollers{}
	for range runtime.GOMAXPROCS(0) {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return nil, err
		}
		p := &poller{epfd: epfd}
		ps.all = append(ps.all, p)
		go p.run(handle)
	}
	return ps, nil
}

// add hands c to a poller; frames already received are handled first.
func (ps *pollers) add(c *wsConn, handle frameHandler) error {
	ps.mu.Lock()
	p := ps.all[ps.next%len(ps.all)]
	ps.next++
	ps.mu.Unlock()
	now := time.Now()
	c.rmu.Lock()
	for {
		payload, n, ok := parseFrame(c.buf)
		if !ok {
			break
		}
		if payload != nil {
			handle(c, payload, now, now)
		}
		c.buf = c.buf[:copy(c.buf, c.buf[n:])]
	}
	c.poller = p
	p.mu.Lock()
	id := len(p.conns)
	p.conns = append(p.conns, c)
	p.mu.Unlock()
	// The event carries the connection's index, not its descriptor,
	// whose number a later connection may reuse.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(id)}
	err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev)
	c.rmu.Unlock()
	return err
}

func (p *poller) run(handle frameHandler) {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		p.mu.Lock()
		conns := p.conns
		p.mu.Unlock()
		for _, ev := range events[:n] {
			if int(ev.Fd) < len(conns) {
				conns[ev.Fd].readReady(handle)
			}
		}
	}
}

// readReady reads what the socket has, once, and handles every whole
// frame.
func (c *wsConn) readReady(handle frameHandler) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.closed {
		return
	}
	if cap(c.buf)-len(c.buf) < 2048 {
		c.buf = append(c.buf, make([]byte, max(cap(c.buf), 4096))...)[:len(c.buf)]
	}
	var oob [64]byte
	n, oobn, _, _, err := syscall.Recvmsg(c.fd, c.buf[len(c.buf):cap(c.buf)], oob[:], syscall.MSG_DONTWAIT)
	at := time.Now()
	arrived := at
	if ts, ok := kernelTimestamp(oob[:oobn]); ok {
		arrived = ts
	}
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
		return
	}
	if err != nil || n == 0 {
		// The server closed the connection: stop watching it.
		c.closed = true
		_ = syscall.EpollCtl(c.poller.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
		_ = c.conn.Close()
		return
	}
	c.buf = c.buf[:len(c.buf)+n]
	off := 0
	for {
		payload, size, ok := parseFrame(c.buf[off:])
		if !ok {
			break
		}
		if payload != nil {
			handle(c, payload, at, arrived)
		}
		off += size
	}
	c.buf = c.buf[:copy(c.buf, c.buf[off:])]
}

// kernelTimestamp finds the SCM_TIMESTAMPNS control message: when the
// kernel received the last data the read returned.
func kernelTimestamp(oob []byte) (time.Time, bool) {
	const hdr = syscall.SizeofCmsghdr
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		size := int(h.Len)
		if size < hdr || size > len(oob) {
			return time.Time{}, false
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && size >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(oob[hdr:]))
			nsec := int64(binary.NativeEndian.Uint64(oob[hdr+8:]))
			return time.Unix(sec, nsec), true
		}
		size = (size + 7) &^ 7 // control messages are 8-byte aligned
		if size > len(oob) {
			break
		}
		oob = oob[size:]
	}
	return time.Time{}, false
}
