//go:build linux

// Command realtime is Fluxbase's realtime load benchmark. It starts the
// fluxbase binary as its own process (with its embedded PostgreSQL) and
// acts as the load generator from this separate process:
//
//   - fan-out: N WebSocket connections subscribed to one table, one insert
//     per second; delivery latency from commit to client receive, and the
//     server's memory per connection;
//   - RLS: the same with row level security on and connections belonging
//     to distinct users; latency and database round trips per change;
//   - broadcast: clients on several channels sending as fast as they are
//     delivered; messages delivered per second.
//
// The baseline, measured in the same run, is PostgreSQL's own notification
// path: a NOTIFY sent in the inserting transaction, received by one LISTEN
// connection. Run it with `make bench-realtime`.
//
// The generator shares the machine's cores with the server, so it is kept
// cheap without changing what is measured: one poller per core waits on
// epoll for its connections' sockets, reads each ready one once and takes
// the receive time as the read returns, finding the fields it needs
// without decoding the frame (wsclient.go); every change must arrive at
// every client exactly once, in order. One goroutine sends every
// connection a heartbeat every 25 seconds, as supabase-js does (the server
// closes connections silent for 30 seconds, shorter than a phase). It runs
// on Linux.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/bench/internal/benchproc"
)

func main() {
	binary := flag.String("binary", "bin/fluxbase", "the fluxbase binary to measure")
	conns := flag.Int("conns", 10000, "connections for the fan-out case")
	rlsConns := flag.Int("rls-conns", 1000, "connections for the RLS case")
	users := flag.Int("users", 100, "distinct users in the RLS case")
	inserts := flag.Int("inserts", 20, "inserts (one per second) per latency case")
	bcClients := flag.Int("broadcast-clients", 1000, "clients in the broadcast case")
	channels := flag.Int("channels", 10, "channels in the broadcast case")
	bcDuration := flag.Duration("broadcast-duration", 10*time.Second, "how long the broadcast case runs")
	pause := flag.Duration("poll-pause", 250*time.Microsecond, "how long a poller waits after a short batch before asking epoll again (0: never; see docs/benchmarks.md)")
	flag.Parse()
	if err := run(*binary, *conns, *rlsConns, *users, *inserts, *bcClients, *channels, *bcDuration, *pause); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type server struct {
	*benchproc.Fluxbase
	secret  string
	db      *pgx.Conn
	beats   *heartbeats
	pollers *pollers
}

func run(binary string, conns, rlsConns, users, inserts, bcClients, channels int, bcDuration, pause time.Duration) error {
	ctx := context.Background()
	s, err := startServer(ctx, binary, pause)
	if err != nil {
		return err
	}
	defer s.stop()
	stopBeats := make(chan struct{})
	defer close(stopBeats)
	go s.beats.run(stopBeats)
	fmt.Printf("Fluxbase %s, pid %d; this generator reads with %d pollers, pausing %s after a short batch\n\n", s.URL, s.Cmd.Process.Pid, len(s.pollers.all), pause)

	if _, err := s.db.Exec(ctx, `
		create table public.ticks (id bigserial primary key, room int not null, note text);
		grant select on public.ticks to anon, authenticated;
		create table public.secret_ticks (id bigserial primary key, room int not null, note text);
		alter table public.secret_ticks enable row level security;
		create policy members on public.secret_ticks for select to authenticated using (room = 1 and auth.uid() is not null);
		grant select on public.secret_ticks to authenticated;
		select realtime.enable_realtime('public.ticks');
		select realtime.enable_realtime('public.secret_ticks');`); err != nil {
		return err
	}

	base, err := baseline(ctx, s, inserts)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	fmt.Printf("baseline  NOTIFY in the inserting transaction → one LISTEN connection: %s\n\n", base)

	// Fan-out.
	rss0 := rssKB(s.Cmd.Process.Pid)
	clients, err := connectAll(ctx, s, conns, func(i int) (string, map[string]any) {
		return s.AnonKey, map[string]any{"postgres_changes": []map[string]any{{"event": "INSERT", "schema": "public", "table": "ticks"}}}
	})
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // let the server settle before reading its memory
	rss1 := rssKB(s.Cmd.Process.Pid)
	cpu0 := s.cpu()
	lat, arrival, missing, wrong := measureChanges(ctx, s, clients, "ticks", inserts)
	cpu := s.cpu().sub(cpu0)
	fmt.Printf("fan-out   %d connections, %d inserts at 1/s: commit→client %s; missing deliveries %d, wrong %d\n", conns, inserts, lat, missing, wrong)
	fmt.Printf("          commit→arrival on the client's socket %s\n", arrival)
	fmt.Printf("          CPU per change: %s\n", cpu.per(inserts))
	fmt.Printf("          server RSS %d MB → %d MB: %.1f KB per connection\n", rss0/1024, rss1/1024, float64(rss1-rss0)/float64(conns))
	fmt.Printf("          p99 ratio to baseline: %.1f×\n\n", lat.p(99)/max(base.p(99), 0.001))
	closeAll(clients)
	time.Sleep(2 * time.Second)

	// RLS: connections of distinct users.
	trips0, changes0 := realtimeCounters(s)
	// One token per user, shared by that user's connections (as tabs of
	// one signed-in browser share a session).
	tokens := make([]string, users)
	for u := range tokens {
		tokens[u] = s.token(fmt.Sprintf("00000000-0000-0000-0000-%012d", u))
	}
	clients, err = connectAll(ctx, s, rlsConns, func(i int) (string, map[string]any) {
		return tokens[i%users],
			map[string]any{"postgres_changes": []map[string]any{{"event": "INSERT", "schema": "public", "table": "secret_ticks"}}}
	})
	if err != nil {
		return err
	}
	cpu0 = s.cpu()
	lat, arrival, missing, wrong = measureChanges(ctx, s, clients, "secret_ticks", inserts)
	cpu = s.cpu().sub(cpu0)
	trips1, changes1 := realtimeCounters(s)
	fmt.Printf("rls       %d connections of %d users, %d inserts at 1/s: commit→client %s; missing deliveries %d, wrong %d\n", rlsConns, users, inserts, lat, missing, wrong)
	fmt.Printf("          commit→arrival on the client's socket %s\n", arrival)
	fmt.Printf("          CPU per change: %s\n", cpu.per(inserts))
	fmt.Printf("          database round trips per change: %.2f (%d changes)\n", (trips1-trips0)/max(changes1-changes0, 1), int(changes1-changes0))
	fmt.Printf("          p99 ratio to baseline: %.1f×\n\n", lat.p(99)/max(base.p(99), 0.001))
	closeAll(clients)
	time.Sleep(2 * time.Second)

	// Broadcast.
	rate, sent := measureBroadcast(ctx, s, bcClients, channels, bcDuration)
	fmt.Printf("broadcast %d clients on %d channels for %s: %d sent, %.0f messages delivered per second\n", bcClients, channels, bcDuration, sent, rate)
	return nil
}

func startServer(ctx context.Context, binary string, pause time.Duration) (*server, error) {
	tmp, err := os.MkdirTemp("", "fluxbase-bench-")
	if err != nil {
		return nil, err
	}
	// The embedded PostgreSQL runs as the postgres user when this runs as
	// root: it must reach the data directory.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	secret := randomHex(32)
	p, err := benchproc.Start(ctx, binary, filepath.Join(tmp, "data"), []string{
		"FLUXBASE_AUTH_JWT_ALGORITHM=HS256", "FLUXBASE_AUTH_JWT_SECRET=" + secret,
		"FLUXBASE_REALTIME_MAX_CONNECTIONS=0", "FLUXBASE_REALTIME_MAX_CONNECTIONS_PER_USER=0"})
	if err != nil {
		return nil, err
	}
	s := &server{Fluxbase: p, secret: secret, beats: &heartbeats{}}
	if s.pollers, err = newPollers(handleFrame, pause); err != nil {
		s.stop()
		return nil, err
	}
	if s.db, err = pgx.Connect(ctx, embeddedURL(p.DataDir)); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) stop() {
	if s.db != nil {
		_ = s.db.Close(context.Background())
	}
	s.Stop()
	if s.pollers != nil {
		s.pollers.stop()
	}
	_ = os.RemoveAll(filepath.Dir(s.DataDir))
}

func (s *server) token(sub string) string {
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "role": "authenticated", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(s.secret))
	return tok
}

