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
	"os"
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
	// arrived is when the kernel received the last bytes read (when
	// hasArrived).
	arrived    time.Time
	hasArrived bool
	poller     *poller
	client     *client
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
	c.rmu.Lock()
	detached := c.conn == nil
	c.rmu.Unlock()
	if !detached {
		_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err := c.conn.Write(f)
		return err
	}
	// The descriptor is non-blocking and no longer known to the runtime:
	// a full socket buffer is waited out here (the frames are small and
	// rare: joins, heartbeats, broadcasts).
	deadline := time.Now().Add(5 * time.Second)
	for len(f) > 0 {
		// Under rmu, so that a descriptor closed meanwhile (whose
		// number may be reused) is never written.
		c.rmu.Lock()
		if c.closed {
			c.rmu.Unlock()
			return net.ErrClosed
		}
		n, err := syscall.Write(c.fd, f)
		c.rmu.Unlock()
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			if time.Now().After(deadline) {
				return os.ErrDeadlineExceeded
			}
			time.Sleep(time.Millisecond)
			continue
		case err != nil:
			return err
		}
		f = f[n:]
	}
	return nil
}

// detach takes the socket away from the Go runtime's network poller, so
// that only the generator's own poller is woken when a frame arrives. A
// socket left in both would wake two threads per frame: the poller, and
// the runtime's idle thread waiting on its own epoll for any registered
// descriptor, for nothing (no goroutine reads it). The descriptor is
// duplicated and the original closed, which removes it from the runtime's
// epoll and keeps the connection open.
func (c *wsConn) detach() error {
	raw, err := c.conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var dup int
	var derr error
	if err := raw.Control(func(fd uintptr) { dup, derr = syscall.Dup(int(fd)) }); err != nil {
		return err
	}
	if derr != nil {
		return derr
	}
	syscall.CloseOnExec(dup)
	_ = c.conn.Close()
	c.conn, c.fd = nil, dup
	return nil
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
	c.closeSocket()
}

func (c *wsConn) closeSocket() {
	if c.conn != nil {
		_ = c.conn.Close()
		return
	}
	_ = syscall.Close(c.fd)
}

// poller reads the connections registered with it, calling handle with
// each frame's payload and the time the read returned.
type poller struct {
	epfd int
	// wake is a pipe registered with epfd: a byte written to wake[1]
	// tells run to return.
	wake [2]int
	done chan struct{}

	mu    sync.Mutex
	conns []*wsConn
}

// wakeEvent marks the wake pipe's events; connections' events carry their
// index, never negative.
const wakeEvent = -1

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{epfd: epfd, done: make(chan struct{})}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: wakeEvent}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, err
	}
	return p, nil
}

func (p *poller) closeFDs() {
	_ = syscall.Close(p.wake[0])
	_ = syscall.Close(p.wake[1])
	_ = syscall.Close(p.epfd)
}

// stop makes run return, waits for it and releases the poller's
// descriptors; the connections stay open.
func (p *poller) stop() {
	_, _ = syscall.Write(p.wake[1], []byte{0})
	<-p.done
	p.closeFDs()
}

// pollers is one poller per core.
type pollers struct {
	all    []*poller
	handle frameHandler
	next   int
	mu     sync.Mutex
}

// frameHandler receives a frame's payload with the time its read returned
// and the time the kernel received it.
type frameHandler func(c *wsConn, payload []byte, read, arrived time.Time, cache *tsCache)

// newPollers starts the pollers; stop ends them.
func newPollers(handle frameHandler, pause time.Duration) (*pollers, error) {
	ps := &pollers{handle: handle}
	for range runtime.GOMAXPROCS(0) {
		p, err := newPoller()
		if err != nil {
			ps.stop()
			return nil, err
		}
		ps.all = append(ps.all, p)
		go p.run(handle, pause)
	}
	return ps, nil
}

// stop ends every poller and waits for them.
func (ps *pollers) stop() {
	for _, p := range ps.all {
		p.stop()
	}
}

// add hands c to a poller; frames already received are handled first.
func (ps *pollers) add(c *wsConn) error {
	ps.mu.Lock()
	p := ps.all[ps.next%len(ps.all)]
	ps.next++
	ps.mu.Unlock()
	now := time.Now()
	var cache tsCache
	c.rmu.Lock()
	for {
		payload, n, ok := parseFrame(c.buf)
		if !ok {
			break
		}
		if payload != nil {
			ps.handle(c, payload, now, now, &cache)
		}
		c.buf = c.buf[:copy(c.buf, c.buf[n:])]
	}
	if err := c.detach(); err != nil {
		c.rmu.Unlock()
		return err
	}
	c.poller = p
	p.mu.Lock()
	id := len(p.conns)
	p.conns = append(p.conns, c)
	p.mu.Unlock()
	// The event carries the connection's index, not its descriptor,
	// whose number a later connection may reuse.
	// Edge-triggered: a level-triggered socket stays on epoll's ready
	// list after it is returned and is polled once more on the next wait,
	// a second visit per frame. receive reads until a read comes back
	// short, which leaves nothing unread when the next edge can be missed.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: int32(id)}
	err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev)
	c.rmu.Unlock()
	return err
}

