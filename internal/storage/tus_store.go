package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// upload is a row of storage.uploads: a resumable upload in progress.
type upload struct {
	ID           string
	Bucket       string
	Name         string
	OwnerID      string
	Role         string
	Size         *int64 // nil: deferred
	Offset       int64
	Upsert       bool
	MimeType     string
	CacheControl string
	Metadata     map[string]string
	UserMetadata json.RawMessage
	KeyPrefix    string
	Parts        []uploadPart
	ExpiresAt    time.Time
}

// uploadPart is the bytes one PATCH stored, at Offset in the upload.
type uploadPart struct {
	Key    string `json:"key"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
}

// partKeys are the backend keys of the upload's parts, in order.
func (u *upload) partKeys() []string {
	keys := make([]string, len(u.Parts))
	for i, p := range u.Parts {
		keys[i] = p.Key
	}
	return keys
}

func (u *upload) spec(size int64) UploadSpec {
	return UploadSpec{Bucket: u.Bucket, Name: u.Name, Size: size, ContentType: u.MimeType,
		CacheControl: u.CacheControl, UserMetadata: u.UserMetadata, Upsert: u.Upsert}
}

func errNoSuchUpload() *httpx.Error {
	return httpx.NewError(http.StatusNotFound, CodeNoSuchUpload, "Upload not found")
}

func errUploadExpired() *httpx.Error {
	return httpx.NewError(http.StatusGone, CodeNoSuchUpload, "The upload has expired")
}

func newUploadID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validUploadID reports whether id can be an upload id, before it reaches
// a query.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

const uploadColumns = `id, bucket_id, name, coalesce(owner_id, ''), role, size, "offset", upsert,
	coalesce(mime_type, ''), coalesce(cache_control, ''), metadata, user_metadata, upload_key, parts, expires_at`

func scanUpload(row pgx.Row) (*upload, error) {
	var u upload
	var md, parts []byte
	err := row.Scan(&u.ID, &u.Bucket, &u.Name, &u.OwnerID, &u.Role, &u.Size, &u.Offset, &u.Upsert,
		&u.MimeType, &u.CacheControl, &md, &u.UserMetadata, &u.KeyPrefix, &parts, &u.ExpiresAt)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(md, &u.Metadata); err != nil {
		return nil, fmt.Errorf("storage.uploads %s: metadata: %w", u.ID, err)
	}
	if err := json.Unmarshal(parts, &u.Parts); err != nil {
		return nil, fmt.Errorf("storage.uploads %s: parts: %w", u.ID, err)
	}
	return &u, nil
}

// createUpload records a new resumable upload. Expired uploads are
// forgotten on the way (their bytes are already due for the janitor).
func (s *Service) createUpload(ctx context.Context, c Caller, u *upload) error {
	if _, err := s.db.Admin.Exec(ctx, `delete from storage.uploads where expires_at < now()`); err != nil {
		return pg.ErrorFrom(err)
	}
	md, _ := json.Marshal(u.Metadata)
	var meta any
	if len(u.UserMetadata) > 0 {
		meta = string(u.UserMetadata)
	}
	err := s.db.Admin.QueryRow(ctx, `insert into storage.uploads
		(id, bucket_id, name, owner, owner_id, role, claims, size, upsert, mime_type, cache_control,
		 metadata, user_metadata, upload_key, expires_at)
		values ($1, $2, $3, $4, nullif($5, ''), $6, $7, $8, $9, nullif($10, ''), nullif($11, ''), $12, $13, $14,
		        now() + $15::interval)
		returning expires_at`,
		u.ID, u.Bucket, u.Name, uuidOrNil(u.OwnerID), u.OwnerID, u.Role, claimsJSON(c), u.Size, u.Upsert,
		u.MimeType, u.CacheControl, md, meta, u.KeyPrefix, s.resumableExpiry().String()).Scan(&u.ExpiresAt)
	if err != nil {
		if pe := pg.ErrorFrom(err); pe.Code == "23503" {
			return errNoSuchBucket()
		}
		return pg.ErrorFrom(err)
	}
	return nil
}

func claimsJSON(c Caller) string {
	if len(c.Req.Claims) == 0 || !json.Valid(c.Req.Claims) {
		return "{}"
	}
	return string(c.Req.Claims)
}

// uuidOrNil returns s when it is a UUID (the owner column's type), else nil.
func uuidOrNil(s string) any {
	if len(s) != 36 {
		return nil
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return nil
			}
		case !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'):
			return nil
		}
	}
	return s
}

// loadUploadUnchecked reads an upload whoever asks; the caller must then
// prove its right to it.
func (s *Service) loadUploadUnchecked(ctx context.Context, id string) (*upload, error) {
	if !validUploadID(id) {
		return nil, errNoSuchUpload()
	}
	u, err := scanUpload(s.db.Admin.QueryRow(ctx, `select `+uploadColumns+` from storage.uploads where id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNoSuchUpload()
	}
	if err != nil {
		return nil, pg.ErrorFrom(err)
	}
	return u, nil
}

