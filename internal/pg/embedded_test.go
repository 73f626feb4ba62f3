package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/testutil/syncbuf"
	"github.com/fluxbase/fluxbase/internal/testutil/tempdir"
)

// These tests run the real PostgreSQL server binaries; as root (CI) they
// also exercise running the server as an unprivileged OS user.

// embeddedOptions returns options for a cluster in a fresh directory that
// the PostgreSQL OS user can traverse, and makes sure no server of it
// outlives the test, whatever happens.
func embeddedOptions(t *testing.T) EmbeddedOptions {
	t.Helper()
	if _, err := findBinDir("", binSearch{}); err != nil {
		t.Skipf("no PostgreSQL server binaries: %v", err)
	}
	opts := EmbeddedOptions{
		DataDir: filepath.Join(tempdir.Traversable(t), "pg"),
		Settings: map[string]string{
			"fsync":              "off",
			"synchronous_commit": "off",
			"full_page_writes":   "off",
		},
		StartTimeout: time.Minute,
	}
	t.Cleanup(func() {
		real, err := filepath.EvalSymlinks(opts.DataDir)
		if err != nil {
			return
		}
		if pids := clusterProcesses(real); len(pids) > 0 {
			t.Errorf("PostgreSQL processes left behind: %v", pids)
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("PostgreSQL log:\n%s", logTail(opts.DataDir+".log"))
		}
	})
	return opts
}

func start(t *testing.T, opts EmbeddedOptions, log *slog.Logger) (*Embedded, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	begin := time.Now()
	e, err := StartEmbedded(ctx, opts, log)
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	return e, time.Since(begin)
}

func stop(t *testing.T, e *Embedded) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	assertStopped(t, e.DataDir())
}

