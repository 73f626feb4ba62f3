package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Local keeps bytes in a directory: <root>/objects/<key>. A Put writes a
// temporary file in <root>/tmp, fsyncs it, renames it into place and
// fsyncs the directory, so an object is either absent or complete, even
// across a power cut. Keys are validated (ValidKey) and the joined path is
// checked to stay under the root. Temporary files of interrupted writes are
// removed by RemoveStaleTemp (the janitor calls it), not at start, since
// several instances may share the directory.
type Local struct {
	objects string
	tmp     string
}

// NewLocal opens (creating it if needed) a local backend rooted at root.
// Temporary files left by a previous process are removed.
func NewLocal(root string) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("storage root %q: %w", root, err)
	}
	l := &Local{objects: filepath.Join(abs, "objects"), tmp: filepath.Join(abs, "tmp")}
	for _, d := range []string{l.objects, l.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("storage root: %w; set storage.local.root to a writable directory", err)
		}
	}
	for i := range tmpFanout {
		if err := os.MkdirAll(filepath.Join(l.tmp, fmt.Sprintf("%02x", i)), 0o750); err != nil {
			return nil, fmt.Errorf("storage root: %w; set storage.local.root to a writable directory", err)
		}
	}
	return l, nil
}

// tmpFanout spreads temporary files over directories: concurrent creates
// in one directory serialize on its lock in the kernel.
const tmpFanout = 64

// Name implements Backend.
func (l *Local) Name() string { return "local" }

// tmpDir is the temporary directory for writing dst.
func (l *Local) tmpDir(dst string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(dst))
	return filepath.Join(l.tmp, fmt.Sprintf("%02x", h.Sum32()%tmpFanout))
}

func (l *Local) path(key string) (string, error) {
	if !ValidKey(key) {
		return "", ErrInvalidKey
	}
	p := filepath.Join(l.objects, filepath.FromSlash(key))
	if !strings.HasPrefix(p, l.objects+string(filepath.Separator)) {
		return "", ErrInvalidKey
	}
	return p, nil
}

// Put implements Backend.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size, limit int64) (PutResult, error) {
	dst, err := l.path(key)
	if err != nil {
		return PutResult{}, err
	}
	return l.write(ctx, dst, &limitedReader{r: r, limit: limit, want: size}, size)
}

// write streams r into a temporary file and renames it to dst once it is
// complete and on disk.
func (l *Local) write(ctx context.Context, dst string, r io.Reader, size int64) (res PutResult, err error) {
	f, err := os.CreateTemp(l.tmpDir(dst), "put-*")
	if err != nil {
		return PutResult{}, err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	n, err := copyToFile(f, ctxReader{ctx, r}, make([]byte, copyBufferSize(size)))
	if err != nil {
		return PutResult{}, err
	}
	if err = f.Sync(); err != nil {
		return PutResult{}, err
	}
	if err = f.Close(); err != nil {
		return PutResult{}, err
	}
	dir := filepath.Dir(dst)
	if err = renameInto(f.Name(), dst); err != nil {
		return PutResult{}, err
	}
	if err = syncDir(dir); err != nil {
		return PutResult{}, err
	}
	return PutResult{Size: n}, nil
}

// renameInto moves src to dst, creating dst's directory. A Delete that
// empties that directory removes it, possibly between the two steps: the
// rename then finds no directory, and the directory is made again. Each
// such turn means another request removed the directory, so the loop ends
// once the deletes around it do.
func renameInto(src, dst string) error {
	dir := filepath.Dir(dst)
	for {
		if err := os.MkdirAll(dir, 0o750); errors.Is(err, fs.ErrNotExist) {
			continue // a parent went while its child was being made
		} else if err != nil {
			return err
		}
		err := os.Rename(src, dst)
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if _, serr := os.Stat(src); serr != nil {
			return err // the source is gone: not a race on the directory
		}
	}
}

// writebackChunk is how much is written before the kernel is asked to
// start writing it to disk.
const writebackChunk = 8 << 20

// copyToFile copies r into f with buf (one large buffer: a 1 GB upload is
// then a thousand writes, not thirty thousand; *os.File's ReadFrom would
// copy a socket body through its own 32 KiB buffer). Every writebackChunk
// it starts the disk writes of what it has just written, without waiting
// for them, so that the disk works while the rest arrives and the final
// fsync, which still decides durability, finds little left to write.
func copyToFile(f *os.File, r io.Reader, buf []byte) (int64, error) {
	var written, started int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			m, werr := f.Write(buf[:n])
			written += int64(m)
			if werr != nil {
				return written, werr
			}
			if written-started >= writebackChunk {
				startWriteback(f, started, written-started)
				started = written
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

// copyBufferSize fits the copy buffer to a known small size (plus one byte
// to see the end), so that many small uploads at once stay cheap.
func copyBufferSize(size int64) int {
	const large = 1 << 20
	if size >= 0 && size < large {
		return max(int(size)+1, 4<<10)
	}
	return large
}

// Get implements Backend.
func (l *Local) Get(_ context.Context, key string) (io.ReadSeekCloser, ObjectInfo, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, ObjectInfo{}, mapFSError(err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, ObjectInfo{}, err
	}
	return f, ObjectInfo{Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Stat implements Backend.
func (l *Local) Stat(_ context.Context, key string) (ObjectInfo, error) {
	p, err := l.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, mapFSError(err)
	}
	return ObjectInfo{Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete implements Backend. Directories left empty are removed, up to the
// objects directory.
func (l *Local) Delete(_ context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for dir := filepath.Dir(p); dir != l.objects && strings.HasPrefix(dir, l.objects); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty, or gone
		}
	}
	return nil
}

// Copy implements Backend.
func (l *Local) Copy(ctx context.Context, src, dst string) (PutResult, error) {
	return l.Compose(ctx, dst, []string{src})
}

// Compose implements Backend.
func (l *Local) Compose(ctx context.Context, dst string, srcs []string) (PutResult, error) {
	dp, err := l.path(dst)
	if err != nil {
		return PutResult{}, err
	}
	files := make([]*os.File, 0, len(srcs))
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	readers := make([]io.Reader, 0, len(srcs))
	for _, s := range srcs {
		sp, err := l.path(s)
		if err != nil {
			return PutResult{}, err
		}
		f, err := os.Open(sp)
		if err != nil {
			return PutResult{}, mapFSError(err)
		}
		files = append(files, f)
		readers = append(readers, f)
	}
	return l.write(ctx, dp, io.MultiReader(readers...), -1)
}

// PresignGet implements Backend: a directory has no URLs of its own.
func (l *Local) PresignGet(context.Context, string, time.Duration, string) (string, error) {
	return "", ErrNotSupported
}

func mapFSError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ctxReader stops a copy once ctx is done, so that a cancelled request
// does not keep writing.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// RemoveStaleTemp removes temporary files not written to for olderThan:
// those of writes interrupted by a crash. A write in progress keeps its
// file's modification time fresh.
func (l *Local) RemoveStaleTemp(olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	err := filepath.WalkDir(l.tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			return nil
		}
		if os.Remove(p) == nil {
			removed++
		}
		return nil
	})
	return removed, err
}
