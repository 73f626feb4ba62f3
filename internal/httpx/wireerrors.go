package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
)

// A request that net/http cannot parse (an undecodable path such as
// /rest/v1/%ZZ, a malformed request line or header, headers over
// MaxHeaderBytes, an unknown Transfer-Encoding, an HTTP version it does not
// speak) never reaches a handler: net/http answers it itself, in plain
// text, with one write to the connection of a fixed form:
//
//	HTTP/1.1 <status line><errorHeaders><body>
//
// JSONErrors wraps the listener so that these answers, like every other
// error Fluxbase gives, carry a JSON body {code, message, details, hint},
// and a 4xx status: the 501 for an unknown transfer coding and the 505 for
// an unknown HTTP version become 400, since both are malformed requests.
// A handler's response never has this form (net/http adds Date and
// Content-Length to those), so nothing else is touched.

// netHTTPErrorHeaders are the headers net/http writes with its own error
// answers.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// JSONErrors returns ln with net/http's plain-text answers to unparsable
// requests rewritten as Fluxbase's JSON errors; observe, when not nil, is
// told the status of each (such requests reach no handler, so neither the
// access log nor the request metrics see them).
func JSONErrors(ln net.Listener, observe func(status int)) net.Listener {
	return jsonErrorListener{ln, observe}
}

type jsonErrorListener struct {
	net.Listener
	observe func(status int)
}

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c, observe: l.observe}, nil
}

// jsonErrorConn is a connection on which net/http's own error answers are
// rewritten. It forwards what is looked for on connections
// beyond net.Conn: ReadFrom and CloseWrite by net/http (sendfile and
// splice for file downloads, a clean close after 431), SyscallConn by the
// realtime server (a hijacked WebSocket waits for input without a
// goroutine of its own, and writes without one).
type jsonErrorConn struct {
	net.Conn
	observe func(status int)
}

func (c *jsonErrorConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func (c *jsonErrorConn) Write(b []byte) (int, error) {
	if rewritten, status := rewriteNetHTTPError(b); rewritten != nil {
		if c.observe != nil {
			c.observe(status)
		}
		if _, err := c.Conn.Write(rewritten); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *jsonErrorConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

func (c *jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// rewriteNetHTTPError returns the JSON answer for b and its status when b
// is one of net/http's plain-text error answers, and nil otherwise.
func rewriteNetHTTPError(b []byte) ([]byte, int) {
	const proto = "HTTP/1.1 "
	// A success, the common case, is decided by its first bytes.
	if len(b) < len(proto)+3 || b[len(proto)] < '4' || !bytes.HasPrefix(b, []byte(proto)) {
		return nil, 0
	}
	statusLine, body, ok := bytes.Cut(b[len(proto):], []byte(netHTTPErrorHeaders))
	if !ok || len(statusLine) < 3 || bytes.ContainsAny(statusLine, "\r\n") {
		return nil, 0
	}
	code, _ := strconv.Atoi(string(statusLine[:3]))
	// What follows the status text, as in "400 Bad Request: missing
	// required Host header", is the reason net/http gives.
	reason := ""
	if _, r, ok := bytes.Cut(statusLine, []byte(": ")); ok {
		reason = string(r)
	}
	e := wireError(code, reason, string(body))
	if e == nil {
		return nil, 0
	}
	out, err := json.Marshal(e)
	if err != nil {
		return nil, 0
	}
	out = append(out, '\n')
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		e.Status, http.StatusText(e.Status), len(out), out), e.Status
}

// wireError is the Error for one of net/http's answers: its status code,
// the reason it gave in the status line, and its body.
func wireError(code int, reason, body string) *Error {
	switch {
	case code == http.StatusRequestHeaderFieldsTooLarge:
		return NewError(code, "headers_too_large", "the request line and headers are larger than the server accepts").
			WithDetails(fmt.Sprintf("limit is %d bytes", MaxHeaderBytes)).
			WithHint("send shorter headers: fewer or smaller cookies, a shorter URL")
	case code == http.StatusNotImplemented && body == "Unsupported transfer encoding":
		return NewError(http.StatusBadRequest, "unsupported_transfer_encoding", "the request's Transfer-Encoding is not supported").
			WithHint("send the body with Content-Length, or with Transfer-Encoding: chunked")
	case code == http.StatusHTTPVersionNotSupported:
		return NewError(http.StatusBadRequest, "unsupported_http_version", "the request's HTTP version is not supported").
			WithHint("use HTTP/1.1")
	case code == http.StatusBadRequest && reason != "":
		return NewError(code, "malformed_request", "the request is not valid HTTP: "+reason)
	case code == http.StatusBadRequest:
		return NewError(code, "malformed_request", "the request is not valid HTTP").
			WithHint("check the request line (a path's % must start a two-digit hex escape) and the syntax of every header")
	}
	return nil
}
