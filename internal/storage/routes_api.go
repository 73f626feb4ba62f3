package storage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// mountAPI mounts storage-api's routes (what @supabase/storage-js calls)
// under /storage/v1.
func (h *Handler) mountAPI(r chi.Router) {
	r.Get("/bucket", h.apiListBuckets)
	r.Post("/bucket", h.apiCreateBucket)
	r.Get("/bucket/{bucket}", h.apiGetBucket)
	r.Put("/bucket/{bucket}", h.apiUpdateBucket)
	r.Delete("/bucket/{bucket}", h.apiDeleteBucket)
	r.Post("/bucket/{bucket}/empty", h.apiEmptyBucket)

	r.Post("/object/move", h.apiMove)
	r.Post("/object/copy", h.apiCopy)
	r.Post("/object/list/{bucket}", h.apiList)
	r.Post("/object/sign/{bucket}", h.apiSignMany)
	r.Post("/object/sign/{bucket}/*", h.apiSign)
	r.Get("/object/sign/{bucket}/*", h.apiDownloadSigned)
	r.Post("/object/upload/sign/{bucket}/*", h.apiSignUpload)
	r.Put("/object/upload/sign/{bucket}/*", h.apiUploadSigned)
	r.Get("/object/public/{bucket}/*", h.apiDownload(AccessPublic))
	r.Get("/object/authenticated/{bucket}/*", h.apiDownload(AccessRLS))
	r.Get("/object/info/public/{bucket}/*", h.apiInfo(AccessPublic))
	r.Get("/object/info/authenticated/{bucket}/*", h.apiInfo(AccessRLS))
	r.Get("/object/info/{bucket}/*", h.apiInfo(AccessRLS))
	r.Post("/object/{bucket}/*", h.apiUpload(false))
	r.Put("/object/{bucket}/*", h.apiUpload(true))
	r.Get("/object/{bucket}/*", h.apiDownload(AccessRLS))
	r.Delete("/object/{bucket}/*", h.apiDeleteOne)
	r.Delete("/object/{bucket}", h.apiDeleteMany)
}

// target is the bucket and object name a route addresses.
func target(r *http.Request) (string, string, error) {
	b, err := rawBucket(r)
	if err != nil {
		return "", "", err
	}
	n, err := wildcard(r)
	if err != nil {
		return "", "", err
	}
	if err := checkBucketID(b); err != nil {
		return "", "", err
	}
	if err := checkName(n); err != nil {
		return "", "", err
	}
	return b, n, nil
}

func bucketParam(r *http.Request) (string, error) {
	b, err := rawBucket(r)
	if err != nil {
		return "", err
	}
	return b, checkBucketID(b)
}

// rawBucket is the {bucket} parameter decoded but not yet checked, so that
// target can check it after the object name has decoded.
func rawBucket(r *http.Request) (string, error) {
	b := chi.URLParam(r, "bucket")
	if r.URL.RawPath != "" {
		d, err := url.PathUnescape(b)
		if err != nil {
			return "", errInvalidKey("Invalid key: bad percent-encoding")
		}
		b = d
	}
	return b, nil
}

type message struct {
	Message string `json:"message"`
}

func (h *Handler) apiListBuckets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	o := ListBucketsOptions{Search: q.Get("search"), SortColumn: q.Get("sortColumn"), SortOrder: q.Get("sortOrder")}
	var err error
	if o.Limit, err = intParam(q, "limit"); err == nil {
		o.Offset, err = intParam(q, "offset")
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	bs, err := h.svc.ListBuckets(r.Context(), h.caller(r), o)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, bs)
}

func intParam(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errInvalidRequest("%s must be a non-negative integer", name)
	}
	return n, nil
}

func (h *Handler) apiCreateBucket(w http.ResponseWriter, r *http.Request) {
	var in BucketInput
	if err := decodeJSON(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	b, err := h.svc.CreateBucket(r.Context(), h.caller(r), in)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"name": b.ID})
}

func (h *Handler) apiGetBucket(w http.ResponseWriter, r *http.Request) {
	id, err := bucketParam(r)
	if err == nil {
		var b Bucket
		if b, err = h.svc.GetBucket(r.Context(), h.caller(r), id); err == nil {
			httpx.WriteJSON(w, http.StatusOK, b)
			return
		}
	}
	h.writeError(w, r, err)
}

