package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// Bucket is a row of storage.buckets, in storage-api's JSON shape.
type Bucket struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	Owner            string    `json:"owner"`
	Public           bool      `json:"public"`
	FileSizeLimit    *int64    `json:"file_size_limit"`
	AllowedMimeTypes []string  `json:"allowed_mime_types"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

const bucketColumns = `id, name, coalesce(owner_id, owner::text, ''), public, file_size_limit, allowed_mime_types, created_at, updated_at`

func scanBucket(row pgx.Row) (Bucket, error) {
	var b Bucket
	err := row.Scan(&b.ID, &b.Name, &b.Owner, &b.Public, &b.FileSizeLimit, &b.AllowedMimeTypes, &b.CreatedAt, &b.UpdatedAt)
	return b, err
}

// BucketInput creates a bucket. Fields are raw JSON so that an absent
// field (keep) differs from null (clear) on update.
type BucketInput struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Public           json.RawMessage `json:"public"`
	FileSizeLimit    json.RawMessage `json:"file_size_limit"`
	AllowedMimeTypes json.RawMessage `json:"allowed_mime_types"`
}

type bucketFields struct {
	public             *bool
	setLimit, setTypes bool
	limit              *int64
	types              []string
}

func (in BucketInput) fields() (bucketFields, error) {
	var f bucketFields
	if present(in.Public) {
		var p bool
		if err := json.Unmarshal(in.Public, &p); err != nil {
			return f, errInvalidRequest("public must be true or false")
		}
		f.public = &p
	}
	if len(in.FileSizeLimit) > 0 {
		f.setLimit = true
		if present(in.FileSizeLimit) {
			n, err := parseSizeJSON(in.FileSizeLimit)
			if err != nil {
				return f, err
			}
			if n > 0 {
				f.limit = &n
			}
		}
	}
	if len(in.AllowedMimeTypes) > 0 {
		f.setTypes = true
		if present(in.AllowedMimeTypes) {
			if err := json.Unmarshal(in.AllowedMimeTypes, &f.types); err != nil {
				return f, errInvalidRequest("allowed_mime_types must be an array of MIME types such as [\"image/*\", \"application/pdf\"]")
			}
			for _, t := range f.types {
				if !validMimePattern(t) {
					return f, errInvalidRequest("allowed_mime_types: %q is not a MIME type or a pattern such as image/*", t)
				}
			}
			if len(f.types) == 0 {
				f.types = nil
			}
		}
	}
	return f, nil
}

func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// parseSizeJSON reads a file size limit: a number of bytes, or a string
// with a unit as storage-js accepts ("100MB", "1GB", "512KB", "20B").
func parseSizeJSON(raw json.RawMessage) (int64, error) {
	bad := errInvalidRequest("file_size_limit must be a number of bytes or a size such as \"50MB\"")
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		v, err := n.Int64()
		if err != nil || v < 0 {
			return 0, bad
		}
		return v, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return 0, bad
	}
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.m
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, bad
	}
	return v * mult, nil
}

func validMimePattern(t string) bool {
	typ, sub, ok := strings.Cut(t, "/")
	if !ok || typ == "" || sub == "" || len(t) > 255 {
		return false
	}
	for _, r := range t {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// ListBucketsOptions are storage-js's listBuckets options.
type ListBucketsOptions struct {
	Limit, Offset int
	Search        string
	SortColumn    string // id, name, created_at, updated_at
	SortOrder     string // asc, desc
}

// ListBuckets returns the buckets the caller may see.
func (s *Service) ListBuckets(ctx context.Context, c Caller, o ListBucketsOptions) ([]Bucket, error) {
	col := "name"
	switch o.SortColumn {
	case "", "name":
	case "id", "created_at", "updated_at":
		col = o.SortColumn
	default:
		return nil, errInvalidRequest("sortColumn must be id, name, created_at or updated_at")
	}
	dir, err := sortDirection(o.SortOrder, "sortOrder")
	if err != nil {
		return nil, err
	}
	if o.Limit <= 0 || o.Limit > 1000 {
		o.Limit = 1000
	}
	if o.Offset < 0 {
		return nil, errInvalidRequest("offset must not be negative")
	}
	// col and dir come from the fixed lists above.
	q := `select ` + bucketColumns + ` from storage.buckets
		where ($1 = '' or name ilike '%' || $1 || '%' escape '\')
		order by ` + pgx.Identifier{col}.Sanitize() + ` ` + dir + `, id limit $2 offset $3`
	out := []Bucket{}
	err = s.inTx(ctx, c, true, func(ctx context.Context, tx pg.Tx) error {
		rows, err := tx.Query(ctx, q, escapeLike(o.Search), o.Limit, o.Offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBucket(rows)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	return out, err
}

// GetBucket returns one bucket, if the caller may see it.
func (s *Service) GetBucket(ctx context.Context, c Caller, id string) (Bucket, error) {
	if err := checkBucketID(id); err != nil {
		return Bucket{}, err
	}
	var b Bucket
	err := s.inTx(ctx, c, true, func(ctx context.Context, tx pg.Tx) error {
		var err error
		b, err = scanBucket(tx.QueryRow(ctx, `select `+bucketColumns+` from storage.buckets where id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoSuchBucket()
		}
		return err
	})
	return b, err
}

