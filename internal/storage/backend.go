package storage

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"time"
)

// Backend keeps the bytes of objects under opaque keys that Fluxbase
// generates (never object names). Implementations must be safe for
// concurrent use, must make a Put visible only once it is complete (a
// reader never sees a partial object), and must treat keys as untrusted:
// a key that is not ValidKey is refused.
type Backend interface {
	// Put stores r under key, reading until EOF. It fails with
	// ErrTooLarge, storing nothing, as soon as more than limit bytes
	// arrive (limit <= 0: no limit). size is the length announced by the
	// client, or -1; a body that ends before size bytes fails with
	// ErrIncomplete and stores nothing.
	Put(ctx context.Context, key string, r io.Reader, size, limit int64) (PutResult, error)
	// Get opens key for reading, or fails with ErrNotFound. The reader can
	// seek, so that ranges are read without reading what precedes them
	// (on S3 each seek starts a ranged GET).
	Get(ctx context.Context, key string) (io.ReadSeekCloser, ObjectInfo, error)
	// Stat describes key, or fails with ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Copy stores a copy of src under dst.
	Copy(ctx context.Context, src, dst string) (PutResult, error)
	// Compose stores the concatenation of srcs, in order, under dst; the
	// sources are left in place. Resumable uploads store their chunks as
	// separate keys and compose them once complete.
	Compose(ctx context.Context, dst string, srcs []string) (PutResult, error)
	// PresignGet returns a URL that downloads key directly from the
	// backend until expiry, or ErrNotSupported.
	PresignGet(ctx context.Context, key string, expiry time.Duration, filename string) (string, error)
	// Name is "local" or "s3", for logs and errors.
	Name() string
}

// SizedGetter is a Backend that opens a download better when told the
// size the object's row records (0: unknown), for example to choose how to
// stream it before the backend has answered. The size is only a hint: the
// reader and ObjectInfo describe the bytes actually stored.
type SizedGetter interface {
	GetSized(ctx context.Context, key string, size int64) (io.ReadSeekCloser, ObjectInfo, error)
}

// PutResult describes bytes just stored.
type PutResult struct {
	Size int64
	// ETag is the backend's entity tag, or "" when it has none.
	ETag string
}

// ObjectInfo describes stored bytes.
type ObjectInfo struct {
	Size    int64
	ModTime time.Time
}

// Backend errors.
var (
	ErrNotFound     = errors.New("storage: no such key")
	ErrTooLarge     = errors.New("storage: object larger than the limit")
	ErrIncomplete   = errors.New("storage: body shorter than its announced length")
	ErrInvalidKey   = errors.New("storage: invalid backend key")
	ErrNotSupported = errors.New("storage: not supported by this backend")
)

// keySegment is one segment of a backend key: no dots alone, nothing a
// shell, a URL or a filesystem would treat specially.
var keySegment = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ValidKey reports whether key is a backend key: 1 to 8 segments separated
// by "/", each of letters, digits, "_", "-" and ".", not starting with a dot.
// Such a key can never name a path outside a backend's root.
func ValidKey(key string) bool {
	if key == "" || len(key) > 512 {
		return false
	}
	segs := strings.Split(key, "/")
	if len(segs) > 8 {
		return false
	}
	for _, s := range segs {
		if !keySegment.MatchString(s) {
			return false
		}
	}
	return true
}

// limitedReader fails with ErrTooLarge once more than limit bytes have been
// read, and with ErrIncomplete when the source ends before want bytes
// (want < 0: unknown). It lets backends enforce limits while streaming.
type limitedReader struct {
	r     io.Reader
	limit int64 // <= 0: none
	want  int64 // announced size, or -1
	n     int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.limit > 0 && l.n > l.limit {
		return n, ErrTooLarge
	}
	if l.want >= 0 && l.n > l.want {
		return n, ErrTooLarge
	}
	if err == io.EOF && l.want >= 0 && l.n < l.want {
		return n, ErrIncomplete
	}
	return n, err
}
