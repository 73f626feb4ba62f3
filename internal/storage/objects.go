package storage

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// Object is a row of storage.objects.
type Object struct {
	ID             string          `json:"id"`
	Bucket         string          `json:"bucket_id"`
	Name           string          `json:"name"`
	Owner          string          `json:"owner"`
	Size           int64           `json:"size"`
	MimeType       string          `json:"mime_type"`
	ETag           string          `json:"etag"`
	CacheControl   string          `json:"cache_control"`
	UserMetadata   json.RawMessage `json:"user_metadata"`
	Metadata       json.RawMessage `json:"metadata"`
	Version        string          `json:"-"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	LastAccessedAt time.Time       `json:"last_accessed_at"`
}

const objectColumns = `o.id::text, o.bucket_id, o.name, coalesce(o.owner_id, o.owner::text, ''), o.size, o.mime_type,
	o.etag, o.cache_control, o.user_metadata, o.metadata, o.version, o.created_at, o.updated_at, o.last_accessed_at`

func scanObject(row pgx.Row) (Object, error) {
	var o Object
	err := row.Scan(&o.ID, &o.Bucket, &o.Name, &o.Owner, &o.Size, &o.MimeType, &o.ETag, &o.CacheControl,
		&o.UserMetadata, &o.Metadata, &o.Version, &o.CreatedAt, &o.UpdatedAt, &o.LastAccessedAt)
	return o, err
}

func collectObjects(rows pgx.Rows) ([]Object, error) {
	defer rows.Close()
	out := []Object{}
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// UploadSpec describes an upload.
type UploadSpec struct {
	Bucket, Name string
	// Size announced by the client, or -1 when unknown (chunked, multipart).
	Size int64
	// ContentType given by the client; "" (or application/octet-stream)
	// lets the type be detected from the name and the content.
	ContentType  string
	CacheControl string
	UserMetadata json.RawMessage
	// Upsert overwrites an existing object (needs UPDATE as well as INSERT).
	Upsert bool
}

// smallUpload is the size up to which an upload is not checked against
// the caller's policies before its bytes are read.
const smallUpload = 1 << 20

// errPreflightDone rolls back a transaction that only checked permissions.
var errPreflightDone = errors.New("preflight done")

// upsertSQL inserts (or, with $9, overwrites) the row of an object whose
// bytes are at $8, returning it and the key of the bytes it replaced. The
// owner is the caller's sub.
const upsertSQL = `with old as (
	select version from storage.objects where bucket_id = $1 and name = $2
), up as (
	insert into storage.objects as o
		(bucket_id, name, owner, owner_id, size, mime_type, etag, cache_control, user_metadata, version)
	values ($1, $2, auth.uid(), nullif(auth.jwt() ->> 'sub', ''), $3, $4, $5, $6, $7, $8)
	on conflict (bucket_id, name) do update set
		owner = excluded.owner, owner_id = excluded.owner_id, size = excluded.size,
		mime_type = excluded.mime_type, etag = excluded.etag, cache_control = excluded.cache_control,
		user_metadata = excluded.user_metadata, version = excluded.version, last_accessed_at = now()
	where $9
	returning ` + objectColumns + `
)
select up.*, (select version from old) from up`

// plan is an upload that passed every check that can be made before its
// bytes arrive.
type plan struct {
	spec   UploadSpec
	bucket *bucket
	limit  int64
}

// prepare validates spec and reads the bucket's rules. With checkFirst it
// also checks, in a transaction rolled back at once, that the caller's
// policies allow the row to be written, so that a refused upload is
// refused before its first byte.
func (s *Service) prepare(ctx context.Context, c Caller, spec UploadSpec, checkFirst bool) (*plan, error) {
	if err := checkName(spec.Name); err != nil {
		return nil, err
	}
	b, err := s.lookupBucket(ctx, spec.Bucket)
	if err != nil {
		return nil, err
	}
	p := &plan{spec: spec, bucket: b, limit: s.limit(b)}
	if spec.Size > p.limit {
		return nil, errTooLarge(p.limit)
	}
	if spec.ContentType != "" && spec.ContentType != "application/octet-stream" && !mimeAllowed(b.AllowedMimeTypes, spec.ContentType) {
		return nil, errMimeType(spec.ContentType)
	}
	if spec.CacheControl == "" {
		p.spec.CacheControl = "max-age=3600"
	}
	if len(spec.UserMetadata) > 0 && !json.Valid(spec.UserMetadata) {
		return nil, errInvalidRequest("metadata must be a JSON object")
	}
	if !checkFirst {
		return p, nil
	}
	err = s.inTx(ctx, c, false, func(ctx context.Context, tx pg.Tx) error {
		// A fresh key: a shared placeholder would make concurrent
		// preflights wait for each other on the unique index.
		if _, _, err := s.writeRow(ctx, tx, p, newKey(), PutResult{}); err != nil {
			return err
		}
		return errPreflightDone
	})
	if errors.Is(err, errPreflightDone) {
		return p, nil
	}
	return nil, err
}

func errMimeType(t string) *httpx.Error {
	return httpx.Errorf(http.StatusUnsupportedMediaType, CodeInvalidMimeType, "mime type %s is not supported", t).
		WithHint("the bucket's allowed_mime_types does not include it")
}

// writeRow inserts or overwrites the object's row; old is the key of the
// bytes it replaced, when the caller could see the replaced row.
func (s *Service) writeRow(ctx context.Context, tx pg.Tx, p *plan, key string, res PutResult) (o Object, old string, err error) {
	var meta any
	if len(p.spec.UserMetadata) > 0 {
		meta = string(p.spec.UserMetadata)
	}
	etag := res.ETag
	if etag == "" {
		// Keys are never reused, so the key identifies these exact bytes.
		etag = key[strings.LastIndexByte(key, '/')+1:]
	}
	etag = `"` + strings.Trim(etag, `"`) + `"`
	mimeType := p.spec.ContentType
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	row := tx.QueryRow(ctx, upsertSQL, p.spec.Bucket, p.spec.Name, res.Size, mimeType, etag,
		p.spec.CacheControl, meta, key, p.spec.Upsert)
	var oldKey *string
	err = row.Scan(&o.ID, &o.Bucket, &o.Name, &o.Owner, &o.Size, &o.MimeType, &o.ETag, &o.CacheControl,
		&o.UserMetadata, &o.Metadata, &o.Version, &o.CreatedAt, &o.UpdatedAt, &o.LastAccessedAt, &oldKey)
	if errors.Is(err, pgx.ErrNoRows) {
		// ON CONFLICT ... WHERE false: the name is taken and upsert is off.
		return Object{}, "", errDuplicate()
	}
	if err != nil {
		if pe := pg.ErrorFrom(err); pe.Code == "23503" {
			return Object{}, "", errNoSuchBucket()
		}
		return Object{}, "", err
	}
	if oldKey != nil {
		old = *oldKey
	}
	return o, old, nil
}

