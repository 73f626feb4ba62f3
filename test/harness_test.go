// Package test holds black-box tests: they run the built fluxbase binary as
// a user would, with its embedded PostgreSQL, and look only at what a user
// sees (exit codes, output, HTTP answers, processes left behind).
package test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil/syncbuf"
	"github.com/fluxbase/fluxbase/internal/testutil/tempdir"
)

// binary is the fluxbase binary under test: $FLUXBASE_TEST_BINARY (make
// test builds it first), else built once for this run.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	binary = os.Getenv("FLUXBASE_TEST_BINARY")
	if binary == "" {
		dir, err := os.MkdirTemp("", "fluxbase-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "fluxbase")
		cmd := exec.Command("go", "build", "-o", binary, "../cmd/fluxbase")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building fluxbase: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// instance is one running `fluxbase serve`.
type instance struct {
	t       *testing.T
	cmd     *exec.Cmd
	url     string
	dataDir string
	out     *syncbuf.Buffer // the process's output while it runs
	done    chan struct{}
	err     error
}

// dataDir returns a fresh data directory the postgres OS user can reach.
func dataDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(tempdir.Traversable(t), "data")
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// command builds a fluxbase command with a clean FLUXBASE_* environment.
func command(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLUXBASE_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "FLUXBASE_LOG_FORMAT=text")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// start runs `fluxbase serve` on dataDir and a free port, without waiting.
func start(t *testing.T, dir string, env []string, args ...string) *instance {
	t.Helper()
	addr := freeAddr(t)
	all := append([]string{"serve", "--http", addr, "--data-dir", dir}, args...)
	cmd := command(context.Background(), filepath.Dir(dir), env, all...)
	in := &instance{t: t, cmd: cmd, url: "http://" + addr, dataDir: dir, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = in.out, in.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		in.err = cmd.Wait()
		close(in.done)
	}()
	t.Cleanup(func() {
		if in.running() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			in.wait(60 * time.Second)
		}
		killCluster(dir)
		if t.Failed() {
			t.Logf("fluxbase output:\n%s", in.out.String())
		}
	})
	return in
}

func (in *instance) running() bool {
	select {
	case <-in.done:
		return false
	default:
		return true
	}
}

// wait waits for the process to exit and says whether it did in time.
func (in *instance) wait(d time.Duration) bool {
	select {
	case <-in.done:
		return true
	case <-time.After(d):
		return false
	}
}

// exitCode is the process's exit code once it has exited.
func (in *instance) exitCode() int {
	if in.cmd.ProcessState == nil {
		return -1
	}
	return in.cmd.ProcessState.ExitCode()
}

// waitReady polls /ready until it answers 200 and returns how long it took.
func (in *instance) waitReady(timeout time.Duration) time.Duration {
	in.t.Helper()
	begin := time.Now()
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Since(begin) < timeout {
		if !in.running() {
			in.t.Fatalf("fluxbase exited before it was ready (%v):\n%s", in.err, in.out.String())
		}
		res, err := client.Get(in.url + "/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(begin)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.t.Fatalf("fluxbase not ready after %s:\n%s", timeout, in.out.String())
	return 0
}

// stop sends SIGTERM and requires a clean exit.
func (in *instance) stop() {
	in.t.Helper()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		in.t.Fatal(err)
	}
	if !in.wait(60 * time.Second) {
		in.t.Fatalf("fluxbase did not stop within 60s of SIGTERM:\n%s", in.out.String())
	}
	if code := in.exitCode(); code != 0 {
		in.t.Fatalf("fluxbase exited with %d after SIGTERM:\n%s", code, in.out.String())
	}
}

// get performs a GET and returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return res.StatusCode, b.String()
}

// clusterPIDs lists the processes whose command line mentions dir: the
// postgres server and its children for a data directory.
func clusterPIDs(dir string) []int { return programPIDs("postgres", dir) }

// programPIDs lists the live processes of program (a part of the path of
// their executable) whose command line mentions dir. Zombies, dead and
// waiting to be reaped, are not listed.
func programPIDs(program, dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) == 0 || !strings.Contains(args[0], program) || !strings.Contains(string(cmdline), dir) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			// The state follows the command name in parentheses.
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// requireNoCluster fails the test if a postgres process of dir still runs
// after what the test just did.
func requireNoCluster(t *testing.T, dir, after string) {
	t.Helper()
	if pids := clusterPIDs(dir); len(pids) > 0 {
		t.Fatalf("postgres processes left %s: %v", after, pids)
	}
}

// killCluster makes sure no server of dir outlives the test.
func killCluster(dir string) {
	for _, pid := range clusterPIDs(dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// runCmd runs a short fluxbase command and returns its exit code, stdout,
// stderr and duration.
func runCmd(t *testing.T, timeout time.Duration, cwd string, env []string, args ...string) (int, string, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := command(ctx, cwd, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	begin := time.Now()
	err := cmd.Run()
	took := time.Since(begin)
	if ctx.Err() != nil {
		t.Fatalf("fluxbase %s did not finish within %s; stderr:\n%s", strings.Join(args, " "), timeout, stderr.String())
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("fluxbase %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return code, stdout.String(), stderr.String(), took
}