// embeddedURL is the superuser URL of the embedded server: the password
// Fluxbase generated and the port in postmaster.pid.
func embeddedURL(dataDir string) string {
	pw, _ := os.ReadFile(filepath.Join(dataDir, "pg.password"))
	pid, _ := os.ReadFile(filepath.Join(dataDir, "pg", "postmaster.pid"))
	lines := strings.Split(string(pid), "\n")
	port := ""
	if len(lines) > 3 {
		port = strings.TrimSpace(lines[3])
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", strings.TrimSpace(string(pw))),
		Host: "127.0.0.1:" + port, Path: "/fluxbase"}
	return u.String()
}

// client is one benchmark WebSocket connection. Its one goroutine reads
// frames and records what the measurements need as they arrive: the
// generator shares the machine's two cores with the server, so it spends
// no goroutine, channel or copy per frame beyond that.
type client struct {
	ws *wsConn

	mu   sync.Mutex
	lat  latencies // commit→receive (read) of each postgres_changes event
	rows []int64   // the id of each event's record, in arrival order
	// arrival is commit→arrival on the socket (the kernel's receive
	// time) of each event.
	arrival latencies

	broadcasts atomic.Int64

	// lastBeat is when the client last sent a heartbeat (heartbeats's
	// goroutine owns it once the client is added).
	lastBeat time.Time
	closed   atomic.Bool
}

