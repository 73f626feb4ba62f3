package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// Resumable upload paths: storage-api's, under /storage/v1, and the native
// one, under /api/v1/storage. The /sign variants take a signed upload
// token (from /object/upload/sign) in the x-signature header instead of
// the caller's credentials.
const (
	tusAPIPath    = "/upload/resumable"
	tusNativePath = "/uploads"
	tusSignSuffix = "/sign"
)

// tusIdleTimeout cuts off a PATCH whose client stopped sending: the bytes
// received so far are kept and the upload resumes from there.
const tusIdleTimeout = time.Minute

// mountResumable mounts the resumable (TUS) upload routes: api is the
// /storage/v1 router (storage-api error shape), native the /api/v1/storage
// router (Fluxbase error shape). Both authenticate the caller first:
// h.caller(r) is who asks, h.writeError renders errors in the router's
// shape.
func (h *Handler) mountResumable(api, native chi.Router) {
	for _, m := range []struct {
		r    chi.Router
		base string
	}{{api, tusAPIPath}, {native, tusNativePath}} {
		for _, base := range []string{m.base, m.base + tusSignSuffix} {
			signed := strings.HasSuffix(base, tusSignSuffix)
			m.r.Options(base, h.tusOptions)
			m.r.Options(base+"/{id}", h.tusOptions)
			m.r.Post(base, h.tusCreate(signed))
			// X-HTTP-Method-Override turns a POST on an upload into a
			// PATCH, HEAD or DELETE.
			m.r.Post(base+"/{id}", h.tusUpload(signed))
			m.r.Head(base+"/{id}", h.tusUpload(signed))
			m.r.Patch(base+"/{id}", h.tusUpload(signed))
			m.r.Delete(base+"/{id}", h.tusUpload(signed))
		}
	}
}

// tusCommonHeaders are sent with every TUS answer, errors included.
func tusCommonHeaders(w http.ResponseWriter) {
	w.Header().Set("Tus-Resumable", tusVersion)
	w.Header().Set("Cache-Control", "no-store")
}

func (h *Handler) tusError(w http.ResponseWriter, r *http.Request, err error) {
	tusCommonHeaders(w)
	var he *httpx.Error
	if errors.As(err, &he) && he.Status == http.StatusPreconditionFailed {
		w.Header().Set("Tus-Version", tusVersion)
	}
	if r.Method == http.MethodHead {
		// A HEAD answer has no body; the status says it all.
		w.WriteHeader(httpx.AsError(err).Status)
		return
	}
	h.writeError(w, r, err)
}

// tusOptions describes the server's TUS support.
func (h *Handler) tusOptions(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Tus-Resumable", tusVersion)
	w.Header().Set("Tus-Version", tusVersion)
	w.Header().Set("Tus-Extension", tusExtensions)
	w.Header().Set("Tus-Max-Size", strconv.FormatInt(h.svc.cfg.MaxFileSize, 10))
	w.WriteHeader(http.StatusNoContent)
}

// tusCaller is who continues or creates an upload: the caller, or, on the
// /sign paths, service_role on behalf of the token's owner once the token
// verifies for exactly this bucket and name.
func (h *Handler) tusCaller(r *http.Request, signed bool, bucket, name string) (Caller, *urlToken, error) {
	if !signed {
		return h.caller(r), nil, nil
	}
	tok, err := h.svc.signer.verify(r.Header.Get("x-signature"), tokenUpload, bucket, name, time.Now())
	if err != nil {
		return Caller{}, nil, err
	}
	return ServiceCaller(tok.Owner), &tok, nil
}

