package storage_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
	"github.com/fluxbase/fluxbase/internal/testutil/s3test"
)

// env is a running Fluxbase with one storage backend and callers of every
// kind: tokens for anon, two users and service_role.
type env struct {
	*apitest.Server
	backend string
	s3      *s3test.Server
	s3b     string
	user1   string // token
	user2   string
	uid1    string // sub
	uid2    string
}

// backends runs f once per storage backend, each on its own server.
func backends(t *testing.T, f func(t *testing.T, e *env)) {
	for _, b := range []string{"local", "s3"} {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			f(t, newEnv(t, b))
		})
	}
}

func newEnv(t *testing.T, backend string, configure ...func(*config.Config)) *env {
	t.Helper()
	e := &env{backend: backend}
	s := apitest.NewServer(t, append([]func(*config.Config){func(c *config.Config) {
		c.Storage.Backend = backend
		if backend == "s3" {
			e.s3 = s3test.Start(t)
			e.s3b = e.s3.NewBucket(t)
			c.Storage.S3.Endpoint = e.s3.Endpoint
			c.Storage.S3.Bucket = e.s3b
			c.Storage.S3.AccessKey = e.s3.AccessKey
			c.Storage.S3.SecretKey = e.s3.SecretKey
			c.Storage.S3.Region = e.s3.Region
			c.Storage.S3.Prefix = "fb/"
		}
	}}, configure...)...)
	e.Server = s
	ids, err := identity.New(context.Background(), s.DB.DB.Admin, s.Config.Auth, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.uid1, e.uid2 = newUUID(), newUUID()
	e.user1 = signUser(t, ids, e.uid1)
	e.user2 = signUser(t, ids, e.uid2)
	return e
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func signUser(t *testing.T, ids *identity.Service, sub string) string {
	t.Helper()
	tok, err := ids.Sign(map[string]any{"sub": sub, "role": "authenticated", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// as returns the headers of a request by token ("" = no token at all).
func as(token string, kv ...string) map[string]string {
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

func (e *env) service(kv ...string) map[string]string { return as(e.ServiceRoleKey, kv...) }

// do sends a request and fails the test on transport errors.
func (e *env) do(t testing.TB, method, path string, headers map[string]string, body any) (int, string, http.Header) {
	t.Helper()
	res, b := e.Do(t, method, path, headers, body)
	return res.StatusCode, string(b), res.Header
}

// mustDo is do that requires want.
func (e *env) mustDo(t testing.TB, want int, method, path string, headers map[string]string, body any) string {
	t.Helper()
	code, b, _ := e.do(t, method, path, headers, body)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, code, want, b)
	}
	return b
}

func (e *env) createBucket(t testing.TB, id string, public bool, extra ...string) {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"name":%q,"public":%t%s}`, id, id, public, strings.Join(extra, ""))
	e.mustDo(t, 200, "POST", "/storage/v1/bucket", e.service("Content-Type", "application/json"), body)
}

// storedKeys lists the backend keys that hold bytes.
func (e *env) storedKeys(t testing.TB) []string {
	t.Helper()
	var keys []string
	if e.backend == "s3" {
		for o := range e.s3.Client.ListObjects(context.Background(), e.s3b, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, o.Key)
		}
		return keys
	}
	root := filepath.Join(e.Config.StorageRoot(), "objects")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			keys = append(keys, p)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	_ = filepath.WalkDir(filepath.Join(e.Config.StorageRoot(), "tmp"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			keys = append(keys, p)
		}
		return nil
	})
	return keys
}

// objectRows counts the rows of storage.objects.
func (e *env) objectRows(t testing.TB) int {
	t.Helper()
	var n int
	if err := e.DB.DB.Admin.QueryRow(context.Background(), `select count(*) from storage.objects`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond (the janitor and deferred cleanups run after the
// response) for up to 10 seconds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type configT = config.Config
