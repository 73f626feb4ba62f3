package httpx

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// UnmatchedRoute is the route label of requests that no route handled:
// 404s and 405s from the router, and requests answered before routing
// (CORS preflights, oversized bodies). Raw paths never become labels.
const UnmatchedRoute = "unmatched"

// AccessLog writes one line per request when the handler returns, with
// request_id, method, route (the chi pattern), path, query (secrets
// redacted), status, duration_ms, bytes, ip, user_agent, the attributes
// added with SetLogAttr (user_id, role…) and, for 5xx, the error cause.
//
// Levels: error for 5xx (the server failed), info for everything else,
// 4xx included: a client's mistake is not an operator's problem, and warn
// lines for every expired token or missing row would bury the real ones.
//
// It must be installed with chi's Router.Use, so that the route pattern is
// known once the handler returns. Requests whose handler aborts with a panic
// that escapes (http.ErrAbortHandler) are still logged, with aborted=true.
func AccessLog(log *slog.Logger) func(http.Handler) http.Handler {
	// A handler that takes whole lines (obs.JSONHandler, the production
	// JSON format) gets the line formatted here; any other goes through
	// slog's generic path.
	sink, _ := log.Handler().(lineSink)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			r, st := withState(r)
			rw := WrapResponseWriter(w)
			completed := false
			defer func() {
				logRequest(log, sink, r, st, rw, time.Since(start), completed)
			}()
			next.ServeHTTP(rw, r)
			completed = true
		})
	}
}

// accessEntry is one access log line's fields, in the order they are
// written.
type accessEntry struct {
	requestID, method, route, path, query string
	status                                int
	durationMS                            float64
	bytes                                 int64
	ip, userAgent, proto                  string
	aborted                               bool
	extra                                 []slog.Attr
	cause                                 *Error
}

func logRequest(log *slog.Logger, sink lineSink, r *http.Request, st *requestState, rw *ResponseWriter, d time.Duration, completed bool) {
	status := finalStatus(rw, completed)
	level := slog.LevelInfo
	if status >= 500 || !completed {
		level = slog.LevelError
	}
	ctx := r.Context()
	if sink != nil {
		if !sink.Enabled(ctx, level) {
			return
		}
	} else if !log.Enabled(ctx, level) {
		return
	}

	var extraBuf [4]slog.Attr
	extra, cause, unmatched := st.snapshot(extraBuf[:0])
	e := accessEntry{
		requestID:  RequestID(ctx),
		method:     r.Method,
		route:      routeLabel(r, unmatched),
		path:       r.URL.Path,
		query:      RedactQuery(r.URL.RawQuery),
		status:     status,
		durationMS: float64(d.Microseconds()) / 1000,
		bytes:      rw.BytesWritten(),
		ip:         ClientIP(r),
		userAgent:  r.UserAgent(),
		proto:      r.Proto,
		aborted:    !completed,
		extra:      extra,
		cause:      cause,
	}
	if sink != nil && e.plainExtras() {
		bp := linePool.Get().(*[]byte)
		line := e.appendJSON((*bp)[:0], time.Now(), level)
		_ = sink.WriteLine(line)
		if cap(line) <= maxPooledLine {
			*bp = line
			linePool.Put(bp)
		}
		return
	}
	// A record without a caller's PC: the source would always be this
	// line, and capturing it walks the stack on every request.
	rec := slog.NewRecord(time.Now(), level, "request", 0)
	rec.AddAttrs(e.attrs()...)
	_ = log.Handler().Handle(ctx, rec)
}

// attrs are e's fields as slog attributes.
func (e *accessEntry) attrs() []slog.Attr {
	attrs := make([]slog.Attr, 0, 14+len(e.extra))
	attrs = append(attrs,
		slog.String("request_id", e.requestID),
		slog.String("method", e.method),
		slog.String("route", e.route),
		slog.String("path", e.path),
	)
	if e.query != "" {
		attrs = append(attrs, slog.String("query", e.query))
	}
	attrs = append(attrs,
		slog.Int("status", e.status),
		slog.Float64("duration_ms", e.durationMS),
		slog.Int64("bytes", e.bytes),
		slog.String("ip", e.ip),
		slog.String("user_agent", e.userAgent),
		slog.String("proto", e.proto),
	)
	if e.aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	attrs = append(attrs, e.extra...)
	if e.cause != nil {
		attrs = append(attrs, slog.String("error", e.cause.Error()))
	}
	return attrs
}

// finalStatus is what the client saw: a handler that returns without
// writing gets an implicit 200 from net/http.
func finalStatus(rw *ResponseWriter, completed bool) int {
	if s := rw.Status(); s != 0 {
		return s
	}
	if completed {
		return http.StatusOK
	}
	return 0
}

// routeLabel is the chi route pattern of r, or UnmatchedRoute.
func routeLabel(r *http.Request, unmatched bool) string {
	if unmatched {
		return UnmatchedRoute
	}
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		if p := rctx.RoutePattern(); p != "" {
			return p
		}
	}
	return UnmatchedRoute
}

// sensitiveParams are query parameters that carry credentials: API keys,
// tokens of signed URLs and OAuth callbacks.
var sensitiveParams = map[string]bool{
	"apikey": true, "api_key": true, "key": true, "jwt": true, "code": true,
	"password": true, "secret": true, "signature": true, "sig": true,
	"x-amz-signature": true, "x-amz-credential": true, "x-amz-security-token": true,
}

// isSensitiveParam also catches token, access_token, refresh_token,
// id_token, client_secret and the like by substring.
func isSensitiveParam(name string) bool {
	n := strings.ToLower(name)
	if sensitiveParams[n] {
		return true
	}
	for _, s := range []string{"token", "secret", "password", "apikey", "api_key", "signature", "credential"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// sensitiveParam splits one query parameter and reports whether it has a
// value under a credential-bearing name; key is the name as sent.
func sensitiveParam(p string) (key string, sensitive bool) {
	key, _, hasValue := strings.Cut(p, "=")
	if !hasValue {
		return key, false
	}
	name := key
	if strings.ContainsAny(key, "%+") {
		if u, err := url.QueryUnescape(key); err == nil {
			name = u
		}
	}
	return key, isSensitiveParam(name)
}

// hasSensitiveParam reports whether RedactQuery would change raw, without
// allocating in the common case of a query without credentials (every
// request's access log line goes through it).
func hasSensitiveParam(raw string) bool {
	for raw != "" {
		var p string
		p, raw, _ = strings.Cut(raw, "&")
		if _, sensitive := sensitiveParam(p); sensitive {
			return true
		}
	}
	return false
}

// RedactQuery returns the raw query with the values of credential-bearing
// parameters replaced by "REDACTED", keeping order and encoding of the
// rest so the line still shows what the client asked for.
func RedactQuery(raw string) string {
	if raw == "" || !hasSensitiveParam(raw) {
		return raw
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		if k, sensitive := sensitiveParam(p); sensitive {
			parts[i] = k + "=REDACTED"
		}
	}
	return strings.Join(parts, "&")
}
