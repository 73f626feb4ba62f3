package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/storage"
	"github.com/fluxbase/fluxbase/internal/testutil"
	"github.com/fluxbase/fluxbase/internal/testutil/s3test"
)

func TestValidKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"o/ab/cd/abcdef", "x", "a_b-c.d/e"} {
		if !storage.ValidKey(k) {
			t.Errorf("ValidKey(%q) = false", k)
		}
	}
	for _, k := range []string{"", "../x", "a/../b", "/abs", "a//b", ".", "a/.", ".hidden", "a\x00b", "a b", "a\\b",
		strings.Repeat("a", 600), "1/2/3/4/5/6/7/8/9", "é"} {
		if storage.ValidKey(k) {
			t.Errorf("ValidKey(%q) = true", k)
		}
	}
}

// backendsUnderTest returns a local and an S3 backend.
func backendsUnderTest(t *testing.T) map[string]storage.Backend {
	t.Helper()
	local, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := s3test.Start(t)
	s3, err := storage.NewS3(context.Background(), config.StorageS3Config{Endpoint: srv.Endpoint, Bucket: srv.NewBucket(t),
		Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true, Prefix: "p/"})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]storage.Backend{"local": local, "s3": s3}
}

func TestBackends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, b := range backendsUnderTest(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := make([]byte, 6<<20+123) // crosses a multipart part on S3 with -1 size
			_, _ = rand.Read(data)
			res, err := b.Put(ctx, "t/a", bytes.NewReader(data), -1, 0)
			if err != nil || res.Size != int64(len(data)) {
				t.Fatalf("Put: %+v %v", res, err)
			}
			rc, info, err := b.Get(ctx, "t/a")
			if err != nil || info.Size != int64(len(data)) {
				t.Fatalf("Get: %+v %v", info, err)
			}
			if _, err := rc.Seek(1000, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			part := make([]byte, 100)
			if _, err := io.ReadFull(rc, part); err != nil || !bytes.Equal(part, data[1000:1100]) {
				t.Fatalf("ranged read: %v", err)
			}
			rc.Close()

			// Limits: nothing is stored when the body crosses the limit or
			// ends before its announced size.
			if _, err := b.Put(ctx, "t/big", bytes.NewReader(data), -1, 1000); !errors.Is(err, storage.ErrTooLarge) {
				t.Errorf("over the limit: %v", err)
			}
			if _, err := b.Put(ctx, "t/short", bytes.NewReader(data[:10]), 20, 0); !errors.Is(err, storage.ErrIncomplete) {
				t.Errorf("short body: %v", err)
			}
			for _, k := range []string{"t/big", "t/short"} {
				if _, err := b.Stat(ctx, k); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("%s exists after a failed Put: %v", k, err)
				}
			}

			// Compose small parts (streamed on S3) and a copy.
			for i, p := range []string{"x", "yy", "zzz"} {
				if _, err := b.Put(ctx, "t/part"+string(rune('0'+i)), strings.NewReader(p), int64(len(p)), 0); err != nil {
					t.Fatal(err)
				}
			}
			if res, err := b.Compose(ctx, "t/composed", []string{"t/part0", "t/part1", "t/part2"}); err != nil || res.Size != 6 {
				t.Fatalf("Compose: %+v %v", res, err)
			}
			if _, err := b.Copy(ctx, "t/composed", "t/copy"); err != nil {
				t.Fatal(err)
			}
			rc, _, err = b.Get(ctx, "t/copy")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if string(got) != "xyyzzz" {
				t.Errorf("composed copy = %q", got)
			}

			if err := b.Delete(ctx, "t/a"); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(ctx, "t/a"); err != nil {
				t.Errorf("deleting twice: %v", err)
			}
			if _, _, err := b.Get(ctx, "t/a"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Get after Delete: %v", err)
			}
			for _, k := range []string{"../escape", "/etc/passwd", "a/../../b"} {
				if _, err := b.Put(ctx, k, strings.NewReader("x"), 1, 0); !errors.Is(err, storage.ErrInvalidKey) {
					t.Errorf("Put(%q): %v", k, err)
				}
			}
		})
	}
}

