package testutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/pg"
	"github.com/fluxbase/fluxbase/internal/testutil/tempdir"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewDBIsMigrated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tdb := NewDB(t)

	var n int
	if err := tdb.DB.Admin.QueryRow(ctx, "SELECT count(*) FROM fluxbase.schema_migrations").Scan(&n); err != nil || n == 0 {
		t.Fatalf("migrations not applied: %d rows, %v", n, err)
	}
	var db, user string
	if err := tdb.DB.Admin.QueryRow(ctx, "SELECT current_database(), current_user").Scan(&db, &user); err != nil {
		t.Fatal(err)
	}
	if db != tdb.Name {
		t.Errorf("admin pool is on %q, want %q", db, tdb.Name)
	}
	if err := tdb.DB.API.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
		t.Fatal(err)
	}
	if user != "authenticator" {
		t.Errorf("API pool logs in as %q, want authenticator", user)
	}
	conn, err := pgx.Connect(ctx, tdb.AdminDSN)
	if err != nil {
		t.Fatalf("AdminDSN: %v", err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != tdb.Name {
		t.Fatalf("AdminDSN reaches %q (%v)", db, err)
	}
}

func TestNewDBIsolatesTests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := NewDB(t), NewDB(t)
	if a.Name == b.Name {
		t.Fatalf("two tests got the same database %s", a.Name)
	}
	if _, err := a.DB.Admin.Exec(ctx, "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := b.DB.Admin.QueryRow(ctx, "SELECT to_regclass('public.only_in_a') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("a table created in one test database is visible in another")
	}
}

func TestNewDBDroppedAfterTest(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("user", func(t *testing.T) {
		name = NewDB(t).Name
	})
	probe := NewDB(t)
	var exists bool
	err := probe.DB.Admin.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

func TestNewDBManyInParallel(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	const n = 8
	for i := range n {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			tdb := NewDB(t)
			var one int
			if err := tdb.DB.API.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Cleanup(func() {
		t.Logf("%d databases cloned, used and dropped in %v", n, time.Since(begin).Round(time.Millisecond))
	})
}

// The cross-process protocol is tested with helper processes (this test
// binary, re-run) on a cluster directory of their own.

type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startHelper runs TestHelperProcess in a child process; mode "hold" keeps
// its test database until its stdin is closed, "once" returns at once.
func startHelper(t *testing.T, dir, mode string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), EnvPGDir+"="+dir, "FLUXBASE_TESTUTIL_HELPER="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for {
		line, err := h.out.ReadString('\n')
		if err != nil {
			t.Fatalf("helper %s: no ready line: %v", mode, err)
		}
		if strings.HasPrefix(line, "ready ") {
			return h
		}
	}
}

func (h *helper) finish(t *testing.T) {
	t.Helper()
	_ = h.stdin.Close()
	_, _ = io.Copy(io.Discard, h.out)
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper failed: %v", err)
	}
}

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("FLUXBASE_TESTUTIL_HELPER")
	if mode == "" {
		t.Skip("helper process only")
	}
	tdb := NewDB(t)
	var one int
	if err := tdb.DB.API.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ready %s\n", tdb.Name)
	if mode == "hold" {
		_, _ = io.Copy(io.Discard, os.Stdin)
	}
}

// postmasterPID is the pid in the cluster's postmaster.pid, 0 if none.
func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "pg", "postmaster.pid"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// serverProcesses lists PostgreSQL processes working in the cluster
// directory.
func serverProcesses(dir string) []int {
	real, err := filepath.EvalSymlinks(filepath.Join(dir, "pg"))
	if err != nil {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd == real && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func sharedDir(t *testing.T) string {
	t.Helper()
	dir := tempdir.Traversable(t)
	t.Cleanup(func() {
		for _, pid := range serverProcesses(dir) {
			t.Errorf("server process %d left running; killing it", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return dir
}

func TestServerSharedAcrossProcessesAndStoppedByTheLast(t *testing.T) {
	t.Parallel()
	dir := sharedDir(t)

	holder := startHelper(t, dir, "hold")
	pid := postmasterPID(t, dir)
	if !alive(pid) {
		t.Fatalf("no server running while a process uses it")
	}

	// A second process joins the same server and leaves: the first still
	// uses it, so it keeps running.
	once := startHelper(t, dir, "once")
	once.finish(t)
	if got := postmasterPID(t, dir); got != pid || !alive(pid) {
		t.Fatalf("server %d stopped (now %d) while another process still used it", pid, got)
	}

	holder.finish(t)
	if alive(pid) {
		t.Fatalf("server %d still runs after its last user left", pid)
	}
	if pids := serverProcesses(dir); len(pids) > 0 {
		t.Fatalf("server processes left: %v", pids)
	}
}

func TestServerAdoptedAfterUserKilled(t *testing.T) {
	t.Parallel()
	dir := sharedDir(t)

	killed := startHelper(t, dir, "hold")
	pid := postmasterPID(t, dir)
	if err := killed.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = killed.cmd.Wait()
	// Its database was never dropped; the server runs on without users.
	if !alive(pid) {
		t.Fatalf("server died with a killed test process")
	}

	next := startHelper(t, dir, "once")
	next.finish(t)
	if alive(pid) {
		t.Fatalf("server %d was not stopped by the next run's last process", pid)
	}
	if pids := serverProcesses(dir); len(pids) > 0 {
		t.Fatalf("server processes left: %v", pids)
	}

	// The killed process's clone was dropped before the server stopped:
	// start it once more and look.
	check := startHelper(t, dir, "hold")
	defer check.finish(t)
	pw, err := os.ReadFile(filepath.Join(dir, "pg.password"))
	if err != nil {
		t.Fatal(err)
	}
	port := postmasterPort(t, dir)
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", pg.EmbeddedSuperuser, strings.TrimSpace(string(pw)), port, pg.EmbeddedDatabase))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var clones int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE starts_with(datname, 't_')").Scan(&clones); err != nil {
		t.Fatal(err)
	}
	if clones != 1 { // the one "check" holds
		t.Fatalf("%d test databases exist, want only the live process's", clones)
	}
}

func postmasterPort(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "pg", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		t.Fatalf("short postmaster.pid: %q", b)
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		t.Fatal(err)
	}
	return port
}
