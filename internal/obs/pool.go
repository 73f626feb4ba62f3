package obs

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// RegisterPool exports the statistics of a pgx pool under the label
// pool=name. statFn is called at every scrape, so the figures are always
// current and nothing runs between scrapes. Registering the same name twice
// is an error.
func (m *Metrics) RegisterPool(name string, statFn func() *pgxpool.Stat) error {
	if name == "" || statFn == nil {
		return fmt.Errorf("obs: RegisterPool needs a name and a stat function")
	}
	if err := m.reg.Register(newPoolCollector(name, statFn)); err != nil {
		return fmt.Errorf("obs: register pool %q metrics: %w", name, err)
	}
	return nil
}

type poolMetric struct {
	desc      *prometheus.Desc
	valueType prometheus.ValueType
	value     func(*pgxpool.Stat) float64
}

// poolCollector carries the pool name as a constant label: descriptors of
// two collectors must differ in their constant labels to coexist on one
// registry.
type poolCollector struct {
	statFn  func() *pgxpool.Stat
	metrics []poolMetric
}

func newPoolCollector(name string, statFn func() *pgxpool.Stat) *poolCollector {
	labels := prometheus.Labels{"pool": name}
	gauge := func(n, help string, f func(*pgxpool.Stat) float64) poolMetric {
		return poolMetric{
			desc:      prometheus.NewDesc(prometheus.BuildFQName(Namespace, "db_pool", n), help, nil, labels),
			valueType: prometheus.GaugeValue,
			value:     f,
		}
	}
	counter := func(n, help string, f func(*pgxpool.Stat) float64) poolMetric {
		pm := gauge(n, help, f)
		pm.valueType = prometheus.CounterValue
		return pm
	}
	return &poolCollector{
		statFn: statFn,
		metrics: []poolMetric{
			gauge("acquired_conns", "Connections currently checked out of the pool.",
				func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }),
			gauge("idle_conns", "Idle connections in the pool.",
				func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }),
			gauge("constructing_conns", "Connections being established.",
				func(s *pgxpool.Stat) float64 { return float64(s.ConstructingConns()) }),
			gauge("total_conns", "Connections in the pool: acquired, idle and being established.",
				func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }),
			gauge("max_conns", "Maximum size of the pool.",
				func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }),
			counter("acquire_count_total", "Successful acquires from the pool.",
				func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }),
			counter("acquire_duration_seconds_total", "Total time spent in successful acquires.",
				func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }),
			counter("empty_acquire_count_total", "Successful acquires that had to wait because the pool was empty.",
				func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }),
			counter("empty_acquire_wait_seconds_total", "Total time acquires waited for a connection because the pool was empty.",
				func(s *pgxpool.Stat) float64 { return s.EmptyAcquireWaitTime().Seconds() }),
			counter("canceled_acquire_count_total", "Acquires canceled by their context.",
				func(s *pgxpool.Stat) float64 { return float64(s.CanceledAcquireCount()) }),
			counter("new_conns_count_total", "Connections opened by the pool.",
				func(s *pgxpool.Stat) float64 { return float64(s.NewConnsCount()) }),
			counter("max_lifetime_destroy_count_total", "Connections closed because they reached max_conn_lifetime.",
				func(s *pgxpool.Stat) float64 { return float64(s.MaxLifetimeDestroyCount()) }),
			counter("max_idle_destroy_count_total", "Connections closed because they reached max_conn_idle_time.",
				func(s *pgxpool.Stat) float64 { return float64(s.MaxIdleDestroyCount()) }),
		},
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.statFn()
	if s == nil {
		return
	}
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.valueType, m.value(s))
	}
}