// tusCreate creates an upload (the creation extension), taking its first
// bytes along when the request has a body (creation-with-upload).
func (h *Handler) tusCreate(signed bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := checkTusResumable(r); err != nil {
			h.tusError(w, r, err)
			return
		}
		if tusMethod(r) != http.MethodPost {
			h.tusError(w, r, httpx.ErrMethodNotAllowed)
			return
		}
		th, err := parseTusHeaders(r.Header)
		if err != nil {
			h.tusError(w, r, err)
			return
		}
		switch {
		case th.Length < 0 && !th.DeferLength:
			h.tusError(w, r, tusError(http.StatusBadRequest, "upload_length_missing",
				"Upload-Length (or Upload-Defer-Length: 1) is required to create an upload"))
			return
		case th.Length >= 0 && th.DeferLength:
			h.tusError(w, r, tusError(http.StatusBadRequest, "invalid_upload_length",
				"Upload-Length and Upload-Defer-Length cannot both be given"))
			return
		}
		if th.Length > h.svc.cfg.MaxFileSize {
			h.tusError(w, r, errTooLarge(h.svc.cfg.MaxFileSize))
			return
		}
		u, err := uploadFromMetadata(th, r.Header.Get("x-upsert") == "true")
		if err != nil {
			h.tusError(w, r, err)
			return
		}
		c, tok, err := h.tusCaller(r, signed, u.Bucket, u.Name)
		if err != nil {
			h.tusError(w, r, err)
			return
		}
		if tok != nil {
			u.Upsert = tok.Upsert
		}
		if _, err := h.svc.PrepareUpload(r.Context(), c, u.spec(th.Length)); err != nil {
			h.tusError(w, r, err)
			return
		}
		u.ID = newUploadID()
		u.KeyPrefix = "t-" + u.ID
		u.Role, u.OwnerID = c.Req.Role, c.Subject()
		if th.Length >= 0 {
			u.Size = &th.Length
		}
		if err := h.svc.createUpload(r.Context(), c, u); err != nil {
			h.tusError(w, r, err)
			return
		}
		w.Header().Set("Location", h.tusLocation(r, u.ID))
		// With a body (creation-with-upload), or an empty upload, the
		// upload may complete here.
		if r.Header.Get("Content-Type") != "" && r.ContentLength != 0 {
			if err := checkPatchContentType(r); err != nil {
				h.tusError(w, r, err)
				return
			}
			h.tusWrite(w, r, c, u, 0, nil, http.StatusCreated)
			return
		}
		if u.Size != nil && *u.Size == 0 {
			if err := h.svc.finishUpload(r.Context(), c, u); err != nil {
				h.tusError(w, r, err)
				return
			}
		}
		tusCommonHeaders(w)
		w.Header().Set("Upload-Offset", "0")
		w.Header().Set("Upload-Expires", formatUploadExpires(u.ExpiresAt))
		w.WriteHeader(http.StatusCreated)
	}
}

// uploadFromMetadata reads the object an upload creates from its metadata,
// with storage-api's keys: bucketName, objectName, contentType,
// cacheControl (seconds) and metadata (a JSON object of user metadata).
func uploadFromMetadata(th tusHeaders, upsert bool) (*upload, error) {
	md := th.Metadata
	u := &upload{Bucket: md["bucketName"], Name: md["objectName"], Metadata: md, Upsert: upsert}
	if u.Metadata == nil {
		u.Metadata = map[string]string{}
	}
	if u.Bucket == "" || u.Name == "" {
		return nil, errInvalidRequest("Upload-Metadata must name the bucket and the object: bucketName and objectName")
	}
	if ct := md["contentType"]; ct != "" {
		if u.MimeType = normalizeMimeType(ct); u.MimeType == "" {
			return nil, errInvalidRequest("contentType %q is not a media type", ct)
		}
	}
	if cc := strings.TrimSpace(md["cacheControl"]); cc != "" {
		if n, err := strconv.ParseUint(cc, 10, 32); err == nil {
			u.CacheControl = "max-age=" + strconv.FormatUint(n, 10)
		} else {
			u.CacheControl = cc
		}
	}
	if m := md["metadata"]; m != "" {
		var obj map[string]any
		if err := json.Unmarshal([]byte(m), &obj); err != nil {
			return nil, errInvalidRequest("metadata must be a JSON object")
		}
		u.UserMetadata = json.RawMessage(m)
	}
	return u, nil
}

