package httpx

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// ResponseWriter wraps an http.ResponseWriter to record the status code and
// the number of body bytes written. It keeps the optional capabilities of
// the writer it wraps: flushing (for streamed responses), hijacking (for
// WebSockets), io.ReaderFrom (sendfile for file downloads) and Unwrap, so
// that http.ResponseController reaches deadlines and full duplex below it.
type ResponseWriter struct {
	w           http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	hijacked    bool
}

// WrapResponseWriter returns w itself when it already is a *ResponseWriter,
// so stacked middleware share one recorder instead of nesting several.
func WrapResponseWriter(w http.ResponseWriter) *ResponseWriter {
	if rw, ok := w.(*ResponseWriter); ok {
		return rw
	}
	return &ResponseWriter{w: w}
}

// Status is the final status code written, 0 when none was written yet.
func (rw *ResponseWriter) Status() int { return rw.status }

// BytesWritten counts body bytes handed to the underlying writer.
func (rw *ResponseWriter) BytesWritten() int64 { return rw.bytes }

// WroteHeader reports whether the status line and headers have been sent,
// after which the response can no longer be replaced by an error.
func (rw *ResponseWriter) WroteHeader() bool { return rw.wroteHeader }

// Hijacked reports whether the connection was taken over by the handler.
func (rw *ResponseWriter) Hijacked() bool { return rw.hijacked }

// Unwrap lets http.ResponseController find the writer below.
func (rw *ResponseWriter) Unwrap() http.ResponseWriter { return rw.w }

func (rw *ResponseWriter) Header() http.Header { return rw.w.Header() }

func (rw *ResponseWriter) WriteHeader(code int) {
	if !rw.wroteHeader {
		// 1xx informational responses (103 Early Hints) may precede the
		// final one; 101 Switching Protocols is final.
		if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
			rw.w.WriteHeader(code)
			return
		}
		rw.status = code
		rw.wroteHeader = true
	}
	rw.w.WriteHeader(code)
}

func (rw *ResponseWriter) implicitHeader() {
	if !rw.wroteHeader {
		rw.status = http.StatusOK
		rw.wroteHeader = true
	}
}

func (rw *ResponseWriter) Write(b []byte) (int, error) {
	rw.implicitHeader()
	n, err := rw.w.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the zero-copy path of the underlying writer (sendfile
// from an *os.File) available through the wrapper.
func (rw *ResponseWriter) ReadFrom(src io.Reader) (int64, error) {
	rw.implicitHeader()
	var n int64
	var err error
	if rf, ok := rw.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{rw.w}, src)
	}
	rw.bytes += n
	return n, err
}

// writerOnly hides ReadFrom so io.Copy does not recurse into it.
type writerOnly struct{ io.Writer }

// Flush sends buffered data to the client. It is a no-op when the writer
// below cannot flush; FlushError reports that case.
func (rw *ResponseWriter) Flush() { _ = rw.FlushError() }

// FlushError is what http.ResponseController.Flush calls.
func (rw *ResponseWriter) FlushError() error {
	rw.implicitHeader()
	return http.NewResponseController(rw.w).Flush()
}

// Hijack hands the connection to the handler (WebSocket upgrades). It fails
// with http.ErrNotSupported on HTTP/2.
func (rw *ResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(rw.w).Hijack()
	if err == nil {
		rw.hijacked = true
		if !rw.wroteHeader {
			rw.status = http.StatusSwitchingProtocols
			rw.wroteHeader = true
		}
	}
	return c, brw, err
}

// innermost follows Unwrap to the writer net/http created, which is the one
// http.MaxBytesReader needs to close the connection on an oversized body.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for i := 0; i < 32; i++ {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
	return w
}