// reserve makes room for n more events, so that recording them allocates
// nothing.
func (c *client) reserve(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lat = slices.Grow(c.lat, n)
	c.arrival = slices.Grow(c.arrival, n)
	c.rows = slices.Grow(c.rows, n)
}

// take returns the latencies (read, arrival) and record ids recorded so
// far and starts afresh.
func (c *client) take() (latencies, latencies, []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, a, rows := c.lat, c.arrival, c.rows
	c.lat, c.arrival, c.rows = nil, nil, nil
	return l, a, rows
}

func connectAll(ctx context.Context, s *server, n int, join func(i int) (token string, config map[string]any)) ([]*client, error) {
	clients := make([]*client, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 64) // connections opened at once
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			token, cfg := join(i)
			c, err := dial(ctx, s, "realtime:bench", token, cfg)
			if err != nil {
				errs <- err
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		closeAll(clients)
		return nil, err
	}
	fmt.Printf("          %d connections joined in %s\n", n, time.Since(start).Round(time.Millisecond))
	return clients, nil
}

func dial(ctx context.Context, s *server, topic, token string, cfg map[string]any) (*client, error) {
	ws, err := wsDial(strings.Replace(s.URL, "http://", "ws://", 1)+"/realtime/v1/websocket?vsn=1.0.0&apikey="+s.AnonKey, 60*time.Second)
	if err != nil {
		return nil, err
	}
	payload := map[string]any{"config": cfg}
	if token != s.AnonKey {
		payload["access_token"] = token
	}
	b, _ := json.Marshal(map[string]any{"topic": topic, "event": "phx_join", "ref": "1", "join_ref": "1", "payload": payload})
	if err := ws.write(b); err != nil {
		ws.close()
		return nil, err
	}
	for {
		data, err := ws.readFrame()
		if err != nil {
			ws.close()
			return nil, err
		}
		var f struct {
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
		}
		_ = json.Unmarshal(data, &f)
		if f.Event == "phx_reply" {
			if !strings.Contains(string(f.Payload), `"status":"ok"`) {
				ws.close()
				return nil, fmt.Errorf("join refused: %s", f.Payload)
			}
			break
		}
	}
	_ = ws.conn.SetDeadline(time.Time{})
	c := &client{ws: ws, lastBeat: time.Now()}
	ws.client = c
	s.beats.add(c)
	if err := s.pollers.add(ws); err != nil {
		ws.close()
		return nil, err
	}
	return c, nil
}

// handleFrame records what the measurements need of a frame, at the time
// its read returned: for a change, the commit-to-receive latency and the
// inserted row's id, which tells that the event is the expected one; for
// a broadcast, a count. It looks for those fields rather than decoding
// the frame.
func handleFrame(ws *wsConn, frame []byte, at, arrived time.Time, cache *tsCache) {
	c := ws.client
	if c == nil {
		return
	}
	switch {
	case bytes.Contains(frame, []byte(`"event":"postgres_changes"`)):
		commit, rest, ok := commitTimestamp(frame, cache)
		id, idOK := recordID(rest)
		if ok && idOK {
			c.mu.Lock()
			c.lat = append(c.lat, float64(at.Sub(commit).Microseconds())/1000)
			c.arrival = append(c.arrival, float64(arrived.Sub(commit).Microseconds())/1000)
			c.rows = append(c.rows, id)
			c.mu.Unlock()
		}
	case bytes.Contains(frame, []byte(`"event":"broadcast"`)):
		c.broadcasts.Add(1)
	}
}

// heartbeats sends every open client a Phoenix heartbeat every 25
// seconds, as supabase-js does: the server closes a connection that stays
// silent for its heartbeat timeout (30 seconds by default), and a phase
// with 10,000 connections lasts longer than that. One goroutine serves
// every client, until stop is closed.
type heartbeats struct {
	mu      sync.Mutex
	clients []*client
}

