package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// Service is file storage: buckets and objects over storage.* and a
// Backend. It is safe for concurrent use.
type Service struct {
	db      *pg.DB
	backend Backend
	cfg     config.StorageConfig
	log     *slog.Logger
	signer  *signer
	// kick wakes the janitor early, after deletes and overwrites.
	kick chan struct{}
	// transformer renders images for the render routes.
	transformer *Transformer
}

// OpenBackend opens the backend that cfg selects.
func OpenBackend(ctx context.Context, cfg *config.Config) (Backend, error) {
	switch cfg.Storage.Backend {
	case "local":
		return NewLocal(cfg.StorageRoot())
	case "s3":
		return NewS3(ctx, cfg.Storage.S3)
	}
	return nil, fmt.Errorf("storage.backend %q is not a backend; use local or s3", cfg.Storage.Backend)
}

// New builds the storage service. The key that signs URLs is read from
// fluxbase.secrets, or generated there at first start, so that every
// replica accepts the URLs the others sign.
func New(ctx context.Context, db *pg.DB, backend Backend, cfg config.StorageConfig, log *slog.Logger) (*Service, error) {
	key, err := ensureSigningKey(ctx, db)
	if err != nil {
		return nil, err
	}
	return &Service{db: db, backend: backend, cfg: cfg, log: log, signer: &signer{key: key},
		kick: make(chan struct{}, 1), transformer: NewTransformer(imageLimits(cfg.Image))}, nil
}

// imageLimits are the transformer's limits from the configuration; a
// configuration built without them (zero) gets the defaults, except the
// cache, where 0 means none.
func imageLimits(c config.StorageImageConfig) ImageLimits {
	l := ImageLimits{
		MaxSourceBytes:  c.MaxSourceBytes,
		MaxSourcePixels: c.MaxSourcePixels,
		MaxSourceSide:   c.MaxSourceSide,
		MaxOutputSide:   c.MaxOutputSide,
		CacheBytes:      c.CacheBytes,
		Concurrency:     c.DecodeConcurrency,
	}
	if l.CacheBytes == 0 {
		l.CacheBytes = -1
	}
	return l
}

// resumableExpiry is how long a resumable upload lives after its last
// byte (storage.resumable_expiry).
func (s *Service) resumableExpiry() time.Duration {
	if s.cfg.ResumableExpiry > 0 {
		return s.cfg.ResumableExpiry
	}
	return config.Default().Storage.ResumableExpiry
}

// Backend is the backend the service stores bytes in.
func (s *Service) Backend() Backend { return s.backend }

// Config is the storage configuration the service runs with.
func (s *Service) Config() config.StorageConfig { return s.cfg }

// Caller is who asks: the request transaction settings (role, claims,
// method, path, headers) that RLS policies see.
type Caller struct {
	Req pg.Request
}

// ServiceCaller acts as service_role, optionally on behalf of a subject
// (the owner recorded on new objects): used for signed upload URLs, whose
// permission was checked when they were signed.
func ServiceCaller(subject string) Caller {
	claims := map[string]any{"role": "service_role"}
	if subject != "" {
		claims["sub"] = subject
	}
	b, _ := json.Marshal(claims)
	return Caller{Req: pg.Request{Role: "service_role", Claims: b}}
}

// Subject is the caller's sub claim, or "".
func (c Caller) Subject() string {
	var claims struct {
		Sub any `json:"sub"`
	}
	if json.Unmarshal(c.Req.Claims, &claims) != nil || claims.Sub == nil {
		return ""
	}
	if s, ok := claims.Sub.(string); ok {
		return s
	}
	return fmt.Sprint(claims.Sub)
}

// inTx runs fn under the caller's role and claims; RLS decides.
func (s *Service) inTx(ctx context.Context, c Caller, readOnly bool, fn func(ctx context.Context, tx pg.Tx) error) error {
	req := c.Req
	req.ReadOnly = readOnly
	err := s.db.InRequestTx(ctx, req, fn)
	if err != nil {
		return dbError(err, req.Role)
	}
	return nil
}

// bucket is what object operations need to know about a bucket. It is read
// with the owner's pool: bucket rules (size, types, public) apply whatever
// the caller may see of storage.buckets, as in Supabase Storage.
type bucket struct {
	ID               string
	Public           bool
	FileSizeLimit    *int64
	AllowedMimeTypes []string
}

func (s *Service) lookupBucket(ctx context.Context, id string) (*bucket, error) {
	if err := checkBucketID(id); err != nil {
		return nil, err
	}
	var b bucket
	err := s.db.Admin.QueryRow(ctx,
		`select id, public, file_size_limit, allowed_mime_types from storage.buckets where id = $1`, id).
		Scan(&b.ID, &b.Public, &b.FileSizeLimit, &b.AllowedMimeTypes)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoSuchBucket()
	}
	if err != nil {
		return nil, pg.ErrorFrom(err)
	}
	return &b, nil
}

