package s3test_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/fluxbase/fluxbase/internal/testutil/s3test"
)

// The harness must give a working, isolated S3 server.
func TestStartServesS3(t *testing.T) {
	s := s3test.Start(t)
	b := s.NewBucket(t)
	ctx := context.Background()
	if _, err := s.Client.PutObject(ctx, b, "k", bytes.NewReader([]byte("hello")), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	o, err := s.Client.GetObject(ctx, b, "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	if err != nil || string(got) != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}
}