func (h *Handler) apiUpdateBucket(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.updateBucket(w, r); ok {
		httpx.WriteJSON(w, http.StatusOK, message{"Successfully updated"})
	}
}

func (h *Handler) apiDeleteBucket(w http.ResponseWriter, r *http.Request) {
	if h.onBucket(w, r, h.svc.DeleteBucket) {
		httpx.WriteJSON(w, http.StatusOK, message{"Successfully deleted"})
	}
}

func (h *Handler) apiEmptyBucket(w http.ResponseWriter, r *http.Request) {
	if h.onBucket(w, r, h.svc.EmptyBucket) {
		httpx.WriteJSON(w, http.StatusOK, message{"Successfully emptied"})
	}
}

// updateBucket applies PUT .../{bucket} for both route shapes, which differ
// only in their answer; when it reports false it has answered the error.
func (h *Handler) updateBucket(w http.ResponseWriter, r *http.Request) (Bucket, bool) {
	id, err := bucketParam(r)
	if err != nil {
		h.writeError(w, r, err)
		return Bucket{}, false
	}
	var in BucketInput
	if err := decodeJSON(r, &in); err != nil {
		h.writeError(w, r, err)
		return Bucket{}, false
	}
	b, err := h.svc.UpdateBucket(r.Context(), h.caller(r), id, in)
	if err != nil {
		h.writeError(w, r, err)
		return Bucket{}, false
	}
	return b, true
}

// onBucket runs do (delete or empty) on the addressed bucket for both route
// shapes, which differ only in their answer; when it reports false it has
// answered the error.
func (h *Handler) onBucket(w http.ResponseWriter, r *http.Request, do func(context.Context, Caller, string) error) bool {
	id, err := bucketParam(r)
	if err == nil {
		err = do(r.Context(), h.caller(r), id)
	}
	if err != nil {
		h.writeError(w, r, err)
		return false
	}
	return true
}

// uploadResponse is storage-api's answer to an upload: Key is bucket/name.
type uploadResponse struct {
	ID  string `json:"Id"`
	Key string `json:"Key"`
}

func (h *Handler) apiUpload(put bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		spec, body, ok := h.uploadTarget(w, r)
		if !ok {
			return
		}
		if put {
			// PUT replaces: storage-js's update().
			spec.Upsert = true
		}
		o, err := h.svc.Upload(r.Context(), h.caller(r), spec, body)
		if h.uploadFailed(w, r, err) {
			return
		}
		httpx.WriteJSON(w, http.StatusOK, uploadResponse{ID: o.ID, Key: o.Bucket + "/" + o.Name})
	}
}

// uploadTarget reads the addressed object and the upload headers of a
// request to any upload route; when it reports false it has answered the
// error.
func (h *Handler) uploadTarget(w http.ResponseWriter, r *http.Request) (UploadSpec, io.Reader, bool) {
	b, n, err := target(r)
	if err != nil {
		h.writeError(w, r, err)
		return UploadSpec{}, nil, false
	}
	spec, body, err := h.uploadRequest(w, r, b, n)
	if err != nil {
		h.writeError(w, r, err)
		return UploadSpec{}, nil, false
	}
	return spec, body, true
}

// uploadFailed follows the store step of every upload route: the answer gets
// a fresh write deadline (see answerDeadline), and a failed upload is
// answered on a connection that will not be reused. It reports whether err
// was answered.
func (h *Handler) uploadFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	h.answerDeadline(w)
	if err != nil {
		h.closeAfterFailedUpload(w, r)
		h.writeError(w, r, err)
		return true
	}
	return false
}

// closeAfterFailedUpload asks the server to close the connection rather
// than read an unread upload body to reuse it.
func (h *Handler) closeAfterFailedUpload(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}

func (h *Handler) apiDownload(access Access) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, n, err := target(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		h.download(w, r, b, n, access)
	}
}

// download opens an object whose access the route has settled and serves it.
func (h *Handler) download(w http.ResponseWriter, r *http.Request, bucketID, name string, access Access) {
	o, rc, err := h.svc.Open(r.Context(), h.caller(r), bucketID, name, access)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.serveObject(w, r, o, rc)
}

