package storage_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// Object names can never address anything outside their bucket, and
// malformed input always gets a 4xx with a JSON error.
func TestHostileNames(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *env) {
		e.createBucket(t, "files", false)
		e.createBucket(t, "other", false)
		e.mustDo(t, 200, "POST", "/storage/v1/object/other/secret.txt", e.service("Content-Type", "text/plain"), "other bucket")
		paths := []string{
			"/storage/v1/object/files/../other/secret.txt",
			"/storage/v1/object/files/a/../../other/secret.txt",
			"/storage/v1/object/files/%2e%2e/other/secret.txt",
			"/storage/v1/object/files/%2E%2E%2Fother%2Fsecret.txt",
			"/storage/v1/object/files//etc/passwd",
			"/storage/v1/object/files/a%00b",
			"/storage/v1/object/files/a%0Ab",
			"/storage/v1/object/files/a//b",
			"/storage/v1/object/files/./a",
			"/storage/v1/object/files/" + strings.Repeat("n", 1100),
			"/storage/v1/object/files/%ff%fe",
			"/storage/v1/object/..%2Fother/secret.txt",
			"/api/v1/storage/files/../other/secret.txt",
			"/api/v1/storage/files/%2e%2e%2fother%2fsecret.txt",
			"/api/v1/storage/files/a%00b",
		}
		for _, p := range paths {
			for _, m := range []string{"POST", "GET"} {
				code, body, _ := e.do(t, m, p, e.service("Content-Type", "text/plain"), "evil")
				if code < 400 || code >= 500 || !strings.HasPrefix(body, "{") {
					t.Errorf("%s %s: %d %s", m, p, code, body)
				}
				if strings.Contains(body, "other bucket") {
					t.Errorf("%s %s read another bucket's object", m, p)
				}
			}
		}
		if n := e.objectRows(t); n != 1 {
			t.Errorf("%d rows, want 1", n)
		}
		eventually(t, "only the one object's bytes", func() bool { return len(e.storedKeys(t)) == 1 })

		apitest.Run(t, e.Server, []apitest.Scenario{
			{Name: "json body too large", Method: "POST", Path: "/storage/v1/object/list/files", Headers: e.service("Content-Type", "application/json"),
				Body: `{"prefix":"` + strings.Repeat("a", 2<<20) + `"}`, ExpectedStatus: 413},
			{Name: "list negative offset", Method: "POST", Path: "/storage/v1/object/list/files", Headers: e.service(),
				Body: map[string]any{"offset": -1}, ExpectedStatus: 400},
			{Name: "list wrong types", Method: "POST", Path: "/storage/v1/object/list/files", Headers: e.service(),
				Body: `{"limit":"many"}`, ExpectedStatus: 400},
			{Name: "remove with a bad name", Method: "DELETE", Path: "/storage/v1/object/files", Headers: e.service(),
				Body: map[string]any{"prefixes": []string{"../other/secret.txt"}}, ExpectedStatus: 400},
			{Name: "bad x-upsert", Method: "POST", Path: "/storage/v1/object/files/a.txt", Headers: e.service("x-upsert", "maybe"),
				Body: "x", ExpectedStatus: 400},
			{Name: "bad x-metadata", Method: "POST", Path: "/storage/v1/object/files/a.txt", Headers: e.service("x-metadata", "!!!"),
				Body: "x", ExpectedStatus: 400},
			{Name: "multipart without a boundary", Method: "POST", Path: "/storage/v1/object/files/a.txt",
				Headers: e.service("Content-Type", "multipart/form-data"), Body: "x", ExpectedStatus: 400},
			{Name: "multipart without a file", Method: "POST", Path: "/storage/v1/object/files/a.txt",
				Headers: e.service("Content-Type", "multipart/form-data; boundary=zz"), Body: "--zz\r\nContent-Disposition: form-data; name=\"cacheControl\"\r\n\r\n1\r\n--zz--\r\n", ExpectedStatus: 400},
			{Name: "malformed multipart", Method: "POST", Path: "/storage/v1/object/files/a.txt",
				Headers: e.service("Content-Type", "multipart/form-data; boundary=zz"), Body: "garbage", ExpectedStatus: 400},
			{Name: "copy with traversal", Method: "POST", Path: "/storage/v1/object/copy", Headers: e.service(),
				Body: map[string]any{"bucketId": "other", "sourceKey": "secret.txt", "destinationKey": "../files/x"}, ExpectedStatus: 400},
		})
		if n := e.objectRows(t); n != 1 {
			t.Errorf("%d rows, want 1", n)
		}
	})
}

