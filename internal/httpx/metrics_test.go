package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	dto "github.com/prometheus/client_model/go"

	"github.com/fluxbase/fluxbase/internal/obs"
)

// series returns the samples of a metric family keyed by their labels
// rendered as "k=v,k=v" in label order.
func series(t *testing.T, m *obs.Metrics, name string) map[string]*dto.Metric {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Metric{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			var parts []string
			for _, l := range s.GetLabel() {
				parts = append(parts, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(parts, ",")] = s
		}
	}
	return out
}

func TestMetricsUseRoutePatternsAndUnmatched(t *testing.T) {
	env := newStack(t, nil)
	env.router.Route("/api/v1", func(r chi.Router) {
		r.Get("/tables/{table}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("12345")) })
	})
	env.router.Get("/panic", func(w http.ResponseWriter, r *http.Request) { panic("x") })

	for _, p := range []string{"/api/v1/tables/a", "/api/v1/tables/b", "/api/v1/tables/c"} {
		env.do(httptest.NewRequest(http.MethodGet, p, nil))
	}
	for _, p := range []string{"/random/1", "/random/2", "/api/v1/nothing-here"} {
		env.do(httptest.NewRequest(http.MethodGet, p, nil))
	}
	env.do(httptest.NewRequest(http.MethodPost, "/api/v1/tables/a", nil))
	env.do(httptest.NewRequest("WEIRD", "/api/v1/tables/a", nil))
	env.do(httptest.NewRequest(http.MethodGet, "/panic", nil))

	reqs := series(t, env.metrics, "fluxbase_http_requests_total")
	want := map[string]float64{
		"method=GET,route=/api/v1/tables/{table},status=200": 3,
		"method=GET,route=unmatched,status=404":              3,
		"method=POST,route=unmatched,status=405":             1,
		"method=OTHER,route=unmatched,status=405":            1,
		"method=GET,route=/panic,status=500":                 1,
	}
	for k, v := range want {
		s, ok := reqs[k]
		if !ok {
			t.Errorf("no series %s; have %v", k, keys(reqs))
			continue
		}
		if got := s.GetCounter().GetValue(); got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if len(reqs) != len(want) {
		t.Errorf("unexpected series: %v", keys(reqs))
	}
	for k := range reqs {
		if strings.Contains(k, "/random") || strings.Contains(k, "tables/a") {
			t.Errorf("raw path became a label: %s", k)
		}
	}

	dur := series(t, env.metrics, "fluxbase_http_request_duration_seconds")
	h := dur["method=GET,route=/api/v1/tables/{table}"]
	if h == nil || h.GetHistogram().GetSampleCount() != 3 {
		t.Fatalf("duration histogram: %v", h)
	}
	b := h.GetHistogram().GetBucket()
	if b[0].GetUpperBound() != 0.001 || b[len(b)-1].GetUpperBound() != 30 {
		t.Errorf("buckets span %v..%v, want 1ms..30s", b[0].GetUpperBound(), b[len(b)-1].GetUpperBound())
	}
	size := series(t, env.metrics, "fluxbase_http_response_size_bytes")["method=GET,route=/api/v1/tables/{table}"]
	if size == nil || size.GetHistogram().GetSampleSum() != 15 {
		t.Errorf("size histogram: %v", size)
	}
	if g := series(t, env.metrics, "fluxbase_http_requests_in_flight")[""]; g == nil || g.GetGauge().GetValue() != 0 {
		t.Errorf("in-flight after all requests finished: %v", g)
	}
}

func TestMetricsCountInFlight(t *testing.T) {
	env := newStack(t, nil)
	var during float64
	env.router.Get("/slow", func(w http.ResponseWriter, r *http.Request) {
		during = series(t, env.metrics, "fluxbase_http_requests_in_flight")[""].GetGauge().GetValue()
	})
	env.do(httptest.NewRequest(http.MethodGet, "/slow", nil))
	if during != 1 {
		t.Errorf("in-flight during a request = %v, want 1", during)
	}
}

func keys(m map[string]*dto.Metric) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