// Upload streams body to the backend and then records the object, under
// the caller's role. Limits are enforced while streaming; a failed or
// interrupted upload leaves neither a row nor bytes.
func (s *Service) Upload(ctx context.Context, c Caller, spec UploadSpec, body io.Reader) (Object, error) {
	// Small uploads skip the separate permission check: the commit makes
	// it anyway, and little is wasted if it refuses.
	p, err := s.prepare(ctx, c, spec, spec.Size < 0 || spec.Size > smallUpload)
	if err != nil {
		return Object{}, err
	}
	br := bufio.NewReaderSize(body, 64<<10)
	if p.spec.ContentType == "" || p.spec.ContentType == "application/octet-stream" {
		head, _ := br.Peek(512)
		detected := detectMimeType(p.spec.Name, head)
		if p.spec.ContentType == "" || detected != "application/octet-stream" {
			p.spec.ContentType = detected
		}
		if !mimeAllowed(p.bucket.AllowedMimeTypes, p.spec.ContentType) {
			return Object{}, errMimeType(p.spec.ContentType)
		}
	}
	key := newKey()
	if err := s.reserveKey(ctx, key); err != nil {
		return Object{}, pg.ErrorFrom(err)
	}
	stop := s.keepReserved(ctx, key)
	res, err := s.backend.Put(ctx, key, br, p.spec.Size, p.limit)
	stop()
	if err != nil {
		s.discard(ctx, key)
		return Object{}, s.transferError(ctx, err, body, p.limit)
	}
	return s.commit(ctx, c, p, key, res)
}

