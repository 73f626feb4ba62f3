package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/jsonenc"
)

// The baseline is what a developer would write by hand for these four
// endpoints: one pgx query each, with PostgreSQL producing the JSON exactly
// as PostgREST's grammar asks for it (json_agg of the selected rows, embeds
// as correlated subqueries), no authentication, no transaction of its own.
// The reads' row queries are kept apart so that the ceiling can wrap the
// same rows in PostgREST's response shape.
const (
	oneRowsSQL   = `select * from public.bench_items where id = $1`
	listRowsSQL  = `select * from public.bench_items where status = $1 and created_at < $2 order by created_at desc limit 100`
	embedRowsSQL = `select i.id, i.title, i.price,
           (select row_to_json(c) from (select c.id, c.name from public.bench_customers c where c.id = i.customer_id) c) as customer,
           coalesce((select json_agg(n) from (select n.id, n.body from public.bench_notes n where n.item_id = i.id) n), '[]') as notes
    from public.bench_items i where i.id >= $1 order by i.id limit 20`
	baselineInsertSQL = `insert into public.bench_events (customer_id, kind, amount)
    select customer_id, kind, amount from json_populate_recordset(null::public.bench_events, $1)`
)

// baselineRead is the baseline's statement for rows: their JSON array.
func baselineRead(rows string) string {
	return `select coalesce(json_agg(t), '[]') from (` + rows + `) t`
}

// ceilingRead is the same rows in the shape of statement a PostgREST
// compatible server runs: the page's row count for Content-Range, the body
// as text, and the response.headers and response.status settings through
// which SQL may set the response's headers and status.
func ceilingRead(rows string) string {
	return `select null::bigint as total_count, count(*) as page_count, coalesce(json_agg(_s), '[]')::text as body,
    nullif(current_setting('response.headers', true), '') as response_headers,
    nullif(current_setting('response.status', true), '') as response_status
    from (` + rows + `) _s`
}

// reference says what a baseline server adds to its statements.
type reference int

const (
	// plain runs the statement alone.
	plain reference = iota
	// floor pipelines it after a set_config of the role and the claims,
	// in the same round trip and the same implicit transaction (one
	// Sync): the least any server pays that runs every request under the
	// caller's role with the caller's claims visible to row level
	// security. Its throughput over the plain baseline's is the highest
	// ratio such a server can reach.
	floor
	// ceiling is the floor with what PostgREST (and so Fluxbase) publishes
	// to SQL for every request besides: request.method, request.path,
	// request.headers (the request's headers as a JSON object),
	// request.cookies, the role's statement timeout and, for reads, a
	// read-only transaction; and reads in PostgREST's statement shape
	// (ceilingRead). Its PostgreSQL work is the least a server that keeps
	// PostgREST's contract with SQL does; its Go side is pgx's generic
	// batch behind a bare handler (no token, no planning, no response
	// headers), which a tuned server can beat.
	ceiling
)

func (r reference) String() string {
	return [...]string{"baseline", "floor", "ceiling"}[r]
}

// baseline serves the benchmark's four request shapes (and only those).
type baseline struct {
	pool *pgxpool.Pool
	ref  reference
}

// setRoleSQL is what the floor sets before each statement.
const setRoleSQL = `select set_config('role', 'anon', true), set_config('request.jwt.claims', '{"role":"anon"}', true)`

// ceilingSettingsSQL is what the ceiling sets before each statement:
// $1 method, $2 path, $3 headers, $4 read-only ('on' or 'off'). The
// benchmark's requests carry no cookies, so request.cookies is the empty
// object. The statement timeout is Fluxbase's default for anon
// (rest.statement_timeouts).
const ceilingSettingsSQL = `select set_config('role', 'anon', true),
    set_config('request.jwt.claims', '{"role":"anon"}', true),
    set_config('request.method', $1, true),
    set_config('request.path', $2, true),
    set_config('request.headers', $3, true),
    set_config('request.cookies', '{}', true),
    set_config('statement_timeout', '8000', true),
    set_config('transaction_read_only', $4, true)`

