package syncbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/syncbuf"
)

// Run with -race: concurrent writes and reads must not race, and no write
// may be lost or torn.
func TestConcurrentWritesAreKeptWhole(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&b, "w%d-%03d\n", i, j)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	for _, l := range lines {
		if len(l) != len("w0-000") || l[0] != 'w' || l[2] != '-' {
			t.Fatalf("torn line %q", l)
		}
	}
}

func TestLoggerWritesDebugLinesToItsBuffer(t *testing.T) {
	log, buf := syncbuf.Logger(t)
	log.Debug("hello", "k", "v")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, `msg=hello k=v`) {
		t.Fatalf("log = %q", got)
	}
}
