package test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStorageSurvivesKill9: every acknowledged upload survives a kill -9
// byte for byte, and an upload cut off by the kill leaves no row and no
// stored object once Fluxbase is back.
func TestStorageSurvivesKill9(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	secret := randomSecret(t)
	env := []string{"FLUXBASE_AUTH_JWT_ALGORITHM=HS256", "FLUXBASE_AUTH_JWT_SECRET=" + secret}
	key := hs256(t, secret, "service_role")
	do := func(in *instance, method, path string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, in.url+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/octet-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}

	a := start(t, dir, env)
	a.waitReady(90 * time.Second)
	if code, b := do(a, "POST", "/storage/v1/bucket", []byte(`{"name":"files"}`)); code != 200 {
		t.Fatalf("create bucket: %d %s", code, b)
	}
	files := map[string][]byte{}
	for i := range 20 {
		data := make([]byte, 1000+i*7919)
		_, _ = rand.Read(data)
		name := fmt.Sprintf("f/%02d.bin", i)
		if code, b := do(a, "POST", "/storage/v1/object/files/"+name, data); code != 200 {
			t.Fatalf("upload %s: %d %s", name, code, b)
		}
		files[name] = data
	}
	// An upload in progress when the process dies.
	conn, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /storage/v1/object/files/cut.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 50000000\r\n\r\n", key)
	if _, err := conn.Write(make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	a.wait(10 * time.Second)

	b := start(t, dir, env)
	b.waitReady(90 * time.Second)
	for name, want := range files {
		code, got := do(b, "GET", "/storage/v1/object/files/"+name, nil)
		if code != 200 || !bytes.Equal(got, want) {
			t.Errorf("%s after kill -9: %d, %d bytes (want %d)", name, code, len(got), len(want))
		}
	}
	if code, _ := do(b, "GET", "/storage/v1/object/files/cut.bin", nil); code != 404 {
		t.Errorf("interrupted upload: %d", code)
	}
	// Bytes on disk: exactly the acknowledged objects. The cut-off upload's
	// partial temporary file, if any, is the janitor's once
	// storage.orphan_grace has passed.
	count := func(sub string) int {
		n := 0
		_ = filepath.WalkDir(filepath.Join(dir, "storage", sub), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	if n := count("objects"); n != len(files) {
		t.Errorf("%d objects stored, want %d", n, len(files))
	}
	if n := count("tmp"); n > 1 {
		t.Errorf("%d temporary files, want at most the interrupted one", n)
	}
	b.stop()
}
