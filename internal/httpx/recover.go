package httpx

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// representationHeaders describe a body the panicking handler meant to send;
// they would be wrong on the error that replaces it.
var representationHeaders = []string{
	"Content-Encoding", "Content-Range", "Content-Disposition", "Content-Language",
	"Content-Location", "ETag", "Last-Modified", "Preference-Applied",
}

// Recover turns a panic in a handler into a 500 with the JSON error body
// (code internal_error, never the panic value or the stack: they may hold
// data or internals) and logs the panic with its stack at error level.
//
// When the response has already started, the status can no longer change,
// so the handler is aborted with http.ErrAbortHandler: net/http then cuts
// the connection and the client cannot mistake the truncated body for a
// complete one. http.ErrAbortHandler itself is passed on untouched, as
// net/http expects.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := WrapResponseWriter(w)
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
					slog.String("request_id", RequestID(r.Context())),
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("panic", fmt.Sprint(p)),
					slog.String("stack", string(debug.Stack())),
				)
				if rw.Hijacked() {
					return
				}
				if rw.WroteHeader() {
					panic(http.ErrAbortHandler)
				}
				h := rw.Header()
				for _, k := range representationHeaders {
					h.Del(k)
				}
				e := *ErrInternal
				e.Err = fmt.Errorf("panic: %v", p)
				WriteError(rw, r, &e)
			}()
			next.ServeHTTP(rw, r)
		})
	}
}