// loadUpload reads an upload the caller may continue: the same role and
// subject that created it. Anyone else is told it does not exist.
func (s *Service) loadUpload(ctx context.Context, c Caller, id string) (*upload, error) {
	u, err := s.loadUploadUnchecked(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Role != c.Req.Role || u.OwnerID != c.Subject() {
		return nil, errNoSuchUpload()
	}
	if time.Now().After(u.ExpiresAt) {
		return nil, errUploadExpired()
	}
	return u, nil
}

// reservePart registers the key of a part for collection once the upload
// would have expired, so that an abandoned upload's bytes are removed.
func (s *Service) reservePart(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return ErrInvalidKey
	}
	_, err := s.db.Admin.Exec(ctx, `insert into storage.gc (key, not_before) values ($1, now() + $2::interval)
		on conflict (key) do update set not_before = excluded.not_before`,
		key, (s.resumableExpiry() + s.cfg.OrphanGrace).String())
	return err
}

// errOffsetConflict answers a PATCH whose offset is not the upload's.
func errOffsetConflict(want, got int64) *httpx.Error {
	if want < 0 {
		return tusError(http.StatusConflict, "offset_mismatch",
			"the upload moved past Upload-Offset %d meanwhile; send a HEAD request to resume from the right offset", got)
	}
	return tusError(http.StatusConflict, "offset_mismatch",
		"Upload-Offset is %d but the upload is at %d; send a HEAD request to resume from the right offset", got, want)
}

// appendPart records a stored part as the upload's next bytes, if the
// upload is still at offset (a concurrent PATCH may have moved it), and
// keeps the bytes of every part until the upload's new expiry.
func (s *Service) appendPart(ctx context.Context, u *upload, p uploadPart) (*upload, error) {
	part, _ := json.Marshal([]uploadPart{p})
	var out *upload
	err := pgx.BeginFunc(ctx, s.db.Admin, func(tx pgx.Tx) error {
		var err error
		out, err = scanUpload(tx.QueryRow(ctx, `update storage.uploads set
				"offset" = "offset" + $3, parts = parts || $4::jsonb,
				updated_at = now(), expires_at = now() + $5::interval
			where id = $1 and "offset" = $2
			returning `+uploadColumns, u.ID, p.Offset, p.Size, part, s.resumableExpiry().String()))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `update storage.gc set not_before = $2::timestamptz + $3::interval where key = any($1)`,
			out.partKeys(), out.ExpiresAt, s.cfg.OrphanGrace.String())
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errOffsetConflict(-1, p.Offset)
	}
	if err != nil {
		return nil, pg.ErrorFrom(err)
	}
	return out, nil
}

// setDeferredLength fixes the length of an upload created with
// Upload-Defer-Length.
func (s *Service) setDeferredLength(ctx context.Context, u *upload, length int64) error {
	tag, err := s.db.Admin.Exec(ctx, `update storage.uploads set size = $2 where id = $1 and size is null`, u.ID, length)
	if err != nil {
		return pg.ErrorFrom(err)
	}
	if tag.RowsAffected() == 0 {
		return tusError(http.StatusConflict, "upload_length_set", "the upload's length is already set")
	}
	u.Size = &length
	return nil
}