func (h *Handler) apiDownloadSigned(w http.ResponseWriter, r *http.Request) {
	b, n, err := target(r)
	if err == nil {
		err = h.svc.VerifyDownload(r.URL.Query().Get("token"), b, n)
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.download(w, r, b, n, AccessSigned)
}

// fileInfo is storage-api's object info (GET /object/info).
type fileInfo struct {
	ID             string          `json:"id"`
	Version        string          `json:"version"`
	Name           string          `json:"name"`
	BucketID       string          `json:"bucket_id"`
	UpdatedAt      time.Time       `json:"updated_at"`
	CreatedAt      time.Time       `json:"created_at"`
	LastAccessedAt time.Time       `json:"last_accessed_at"`
	Size           int64           `json:"size"`
	CacheControl   string          `json:"cache_control"`
	ContentType    string          `json:"content_type"`
	ETag           string          `json:"etag"`
	LastModified   time.Time       `json:"last_modified"`
	Metadata       json.RawMessage `json:"metadata"`
}

func (h *Handler) apiInfo(access Access) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, n, err := target(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		o, err := h.svc.Info(r.Context(), h.caller(r), b, n, access)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		meta := o.UserMetadata
		if len(meta) == 0 {
			meta = json.RawMessage("null")
		}
		httpx.WriteJSON(w, http.StatusOK, fileInfo{ID: o.ID, Version: o.ETag, Name: o.Name, BucketID: o.Bucket,
			UpdatedAt: o.UpdatedAt, CreatedAt: o.CreatedAt, LastAccessedAt: o.LastAccessedAt, Size: o.Size,
			CacheControl: o.CacheControl, ContentType: o.MimeType, ETag: o.ETag, LastModified: o.UpdatedAt, Metadata: meta})
	}
}

// fileObject is storage-api's FileObject, as delete answers it.
type fileObject struct {
	Name           string          `json:"name"`
	BucketID       string          `json:"bucket_id"`
	Owner          string          `json:"owner"`
	ID             string          `json:"id"`
	UpdatedAt      time.Time       `json:"updated_at"`
	CreatedAt      time.Time       `json:"created_at"`
	LastAccessedAt time.Time       `json:"last_accessed_at"`
	Metadata       json.RawMessage `json:"metadata"`
}

func (h *Handler) apiDeleteMany(w http.ResponseWriter, r *http.Request) {
	b, err := bucketParam(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var in struct {
		Prefixes []string `json:"prefixes"`
	}
	if err := decodeJSON(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	deleted, err := h.svc.Remove(r.Context(), h.caller(r), b, in.Prefixes)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := make([]fileObject, len(deleted))
	for i, o := range deleted {
		out[i] = fileObject{Name: o.Name, BucketID: o.Bucket, Owner: o.Owner, ID: o.ID, UpdatedAt: o.UpdatedAt,
			CreatedAt: o.CreatedAt, LastAccessedAt: o.LastAccessedAt, Metadata: o.Metadata}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *Handler) apiDeleteOne(w http.ResponseWriter, r *http.Request) {
	if err := h.removeOne(r); err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, message{"Successfully deleted"})
}

// removeOne deletes the addressed object; deleting nothing is an error.
func (h *Handler) removeOne(r *http.Request) error {
	b, n, err := target(r)
	if err != nil {
		return err
	}
	deleted, err := h.svc.Remove(r.Context(), h.caller(r), b, []string{n})
	if err == nil && len(deleted) == 0 {
		err = errNoSuchKey()
	}
	return err
}

func (h *Handler) apiList(w http.ResponseWriter, r *http.Request) {
	b, err := bucketParam(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var o SearchOptions
	if err := decodeJSON(r, &o); err != nil {
		h.writeError(w, r, err)
		return
	}
	entries, err := h.svc.Search(r.Context(), h.caller(r), b, o)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, entries)
}

// expiresIn accepts a number (storage-js) or a numeric string.
type expiresIn int64

func (e *expiresIn) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return errors.New("expiresIn must be a number of seconds")
		}
		n = json.Number(s)
	}
	f, err := n.Float64()
	if err != nil {
		return errors.New("expiresIn must be a number of seconds")
	}
	if f > 1e12 {
		f = 1e12
	}
	*e = expiresIn(f)
	return nil
}

