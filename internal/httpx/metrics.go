package httpx

import (
	"net/http"
	"time"

	"github.com/fluxbase/fluxbase/internal/obs"
)

// Metrics feeds m with every request: count by method, route pattern and
// status, latency and response size by method and route, and the in-flight
// gauge. Like AccessLog it must be installed with chi's Router.Use: the
// route pattern is only known once the router has run, so it is read after
// the handler returns. A nil m disables it.
func Metrics(m *obs.Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if m == nil {
			return next
		}
		inFlight := m.InFlight()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			inFlight.Inc()
			r, st := withState(r)
			rw := WrapResponseWriter(w)
			completed := false
			defer func() {
				inFlight.Dec()
				status := finalStatus(rw, completed)
				if status == 0 {
					// Aborted before anything was sent: no status to count.
					return
				}
				m.ObserveHTTP(r.Method, routeLabel(r, st.isUnmatched()), status, time.Since(start), rw.BytesWritten())
			}()
			next.ServeHTTP(rw, r)
			completed = true
		})
	}
}
