package storage

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// mountRender mounts the image transform routes on the /storage/v1 router
// (api), as storage-api names them, and on the native router:
//
//	GET /storage/v1/render/image/authenticated/{bucket}/{path}  the caller's SELECT policies decide
//	GET /storage/v1/render/image/public/{bucket}/{path}         objects of public buckets
//	GET /storage/v1/render/image/sign/{bucket}/{path}?token=    a signed download URL's token
//	GET /api/v1/storage/render/{bucket}/{path}                  as authenticated
//
// with width, height, resize, format, quality and download in the query.
func (h *Handler) mountRender(api, native chi.Router) {
	api.Get("/render/image/authenticated/{bucket}/*", h.render(AccessRLS))
	api.Get("/render/image/public/{bucket}/*", h.render(AccessPublic))
	api.Get("/render/image/sign/{bucket}/*", h.render(AccessSigned))
	rls, signed := h.render(AccessRLS), h.render(AccessSigned)
	native.Get("/render/{bucket}/*", func(w http.ResponseWriter, r *http.Request) {
		// A signed URL (from .../signed-url with a transform) carries its
		// token; otherwise RLS decides.
		if r.URL.Query().Has("token") {
			signed(w, r)
			return
		}
		rls(w, r)
	})
}

func (h *Handler) render(access Access) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		bucketID, name, err := target(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		tr := h.svc.transformer
		var opts TransformOptions
		if access == AccessSigned {
			opts, err = h.svc.verifyRender(r.URL.Query().Get("token"), bucketID, name, r.URL.Query())
		} else {
			opts, err = ParseTransformOptions(r.URL.Query(), tr.Limits())
		}
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		c := h.caller(r)
		o, err := h.svc.Info(r.Context(), c, bucketID, name, access)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		accept := r.Header.Get("Accept")
		identity := o.Version + "/" + o.ETag
		etag := renderETag(identity, opts, accept)
		hdr := w.Header()
		if opts.Format == FormatAuto {
			hdr.Set("Vary", "Accept")
		}
		hdr.Set("ETag", etag)
		hdr.Set("Last-Modified", o.UpdatedAt.UTC().Format(http.TimeFormat))
		if o.CacheControl != "" {
			hdr.Set("Cache-Control", o.CacheControl)
		}
		if notModified(r, etag, o.UpdatedAt) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		src := ImageSource{Identity: identity, Size: o.Size, Open: func(ctx context.Context) (io.ReadCloser, error) {
			rc, _, err := h.svc.backend.Get(ctx, o.Version)
			if err != nil {
				return nil, backendError(err, 0)
			}
			return rc, nil
		}}
		out, err := tr.Render(r.Context(), src, opts, accept)
		if err != nil {
			hdr.Del("ETag")
			hdr.Del("Last-Modified")
			hdr.Del("Cache-Control")
			hdr.Del("Vary")
			h.writeError(w, r, err)
			return
		}
		hdr.Set("Content-Type", out.ContentType)
		hdr.Set("Content-Length", strconv.Itoa(len(out.Data)))
		hdr.Set("X-Transformations", out.Transformations)
		if dl, ok := r.URL.Query()["download"]; ok {
			filename := dl[0]
			if filename == "" {
				filename = name[strings.LastIndexByte(name, '/')+1:]
			}
			hdr.Set("Content-Disposition", contentDisposition("attachment", filename))
		}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(out.Data)
		}
	}
}

// renderETag identifies one rendering of one version of an object without
// rendering it: it covers everything the result depends on.
func renderETag(identity string, opts TransformOptions, accept string) string {
	preferWebP := opts.Format == FormatAuto && acceptsType(accept, "image/webp")
	return `"` + cacheKey(identity, opts.String(), strconv.FormatBool(preferWebP))[:32] + `"`
}

// notModified evaluates If-None-Match (which wins when present) and
// If-Modified-Since.
func notModified(r *http.Request, etag string, modified time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !modified.Truncate(time.Second).After(t) {
			return true
		}
	}
	return false
}
