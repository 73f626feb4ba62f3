package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// tusEnv is a running server with a bucket and the means to call it as
// service_role or as a user.
type tusEnv struct {
	t      *testing.T
	s      *apitest.Server
	base   *env
	ids    *identity.Service
	bucket string
}

// tusBackends runs f on each storage backend, with a bucket "files".
func tusBackends(t *testing.T, f func(t *testing.T, e *tusEnv)) {
	backends(t, func(t *testing.T, base *env) {
		s := base.Server
		ids, err := identity.New(context.Background(), s.DB.DB.Admin, s.Config.Auth, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		e := &tusEnv{t: t, s: s, base: base, ids: ids, bucket: "files"}
		res, body := s.Do(t, http.MethodPost, "/storage/v1/bucket", e.service(nil), map[string]any{"name": e.bucket})
		require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
		f(t, e)
	})
}

func (e *tusEnv) service(h map[string]string) map[string]string {
	return withAuth(h, e.s.ServiceRoleKey)
}

func (e *tusEnv) userToken(sub string) string {
	tok, err := e.ids.Sign(map[string]any{"sub": sub, "role": "authenticated", "aud": "authenticated",
		"exp": time.Now().Add(time.Hour).Unix()})
	require.NoError(e.t, err)
	return tok
}

func withAuth(h map[string]string, token string) map[string]string {
	out := map[string]string{"Authorization": "Bearer " + token}
	for k, v := range h {
		out[k] = v
	}
	return out
}

func tusMetadata(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// create starts an upload of size bytes of name and returns its URL.
func (e *tusEnv) create(base string, auth map[string]string, name string, size int, extra ...string) string {
	e.t.Helper()
	h := map[string]string{
		"Tus-Resumable":   "1.0.0",
		"Upload-Length":   strconv.Itoa(size),
		"Upload-Metadata": tusMetadata(append([]string{"bucketName", e.bucket, "objectName", name}, extra...)...),
	}
	for k, v := range auth {
		h[k] = v
	}
	res, body := e.s.Do(e.t, http.MethodPost, base, h, nil)
	require.Equal(e.t, http.StatusCreated, res.StatusCode, "%s", body)
	loc := res.Header.Get("Location")
	require.NotEmpty(e.t, loc)
	assert.Equal(e.t, "1.0.0", res.Header.Get("Tus-Resumable"))
	assert.NotEmpty(e.t, res.Header.Get("Upload-Expires"))
	return loc
}

// path turns an upload URL from Location into a path on the test server.
func (e *tusEnv) path(loc string) string {
	u, err := url.Parse(loc)
	require.NoError(e.t, err)
	return u.Path
}

func (e *tusEnv) patch(loc string, auth map[string]string, offset int, chunk []byte) (*http.Response, []byte) {
	e.t.Helper()
	h := map[string]string{
		"Tus-Resumable": "1.0.0",
		"Upload-Offset": strconv.Itoa(offset),
		"Content-Type":  "application/offset+octet-stream",
	}
	for k, v := range auth {
		h[k] = v
	}
	return e.s.Do(e.t, http.MethodPatch, e.path(loc), h, chunk)
}

// offset asks for the upload's offset with HEAD.
func (e *tusEnv) offset(loc string, auth map[string]string) (int, int) {
	e.t.Helper()
	h := map[string]string{"Tus-Resumable": "1.0.0"}
	for k, v := range auth {
		h[k] = v
	}
	res, _ := e.s.Do(e.t, http.MethodHead, e.path(loc), h, nil)
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, -1
	}
	assert.Equal(e.t, "no-store", res.Header.Get("Cache-Control"))
	n, err := strconv.Atoi(res.Header.Get("Upload-Offset"))
	require.NoError(e.t, err)
	return res.StatusCode, n
}

func (e *tusEnv) download(name string) []byte {
	e.t.Helper()
	res, body := e.s.Do(e.t, http.MethodGet, "/storage/v1/object/"+e.bucket+"/"+name, e.service(nil), nil)
	require.Equal(e.t, http.StatusOK, res.StatusCode, "%s", body)
	return body
}

// leftovers counts what resumable uploads left behind: upload rows, part
// keys awaiting collection, and stored bytes that no object references.
func (e *tusEnv) leftovers() (uploads, parts, orphans int) {
	e.t.Helper()
	ctx := context.Background()
	require.NoError(e.t, e.s.DB.DB.Admin.QueryRow(ctx, `select count(*) from storage.uploads`).Scan(&uploads))
	require.NoError(e.t, e.s.DB.DB.Admin.QueryRow(ctx, `select count(*) from storage.gc where key like 't-%'`).Scan(&parts))
	return uploads, parts, len(e.base.storedKeys(e.t)) - e.base.objectRows(e.t)
}

func (e *tusEnv) assertClean() {
	e.t.Helper()
	uploads, parts, orphans := e.leftovers()
	assert.Zero(e.t, uploads, "upload rows left")
	assert.Zero(e.t, parts, "part keys left")
	assert.Zero(e.t, orphans, "stored bytes no object references")
}

func TestResumableUploadInChunks(t *testing.T) {
	t.Parallel()
	tusBackends(t, func(t *testing.T, e *tusEnv) {
		data := randomBytes(t, 300_000)
		loc := e.create("/storage/v1/upload/resumable", e.service(nil), "docs/report.bin", len(data),
			"contentType", "application/x-report", "cacheControl", "60", "metadata", `{"kind":"report"}`)
		assert.Contains(t, loc, "/storage/v1/upload/resumable/")
		assert.True(t, strings.HasPrefix(loc, e.s.URL), "Location %q is absolute", loc)

		status, off := e.offset(loc, e.service(nil))
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, 0, off)

		for _, cut := range [][2]int{{0, 100_000}, {100_000, 250_000}, {250_000, 300_000}} {
			res, body := e.patch(loc, e.service(nil), cut[0], data[cut[0]:cut[1]])
			require.Equal(t, http.StatusNoContent, res.StatusCode, "%s", body)
			assert.Equal(t, strconv.Itoa(cut[1]), res.Header.Get("Upload-Offset"))
			assert.Equal(t, "1.0.0", res.Header.Get("Tus-Resumable"))
		}
		assert.Equal(t, data, e.download("docs/report.bin"))

		res, body := e.s.Do(t, http.MethodGet, "/storage/v1/object/info/"+e.bucket+"/docs/report.bin", e.service(nil), nil)
		require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
		assert.Contains(t, string(body), `application/x-report`)
		assert.Contains(t, string(body), `"kind":"report"`)
		res, _ = e.s.Do(t, http.MethodGet, "/storage/v1/object/"+e.bucket+"/docs/report.bin", e.service(nil), nil)
		assert.Equal(t, "max-age=60", res.Header.Get("Cache-Control"))

		// The upload is over: it is gone, and so are its parts.
		status, _ = e.offset(loc, e.service(nil))
		assert.Equal(t, http.StatusNotFound, status)
		e.assertClean()
	})
}

