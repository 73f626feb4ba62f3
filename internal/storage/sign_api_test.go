package storage_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// forgeToken signs a token with the instance's real key, to test what
// only the key holder could produce (an expired token).
func (e *env) forgeToken(t testing.TB, payload map[string]any) string {
	t.Helper()
	var v string
	if err := e.DB.DB.Admin.QueryRow(context.Background(),
		`select value from fluxbase.secrets where name = 'storage_url_signing_key'`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	key, err := base64.RawStdEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(payload)
	p := base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(p))
	return p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestSignedURLs(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, e *env) {
		e.createBucket(t, "private", false)
		e.mustDo(t, 200, "POST", "/storage/v1/object/private/a b/file.txt", e.service("Content-Type", "text/plain"), "secret bytes")
		var signed, uploadURL string
		apitest.Run(t, e.Server, []apitest.Scenario{
			{Name: "sign", Method: "POST", Path: "/storage/v1/object/sign/private/a b/file.txt", Headers: e.service(),
				Body: map[string]any{"expiresIn": 60}, ExpectedStatus: 200,
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
					var out struct{ SignedURL string }
					if err := json.Unmarshal(body, &out); err != nil || !strings.HasPrefix(out.SignedURL, "/object/sign/private/a b/file.txt?token=") {
						t.Fatalf("signedURL: %s", body)
					}
					signed = out.SignedURL
					// As storage-js builds it: encodeURI(url + signedURL).
					u := "/storage/v1" + strings.ReplaceAll(signed, " ", "%20")
					code, b, _ := e.do(t, "GET", u, nil, nil)
					if code != 200 || b != "secret bytes" {
						t.Fatalf("signed download: %d %s", code, b)
					}
					code, _, h := e.do(t, "GET", u+"&download", nil, nil)
					if code != 200 || !strings.Contains(h.Get("Content-Disposition"), `filename="file.txt"`) {
						t.Errorf("download disposition: %d %v", code, h)
					}
					// The token is for this object only.
					code, b, _ = e.do(t, "GET", strings.Replace(u, "file.txt", "other.txt", 1), nil, nil)
					if code != 400 || !strings.Contains(b, "InvalidJWT") {
						t.Errorf("token on another object: %d %s", code, b)
					}
					// A flipped character breaks the signature.
					tampered := u[:len(u)-3] + flip(u[len(u)-3]) + u[len(u)-2:]
					if code, b, _ = e.do(t, "GET", tampered, nil, nil); code != 400 {
						t.Errorf("tampered token: %d %s", code, b)
					}
				}},
			{Name: "sign needs read access", Method: "POST", Path: "/storage/v1/object/sign/private/a b/file.txt", Headers: as(e.user1),
				Body: map[string]any{"expiresIn": 60}, ExpectedStatus: 404},
			{Name: "sign expiry too long", Method: "POST", Path: "/storage/v1/object/sign/private/a b/file.txt", Headers: e.service(),
				Body: map[string]any{"expiresIn": 10 * 365 * 24 * 3600}, ExpectedStatus: 400},
			{Name: "sign many", Method: "POST", Path: "/storage/v1/object/sign/private", Headers: e.service(),
				Body: map[string]any{"expiresIn": 60, "paths": []string{"a b/file.txt", "missing.txt"}}, ExpectedStatus: 200,
				ExpectedContent: []string{`"path":"a b/file.txt","signedURL":"/object/sign/private/a b/file.txt?token=`,
					`"error":"Either the object does not exist or you do not have access to it","path":"missing.txt","signedURL":null`}},
			{Name: "expired token", Path: "/storage/v1/object/sign/private/a%20b/file.txt?token=" + e.forgeToken(t, map[string]any{
				"k": "download", "b": "private", "n": "a b/file.txt", "e": time.Now().Add(-time.Second).Unix()}),
				ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "InvalidJWT", "message": "Invalid token: jwt expired"}},
			{Name: "forged token", Path: "/storage/v1/object/sign/private/a%20b/file.txt?token=eyJrIjoiZG93bmxvYWQifQ.AAAA",
				ExpectedStatus: 400},
			{Name: "upload token is not a download token", Path: "/storage/v1/object/sign/private/a%20b/file.txt?token=" + e.forgeToken(t, map[string]any{
				"k": "upload", "b": "private", "n": "a b/file.txt", "e": time.Now().Add(time.Hour).Unix()}), ExpectedStatus: 400},
			{Name: "no token", Path: "/storage/v1/object/sign/private/a%20b/file.txt", ExpectedStatus: 400},
			{Name: "sign upload", Method: "POST", Path: "/storage/v1/object/upload/sign/private/up/new.txt", Headers: e.service(),
				ExpectedStatus: 200, After: func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
					var out struct{ URL, Token string }
					if err := json.Unmarshal(body, &out); err != nil || out.Token == "" || !strings.Contains(out.URL, "token="+out.Token) {
						t.Fatalf("sign upload: %s", body)
					}
					uploadURL = "/storage/v1" + out.URL
					code, b, _ := e.do(t, "PUT", uploadURL, map[string]string{"Content-Type": "text/plain"}, "via signed url")
					if code != 200 || !strings.Contains(b, `"Key":"private/up/new.txt"`) {
						t.Fatalf("signed upload: %d %s", code, b)
					}
					if got := e.mustDo(t, 200, "GET", "/storage/v1/object/private/up/new.txt", e.service(), nil); got != "via signed url" {
						t.Errorf("uploaded %q", got)
					}
					// Not signed with upsert: the object now exists.
					if code, b, _ = e.do(t, "PUT", uploadURL, map[string]string{"Content-Type": "text/plain"}, "again"); code != 409 {
						t.Errorf("second signed upload: %d %s", code, b)
					}
					// Another path with the same token.
					other := strings.Replace(uploadURL, "new.txt", "evil.txt", 1)
					if code, b, _ = e.do(t, "PUT", other, map[string]string{"Content-Type": "text/plain"}, "x"); code != 400 {
						t.Errorf("token on another path: %d %s", code, b)
					}
				}},
			{Name: "sign upload needs insert", Method: "POST", Path: "/storage/v1/object/upload/sign/private/up/user.txt", Headers: as(e.user1),
				ExpectedStatus: 403},
			{Name: "native sign", Method: "POST", Path: "/api/v1/storage/private/a%20b/file.txt/signed-url", Headers: e.service(),
				Body: map[string]any{"expires_in": 120, "download": "x.txt"}, ExpectedStatus: 200,
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
					var out struct {
						URL, Method string
						ExpiresAt   time.Time `json:"expires_at"`
					}
					if err := json.Unmarshal(body, &out); err != nil || out.Method != "GET" || time.Until(out.ExpiresAt) < time.Minute {
						t.Fatalf("native sign: %s", body)
					}
					res, err := http.Get(out.URL)
					if err != nil {
						t.Fatal(err)
					}
					res.Body.Close()
					if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Disposition"), "x.txt") {
						t.Errorf("native signed download: %d %v", res.StatusCode, res.Header)
					}
				}},
			{Name: "native sign upload", Method: "POST", Path: "/api/v1/storage/private/n/up.txt/signed-url", Headers: e.service(),
				Body: map[string]any{"upload": true}, ExpectedStatus: 200,
				After: func(t testing.TB, _ *apitest.Server, _ *http.Response, body []byte) {
					var out struct{ URL, Method string }
					_ = json.Unmarshal(body, &out)
					u, err := url.Parse(out.URL)
					if err != nil || out.Method != "PUT" {
						t.Fatalf("native sign upload: %s", body)
					}
					if code, b, _ := e.do(t, "PUT", u.RequestURI(), map[string]string{"Content-Type": "text/plain"}, "n"); code != 201 {
						t.Errorf("native signed upload: %d %s", code, b)
					}
				}},
		})
	})
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// With storage.s3.presign, native signed download URLs point at S3.
func TestS3Presign(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "s3", func(c *configT) { c.Storage.S3.Presign = true })
	e.createBucket(t, "b", false)
	e.mustDo(t, 200, "POST", "/storage/v1/object/b/f.txt", e.service("Content-Type", "text/plain"), "straight from S3")
	body := e.mustDo(t, 200, "POST", "/api/v1/storage/b/f.txt/signed-url", e.service(), map[string]any{"expires_in": 60})
	var out struct{ URL string }
	if err := json.Unmarshal([]byte(body), &out); err != nil || !strings.HasPrefix(out.URL, e.s3.Endpoint+"/") {
		t.Fatalf("presigned URL: %s", body)
	}
	res, err := http.Get(out.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(b) != "straight from S3" {
		t.Errorf("presigned GET: %d %q", res.StatusCode, b)
	}
	// Reading still needs SELECT: a user without policies cannot presign.
	e.mustDo(t, 404, "POST", "/api/v1/storage/b/f.txt/signed-url", as(e.user1), map[string]any{"expires_in": 60})
}

