package rest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/testutil/apitest"
)

// BenchmarkServe measures one client's request to the whole server (access
// log formatted, anon key verified, the request transaction, the response)
// against a hand-written net/http handler running the equivalent query with
// pgx on the same database, one request of each per iteration so that the
// noise of a shared machine hits both alike. The ratio (Fluxbase's time ÷
// the baseline's) is the figure to compare across runs; allocs/op counts
// both sides and the HTTP client, which are the same in every run.
//
//	go test -run '^$' -bench Serve -benchmem ./internal/rest/
func BenchmarkServe(b *testing.B) {
	ctx := context.Background()
	s := apitest.NewServer(b, func(c *config.Config) {
		c.Database.MaxConns = 4
	})
	if _, err := s.DB.DB.Admin.Exec(ctx, benchSchemaSQL); err != nil {
		b.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, s.DB.AdminDSN)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	baseURL := serveBaseline(b, pool)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(url string, headers map[string]string) []byte {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %s %v", url, resp.StatusCode, body, err)
		}
		return body
	}
	auth := map[string]string{"apikey": s.AnonKey, "Authorization": "Bearer " + s.AnonKey}
	cases := []struct{ name, query string }{
		{"a_by_key", "id=eq.%d"},
		{"b_filter_order", "status=eq.paid&created_at=lt.2026-01-01T%02d:00:00Z&order=created_at.desc&limit=100"},
		{"c_embeds", "select=id,title,price,customer:bench_customers(id,name),notes:bench_notes(id,body)&id=gte.%d&order=id.asc&limit=20"},
	}
	// The schema cache reloads asynchronously after the DDL above.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := s.Do(b, http.MethodGet, "/rest/v1/bench_items?limit=1", auth, nil)
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("bench_items not visible: %d", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			path := "/rest/v1/bench_items?" + c.query
			var fb, base time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := fmt.Sprintf(path, 1+i%23)
				t0 := time.Now()
				get(s.URL+p, auth)
				t1 := time.Now()
				get(baseURL+p, nil)
				fb += t1.Sub(t0)
				base += time.Since(t1)
			}
			b.ReportMetric(float64(fb.Nanoseconds())/float64(b.N), "fluxbase-ns/op")
			b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "baseline-ns/op")
			b.ReportMetric(float64(fb)/float64(base), "ratio")
		})
	}
}

const benchSchemaSQL = `
create table public.bench_customers (id integer primary key, name text not null);
create table public.bench_items (
    id bigint primary key,
    customer_id integer not null references public.bench_customers (id),
    title text not null, price numeric(10, 2) not null, status text not null,
    created_at timestamptz not null);
create index on public.bench_items (status, created_at desc);
create table public.bench_notes (
    id bigint primary key,
    item_id bigint not null references public.bench_items (id),
    body text not null);
create index on public.bench_notes (item_id);
insert into public.bench_customers select i, 'Customer ' || i from generate_series(1, 100) i;
insert into public.bench_items
select i, 1 + i % 100, 'Item ' || i, (i % 1000) / 10.0,
       (array['pending', 'paid', 'shipped', 'delivered'])[1 + i % 4],
       timestamptz '2026-01-01' + i * interval '37 seconds'
from generate_series(1, 5000) i;
insert into public.bench_notes select i, 1 + (i - 1) / 2, 'Note ' || i from generate_series(1, 10000) i;
grant select on public.bench_customers, public.bench_items, public.bench_notes to anon;
analyze public.bench_customers, public.bench_items, public.bench_notes;
`

// serveBaseline serves the three shapes of BenchmarkServe by hand: one
// query each, PostgreSQL producing the same JSON.
func serveBaseline(b *testing.B, pool *pgxpool.Pool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var sql string
		var args []any
		switch {
		case q.Has("select"):
			sql = `select coalesce(json_agg(t), '[]') from (
    select i.id, i.title, i.price,
           (select row_to_json(c) from (select c.id, c.name from public.bench_customers c where c.id = i.customer_id) c) as customer,
           coalesce((select json_agg(n) from (select n.id, n.body from public.bench_notes n where n.item_id = i.id) n), '[]') as notes
    from public.bench_items i where i.id >= $1 order by i.id limit 20) t`
			args = []any{q.Get("id")[4:]}
		case q.Has("status"):
			sql = `select coalesce(json_agg(t), '[]') from (
    select * from public.bench_items where status = $1 and created_at < $2
    order by created_at desc limit 100) t`
			args = []any{q.Get("status")[3:], q.Get("created_at")[3:]}
		default:
			id, _ := strconv.Atoi(q.Get("id")[3:])
			sql = `select coalesce(json_agg(t), '[]') from (select * from public.bench_items where id = $1) t`
			args = []any{id}
		}
		var out []byte
		if err := pool.QueryRow(r.Context(), sql, args...).Scan(&out); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(out)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
