package storage_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

func TestBucketsAPI(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *env) {
		js := e.service("Content-Type", "application/json")
		apitest.Run(t, e.Server, []apitest.Scenario{
			{Name: "create", Method: "POST", Path: "/storage/v1/bucket", Headers: js,
				Body:           `{"id":"docs","name":"docs","public":false,"file_size_limit":"1MB","allowed_mime_types":["image/*","text/plain"]}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"name": "docs"}},
			{Name: "create duplicate", Method: "POST", Path: "/storage/v1/bucket", Headers: js, Body: `{"name":"docs"}`,
				ExpectedStatus: 409, ExpectedJSON: map[string]any{"statusCode": "409", "code": "BucketAlreadyExists"}},
			{Name: "create invalid name", Method: "POST", Path: "/storage/v1/bucket", Headers: js, Body: `{"name":"../x"}`,
				ExpectedStatus: 400, ExpectedJSON: map[string]any{"statusCode": "400", "code": "InvalidBucketName"}},
			{Name: "create reserved name", Method: "POST", Path: "/storage/v1/bucket", Headers: js, Body: `{"name":"buckets"}`,
				ExpectedStatus: 400},
			{Name: "create malformed json", Method: "POST", Path: "/storage/v1/bucket", Headers: js, Body: `{"name":`,
				ExpectedStatus: 400, ExpectedJSON: map[string]any{"statusCode": "400"}},
			{Name: "anon cannot create without a policy", Method: "POST", Path: "/storage/v1/bucket",
				Headers: as(e.AnonKey, "Content-Type", "application/json"), Body: `{"name":"x1"}`, ExpectedStatus: 401},
			{Name: "user cannot create without a policy", Method: "POST", Path: "/storage/v1/bucket",
				Headers: as(e.user1, "Content-Type", "application/json"), Body: `{"name":"x1"}`, ExpectedStatus: 403,
				ExpectedJSON: map[string]any{"statusCode": "403", "error": "Unauthorized"}},
			{Name: "get", Path: "/storage/v1/bucket/docs", Headers: e.service(), ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"id": "docs", "public": false, "file_size_limit": 1 << 20,
					"allowed_mime_types": []any{"image/*", "text/plain"}}},
			{Name: "get missing", Path: "/storage/v1/bucket/nope", Headers: e.service(), ExpectedStatus: 404,
				ExpectedJSON: map[string]any{"statusCode": "404", "code": "NoSuchBucket", "error": "not_found", "message": "Bucket not found"}},
			{Name: "list", Path: "/storage/v1/bucket", Headers: e.service(), ExpectedStatus: 200, ExpectedContent: []string{`"id":"docs"`}},
			{Name: "list as user sees nothing without a policy", Path: "/storage/v1/bucket", Headers: as(e.user1), ExpectedStatus: 200,
				ExpectedContent: []string{`[]`}},
			{Name: "update", Method: "PUT", Path: "/storage/v1/bucket/docs", Headers: js, Body: `{"public":true,"file_size_limit":null}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"message": "Successfully updated"},
				After: func(t testing.TB, s *apitest.Server, _ *http.Response, _ []byte) {
					b := e.mustDo(t, 200, "GET", "/storage/v1/bucket/docs", e.service(), nil)
					if !strings.Contains(b, `"public":true`) || !strings.Contains(b, `"file_size_limit":null`) || !strings.Contains(b, `"image/*"`) {
						t.Errorf("after update: %s", b)
					}
				}},
			{Name: "native create", Method: "POST", Path: "/api/v1/storage/buckets/native1", Headers: js, Body: `{"public":true}`,
				ExpectedStatus: 201, ExpectedJSON: map[string]any{"id": "native1", "public": true}},
			{Name: "native get missing has the native error shape", Path: "/api/v1/storage/buckets/nope", Headers: e.service(),
				ExpectedStatus: 404, ExpectedJSON: map[string]any{"code": "NoSuchBucket", "message": "Bucket not found"},
				NotExpectedContent: []string{"statusCode"}},
			{Name: "delete non-empty", Method: "DELETE", Path: "/storage/v1/bucket/docs", Headers: e.service(),
				Setup: func(t testing.TB, s *apitest.Server) {
					e.mustDo(t, 200, "POST", "/storage/v1/object/docs/a.txt", e.service("Content-Type", "text/plain"), "hello")
				},
				ExpectedStatus: 409, ExpectedJSON: map[string]any{"code": "BucketNotEmpty"}},
			{Name: "empty", Method: "POST", Path: "/storage/v1/bucket/docs/empty", Headers: e.service(), ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"message": "Successfully emptied"},
				After: func(t testing.TB, s *apitest.Server, _ *http.Response, _ []byte) {
					if n := e.objectRows(t); n != 0 {
						t.Errorf("%d rows left", n)
					}
					eventually(t, "bytes removed", func() bool { return len(e.storedKeys(t)) == 0 })
				}},
			{Name: "delete", Method: "DELETE", Path: "/storage/v1/bucket/docs", Headers: e.service(), ExpectedStatus: 200},
			{Name: "native delete", Method: "DELETE", Path: "/api/v1/storage/buckets/native1", Headers: e.service(), ExpectedStatus: 204},
			{Name: "bad token", Path: "/storage/v1/bucket", Headers: as("not.a.token"), ExpectedStatus: 401,
				ExpectedJSON: map[string]any{"statusCode": "401", "code": "InvalidJWT"}},
		})
	})
}