// rawUpload opens a connection and sends an upload's headers and part of
// its body, returning the connection.
func (e *env) rawUpload(t *testing.T, path, extraHeaders string, body []byte) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/octet-stream\r\n%s\r\n",
		path, e.ServiceRoleKey, extraHeaders)
	if _, err := conn.Write(append([]byte(req), body...)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// Interrupted, lying and oversized uploads leave neither a row nor bytes.
func TestBrokenUploads(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *env) {
		e.createBucket(t, "files", false, `,"file_size_limit":1000000`)
		clean := func(t *testing.T) {
			t.Helper()
			eventually(t, "no rows, no bytes, no pending keys", func() bool {
				var gc int
				_ = e.DB.DB.Admin.QueryRow(context.Background(), `select count(*) from storage.gc`).Scan(&gc)
				return e.objectRows(t) == 0 && len(e.storedKeys(t)) == 0 && gc == 0
			})
		}

		t.Run("client disconnects mid-upload", func(t *testing.T) {
			conn := e.rawUpload(t, "/storage/v1/object/files/cut.bin", "Content-Length: 900000\r\n", make([]byte, 300000))
			time.Sleep(50 * time.Millisecond) // let the bytes reach the backend
			_ = conn.Close()
			clean(t)
		})

		t.Run("body shorter than Content-Length", func(t *testing.T) {
			conn := e.rawUpload(t, "/storage/v1/object/files/short.bin", "Content-Length: 5000\r\n", make([]byte, 1000))
			defer conn.Close()
			_ = conn.(*net.TCPConn).CloseWrite()
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != 400 || !strings.Contains(string(b), `"statusCode":"400"`) {
				t.Errorf("status %d: %s", res.StatusCode, b)
			}
			clean(t)
		})

		t.Run("declared size over the limit is refused before reading", func(t *testing.T) {
			conn := e.rawUpload(t, "/storage/v1/object/files/big.bin", "Content-Length: 5000000\r\n", nil)
			defer conn.Close()
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 413 {
				t.Errorf("status %d", res.StatusCode)
			}
			clean(t)
		})

		t.Run("chunked upload crossing the limit is cut off", func(t *testing.T) {
			pr, pw := io.Pipe()
			go func() {
				chunk := make([]byte, 64<<10)
				for i := 0; i < 100; i++ { // 6.4 MB, far past the limit
					if _, err := pw.Write(chunk); err != nil {
						return
					}
				}
				_ = pw.Close()
			}()
			req, _ := http.NewRequest("POST", e.URL+"/storage/v1/object/files/stream.bin", pr)
			req.Header.Set("Authorization", "Bearer "+e.ServiceRoleKey)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			_ = pr.CloseWithError(io.ErrClosedPipe)
			if res.StatusCode != 413 {
				t.Errorf("status %d: %s", res.StatusCode, b)
			}
			clean(t)
		})

		t.Run("global limit applies too", func(t *testing.T) {
			e2 := newEnv(t, e.backend, func(c *configT) { c.Storage.MaxFileSize = 10 })
			e2.createBucket(t, "b", false)
			if code, b, _ := e2.do(t, "POST", "/storage/v1/object/b/x", e2.service(), "01234567890"); code != 413 {
				t.Errorf("status %d: %s", code, b)
			}
		})
	})
}
