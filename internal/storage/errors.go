package storage

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// Error codes are storage-api's (NoSuchKey, ...), so that clients written
// for Supabase Storage can branch on them; the native API returns the same
// codes in Fluxbase's error body.
const (
	CodeNoSuchBucket     = "NoSuchBucket"
	CodeNoSuchKey        = "NoSuchKey"
	CodeNoSuchUpload     = "NoSuchUpload"
	CodeInvalidKey       = "InvalidKey"
	CodeInvalidBucket    = "InvalidBucketName"
	CodeInvalidRequest   = "InvalidRequest"
	CodeInvalidJWT       = "InvalidJWT"
	CodeInvalidMimeType  = "InvalidMimeType"
	CodeInvalidRange     = "InvalidRange"
	CodeEntityTooLarge   = "EntityTooLarge"
	CodeKeyAlreadyExists = "Duplicate"
	CodeBucketExists     = "BucketAlreadyExists"
	CodeBucketNotEmpty   = "BucketNotEmpty"
	CodeAccessDenied     = "AccessDenied"
	CodeInternal         = "InternalError"
	CodeBackend          = "BackendError"
)

func errNoSuchBucket() *httpx.Error {
	return httpx.NewError(http.StatusNotFound, CodeNoSuchBucket, "Bucket not found")
}

func errNoSuchKey() *httpx.Error {
	return httpx.NewError(http.StatusNotFound, CodeNoSuchKey, "Object not found")
}

func errInvalidKey(format string, args ...any) *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, CodeInvalidKey, fmt.Sprintf(format, args...))
}

func errInvalidRequest(format string, args ...any) *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf(format, args...))
}

func errTooLarge(limit int64) *httpx.Error {
	return httpx.NewError(http.StatusRequestEntityTooLarge, CodeEntityTooLarge,
		"The object exceeded the maximum allowed size").WithDetails(fmt.Sprintf("limit is %d bytes", limit))
}

func errDuplicate() *httpx.Error {
	return httpx.NewError(http.StatusConflict, CodeKeyAlreadyExists, "The resource already exists").
		WithHint("upload with x-upsert: true to overwrite it")
}

// dbError maps an error from a request transaction: row level security and
// privilege failures become storage-api's 403 (401 for anon callers),
// unique violations 409, anything unexpected 500.
func dbError(err error, role string) *httpx.Error {
	var he *httpx.Error
	if errors.As(err, &he) {
		return he
	}
	e := pg.ErrorFromRole(err, role)
	switch e.Code {
	case "42501":
		// "new row violates row-level security policy" or a missing grant.
		c := *e
		c.Code = CodeAccessDenied
		if role == pg.AnonRole {
			c.Status = http.StatusUnauthorized
		} else {
			c.Status = http.StatusForbidden
		}
		return &c
	case "23505":
		return errDuplicate()
	}
	return e
}

// backendError maps a backend failure while transferring bytes.
func backendError(err error, limit int64) *httpx.Error {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, ErrTooLarge), errors.As(err, &mbe):
		return errTooLarge(limit)
	case errors.Is(err, ErrIncomplete):
		return httpx.NewError(http.StatusBadRequest, CodeInvalidRequest,
			"The request body ended before its announced Content-Length")
	case errors.Is(err, ErrNotFound):
		return errNoSuchKey()
	case errors.Is(err, ErrInvalidKey):
		return errInvalidKey("invalid key")
	}
	return &httpx.Error{Status: http.StatusInternalServerError, Code: CodeBackend,
		Message: "The storage backend failed", Err: err}
}
