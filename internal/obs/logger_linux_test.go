package obs_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/obs"
)

// openPTY returns the terminal side of a fresh pseudo-terminal and the
// controlling side to read what was written to it.
func openPTY(t *testing.T) (tty, ptm *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty, ptm
}

func TestNewLoggerAutoIsTextOnATerminal(t *testing.T) {
	tty, ptm := openPTY(t)
	log, err := obs.NewLogger(config.LogConfig{Format: "auto"}, tty)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("on a terminal", "k", "v")
	buf := make([]byte, 4096)
	n, err := ptm.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	out := string(buf[:n])
	if strings.HasPrefix(out, "{") || !strings.Contains(out, `msg="on a terminal" k=v`) {
		t.Fatalf("terminal output %q, want text", out)
	}
}