func TestObjectsAPI(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *env) {
		e.createBucket(t, "files", false)
		e.createBucket(t, "pics", true, `,"allowed_mime_types":["image/*"],"file_size_limit":100`)
		svc := e.service
		var etag string
		png := []byte("\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 40))
		apitest.Run(t, e.Server, []apitest.Scenario{
			{Name: "upload raw", Method: "POST", Path: "/storage/v1/object/files/dir/hello.txt",
				Headers: svc("Content-Type", "text/plain", "Cache-Control", "max-age=60", "x-metadata", b64(`{"a":1}`)),
				Body:    "hello world", ExpectedStatus: 200, ExpectedJSON: map[string]any{"Key": "files/dir/hello.txt"},
				ExpectedContent: []string{`"Id":"`}},
			{Name: "upload duplicate", Method: "POST", Path: "/storage/v1/object/files/dir/hello.txt",
				Headers: svc("Content-Type", "text/plain"), Body: "again", ExpectedStatus: 409,
				ExpectedJSON: map[string]any{"statusCode": "409", "error": "Duplicate"}},
			{Name: "download", Path: "/storage/v1/object/files/dir/hello.txt", Headers: svc(), ExpectedStatus: 200,
				ExpectedHeaders: map[string]string{"Content-Type": "text/plain", "Cache-Control": "max-age=60",
					"Content-Length": "11", "Accept-Ranges": "bytes"},
				After: func(t testing.TB, _ *apitest.Server, res *http.Response, body []byte) {
					if string(body) != "hello world" {
						t.Errorf("body %q", body)
					}
					etag = res.Header.Get("ETag")
					if etag == "" || res.Header.Get("Last-Modified") == "" {
						t.Errorf("no ETag or Last-Modified: %v", res.Header)
					}
					if code, b, _ := e.do(t, "GET", "/storage/v1/object/files/dir/hello.txt", svc("If-None-Match", etag), nil); code != 304 || b != "" {
						t.Errorf("If-None-Match: %d %q", code, b)
					}
				}},
			{Name: "range", Path: "/storage/v1/object/files/dir/hello.txt", Headers: svc("Range", "bytes=6-"), ExpectedStatus: 206,
				ExpectedHeaders: map[string]string{"Content-Range": "bytes 6-10/11"},
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
					if string(body) != "world" {
						t.Errorf("body %q", body)
					}
				}},
			{Name: "several ranges", Path: "/storage/v1/object/files/dir/hello.txt", Headers: svc("Range", "bytes=6-10,0-4,3-3"), ExpectedStatus: 206,
				After: func(t testing.TB, _ *apitest.Server, res *http.Response, body []byte) {
					mt, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
					if err != nil || mt != "multipart/byteranges" {
						t.Fatalf("Content-Type %q", res.Header.Get("Content-Type"))
					}
					mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
					var parts []string
					for {
						p, err := mr.NextPart()
						if err != nil {
							break
						}
						b, _ := io.ReadAll(p)
						parts = append(parts, p.Header.Get("Content-Range")+"="+string(b))
					}
					want := []string{"bytes 6-10/11=world", "bytes 0-4/11=hello", "bytes 3-3/11=l"}
					if strings.Join(parts, "|") != strings.Join(want, "|") {
						t.Errorf("parts %q, want %q", parts, want)
					}
				}},
			{Name: "unsatisfiable range", Path: "/storage/v1/object/files/dir/hello.txt", Headers: svc("Range", "bytes=50-60"), ExpectedStatus: 416},
			{Name: "if-modified-since", Path: "/storage/v1/object/files/dir/hello.txt",
				Headers: svc("If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)), ExpectedStatus: 304},
			{Name: "download with name", Path: "/storage/v1/object/files/dir/hello.txt?download=report%20%C3%A9.txt", Headers: svc(),
				ExpectedStatus: 200, ExpectedHeaders: map[string]string{
					"Content-Disposition": `attachment; filename="report _.txt"; filename*=UTF-8''report%20%C3%A9.txt`}},
			{Name: "head", Method: "HEAD", Path: "/storage/v1/object/files/dir/hello.txt", Headers: svc(), ExpectedStatus: 200,
				ExpectedHeaders: map[string]string{"Content-Length": "11"}},
			{Name: "info", Path: "/storage/v1/object/info/files/dir/hello.txt", Headers: svc(), ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"name": "dir/hello.txt", "size": 11, "content_type": "text/plain",
					"cache_control": "max-age=60", "metadata": map[string]any{"a": 1}}},
			{Name: "info authenticated", Path: "/storage/v1/object/info/authenticated/files/dir/hello.txt", Headers: svc(), ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"name": "dir/hello.txt", "bucket_id": "files"}},
			{Name: "info public refuses a private bucket", Path: "/storage/v1/object/info/public/files/dir/hello.txt", ExpectedStatus: 404},
			{Name: "upsert", Method: "POST", Path: "/storage/v1/object/files/dir/hello.txt",
				Headers: svc("Content-Type", "text/plain", "x-upsert", "true"), Body: "replaced", ExpectedStatus: 200,
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, _ []byte) {
					if b := e.mustDo(t, 200, "GET", "/storage/v1/object/files/dir/hello.txt", svc(), nil); b != "replaced" {
						t.Errorf("after upsert: %q", b)
					}
					eventually(t, "old bytes removed", func() bool { return len(e.storedKeys(t)) == 1 })
				}},
			{Name: "update with PUT", Method: "PUT", Path: "/storage/v1/object/files/dir/hello.txt",
				Headers: svc("Content-Type", "text/plain"), Body: "updated", ExpectedStatus: 200},
			{Name: "multipart", Method: "POST", Path: "/storage/v1/object/files/form/doc.json",
				Headers: svc("Content-Type", formType), Body: form(`{"k":"v"}`, "application/json", "120", `{"m":true}`),
				ExpectedStatus: 200,
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, _ []byte) {
					b := e.mustDo(t, 200, "GET", "/storage/v1/object/info/files/form/doc.json", svc(), nil)
					for _, want := range []string{`"content_type":"application/json"`, `"cache_control":"max-age=120"`, `"metadata":{"m":true}`, `"size":9`} {
						if !strings.Contains(b, want) {
							t.Errorf("info lacks %s: %s", want, b)
						}
					}
				}},
			{Name: "type not allowed", Method: "POST", Path: "/storage/v1/object/pics/a.txt", Headers: svc("Content-Type", "text/plain"),
				Body: "text", ExpectedStatus: 415, ExpectedJSON: map[string]any{"code": "InvalidMimeType"}},
			{Name: "type detected", Method: "POST", Path: "/storage/v1/object/pics/noext", Headers: svc(), Body: png, ExpectedStatus: 200,
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, _ []byte) {
					_, _, h := e.do(t, "GET", "/storage/v1/object/public/pics/noext", nil, nil)
					if h.Get("Content-Type") != "image/png" {
						t.Errorf("content type %q", h.Get("Content-Type"))
					}
				}},
			{Name: "too large", Method: "POST", Path: "/storage/v1/object/pics/big.png", Headers: svc("Content-Type", "image/png"),
				Body: bytes.Repeat([]byte("x"), 101), ExpectedStatus: 413, ExpectedJSON: map[string]any{"statusCode": "413", "code": "EntityTooLarge"}},
			{Name: "public download without token", Path: "/storage/v1/object/public/pics/noext", ExpectedStatus: 200},
			{Name: "public info without token", Path: "/storage/v1/object/info/public/pics/noext", ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"content_type": "image/png"}},
			{Name: "public route refuses a private bucket", Path: "/storage/v1/object/public/files/dir/hello.txt", ExpectedStatus: 404},
			{Name: "private download without token finds nothing", Path: "/storage/v1/object/files/dir/hello.txt", ExpectedStatus: 404,
				ExpectedJSON: map[string]any{"code": "NoSuchKey"}},
			{Name: "missing object", Path: "/storage/v1/object/files/nope.txt", Headers: svc(), ExpectedStatus: 404,
				ExpectedJSON: map[string]any{"statusCode": "404", "code": "NoSuchKey", "error": "not_found", "message": "Object not found"}},
			{Name: "missing bucket", Method: "POST", Path: "/storage/v1/object/nobucket/a.txt", Headers: svc(), Body: "x",
				ExpectedStatus: 404, ExpectedJSON: map[string]any{"code": "NoSuchBucket"}},
			{Name: "list", Method: "POST", Path: "/storage/v1/object/list/files", Headers: svc(), Body: map[string]any{"prefix": "", "limit": 100, "offset": 0, "sortBy": map[string]any{"column": "name", "order": "asc"}},
				ExpectedStatus: 200, ExpectedContent: []string{`{"name":"dir","id":null`, `{"name":"form","id":null`}},
			{Name: "list a folder", Method: "POST", Path: "/storage/v1/object/list/files", Headers: svc(), Body: map[string]any{"prefix": "dir"},
				ExpectedStatus: 200, ExpectedContent: []string{`"name":"hello.txt"`, `"mimetype":"text/plain"`}},
			{Name: "list a folder with a multibyte name", Method: "POST", Path: "/storage/v1/object/list/files", Headers: svc(),
				Setup: func(t testing.TB, _ *apitest.Server) {
					e.mustDo(t, 200, "POST", "/storage/v1/object/files/%C3%A9t%C3%A9/r%C3%A9sum%C3%A9.txt", svc("Content-Type", "text/plain"), "x")
				},
				Body: map[string]any{"prefix": "été/"}, ExpectedStatus: 200, ExpectedContent: []string{`"name":"résumé.txt"`}},
			{Name: "list search", Method: "POST", Path: "/storage/v1/object/list/files", Headers: svc(), Body: map[string]any{"prefix": "", "search": "fo"},
				ExpectedStatus: 200, ExpectedContent: []string{`"name":"form"`}, NotExpectedContent: []string{`"name":"dir"`}},
			{Name: "list bad sort", Method: "POST", Path: "/storage/v1/object/list/files", Headers: svc(), Body: map[string]any{"sortBy": map[string]any{"column": "size; drop table x"}},
				ExpectedStatus: 400},
			{Name: "copy", Method: "POST", Path: "/storage/v1/object/copy", Headers: svc(),
				Body:           map[string]any{"bucketId": "files", "sourceKey": "dir/hello.txt", "destinationKey": "copies/hello.txt"},
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"Key": "files/copies/hello.txt"},
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, _ []byte) {
					if b := e.mustDo(t, 200, "GET", "/storage/v1/object/files/copies/hello.txt", svc(), nil); b != "updated" {
						t.Errorf("copy holds %q", b)
					}
				}},
			{Name: "copy onto existing", Method: "POST", Path: "/storage/v1/object/copy", Headers: svc(),
				Body:           map[string]any{"bucketId": "files", "sourceKey": "dir/hello.txt", "destinationKey": "copies/hello.txt"},
				ExpectedStatus: 409},
			{Name: "move", Method: "POST", Path: "/storage/v1/object/move", Headers: svc(),
				Body:           map[string]any{"bucketId": "files", "sourceKey": "copies/hello.txt", "destinationKey": "moved/hello.txt"},
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"message": "Successfully moved"},
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, _ []byte) {
					e.mustDo(t, 404, "GET", "/storage/v1/object/files/copies/hello.txt", svc(), nil)
					if b := e.mustDo(t, 200, "GET", "/storage/v1/object/files/moved/hello.txt", svc(), nil); b != "updated" {
						t.Errorf("moved holds %q", b)
					}
				}},
			{Name: "move into a bucket that refuses the type", Method: "POST", Path: "/storage/v1/object/move", Headers: svc(),
				Body:           map[string]any{"bucketId": "files", "sourceKey": "moved/hello.txt", "destinationKey": "x.txt", "destinationBucket": "pics"},
				ExpectedStatus: 415},
			{Name: "move missing", Method: "POST", Path: "/storage/v1/object/move", Headers: svc(),
				Body:           map[string]any{"bucketId": "files", "sourceKey": "nope", "destinationKey": "x"},
				ExpectedStatus: 404},
			{Name: "remove many", Method: "DELETE", Path: "/storage/v1/object/files", Headers: svc(),
				Body:           map[string]any{"prefixes": []string{"moved/hello.txt", "nope.txt"}},
				ExpectedStatus: 200, ExpectedContent: []string{`"name":"moved/hello.txt"`}, NotExpectedContent: []string{"nope.txt"}},
			{Name: "remove one", Method: "DELETE", Path: "/storage/v1/object/files/form/doc.json", Headers: svc(), ExpectedStatus: 200},
			{Name: "remove one missing", Method: "DELETE", Path: "/storage/v1/object/files/form/doc.json", Headers: svc(), ExpectedStatus: 404},
		})
		// Everything left is referenced; everything deleted is gone.
		eventually(t, "only referenced bytes remain", func() bool { return len(e.storedKeys(t)) == e.objectRows(t) })
	})
}

const formBoundary = "fluxbasetestboundary"

var formType = "multipart/form-data; boundary=" + formBoundary

// form builds a body as storage-js does: cacheControl and metadata fields,
// then the file under the empty field name.
func form(content, contentType, cacheControl, metadata string) []byte {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.SetBoundary(formBoundary)
	_ = w.WriteField("cacheControl", cacheControl)
	if metadata != "" {
		_ = w.WriteField("metadata", metadata)
	}
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{`form-data; name=""; filename="blob"`}
	h["Content-Type"] = []string{contentType}
	p, _ := w.CreatePart(h)
	_, _ = p.Write([]byte(content))
	_ = w.Close()
	return buf.Bytes()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
