package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/app"
	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/obs"
	"github.com/fluxbase/fluxbase/internal/pg"
)

type options struct {
	pool     int
	clients  int
	duration time.Duration
	warmup   time.Duration
	rounds   int
	cases    string
	skipREST bool
	tables   int
	noAuth   bool
	profile  string
	logSQL   bool
	floor    bool
	ceiling  bool
}

func main() {
	loadgen := flag.String("loadgen", "", "internal: run as the load generator with this JSON spec")
	var o options
	flag.IntVar(&o.pool, "pool", 20, "database pool size N, for Fluxbase's request pool and for the baseline's")
	flag.IntVar(&o.clients, "clients", 50, "concurrent HTTP clients")
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "measured time per case, server and round")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each measurement")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds per case; the order of the servers alternates between rounds")
	flag.StringVar(&o.cases, "cases", "abcd", "which REST cases to run")
	flag.BoolVar(&o.skipREST, "skip-rest", false, "only measure the schema cache")
	flag.IntVar(&o.tables, "tables", 1000, "tables in the schema-cache measurement")
	flag.BoolVar(&o.noAuth, "no-auth", false, "send no API key (Fluxbase then runs requests as anon without verifying a token)")
	flag.BoolVar(&o.floor, "floor", true, "also measure the floor: the baseline's statements pipelined after set_config of role and claims (the ceiling of any ratio for a server that runs requests under the caller's role)")
	flag.BoolVar(&o.ceiling, "ceiling", true, "also measure the ceiling: the floor with the request settings and the statement shape of a PostgREST-compatible server (the highest ratio such a server can reach)")
	flag.BoolVar(&o.logSQL, "log-statements", false, "log every SQL statement PostgreSQL runs and keep its log file (to see what each side sends)")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of this process (Fluxbase and the baseline) during the REST cases to this file")
	flag.Parse()
	if *loadgen != "" {
		if err := runLoadgen(*loadgen); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-rest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	quiet := slog.New(slog.DiscardHandler)
	dir, err := os.MkdirTemp("", "fluxbase-bench-rest-")
	if err != nil {
		return err
	}
	if !o.logSQL {
		defer func() { _ = os.RemoveAll(dir) }()
	}
	// When run as root, PostgreSQL runs as another OS user, who must be
	// able to traverse the directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}

	fmt.Printf("Fluxbase REST benchmark — %s, %d CPUs (GOMAXPROCS %d)\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Println("starting PostgreSQL...")
	settings := map[string]string{
		// Disposable data: durability would only add disk noise, the same
		// for both sides.
		"fsync": "off", "full_page_writes": "off", "max_connections": "200",
	}
	if o.logSQL {
		settings["log_statement"] = "all"
	}
	emb, err := pg.StartEmbedded(ctx, pg.EmbeddedOptions{DataDir: filepath.Join(dir, "pg"), Settings: settings}, quiet)
	if err != nil {
		return err
	}
	if o.logSQL {
		fmt.Println("PostgreSQL's log (kept):", emb.LogFile())
	}
	defer func() { _ = emb.Stop(context.WithoutCancel(ctx)) }()

	if err := benchSchemaCache(ctx, emb, o.tables); err != nil {
		return fmt.Errorf("schema cache measurement: %w", err)
	}
	if o.skipREST {
		return nil
	}
	return benchREST(ctx, emb, dir, o)
}

// startFluxbase runs Fluxbase in this process on the embedded server's
// database, with an API pool of o.pool connections.
func fluxbaseConfig(dsn, dir string, pool int) (*config.Config, error) {
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(dir, "fluxbase")
	cfg.Database.URL = dsn
	// The request pool gets two thirds of the budget (see pg.sizesFor).
	cfg.Database.MaxConns = int32(pool + (pool+1)/2)
	cfg.Database.MinConns = int32(pool)
	return cfg, cfg.Validate()
}

func startFluxbase(ctx context.Context, cfg *config.Config) (addr string, stop func(), err error) {
	// Logs are formatted as in production (fluxbase serve's JSON logger)
	// but discarded.
	log, err := obs.NewLogger(config.LogConfig{Format: "json"}, io.Discard)
	if err != nil {
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go serveLabelled("fluxbase", func() {
		done <- app.Serve(sctx, app.Options{Config: cfg, Logger: log, Ready: func(a net.Addr) { ready <- a }})
	})
	select {
	case a := <-ready:
		return "http://" + a.String(), func() { cancel(); <-done }, nil
	case err := <-done:
		cancel()
		return "", nil, fmt.Errorf("fluxbase did not start: %w", err)
	case <-time.After(2 * time.Minute):
		cancel()
		return "", nil, errors.New("fluxbase did not start within 2 minutes")
	}
}

// serveLabelled runs serve with the profiler label server=name, which the
// goroutines it starts (connections, and pgx's for their queries) inherit:
// with -cpuprofile, "go tool pprof -tagfocus server=fluxbase" then shows
// one server's CPU time alone.
func serveLabelled(name string, serve func()) {
	pprof.Do(context.Background(), pprof.Labels("server", name), func(context.Context) { serve() })
}

// startBaseline serves the baseline handler on a loopback port.
func startBaseline(pool *pgxpool.Pool, ref reference) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: &baseline{pool: pool, ref: ref}, ReadHeaderTimeout: 10 * time.Second}
	go serveLabelled(ref.String(), func() { _ = srv.Serve(ln) })
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

type caseInfo struct{ id, title string }

var allCases = []caseInfo{
	{"a", "(a) GET one row by primary key"},
	{"b", "(b) GET 100 rows, filter + order"},
	{"c", "(c) GET 20 rows + to-one and to-many embeds"},
	{"d", "(d) POST 1000 rows in bulk"},
}

type side struct {
	name    string
	url     string
	headers map[string]string
}

func benchREST(ctx context.Context, emb *pg.Embedded, dir string, o options) error {
	dsn := emb.DSN()
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer admin.Close()

	fmt.Println("starting Fluxbase (applies its migrations)...")
	cfg, err := fluxbaseConfig(dsn, dir, o.pool)
	if err != nil {
		return err
	}
	fbURL, stopFB, err := startFluxbase(ctx, cfg)
	if err != nil {
		return err
	}
	defer stopFB()

	fmt.Println("loading the data set: 10k customers, 100k items, 200k notes...")
	t0 := time.Now()
	if _, err := admin.Exec(ctx, setupSQL); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, vacuumSQL); err != nil {
		return err
	}
	fmt.Printf("  loaded in %s\n", time.Since(t0).Round(time.Millisecond))
	if err := waitForTable(ctx, fbURL); err != nil {
		return err
	}

	bcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return err
	}
	bcfg.MaxConns, bcfg.MinConns = int32(o.pool), int32(o.pool)
	bpool, err := pgxpool.NewWithConfig(ctx, bcfg)
	if err != nil {
		return err
	}
	defer bpool.Close()
	blURL, stopBL, err := startBaseline(bpool, plain)
	if err != nil {
		return err
	}
	defer stopBL()
	refURLs := map[reference]string{}
	if o.floor || o.ceiling {
		fpool, err := floorPool(ctx, admin, bcfg)
		if err != nil {
			return err
		}
		defer fpool.Close()
		if err := checkFloor(ctx, fpool); err != nil {
			return err
		}
		for _, ref := range []reference{floor, ceiling} {
			if (ref == floor && !o.floor) || (ref == ceiling && !o.ceiling) {
				continue
			}
			u, stop, err := startBaseline(fpool, ref)
			if err != nil {
				return err
			}
			defer stop()
			refURLs[ref] = u
		}
	}

	anon, _, err := app.Keys(ctx, app.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	// Both sides receive what supabase-js sends; the baseline ignores it,
	// Fluxbase verifies the token and runs the request as its role.
	headers := map[string]string{"apikey": anon, "Authorization": "Bearer " + anon}
	if o.noAuth {
		headers = nil
	}
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	sides := []side{{"baseline", blURL, headers}}
	if o.floor {
		sides = append(sides, side{"floor", refURLs[floor], headers})
	}
	if o.ceiling {
		sides = append(sides, side{"ceiling", refURLs[ceiling], headers})
	}
	sides = append(sides, side{"fluxbase", fbURL, headers})

	fmt.Printf("\nREST: %d clients, pool size %d on both sides, %s measured per case, server and round (after %s warm-up), %d rounds\n",
		o.clients, o.pool, o.duration, o.warmup, o.rounds)
	if o.floor {
		fmt.Println("floor: the baseline's statement pipelined after set_config of role and claims (one round trip, one implicit transaction)")
	}
	if o.ceiling {
		fmt.Println("ceiling: the floor, also setting request.method, .path, .headers, .cookies, the statement timeout and read-only, with reads in PostgREST's statement shape")
	}
	fmt.Println("load generator: a separate process (this program with -loadgen), sharing the CPUs with both servers and PostgreSQL")
	fmt.Println()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("%-46s %-9s %9s %10s %10s %7s %8s %s\n", "case", "server", "req/s", "p50", "p99", "errors", "ratio", "same JSON")
	var cpuLines []string
	defer func() {
		if len(cpuLines) == 0 {
			return
		}
		fmt.Println("\nCPU time per request in the measured windows, µs (baseline → fluxbase, floor and ceiling); ratio = baseline's server+PostgreSQL ÷ the other's")
		fmt.Printf("%-46s %15s %15s %15s %7s\n", "case", "server", "PostgreSQL", "load generator", "ratio")
		for _, l := range cpuLines {
			fmt.Println(l)
		}
	}()
	for _, c := range allCases {
		if !strings.Contains(o.cases, c.id) {
			continue
		}
		same := "-"
		if c.id != "d" {
			same = compareJSON(ctx, c.id, sides)
		}
		merged := map[string]*result{}
		cpus := map[string]*cpuReading{}
		for _, s := range sides {
			cpus[s.name] = &cpuReading{}
		}
		cpuMissing := false
		for r := range o.rounds {
			order := slices.Clone(sides)
			if r%2 == 1 {
				slices.Reverse(order)
			}
			for _, s := range order {
				if c.id == "d" {
					if _, err := admin.Exec(ctx, "truncate public.bench_events"); err != nil {
						return err
					}
				}
				res, cpu, cpuOK, err := runChild(ctx, self, spec{Case: c.id, BaseURL: s.url, Headers: s.headers, Clients: o.clients,
					Warmup: o.warmup, Duration: o.duration, Seed: uint64(r + 1)}, emb.PID())
				if err != nil {
					return err
				}
				if !cpuOK {
					cpuMissing = true
				}
				cpus[s.name].add(cpu)
				m := merged[s.name]
				if m == nil {
					m = &result{}
					merged[s.name] = m
				}
				m.Requests += res.Requests
				m.Errors += res.Errors
				m.Seconds += res.Seconds
				m.Latencies = append(m.Latencies, res.Latencies...)
				m.Samples = append(m.Samples, res.Samples...)
			}
		}
		b := merged["baseline"]
		for i, s := range sides {
			r := merged[s.name]
			sortInt64(r.Latencies)
			ratio, title, sm := "", "", ""
			if i == 0 {
				title = c.title
			} else {
				ratio = fmt.Sprintf("%.2f×", rps(r)/rps(b))
			}
			if s.name == "fluxbase" {
				sm = same
			}
			fmt.Printf("%-46s %-9s %9.0f %10s %10s %7d %8s %s\n", title, s.name, rps(r),
				fmtDur(percentile(r.Latencies, 50)), fmtDur(percentile(r.Latencies, 99)), r.Errors, ratio, sm)
		}
		if !cpuMissing {
			cpuLines = append(cpuLines, cpuLine(c.title, b, merged["fluxbase"], cpus["baseline"], cpus["fluxbase"]))
			for _, ref := range []string{"floor", "ceiling"} {
				if merged[ref] != nil {
					cpuLines = append(cpuLines, cpuLine("    "+ref, b, merged[ref], cpus["baseline"], cpus[ref]))
				}
			}
		}
		for _, s := range sides {
			for i, e := range merged[s.name].Samples {
				if i < 2 {
					fmt.Printf("    error sample: %s\n", e)
				}
			}
		}
	}
	return nil
}