// A killed upload leaves bytes whose row never committed; the janitor
// removes them once the grace period is over, and never removes bytes a
// row references.
func TestJanitor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testutil.NewDB(t)
	root := t.TempDir()
	local, err := storage.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Storage
	svc, err := storage.New(ctx, db.DB, local, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// An upload that died after writing its bytes.
	orphan, err := svc.ReserveKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.Put(ctx, orphan, strings.NewReader("orphan"), 6, 0); err != nil {
		t.Fatal(err)
	}
	// An upload that committed but died before releasing its reservation.
	if _, err := db.DB.Admin.Exec(ctx, `insert into storage.buckets (id, name) values ('b', 'b')`); err != nil {
		t.Fatal(err)
	}
	kept, err := svc.ReserveKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.Put(ctx, kept, strings.NewReader("kept"), 4, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DB.Admin.Exec(ctx, `insert into storage.objects (bucket_id, name, version) values ('b', 'k', $1)`, kept); err != nil {
		t.Fatal(err)
	}

	// A temporary file left by a write the process did not finish, and one
	// being written.
	stale := filepath.Join(root, "tmp", "00", "put-stale")
	fresh := filepath.Join(root, "tmp", "01", "put-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * cfg.OrphanGrace)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	// Within the grace period only the stale temporary file goes.
	if n, err := svc.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep within grace: %d, %v", n, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if err := os.Remove(fresh); err != nil {
		t.Errorf("temporary file in progress removed: %v", err)
	}
	if _, err := db.DB.Admin.Exec(ctx, `update storage.gc set not_before = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if n, err := svc.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if _, err := local.Stat(ctx, orphan); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("orphan still stored: %v", err)
	}
	if _, err := local.Stat(ctx, kept); err != nil {
		t.Errorf("referenced bytes removed: %v", err)
	}
	var left int
	if err := db.DB.Admin.QueryRow(ctx, `select count(*) from storage.gc`).Scan(&left); err != nil || left != 0 {
		t.Errorf("storage.gc keeps %d rows, %v", left, err)
	}

	// Deleting the row queues its bytes (the trigger), and the janitor
	// removes them.
	if _, err := db.DB.Admin.Exec(ctx, `delete from storage.objects where version = $1`, kept); err != nil {
		t.Fatal(err)
	}
	if n, err := svc.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep after delete: %d, %v", n, err)
	}
	// The local backend leaves no empty directories behind.
	var files []string
	_ = filepath.WalkDir(filepath.Join(root, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != filepath.Join(root, "objects") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("left behind: %v", files)
	}
	_ = filepath.WalkDir(filepath.Join(root, "tmp"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// Downloads record last_accessed_at (at most hourly) without changing
// updated_at, which is the object's Last-Modified.
func TestLastAccessed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "local")
	e.createBucket(t, "b", false)
	e.mustDo(t, 200, "POST", "/storage/v1/object/b/f.txt", e.service("Content-Type", "text/plain"), "x")
	ctx := context.Background()
	if _, err := e.DB.DB.Admin.Exec(ctx, `update storage.objects set last_accessed_at = now() - interval '2 hours'`); err != nil {
		t.Fatal(err)
	}
	var before string
	_ = e.DB.DB.Admin.QueryRow(ctx, `select updated_at::text from storage.objects`).Scan(&before)
	e.mustDo(t, 200, "GET", "/storage/v1/object/b/f.txt", e.service(), nil)
	var after string
	var fresh bool
	if err := e.DB.DB.Admin.QueryRow(ctx, `select updated_at::text, last_accessed_at > now() - interval '1 minute' from storage.objects`).Scan(&after, &fresh); err != nil {
		t.Fatal(err)
	}
	if !fresh || before != after {
		t.Errorf("last_accessed fresh=%v, updated_at %s -> %s", fresh, before, after)
	}
}

// failingReader returns data and then err instead of EOF.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// Large S3 uploads go in parts sent several at a time: the object must be
// the body in order whatever the part boundaries, and an upload that fails
// after some parts were sent must leave neither an object nor an
// incomplete multipart upload.
func TestS3MultipartPut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	b, err := storage.NewS3(ctx, config.StorageS3Config{Endpoint: srv.Endpoint, Bucket: bucket,
		Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Region: srv.Region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	const part = 8 << 20
	data := make([]byte, 5*part+12345)
	_, _ = rand.Read(data)
	cases := []struct {
		name        string
		n           int
		size, limit int64
	}{
		{"known size", len(data), int64(len(data)), 0},
		{"unknown size under a limit", len(data), -1, 1 << 30},
		{"unknown size, no limit", len(data), -1, 0},
		{"whole parts", 3 * part, 3 * part, 0},
		{"one byte over a part", part + 1, part + 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := "mp/" + strings.NewReplacer(" ", "_", ",", "").Replace(c.name)
			// A reader that returns less than asked, as a socket does.
			res, err := b.Put(ctx, key, iotest.HalfReader(bytes.NewReader(data[:c.n])), c.size, c.limit)
			if err != nil || res.Size != int64(c.n) {
				t.Fatalf("Put: %+v %v", res, err)
			}
			rc, info, err := b.Get(ctx, key)
			if err != nil || info.Size != int64(c.n) {
				t.Fatalf("Get: %+v %v", info, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data[:c.n]) {
				t.Fatalf("stored object differs from the body (%d bytes, %v)", len(got), err)
			}
		})
	}

	for name, put := range map[string]func() error{
		"over the limit": func() error {
			_, err := b.Put(ctx, "mp/fail", bytes.NewReader(data), -1, 3*part+10)
			if !errors.Is(err, storage.ErrTooLarge) {
				t.Errorf("over the limit: %v", err)
			}
			return err
		},
		"shorter than announced": func() error {
			_, err := b.Put(ctx, "mp/fail", bytes.NewReader(data[:3*part]), int64(len(data)), 0)
			if !errors.Is(err, storage.ErrIncomplete) {
				t.Errorf("short body: %v", err)
			}
			return err
		},
		"client gone": func() error {
			gone := errors.New("connection reset")
			_, err := b.Put(ctx, "mp/fail", &failingReader{r: bytes.NewReader(data[:3*part+7]), err: gone}, -1, 0)
			if !errors.Is(err, gone) {
				t.Errorf("client gone: %v", err)
			}
			return err
		},
	} {
		if put() == nil {
			t.Fatalf("%s: Put succeeded", name)
		}
		if _, err := b.Stat(ctx, "mp/fail"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: object exists after a failed Put: %v", name, err)
		}
		for up := range direct.ListIncompleteUploads(ctx, bucket, "mp/fail", true) {
			t.Errorf("%s: incomplete multipart upload left: %+v", name, up)
		}
	}
}

// A Delete that empties a directory removes it; a Put into that directory
// at the same moment still succeeds.
func TestLocalPutWhileDeleteEmptiesItsDirectory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		old, next := "o/ab/cd/old", "o/ab/cd/new"
		if i%2 == 1 {
			old, next = next, old
		}
		if _, err := b.Put(ctx, old, strings.NewReader("x"), 1, 0); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- b.Delete(ctx, old) }()
		if _, err := b.Put(ctx, next, strings.NewReader("y"), 1, 0); err != nil {
			t.Fatalf("round %d: Put beside a Delete: %v", i, err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := b.Stat(ctx, next); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
}
