package storage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/identity"
)

// Route prefixes of the two API families.
const (
	APIPrefix    = "/storage/v1"
	NativePrefix = "/api/v1/storage"
)

// BodyLimitExempt are the path prefixes whose bodies storage limits itself
// (uploads up to storage.max_file_size, JSON bodies to maxJSONBody), for
// httpx.BodyLimit.
func BodyLimitExempt() []string {
	return []string{APIPrefix + "/", NativePrefix + "/"}
}

// maxJSONBody bounds the JSON bodies of storage requests.
const maxJSONBody = 1 << 20

// Handler serves the storage HTTP API.
type Handler struct {
	svc  *Service
	ids  *identity.Service
	http config.HTTPConfig
	// publicURL is the base URL clients reach this server at ("" when it
	// must be derived from the request).
	publicURL string
}

// NewHandler returns the storage HTTP API of svc.
func NewHandler(svc *Service, ids *identity.Service, cfg *config.Config) *Handler {
	return &Handler{svc: svc, ids: ids, http: cfg.HTTP, publicURL: cfg.PublicURL}
}

// Mount mounts both route families on r.
func (h *Handler) Mount(r chi.Router) {
	api, native := chi.NewRouter(), chi.NewRouter()
	api.Use(h.family(styleAPI))
	native.Use(h.family(styleNative))
	for _, sub := range []*chi.Mux{api, native} {
		sub.NotFound(func(w http.ResponseWriter, r *http.Request) { h.writeError(w, r, errRouteNotFound()) })
		sub.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			h.writeError(w, r, httpx.ErrMethodNotAllowed)
		})
	}
	h.mountAPI(api)
	h.mountNative(native)
	h.mountResumable(api, native)
	h.mountRender(api, native)
	r.Mount(APIPrefix, api)
	r.Mount(NativePrefix, native)
}

func errRouteNotFound() *httpx.Error {
	return httpx.NewError(http.StatusNotFound, "not_found", "Route not found")
}

type errorStyle int

const (
	styleNative errorStyle = iota
	styleAPI
)

type styleKey struct{}

// family marks the request with its API family (for the shape of errors)
// and authenticates the caller: a bad token ends the request with 401 in
// that shape; no token means anon.
// storageScope is the API key scope a request needs: reading (downloads,
// listings, object info and signing download URLs, some of them POSTs) or
// writing (everything else).
func storageScope(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return identity.ScopeReadStorage
	}
	p := r.URL.Path
	for _, read := range []string{"/object/list/", "/object/info/", "/object/sign/"} {
		if strings.Contains(p, read) {
			return identity.ScopeReadStorage
		}
	}
	if strings.HasPrefix(p, NativePrefix+"/") && strings.HasSuffix(p, "/signed-url") {
		return identity.ScopeReadStorage
	}
	return identity.ScopeWriteStorage
}

func (h *Handler) family(style errorStyle) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r = r.WithContext(context.WithValue(r.Context(), styleKey{}, style))
			// A signed URL carries its own authorization; a token in the
			// query must not be mistaken for the caller's credentials.
			id, err := h.ids.Authenticate(r)
			if err != nil && credentialFree(r) {
				// Public objects and signed URLs authorize themselves, also
				// when auth.anonymous_access is off.
				id, err = identity.Identity{Role: identity.RoleAnon, RawClaims: []byte(`{"role":"anon"}`)}, nil
			}
			if err != nil {
				e := httpx.AsError(err)
				if e.Status == http.StatusUnauthorized && style == styleAPI {
					c := *e
					c.Code = CodeInvalidJWT
					e = &c
				}
				h.writeError(w, r, e)
				return
			}
			// An API key acts only within its scopes; RLS still decides.
			if err := id.RequireScope(storageScope(r)); err != nil {
				h.writeError(w, r, httpx.AsError(err))
				return
			}
			httpx.SetLogAttr(r, "role", id.Role)
			if id.Subject != "" {
				httpx.SetLogAttr(r, "user_id", id.Subject)
			}
			next.ServeHTTP(w, r.WithContext(identity.WithIdentity(r.Context(), id)))
		})
	}
}