// rawPatch sends a PATCH announcing the rest of the upload but writes only
// send bytes of it, then drops the connection: a client killed mid-upload.
func (e *tusEnv) rawPatch(loc, token string, offset int, rest []byte, send int) {
	e.t.Helper()
	u, err := url.Parse(e.s.URL)
	require.NoError(e.t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(e.t, err)
	var req bytes.Buffer
	fmt.Fprintf(&req, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n", e.path(loc), u.Host, token)
	fmt.Fprintf(&req, "Upload-Offset: %d\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n", offset, len(rest))
	req.Write(rest[:send])
	_, err = conn.Write(req.Bytes())
	require.NoError(e.t, err)
	// Let the server read what was sent before the connection drops.
	time.Sleep(50 * time.Millisecond)
	require.NoError(e.t, conn.Close())
}

func TestResumableUploadSurvivesKilledConnections(t *testing.T) {
	t.Parallel()
	tusBackends(t, func(t *testing.T, e *tusEnv) {
		data := randomBytes(t, 1<<20)
		user := "6f1a8c0e-1d2b-4c3d-9e4f-5a6b7c8d9e0f"
		token := e.userToken(user)
		_, err := e.s.DB.DB.Admin.Exec(context.Background(), `
		create policy "own folder insert" on storage.objects for insert to authenticated
			with check (bucket_id = 'files' and (storage.foldername(name))[1] = auth.uid()::text);
		create policy "own folder select" on storage.objects for select to authenticated
			using (bucket_id = 'files' and (storage.foldername(name))[1] = auth.uid()::text)`)
		require.NoError(t, err)
		auth := withAuth(nil, token)
		name := user + "/video.bin"
		loc := e.create("/storage/v1/upload/resumable", auth, name, len(data))

		// Killed after the headers, after one byte, in the middle, one byte
		// before the end: each time the bytes that arrived are kept.
		offset := 0
		for _, send := range []int{0, 1, 333_333, len(data) - 1 - 333_334} {
			e.rawPatch(loc, token, offset, data[offset:], send)
			want := offset + send
			require.Eventually(t, func() bool {
				_, off := e.offset(loc, auth)
				return off == want
			}, 10*time.Second, 20*time.Millisecond, "the server kept the %d bytes sent before the disconnect", send)
			offset = want
		}
		// Resuming at a stale offset is refused; at the right one it finishes.
		res, body := e.patch(loc, auth, 0, data)
		require.Equal(t, http.StatusConflict, res.StatusCode, "%s", body)
		res, body = e.patch(loc, auth, offset, data[offset:])
		require.Equal(t, http.StatusNoContent, res.StatusCode, "%s", body)
		assert.Equal(t, strconv.Itoa(len(data)), res.Header.Get("Upload-Offset"))

		assert.Equal(t, data, e.download(name))
		// The object is the user's.
		var owner string
		require.NoError(t, e.s.DB.DB.Admin.QueryRow(context.Background(),
			`select owner_id from storage.objects where bucket_id = 'files' and name = $1`, name).Scan(&owner))
		assert.Equal(t, user, owner)
		e.assertClean()
	})
}

// A PATCH that brings no byte, next to one that does, leaves the other to
// succeed: resuming clients send both (a retry racing a resume). An empty
// first part stored and deleted beside the real one once failed the real
// one on S3 servers that keep objects as files, when the delete removed
// the folders it emptied while the write was creating them: each round
// starts from a store with nothing in it, as that first part did.
func TestResumableUploadEmptyPatchesBesideWrites(t *testing.T) {
	t.Parallel()
	tusBackends(t, func(t *testing.T, e *tusEnv) {
		for i := range 40 {
			loc := e.create("/storage/v1/upload/resumable", e.service(nil), "byte.bin", 1)
			var wg sync.WaitGroup
			wg.Go(func() {
				res, body := e.patch(loc, e.service(nil), 0, nil)
				// 409 once the other PATCH moved the offset, 404 once it
				// completed the upload.
				switch res.StatusCode {
				case http.StatusNoContent, http.StatusConflict, http.StatusNotFound:
				default:
					t.Errorf("round %d: empty PATCH: %d %s", i, res.StatusCode, body)
				}
			})
			// The empty PATCH's delete takes a few milliseconds to come:
			// the write starts at a different moment of it each round.
			time.Sleep(time.Duration(i%8) * time.Millisecond)
			res, body := e.patch(loc, e.service(nil), 0, []byte{byte(i)})
			wg.Wait()
			require.Equal(t, http.StatusNoContent, res.StatusCode, "round %d: %s", i, body)
			assert.Equal(t, []byte{byte(i)}, e.download("byte.bin"))
			res, body = e.s.Do(t, http.MethodDelete, "/storage/v1/object/"+e.bucket+"/byte.bin", e.service(nil), nil)
			require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
		}
		e.assertClean()
	})
}

func TestResumableUploadProtocol(t *testing.T) {
	t.Parallel()
	tusBackends(t, func(t *testing.T, e *tusEnv) {
		s := e.s
		svc := e.service(nil)
		tus := func(h map[string]string) map[string]string {
			out := e.service(map[string]string{"Tus-Resumable": "1.0.0"})
			for k, v := range h {
				out[k] = v
			}
			return out
		}
		loc := e.create("/storage/v1/upload/resumable", svc, "a.bin", 10)
		path := e.path(loc)
		other := "/storage/v1/upload/resumable/" + strings.Repeat("ab", 16)

		apitest.Run(t, s, []apitest.Scenario{
			{Name: "options describes the server", Method: http.MethodOptions, Path: "/storage/v1/upload/resumable",
				ExpectedStatus: http.StatusNoContent,
				ExpectedHeaders: map[string]string{"Tus-Version": "1.0.0", "Tus-Resumable": "1.0.0",
					"Tus-Extension": "creation,creation-with-upload,creation-defer-length,termination,expiration",
					"Tus-Max-Size":  strconv.FormatInt(s.Config.Storage.MaxFileSize, 10)}},
			{Name: "a request without Tus-Resumable", Method: http.MethodPost, Path: "/storage/v1/upload/resumable",
				Headers: e.service(map[string]string{"Upload-Length": "5"}), ExpectedStatus: http.StatusPreconditionFailed,
				ExpectedHeaders: map[string]string{"Tus-Version": "1.0.0"},
				ExpectedContent: []string{`"statusCode":"412"`}},
			{Name: "another protocol version", Method: http.MethodHead, Path: path,
				Headers: e.service(map[string]string{"Tus-Resumable": "0.2.2"}), ExpectedStatus: http.StatusPreconditionFailed},
			{Name: "no length", Method: http.MethodPost, Path: "/storage/v1/upload/resumable",
				Headers:        tus(map[string]string{"Upload-Metadata": tusMetadata("bucketName", "files", "objectName", "x")}),
				ExpectedStatus: http.StatusBadRequest, ExpectedContent: []string{"Upload-Length"}},
			{Name: "a negative length", Method: http.MethodPost, Path: "/storage/v1/upload/resumable",
				Headers:        tus(map[string]string{"Upload-Length": "-5", "Upload-Metadata": tusMetadata("bucketName", "files", "objectName", "x")}),
				ExpectedStatus: http.StatusBadRequest},
			{Name: "no object name", Method: http.MethodPost, Path: "/storage/v1/upload/resumable",
				Headers:        tus(map[string]string{"Upload-Length": "5", "Upload-Metadata": tusMetadata("bucketName", "files")}),
				ExpectedStatus: http.StatusBadRequest, ExpectedContent: []string{"objectName"}},
			{Name: "malformed metadata", Method: http.MethodPost, Path: "/storage/v1/upload/resumable",
				Headers:        tus(map[string]string{"Upload-Length": "5", "Upload-Metadata": "bucketName !!!"}),
				ExpectedStatus: http.StatusBadRequest},
			{Name: "a missing bucket", Method: http.MethodPost, Path: "/storage/v1/upload/resumable",
				Headers:        tus(map[string]string{"Upload-Length": "5", "Upload-Metadata": tusMetadata("bucketName", "nope", "objectName", "x")}),
				ExpectedStatus: http.StatusNotFound},
			{Name: "a traversal name", Method: http.MethodPost, Path: "/storage/v1/upload/resumable",
				Headers:        tus(map[string]string{"Upload-Length": "5", "Upload-Metadata": tusMetadata("bucketName", "files", "objectName", "../../etc/passwd")}),
				ExpectedStatus: http.StatusBadRequest},
			{Name: "a NUL in the name", Method: http.MethodPost, Path: "/storage/v1/upload/resumable",
				Headers:        tus(map[string]string{"Upload-Length": "5", "Upload-Metadata": tusMetadata("bucketName", "files", "objectName", "a\x00b")}),
				ExpectedStatus: http.StatusBadRequest},
			{Name: "longer than the server takes", Method: http.MethodPost, Path: "/storage/v1/upload/resumable",
				Headers:        tus(map[string]string{"Upload-Length": strconv.FormatInt(s.Config.Storage.MaxFileSize+1, 10), "Upload-Metadata": tusMetadata("bucketName", "files", "objectName", "x")}),
				ExpectedStatus: http.StatusRequestEntityTooLarge},
			{Name: "an unknown upload", Method: http.MethodHead, Path: other, Headers: tus(nil), ExpectedStatus: http.StatusNotFound},
			{Name: "a malformed upload id", Method: http.MethodPatch, Path: "/storage/v1/upload/resumable/..%2f..%2fetc",
				Headers: tus(map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}), Body: "x",
				ExpectedStatus: http.StatusNotFound},
			{Name: "a PATCH of another type", Method: http.MethodPatch, Path: path,
				Headers: tus(map[string]string{"Upload-Offset": "0", "Content-Type": "application/octet-stream"}), Body: "12345",
				ExpectedStatus: http.StatusUnsupportedMediaType},
			{Name: "a PATCH without offset", Method: http.MethodPatch, Path: path,
				Headers: tus(map[string]string{"Content-Type": "application/offset+octet-stream"}), Body: "12345",
				ExpectedStatus: http.StatusBadRequest},
			{Name: "a PATCH at the wrong offset", Method: http.MethodPatch, Path: path,
				Headers: tus(map[string]string{"Upload-Offset": "3", "Content-Type": "application/offset+octet-stream"}), Body: "12345",
				ExpectedStatus: http.StatusConflict},
			{Name: "a PATCH past the length", Method: http.MethodPatch, Path: path,
				Headers: tus(map[string]string{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}), Body: "0123456789ABC",
				ExpectedStatus: http.StatusRequestEntityTooLarge},
			{Name: "the upload is unchanged by refused PATCHes", Method: http.MethodHead, Path: path, Headers: tus(nil),
				ExpectedStatus: http.StatusOK, ExpectedHeaders: map[string]string{"Upload-Offset": "0", "Upload-Length": "10"}},
			{Name: "another caller cannot see it", Method: http.MethodHead, Path: path,
				Headers:        withAuth(map[string]string{"Tus-Resumable": "1.0.0"}, e.userToken("00000000-0000-0000-0000-000000000001")),
				ExpectedStatus: http.StatusNotFound},
			{Name: "nor anon", Method: http.MethodHead, Path: path, Headers: map[string]string{"Tus-Resumable": "1.0.0"},
				ExpectedStatus: http.StatusNotFound},
			{Name: "termination", Method: http.MethodDelete, Path: path, Headers: tus(nil), ExpectedStatus: http.StatusNoContent},
			{Name: "a terminated upload is gone", Method: http.MethodHead, Path: path, Headers: tus(nil), ExpectedStatus: http.StatusNotFound},
		})
	})
}

func TestResumableUploadCreationWithUploadAndDeferredLength(t *testing.T) {
	t.Parallel()
	tusBackends(t, func(t *testing.T, e *tusEnv) {
		data := randomBytes(t, 5000)

		// creation-with-upload: the first bytes come with the POST.
		h := e.service(map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Length": "5000", "Content-Type": "application/offset+octet-stream",
			"Upload-Metadata": tusMetadata("bucketName", e.bucket, "objectName", "first.bin"),
		})
		res, body := e.s.Do(t, http.MethodPost, "/storage/v1/upload/resumable", h, data[:2000])
		require.Equal(t, http.StatusCreated, res.StatusCode, "%s", body)
		assert.Equal(t, "2000", res.Header.Get("Upload-Offset"))
		loc := res.Header.Get("Location")
		res, body = e.patch(loc, e.service(nil), 2000, data[2000:])
		require.Equal(t, http.StatusNoContent, res.StatusCode, "%s", body)
		assert.Equal(t, data, e.download("first.bin"))

		// The whole file in the POST.
		h["Upload-Metadata"] = tusMetadata("bucketName", e.bucket, "objectName", "whole.bin")
		res, body = e.s.Do(t, http.MethodPost, "/storage/v1/upload/resumable", h, data)
		require.Equal(t, http.StatusCreated, res.StatusCode, "%s", body)
		assert.Equal(t, "5000", res.Header.Get("Upload-Offset"))
		assert.Equal(t, data, e.download("whole.bin"))

		// Deferred length: given with the last PATCH.
		h = e.service(map[string]string{"Tus-Resumable": "1.0.0", "Upload-Defer-Length": "1",
			"Upload-Metadata": tusMetadata("bucketName", e.bucket, "objectName", "deferred.bin")})
		res, body = e.s.Do(t, http.MethodPost, "/storage/v1/upload/resumable", h, nil)
		require.Equal(t, http.StatusCreated, res.StatusCode, "%s", body)
		loc = res.Header.Get("Location")
		res, _ = e.s.Do(t, http.MethodHead, e.path(loc), e.service(map[string]string{"Tus-Resumable": "1.0.0"}), nil)
		assert.Equal(t, "1", res.Header.Get("Upload-Defer-Length"))
		res, body = e.patch(loc, e.service(nil), 0, data[:1000])
		require.Equal(t, http.StatusNoContent, res.StatusCode, "%s", body)
		h = e.service(map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "1000", "Upload-Length": "5000",
			"Content-Type": "application/offset+octet-stream"})
		res, body = e.s.Do(t, http.MethodPatch, e.path(loc), h, data[1000:])
		require.Equal(t, http.StatusNoContent, res.StatusCode, "%s", body)
		assert.Equal(t, data, e.download("deferred.bin"))

		// An empty file completes at creation.
		h = e.service(map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": "0",
			"Upload-Metadata": tusMetadata("bucketName", e.bucket, "objectName", "empty.txt")})
		res, body = e.s.Do(t, http.MethodPost, "/storage/v1/upload/resumable", h, nil)
		require.Equal(t, http.StatusCreated, res.StatusCode, "%s", body)
		assert.Empty(t, e.download("empty.txt"))

		e.assertClean()
	})
}