// transferError explains a failed Put: the limit, a client that went away
// or sent less than announced (4xx), or the backend (5xx).
func (s *Service) transferError(ctx context.Context, err error, body io.Reader, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.Is(err, ErrTooLarge) || errors.As(err, &mbe) {
		return errTooLarge(limit)
	}
	if errors.Is(err, ErrIncomplete) {
		return backendError(err, limit)
	}
	if db, ok := body.(*deadlineBody); ok && db.err != nil {
		if errors.As(db.err, &mbe) {
			return errTooLarge(limit)
		}
		return httpx.NewError(http.StatusBadRequest, CodeInvalidRequest, "The upload was interrupted: the request body could not be read").WithDetails(db.err.Error())
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.log.Error("storage: backend write failed", "backend", s.backend.Name(), "error", err)
	return backendError(err, limit)
}

// commit records bytes stored at key as the object of p; if that fails
// the bytes are removed. Bytes an overwrite replaced are removed after
// the commit.
func (s *Service) commit(ctx context.Context, c Caller, p *plan, key string, res PutResult) (Object, error) {
	var o Object
	var old string
	wrote := false
	err := s.inTx(ctx, c, false, func(ctx context.Context, tx pg.Tx) error {
		var err error
		o, old, err = s.writeRow(ctx, tx, p, key, res)
		wrote = err == nil
		return err
	})
	if err != nil {
		if !wrote {
			// The statement failed, so the transaction rolled back.
			s.discard(ctx, key)
		}
		// Otherwise COMMIT itself failed and may have taken effect: the
		// reservation stays, and the janitor decides once the grace
		// period is over.
		return Object{}, err
	}
	// The row's trigger ended the key's reservation in the same transaction.
	if old != "" {
		s.discard(ctx, old)
	}
	if p.spec.Upsert {
		// A concurrent overwrite, or a replaced row the caller could not
		// see, leaves its key queued in storage.gc.
		s.wakeJanitor()
	}
	return o, nil
}

// PrepareUpload checks, before any byte arrives, that spec can be uploaded
// by c (name, bucket, size and type limits, and the caller's policies).
// Resumable uploads call it when an upload is created.
func (s *Service) PrepareUpload(ctx context.Context, c Caller, spec UploadSpec) (limit int64, err error) {
	p, err := s.prepare(ctx, c, spec, true)
	if err != nil {
		return 0, err
	}
	return p.limit, nil
}

// ReserveKey returns a fresh backend key registered for collection: bytes
// written under it are removed by the janitor after storage.orphan_grace
// unless an object comes to reference them (CommitKey) first. Call
// ExtendKey while an upload under it is in progress.
func (s *Service) ReserveKey(ctx context.Context) (string, error) {
	key := newKey()
	if err := s.reserveKey(ctx, key); err != nil {
		return "", pg.ErrorFrom(err)
	}
	return key, nil
}

// ReserveNamedKey registers key (for example a resumable upload's part)
// for collection like ReserveKey. The key must be ValidKey.
func (s *Service) ReserveNamedKey(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return ErrInvalidKey
	}
	if err := s.reserveKey(ctx, key); err != nil {
		return pg.ErrorFrom(err)
	}
	return nil
}

// ExtendKey pushes back the collection of a reserved key.
func (s *Service) ExtendKey(ctx context.Context, key string) error {
	return s.extendKey(ctx, key)
}

// Discard removes bytes no object references, now.
func (s *Service) Discard(ctx context.Context, keys ...string) { s.discard(ctx, keys...) }

