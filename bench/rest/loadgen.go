package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

// The load generator runs in a child process (this program started again
// with -loadgen), so that its goroutines, allocations and garbage
// collection do not share a Go runtime with the server being measured. Both
// still share the machine's cores with PostgreSQL, equally for both sides.

// spec is what the parent asks the load generator to do.
type spec struct {
	Case     string            `json:"case"`
	BaseURL  string            `json:"base_url"`
	Headers  map[string]string `json:"headers"`
	Clients  int               `json:"clients"`
	Warmup   time.Duration     `json:"warmup"`
	Duration time.Duration     `json:"duration"`
	Seed     uint64            `json:"seed"`
}

// result is what it reports: every latency in microseconds, so the parent
// can merge rounds exactly.
type result struct {
	Requests  int      `json:"requests"`
	Errors    int      `json:"errors"`
	Seconds   float64  `json:"seconds"`
	Latencies []int64  `json:"latencies_us"`
	Samples   []string `json:"error_samples,omitempty"`
	// CPUNanos is the load generator's own CPU time in the measured window.
	CPUNanos int64 `json:"cpu_ns"`
}

// request returns the method, URL and body of one request of a case.
func request(c, base string, rng *rand.Rand, bulk []byte) (string, string, []byte) {
	switch c {
	case "a":
		return http.MethodGet, base + "/rest/v1/bench_items?id=eq." + strconv.Itoa(1+rng.IntN(nItems)), nil
	case "b":
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(nItems*37)) * time.Second)
		return http.MethodGet, base + "/rest/v1/bench_items?status=eq." + statuses[rng.IntN(len(statuses))] +
			"&created_at=lt." + at.Format("2006-01-02T15:04:05Z") + "&order=created_at.desc&limit=100", nil
	case "c":
		return http.MethodGet, base + "/rest/v1/bench_items?select=id,title,price,customer:bench_customers(id,name),notes:bench_notes(id,body)" +
			"&id=gte." + strconv.Itoa(1+rng.IntN(nItems-20)) + "&order=id.asc&limit=20", nil
	case "d":
		return http.MethodPost, base + "/rest/v1/bench_events", bulk
	}
	panic("unknown case " + c)
}

// bulkBody is the body of case (d): 1000 rows.
func bulkBody() []byte {
	rows := make([]map[string]any, 1000)
	for i := range rows {
		rows[i] = map[string]any{"customer_id": 1 + (i*37)%nCustomers, "kind": "purchase", "amount": float64(i%5000) / 100}
	}
	b, _ := json.Marshal(rows)
	return b
}

func expectedStatus(c string) int {
	if c == "d" {
		return http.StatusCreated
	}
	return http.StatusOK
}

// runLoadgen reads a spec from the command line, runs it and prints the
// result as JSON on stdout.
func runLoadgen(raw string) error {
	var s spec
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: s.Clients * 2, MaxIdleConnsPerHost: s.Clients * 2, MaxConnsPerHost: s.Clients,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}, Timeout: time.Minute}
	bulk := bulkBody()

	var mu sync.Mutex
	var res result
	var wg sync.WaitGroup
	start := time.Now()
	measureFrom := start.Add(s.Warmup)
	end := measureFrom.Add(s.Duration)
	// The parent reads the servers' and PostgreSQL's CPU time at these marks.
	wg.Go(func() {
		time.Sleep(time.Until(measureFrom))
		fmt.Fprintln(os.Stderr, markStart)
		c0 := selfCPU()
		time.Sleep(time.Until(end))
		res.CPUNanos = int64(time.Duration(selfCPU() - c0))
		fmt.Fprintln(os.Stderr, markEnd)
	})
	for w := range s.Clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(s.Seed, uint64(w)))
			var lat []int64
			var n, errs int
			var samples []string
			for {
				method, url, body := request(s.Case, s.BaseURL, rng, bulk)
				req, _ := http.NewRequest(method, url, bytes.NewReader(body))
				for k, v := range s.Headers {
					req.Header.Set(k, v)
				}
				if body != nil {
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Prefer", "return=minimal")
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				ok := err == nil
				var sample string
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != expectedStatus(s.Case) {
						ok = false
						sample = fmt.Sprintf("%d %s", resp.StatusCode, truncate(string(b), 200))
					}
				} else {
					sample = err.Error()
				}
				t1 := time.Now()
				if t1.After(end) {
					break
				}
				if t0.Before(measureFrom) {
					continue
				}
				n++
				lat = append(lat, t1.Sub(t0).Microseconds())
				if !ok {
					errs++
					if len(samples) < 3 {
						samples = append(samples, sample)
					}
				}
			}
			mu.Lock()
			res.Requests += n
			res.Errors += errs
			res.Latencies = append(res.Latencies, lat...)
			if len(res.Samples) < 3 {
				res.Samples = append(res.Samples, samples...)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Seconds = s.Duration.Seconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// percentile returns the p-th percentile (0-100) of sorted values.
func percentile(sorted []int64, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return time.Duration(sorted[i]) * time.Microsecond
}

func sortInt64(v []int64) { sort.Slice(v, func(i, j int) bool { return v[i] < v[j] }) }

// fixedRand is the generator of the one request compared between sides.
func fixedRand() *rand.Rand { return rand.New(rand.NewPCG(42, 42)) }