func (h *Handler) apiSign(w http.ResponseWriter, r *http.Request) {
	b, n, err := target(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var in struct {
		ExpiresIn expiresIn         `json:"expiresIn"`
		Transform *TransformRequest `json:"transform"`
	}
	if err := decodeJSON(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	tr, err := in.Transform.Options(h.svc.transformer.Limits())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	su, err := h.svc.SignDownload(r.Context(), h.caller(r), b, n, int64(in.ExpiresIn), tr)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// As storage-api does, a URL signed with a transformation points at
	// the render route, which applies the transformation in the token.
	route := "/object/sign/"
	if tr != nil {
		route = "/render/image/sign/"
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"signedURL": route + b + "/" + n + "?token=" + su.Token})
}

type signedEntry struct {
	Error     *string `json:"error"`
	Path      string  `json:"path"`
	SignedURL *string `json:"signedURL"`
}

func (h *Handler) apiSignMany(w http.ResponseWriter, r *http.Request) {
	b, err := bucketParam(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var in struct {
		ExpiresIn expiresIn `json:"expiresIn"`
		Paths     []string  `json:"paths"`
	}
	if err := decodeJSON(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	if len(in.Paths) > 1000 {
		h.writeError(w, r, errInvalidRequest("at most 1000 paths can be signed at once"))
		return
	}
	out := make([]signedEntry, 0, len(in.Paths))
	for _, p := range in.Paths {
		su, err := h.svc.SignDownload(r.Context(), h.caller(r), b, p, int64(in.ExpiresIn), nil)
		e := signedEntry{Path: p}
		if err != nil {
			he := httpx.AsError(err)
			if he.Status >= 500 {
				h.writeError(w, r, err)
				return
			}
			msg := "Either the object does not exist or you do not have access to it"
			if he.Code == CodeInvalidRequest {
				msg = he.Message
			}
			e.Error = &msg
		} else {
			u := "/object/sign/" + b + "/" + p + "?token=" + su.Token
			e.SignedURL = &u
		}
		out = append(out, e)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *Handler) apiSignUpload(w http.ResponseWriter, r *http.Request) {
	b, n, err := target(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	upsert, _ := strconv.ParseBool(r.Header.Get("x-upsert"))
	su, err := h.svc.SignUpload(r.Context(), h.caller(r), b, n, upsert)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{
		"url":   "/object/upload/sign/" + b + "/" + n + "?token=" + su.Token,
		"token": su.Token,
	})
}

func (h *Handler) apiUploadSigned(w http.ResponseWriter, r *http.Request) {
	spec, body, ok := h.uploadTarget(w, r)
	if !ok {
		return
	}
	o, err := h.svc.UploadSigned(r.Context(), r.URL.Query().Get("token"), spec, body)
	if h.uploadFailed(w, r, err) {
		return
	}
	httpx.WriteJSON(w, http.StatusOK, uploadResponse{ID: o.ID, Key: o.Bucket + "/" + o.Name})
}

// moveRequest is the body of /object/move and /object/copy.
type moveRequest struct {
	BucketID          string          `json:"bucketId"`
	SourceKey         string          `json:"sourceKey"`
	DestinationKey    string          `json:"destinationKey"`
	DestinationBucket string          `json:"destinationBucket"`
	CopyMetadata      *bool           `json:"copyMetadata"`
	Metadata          json.RawMessage `json:"metadata"`
}

func (h *Handler) apiMove(w http.ResponseWriter, r *http.Request) {
	var in moveRequest
	if err := decodeJSON(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	if _, err := h.svc.Move(r.Context(), h.caller(r), in.BucketID, in.SourceKey, in.DestinationBucket, in.DestinationKey); err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, message{"Successfully moved"})
}

func (h *Handler) apiCopy(w http.ResponseWriter, r *http.Request) {
	var in moveRequest
	if err := decodeJSON(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	upsert, _ := strconv.ParseBool(r.Header.Get("x-upsert"))
	var meta json.RawMessage
	if in.CopyMetadata != nil && !*in.CopyMetadata {
		meta = json.RawMessage("{}")
		if present(in.Metadata) {
			meta = in.Metadata
		}
	}
	o, err := h.svc.Copy(r.Context(), h.caller(r), in.BucketID, in.SourceKey, in.DestinationBucket, in.DestinationKey, upsert, meta)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"Id": o.ID, "Key": o.Bucket + "/" + o.Name,
		"name": o.Name, "bucket_id": o.Bucket, "metadata": o.Metadata})
}
