package httpx_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/obs"
)

// BenchmarkStack is one request through the whole middleware stack to a
// handler that writes a short body, with the access log formatted by
// slog's JSONHandler (the generic path) and by obs.JSONHandler (the line
// formatted by the access log itself), both discarding the line. cpu-ns/op
// is the process's CPU time (getrusage) per request, garbage collection
// included, which moves less than ns/op when other work shares the
// machine.
//
//	go test -run '^$' -bench Stack -benchmem ./internal/httpx/
func BenchmarkStack(b *testing.B) {
	for _, c := range []struct {
		name string
		h    slog.Handler
	}{
		{"slog_json", slog.NewJSONHandler(io.Discard, nil)},
		{"obs_json", obs.NewJSONHandler(io.Discard, nil)},
	} {
		b.Run(c.name, func(b *testing.B) {
			mws, err := httpx.Stack(httpx.StackOptions{HTTP: testHTTPConfig(), Logger: slog.New(c.h), Metrics: obs.NewMetrics()})
			if err != nil {
				b.Fatal(err)
			}
			router := httpx.NewRouter(mws)
			router.Get("/rest/v1/{table}", func(w http.ResponseWriter, r *http.Request) {
				httpx.SetLogAttr(r, "role", "anon")
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`[{"id":1}]`))
			})
			req := httptest.NewRequest(http.MethodGet, "/rest/v1/items?id=eq.1&select=id,name", nil)
			req.Header.Set("User-Agent", "postgrest-js/2.0")
			req.Header.Set("Apikey", "x")
			req.Header.Set("Origin", "https://app.example.com")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			before := processCPU(b)
			for b.Loop() {
				clear(w.h)
				router.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(processCPU(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