// tusLocation is the URL of an upload: the configured public URL, else the
// address the request came to.
func (h *Handler) tusLocation(r *http.Request, id string) string {
	path := strings.TrimSuffix(r.URL.Path, "/") + "/" + id
	if h.publicURL != "" {
		return h.publicURL + path
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// tusUpload serves HEAD, PATCH and DELETE on one upload.
func (h *Handler) tusUpload(signed bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := checkTusResumable(r); err != nil {
			h.tusError(w, r, err)
			return
		}
		method := tusMethod(r)
		id := chi.URLParam(r, "id")
		c, u, err := h.tusLoad(r, signed, id)
		if err != nil {
			h.tusError(w, r, err)
			return
		}
		switch method {
		case http.MethodHead:
			if u.Size != nil && u.Offset == *u.Size {
				// Every byte arrived but the object was not made (the
				// instance finishing it stopped): finish it now, or the
				// client, seeing the offset at the end, would never ask.
				if err := h.svc.finishUpload(r.Context(), c, u); err != nil {
					h.tusError(w, r, err)
					return
				}
			}
			tusCommonHeaders(w)
			w.Header().Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
			if u.Size != nil {
				w.Header().Set("Upload-Length", strconv.FormatInt(*u.Size, 10))
			} else {
				w.Header().Set("Upload-Defer-Length", "1")
			}
			if len(u.Metadata) > 0 {
				w.Header().Set("Upload-Metadata", encodeUploadMetadata(u.Metadata))
			}
			w.Header().Set("Upload-Expires", formatUploadExpires(u.ExpiresAt))
			w.WriteHeader(http.StatusOK)
		case http.MethodDelete:
			if err := h.svc.dropUpload(r.Context(), u); err != nil {
				h.tusError(w, r, err)
				return
			}
			tusCommonHeaders(w)
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPatch:
			if err := checkPatchContentType(r); err != nil {
				h.tusError(w, r, err)
				return
			}
			th, err := parseTusHeaders(r.Header)
			if err != nil {
				h.tusError(w, r, err)
				return
			}
			if th.Offset < 0 {
				h.tusError(w, r, tusError(http.StatusBadRequest, "upload_offset_missing", "Upload-Offset is required"))
				return
			}
			var length *int64
			if th.Length >= 0 {
				if u.Size != nil && *u.Size != th.Length {
					h.tusError(w, r, tusError(http.StatusBadRequest, "invalid_upload_length", "Upload-Length cannot change once set"))
					return
				}
				if u.Size == nil {
					length = &th.Length
				}
			}
			h.tusWrite(w, r, c, u, th.Offset, length, http.StatusNoContent)
		default:
			h.tusError(w, r, httpx.ErrMethodNotAllowed)
		}
	}
}

// tusLoad finds the upload and checks that the caller is the one who
// created it (for /sign paths: that the x-signature token is for its
// object).
func (h *Handler) tusLoad(r *http.Request, signed bool, id string) (Caller, *upload, error) {
	if !validUploadID(id) {
		return Caller{}, nil, errNoSuchUpload()
	}
	if !signed {
		c := h.caller(r)
		u, err := h.svc.loadUpload(r.Context(), c, id)
		return c, u, err
	}
	// The token names the object; the upload must be for the same one.
	raw, err := h.svc.loadUploadUnchecked(r.Context(), id)
	if err != nil {
		return Caller{}, nil, err
	}
	c, _, err := h.tusCaller(r, true, raw.Bucket, raw.Name)
	if err != nil {
		return Caller{}, nil, err
	}
	u, err := h.svc.loadUpload(r.Context(), c, id)
	return c, u, err
}

// tusWrite stores the request body as the upload's bytes from offset and
// answers with the new offset (status 204 for PATCH, 201 for
// creation-with-upload); the upload becomes its object once complete.
//
// The body is stored even when the client disconnects or stalls part of
// the way: what arrived is kept, and the client resumes after it.
func (h *Handler) tusWrite(w http.ResponseWriter, r *http.Request, c Caller, u *upload, offset int64, length *int64, status int) {
	ctx := r.Context()
	if offset != u.Offset {
		h.tusError(w, r, errOffsetConflict(u.Offset, offset))
		return
	}
	if length != nil {
		if *length < u.Offset {
			h.tusError(w, r, tusError(http.StatusBadRequest, "invalid_upload_length", "Upload-Length is smaller than the bytes already received"))
			return
		}
		if err := h.svc.setDeferredLength(ctx, u, *length); err != nil {
			h.tusError(w, r, err)
			return
		}
	}
	limit, err := h.uploadLimit(ctx, u)
	if err != nil {
		h.tusError(w, r, err)
		return
	}
	if u.Size != nil && *u.Size > limit {
		h.tusError(w, r, errTooLarge(limit))
		return
	}
	remaining := limit - u.Offset
	if u.Size != nil {
		remaining = *u.Size - u.Offset
	}
	if r.ContentLength > remaining {
		h.tusError(w, r, tusError(http.StatusRequestEntityTooLarge, CodeEntityTooLarge,
			"the body goes past the upload's length (%d bytes remain)", remaining))
		return
	}
	if remaining > 0 {
		body := &tusBody{r: r.Body, rc: http.NewResponseController(w), idle: tusIdleTimeout}
		// A PATCH that brings no byte (a client gone right after its
		// headers) stores and deletes nothing: a part written only to be
		// deleted would race with the client's resume, which may already
		// be writing the next part.
		if body.started() {
			var ok bool
			if u, ok = h.storePart(w, r, u, body, remaining, limit); !ok {
				return
			}
		}
		if body.err != nil {
			// The client went away (nothing reads this answer) or stalled:
			// what it sent is kept, and it resumes from HEAD.
			h.tusError(w, r, tusError(http.StatusRequestTimeout, "upload_interrupted",
				"the body stopped after %d bytes, which were kept; resume from Upload-Offset %d", body.n, u.Offset))
			return
		}
	}
	if u.Size != nil && u.Offset == *u.Size {
		// Joining the parts of a large upload takes a while: the answer
		// must not fall to a write timeout counted from the request's start.
		h.extendWriteDeadline(w)
		if err := h.svc.finishUpload(ctx, c, u); err != nil {
			h.tusError(w, r, err)
			return
		}
	}
	h.extendWriteDeadline(w)
	tusCommonHeaders(w)
	w.Header().Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
	w.Header().Set("Upload-Expires", formatUploadExpires(u.ExpiresAt))
	w.WriteHeader(status)
}

// extendWriteDeadline gives the answer http.write_timeout from now rather
// than from the start of a request whose body took long to arrive.
func (h *Handler) extendWriteDeadline(w http.ResponseWriter) {
	if h.http.WriteTimeout > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.http.WriteTimeout))
	}
}