// limit is the largest object the bucket accepts.
func (s *Service) limit(b *bucket) int64 {
	l := s.cfg.MaxFileSize
	if b != nil && b.FileSizeLimit != nil && *b.FileSizeLimit < l {
		l = *b.FileSizeLimit
	}
	return l
}

// reservedBucketIDs name routes of the native API under /api/v1/storage.
var reservedBucketIDs = map[string]bool{"buckets": true, "uploads": true, "render": true}

func checkBucketID(id string) error {
	if id == "" || len(id) > 100 || id != strings.TrimSpace(id) || strings.Contains(id, "..") || strings.ContainsAny(id, "/\\") {
		return httpx.NewError(http.StatusBadRequest, CodeInvalidBucket, "Bucket name invalid").
			WithHint("use 1-100 letters, digits, spaces, dots, hyphens and underscores, starting with a letter or digit")
	}
	for i, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			(i > 0 && (r == '.' || r == '_' || r == '-' || r == ' '))
		if !ok {
			return httpx.NewError(http.StatusBadRequest, CodeInvalidBucket, "Bucket name invalid").
				WithHint("use 1-100 letters, digits, spaces, dots, hyphens and underscores, starting with a letter or digit")
		}
	}
	return nil
}

// MaxNameBytes bounds object names (S3's own limit).
const MaxNameBytes = 1024

// checkName validates an object name: valid UTF-8, no control characters
// (NUL included), no empty, "." or ".." segments, not absolute, at most
// MaxNameBytes bytes. Names never reach a filesystem (backend keys are
// generated), but clients build paths and URLs from them.
func checkName(name string) error {
	switch {
	case name == "":
		return errInvalidKey("Invalid key: the object name is empty")
	case len(name) > MaxNameBytes:
		return errInvalidKey("Invalid key: the object name is longer than %d bytes", MaxNameBytes)
	case !utf8.ValidString(name):
		return errInvalidKey("Invalid key: the object name is not valid UTF-8")
	case strings.HasPrefix(name, "/"):
		return errInvalidKey("Invalid key: the object name must not start with /")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errInvalidKey("Invalid key: the object name contains a control character")
		}
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return errInvalidKey("Invalid key: the object name has an empty, \".\" or \"..\" segment")
		}
	}
	return nil
}

// newKey returns a fresh backend key: two levels of fan-out and 128 random
// bits, unrelated to the object's name.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return "o/" + h[:2] + "/" + h[2:4] + "/" + h
}

// reserveKey records key as possibly garbage before its first byte is
// written: if the process dies before the row referencing it commits, the
// janitor removes the bytes once grace has passed.
func (s *Service) reserveKey(ctx context.Context, key string) error {
	_, err := s.db.Admin.Exec(ctx,
		`insert into storage.gc (key, not_before) values ($1, now() + $2::interval)
		 on conflict (key) do update set not_before = excluded.not_before`,
		key, s.cfg.OrphanGrace.String())
	return err
}

// extendKey pushes the reservation of key forward while its upload streams.
func (s *Service) extendKey(ctx context.Context, key string) error {
	_, err := s.db.Admin.Exec(ctx,
		`update storage.gc set not_before = now() + $2::interval where key = $1`, key, s.cfg.OrphanGrace.String())
	return err
}

// keepReserved extends the reservation of key until stop is called, for
// uploads that outlast a fraction of the grace period.
func (s *Service) keepReserved(ctx context.Context, key string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(s.cfg.OrphanGrace/4, time.Second))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.extendKey(ctx, key); err != nil && ctx.Err() == nil {
					s.log.Warn("storage: cannot extend the reservation of an upload in progress", "key", key, "error", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// discard removes bytes that no row references (a failed upload, or the
// old version of an overwritten or deleted object). Keys that a row does
// reference are left alone, whatever the caller believed. Failures are
// left to the janitor, which finds the keys in storage.gc.
func (s *Service) discard(ctx context.Context, keys ...string) {
	ctx = context.WithoutCancel(ctx)
	keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "" })
	if len(keys) == 0 {
		return
	}
	rows, err := s.db.Admin.Query(ctx, `select k from unnest($1::text[]) k
		where not exists (select 1 from storage.objects o where o.version = k)`, keys)
	if err != nil {
		s.log.Warn("storage: cannot check keys before deleting their bytes; the janitor will", "error", err)
		return
	}
	free, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		s.log.Warn("storage: cannot check keys before deleting their bytes; the janitor will", "error", err)
		return
	}
	done := free[:0]
	for _, key := range free {
		if err := s.backend.Delete(ctx, key); err != nil {
			s.log.Warn("storage: cannot delete unreferenced bytes; the janitor will retry", "key", key, "error", err)
			continue
		}
		done = append(done, key)
	}
	if len(done) == 0 {
		return
	}
	if _, err := s.db.Admin.Exec(ctx, `delete from storage.gc g where g.key = any($1)
		and not exists (select 1 from storage.objects o where o.version = g.key)`, done); err != nil {
		s.log.Warn("storage: cannot clear collected keys", "error", err)
	}
}
