package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fluxbase/fluxbase/internal/config"
)

// Multipart uploads: parts of s3PartSize (larger only when an object could
// need more than S3's 10,000 parts) and at most s3UploadMemory of part
// buffers per upload: two parts go to S3 while a third is read from the
// client, which keeps S3 busy on two cores within the memory target (each
// buffer also costs garbage-collector headroom, so the resident increase
// is about twice the buffers). Never fewer than s3MinPartBuffers, so that
// reading and sending overlap. An upload of unknown size with no limit
// gets s3UnboundedPartSize parts (objects up to 160 GiB).
const (
	s3PartSize          = 6 << 20
	s3UploadMemory      = 18 << 20
	s3MinPartBuffers    = 2
	s3UnboundedPartSize = 16 << 20
	s3MaxParts          = 10000
	s3MaxPart           = 5 << 30
)

// s3MinComposePart is S3's smallest part for a server-side compose
// (UploadPartCopy), except for the last one.
const s3MinComposePart = 5 << 20

// S3 keeps bytes in one S3 bucket, under <prefix><key>.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
	// direct: large downloads may use GETs of their own, spliced to the
	// client (backend_s3_direct.go).
	direct bool
	// buffers holds part buffers of s3PartSize between uploads.
	buffers sync.Pool
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
	s := &S3{client: client, bucket: c.Bucket, prefix: c.Prefix, direct: directGetAllowed(u, http.ProxyFromEnvironment)}
	s.buffers.New = func() any { b := make([]byte, s3PartSize); return &b }
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
// completes, so an interrupted Put leaves nothing: a failed multipart
// upload is aborted.
//
// A body that fits in one part goes in a single PUT, streamed when its
// size is known. A larger one goes in parts uploaded concurrently while
// the next part is read from the client, so that the client is not kept
// waiting while S3 takes a part. The part buffers are pooled and their
// number is bounded (s3UploadMemory), so one upload holds a fixed amount
// of memory whatever its size.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size, limit int64) (PutResult, error) {
	k, err := s.key(key)
	if err != nil {
		return PutResult{}, err
	}
	lr := &limitedReader{r: r, limit: limit, want: size}
	partSize := s3PartSizeFor(size, limit)
	var res PutResult
	if size >= 0 && size <= partSize {
		res, err = s.putSingle(ctx, k, lr, size)
	} else {
		res, err = s.putParts(ctx, k, lr, partSize)
	}
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
	return res, nil
}

func (s *S3) putSingle(ctx context.Context, k string, r io.Reader, size int64) (PutResult, error) {
	info, err := s.client.PutObject(ctx, s.bucket, k, r, size, minio.PutObjectOptions{
		DisableMultipart: true,
		ContentType:      "application/octet-stream",
	})
	if err != nil {
		return PutResult{}, err
	}
	return PutResult{Size: info.Size, ETag: info.ETag}, nil
}

// s3PartSizeFor is the part size of an upload of size bytes (-1: unknown)
// under limit (<= 0: none): s3PartSize unless the object could need more
// than S3's 10,000 parts, then the smallest whole MiB that fits.
func s3PartSizeFor(size, limit int64) int64 {
	most := size
	if most < 0 {
		most = limit
	}
	if most <= 0 {
		return s3UnboundedPartSize
	}
	need := (most + s3MaxParts - 1) / s3MaxParts
	need = (need + 1<<20 - 1) &^ (1<<20 - 1)
	return min(max(need, s3PartSize), s3MaxPart)
}

func (s *S3) partBuffer(size int64) *[]byte {
	if size == s3PartSize {
		return s.buffers.Get().(*[]byte)
	}
	b := make([]byte, size)
	return &b
}

func (s *S3) releasePartBuffer(b *[]byte) {
	if int64(len(*b)) == s3PartSize {
		s.buffers.Put(b)
	}
}

// putParts reads r in parts of partSize and uploads them, several at a
// time. A body that ends within the first part goes in a single PUT from
// memory.
func (s *S3) putParts(ctx context.Context, k string, r io.Reader, partSize int64) (PutResult, error) {
	first := s.partBuffer(partSize)
	n, err := io.ReadFull(r, *first)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		defer s.releasePartBuffer(first)
		return s.putSingle(ctx, k, bytes.NewReader((*first)[:n]), int64(n))
	}
	if err != nil {
		s.releasePartBuffer(first)
		return PutResult{}, err
	}
	core := minio.Core{Client: s.client}
	uploadID, err := core.NewMultipartUpload(ctx, s.bucket, k, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		s.releasePartBuffer(first)
		return PutResult{}, err
	}
	u := &s3Upload{core: core, bucket: s.bucket, key: k, id: uploadID}
	nbuf := int(max(s3UploadMemory/partSize, s3MinPartBuffers))
	free := make(chan *[]byte, nbuf)
	for range nbuf - 1 {
		free <- s.partBuffer(partSize)
	}
	total, err := u.run(ctx, r, first, partSize, free)
	close(free)
	for b := range free {
		s.releasePartBuffer(b)
	}
	if err != nil {
		u.abort(ctx)
		return PutResult{}, err
	}
	info, err := core.CompleteMultipartUpload(ctx, s.bucket, k, uploadID, u.parts, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		u.abort(ctx)
		return PutResult{}, err
	}
	return PutResult{Size: total, ETag: info.ETag}, nil
}

// s3Upload is one multipart upload in progress.
type s3Upload struct {
	core        minio.Core
	bucket, key string
	id          string

	mu    sync.Mutex
	parts []minio.CompletePart
	err   error
}

