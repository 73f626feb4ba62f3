package storage_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

func TestNativeAPI(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *env) {
		js := e.service("Content-Type", "application/json")
		e.mustDo(t, 201, "POST", "/api/v1/storage/buckets/media", js, `{"public":false}`)
		apitest.Run(t, e.Server, []apitest.Scenario{
			{Name: "upload", Method: "POST", Path: "/api/v1/storage/media/a/one.txt", Headers: e.service("Content-Type", "text/plain"),
				Body: "one", ExpectedStatus: 201, ExpectedJSON: map[string]any{"bucket_id": "media", "name": "a/one.txt", "size": 3, "mime_type": "text/plain"}},
			{Name: "upload exists", Method: "POST", Path: "/api/v1/storage/media/a/one.txt", Headers: e.service("Content-Type", "text/plain"),
				Body: "1", ExpectedStatus: 409, ExpectedJSON: map[string]any{"code": "Duplicate"}},
			{Name: "upload with upsert", Method: "POST", Path: "/api/v1/storage/media/a/one.txt?upsert=true", Headers: e.service("Content-Type", "text/plain"),
				Body: "uno", ExpectedStatus: 200},
			{Name: "put creates", Method: "PUT", Path: "/api/v1/storage/media/a/two.txt", Headers: e.service("Content-Type", "text/plain"),
				Body: "two", ExpectedStatus: 201},
			{Name: "put replaces", Method: "PUT", Path: "/api/v1/storage/media/a/two.txt", Headers: e.service("Content-Type", "text/plain"),
				Body: "dos", ExpectedStatus: 200},
			{Name: "more", Method: "PUT", Path: "/api/v1/storage/media/a/b/three.txt", Headers: e.service(), Body: "3", ExpectedStatus: 201},
			{Name: "root file", Method: "PUT", Path: "/api/v1/storage/media/top.txt", Headers: e.service(), Body: "t", ExpectedStatus: 201},
			{Name: "get", Path: "/api/v1/storage/media/a/one.txt", Headers: e.service(), ExpectedStatus: 200,
				ExpectedHeaders: map[string]string{"Content-Type": "text/plain", "Content-Length": "3"},
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, b []byte) {
					if string(b) != "uno" {
						t.Errorf("body %q", b)
					}
				}},
			{Name: "head", Method: "HEAD", Path: "/api/v1/storage/media/a/one.txt", Headers: e.service(), ExpectedStatus: 200,
				ExpectedHeaders: map[string]string{"Content-Length": "3"}},
			{Name: "head missing", Method: "HEAD", Path: "/api/v1/storage/media/a/none.txt", Headers: e.service(), ExpectedStatus: 404},
			{Name: "private object without a token", Path: "/api/v1/storage/media/a/one.txt", ExpectedStatus: 404},
			{Name: "list with delimiter", Path: "/api/v1/storage/media?delimiter=/", Headers: e.service(), ExpectedStatus: 200,
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, b []byte) {
					l := listing(t, b)
					if strings.Join(l.Prefixes, ",") != "a/" || len(l.Objects) != 1 || l.Objects[0].Name != "top.txt" || l.NextCursor != "" {
						t.Errorf("listing: %s", b)
					}
				}},
			{Name: "list a prefix", Path: "/api/v1/storage/media?prefix=a/&delimiter=/", Headers: e.service(), ExpectedStatus: 200,
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, b []byte) {
					l := listing(t, b)
					if strings.Join(l.Prefixes, ",") != "a/b/" || len(l.Objects) != 2 {
						t.Errorf("listing: %s", b)
					}
				}},
			{Name: "paginate", Path: "/api/v1/storage/media?limit=2", Headers: e.service(), ExpectedStatus: 200,
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, b []byte) {
					var names []string
					l := listing(t, b)
					for page := 0; ; page++ {
						for _, o := range l.Objects {
							names = append(names, o.Name)
						}
						if l.NextCursor == "" || page > 5 {
							break
						}
						_, next, _ := e.do(t, "GET", "/api/v1/storage/media?limit=2&cursor="+l.NextCursor, e.service(), nil)
						l = listing(t, []byte(next))
					}
					if strings.Join(names, ",") != "a/b/three.txt,a/one.txt,a/two.txt,top.txt" {
						t.Errorf("pages gave %v", names)
					}
				}},
			{Name: "list missing bucket", Path: "/api/v1/storage/nope", Headers: e.service(), ExpectedStatus: 404},
			{Name: "list bad limit", Path: "/api/v1/storage/media?limit=x", Headers: e.service(), ExpectedStatus: 400},
			{Name: "copy", Method: "POST", Path: "/api/v1/storage/copy", Headers: js,
				Body: map[string]any{"bucket": "media", "source": "a/one.txt", "destination": "c/one.txt"}, ExpectedStatus: 201,
				ExpectedJSON: map[string]any{"name": "c/one.txt", "size": 3}},
			{Name: "move", Method: "POST", Path: "/api/v1/storage/move", Headers: js,
				Body: map[string]any{"bucket": "media", "source": "c/one.txt", "destination": "d/one.txt"}, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"name": "d/one.txt"}},
			{Name: "delete", Method: "DELETE", Path: "/api/v1/storage/media/d/one.txt", Headers: e.service(), ExpectedStatus: 204},
			{Name: "delete missing", Method: "DELETE", Path: "/api/v1/storage/media/d/one.txt", Headers: e.service(), ExpectedStatus: 404,
				ExpectedJSON: map[string]any{"code": "NoSuchKey"}},
			{Name: "update bucket", Method: "PUT", Path: "/api/v1/storage/buckets/media", Headers: js, Body: `{"public":true}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"public": true}},
			{Name: "public object without a token", Path: "/api/v1/storage/media/a/one.txt", ExpectedStatus: 200},
			{Name: "list buckets", Path: "/api/v1/storage/buckets", Headers: e.service(), ExpectedStatus: 200, ExpectedContent: []string{`"id":"media"`}},
			{Name: "empty", Method: "POST", Path: "/api/v1/storage/buckets/media/empty", Headers: e.service(), ExpectedStatus: 204},
			{Name: "delete bucket", Method: "DELETE", Path: "/api/v1/storage/buckets/media", Headers: e.service(), ExpectedStatus: 204},
			{Name: "unknown route", Path: "/storage/v1/nothing/here", ExpectedStatus: 404, ExpectedJSON: map[string]any{"statusCode": "404"}},
		})
	})
}

type listPage struct {
	Objects []struct {
		Name string `json:"name"`
	} `json:"objects"`
	Prefixes   []string `json:"prefixes"`
	NextCursor string   `json:"next_cursor"`
}

func listing(t testing.TB, b []byte) listPage {
	t.Helper()
	var l listPage
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatalf("listing %s: %v", b, err)
	}
	return l
}

// A slow upload and a slow download outlast http.read_timeout and
// write_timeout: storage extends the deadlines while bytes flow. Each
// transfer lasts twice the timeouts; the timeouts are long enough that a
// test process starved of CPU for a moment on a loaded machine still
// reads something within one.
func TestLongTransfersOutlastTimeouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local", func(c *configT) {
		c.HTTP.ReadTimeout = 1500 * time.Millisecond
		c.HTTP.WriteTimeout = 1500 * time.Millisecond
	})
	e.createBucket(t, "slow", false)
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 12; i++ { // 3 s in all
			if _, err := pw.Write([]byte(strings.Repeat("x", 1000))); err != nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		_ = pw.Close()
	}()
	req, _ := http.NewRequest("POST", e.URL+"/storage/v1/object/slow/big.txt", pr)
	req.Header.Set("Authorization", "Bearer "+e.ServiceRoleKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("slow upload: %d %s", res.StatusCode, b)
	}

	// Read the download slowly.
	req, _ = http.NewRequest("GET", e.URL+"/storage/v1/object/slow/big.txt", nil)
	req.Header.Set("Authorization", "Bearer "+e.ServiceRoleKey)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	total := 0
	buf := make([]byte, 1000)
	for {
		n, err := res.Body.Read(buf)
		total += n
		if err != nil {
			break
		}
		time.Sleep(250 * time.Millisecond) // 3 s in all
	}
	if total != 12000 {
		t.Errorf("downloaded %d bytes, want 12000", total)
	}

	// A file larger than the socket buffers, read slowly: the whole
	// download outlasts write_timeout while sendfile hands the file over
	// chunk by chunk, each with a fresh deadline.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	e.mustDo(t, 200, "POST", "/storage/v1/object/slow/big.bin", e.service("Content-Type", "application/octet-stream"), big)
	req, _ = http.NewRequest("GET", e.URL+"/storage/v1/object/slow/big.bin", nil)
	req.Header.Set("Authorization", "Bearer "+e.ServiceRoleKey)
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	var got bytes.Buffer
	var readErr error
	for {
		n, err := io.CopyN(&got, res2.Body, 1<<20)
		if err != nil || n == 0 {
			readErr = err
			break
		}
		time.Sleep(190 * time.Millisecond) // 3 s in all
	}
	if !bytes.Equal(got.Bytes(), big) {
		t.Errorf("slow large download: got %d bytes (%v), want %d identical ones", got.Len(), readErr, len(big))
	}
}
