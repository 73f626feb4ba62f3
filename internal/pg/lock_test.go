package pg

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockDirConflictsWithinOneProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")

	release, err := LockDir(dir)
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, LockFileName))
	if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Fatalf("lock file holds %q (%v), want our pid %d", b, err, os.Getpid())
	}

	_, err = LockDir(dir)
	if !errors.Is(err, ErrDirInUse) {
		t.Fatalf("second lock in the same process: got %v, want ErrDirInUse", err)
	}
	want := fmt.Sprintf("data directory %s is in use by another Fluxbase process (pid %d)", dir, os.Getpid())
	if err.Error() != want {
		t.Fatalf("error message:\n got %q\nwant %q", err.Error(), want)
	}

	release()
	release() // idempotent
	release2, err := LockDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	release2()
}

// TestLockDirReleasedWhenHolderIsKilled runs a second process that holds the
// lock, then kills it with SIGKILL: the kernel must drop the lock.
func TestLockDirReleasedWhenHolderIsKilled(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), "FLUXBASE_LOCK_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper did not lock: %q %v", line, err)
	}

	_, err = LockDir(dir)
	var inUse *DirInUseError
	if !errors.As(err, &inUse) || inUse.PID != cmd.Process.Pid {
		t.Fatalf("lock held by helper pid %d: got %v", cmd.Process.Pid, err)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		release, err := LockDir(dir)
		if err == nil {
			release()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock not released after its holder was killed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLockHelperProcess is not a test: it is the lock holder that
// TestLockDirReleasedWhenHolderIsKilled starts and kills.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv("FLUXBASE_LOCK_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	if _, err := LockDir(dir); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(0)
}
