package pg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// LockFileName is the name of the instance lock inside a data directory.
const LockFileName = "fluxbase.lock"

// ErrDirInUse is matched (errors.Is) by the error LockDir returns when
// another process holds the lock.
var ErrDirInUse = errors.New("data directory is in use")

// DirInUseError says which process holds a data directory.
type DirInUseError struct {
	Dir string
	// PID of the holder as it wrote it into the lock file; 0 if unknown
	// (the holder may not have written it yet).
	PID int
}

func (e *DirInUseError) Error() string {
	pid := "pid unknown"
	if e.PID > 0 {
		pid = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("data directory %s is in use by another Fluxbase process (%s)", e.Dir, pid)
}

// Is makes errors.Is(err, ErrDirInUse) true.
func (e *DirInUseError) Is(target error) bool { return target == ErrDirInUse }

// LockDir takes the instance lock of a data directory, creating the
// directory if needed, so that two Fluxbase processes never share one
// embedded cluster. The lock is an flock(2) on dir/fluxbase.lock: the kernel
// drops it when the process dies, even by SIGKILL, so a crash never leaves a
// lock that has to be removed by hand. The holder's pid is written into the
// file for the error message of the next contender.
//
// flock locks belong to the open file description, so a second LockDir on the
// same directory fails even within one process.
func LockDir(dir string) (release func(), err error) {
	// 0755: when running as root the embedded cluster lives below this
	// directory and its unprivileged OS user must be able to traverse it.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open instance lock: %w", err)
	}
	if err := flockRetry(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &DirInUseError{Dir: dir, PID: readLockPID(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := writeLockPID(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write instance lock: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// The file stays: removing it would let a contender that
			// already opened it lock an unlinked inode while a third
			// process creates and locks a new one.
			_ = f.Truncate(0)
			_ = f.Close()
		})
	}, nil
}

func writeLockPID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

func readLockPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// flockRetry is flock(2) that retries when interrupted by a signal.
func flockRetry(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
