package storage

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// maxFormField bounds a non-file field of a multipart upload.
const maxFormField = 64 << 10

// uploadRequest reads the upload options of r and returns the spec and the
// body stream: the raw body, or the file part of a multipart/form-data
// body (storage-js sends fields first: cacheControl, metadata, then the
// file). Nothing is buffered beyond one field.
func (h *Handler) uploadRequest(w http.ResponseWriter, r *http.Request, bucketID, name string) (UploadSpec, io.Reader, error) {
	spec := UploadSpec{Bucket: bucketID, Name: name, Size: r.ContentLength}
	if v := r.Header.Get("x-upsert"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return spec, nil, errInvalidRequest("x-upsert must be true or false")
		}
		spec.Upsert = b
	}
	spec.CacheControl = cacheControl(r.Header.Get("Cache-Control"))
	if v := r.Header.Get("x-metadata"); v != "" {
		m, err := decodeMetadataHeader(v)
		if err != nil {
			return spec, nil, err
		}
		spec.UserMetadata = m
	}
	body := h.uploadBody(w, r.Body)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		spec.ContentType = normalizeMimeType(r.Header.Get("Content-Type"))
		if r.Header.Get("Content-Type") != "" && spec.ContentType == "" {
			return spec, nil, errInvalidRequest("Content-Type %q is not a media type", r.Header.Get("Content-Type"))
		}
		return spec, body, nil
	}
	if params["boundary"] == "" {
		return spec, nil, errInvalidRequest("multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(body, params["boundary"])
	spec.Size = -1
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return spec, nil, errInvalidRequest("the multipart body has no file part")
		}
		if err != nil {
			if body.err != nil {
				return spec, nil, httpx.NewError(http.StatusBadRequest, CodeInvalidRequest, "The upload was interrupted: the request body could not be read")
			}
			return spec, nil, errInvalidRequest("malformed multipart body: %v", err)
		}
		if part.FileName() != "" || part.FormName() == "" || part.FormName() == "file" {
			spec.ContentType = normalizeMimeType(part.Header.Get("Content-Type"))
			return spec, part, nil
		}
		v, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
		if err != nil {
			return spec, nil, errInvalidRequest("malformed multipart body: %v", err)
		}
		if len(v) > maxFormField {
			return spec, nil, errInvalidRequest("multipart field %q is larger than %d bytes", part.FormName(), maxFormField)
		}
		switch part.FormName() {
		case "cacheControl":
			spec.CacheControl = cacheControl(string(v))
		case "metadata":
			if !json.Valid(v) {
				return spec, nil, errInvalidRequest("metadata must be a JSON object")
			}
			spec.UserMetadata = v
		}
	}
}

// cacheControl turns storage-js's "3600" into "max-age=3600" and keeps a
// full header value as it is.
func cacheControl(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if _, err := strconv.ParseUint(v, 10, 32); err == nil {
		return "max-age=" + v
	}
	if len(v) > 256 || strings.ContainsAny(v, "\r\n") {
		return ""
	}
	return v
}

func decodeMetadataHeader(v string) (json.RawMessage, error) {
	if len(v) > maxFormField {
		return nil, errInvalidRequest("x-metadata is larger than %d bytes", maxFormField)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(v)
	}
	if err != nil || !json.Valid(b) || !strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
		return nil, errInvalidRequest("x-metadata must be a base64-encoded JSON object")
	}
	return b, nil
}

// serveObject streams an object with conditional requests (If-None-Match,
// If-Modified-Since: 304), ranges (206, several ranges as
// multipart/byteranges, 416) and the object's headers.
func (h *Handler) serveObject(w http.ResponseWriter, r *http.Request, o Object, rc io.ReadSeekCloser) {
	defer rc.Close()
	hd := w.Header()
	hd.Set("Content-Type", o.MimeType)
	hd.Set("ETag", o.ETag)
	hd.Set("Cache-Control", o.CacheControl)
	hd.Set("X-Content-Type-Options", "nosniff")
	if q := r.URL.Query(); q.Has("download") {
		filename := q.Get("download")
		if filename == "" {
			filename = path.Base(o.Name)
		}
		hd.Set("Content-Disposition", contentDisposition("attachment", filename))
	}
	dw := h.downloadWriter(w)
	if _, isFile := rc.(*os.File); !isFile {
		// A file goes by sendfile; a stream from S3 is spliced when it
		// comes from a direct GET and the client's connection is plain
		// HTTP/1 (TLS and HTTP/2 need the bytes in user space), and
		// otherwise copied through user space, where large reads and
		// writes cost far fewer calls.
		dw = largeCopyWriter{ResponseWriter: dw, splice: r.TLS == nil && r.ProtoMajor == 1}
	}
	http.ServeContent(dw, r, "", o.UpdatedAt, rc)
}

// largeCopyLimit is the largest copy buffer of one download.
const largeCopyLimit = 1 << 20

// largeCopyWriter copies what it is given to read with one buffer of up to
// largeCopyLimit (a small object gets a buffer of its size): net/http
// would otherwise read the source 32 KiB at a time.
type largeCopyWriter struct {
	http.ResponseWriter
	// splice lets a splicer source send itself.
	splice bool
}

func (l largeCopyWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }

func (l largeCopyWriter) ReadFrom(src io.Reader) (int64, error) {
	if l.splice {
		if n, ok, err := spliceFrom(l.ResponseWriter, src); ok {
			return n, err
		}
	}
	size := int64(largeCopyLimit)
	if lr, ok := src.(*io.LimitedReader); ok && lr.N < size {
		size = max(lr.N, 1)
	}
	return io.CopyBuffer(writeOnly{l.ResponseWriter}, src, make([]byte, size))
}

// splicer is an object body that can send its next n bytes to w without
// copying them through Fluxbase (an S3 object read by direct GETs). It
// declines, sending nothing, when it cannot.
type splicer interface {
	spliceTo(w io.Writer, n int64) (sent int64, handled bool, err error)
}

// spliceFrom sends src to w through a splicer when src is one, possibly
// limited (http.ServeContent wraps the body in io.LimitedReaders).
func spliceFrom(w io.Writer, src io.Reader) (int64, bool, error) {
	var limits []*io.LimitedReader
	n := int64(math.MaxInt64)
	for {
		lr, ok := src.(*io.LimitedReader)
		if !ok {
			break
		}
		limits = append(limits, lr)
		n = min(n, lr.N)
		src = lr.R
	}
	sp, ok := src.(splicer)
	if !ok {
		return 0, false, nil
	}
	sent, handled, err := sp.spliceTo(w, n)
	for _, lr := range limits {
		lr.N -= sent
	}
	return sent, handled, err
}

// wildcard is the rest of the path a "*" route matched, decoded once.
func wildcard(r *http.Request) (string, error) {
	w := chi.URLParam(r, "*")
	if r.URL.RawPath == "" {
		return w, nil // chi matched the decoded path
	}
	d, err := url.PathUnescape(w)
	if err != nil {
		return "", errInvalidKey("Invalid key: bad percent-encoding")
	}
	return d, nil
}