func TestResumableUploadRules(t *testing.T) {
	t.Parallel()
	tusBackends(t, func(t *testing.T, e *tusEnv) {
		ctx := context.Background()
		_, err := e.s.DB.DB.Admin.Exec(ctx, `
		insert into storage.buckets (id, name, file_size_limit, allowed_mime_types) values ('images', 'images', 1000, '{image/*}');
		create policy "own folder insert" on storage.objects for insert to authenticated
			with check (bucket_id = 'files' and (storage.foldername(name))[1] = auth.uid()::text);
		create policy "own folder select" on storage.objects for select to authenticated
			using (bucket_id = 'files' and (storage.foldername(name))[1] = auth.uid()::text)`)
		require.NoError(t, err)
		alice := "0b6a4a3e-5d7b-4f0e-9a51-1f3b2c4d5e6f"
		tok := e.userToken(alice)
		create := func(auth map[string]string, md string, length string) (*http.Response, []byte) {
			h := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": length, "Upload-Metadata": md}
			for k, v := range auth {
				h[k] = v
			}
			return e.s.Do(t, http.MethodPost, "/storage/v1/upload/resumable", h, nil)
		}
		// RLS decides at creation, before any byte is sent.
		res, body := create(withAuth(nil, tok), tusMetadata("bucketName", "files", "objectName", "someone-else/x.bin"), "10")
		assert.Equal(t, http.StatusForbidden, res.StatusCode, "%s", body)
		res, body = create(nil, tusMetadata("bucketName", "files", "objectName", alice+"/x.bin"), "10")
		assert.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, res.StatusCode, "anon: %s", body)
		res, body = create(withAuth(nil, tok), tusMetadata("bucketName", "files", "objectName", alice+"/x.bin"), "10")
		assert.Equal(t, http.StatusCreated, res.StatusCode, "%s", body)

		// Bucket limits: size and type.
		res, body = create(e.service(nil), tusMetadata("bucketName", "images", "objectName", "big.png", "contentType", "image/png"), "1001")
		assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, "%s", body)
		res, body = create(e.service(nil), tusMetadata("bucketName", "images", "objectName", "a.txt", "contentType", "text/plain"), "10")
		assert.Equal(t, http.StatusUnsupportedMediaType, res.StatusCode, "%s", body)
		// Deferred length: the bucket's limit cuts the body off.
		res, body = e.s.Do(t, http.MethodPost, "/storage/v1/upload/resumable", e.service(map[string]string{
			"Tus-Resumable": "1.0.0", "Upload-Defer-Length": "1",
			"Upload-Metadata": tusMetadata("bucketName", "images", "objectName", "d.png", "contentType", "image/png")}), nil)
		require.Equal(t, http.StatusCreated, res.StatusCode, "%s", body)
		res, body = e.patch(res.Header.Get("Location"), e.service(nil), 0, make([]byte, 1500))
		assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, "%s", body)

		// An existing object is not overwritten without x-upsert.
		res, body = e.s.Do(t, http.MethodPost, "/storage/v1/object/files/taken.txt", e.service(map[string]string{"Content-Type": "text/plain"}), "old")
		require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
		res, body = create(e.service(nil), tusMetadata("bucketName", "files", "objectName", "taken.txt"), "3")
		assert.Equal(t, http.StatusConflict, res.StatusCode, "%s", body)
		loc := e.create("/storage/v1/upload/resumable", e.service(map[string]string{"x-upsert": "true"}), "taken.txt", 3)
		res, body = e.patch(loc, e.service(nil), 0, []byte("new"))
		require.Equal(t, http.StatusNoContent, res.StatusCode, "%s", body)
		assert.Equal(t, "new", string(e.download("taken.txt")))
	})
}