// cpuLine renders the CPU time per request of both sides of a case.
func cpuLine(title string, b, f *result, bc, fc *cpuReading) string {
	nb, nf := b.Requests, f.Requests
	pair := func(x, y cpuTime) string { return perRequest(x, nb) + " → " + perRequest(y, nf) }
	ratio := "-"
	if nb > 0 && nf > 0 && fc.server+fc.postgres > 0 {
		ratio = fmt.Sprintf("%.2f×", (float64(bc.server+bc.postgres)/float64(nb))/(float64(fc.server+fc.postgres)/float64(nf)))
	}
	return fmt.Sprintf("%-46s %15s %15s %15s %7s", title, pair(bc.server, fc.server), pair(bc.postgres, fc.postgres), pair(bc.loadgen, fc.loadgen), ratio)
}

// rps is the throughput of successful requests.
func rps(r *result) float64 {
	if r.Seconds == 0 {
		return 0
	}
	return float64(r.Requests-r.Errors) / r.Seconds
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%dµs", d.Microseconds())
}

// runChild runs one measurement in a load generator process; the CPU
// reading covers its measured window (ok is false if the marks were not
// seen).
func runChild(ctx context.Context, self string, s spec, pgPID int) (*result, cpuReading, bool, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, cpuReading{}, false, err
	}
	cmd := exec.CommandContext(ctx, self, "-loadgen", string(raw))
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, cpuReading{}, false, err
	}
	w := &windowWatcher{pgPID: pgPID}
	if err := cmd.Start(); err != nil {
		return nil, cpuReading{}, false, err
	}
	w.read(stderr)
	if err := cmd.Wait(); err != nil {
		return nil, cpuReading{}, false, fmt.Errorf("load generator: %v: %s", err, w.other.String())
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, cpuReading{}, false, fmt.Errorf("load generator output: %w", err)
	}
	cpu, ok := w.window()
	cpu.loadgen = cpuTime(res.CPUNanos)
	return &res, cpu, ok, nil
}

// compareJSON fetches the same request from every side and reports whether
// the JSON documents are equal, so that the comparison is of equal work.
func compareJSON(ctx context.Context, c string, sides []side) string {
	var docs []any
	for _, s := range sides {
		_, url, _ := request(c, s.url, fixedRand(), nil)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		for k, v := range s.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "error: " + err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Sprintf("%s answered %d", s.name, resp.StatusCode)
		}
		var doc any
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			return s.name + ": not JSON"
		}
		docs = append(docs, doc)
	}
	for _, d := range docs[1:] {
		if !reflect.DeepEqual(docs[0], d) {
			return "NO"
		}
	}
	return "yes"
}

// waitForTable waits until Fluxbase's schema cache has the data set's
// tables (it reloads by itself after the DDL).
func waitForTable(ctx context.Context, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/rest/v1/bench_events?limit=1", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("  warning: /rest/v1/bench_events still answers 404; is the REST engine mounted?")
	return nil
}