func assertStopped(t *testing.T, dataDir string) {
	t.Helper()
	if pids := clusterProcesses(dataDir); len(pids) > 0 {
		t.Fatalf("processes of the cluster still run after Stop: %v", pids)
	}
	if _, err := os.Stat(filepath.Join(dataDir, pidFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("postmaster.pid still present after Stop (%v)", err)
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// requireServes fails the test unless e accepts a connection and answers a
// query.
func requireServes(t *testing.T, e *Embedded) {
	t.Helper()
	conn := connect(t, e.DSN())
	defer conn.Close(context.Background())
	queryString(t, conn, "SELECT 'ok'")
}

func queryString(t *testing.T, conn *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// procUID is the real uid of a process.
func procUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid, _ := strconv.Atoi(strings.Fields(rest)[0])
			return uid
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return -1
}

func TestEmbeddedFirstStartThenReuse(t *testing.T) {
	t.Parallel()
	opts := embeddedOptions(t)
	log, _ := syncbuf.Logger(t)

	e, first := start(t, opts, log)
	conn := connect(t, e.DSN())
	if got := queryString(t, conn, "SHOW wal_level"); got != "logical" {
		t.Errorf("wal_level = %q, want logical", got)
	}
	if got := queryString(t, conn, "SHOW fsync"); got != "off" {
		t.Errorf("fsync = %q, want off (from Settings)", got)
	}
	if got := queryString(t, conn, "SHOW listen_addresses"); got != "127.0.0.1" {
		t.Errorf("listen_addresses = %q", got)
	}
	if got := queryString(t, conn, "SELECT current_database()"); got != EmbeddedDatabase {
		t.Errorf("current_database = %q", got)
	}
	if got := queryString(t, conn, "SELECT current_user"); got != EmbeddedSuperuser {
		t.Errorf("current_user = %q", got)
	}
	if got := queryString(t, conn, "SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user"); got != "true" {
		t.Errorf("superuser = %q", got)
	}
	if got := queryString(t, conn, "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()"); got != "UTF8" {
		t.Errorf("encoding = %q", got)
	}
	if _, err := conn.Exec(context.Background(), "CREATE TABLE survives (v text); INSERT INTO survives VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(opts.DataDir + ".password")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %o, want 0600", fi.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		if uid := procUID(t, e.PID()); uid == 0 {
			t.Errorf("postmaster runs as root")
		}
		st, _ := os.Stat(e.DataDir())
		if st.Sys().(*syscall.Stat_t).Uid == 0 {
			t.Errorf("cluster directory is owned by root")
		}
	}

	// The Unix socket accepts a password login too.
	if len(e.runDir) < 80 {
		sock := fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s", e.runDir, e.Port(), EmbeddedSuperuser, e.password, EmbeddedDatabase)
		c := connect(t, sock)
		if got := queryString(t, c, "SELECT coalesce(inet_client_addr()::text, 'socket')"); got != "socket" {
			t.Errorf("socket connection came from %q", got)
		}
		_ = c.Close(context.Background())
	}
	// Without the password nobody gets in, even over loopback.
	if c, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://%s:wrong@127.0.0.1:%d/%s?sslmode=disable", EmbeddedSuperuser, e.Port(), EmbeddedDatabase)); err == nil {
		_ = c.Close(context.Background())
		t.Errorf("login with a wrong password succeeded")
	}
	_ = conn.Close(context.Background())
	firstPort := e.Port()
	stop(t, e)

	e2, second := start(t, opts, log)
	conn2 := connect(t, e2.DSN())
	if got := queryString(t, conn2, "SELECT v FROM survives"); got != "kept" {
		t.Errorf("data written in the first run: got %q", got)
	}
	_ = conn2.Close(context.Background())
	stop(t, e2)
	t.Logf("first start (initdb) %v, later start %v; ports %d, %d", first.Round(time.Millisecond), second.Round(time.Millisecond), firstPort, e2.Port())
}

func TestEmbeddedStopsLeftoverPostmaster(t *testing.T) {
	t.Parallel()
	opts := embeddedOptions(t)
	log, logs := syncbuf.Logger(t)

	// A detached server is what a Fluxbase killed with SIGKILL leaves:
	// a postmaster that nobody supervises.
	leftOpts := opts
	leftOpts.Detached = true
	left, _ := start(t, leftOpts, log)
	leftPID := left.PID()
	if !isPostmasterOf(leftPID, left.DataDir()) {
		t.Fatalf("pid %d is not the postmaster", leftPID)
	}
	holder := connect(t, left.DSN())
	_ = holder

	e, _ := start(t, opts, log)
	if processAlive(leftPID) {
		t.Fatalf("leftover postmaster %d still runs", leftPID)
	}
	if e.PID() == leftPID {
		t.Fatalf("no new postmaster")
	}
	if !strings.Contains(logs.String(), "still running") {
		t.Errorf("the recovery was not logged")
	}
	requireServes(t, e)
	stop(t, e)
}

func TestEmbeddedStalePIDFile(t *testing.T) {
	t.Parallel()
	opts := embeddedOptions(t)
	log, _ := syncbuf.Logger(t)

	t.Run("postmaster killed", func(t *testing.T) {
		// SIGKILL leaves postmaster.pid, the shared memory segment and,
		// briefly, orphaned backends.
		leftOpts := opts
		leftOpts.Detached = true
		left, _ := start(t, leftOpts, log)
		c := connect(t, left.DSN())
		queryString(t, c, "SELECT 'busy'")
		pid := left.PID()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if !waitPIDExit(ctx, pid) {
			t.Fatal("postmaster survived SIGKILL")
		}
		if _, err := os.Stat(filepath.Join(left.DataDir(), pidFileName)); err != nil {
			t.Fatalf("expected a stale postmaster.pid: %v", err)
		}

		e, _ := start(t, opts, log)
		requireServes(t, e)
		stop(t, e)
	})

	t.Run("pid reused by another process", func(t *testing.T) {
		other := exec.Command("sleep", "60")
		if err := other.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
		real, _ := filepath.EvalSymlinks(opts.DataDir)
		stale := fmt.Sprintf("%d\n%s\n1700000000\n5432\n\n127.0.0.1\n0 0\nready   \n", other.Process.Pid, real)
		if err := os.WriteFile(filepath.Join(opts.DataDir, pidFileName), []byte(stale), 0o600); err != nil {
			t.Fatal(err)
		}

		e, _ := start(t, opts, log)
		if !processAlive(other.Process.Pid) {
			t.Fatalf("the unrelated process holding the stale pid was killed")
		}
		requireServes(t, e)
		stop(t, e)
	})
}

func TestEmbeddedRestartsAfterCrash(t *testing.T) {
	t.Parallel()
	opts := embeddedOptions(t)
	log, logs := syncbuf.Logger(t)
	e, _ := start(t, opts, log)
	defer stop(t, e)

	conn := connect(t, e.DSN())
	queryString(t, conn, "SELECT 'before'")
	crashed := e.PID()
	if err := syscall.Kill(crashed, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	begin := time.Now()
	deadline := begin.Add(45 * time.Second)
	for {
		if pid := e.PID(); pid != crashed && processAlive(pid) {
			c, err := pgx.Connect(context.Background(), e.DSN())
			if err == nil {
				var s string
				err = c.QueryRow(context.Background(), "SELECT 'after'").Scan(&s)
				_ = c.Close(context.Background())
				if err == nil {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not back 45s after a crash")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if processAlive(crashed) {
		t.Errorf("crashed postmaster %d still alive", crashed)
	}
	// The server accepts connections a moment before the supervisor logs
	// that it is back.
	for !strings.Contains(logs.String(), "exited unexpectedly") || !strings.Contains(logs.String(), "restarted") {
		if time.Now().After(deadline) {
			t.Fatalf("crash and restart not logged")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("back %v after SIGKILL", time.Since(begin).Round(time.Millisecond))
}

func TestEmbeddedStopAfterCrashWhileRestarting(t *testing.T) {
	t.Parallel()
	opts := embeddedOptions(t)
	log, _ := syncbuf.Logger(t)
	e, _ := start(t, opts, log)
	if err := syscall.Kill(e.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Stop races with the supervisor's restart; whichever wins, nothing may
	// remain running.
	time.Sleep(minRestartDelay)
	stop(t, e)
}

func TestEmbeddedRefusesUntraversableParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another OS user")
	}
	if _, err := user.Lookup(defaultOSUser); err != nil {
		t.Skip("no postgres OS user")
	}
	if _, err := findBinDir("", binSearch{}); err != nil {
		t.Skip(err)
	}
	private := t.TempDir()
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := StartEmbedded(context.Background(), EmbeddedOptions{DataDir: filepath.Join(private, "data", "pg")}, nil)
	if err == nil {
		t.Fatal("start succeeded below a directory the OS user cannot enter")
	}
	for _, want := range []string{private + " ", "chmod o+x " + private, "postgres"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestEmbeddedRefusesForeignDirectory(t *testing.T) {
	opts := embeddedOptions(t)
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(opts.DataDir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := StartEmbedded(context.Background(), opts, nil)
	if err == nil || !strings.Contains(err.Error(), "not a PostgreSQL cluster") {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(opts.DataDir, "notes.txt")); string(b) != "mine" {
		t.Fatalf("foreign file touched")
	}
}

func TestEmbeddedRemovesInterruptedInitdb(t *testing.T) {
	t.Parallel()
	opts := embeddedOptions(t)
	parent, base := filepath.Split(opts.DataDir)
	half := filepath.Join(parent, "."+base+initDirInfix+"123", "data")
	if err := os.MkdirAll(half, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(half, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log, _ := syncbuf.Logger(t)
	e, _ := start(t, opts, log)
	stop(t, e)
	if _, err := os.Stat(filepath.Dir(half)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("interrupted initdb directory left: %v", err)
	}
}

func TestFindBinDir(t *testing.T) {
	root := t.TempDir()
	fake := func(dir string) string {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"postgres", "initdb"} {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	fake(filepath.Join(root, "lib", "9.6", "bin"))
	want := fake(filepath.Join(root, "lib", "15", "bin"))
	fake(filepath.Join(root, "lib", "12", "bin"))
	onPath := fake(filepath.Join(root, "path"))
	none := binSearch{pgConfig: filepath.Join(root, "no-pg_config"), globs: []string{}, noPath: true}

	got, err := findBinDir("", binSearch{pgConfig: none.pgConfig, globs: []string{filepath.Join(root, "lib", "*", "bin")}, noPath: true})
	if err != nil || got != want {
		t.Errorf("newest versioned directory: got %q, %v; want %q", got, err, want)
	}
	got, err = findBinDir("", binSearch{pgConfig: none.pgConfig, globs: []string{}, path: "/nonexistent:" + onPath})
	if err != nil || got != onPath {
		t.Errorf("PATH: got %q, %v; want %q", got, err, onPath)
	}
	got, err = findBinDir(onPath, none)
	if err != nil || got != onPath {
		t.Errorf("explicit: got %q, %v", got, err)
	}

	_, err = findBinDir(filepath.Join(root, "empty"), none)
	if !errors.Is(err, ErrNoServerBinaries) || !strings.Contains(err.Error(), filepath.Join(root, "empty")) {
		t.Errorf("explicit bin dir without binaries: %v", err)
	}
	_, err = findBinDir("", none)
	if !errors.Is(err, ErrNoServerBinaries) {
		t.Fatalf("nothing installed: %v", err)
	}
	for _, want := range []string{"apt-get install postgresql", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestAttachEmbedded(t *testing.T) {
	t.Parallel()
	opts := embeddedOptions(t)
	log, _ := syncbuf.Logger(t)

	if _, err := AttachEmbedded(context.Background(), opts, log); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("attach before any start: %v, want ErrNotRunning", err)
	}
	detached := opts
	detached.Detached = true
	started, _ := start(t, detached, log)

	attached, err := AttachEmbedded(context.Background(), opts, log)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	if attached.Port() != started.Port() || attached.PID() != started.PID() || attached.DSN() != started.DSN() {
		t.Fatalf("attached to port %d pid %d, started port %d pid %d", attached.Port(), attached.PID(), started.Port(), started.PID())
	}
	requireServes(t, attached)

	stop(t, attached)
	if _, err := AttachEmbedded(context.Background(), opts, log); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("attach after stop: %v, want ErrNotRunning", err)
	}
}

func TestResolveOSUserRefusesMissingExplicitUser(t *testing.T) {
	_, err := resolveOSUser("fluxbase-no-such-user", slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `"fluxbase-no-such-user" does not exist`) || !strings.Contains(err.Error(), "os_user") {
		t.Fatalf("got %v", err)
	}
	if _, err := resolveOSUser("root", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatalf("root accepted as the PostgreSQL OS user")
	}
}
