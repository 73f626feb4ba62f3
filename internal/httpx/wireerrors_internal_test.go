package httpx

import (
	"strings"
	"testing"
)

// FuzzRewriteNetHTTPError: no write, however it starts, may panic, and only
// net/http's own answers are rewritten.
func FuzzRewriteNetHTTPError(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 400 Bad Request" + netHTTPErrorHeaders + "400 Bad Request",
		"HTTP/1.1 431 Request Header Fields Too Large" + netHTTPErrorHeaders + "431 Request Header Fields Too Large",
		"HTTP/1.1 501 Not Implemented" + netHTTPErrorHeaders + "Unsupported transfer encoding",
		"HTTP/1.1 4" + netHTTPErrorHeaders,
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 ", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, status := rewriteNetHTTPError(b)
		if out == nil {
			return
		}
		if status < 400 || status >= 500 {
			t.Fatalf("rewrote %q with status %d", b, status)
		}
		if !strings.HasPrefix(string(b), "HTTP/1.1 ") || !strings.Contains(string(b), netHTTPErrorHeaders) {
			t.Fatalf("rewrote %q, which is not net/http's answer", b)
		}
	})
}