// run uploads first (a full part) and then the rest of r, part by part,
// each part in its own goroutine holding a buffer from free; it returns
// once every part has been answered, with the bytes sent or the first
// error. Every buffer is back in free when it returns.
func (u *s3Upload) run(ctx context.Context, r io.Reader, first *[]byte, partSize int64, free chan *[]byte) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	send := func(num int, buf *[]byte, n int64) {
		wg.Go(func() {
			part, err := u.core.PutObjectPart(ctx, u.bucket, u.key, u.id, num, bytes.NewReader((*buf)[:n]), n, minio.PutObjectPartOptions{})
			free <- buf
			u.mu.Lock()
			defer u.mu.Unlock()
			if err != nil {
				if u.err == nil {
					u.err = err
				}
				cancel()
				return
			}
			u.parts = append(u.parts, minio.CompletePart{PartNumber: num, ETag: part.ETag})
		})
	}
	total := partSize
	send(1, first, partSize)
	var readErr error
	for num := 2; ; num++ {
		var buf *[]byte
		select {
		case buf = <-free:
		case <-ctx.Done():
		}
		if buf == nil || ctx.Err() != nil {
			if buf != nil {
				free <- buf
			}
			break
		}
		n, err := io.ReadFull(r, *buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			free <- buf
			readErr = err
			break
		}
		if n == 0 {
			free <- buf
			break
		}
		if num > s3MaxParts {
			free <- buf
			readErr = ErrTooLarge
			break
		}
		total += int64(n)
		send(num, buf, int64(n))
		if int64(n) < partSize {
			break // the body ended within this part
		}
	}
	wg.Wait()
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case readErr != nil:
		return 0, readErr
	case u.err != nil:
		return 0, u.err
	case ctx.Err() != nil:
		return 0, ctx.Err()
	}
	slices.SortFunc(u.parts, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
	return total, nil
}

// abort drops the parts of a failed upload. The request's context may be
// over, so the abort has its own.
func (u *s3Upload) abort(ctx context.Context) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = u.core.AbortMultipartUpload(actx, u.bucket, u.key, u.id)
}

// Get implements Backend.
func (s *S3) Get(ctx context.Context, key string) (io.ReadSeekCloser, ObjectInfo, error) {
	return s.GetSized(ctx, key, 0)
}

// GetSized implements SizedGetter: a large object may be served by direct
// GETs.
func (s *S3) GetSized(ctx context.Context, key string, size int64) (io.ReadSeekCloser, ObjectInfo, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	// One GET answers the size and starts the body: a download costs one
	// round trip to S3, not a HEAD and then a GET.
	obj := &s3Object{ctx: ctx, s3: s, key: k, direct: s.direct && size >= s3DirectMin}
	info, err := obj.reopen(size)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	obj.size = info.Size
	return obj, info, nil
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
	// raw is body when body is a direct GET's, which can be spliced.
	raw *s3RawBody
	// direct: the object is read for a download, and later GETs may be
	// direct ones when what is left to read is large enough.
	direct bool
}

func (o *s3Object) Read(p []byte) (int, error) {
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if err := o.seekBody(o.size - o.pos); err != nil {
		return 0, err
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

// seekBody makes body a GET positioned at pos, of which want bytes are
// expected to be read: the open one if it is there, else a new one.
func (o *s3Object) seekBody(want int64) error {
	if o.body != nil && o.bodyPos != o.pos {
		_ = o.Close()
	}
	if o.body != nil {
		return nil
	}
	_, err := o.reopen(want)
	return err
}

// reopen starts a GET from pos to the end, of which want bytes are
// expected to be read: a direct one when it applies, else minio-go's.
// From pos 0 the answer also describes the object, which is how open
// learns its size in the same round trip.
func (o *s3Object) reopen(want int64) (ObjectInfo, error) {
	if o.direct && want >= s3DirectMin {
		body, info, err := o.s3.getDirect(o.ctx, o.key, o.pos)
		switch {
		case err == nil:
			o.body, o.raw, o.bodyPos = body, body, o.pos
			return info, nil
		case errors.Is(err, ErrNotFound):
			return ObjectInfo{}, err
		}
		// Anything else: minio-go's GET answers instead.
	}
	opts := minio.GetObjectOptions{}
	// SetRange(0, 0) would ask for the first byte only.
	if o.pos > 0 {
		if err := opts.SetRange(o.pos, 0); err != nil {
			return ObjectInfo{}, err
		}
	}
	body, st, _, err := minio.Core{Client: o.s3.client}.GetObject(o.ctx, o.s3.bucket, o.key, opts)
	if err != nil {
		return ObjectInfo{}, mapS3Error(err)
	}
	o.body, o.bodyPos = body, o.pos
	return ObjectInfo{Size: st.Size, ModTime: st.LastModified}, nil
}

// spliceTo implements splicer: it sends the next n bytes from a direct
// GET, opening a GET at the current position if the open body is
// elsewhere. It declines (handled false, nothing sent) when the body is
// minio-go's, which is then read as usual.
func (o *s3Object) spliceTo(w io.Writer, n int64) (int64, bool, error) {
	n = min(n, o.size-o.pos)
	if n <= 0 {
		return 0, true, nil
	}
	if err := o.seekBody(n); err != nil {
		return 0, true, err
	}
	if o.raw == nil {
		return 0, false, nil
	}
	sent, err := o.raw.writeTo(w, n)
	o.pos += sent
	o.bodyPos = o.pos
	return sent, true, err
}

func (o *s3Object) Close() error {
	if o.body == nil {
		return nil
	}
	err := o.body.Close()
	o.body, o.raw = nil, nil
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
