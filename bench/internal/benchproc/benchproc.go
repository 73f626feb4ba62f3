// Package benchproc runs the fluxbase binary as its own process for the
// benchmark programs, so that what they measure is the product as users
// run it, apart from the load generator, and reads the processor time and
// memory of processes from /proc, the figures that the machine's other
// load disturbs least.
package benchproc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/syncbuf"
)

// Fluxbase is a running `fluxbase serve`.
type Fluxbase struct {
	Cmd     *exec.Cmd
	URL     string
	DataDir string
	// AnonKey and ServiceRoleKey are what `fluxbase keys` printed.
	AnonKey, ServiceRoleKey string

	out  *syncbuf.Buffer
	done chan struct{}
}

// Start runs the binary on dataDir (its embedded PostgreSQL is created on
// first use) with a clean FLUXBASE_* environment plus env, waits until it
// is ready and reads its API keys.
func Start(ctx context.Context, binary, dataDir string, env []string) (*Fluxbase, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	environ := []string{"FLUXBASE_LOG_LEVEL=warn"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLUXBASE_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			environ = append(environ, kv)
		}
	}
	cmd := exec.CommandContext(ctx, binary, "serve", "--http", addr, "--data-dir", dataDir)
	cmd.Env = append(environ, env...)
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	fb := &Fluxbase{Cmd: cmd, URL: "http://" + addr, DataDir: dataDir, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(fb.done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		res, err := http.Get(fb.URL + "/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-fb.done:
			return nil, fmt.Errorf("fluxbase exited before it was ready:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			fb.Stop()
			return nil, fmt.Errorf("fluxbase not ready after 2 minutes:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	keys, err := exec.CommandContext(ctx, binary, "keys", "--data-dir", dataDir).Output()
	if err != nil {
		fb.Stop()
		return nil, fmt.Errorf("fluxbase keys: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(keys))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "FLUXBASE_ANON_KEY="); ok {
			fb.AnonKey = strings.Trim(v, `'"`)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "FLUXBASE_SERVICE_ROLE_KEY="); ok {
			fb.ServiceRoleKey = strings.Trim(v, `'"`)
		}
	}
	if fb.AnonKey == "" || fb.ServiceRoleKey == "" {
		fb.Stop()
		return nil, fmt.Errorf("fluxbase keys printed no keys:\n%s", keys)
	}
	return fb, nil
}

// Stop sends SIGTERM and waits (a minute at most, then kills).
func (fb *Fluxbase) Stop() {
	_ = fb.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-fb.done:
	case <-time.After(time.Minute):
		_ = fb.Cmd.Process.Kill()
		<-fb.done
	}
}

// LogTail is the last n bytes the process wrote.
func (fb *Fluxbase) LogTail(n int) string {
	s := fb.out.String()
	return s[max(0, len(s)-n):]
}

// ProcStatusKB reads a kB field (VmRSS, VmHWM, ...) of /proc/PID/status.
func ProcStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// FreeAddr is a loopback address with a port nobody listens on.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