// dropUpload forgets an upload and removes its parts.
func (s *Service) dropUpload(ctx context.Context, u *upload) error {
	tag, err := s.db.Admin.Exec(context.WithoutCancel(ctx), `delete from storage.uploads where id = $1`, u.ID)
	if err != nil {
		return pg.ErrorFrom(err)
	}
	if tag.RowsAffected() == 0 {
		return errNoSuchUpload()
	}
	s.discard(ctx, u.partKeys()...)
	return nil
}

// finishLease is how long a claim on finishing an upload lasts unless
// renewed; a request that dies while finishing blocks others that long.
const finishLease = 2 * time.Minute

// claimFinish takes the lease on finishing a complete upload. It returns
// nil, with no error, when the upload is incomplete, gone, or being
// finished by another request.
func (s *Service) claimFinish(ctx context.Context, id string) (*upload, error) {
	u, err := scanUpload(s.db.Admin.QueryRow(ctx, `update storage.uploads
		set finishing_until = now() + $2::interval
		where id = $1 and size = "offset" and (finishing_until is null or finishing_until < now())
		returning `+uploadColumns, id, finishLease.String()))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, pg.ErrorFrom(err)
	}
	return u, nil
}

// keepLease renews the lease on finishing id until stop is called.
func (s *Service) keepLease(ctx context.Context, id string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(finishLease / 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := s.db.Admin.Exec(ctx, `update storage.uploads set finishing_until = now() + $2::interval
					where id = $1`, id, finishLease.String()); err != nil && ctx.Err() == nil {
					s.log.Warn("storage: cannot renew the lease on finishing an upload", "upload", id, "error", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// finishUpload turns a complete upload into its object: the parts are
// composed into one key (a single part is used as it is) and committed
// under the caller's role, which RLS checks again. One request at a time
// finishes an upload (see claimFinish); when another one is at it, this
// returns at once with no error.
//
// Whether the commit succeeds or is refused (by a policy, a duplicate
// name, a limit), the upload is over: a refusal would only be repeated.
func (s *Service) finishUpload(ctx context.Context, c Caller, u *upload) error {
	ctx = context.WithoutCancel(ctx)
	claimed, err := s.claimFinish(ctx, u.ID)
	if err != nil || claimed == nil {
		return err
	}
	stop := s.keepLease(ctx, claimed.ID)
	defer stop()

	spec := claimed.spec(claimed.Offset)
	if spec.ContentType == "" {
		spec.ContentType = s.sniffUpload(ctx, claimed)
	}
	var key string
	var res PutResult
	composed := len(claimed.Parts) != 1
	if !composed {
		key, res = claimed.Parts[0].Key, PutResult{Size: claimed.Parts[0].Size}
	} else {
		if key, err = s.ReserveKey(ctx); err != nil {
			return err
		}
		srcs := claimed.partKeys()
		if len(srcs) == 0 {
			res, err = s.backend.Put(ctx, key, strings.NewReader(""), 0, 0)
		} else {
			res, err = s.backend.Compose(ctx, key, srcs)
		}
		if err != nil {
			// The lease lapses and the upload can be finished again.
			s.discard(ctx, key)
			s.log.Error("storage: cannot join the parts of an upload", "upload", claimed.ID, "error", err)
			return backendError(err, 0)
		}
		if res.Size == 0 {
			res.Size = claimed.Offset
		}
	}
	_, commitErr := s.CommitKey(ctx, c, spec, key, res)
	if _, err := s.db.Admin.Exec(ctx, `delete from storage.uploads where id = $1`, claimed.ID); err != nil {
		return pg.ErrorFrom(err)
	}
	if composed {
		s.discard(ctx, claimed.partKeys()...)
	}
	return commitErr
}

// sniffUpload names the type of an upload whose client gave none: by the
// name's extension, else by its first bytes.
func (s *Service) sniffUpload(ctx context.Context, u *upload) string {
	var head []byte
	if len(u.Parts) > 0 {
		if rc, _, err := s.backend.Get(ctx, u.Parts[0].Key); err == nil {
			head, _ = io.ReadAll(io.LimitReader(rc, 512))
			_ = rc.Close()
		}
	}
	return detectMimeType(u.Name, head)
}
