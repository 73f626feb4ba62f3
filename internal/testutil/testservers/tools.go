package testservers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/syncbuf"
)

// ToolPath returns the path of a program that `make test-deps` installed
// into bin/tools, found through $FLUXBASE_TEST_TOOLS or the bin/tools
// directory of the module the test runs in. A missing tool fails the test:
// the suite runs against real servers or not at all.
func ToolPath(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("FLUXBASE_TEST_TOOLS")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatalf("testservers: %v", err)
		}
		dir = filepath.Join(root, "bin", "tools")
	}
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed in %s; run `make test-deps`", name, dir)
	}
	return p
}

// moduleRoot walks up from the working directory (the package under test)
// to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; set FLUXBASE_TEST_TOOLS")
		}
		dir = parent
	}
}

// FreePort returns a loopback TCP port that was free a moment ago. A
// server started on it may still lose a race with another process, so the
// starters below retry with a new port when the program exits early.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a started server program, stopped when the test ends.
type process struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error
}

func startProcess(t testing.TB, path string, args, env []string) *process {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &process{cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", filepath.Base(path), err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitHTTP polls url until it answers with a status below 500, the
// process exits, or the deadline passes.
func (p *process) waitHTTP(url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited (%v):\n%s", p.err, p.out.String())
		case <-ctx.Done():
			return fmt.Errorf("not answering %s after %s:\n%s", url, within, p.out.String())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