// exec runs one statement, after the reference's settings, which r's
// request provides. With out set, the statement's body column is scanned
// into it.
func (b *baseline) exec(ctx context.Context, r *http.Request, out *[]byte, sql string, args ...any) error {
	if b.ref == plain {
		if out == nil {
			_, err := b.pool.Exec(ctx, sql, args...)
			return err
		}
		return b.pool.QueryRow(ctx, sql, args...).Scan(out)
	}
	batch := &pgx.Batch{}
	if b.ref == floor {
		batch.Queue(setRoleSQL)
	} else {
		readOnly := "off"
		if r.Method == http.MethodGet {
			readOnly = "on"
		}
		// request.path as PostgREST has it behind Supabase's gateway.
		batch.Queue(ceilingSettingsSQL, r.Method, strings.TrimPrefix(r.URL.EscapedPath(), "/rest/v1"), headersJSON(r), readOnly)
	}
	batch.Queue(sql, args...)
	br := b.pool.SendBatch(ctx, batch)
	defer func() { _ = br.Close() }()
	if _, err := br.Exec(); err != nil {
		return err
	}
	switch {
	case out == nil:
		_, err := br.Exec()
		return err
	case b.ref == ceiling:
		var total, headers, status *string
		var count int64
		return br.QueryRow().Scan(&total, &count, out, &headers, &status)
	}
	return br.QueryRow().Scan(out)
}

// headersJSON is r's headers as the JSON object of request.headers:
// lowercase names, repeated values joined with a comma, and the host.
func headersJSON(r *http.Request) string {
	b := make([]byte, 0, 512)
	b = append(b, `{"host":`...)
	b = jsonenc.AppendString(b, r.Host)
	for k, vs := range r.Header {
		b = append(b, ',')
		b = jsonenc.AppendString(b, strings.ToLower(k))
		b = append(b, ':')
		b = jsonenc.AppendString(b, strings.Join(vs, ","))
	}
	return string(append(b, '}'))
}

// floorPool opens the pool of the floor and the ceiling as a login role of
// its own that, like Fluxbase's authenticator, holds no privilege but
// membership of anon, without inheriting it: the role switch then costs
// what it costs any server that does not connect as a superuser. Its
// password is generated here.
func floorPool(ctx context.Context, admin *pgxpool.Pool, base *pgxpool.Config) (*pgxpool.Pool, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	password := hex.EncodeToString(secret)
	if _, err := admin.Exec(ctx, "create role bench_floor login noinherit password '"+password+"'; grant anon to bench_floor"); err != nil {
		return nil, err
	}
	cfg := base.Copy()
	cfg.ConnConfig.User, cfg.ConnConfig.Password = "bench_floor", password
	return pgxpool.NewWithConfig(ctx, cfg)
}

// checkFloor proves that the floor's statement runs as the role that
// setRoleSQL sets, that is, that both statements share one transaction.
func checkFloor(ctx context.Context, pool *pgxpool.Pool) error {
	var user []byte
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return err
	}
	for _, ref := range []reference{floor, ceiling} {
		sql := "select current_user::text::bytea"
		if ref == ceiling {
			sql = ceilingRead("select current_user::text as u where current_setting('transaction_read_only') = 'on'")
		}
		if err := (&baseline{pool: pool, ref: ref}).exec(ctx, r, &user, sql); err != nil {
			return err
		}
		if ref == ceiling {
			if string(user) != `[{"u":"anon"}]` {
				return fmt.Errorf("ceiling: the pipelined statement saw %s, not anon in a read-only transaction", user)
			}
		} else if string(user) != "anon" {
			return fmt.Errorf("floor: the pipelined statement ran as %q, not anon", user)
		}
	}
	return nil
}

func (b *baseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/rest/v1/bench_events":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := b.exec(ctx, r, nil, baselineInsertSQL, string(body)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodGet && r.URL.Path == "/rest/v1/bench_items":
		switch {
		case strings.Contains(q.Get("select"), "bench_customers"):
			b.json(w, r, embedRowsSQL, strings.TrimPrefix(q.Get("id"), "gte."))
		case q.Has("status"):
			b.json(w, r, listRowsSQL, strings.TrimPrefix(q.Get("status"), "eq."), strings.TrimPrefix(q.Get("created_at"), "lt."))
		default:
			b.json(w, r, oneRowsSQL, strings.TrimPrefix(q.Get("id"), "eq."))
		}
	default:
		http.NotFound(w, r)
	}
}

// json answers with the JSON array of rows.
func (b *baseline) json(w http.ResponseWriter, r *http.Request, rows string, args ...any) {
	sql := baselineRead(rows)
	if b.ref == ceiling {
		sql = ceilingRead(rows)
	}
	var out []byte
	if err := b.exec(r.Context(), r, &out, sql, args...); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(out)
}