// credentialFree reports whether r carries no credentials and addresses
// a route that does not need them: a public object, or a signed URL.
func credentialFree(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" || r.Header.Get("apikey") != "" {
		return false
	}
	if r.URL.Query().Has("token") || r.Header.Get("x-signature") != "" {
		return true
	}
	p := r.URL.Path
	return strings.HasPrefix(p, APIPrefix+"/object/public/") ||
		strings.HasPrefix(p, APIPrefix+"/object/info/public/") ||
		strings.HasPrefix(p, APIPrefix+"/render/image/public/")
}

// caller is who asks, for the service.
func (h *Handler) caller(r *http.Request) Caller {
	id, ok := identity.FromContext(r.Context())
	if !ok {
		id = identity.Identity{Role: identity.RoleAnon, RawClaims: []byte(`{"role":"anon"}`)}
	}
	return Caller{Req: identity.PGRequest(r, id, false)}
}

// apiError is storage-api's error body.
type apiError struct {
	StatusCode string `json:"statusCode"`
	Code       string `json:"code"`
	Error      string `json:"error"`
	Message    string `json:"message"`
}

// writeError renders err in the shape of the request's API family:
// storage-api's {statusCode, code, error, message} under /storage/v1,
// Fluxbase's {code, message, details, hint} under /api/v1/storage.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := httpx.AsError(err)
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client is gone; nobody reads the answer.
		e = httpx.NewError(499, "request_canceled", "the client closed the request")
	}
	if style, _ := r.Context().Value(styleKey{}).(errorStyle); style != styleAPI {
		httpx.WriteError(w, r, e)
		return
	}
	if e.Status >= 500 {
		// Let the access log carry the cause, as httpx.WriteError does.
		httpx.WriteError(discardWriter{w}, r, e)
	}
	httpx.WriteJSON(w, e.Status, apiError{
		StatusCode: strconv.Itoa(e.Status),
		Code:       e.Code,
		Error:      apiErrorName(e),
		Message:    apiMessage(e),
	})
}

// discardWriter lets httpx.WriteError record a cause without writing.
type discardWriter struct{ http.ResponseWriter }

func (d discardWriter) Header() http.Header         { return http.Header{} }
func (d discardWriter) WriteHeader(int)             {}
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func apiErrorName(e *httpx.Error) string {
	switch e.Code {
	case CodeNoSuchKey, CodeNoSuchBucket, CodeNoSuchUpload, "not_found":
		return "not_found"
	case CodeKeyAlreadyExists:
		return "Duplicate"
	case CodeAccessDenied:
		return "Unauthorized"
	case CodeEntityTooLarge, "body_too_large":
		return "Payload too large"
	case "":
		return http.StatusText(e.Status)
	}
	return e.Code
}

func apiMessage(e *httpx.Error) string {
	if d, ok := e.Details.(string); ok && d != "" && e.Status < 500 {
		return e.Message + ": " + d
	}
	return e.Message
}

// decodeJSON reads a JSON object body of at most maxJSONBody bytes into v.
// An empty body leaves v as it is.
func decodeJSON(r *http.Request, v any) error {
	body := http.MaxBytesReader(nil, r.Body, maxJSONBody)
	b, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return httpx.ErrBodyTooLarge.WithDetails("limit is 1 MiB for JSON bodies")
		}
		return errInvalidRequest("cannot read the request body")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errInvalidRequest("the body is not valid JSON for this request: %v", err)
	}
	return nil
}

// extendDeadlines keeps long transfers alive without disabling the
// server's timeouts: each successful read or write pushes the
// connection's deadline forward by the configured timeout, so that only an
// idle transfer is cut off.
type deadlineBody struct {
	rc      *http.ResponseController
	timeout time.Duration
	// writeTimeout is extended too: net/http starts the write deadline
	// when the request arrives, so a long upload would lose its answer.
	writeTimeout time.Duration
	r            io.Reader
	last         time.Time
	// err is the first read error of the client's body, which tells a
	// client fault (400) from a backend fault (500).
	err error
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	// Pushed forward once half the shorter timeout has passed, so that
	// no deadline lapses while bytes keep coming.
	if step := min(positiveOr(d.timeout, d.writeTimeout), positiveOr(d.writeTimeout, d.timeout)); step > 0 {
		if now := time.Now(); now.Sub(d.last) > step/2 {
			d.last = now
			if d.timeout > 0 {
				_ = d.rc.SetReadDeadline(now.Add(d.timeout))
			}
			if d.writeTimeout > 0 {
				_ = d.rc.SetWriteDeadline(now.Add(d.writeTimeout))
			}
		}
	}
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF && d.err == nil {
		d.err = err
	}
	return n, err
}

