package obs_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/obs"
)

func scrape(t *testing.T, m *obs.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestMetricsHandlerExposesRuntimeProcessAndHTTP(t *testing.T) {
	m := obs.NewMetrics()
	m.ObserveHTTP("GET", "/api/v1/tables/{table}", 200, 3*time.Millisecond, 120)
	m.ObserveHTTP("PROPFIND", "unmatched", 405, time.Millisecond, 0)
	out := scrape(t, m)
	for _, want := range []string{
		"go_goroutines ",
		"go_memstats_heap_alloc_bytes ",
		"process_resident_memory_bytes ",
		"fluxbase_http_requests_in_flight 0",
		`fluxbase_http_requests_total{method="GET",route="/api/v1/tables/{table}",status="200"} 1`,
		`fluxbase_http_requests_total{method="OTHER",route="unmatched",status="405"} 1`,
		`fluxbase_http_request_duration_seconds_bucket{method="GET",route="/api/v1/tables/{table}",le="0.005"} 1`,
		`fluxbase_http_request_duration_seconds_bucket{method="GET",route="/api/v1/tables/{table}",le="0.0025"} 0`,
		`fluxbase_http_response_size_bytes_sum{method="GET",route="/api/v1/tables/{table}"} 120`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(out, "PROPFIND") {
		t.Errorf("unknown method became a label")
	}
}

// Each Metrics has its own registry: two servers in one process (tests) do
// not see each other's numbers or collide on registration.
func TestMetricsRegistriesAreIndependent(t *testing.T) {
	a, b := obs.NewMetrics(), obs.NewMetrics()
	a.ObserveHTTP("GET", "/x", 200, time.Millisecond, 1)
	if strings.Contains(scrape(t, b), `route="/x"`) {
		t.Fatal("metrics leaked between registries")
	}
}

// stalledServer accepts TCP connections and never answers, so connection
// attempts hang until their context gives up.
func stalledServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestRegisterPoolExportsLiveStatistics(t *testing.T) {
	addr := stalledServer(t)
	cfg, err := pgxpool.ParseConfig("postgres://nobody@" + addr + "/nothing?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 7
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	m := obs.NewMetrics()
	if err := m.RegisterPool("api", pool.Stat); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterPool("admin", pool.Stat); err != nil {
		t.Fatalf("a second pool must coexist: %v", err)
	}
	if err := m.RegisterPool("api", pool.Stat); err == nil {
		t.Fatal("registering a pool name twice must fail")
	}

	out := scrape(t, m)
	for _, want := range []string{
		`fluxbase_db_pool_max_conns{pool="api"} 7`,
		`fluxbase_db_pool_max_conns{pool="admin"} 7`,
		`fluxbase_db_pool_acquired_conns{pool="api"} 0`,
		`fluxbase_db_pool_canceled_acquire_count_total{pool="api"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}

	// The figures are read at scrape time: an acquire that times out on a
	// server that never answers shows up on the next scrape.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if c, err := pool.Acquire(ctx); err == nil {
		c.Release()
		t.Fatal("acquire from a stalled server succeeded")
	}
	out = scrape(t, m)
	if !strings.Contains(out, `fluxbase_db_pool_canceled_acquire_count_total{pool="api"} 1`) {
		t.Errorf("canceled acquire not counted:\n%s", grep(out, "fluxbase_db_pool"))
	}
	for _, name := range []string{
		"idle_conns", "total_conns", "constructing_conns", "acquire_count_total", "acquire_duration_seconds_total",
		"empty_acquire_count_total", "empty_acquire_wait_seconds_total", "new_conns_count_total",
		"max_lifetime_destroy_count_total", "max_idle_destroy_count_total",
	} {
		if !strings.Contains(out, "fluxbase_db_pool_"+name+`{pool="api"}`) {
			t.Errorf("scrape lacks fluxbase_db_pool_%s", name)
		}
	}
}

func TestRegisterPoolRejectsBadArguments(t *testing.T) {
	m := obs.NewMetrics()
	if err := m.RegisterPool("", func() *pgxpool.Stat { return nil }); err == nil {
		t.Error("empty name accepted")
	}
	if err := m.RegisterPool("x", nil); err == nil {
		t.Error("nil stat function accepted")
	}
	// A pool that is gone (nil stats) is skipped, not a scrape failure.
	if err := m.RegisterPool("gone", func() *pgxpool.Stat { return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(scrape(t, m), `pool="gone"`) {
		t.Error("nil stats produced series")
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