func (h *heartbeats) add(c *client) {
	h.mu.Lock()
	h.clients = append(h.clients, c)
	h.mu.Unlock()
}

func (h *heartbeats) run(stop <-chan struct{}) {
	const every = 25 * time.Second
	hb := []byte(`{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"hb"}`)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		h.mu.Lock()
		open := h.clients[:0]
		for _, c := range h.clients {
			if !c.closed.Load() {
				open = append(open, c)
			}
		}
		clear(h.clients[len(open):])
		h.clients = open
		due := slices.Clone(open)
		h.mu.Unlock()
		for _, c := range due {
			if time.Since(c.lastBeat) < every {
				continue
			}
			c.lastBeat = time.Now()
			_ = c.ws.write(hb)
		}
	}
}

func closeAll(clients []*client) {
	for _, c := range clients {
		if c != nil {
			c.closed.Store(true)
			c.ws.close()
		}
	}
}

// latencies in milliseconds.
type latencies []float64

func (l latencies) p(q float64) float64 {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s)-1) * q / 100)
	return s[i]
}

func (l latencies) String() string {
	return fmt.Sprintf("p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (%d samples)", l.p(50), l.p(95), l.p(99), len(l))
}

// measureChanges inserts one row per second and collects, from every
// client, the time from the row's commit to its arrival. A client must
// receive each inserted row exactly once, in commit order: an event for a
// row that was not inserted, a duplicate or one out of order counts as
// wrong, a row not received as missing.
func measureChanges(ctx context.Context, s *server, clients []*client, table string, inserts int) (lat, arrival latencies, missing, wrong int) {
	for _, c := range clients {
		c.take()
		c.reserve(inserts)
	}
	rows := make([]int64, 0, inserts)
	for range inserts {
		var id int64
		if err := s.db.QueryRow(ctx, `insert into public.`+table+` (room, note) values (1, 'tick') returning id`).Scan(&id); err == nil {
			rows = append(rows, id)
		}
		time.Sleep(time.Second)
	}
	time.Sleep(2 * time.Second)
	short := 0
	perRow := map[int64]latencies{}
	for _, c := range clients {
		l, a, got := c.take()
		for i, id := range got {
			if i < len(l) {
				perRow[id] = append(perRow[id], l[i])
			}
		}
		if !slices.Equal(got, rows) {
			short++
			next, bad := 0, 0
			for _, id := range got {
				if i := slices.Index(rows[next:], id); i >= 0 {
					next += i + 1
				} else {
					bad++
				}
			}
			wrong += bad
			missing += len(rows) - (len(got) - bad)
		}
		lat = append(lat, l...)
		arrival = append(arrival, a...)
	}
	if short > 0 {
		fmt.Printf("          %d of %d clients did not receive exactly the %d inserted rows in order (%d unexpected events)\n", short, len(clients), len(rows), wrong)
	}
	if len(rows) < inserts {
		fmt.Printf("          only %d of %d inserts succeeded\n", len(rows), inserts)
	}
	// Whether the tail comes from every change or from a few.
	// The first delivery shows what comes before the fan-out (stream,
	// visibility check, encoding); the rest is the fan-out itself.
	var each []string
	var firsts latencies
	for _, id := range rows {
		each = append(each, fmt.Sprintf("%.0f/%.0f", perRow[id].p(50), perRow[id].p(99)))
		firsts = append(firsts, perRow[id].p(0))
	}
	fmt.Printf("          each change's p50/p99 (ms): %s\n", strings.Join(each, " "))
	fmt.Printf("          commit → first delivery of each change: p50 %.1f ms, max %.1f ms\n", firsts.p(50), firsts.p(100))
	return lat, arrival, missing, wrong
}

// baseline measures PostgreSQL's own path: NOTIFY in the inserting
// transaction, received by a LISTEN connection, commit to receive.
func baseline(ctx context.Context, s *server, inserts int) (latencies, error) {
	listener, err := pgx.Connect(ctx, embeddedURL(s.DataDir))
	if err != nil {
		return nil, err
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, `listen bench_baseline`); err != nil {
		return nil, err
	}
	var lat latencies
	for range inserts {
		tx, err := s.db.Begin(ctx)
		if err != nil {
			return nil, err
		}
		_, _ = tx.Exec(ctx, `insert into public.ticks (room, note) values (0, 'baseline')`)
		// The payload is the time just before the commit, the same point
		// a change's commit timestamp marks.
		_, _ = tx.Exec(ctx, `select pg_notify('bench_baseline', (extract(epoch from clock_timestamp()) * 1000000)::bigint::text)`)
		if err := tx.Commit(ctx); err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := listener.WaitForNotification(wctx)
		cancel()
		if err != nil {
			return nil, err
		}
		at := time.Now()
		us, _ := strconv.ParseInt(n.Payload, 10, 64)
		lat = append(lat, float64(at.Sub(time.UnixMicro(us)).Microseconds())/1000)
		time.Sleep(100 * time.Millisecond)
	}
	return lat, nil
}