func (h *Handler) uploadBody(w http.ResponseWriter, r io.Reader) *deadlineBody {
	return &deadlineBody{rc: http.NewResponseController(w), timeout: h.http.ReadTimeout, writeTimeout: h.http.WriteTimeout, r: r}
}

// positiveOr returns d if it is positive, else alt.
func positiveOr(d, alt time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return alt
}

type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	last    time.Time
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(d.last) > d.timeout/2 {
		d.last = now
		_ = d.rc.SetWriteDeadline(now.Add(d.timeout))
	}
	return d.ResponseWriter.Write(p)
}

func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// sendChunkMin and sendChunkMax bound how much one ReadFrom below hands to
// the connection before the write deadline is pushed forward again. Each
// chunk is sized from the rate of the one before so that it takes about a
// quarter of the timeout: a fast client gets large chunks (sendfile then
// runs with few system calls), a slow one smaller ones, so that a client
// that keeps reading is not cut off, while one that stops reading for the
// timeout is. The rate is unknown until a chunk has had to wait for the
// client (the socket buffers take the first megabytes at once), so no
// chunk is larger than a client reading 1 MiB/s takes in the timeout.
const (
	sendChunkMin = 64 << 10
	sendChunkMax = 4 << 20
)

// maxSendChunk is the largest chunk for timeout.
func maxSendChunk(timeout time.Duration) int64 {
	return min(max(int64(timeout.Seconds()*(1<<20)), sendChunkMin), sendChunkMax)
}

// ReadFrom keeps sendfile: http.ServeContent copies a local object as an
// *io.LimitedReader around its *os.File, and the connection sends that
// without copying it through user space only if it reaches it unwrapped.
// The file is handed over in chunks, each with a fresh write deadline.
func (d *deadlineWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := d.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(writeOnly{d}, src)
	}
	lr, limited := src.(*io.LimitedReader)
	if !limited {
		lr = &io.LimitedReader{R: src, N: math.MaxInt64}
	}
	var total int64
	chunk := int64(sendChunkMin)
	for lr.N > 0 {
		start := time.Now()
		d.last = start
		_ = d.rc.SetWriteDeadline(start.Add(d.timeout))
		want := min(lr.N, chunk)
		n, err := rf.ReadFrom(&io.LimitedReader{R: lr.R, N: want})
		lr.N -= n
		total += n
		// A chunk the client took only part of in the timeout is progress,
		// not a stalled client: the connection takes a fresh deadline and
		// the rest goes in chunks fitted to that rate. A whole timeout
		// without a byte taken ends the download.
		if err != nil && (n == 0 || !errors.Is(err, os.ErrDeadlineExceeded)) {
			return total, err
		}
		if err == nil && n < want {
			return total, nil
		}
		chunk = nextSendChunk(n, time.Since(start), d.timeout)
	}
	return total, nil
}

// nextSendChunk is the size of the chunk after one of n bytes sent in
// took: what that rate sends in a quarter of timeout, within the bounds.
func nextSendChunk(n int64, took, timeout time.Duration) int64 {
	most := maxSendChunk(timeout)
	if took <= 0 {
		return most
	}
	next := float64(n) * float64(timeout/4) / float64(took)
	return int64(min(max(next, sendChunkMin), float64(most)))
}

// writeOnly hides the ReadFrom of a writer from io.Copy.
type writeOnly struct{ io.Writer }

func (h *Handler) downloadWriter(w http.ResponseWriter) http.ResponseWriter {
	if h.http.WriteTimeout <= 0 {
		return w
	}
	return &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: h.http.WriteTimeout}
}

// answerDeadline gives the answer to a long upload a fresh write deadline:
// the last bytes may have been followed by a long fsync or a multipart
// completion.
func (h *Handler) answerDeadline(w http.ResponseWriter) {
	if h.http.WriteTimeout > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(h.http.WriteTimeout))
	}
}
