package tempdir_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fluxbase/fluxbase/internal/testutil/tempdir"
)

func TestTraversableOpensTheDirectoryAndItsParent(t *testing.T) {
	dir := tempdir.Traversable(t)
	for _, d := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm()&0o055 != 0o055 {
			t.Errorf("%s: mode %v, want group and others to read and enter it", d, fi.Mode())
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("not a fresh empty directory: %v %v", entries, err)
	}
}