// CommitKey records the bytes already stored at key (reserved with
// ReserveKey) as the object spec describes, under c's role: the final step
// of a resumable upload. spec.ContentType must be set (detection needs
// the bytes). On failure the bytes are removed.
func (s *Service) CommitKey(ctx context.Context, c Caller, spec UploadSpec, key string, res PutResult) (Object, error) {
	p, err := s.prepare(ctx, c, spec, false)
	if err != nil {
		s.discard(ctx, key)
		return Object{}, err
	}
	if res.Size > p.limit {
		s.discard(ctx, key)
		return Object{}, errTooLarge(p.limit)
	}
	return s.commit(ctx, c, p, key, res)
}

// Access says how a read is authorized.
type Access int

const (
	// AccessRLS reads under the caller's role: SELECT policies decide.
	AccessRLS Access = iota
	// AccessPublic reads objects of public buckets without policies; other
	// buckets answer 404.
	AccessPublic
	// AccessSigned reads with a verified signed URL.
	AccessSigned
	// AccessAuto is AccessPublic for public buckets, AccessRLS otherwise.
	AccessAuto
)

// Info returns an object's row.
func (s *Service) Info(ctx context.Context, c Caller, bucketID, name string, access Access) (Object, error) {
	if err := checkName(name); err != nil {
		return Object{}, err
	}
	if err := checkBucketID(bucketID); err != nil {
		return Object{}, err
	}
	const q = `select ` + objectColumns + ` from storage.objects o where o.bucket_id = $1 and o.name = $2`
	if access == AccessAuto {
		b, err := s.lookupBucket(ctx, bucketID)
		if err != nil {
			return Object{}, err
		}
		access = AccessRLS
		if b.Public {
			access = AccessSigned // the bucket's public flag is the authorization
		}
	}
	if access != AccessRLS {
		if access == AccessPublic {
			b, err := s.lookupBucket(ctx, bucketID)
			if err != nil {
				return Object{}, err
			}
			if !b.Public {
				return Object{}, errNoSuchBucket()
			}
		}
		o, err := scanObject(s.db.Admin.QueryRow(ctx, q, bucketID, name))
		if errors.Is(err, pgx.ErrNoRows) {
			return Object{}, errNoSuchKey()
		}
		if err != nil {
			return Object{}, pg.ErrorFrom(err)
		}
		return o, nil
	}
	var o Object
	err := s.inTx(ctx, c, true, func(ctx context.Context, tx pg.Tx) error {
		var err error
		o, err = scanObject(tx.QueryRow(ctx, q, bucketID, name))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoSuchKey()
		}
		return err
	})
	return o, err
}

// Open returns an object's row and its bytes; the caller closes them.
func (s *Service) Open(ctx context.Context, c Caller, bucketID, name string, access Access) (Object, io.ReadSeekCloser, error) {
	o, err := s.Info(ctx, c, bucketID, name, access)
	if err != nil {
		return Object{}, nil, err
	}
	s.touch(ctx, o)
	var rc io.ReadSeekCloser
	if g, ok := s.backend.(SizedGetter); ok {
		rc, _, err = g.GetSized(ctx, o.Version, o.Size)
	} else {
		rc, _, err = s.backend.Get(ctx, o.Version)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// Deleted or overwritten since the row was read.
			return Object{}, nil, errNoSuchKey()
		}
		return Object{}, nil, backendError(err, 0)
	}
	return o, rc, nil
}

// touchEvery bounds how often a download records itself in
// last_accessed_at: at most one write per object and interval, so that
// reads stay reads.
const touchEvery = time.Hour

// touch records that o was read, when its last record is old enough. It
// runs with the owner's pool: an access is not a change the caller makes.
func (s *Service) touch(ctx context.Context, o Object) {
	if time.Since(o.LastAccessedAt) < touchEvery {
		return
	}
	if _, err := s.db.Admin.Exec(ctx, `update storage.objects set last_accessed_at = now()
		where id = $1 and last_accessed_at < now() - $2::interval`, o.ID, touchEvery.String()); err != nil && ctx.Err() == nil {
		s.log.Warn("storage: cannot record an access", "error", err)
	}
}

