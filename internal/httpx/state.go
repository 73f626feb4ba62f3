package httpx

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
)

// requestState is the per-request record shared by the middleware stack:
// the request id, the resolved client address, the body as it arrived (for
// BodyLimit), attributes for the access log line, the cause of a 5xx and
// whether routing found no route. The outermost middleware that needs it
// creates it, and every later one fills in its part instead of deriving a
// context and a copy of the request of its own: one context value per
// request rather than one per middleware, which also keeps the chain that
// every later ctx.Value lookup walks short.
type requestState struct {
	// Written before the next handler runs, read-only afterwards.
	id        string
	client    clientInfo
	hasClient bool
	body      io.ReadCloser
	bodySaved bool
	mu        sync.Mutex
	attrs     []slog.Attr
	cause     *Error
	unmatched bool
}

type stateKey struct{}

func stateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// withState returns r carrying a request state, reusing the one already
// attached by an outer middleware.
func withState(r *http.Request) (*http.Request, *requestState) {
	if st := stateOf(r.Context()); st != nil {
		return r, st
	}
	st := &requestState{}
	return r.WithContext(context.WithValue(r.Context(), stateKey{}, st)), st
}

// SetLogAttr adds key=value to the access log line of r, replacing an
// earlier value of the same key. Handlers and middleware use it for what
// only they know (user_id, role, the table touched). It is a no-op when no
// access log middleware runs for r. Safe for concurrent use.
func SetLogAttr(r *http.Request, key string, value any) {
	st := stateOf(r.Context())
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for i := range st.attrs {
		if st.attrs[i].Key == key {
			st.attrs[i] = slog.Any(key, value)
			return
		}
	}
	st.attrs = append(st.attrs, slog.Any(key, value))
}

// recordCause remembers the error behind a 5xx response so that the access
// log line says why the request failed.
func recordCause(r *http.Request, e *Error) {
	st := stateOf(r.Context())
	if st == nil {
		return
	}
	st.mu.Lock()
	st.cause = e
	st.mu.Unlock()
}

// markUnmatched records that no route handled r, so metrics and logs use the
// fixed "unmatched" label instead of whatever partial pattern routing saw.
func markUnmatched(r *http.Request) {
	st := stateOf(r.Context())
	if st == nil {
		return
	}
	st.mu.Lock()
	st.unmatched = true
	st.mu.Unlock()
}

// snapshot appends the log attributes to dst (a copy: a goroutine the
// handler left behind may still add some).
func (st *requestState) snapshot(dst []slog.Attr) (attrs []slog.Attr, cause *Error, unmatched bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append(dst, st.attrs...), st.cause, st.unmatched
}

func (st *requestState) isUnmatched() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.unmatched
}