// With anonymous access off, public objects and signed URLs still work
// without a token; everything else needs one.
func TestWithoutAnonymousAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local", func(c *configT) { c.Auth.AnonymousAccess = false })
	e.createBucket(t, "pub", true)
	e.createBucket(t, "priv", false)
	e.mustDo(t, 200, "POST", "/storage/v1/object/pub/p.txt", e.service("Content-Type", "text/plain"), "p")
	e.mustDo(t, 200, "POST", "/storage/v1/object/priv/s.txt", e.service("Content-Type", "text/plain"), "s")
	e.mustDo(t, 200, "GET", "/storage/v1/object/public/pub/p.txt", nil, nil)
	e.mustDo(t, 200, "GET", "/storage/v1/object/info/public/pub/p.txt", nil, nil)
	e.mustDo(t, 401, "GET", "/storage/v1/object/priv/s.txt", nil, nil)
	e.mustDo(t, 401, "GET", "/storage/v1/bucket", nil, nil)
	body := e.mustDo(t, 200, "POST", "/storage/v1/object/sign/priv/s.txt", e.service(), map[string]any{"expiresIn": 60})
	var out struct{ SignedURL string }
	_ = json.Unmarshal([]byte(body), &out)
	if got := e.mustDo(t, 200, "GET", "/storage/v1"+out.SignedURL, nil, nil); got != "s" {
		t.Errorf("signed download: %q", got)
	}
}