func TestResumableUploadConcurrentPatches(t *testing.T) {
	t.Parallel()
	tusBackends(t, func(t *testing.T, e *tusEnv) {
		data := randomBytes(t, 200_000)
		loc := e.create("/storage/v1/upload/resumable", e.service(nil), "race.bin", len(data))
		// Two clients send the same bytes at the same offset: one wins, the
		// other is told to resume from the new offset.
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i := range statuses {
			wg.Go(func() {
				res, _ := e.patch(loc, e.service(nil), 0, data[:150_000])
				statuses[i] = res.StatusCode
			})
		}
		wg.Wait()
		assert.ElementsMatch(t, []int{http.StatusNoContent, http.StatusConflict}, statuses)
		_, off := e.offset(loc, e.service(nil))
		require.Equal(t, 150_000, off)
		res, body := e.patch(loc, e.service(nil), off, data[off:])
		require.Equal(t, http.StatusNoContent, res.StatusCode, "%s", body)
		assert.Equal(t, data, e.download("race.bin"))
		e.assertClean()
	})
}

func TestResumableUploadNativeAndSigned(t *testing.T) {
	t.Parallel()
	tusBackends(t, func(t *testing.T, e *tusEnv) {
		data := randomBytes(t, 70_000)

		// The native path speaks the same protocol, with Fluxbase's errors.
		loc := e.create("/api/v1/storage/uploads", e.service(nil), "native.bin", len(data))
		assert.Contains(t, loc, "/api/v1/storage/uploads/")
		res, body := e.patch(loc, e.service(nil), 5, data)
		require.Equal(t, http.StatusConflict, res.StatusCode)
		var native struct{ Code, Message string }
		require.NoError(t, json.Unmarshal(body, &native), "%s", body)
		assert.Equal(t, "offset_mismatch", native.Code)
		res, body = e.patch(loc, e.service(nil), 0, data)
		require.Equal(t, http.StatusNoContent, res.StatusCode, "%s", body)
		assert.Equal(t, data, e.download("native.bin"))

		// A signed upload URL's token, in x-signature, stands for the caller.
		res, body = e.s.Do(t, http.MethodPost, "/storage/v1/object/upload/sign/files/signed.bin", e.service(nil), nil)
		require.Equal(t, http.StatusOK, res.StatusCode, "%s", body)
		var signed struct {
			URL   string `json:"url"`
			Token string `json:"token"`
		}
		require.NoError(t, json.Unmarshal(body, &signed))
		token := signed.Token
		if token == "" {
			u, err := url.Parse(signed.URL)
			require.NoError(t, err)
			token = u.Query().Get("token")
		}
		require.NotEmpty(t, token, "%s", body)
		sig := map[string]string{"x-signature": token}
		loc = e.create("/storage/v1/upload/resumable/sign", sig, "signed.bin", len(data))
		assert.Contains(t, loc, "/storage/v1/upload/resumable/sign/")
		res, body = e.patch(loc, map[string]string{"x-signature": token + "x"}, 0, data)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, "a forged signature: %s", body)
		res, body = e.patch(loc, sig, 0, data)
		require.Equal(t, http.StatusNoContent, res.StatusCode, "%s", body)
		assert.Equal(t, data, e.download("signed.bin"))
		// A token for another object does not create uploads.
		h := map[string]string{"x-signature": token, "Tus-Resumable": "1.0.0", "Upload-Length": "1",
			"Upload-Metadata": tusMetadata("bucketName", "files", "objectName", "other.bin")}
		res, body = e.s.Do(t, http.MethodPost, "/storage/v1/upload/resumable/sign", h, nil)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, "%s", body)
	})
}

func TestResumableUploadFinishedByHeadAfterACrash(t *testing.T) {
	t.Parallel()
	tusBackends(t, func(t *testing.T, e *tusEnv) {
		data := randomBytes(t, 4000)
		loc := e.create("/storage/v1/upload/resumable", e.service(nil), "crash.bin", 8000)
		res, body := e.patch(loc, e.service(nil), 0, data)
		require.Equal(t, http.StatusNoContent, res.StatusCode, "%s", body)
		// The state an instance leaves when it stops between recording the
		// last bytes and making the object: every byte is there.
		_, err := e.s.DB.DB.Admin.Exec(context.Background(), `update storage.uploads set size = 4000`)
		require.NoError(t, err)
		status, off := e.offset(loc, e.service(nil))
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, 4000, off)
		assert.Equal(t, data, e.download("crash.bin"))
		e.assertClean()
	})
}
