package storage_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fluxbase/fluxbase/internal/config"
)

// s3Front stands between Fluxbase and versitygw and sees every request:
// it counts the presigned GETs (the direct download path; minio-go signs
// in the Authorization header instead), the requests still in flight, and
// can answer the presigned GETs wrongly to force the fallback.
type s3Front struct {
	presigned atomic.Int64
	inFlight  atomic.Int64
	// mode: "" forwards everything; "status" answers presigned GETs 503;
	// "chunked" answers them 200 with a chunked body (no Content-Length).
	mode atomic.Value
}

func (f *s3Front) handler(target *url.URL) http.Handler {
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		if r.Method == http.MethodGet && r.URL.Query().Has("X-Amz-Signature") {
			f.presigned.Add(1)
			switch f.mode.Load() {
			case "status":
				http.Error(w, "slow down", http.StatusServiceUnavailable)
				return
			case "chunked":
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, "not the object")
				w.(http.Flusher).Flush()
				_, _ = io.WriteString(w, "and still not")
				return
			}
		}
		proxy.ServeHTTP(w, r)
	})
}

// newFrontedEnv is an S3 env whose endpoint is an s3Front before versitygw.
func newFrontedEnv(t *testing.T, configure ...func(*config.Config)) (*env, *s3Front) {
	t.Helper()
	f := &s3Front{}
	f.mode.Store("")
	e := newEnv(t, "s3", append([]func(*config.Config){func(c *config.Config) {
		target, err := url.Parse(c.Storage.S3.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(f.handler(target))
		t.Cleanup(srv.Close)
		c.Storage.S3.Endpoint = srv.URL
	}}, configure...)...)
	return e, f
}

// TestS3DirectDownloads covers the downloads that S3 GETs of Fluxbase's
// own serve (spliced to the client), with and without a write timeout
// (which hands the body over in chunks), and their fallback to minio-go.
func TestS3DirectDownloads(t *testing.T) {
	t.Parallel()
	for _, wt := range []time.Duration{0, 30 * time.Second} {
		t.Run(fmt.Sprintf("write_timeout=%s", wt), func(t *testing.T) {
			t.Parallel()
			e, front := newFrontedEnv(t, func(c *config.Config) { c.HTTP.WriteTimeout = wt })
			testS3DirectDownloads(t, e, front)
		})
	}
}

func testS3DirectDownloads(t *testing.T, e *env, front *s3Front) {
	e.createBucket(t, "big", false)
	large := randomBytes(t, 3<<20+12345)
	small := randomBytes(t, 4096)
	e.mustDo(t, 200, "POST", "/storage/v1/object/big/large.bin", e.service("Content-Type", "application/octet-stream"), large)
	e.mustDo(t, 200, "POST", "/storage/v1/object/big/small.bin", e.service("Content-Type", "application/octet-stream"), small)

	get := func(t *testing.T, path string, kv ...string) (*http.Response, []byte) {
		t.Helper()
		return e.Do(t, "GET", path, e.service(kv...), nil)
	}
	var etag string
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"full download is direct", func(t *testing.T) {
			before := front.presigned.Load()
			res, body := get(t, "/storage/v1/object/big/large.bin")
			if res.StatusCode != 200 || !bytes.Equal(body, large) {
				t.Fatalf("status %d, %d bytes (want %d, identical)", res.StatusCode, len(body), len(large))
			}
			if got := res.Header.Get("Content-Length"); got != fmt.Sprint(len(large)) {
				t.Errorf("Content-Length %q", got)
			}
			etag = res.Header.Get("ETag")
			if etag == "" || res.Header.Get("Last-Modified") == "" {
				t.Errorf("no ETag or Last-Modified: %v", res.Header)
			}
			if n := front.presigned.Load() - before; n != 1 {
				t.Errorf("%d direct GETs, want 1", n)
			}
		}},
		{"native route is direct too", func(t *testing.T) {
			before := front.presigned.Load()
			res, body := get(t, "/api/v1/storage/big/large.bin")
			if res.StatusCode != 200 || !bytes.Equal(body, large) {
				t.Fatalf("status %d, %d bytes", res.StatusCode, len(body))
			}
			if n := front.presigned.Load() - before; n != 1 {
				t.Errorf("%d direct GETs, want 1", n)
			}
		}},
		{"range from the middle", func(t *testing.T) {
			res, body := get(t, "/storage/v1/object/big/large.bin", "Range", "bytes=1000-2098151")
			if res.StatusCode != 206 || !bytes.Equal(body, large[1000:2098152]) {
				t.Fatalf("status %d, %d bytes", res.StatusCode, len(body))
			}
			if got, want := res.Header.Get("Content-Range"), fmt.Sprintf("bytes 1000-2098151/%d", len(large)); got != want {
				t.Errorf("Content-Range %q, want %q", got, want)
			}
		}},
		{"open range to the end", func(t *testing.T) {
			res, body := get(t, "/storage/v1/object/big/large.bin", "Range", "bytes=777-")
			if res.StatusCode != 206 || !bytes.Equal(body, large[777:]) {
				t.Fatalf("status %d, %d bytes", res.StatusCode, len(body))
			}
		}},
		{"small suffix range", func(t *testing.T) {
			res, body := get(t, "/storage/v1/object/big/large.bin", "Range", "bytes=-10")
			if res.StatusCode != 206 || !bytes.Equal(body, large[len(large)-10:]) {
				t.Fatalf("status %d, body %x", res.StatusCode, body)
			}
		}},
		{"several ranges", func(t *testing.T) {
			res, body := get(t, "/storage/v1/object/big/large.bin", "Range", "bytes=0-9,2000000-2000009")
			if res.StatusCode != 206 || !strings.HasPrefix(res.Header.Get("Content-Type"), "multipart/byteranges") ||
				!bytes.Contains(body, large[:10]) || !bytes.Contains(body, large[2000000:2000010]) {
				t.Fatalf("status %d, %s", res.StatusCode, res.Header.Get("Content-Type"))
			}
		}},
		{"If-None-Match", func(t *testing.T) {
			res, body := get(t, "/storage/v1/object/big/large.bin", "If-None-Match", etag)
			if res.StatusCode != 304 || len(body) != 0 {
				t.Fatalf("status %d, %d bytes", res.StatusCode, len(body))
			}
		}},
		{"small objects stay on minio-go", func(t *testing.T) {
			before := front.presigned.Load()
			res, body := get(t, "/storage/v1/object/big/small.bin")
			if res.StatusCode != 200 || !bytes.Equal(body, small) {
				t.Fatalf("status %d, %d bytes", res.StatusCode, len(body))
			}
			if n := front.presigned.Load() - before; n != 0 {
				t.Errorf("%d direct GETs for a small object", n)
			}
		}},
		{"fallback on an unexpected status", func(t *testing.T) {
			front.mode.Store("status")
			defer front.mode.Store("")
			before := front.presigned.Load()
			res, body := get(t, "/storage/v1/object/big/large.bin")
			if res.StatusCode != 200 || !bytes.Equal(body, large) {
				t.Fatalf("status %d, %d bytes", res.StatusCode, len(body))
			}
			res, body = get(t, "/storage/v1/object/big/large.bin", "Range", "bytes=5-")
			if res.StatusCode != 206 || !bytes.Equal(body, large[5:]) {
				t.Fatalf("range: status %d, %d bytes", res.StatusCode, len(body))
			}
			if front.presigned.Load() == before {
				t.Error("no direct GET was tried")
			}
		}},
		{"fallback on a body without Content-Length", func(t *testing.T) {
			front.mode.Store("chunked")
			defer front.mode.Store("")
			res, body := get(t, "/storage/v1/object/big/large.bin")
			if res.StatusCode != 200 || !bytes.Equal(body, large) {
				t.Fatalf("status %d, %d bytes", res.StatusCode, len(body))
			}
		}},
		{"bytes missing from S3", func(t *testing.T) {
			e.mustDo(t, 200, "POST", "/storage/v1/object/big/gone.bin", e.service("Content-Type", "application/octet-stream"), large)
			e.mustDo(t, 200, "POST", "/storage/v1/object/big/gone-small.bin", e.service("Content-Type", "application/octet-stream"), small)
			// Remove the bytes behind Fluxbase's back: both paths answer
			// as for a missing object.
			for _, name := range []string{"gone.bin", "gone-small.bin"} {
				var version string
				if err := e.DB.DB.Admin.QueryRow(context.Background(),
					`select version from storage.objects where bucket_id = 'big' and name = $1`, name).Scan(&version); err != nil {
					t.Fatal(err)
				}
				if err := e.s3.Client.RemoveObject(context.Background(), e.s3b, "fb/"+version, minio.RemoveObjectOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range []string{"gone.bin", "gone-small.bin"} {
				res, body := get(t, "/storage/v1/object/big/"+name)
				if res.StatusCode != 404 || !strings.Contains(string(body), `"code":"NoSuchKey"`) || !strings.Contains(string(body), `"statusCode":"404"`) {
					t.Errorf("%s: status %d, body %s", name, res.StatusCode, body)
				}
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
}

// TestS3DirectDownloadClientGone checks that a client that goes away in
// the middle of a spliced download ends the GET to S3.
func TestS3DirectDownloadClientGone(t *testing.T) {
	t.Parallel()
	e, front := newFrontedEnv(t)
	e.createBucket(t, "big", false)
	data := randomBytes(t, 48<<20)
	e.mustDo(t, 200, "POST", "/storage/v1/object/big/movie.bin", e.service("Content-Type", "video/mp4"), data)

	before := front.presigned.Load()
	req, err := http.NewRequest("GET", e.URL+"/storage/v1/object/big/movie.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range e.service() {
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: &http.Transport{}}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(res.Body, head); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(head, data[:len(head)]) {
		t.Fatal("first MiB differs")
	}
	if n := front.presigned.Load() - before; n != 1 {
		t.Errorf("%d direct GETs, want 1", n)
	}
	_ = res.Body.Close() // closes the connection: the rest is unread
	client.CloseIdleConnections()
	eventually(t, "the GET to S3 ends", func() bool { return front.inFlight.Load() == 0 })

	res2, body := e.Do(t, "GET", "/storage/v1/object/big/movie.bin", e.service("Range", "bytes=40000000-40000099"), nil)
	if res2.StatusCode != 206 || !bytes.Equal(body, data[40000000:40000100]) {
		t.Fatalf("after the disconnect: status %d, %d bytes", res2.StatusCode, len(body))
	}
}