// Remove deletes the named objects the caller may delete and returns them;
// names that do not exist or are not visible are skipped, as storage-api
// does.
func (s *Service) Remove(ctx context.Context, c Caller, bucketID string, names []string) ([]Object, error) {
	if err := checkBucketID(bucketID); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return []Object{}, nil
	}
	if len(names) > 1000 {
		return nil, errInvalidRequest("at most 1000 objects can be deleted at once")
	}
	for _, n := range names {
		if err := checkName(n); err != nil {
			return nil, err
		}
	}
	var deleted []Object
	err := s.inTx(ctx, c, false, func(ctx context.Context, tx pg.Tx) error {
		rows, err := tx.Query(ctx, `delete from storage.objects o where o.bucket_id = $1 and o.name = any($2)
			returning `+objectColumns, bucketID, names)
		if err != nil {
			return err
		}
		deleted, err = collectObjects(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(deleted))
	for i, o := range deleted {
		keys[i] = o.Version
	}
	s.discard(ctx, keys...)
	return deleted, nil
}

// Move renames an object, possibly into another bucket (UPDATE under RLS:
// the policy's USING sees the old row, WITH CHECK the new one). The bytes
// do not move.
func (s *Service) Move(ctx context.Context, c Caller, srcBucket, src, dstBucket, dst string) (Object, error) {
	if dstBucket == "" {
		dstBucket = srcBucket
	}
	for _, n := range []string{src, dst} {
		if err := checkName(n); err != nil {
			return Object{}, err
		}
	}
	if err := checkBucketID(srcBucket); err != nil {
		return Object{}, err
	}
	db, err := s.lookupBucket(ctx, dstBucket)
	if err != nil {
		return Object{}, err
	}
	var o Object
	err = s.inTx(ctx, c, false, func(ctx context.Context, tx pg.Tx) error {
		var err error
		o, err = scanObject(tx.QueryRow(ctx, `update storage.objects o set bucket_id = $3, name = $4,
			updated_at = now(), last_accessed_at = now()
			where o.bucket_id = $1 and o.name = $2 returning `+objectColumns, srcBucket, src, dstBucket, dst))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoSuchKey()
		}
		if err != nil {
			return err
		}
		if dstBucket != srcBucket {
			if o.Size > s.limit(db) {
				return errTooLarge(s.limit(db))
			}
			if !mimeAllowed(db.AllowedMimeTypes, o.MimeType) {
				return errMimeType(o.MimeType)
			}
		}
		return nil
	})
	return o, err
}

// Copy copies an object (SELECT on the source, INSERT on the destination,
// and UPDATE too with upsert). The copy gets its own bytes.
func (s *Service) Copy(ctx context.Context, c Caller, srcBucket, src, dstBucket, dst string, upsert bool, metadata json.RawMessage) (Object, error) {
	if dstBucket == "" {
		dstBucket = srcBucket
	}
	so, err := s.Info(ctx, c, srcBucket, src, AccessRLS)
	if err != nil {
		return Object{}, err
	}
	spec := UploadSpec{Bucket: dstBucket, Name: dst, Size: so.Size, ContentType: so.MimeType,
		CacheControl: so.CacheControl, UserMetadata: so.UserMetadata, Upsert: upsert}
	if len(metadata) > 0 {
		spec.UserMetadata = metadata
	}
	p, err := s.prepare(ctx, c, spec, true)
	if err != nil {
		return Object{}, err
	}
	if !mimeAllowed(p.bucket.AllowedMimeTypes, so.MimeType) {
		return Object{}, errMimeType(so.MimeType)
	}
	key := newKey()
	if err := s.reserveKey(ctx, key); err != nil {
		return Object{}, pg.ErrorFrom(err)
	}
	stop := s.keepReserved(ctx, key)
	res, err := s.backend.Copy(ctx, so.Version, key)
	stop()
	if err != nil {
		s.discard(ctx, key)
		return Object{}, backendError(err, p.limit)
	}
	if res.Size == 0 {
		res.Size = so.Size
	}
	return s.commit(ctx, c, p, key, res)
}
