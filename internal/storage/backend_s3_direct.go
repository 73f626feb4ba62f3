package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Large downloads from a plain-HTTP S3 endpoint bypass minio-go's HTTP
// client: Fluxbase presigns the GET with minio-go (locally, no request),
// sends it on a connection of its own and hands that connection, once the
// response headers are read, to the client's connection as an
// *io.LimitedReader around a *net.TCPConn. net/http then moves the body
// with splice(2), from socket to socket inside the kernel, instead of
// receiving every byte into Fluxbase and sending it out again.
//
// It applies only where it changes nothing else: an http:// endpoint (TLS
// needs the bytes in user space), no HTTP proxy for it, objects of at
// least s3DirectMin bytes (a small one is cheaper on minio-go's pooled
// connections), and an answer that is exactly what was asked (200 or a
// 206 for the requested range, with a Content-Length and no transfer
// coding). Anything else falls back to minio-go's GET, which answers or
// fails as it always has.

// s3DirectMin is the smallest download (bytes still to send) that gets a
// connection of its own.
const s3DirectMin = 1 << 20

// s3DirectExpiry is the life of the presigned URL of one direct GET: it is
// used at once, by Fluxbase only.
const s3DirectExpiry = time.Minute

// Timeouts of a direct GET: minio-go's transport's, so that a stalled S3
// endpoint fails the same way on both paths.
const (
	s3DialTimeout   = 30 * time.Second
	s3DialKeepAlive = 30 * time.Second
	s3HeaderTimeout = time.Minute
)

// errS3Indirect says that a direct GET does not apply or got an answer it
// cannot use: the caller falls back to minio-go.
var errS3Indirect = errors.New("storage: direct S3 GET not applicable")

// directGetAllowed reports whether downloads from endpoint may use direct
// GETs: plain HTTP and no proxy configured for it (minio-go's transport
// takes its proxy from the environment in the same way).
func directGetAllowed(endpoint *url.URL, proxy func(*http.Request) (*url.URL, error)) bool {
	if endpoint.Scheme != "http" {
		return false
	}
	if proxy == nil {
		return true
	}
	p, err := proxy(&http.Request{URL: endpoint})
	return err == nil && p == nil
}

// s3RawBody is the body of a direct GET: what the header read left in br,
// then the connection. Closing it closes the connection.
type s3RawBody struct {
	conn *net.TCPConn
	br   *bufio.Reader
	// remaining is how many body bytes the response still holds.
	remaining int64
	stop      func() bool
}

func (b *s3RawBody) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if err == io.EOF && b.remaining > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// writeTo sends the next n bytes of the body to w: first those already
// buffered, then the rest straight from the connection, which w's
// ReadFrom splices when w is (or passes through to) a TCP connection.
func (b *s3RawBody) writeTo(w io.Writer, n int64) (int64, error) {
	n = min(n, b.remaining)
	var sent int64
	if k := min(int64(b.br.Buffered()), n); k > 0 {
		p, _ := b.br.Peek(int(k))
		m, err := w.Write(p)
		_, _ = b.br.Discard(m)
		sent += int64(m)
		b.remaining -= int64(m)
		if err != nil {
			return sent, err
		}
	}
	// Unless n bytes are sent already, br is empty here and the rest
	// comes straight from the connection.
	m, err := b.splice(w, n-sent)
	return sent + m, err
}

// splice sends n bytes from the connection to w.
func (b *s3RawBody) splice(w io.Writer, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	m, err := io.Copy(w, &io.LimitedReader{R: b.conn, N: n})
	b.remaining -= m
	if err == nil && m < n {
		err = io.ErrUnexpectedEOF
	}
	return m, err
}

func (b *s3RawBody) Close() error {
	b.stop()
	return b.conn.Close()
}

