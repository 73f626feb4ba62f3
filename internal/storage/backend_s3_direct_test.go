package storage

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

func TestDirectGetAllowed(t *testing.T) {
	proxyAll := func(*http.Request) (*url.URL, error) { return url.Parse("http://proxy.internal:3128") }
	proxyNone := func(*http.Request) (*url.URL, error) { return nil, nil }
	proxyBroken := func(*http.Request) (*url.URL, error) { return nil, errors.New("bad proxy setting") }
	for _, c := range []struct {
		endpoint string
		proxy    func(*http.Request) (*url.URL, error)
		want     bool
	}{
		{"http://127.0.0.1:9000", nil, true},
		{"http://minio.internal:9000", proxyNone, true},
		{"https://s3.eu-west-1.amazonaws.com", nil, false},
		{"https://minio.internal", proxyNone, false},
		{"http://minio.internal:9000", proxyAll, false},
		{"http://minio.internal:9000", proxyBroken, false},
	} {
		u, err := url.Parse(c.endpoint)
		if err != nil {
			t.Fatal(err)
		}
		if got := directGetAllowed(u, c.proxy); got != c.want {
			t.Errorf("%s (proxy set: %t): %t, want %t", c.endpoint, c.proxy != nil, got, c.want)
		}
	}
}

func TestDirectInfo(t *testing.T) {
	res := func(status int, length int64, contentRange string, te ...string) *http.Response {
		h := http.Header{"Last-Modified": {"Wed, 25 Nov 2026 10:00:00 GMT"}}
		if contentRange != "" {
			h.Set("Content-Range", contentRange)
		}
		return &http.Response{StatusCode: status, Status: http.StatusText(status), ContentLength: length, Header: h, TransferEncoding: te}
	}
	for _, c := range []struct {
		name     string
		res      *http.Response
		off      int64
		wantSize int64 // -1: falls back
	}{
		{"whole object", res(200, 5000, ""), 0, 5000},
		{"range to the end", res(206, 4000, "bytes 1000-4999/5000"), 1000, 5000},
		{"range elsewhere", res(206, 4000, "bytes 999-4998/5000"), 1000, -1},
		{"range short of the end", res(206, 3000, "bytes 1000-3999/5000"), 1000, -1},
		{"length disagrees with the range", res(206, 10, "bytes 1000-4999/5000"), 1000, -1},
		{"malformed Content-Range", res(206, 4000, "bytes 1000-/5000"), 1000, -1},
		{"whole object for a range", res(200, 5000, ""), 1000, -1},
		{"chunked", res(200, -1, "", "chunked"), 0, -1},
		{"server error", res(500, 10, ""), 0, -1},
		{"redirect", res(301, 0, ""), 0, -1},
	} {
		info, err := directInfo(c.res, c.off)
		switch {
		case c.wantSize < 0 && !errors.Is(err, errS3Indirect):
			t.Errorf("%s: %v, %v; want a fallback", c.name, info, err)
		case c.wantSize >= 0 && (err != nil || info.Size != c.wantSize || info.ModTime.IsZero()):
			t.Errorf("%s: %v, %v; want size %d", c.name, info, err, c.wantSize)
		}
	}
}