// run waits for ready sockets and reads them. After a batch that did not
// fill its event buffer it pauses before the next wait: a poller that
// asked epoll again at once would be woken for nearly every frame of a
// fan-out, and on loopback that wake-up is paid by the server's write as
// well as by the poller. The pause lets frames gather (a few dozen per
// wait during a fan-out); a frame that arrives meanwhile is read at most
// pause later, and that delay is part of the commit → read latency
// reported (the kernel's arrival time is not affected).
//
// A batch's sockets are all read first, then the time is taken once, then
// their frames are handled: each frame's read time is at or after the
// moment its read returned, never before.
func (p *poller) run(handle frameHandler, pause time.Duration) {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	var ready []*wsConn
	var cache tsCache
	for {
		n, err := epollWait(p.epfd, events)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		p.mu.Lock()
		conns := p.conns
		p.mu.Unlock()
		ready = ready[:0]
		for _, ev := range events[:n] {
			if ev.Fd == wakeEvent {
				return
			}
			if int(ev.Fd) < len(conns) && conns[ev.Fd].receive(ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0) {
				ready = append(ready, conns[ev.Fd])
			}
		}
		at := time.Now()
		for _, c := range ready {
			c.handleReceived(handle, at, &cache)
		}
		clear(ready)
		if pause > 0 && n < len(events) {
			time.Sleep(pause)
		}
	}
}

// epollWait returns the ready events, waiting for one if there is none.
// Asking without waiting first is a raw system call: during a fan-out
// there are nearly always events after the pause, and a call the runtime
// must treat as blocking hands the processor over and keeps its monitor
// thread waking every 20 µs.
func epollWait(epfd int, events []syscall.EpollEvent) (int, error) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	if r > 0 {
		return int(r), nil
	}
	return syscall.EpollWait(epfd, events, -1)
}

// epollET is EPOLLET as the event mask's type.
const epollET = 1 << 31

// receive reads what the socket has without waiting (a raw system call,
// for the same reason as epollWait): once, unless the read filled the
// buffer, since a read that returns less than asked has emptied the
// socket, or the peer has closed (hup), when it reads up to the end.
// True when there are bytes to handle.
func (c *wsConn) receive(hup bool) bool {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	got := false
	for !c.closed {
		if cap(c.buf)-len(c.buf) < 2048 {
			c.buf = append(c.buf, make([]byte, max(cap(c.buf), 4096))...)[:len(c.buf)]
		}
		var oob [64]byte
		space := c.buf[len(c.buf):cap(c.buf)]
		n, oobn, err := recvmsgNow(c.fd, space, oob[:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil || n == 0 {
			// The server closed the connection: stop watching it.
			c.closed = true
			_ = syscall.EpollCtl(c.poller.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
			c.closeSocket()
			return got
		}
		c.arrived, c.hasArrived = kernelTimestamp(oob[:oobn])
		c.buf = c.buf[:len(c.buf)+n]
		got = true
		if n < len(space) && !hup {
			break
		}
	}
	return got
}

// handleReceived handles every whole frame received, read at time at.
func (c *wsConn) handleReceived(handle frameHandler, at time.Time, cache *tsCache) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	arrived := at
	if c.hasArrived {
		arrived = c.arrived
	}
	off := 0
	for {
		payload, size, ok := parseFrame(c.buf[off:])
		if !ok {
			break
		}
		if payload != nil {
			handle(c, payload, at, arrived, cache)
		}
		off += size
	}
	c.buf = c.buf[:copy(c.buf, c.buf[off:])]
}

// recvmsgNow is recvmsg(2) with MSG_DONTWAIT.
func recvmsgNow(fd int, p, oob []byte) (n, oobn int, err error) {
	var iov syscall.Iovec
	iov.Base = &p[0]
	iov.SetLen(len(p))
	var msg syscall.Msghdr
	msg.Iov = &iov
	msg.Iovlen = 1
	msg.Control = &oob[0]
	msg.SetControllen(len(oob))
	r, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), syscall.MSG_DONTWAIT)
	if e != 0 {
		return 0, 0, e
	}
	return int(r), int(msg.Controllen), nil
}

// tsCache keeps the last commit timestamp parsed: a change's 10,000
// frames carry the same one.
type tsCache struct {
	raw []byte
	t   time.Time
}

func (c *tsCache) parse(raw []byte) (time.Time, bool) {
	if c.raw != nil && bytes.Equal(raw, c.raw) {
		return c.t, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(raw))
	if err != nil {
		return time.Time{}, false
	}
	c.raw, c.t = append(c.raw[:0], raw...), t
	return t, true
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