// getDirect sends a presigned GET for k, from byte off (0: the whole
// object) to the end, on a connection of its own. It fails with
// ErrNotFound on a 404 and with errS3Indirect (wrapping the cause) on
// anything that minio-go should retry.
func (s *S3) getDirect(ctx context.Context, k string, off int64) (*s3RawBody, ObjectInfo, error) {
	var extra http.Header
	if off > 0 {
		extra = http.Header{"Range": {"bytes=" + strconv.FormatInt(off, 10) + "-"}}
	}
	u, err := s.client.PresignHeader(ctx, http.MethodGet, s.bucket, k, s3DirectExpiry, nil, extra)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("%w: presign: %v", errS3Indirect, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("%w: %v", errS3Indirect, err)
	}
	for name, v := range extra {
		req.Header[name] = v
	}
	req.Close = true
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	d := net.Dialer{Timeout: s3DialTimeout, KeepAlive: s3DialKeepAlive}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("%w: %v", errS3Indirect, err)
	}
	conn, ok := c.(*net.TCPConn)
	if !ok {
		_ = c.Close()
		return nil, ObjectInfo{}, errS3Indirect
	}
	// The request's end (a client gone, a shutdown) closes the connection,
	// which ends any read or splice blocked on it.
	body := &s3RawBody{conn: conn, br: bufio.NewReader(conn)}
	body.stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
	info, err := body.start(req, off)
	if err != nil {
		_ = body.Close()
		if ctx.Err() != nil {
			return nil, ObjectInfo{}, ctx.Err()
		}
		return nil, ObjectInfo{}, err
	}
	return body, info, nil
}

// start sends req and reads the response's headers.
func (b *s3RawBody) start(req *http.Request, off int64) (ObjectInfo, error) {
	if err := b.conn.SetDeadline(time.Now().Add(s3HeaderTimeout)); err != nil {
		return ObjectInfo{}, fmt.Errorf("%w: %v", errS3Indirect, err)
	}
	if err := req.Write(b.conn); err != nil {
		return ObjectInfo{}, fmt.Errorf("%w: sending: %v", errS3Indirect, err)
	}
	res, err := http.ReadResponse(b.br, req)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("%w: reading the answer: %v", errS3Indirect, err)
	}
	if res.StatusCode == http.StatusNotFound {
		return ObjectInfo{}, fmt.Errorf("%w: S3 answered 404", ErrNotFound)
	}
	info, err := directInfo(res, off)
	if err != nil {
		return ObjectInfo{}, err
	}
	// Like minio-go's transport, no deadline once the body flows: a slow
	// client is bounded by the write deadline of its own connection.
	if err := b.conn.SetDeadline(time.Time{}); err != nil {
		return ObjectInfo{}, fmt.Errorf("%w: %v", errS3Indirect, err)
	}
	b.remaining = res.ContentLength
	return info, nil
}

// directInfo checks that res is the body asked for, from off to the end,
// and describes the object.
func directInfo(res *http.Response, off int64) (ObjectInfo, error) {
	if res.ContentLength < 0 || len(res.TransferEncoding) > 0 {
		return ObjectInfo{}, fmt.Errorf("%w: no Content-Length", errS3Indirect)
	}
	info := ObjectInfo{Size: res.ContentLength}
	if t, err := http.ParseTime(res.Header.Get("Last-Modified")); err == nil {
		info.ModTime = t
	}
	switch {
	case off == 0 && res.StatusCode == http.StatusOK:
		return info, nil
	case off > 0 && res.StatusCode == http.StatusPartialContent:
		start, end, size, ok := parseContentRange(res.Header.Get("Content-Range"))
		if !ok || start != off || end != size-1 || end-start+1 != res.ContentLength {
			return ObjectInfo{}, fmt.Errorf("%w: unexpected Content-Range %q", errS3Indirect, res.Header.Get("Content-Range"))
		}
		info.Size = size
		return info, nil
	}
	return ObjectInfo{}, fmt.Errorf("%w: S3 answered %s", errS3Indirect, res.Status)
}

// parseContentRange parses "bytes start-end/size".
func parseContentRange(v string) (start, end, size int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	start, err1 = strconv.ParseInt(a, 10, 64)
	end, err2 = strconv.ParseInt(b, 10, 64)
	size, err3 = strconv.ParseInt(total, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || start < 0 || end < start || size <= end {
		return 0, 0, 0, false
	}
	return start, end, size, true
}
