package storage

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/pg"
)

// SearchOptions are the body of storage-api's POST /object/list/{bucket}.
type SearchOptions struct {
	Prefix string `json:"prefix"`
	Limit  int    `json:"limit"`
	Offset int    `json:"offset"`
	SortBy struct {
		Column string `json:"column"`
		Order  string `json:"order"`
	} `json:"sortBy"`
	Search string `json:"search"`
}

// SearchEntry is one entry of a storage-api listing: a file (with id and
// metadata) or a folder (id and metadata null).
type SearchEntry struct {
	Name           string          `json:"name"`
	ID             *string         `json:"id"`
	UpdatedAt      *time.Time      `json:"updated_at"`
	CreatedAt      *time.Time      `json:"created_at"`
	LastAccessedAt *time.Time      `json:"last_accessed_at"`
	Metadata       json.RawMessage `json:"metadata"`
}

// Search lists one level of a bucket below prefix, as storage-api does:
// the files directly under it and its sub-folders, which the caller's
// SELECT policies let them see.
func (s *Service) Search(ctx context.Context, c Caller, bucketID string, o SearchOptions) ([]SearchEntry, error) {
	if err := checkBucketID(bucketID); err != nil {
		return nil, err
	}
	prefix := strings.TrimLeft(o.Prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	if len(prefix) > MaxNameBytes {
		return nil, errInvalidRequest("prefix is too long")
	}
	col := "name"
	switch o.SortBy.Column {
	case "", "name":
	case "created_at", "updated_at", "last_accessed_at":
		col = o.SortBy.Column
	default:
		return nil, errInvalidRequest("sortBy.column must be name, created_at, updated_at or last_accessed_at")
	}
	dir, err := sortDirection(o.SortBy.Order, "sortBy.order")
	if err != nil {
		return nil, err
	}
	if o.Limit <= 0 || o.Limit > 1000 {
		o.Limit = 100
	}
	if o.Offset < 0 {
		return nil, errInvalidRequest("offset must not be negative")
	}
	// col and dir come from the fixed lists above. Folders have no
	// timestamps; they sort by name.
	q := `with items as (
		select substr(o.name, $3) as rest, o.* from storage.objects o
		where o.bucket_id = $1 and o.name like $2 || '%' escape '\' and o.name >= $7
	), entries as (
		select split_part(rest, '/', 1) as name, null::text as id, null::timestamptz as updated_at,
			null::timestamptz as created_at, null::timestamptz as last_accessed_at, null::jsonb as metadata
		from items where position('/' in rest) > 0
		group by 1
		union all
		select rest, id::text, updated_at, created_at, last_accessed_at, metadata
		from items where position('/' in rest) = 0
	)
	select name, id, updated_at, created_at, last_accessed_at, metadata from entries
	where $4 = '' or name ilike $4 || '%' escape '\'
	order by ` + pgx.Identifier{col}.Sanitize() + ` ` + dir + ` nulls last, name collate "C" ` + dir + `
	limit $5 offset $6`
	out := []SearchEntry{}
	err = s.inTx(ctx, c, true, func(ctx context.Context, tx pg.Tx) error {
		rows, err := tx.Query(ctx, q, bucketID, escapeLike(prefix), utf8.RuneCountInString(prefix)+1, escapeLike(o.Search), o.Limit, o.Offset, prefix)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e SearchEntry
			if err := rows.Scan(&e.Name, &e.ID, &e.UpdatedAt, &e.CreatedAt, &e.LastAccessedAt, &e.Metadata); err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

// maxRune sorts after every character in byte order ("C" collation).
const maxRune = "\U0010FFFF"

// ListOptions are the native listing's parameters.
type ListOptions struct {
	Prefix, Delimiter, Cursor string
	Limit                     int
}

// Listing is a page of the native listing: objects, and with a delimiter
// the common prefixes ("folders") that stand for the objects below them.
// NextCursor is "" on the last page.
type Listing struct {
	Objects    []Object `json:"objects"`
	Prefixes   []string `json:"prefixes"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// List pages through the objects of a bucket whose names start with
// prefix, in byte order, after cursor (the last name or prefix of the
// previous page). Each page is read in one transaction under the caller's
// role.
func (s *Service) List(ctx context.Context, c Caller, bucketID string, o ListOptions) (Listing, error) {
	if err := checkBucketID(bucketID); err != nil {
		return Listing{}, err
	}
	if o.Limit <= 0 || o.Limit > 1000 {
		o.Limit = 1000
	}
	if len(o.Prefix) > MaxNameBytes || len(o.Cursor) > MaxNameBytes || len(o.Delimiter) > 16 {
		return Listing{}, errInvalidRequest("prefix, cursor or delimiter is too long")
	}
	out := Listing{Objects: []Object{}, Prefixes: []string{}}
	// after is the name the page starts after; a cursor that is a prefix
	// skips every name below it.
	after := o.Cursor
	if o.Delimiter != "" && strings.HasSuffix(after, o.Delimiter) {
		after += maxRune
	}
	err := s.inTx(ctx, c, true, func(ctx context.Context, tx pg.Tx) error {
		last := ""
		for {
			need := o.Limit - len(out.Objects) - len(out.Prefixes)
			if need == 0 {
				break
			}
			rows, err := tx.Query(ctx, `select `+objectColumns+` from storage.objects o
				where o.bucket_id = $1 and o.name like $2 || '%' escape '\' and o.name > $3 and o.name >= $5
				order by o.name limit $4`, bucketID, escapeLike(o.Prefix), after, need, o.Prefix)
			if err != nil {
				return err
			}
			batch, err := collectObjects(rows)
			if err != nil {
				return err
			}
			skipped := false
			for _, obj := range batch {
				if o.Delimiter != "" {
					rest := obj.Name[len(o.Prefix):]
					if i := strings.Index(rest, o.Delimiter); i >= 0 {
						p := o.Prefix + rest[:i+len(o.Delimiter)]
						out.Prefixes = append(out.Prefixes, p)
						last, after, skipped = p, p+maxRune, true
						break
					}
				}
				out.Objects = append(out.Objects, obj)
				last, after = obj.Name, obj.Name
			}
			if !skipped && len(batch) < need {
				return nil // no more names
			}
		}
		// The page is full: there is another one if any name follows.
		var more bool
		if err := tx.QueryRow(ctx, `select exists (select 1 from storage.objects o
			where o.bucket_id = $1 and o.name like $2 || '%' escape '\' and o.name > $3 and o.name >= $4)`,
			bucketID, escapeLike(o.Prefix), after, o.Prefix).Scan(&more); err != nil {
			return err
		}
		if more {
			out.NextCursor = last
		}
		return nil
	})
	return out, err
}

// sortDirection reads the sort order of a listing as SQL; the result is
// always one of two literals, so it may be written into a query. field
// names the parameter in the error.
func sortDirection(order, field string) (string, error) {
	switch strings.ToLower(order) {
	case "", "asc":
		return "asc", nil
	case "desc":
		return "desc", nil
	default:
		return "", errInvalidRequest("%s must be asc or desc", field)
	}
}
