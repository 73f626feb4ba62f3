package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fluxbase/fluxbase/internal/config"
)

// s3PartSize is the multipart chunk minio-go buffers per upload when the
// size is unknown or large: it bounds the memory of one transfer.
const s3PartSize = 16 << 20

// s3MinComposePart is S3's smallest part for a server-side compose
// (UploadPartCopy), except for the last one.
const s3MinComposePart = 5 << 20

// S3 keeps bytes in one S3 bucket, under <prefix><key>.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
}

// NewS3 connects to the bucket described by c and checks that it exists.
func NewS3(ctx context.Context, c config.StorageS3Config) (*S3, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("storage.s3.endpoint: %w", err)
	}
	var creds *credentials.Credentials
	if c.AccessKey != "" {
		creds = credentials.NewStaticV4(c.AccessKey, c.SecretKey, "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
		})
	}
	lookup := minio.BucketLookupDNS
	if c.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Region:       c.Region,
		BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("storage.s3: %w", err)
	}
	s := &S3{client: client, bucket: c.Bucket, prefix: c.Prefix}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ok, err := client.BucketExists(cctx, c.Bucket)
	if err != nil {
		return nil, fmt.Errorf("storage.s3: cannot reach bucket %q at %s: %w", c.Bucket, c.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("storage.s3.bucket: bucket %q does not exist at %s; create it first", c.Bucket, c.Endpoint)
	}
	return s, nil
}

// Name implements Backend.
func (s *S3) Name() string { return "s3" }

func (s *S3) key(key string) (string, error) {
	if !ValidKey(key) {
		return "", ErrInvalidKey
	}
	return s.prefix + key, nil
}

// Put implements Backend. S3 makes an object visible only once its upload
// completes, so an interrupted Put leaves nothing (minio-go aborts the
// multipart upload when the reader fails).
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size, limit int64) (PutResult, error) {
	k, err := s.key(key)
	if err != nil {
		return PutResult{}, err
	}
	lr := &limitedReader{r: r, limit: limit, want: size}
	info, err := s.client.PutObject(ctx, s.bucket, k, lr, size, minio.PutObjectOptions{
		PartSize:         s3PartSize,
		DisableMultipart: size >= 0 && size < s3PartSize,
		ContentType:      "application/octet-stream",
	})
	if err != nil {
		// The reader's own error explains better than minio's wrapping.
		switch {
		case errors.Is(err, ErrTooLarge) || (lr.limit > 0 && lr.n > lr.limit):
			return PutResult{}, ErrTooLarge
		case errors.Is(err, ErrIncomplete):
			return PutResult{}, ErrIncomplete
		}
		return PutResult{}, err
	}
	return PutResult{Size: info.Size, ETag: info.ETag}, nil
}

// Get implements Backend.
func (s *S3) Get(ctx context.Context, key string) (io.ReadSeekCloser, ObjectInfo, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	// One GET answers the size and starts the body: a download costs one
	// round trip to S3, not a HEAD and then a GET.
	body, st, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, k, minio.GetObjectOptions{})
	if err != nil {
		return nil, ObjectInfo{}, mapS3Error(err)
	}
	obj := &s3Object{ctx: ctx, s3: s, key: k, size: st.Size, body: body}
	return obj, ObjectInfo{Size: st.Size, ModTime: st.LastModified}, nil
}

// s3Object reads an S3 object as an io.ReadSeeker: it reads the body of
// the GET it was opened with, and after a Seek elsewhere (a Range
// request) opens a ranged GET from the new position when next read.
type s3Object struct {
	ctx  context.Context
	s3   *S3
	key  string
	size int64
	pos  int64
	// body is positioned at bodyPos; a Read elsewhere replaces it. Seeks
	// alone (http.ServeContent seeks to the end to learn the size) keep it.
	body    io.ReadCloser
	bodyPos int64
}

func (o *s3Object) Read(p []byte) (int, error) {
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if o.body != nil && o.bodyPos != o.pos {
		_ = o.body.Close()
		o.body = nil
	}
	if o.body == nil {
		opts := minio.GetObjectOptions{}
		// SetRange(0, 0) would ask for the first byte only.
		if o.pos > 0 {
			if err := opts.SetRange(o.pos, 0); err != nil {
				return 0, err
			}
		}
		body, _, _, err := minio.Core{Client: o.s3.client}.GetObject(o.ctx, o.s3.bucket, o.key, opts)
		if err != nil {
			return 0, mapS3Error(err)
		}
		o.body, o.bodyPos = body, o.pos
	}
	if rest := o.size - o.pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := o.body.Read(p)
	o.pos += int64(n)
	o.bodyPos = o.pos
	if err == io.EOF && o.pos < o.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	var pos int64
	switch whence {
	case io.SeekStart:
		pos = offset
	case io.SeekCurrent:
		pos = o.pos + offset
	case io.SeekEnd:
		pos = o.size + offset
	default:
		return o.pos, errors.New("s3 object: invalid whence")
	}
	if pos < 0 {
		return o.pos, errors.New("s3 object: negative position")
	}
	o.pos = pos
	return pos, nil
}