// measureBroadcast has every client join one of the channels, then one
// sender per channel sends in a loop; it counts deliveries.
func measureBroadcast(ctx context.Context, s *server, n, channels int, d time.Duration) (float64, int64) {
	clients := make([]*client, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := dial(ctx, s, fmt.Sprintf("realtime:room-%d", i%channels), s.AnonKey, map[string]any{})
			if err == nil {
				clients[i] = c
			}
		})
	}
	wg.Wait()
	defer closeAll(clients)
	var sent atomic.Int64
	start := time.Now()
	var senders sync.WaitGroup
	for ch := range channels {
		sender := clients[ch]
		if sender == nil {
			continue
		}
		senders.Go(func() {
			msg, _ := json.Marshal(map[string]any{"topic": fmt.Sprintf("realtime:room-%d", ch), "event": "broadcast", "ref": nil,
				"payload": map[string]any{"type": "broadcast", "event": "m", "payload": map[string]int{"n": 1}}})
			// Paced below the per-connection message limit.
			tick := time.NewTicker(12 * time.Millisecond)
			defer tick.Stop()
			for time.Since(start) < d {
				<-tick.C
				if sender.ws.write(msg) != nil {
					return
				}
				sent.Add(1)
			}
		})
	}
	senders.Wait()
	time.Sleep(time.Second)
	var delivered int64
	for _, c := range clients {
		if c != nil {
			delivered += c.broadcasts.Load()
		}
	}
	return float64(delivered) / time.Since(start).Seconds(), sent.Load()
}

// realtimeCounters reads the round-trip and change counters from /metrics.
func realtimeCounters(s *server) (trips, changes float64) {
	res, err := http.Get(s.URL + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "fluxbase_realtime_visibility_round_trips_total "); ok {
			trips, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, "fluxbase_realtime_changes_total "); ok {
			changes, _ = strconv.ParseFloat(v, 64)
		}
	}
	return trips, changes
}

// recordID finds the id of a change's record (the record's keys are in
// order, id first).
func recordID(frame []byte) (int64, bool) {
	_, rest, ok := bytes.Cut(frame, []byte(`"record":{"id":`))
	if !ok {
		return 0, false
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	id, err := strconv.ParseInt(string(rest[:n]), 10, 64)
	return id, err == nil
}

// commitTimestamp finds a change's commit_timestamp, and returns what
// follows it (where the record is).
func commitTimestamp(frame []byte, cache *tsCache) (time.Time, []byte, bool) {
	_, rest, ok := bytes.Cut(frame, []byte(`"commit_timestamp":"`))
	if !ok {
		return time.Time{}, nil, false
	}
	ts, rest, _ := bytes.Cut(rest, []byte(`"`))
	t, ok := cache.parse(ts)
	return t, rest, ok
}

// cpuTime is the processor time (user + system) spent by the server, by
// its PostgreSQL processes and by this generator. Wall-clock latency on a
// shared machine is noisy; time spent per change is not.
type cpuTime struct{ server, postgres, generator time.Duration }

func (s *server) cpu() cpuTime {
	pid := s.Cmd.Process.Pid
	// The embedded PostgreSQL's processes descend from the server.
	return cpuTime{server: benchproc.CPUTime(pid), postgres: benchproc.DescendantsCPU(pid),
		generator: benchproc.CPUTime(os.Getpid())}
}

func (t cpuTime) sub(o cpuTime) cpuTime {
	return cpuTime{t.server - o.server, t.postgres - o.postgres, t.generator - o.generator}
}

func (t cpuTime) per(n int) string {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(max(n, 1)) }
	return fmt.Sprintf("server %.1f ms, postgres %.1f ms, generator %.1f ms", ms(t.server), ms(t.postgres), ms(t.generator))
}

// rssKB is a process's resident memory.
func rssKB(pid int) int64 {
	kb, _ := benchproc.ProcStatusKB(pid, "VmRSS")
	return kb
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
