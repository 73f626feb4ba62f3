package storage

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
)

// mountNative mounts Fluxbase's own storage routes under /api/v1/storage.
// Bucket names buckets, uploads, render, copy and move are reserved for
// these routes.
func (h *Handler) mountNative(r chi.Router) {
	r.Get("/buckets", h.nativeListBuckets)
	r.Post("/buckets/{bucket}", h.nativeCreateBucket)
	r.Get("/buckets/{bucket}", h.apiGetBucket)
	r.Put("/buckets/{bucket}", h.nativeUpdateBucket)
	r.Delete("/buckets/{bucket}", h.nativeDeleteBucket)
	r.Post("/buckets/{bucket}/empty", h.nativeEmptyBucket)
	r.Post("/copy", h.nativeCopy)
	r.Post("/move", h.nativeMove)
	r.Get("/{bucket}", h.nativeList)
	r.Post("/{bucket}/*", h.nativePost)
	r.Put("/{bucket}/*", h.nativePut)
	r.Get("/{bucket}/*", h.nativeGet)
	r.Delete("/{bucket}/*", h.nativeDelete)
}

func (h *Handler) nativeListBuckets(w http.ResponseWriter, r *http.Request) {
	h.apiListBuckets(w, r)
}

func (h *Handler) nativeCreateBucket(w http.ResponseWriter, r *http.Request) {
	id, err := bucketParam(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var in BucketInput
	if err := decodeJSON(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	in.ID = id
	if in.Name == "" {
		in.Name = id
	}
	b, err := h.svc.CreateBucket(r.Context(), h.caller(r), in)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", NativePrefix+"/buckets/"+url.PathEscape(b.ID))
	httpx.WriteJSON(w, http.StatusCreated, b)
}

func (h *Handler) nativeUpdateBucket(w http.ResponseWriter, r *http.Request) {
	if b, ok := h.updateBucket(w, r); ok {
		httpx.WriteJSON(w, http.StatusOK, b)
	}
}

func (h *Handler) nativeDeleteBucket(w http.ResponseWriter, r *http.Request) {
	if h.onBucket(w, r, h.svc.DeleteBucket) {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *Handler) nativeEmptyBucket(w http.ResponseWriter, r *http.Request) {
	if h.onBucket(w, r, h.svc.EmptyBucket) {
		w.WriteHeader(http.StatusNoContent)
	}
}

// nativeTransfer is the body of POST /copy and /move.
type nativeTransfer struct {
	Bucket            string `json:"bucket"`
	Source            string `json:"source"`
	Destination       string `json:"destination"`
	DestinationBucket string `json:"destination_bucket"`
	Upsert            bool   `json:"upsert"`
}

func (h *Handler) nativeCopy(w http.ResponseWriter, r *http.Request) {
	var in nativeTransfer
	if err := decodeJSON(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	o, err := h.svc.Copy(r.Context(), h.caller(r), in.Bucket, in.Source, in.DestinationBucket, in.Destination, in.Upsert, nil)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, o)
}

func (h *Handler) nativeMove(w http.ResponseWriter, r *http.Request) {
	var in nativeTransfer
	if err := decodeJSON(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	o, err := h.svc.Move(r.Context(), h.caller(r), in.Bucket, in.Source, in.DestinationBucket, in.Destination)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, o)
}

func (h *Handler) nativeList(w http.ResponseWriter, r *http.Request) {
	b, err := bucketParam(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	o := ListOptions{Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), Cursor: q.Get("cursor")}
	if o.Limit, err = intParam(q, "limit"); err != nil {
		h.writeError(w, r, err)
		return
	}
	if _, err := h.svc.lookupBucket(r.Context(), b); err != nil {
		h.writeError(w, r, err)
		return
	}
	l, err := h.svc.List(r.Context(), h.caller(r), b, o)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, l)
}

// signedURLSuffix ends the path of POST .../{key}/signed-url.
const signedURLSuffix = "/signed-url"

// nativePost uploads a new object (x-upsert: true or ?upsert=true to
// overwrite), or signs a URL when the path ends in /signed-url.
func (h *Handler) nativePost(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, signedURLSuffix) {
		h.nativeSign(w, r)
		return
	}
	h.nativeUpload(w, r, false)
}

func (h *Handler) nativePut(w http.ResponseWriter, r *http.Request) {
	h.nativeUpload(w, r, true)
}

func (h *Handler) nativeUpload(w http.ResponseWriter, r *http.Request, put bool) {
	spec, body, ok := h.uploadTarget(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var err error
	if v := q.Get("upsert"); v != "" {
		if spec.Upsert, err = strconv.ParseBool(v); err != nil {
			h.writeError(w, r, errInvalidRequest("upsert must be true or false"))
			return
		}
	}
	var o Object
	switch {
	case q.Has("token"):
		o, err = h.svc.UploadSigned(r.Context(), q.Get("token"), spec, body)
	default:
		if put {
			spec.Upsert = true
		}
		o, err = h.svc.Upload(r.Context(), h.caller(r), spec, body)
	}
	if h.uploadFailed(w, r, err) {
		return
	}
	status := http.StatusOK
	if o.CreatedAt.Equal(o.UpdatedAt) {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, o)
}

func (h *Handler) nativeGet(w http.ResponseWriter, r *http.Request) {
	b, n, err := target(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	access := AccessAuto
	if q := r.URL.Query(); q.Has("token") {
		if err := h.svc.VerifyDownload(q.Get("token"), b, n); err != nil {
			h.writeError(w, r, err)
			return
		}
		access = AccessSigned
	}
	h.download(w, r, b, n, access)
}

func (h *Handler) nativeDelete(w http.ResponseWriter, r *http.Request) {
	if err := h.removeOne(r); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// nativeSignRequest is the body of POST .../{key}/signed-url.
type nativeSignRequest struct {
	ExpiresIn expiresIn `json:"expires_in"`
	// Upload signs a PUT instead of a GET.
	Upload bool `json:"upload"`
	Upsert bool `json:"upsert"`
	// Download makes the URL download as an attachment with this name.
	Download string `json:"download"`
	// Transform signs a URL of the transformed image (render route).
	Transform *TransformRequest `json:"transform"`
}

type nativeSignResponse struct {
	URL       string    `json:"url"`
	Method    string    `json:"method"`
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (h *Handler) nativeSign(w http.ResponseWriter, r *http.Request) {
	full, err := wildcard(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	b, err := bucketParam(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	n := strings.TrimSuffix(full, signedURLSuffix)
	if err := checkName(n); err != nil {
		h.writeError(w, r, err)
		return
	}
	var in nativeSignRequest
	if err := decodeJSON(r, &in); err != nil {
		h.writeError(w, r, err)
		return
	}
	if in.ExpiresIn == 0 {
		in.ExpiresIn = 3600
	}
	tr, err := in.Transform.Options(h.svc.transformer.Limits())
	if err == nil && tr != nil && in.Upload {
		err = errInvalidRequest("transform applies to download URLs, not to upload URLs")
	}
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	base := h.baseURL(r) + NativePrefix + "/" + url.PathEscape(b) + "/" + escapeName(n)
	if tr != nil {
		base = h.baseURL(r) + NativePrefix + "/render/" + url.PathEscape(b) + "/" + escapeName(n)
	}
	if in.Upload {
		// Signing an upload URL hands out the right to write.
		if err := identity.RequireScope(r.Context(), identity.ScopeWriteStorage); err != nil {
			h.writeError(w, r, httpx.AsError(err))
			return
		}
		su, err := h.svc.SignUpload(r.Context(), h.caller(r), b, n, in.Upsert)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, nativeSignResponse{URL: base + "?token=" + su.Token, Method: http.MethodPut, Token: su.Token, ExpiresAt: su.Expires})
		return
	}
	if h.svc.cfg.S3.Presign && tr == nil {
		u, exp, err := h.svc.PresignDownload(r.Context(), h.caller(r), b, n, int64(in.ExpiresIn), in.Download)
		if err == nil {
			httpx.WriteJSON(w, http.StatusOK, nativeSignResponse{URL: u, Method: http.MethodGet, ExpiresAt: exp})
			return
		}
		if !errors.Is(err, ErrNotSupported) {
			h.writeError(w, r, err)
			return
		}
	}
	su, err := h.svc.SignDownload(r.Context(), h.caller(r), b, n, int64(in.ExpiresIn), tr)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	u := base + "?token=" + su.Token
	if in.Download != "" {
		u += "&download=" + url.QueryEscape(in.Download)
	}
	httpx.WriteJSON(w, http.StatusOK, nativeSignResponse{URL: u, Method: http.MethodGet, Token: su.Token, ExpiresAt: su.Expires})
}

func escapeName(n string) string {
	segs := strings.Split(n, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// baseURL is public_url, or the scheme and host the request came to.
func (h *Handler) baseURL(r *http.Request) string {
	if h.publicURL != "" {
		return h.publicURL
	}
	scheme := "http"
	if httpx.IsHTTPS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
