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
// With settings set it is the "floor": each statement is pipelined after
// a set_config of the role and the claims, in the same round trip and the
// same implicit transaction (one Sync), which is the least any server pays
// that runs every request under the caller's role with the caller's claims
// visible to row level security. Its throughput over the plain baseline's
// is the highest ratio such a server can reach.
type baseline struct {
	pool     *pgxpool.Pool
	settings bool
}

// setRoleSQL is what the floor sets before each statement.
const setRoleSQL = `select set_config('role', 'anon', true), set_config('request.jwt.claims', '{"role":"anon"}', true)`

// exec runs one statement; with b.settings, pipelined after setRoleSQL.
// With out set, the statement's single value is scanned into it.
func (b *baseline) exec(ctx context.Context, out *[]byte, sql string, args ...any) error {
	if !b.settings {
		if out == nil {
			_, err := b.pool.Exec(ctx, sql, args...)
			return err
		}
		return b.pool.QueryRow(ctx, sql, args...).Scan(out)
	}
	batch := &pgx.Batch{}
	batch.Queue(setRoleSQL)
	batch.Queue(sql, args...)
	br := b.pool.SendBatch(ctx, batch)
	defer func() { _ = br.Close() }()
	if _, err := br.Exec(); err != nil {
		return err
	}
	if out == nil {
		_, err := br.Exec()
		return err
	}
	return br.QueryRow().Scan(out)
}

// floorPool opens the floor's pool as a login role of its own that, like
// Fluxbase's authenticator, holds no privilege but membership of anon,
// without inheriting it: the role switch then costs what it costs any
// server that does not connect as a superuser. Its password is generated
// here.
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
	if err := (&baseline{pool: pool, settings: true}).exec(ctx, &user, "select current_user::text::bytea"); err != nil {
		return err
	}
	if string(user) != "anon" {
		return fmt.Errorf("floor: the pipelined statement ran as %q, not anon", user)
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
		if err := b.exec(ctx, nil, baselineInsertSQL, string(body)); err != nil {
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
	if err := b.exec(ctx, &out, sql, args...); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(out)
}
