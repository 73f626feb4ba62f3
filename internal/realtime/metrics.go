package realtime

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// hubMetrics are realtime's Prometheus metrics. A nil *hubMetrics records
// nothing, so a hub built without a registry (tests) needs no checks.
type hubMetrics struct {
	messagesIn  prometheus.Counter
	messagesOut prometheus.Counter
	delivery    prometheus.Histogram
	fanout      prometheus.Histogram
	dropped     prometheus.Counter
	changes     prometheus.Counter
	batches     prometheus.Counter
}

// deliveryBuckets span 1 ms to 10 s: commit-to-socket latency.
var deliveryBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// RegisterMetrics adds realtime's metrics to reg: connections, channels,
// messages in and out, delivery latency and the change stream's lag.
func (s *Service) RegisterMetrics(reg prometheus.Registerer) error {
	h := s.hub
	m := &hubMetrics{
		messagesIn: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "fluxbase", Subsystem: "realtime",
			Name: "messages_in_total", Help: "Messages received from realtime clients."}),
		messagesOut: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "fluxbase", Subsystem: "realtime",
			Name: "messages_out_total", Help: "Messages written to realtime clients."}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "fluxbase", Subsystem: "realtime",
			Name: "change_delivery_seconds", Help: "From a change's commit to its being written to every subscriber's socket.", Buckets: deliveryBuckets}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "fluxbase", Subsystem: "realtime",
			Name: "broadcast_fanout_seconds", Help: "Time to write a broadcast to every local subscriber's socket.", Buckets: deliveryBuckets}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "fluxbase", Subsystem: "realtime",
			Name: "bus_dropped_total", Help: "Messages for other instances dropped because the database could not take them."}),
	}
	m.changes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "fluxbase", Subsystem: "realtime",
		Name: "changes_total", Help: "Database changes that had at least one subscriber."})
	m.batches = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "fluxbase", Subsystem: "realtime",
		Name: "visibility_round_trips_total", Help: "Database round trips made to check filters and row level security for changes."})
	collectors := []prometheus.Collector{m.messagesIn, m.messagesOut, m.delivery, m.fanout, m.dropped, m.changes, m.batches,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "fluxbase", Subsystem: "realtime",
			Name: "connections", Help: "Open realtime WebSocket connections."}, func() float64 { return float64(h.connCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "fluxbase", Subsystem: "realtime",
			Name: "channels", Help: "Channels with at least one subscriber."}, func() float64 { return float64(h.topicCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "fluxbase", Subsystem: "realtime",
			Name: "replication_lag_bytes", Help: "How far the change stream is behind the server's WAL."}, func() float64 { return float64(s.stream.LagBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "fluxbase", Subsystem: "realtime",
			Name: "stream_live", Help: "1 when the database change stream is live."}, func() float64 {
			if s.stream.State() == StreamLive {
				return 1
			}
			return 0
		}),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	h.metrics = m
	return nil
}

func (m *hubMetrics) in() {
	if m != nil {
		m.messagesIn.Inc()
	}
}

func (m *hubMetrics) out(n int) {
	if m != nil && n > 0 {
		m.messagesOut.Add(float64(n))
	}
}

func (m *hubMetrics) observeDelivery(commit time.Time) {
	if m != nil && !commit.IsZero() {
		m.delivery.Observe(time.Since(commit).Seconds())
	}
}

func (m *hubMetrics) observeFanout(start time.Time) {
	if m != nil {
		m.fanout.Observe(time.Since(start).Seconds())
	}
}

func (m *hubMetrics) change(roundTrips int) {
	if m != nil {
		m.changes.Inc()
		m.batches.Add(float64(roundTrips))
	}
}

func (m *hubMetrics) busDropped() {
	if m != nil {
		m.dropped.Inc()
	}
}

func (h *Hub) connCount() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns)
}

func (h *Hub) topicCount() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.topics)
}
