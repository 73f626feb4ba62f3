package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// runNodeTest runs one file of test/js with `node --test`, passing env as
// environment variables (for example FLUXBASE_URL and the API keys), and
// fails t with the runner's output when any of its tests fails. The
// packages come from `make test-deps` (npm ci in test/js).
func runNodeTest(t *testing.T, file string, env map[string]string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; run `make test-deps`")
	}
	dir, err := filepath.Abs("js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal("test/js/node_modules is missing; run `make test-deps`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", file)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", file, err, out)
	}
	if testing.Verbose() {
		t.Logf("node --test %s:\n%s", file, out)
	}
}