func (o *s3Object) Close() error {
	if o.body == nil {
		return nil
	}
	err := o.body.Close()
	o.body = nil
	return err
}

// Stat implements Backend.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	k, err := s.key(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	st, err := s.client.StatObject(ctx, s.bucket, k, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, mapS3Error(err)
	}
	return ObjectInfo{Size: st.Size, ModTime: st.LastModified}, nil
}

// Delete implements Backend.
func (s *S3) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	err = s.client.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{})
	if err != nil && errors.Is(mapS3Error(err), ErrNotFound) {
		return nil
	}
	return err
}

// Copy implements Backend, server-side.
func (s *S3) Copy(ctx context.Context, src, dst string) (PutResult, error) {
	sk, err := s.key(src)
	if err != nil {
		return PutResult{}, err
	}
	dk, err := s.key(dst)
	if err != nil {
		return PutResult{}, err
	}
	info, err := s.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: dk},
		minio.CopySrcOptions{Bucket: s.bucket, Object: sk})
	if err != nil {
		return PutResult{}, mapS3Error(err)
	}
	return PutResult{Size: info.Size, ETag: info.ETag}, nil
}

// Compose implements Backend: server-side when every source but the last
// is large enough for S3's UploadPartCopy, otherwise by streaming the
// sources through one upload (constant memory either way).
func (s *S3) Compose(ctx context.Context, dst string, srcs []string) (PutResult, error) {
	if len(srcs) == 0 {
		return s.Put(ctx, dst, strings.NewReader(""), 0, 0)
	}
	if len(srcs) == 1 {
		return s.Copy(ctx, srcs[0], dst)
	}
	dk, err := s.key(dst)
	if err != nil {
		return PutResult{}, err
	}
	var total int64
	serverSide := len(srcs) <= 10000
	copySrcs := make([]minio.CopySrcOptions, 0, len(srcs))
	for i, src := range srcs {
		sk, err := s.key(src)
		if err != nil {
			return PutResult{}, err
		}
		st, err := s.Stat(ctx, src)
		if err != nil {
			return PutResult{}, err
		}
		if i < len(srcs)-1 && st.Size < s3MinComposePart {
			serverSide = false
		}
		total += st.Size
		copySrcs = append(copySrcs, minio.CopySrcOptions{Bucket: s.bucket, Object: sk})
	}
	if serverSide {
		info, err := s.client.ComposeObject(ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: dk}, copySrcs...)
		if err != nil {
			return PutResult{}, mapS3Error(err)
		}
		return PutResult{Size: info.Size, ETag: info.ETag}, nil
	}
	r := &concatReader{ctx: ctx, s: s, keys: srcs}
	defer r.Close()
	return s.Put(ctx, dst, r, total, 0)
}

// concatReader reads keys one after the other, opening each when needed.
type concatReader struct {
	ctx  context.Context
	s    *S3
	keys []string
	cur  io.ReadCloser
}

func (c *concatReader) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.keys) == 0 {
				return 0, io.EOF
			}
			rc, _, err := c.s.Get(c.ctx, c.keys[0])
			if err != nil {
				return 0, err
			}
			c.cur, c.keys = rc, c.keys[1:]
		}
		n, err := c.cur.Read(p)
		if err == io.EOF {
			_ = c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *concatReader) Close() error {
	if c.cur != nil {
		return c.cur.Close()
	}
	return nil
}

// PresignGet implements Backend.
func (s *S3) PresignGet(ctx context.Context, key string, expiry time.Duration, filename string) (string, error) {
	k, err := s.key(key)
	if err != nil {
		return "", err
	}
	params := url.Values{}
	if filename != "" {
		params.Set("response-content-disposition", contentDisposition("attachment", filename))
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, k, expiry, params)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func mapS3Error(err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.StatusCode == http.StatusNotFound || resp.Code == "NoSuchKey" {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}
