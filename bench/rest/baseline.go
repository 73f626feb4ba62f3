package main

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The baseline is what a developer would write by hand for these four
// endpoints: one pgx query each, with PostgreSQL producing the JSON exactly
// as PostgREST's grammar asks for it (json_agg of the selected rows, embeds
// as correlated subqueries), no authentication, no transaction of its own.
const (
	baselineOneSQL = `select coalesce(json_agg(t), '[]') from (
    select * from public.bench_items where id = $1) t`
	baselineListSQL = `select coalesce(json_agg(t), '[]') from (
    select * from public.bench_items where status = $1 and created_at < $2
    order by created_at desc limit 100) t`
	baselineEmbedSQL = `select coalesce(json_agg(t), '[]') from (
    select i.id, i.title, i.price,
           (select row_to_json(c) from (select c.id, c.name from public.bench_customers c where c.id = i.customer_id) c) as customer,
           coalesce((select json_agg(n) from (select n.id, n.body from public.bench_notes n where n.item_id = i.id) n), '[]') as notes
    from public.bench_items i where i.id >= $1 order by i.id limit 20) t`
	baselineInsertSQL = `insert into public.bench_events (customer_id, kind, amount)
    select customer_id, kind, amount from json_populate_recordset(null::public.bench_events, $1)`
)

// baseline serves the benchmark's four request shapes (and only those).
// With tx set it wraps each statement as Fluxbase does (BEGIN, set_config
// of role and claims, the statement, COMMIT), to tell the cost of that
// protocol apart from the rest of Fluxbase's.
type baseline struct {
	pool *pgxpool.Pool
	tx   bool
}

// setRoleSQL is what a request transaction sets before its statement.
const setRoleSQL = `select set_config('role', 'anon', true), set_config('request.jwt.claims', '{"role":"anon"}', true)`

// querier is what both a pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// run runs fn on the pool, or inside a request-like transaction when b.tx.
func (b *baseline) run(ctx context.Context, fn func(q querier) error) error {
	if !b.tx {
		return fn(b.pool)
	}
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, setRoleSQL); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
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
		err = b.run(ctx, func(q querier) error {
			_, err := q.Exec(ctx, baselineInsertSQL, string(body))
			return err
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodGet && r.URL.Path == "/rest/v1/bench_items":
		switch {
		case strings.Contains(q.Get("select"), "bench_customers"):
			b.json(ctx, w, baselineEmbedSQL, strings.TrimPrefix(q.Get("id"), "gte."))
		case q.Has("status"):
			b.json(ctx, w, baselineListSQL, strings.TrimPrefix(q.Get("status"), "eq."), strings.TrimPrefix(q.Get("created_at"), "lt."))
		default:
			b.json(ctx, w, baselineOneSQL, strings.TrimPrefix(q.Get("id"), "eq."))
		}
	default:
		http.NotFound(w, r)
	}
}

func (b *baseline) json(ctx context.Context, w http.ResponseWriter, sql string, args ...any) {
	var out []byte
	if err := b.run(ctx, func(q querier) error { return q.QueryRow(ctx, sql, args...).Scan(&out) }); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(out)
}
