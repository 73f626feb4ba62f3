package tempdir

import (
	"os"
	"path/filepath"
	"testing"
)

// Traversable returns a fresh t.TempDir that other OS users can traverse:
// it and its parent (the per-test directory the testing package made) are
// made 0755. Both are still removed when the test ends.
func Traversable(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