// CreateBucket creates a bucket (INSERT on storage.buckets under RLS).
func (s *Service) CreateBucket(ctx context.Context, c Caller, in BucketInput) (Bucket, error) {
	if in.ID == "" {
		in.ID = in.Name
	}
	if in.Name == "" {
		in.Name = in.ID
	}
	if err := checkBucketID(in.ID); err != nil {
		return Bucket{}, err
	}
	if reservedBucketIDs[in.ID] {
		return Bucket{}, httpx.NewError(http.StatusBadRequest, CodeInvalidBucket,
			fmt.Sprintf("Bucket name %q is reserved", in.ID)).WithHint("buckets, uploads, render, copy and move name routes of the native API")
	}
	if in.Name != in.ID {
		if err := checkBucketID(in.Name); err != nil {
			return Bucket{}, err
		}
	}
	f, err := in.fields()
	if err != nil {
		return Bucket{}, err
	}
	public := f.public != nil && *f.public
	var b Bucket
	err = s.inTx(ctx, c, false, func(ctx context.Context, tx pg.Tx) error {
		var err error
		b, err = scanBucket(tx.QueryRow(ctx, `insert into storage.buckets
			(id, name, owner, owner_id, public, file_size_limit, allowed_mime_types)
			values ($1, $2, auth.uid(), nullif(auth.jwt() ->> 'sub', ''), $3, $4, $5)
			returning `+bucketColumns, in.ID, in.Name, public, f.limit, f.types))
		return err
	})
	var he *httpx.Error
	if errors.As(err, &he) && he.Code == CodeKeyAlreadyExists {
		return Bucket{}, httpx.NewError(http.StatusConflict, CodeBucketExists, "The resource already exists").
			WithDetails(fmt.Sprintf("bucket %q already exists", in.ID))
	}
	return b, err
}

// UpdateBucket changes the fields present in in (UPDATE under RLS).
func (s *Service) UpdateBucket(ctx context.Context, c Caller, id string, in BucketInput) (Bucket, error) {
	if err := checkBucketID(id); err != nil {
		return Bucket{}, err
	}
	f, err := in.fields()
	if err != nil {
		return Bucket{}, err
	}
	var b Bucket
	err = s.inTx(ctx, c, false, func(ctx context.Context, tx pg.Tx) error {
		var err error
		b, err = scanBucket(tx.QueryRow(ctx, `update storage.buckets set
			public = coalesce($2, public),
			file_size_limit = case when $3 then $4 else file_size_limit end,
			allowed_mime_types = case when $5 then $6 else allowed_mime_types end,
			updated_at = now()
			where id = $1 returning `+bucketColumns, id, f.public, f.setLimit, f.limit, f.setTypes, f.types))
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoSuchBucket()
		}
		return err
	})
	return b, err
}

// DeleteBucket deletes an empty bucket (DELETE under RLS).
func (s *Service) DeleteBucket(ctx context.Context, c Caller, id string) error {
	if err := checkBucketID(id); err != nil {
		return err
	}
	return s.inTx(ctx, c, false, func(ctx context.Context, tx pg.Tx) error {
		tag, err := tx.Exec(ctx, `delete from storage.buckets where id = $1`, id)
		if err != nil {
			if pg.ErrorFrom(err).Code == "23503" {
				return httpx.NewError(http.StatusConflict, CodeBucketNotEmpty, "The bucket you tried to delete is not empty").
					WithHint("empty it first (POST /storage/v1/bucket/{id}/empty)")
			}
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoSuchBucket()
		}
		return nil
	})
}

// emptyBatch bounds the objects one transaction of EmptyBucket deletes.
const emptyBatch = 1000

// EmptyBucket deletes every object of the bucket that the caller may
// delete, in batches, then their bytes.
func (s *Service) EmptyBucket(ctx context.Context, c Caller, id string) error {
	if _, err := s.lookupBucket(ctx, id); err != nil {
		return err
	}
	for {
		var keys []string
		err := s.inTx(ctx, c, false, func(ctx context.Context, tx pg.Tx) error {
			rows, err := tx.Query(ctx, `delete from storage.objects where id in
				(select id from storage.objects where bucket_id = $1 limit $2) returning version`, id, emptyBatch)
			if err != nil {
				return err
			}
			keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			return err
		}
		s.discard(ctx, keys...)
		if len(keys) < emptyBatch {
			return nil
		}
	}
}

// escapeLike escapes the LIKE metacharacters of s (with escape '\').
func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}
