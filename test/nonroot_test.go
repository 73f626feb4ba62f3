package test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDataDirNotWritable runs fluxbase as an unprivileged user on a data
// directory it may not write: one clear error naming data_dir, at once.
// Root can write anywhere, so this needs a second user; the tests run as
// root in CI, where "nobody" exists.
func TestDataDirNotWritable(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run fluxbase as another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	// The binary may sit below a directory nobody cannot enter: copy it.
	dir := dataDir(t)
	parent := filepath.Dir(dir)
	bin := filepath.Join(parent, "fluxbase")
	copyFile(t, binary, bin, 0o755)
	readOnly := filepath.Join(parent, "readonly")
	if err := os.Mkdir(readOnly, 0o755); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(readOnly, "data"), "--http", "127.0.0.1:0")
	cmd.Dir = parent
	cmd.Env = []string{"PATH=/usr/bin:/bin", "FLUXBASE_LOG_FORMAT=text"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("exit 0 on an unwritable data directory:\n%s", stderr.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("fluxbase did not exit within 15s")
	}
	if msg := stderr.String(); !strings.Contains(msg, "data_dir") || !strings.Contains(msg, "permission denied") || strings.Contains(msg, "panic") {
		t.Fatalf("unclear error:\n%s", msg)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