// uploadLimit is the largest object the upload's bucket accepts.
func (h *Handler) uploadLimit(ctx context.Context, u *upload) (int64, error) {
	b, err := h.svc.lookupBucket(ctx, u.Bucket)
	if err != nil {
		return 0, err
	}
	return h.svc.limit(b), nil
}

// storePart stores the rest of the PATCH body (its first byte already
// read) as the upload's next part and records it. It answers the request
// itself when it fails, and reports whether the caller goes on.
func (h *Handler) storePart(w http.ResponseWriter, r *http.Request, u *upload, body *tusBody, remaining, limit int64) (*upload, bool) {
	ctx := r.Context()
	// One flat key per part, directly under the store's root: a server
	// that keeps keys as files (versitygw, MinIO in FS mode) removes a
	// directory once a delete empties it, and a put into that directory
	// at that moment fails. The root holds every object, so a delete
	// empties it only when nothing else is stored.
	part := uploadPart{Key: fmt.Sprintf("%s-%020d-%s", u.KeyPrefix, u.Offset, newUploadID()[:8]), Offset: u.Offset}
	if err := h.svc.reservePart(ctx, part.Key); err != nil {
		h.tusError(w, r, err)
		return nil, false
	}
	// The request's context ends when the client goes; the bytes it sent
	// until then are still stored.
	res, err := h.svc.backend.Put(context.WithoutCancel(ctx), part.Key, body, -1, remaining)
	if err != nil {
		h.svc.discard(ctx, part.Key)
		if errors.Is(err, ErrTooLarge) {
			h.tusError(w, r, tusError(http.StatusRequestEntityTooLarge, CodeEntityTooLarge,
				"the body goes past the upload's length (%d bytes remain)", remaining))
			return nil, false
		}
		h.tusError(w, r, backendError(err, limit))
		return nil, false
	}
	part.Size = res.Size
	nu, err := h.svc.appendPart(context.WithoutCancel(ctx), u, part)
	if err != nil {
		h.svc.discard(ctx, part.Key)
		h.tusError(w, r, err)
		return nil, false
	}
	return nu, true
}

// tusBody reads a PATCH body, pushing the read deadline forward while
// bytes flow, and ends it cleanly (io.EOF) when the client disconnects or
// stalls, so that the bytes received so far are stored.
type tusBody struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	last time.Time
	err  error
	n    int64 // bytes read
	// head is a byte read by started and not yet returned by Read.
	head   [1]byte
	inHead bool
}

// started waits for the body's first byte and reports whether there is
// one; Read returns it first.
func (b *tusBody) started() bool {
	for !b.inHead {
		n, err := b.read(b.head[:])
		b.inHead = n == 1
		if err != nil {
			break
		}
	}
	return b.inHead
}

func (b *tusBody) Read(p []byte) (int, error) {
	if !b.inHead || len(p) == 0 {
		return b.read(p)
	}
	p[0], b.inHead = b.head[0], false
	n, err := b.read(p[1:])
	return n + 1, err
}

func (b *tusBody) read(p []byte) (int, error) {
	if b.err != nil {
		return 0, io.EOF
	}
	if now := time.Now(); now.Sub(b.last) > time.Second {
		b.last = now
		_ = b.rc.SetReadDeadline(now.Add(b.idle))
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF {
		b.err = err
		return n, io.EOF
	}
	return n, err
}
