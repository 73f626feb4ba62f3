// Package s3test runs a real S3 server for tests: versitygw (installed into
// bin/tools by `make test-deps`) serving a temporary directory, with access
// keys generated at run time and a port picked by the kernel.
//
// It must not be imported by non-test code.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fluxbase/fluxbase/internal/testutil/testservers"
)

// Server is a running S3 server.
type Server struct {
	// Endpoint is http://127.0.0.1:PORT.
	Endpoint             string
	AccessKey, SecretKey string
	Region               string
	Client               *minio.Client
}

var bucketSeq atomic.Int64

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start runs a server for the duration of t.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartBinary(t, testservers.ToolPath(t, "versitygw"))
}

// StartBinary runs the versitygw at bin for the duration of t.
func StartBinary(t testing.TB, bin string) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{AccessKey: "AK" + randomHex(9), SecretKey: randomHex(20), Region: "us-east-1"}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		addr := fmt.Sprintf("127.0.0.1:%d", testservers.FreePort(t))
		var out strings.Builder
		cmd := exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
			"--port", addr, "--quiet", "posix", "--sidecar", filepath.Join(dir, "meta"), filepath.Join(dir, "data"))
		cmd.Stdout, cmd.Stderr = &out, &out
		for _, d := range []string{"meta", "data"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting versitygw: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		s.Endpoint = "http://" + addr
		if lastErr = s.waitReady(exited); lastErr == nil {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return s
		}
		_ = cmd.Process.Kill()
		<-exited
		lastErr = fmt.Errorf("%w; output:\n%s", lastErr, out.String())
	}
	t.Fatalf("versitygw did not start: %v", lastErr)
	return nil
}

func (s *Server) waitReady(exited <-chan error) error {
	c, err := minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: s.Region, BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return err
	}
	s.Client = c
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("versitygw exited: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.ListBuckets(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// NewBucket creates a fresh bucket and returns its name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("fb-test-%d-%s", bucketSeq.Add(1), randomHex(4))
	if err := s.Client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("creating S3 bucket: %v", err)
	}
	return name
}
