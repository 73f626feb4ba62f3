package obs

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric Fluxbase defines.
const Namespace = "fluxbase"

// durationBuckets spans 1 ms to 30 s: REST reads land in the first buckets,
// while slow RPCs, uploads and timeouts still get a bucket of their own
// instead of collapsing into +Inf.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// sizeBuckets spans 100 B to 100 MB in powers of ten.
var sizeBuckets = prometheus.ExponentialBuckets(100, 10, 7)

// Metrics is the Prometheus registry of one Fluxbase process together with
// the HTTP metrics that the httpx middleware feeds.
type Metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	size     *prometheus.HistogramVec
	inFlight prometheus.Gauge
	unparsed *prometheus.CounterVec

	// series caches the metrics of each method, route and status seen,
	// so that a request does not hash its labels three times to find
	// them. Labels come from a small fixed set (see ObserveHTTP), which
	// bounds it.
	series sync.Map // of seriesKey → *httpSeries
}

type seriesKey struct {
	method, route string
	status        int
}

type httpSeries struct {
	requests       prometheus.Counter
	duration, size prometheus.Observer
}

// NewMetrics builds a registry holding the Go runtime and process collectors
// and the HTTP metrics.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Subsystem: "http",
			Name:      "requests_total",
			Help:      "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace,
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Time from receiving a request to the handler returning, by method and route pattern.",
			Buckets:   durationBuckets,
		}, []string{"method", "route"}),
		size: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace,
			Subsystem: "http",
			Name:      "response_size_bytes",
			Help:      "Size of response bodies, by method and route pattern.",
			Buckets:   sizeBuckets,
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace,
			Subsystem: "http",
			Name:      "requests_in_flight",
			Help:      "HTTP requests currently being served.",
		}),
		unparsed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Subsystem: "http",
			Name:      "unparsed_requests_total",
			Help:      "Requests refused before routing because they are not valid HTTP (an undecodable path, a malformed header, headers too large), by status code.",
		}, []string{"status"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.size, m.inFlight, m.unparsed,
	)
	return m
}

// Registry is where other subsystems register their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format. A
// collector that fails is reported in the output rather than failing the
// whole scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg,
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	}))
}

// InFlight is the gauge of requests being served; the middleware increments
// it when a request arrives and decrements it when the handler returns.
func (m *Metrics) InFlight() prometheus.Gauge { return m.inFlight }

// ObserveUnparsed records a request refused with status before routing,
// because it is not valid HTTP.
func (m *Metrics) ObserveUnparsed(status int) {
	m.unparsed.WithLabelValues(strconv.Itoa(status)).Inc()
}

// ObserveHTTP records one finished request. route must be a route pattern
// or another value from a small fixed set, never a raw path: every distinct
// value creates new time series. Methods outside the standard set are
// recorded as "OTHER" for the same reason.
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration, size int64) {
	method = normalizeMethod(method)
	key := seriesKey{method: method, route: route, status: status}
	s, ok := m.series.Load(key)
	if !ok {
		s, _ = m.series.LoadOrStore(key, &httpSeries{
			requests: m.requests.WithLabelValues(method, route, strconv.Itoa(status)),
			duration: m.duration.WithLabelValues(method, route),
			size:     m.size.WithLabelValues(method, route),
		})
	}
	hs := s.(*httpSeries)
	hs.requests.Inc()
	hs.duration.Observe(d.Seconds())
	if size >= 0 {
		hs.size.Observe(float64(size))
	}
}

func normalizeMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}
