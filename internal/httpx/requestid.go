package httpx

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"time"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-ID"

// maxRequestIDLen bounds what a client may impose on our logs.
const maxRequestIDLen = 128

type requestIDKey struct{}

// AssignRequestID accepts the caller's X-Request-ID when it is sane, so a request
// can be followed across a proxy or a client's own logs, and otherwise
// generates one. The id is echoed in the response header and stored in the
// request context (see RequestID).
func AssignRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !ValidRequestID(id) {
			id = NewRequestID()
		}
		// The canonical key, set directly: Set would canonicalise it again.
		w.Header()["X-Request-Id"] = []string{id}
		r, st := withState(r)
		st.id = id
		next.ServeHTTP(w, r)
	})
}

// RequestID returns the id of the request that ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		return id
	}
	if st := stateOf(ctx); st != nil {
		return st.id
	}
	return ""
}

// ContextWithRequestID returns ctx carrying id; work started on behalf of a
// request (jobs, outgoing calls) keeps the id this way. It takes precedence
// over the id AssignRequestID recorded for the request ctx comes from.
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// ValidRequestID accepts 1 to 128 visible ASCII characters: anything else
// (spaces, control characters, non-ASCII) could forge or garble log lines
// and headers downstream.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// NewRequestID returns a UUIDv7: time-ordered, so ids sort like the log
// lines they appear in, and 74 random bits make collisions negligible.
func NewRequestID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails since Go 1.24
	ms := uint64(time.Now().UnixMilli())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(u[0:6], ts[2:8])
	u[6] = (u[6] & 0x0f) | 0x70 // version 7
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 9562 variant

	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}
