package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/migrations"
	"github.com/fluxbase/fluxbase/internal/pg"
	"github.com/fluxbase/fluxbase/internal/schema"
)

// wideSQL creates $1 tables in schema wide, each with a primary key, five
// more columns (an enum, a comment, a default), a unique key and a foreign
// key to the previous table; every tenth also gets a view and a function
// taking its row type (a computed field).
const wideSQL = `
create schema wide;
create type wide.state as enum ('new', 'open', 'closed');
do $$
declare i int;
begin
  for i in 1..%d loop
    execute format('create table wide.t%%s (
        id bigint generated always as identity primary key,
        prev_id bigint %%s,
        code text not null unique,
        state wide.state not null default ''new'',
        amount numeric(12,2),
        created_at timestamptz not null default now())',
      i, case when i > 1 then format('references wide.t%%s (id)', i - 1) else '' end);
    execute format('comment on column wide.t%%s.code is ''business code''', i);
    if i %% 10 = 0 then
      execute format('create view wide.v%%s as select id, code as label, prev_id from wide.t%%s', i, i);
      execute format('create function wide.f%%s(r wide.t%%s) returns text language sql stable as $f$ select r.code $f$', i, i);
    end if;
  end loop;
end $$;`

// trivialCatalogSQL is the baseline: one plain catalog query listing the
// schema's columns, with no keys, relationships or functions.
const trivialCatalogSQL = `select c.relname, a.attname, a.atttypid
from pg_attribute a join pg_class c on c.oid = a.attrelid
where c.relnamespace = 'wide'::regnamespace and a.attnum > 0 and not a.attisdropped`

func benchSchemaCache(ctx context.Context, emb *pg.Embedded, tables int) error {
	admin, err := pgxpool.New(ctx, emb.DSN())
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.Exec(ctx, "drop database if exists bench_wide"); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "create database bench_wide"); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, emb.DatabaseDSN("bench_wide"))
	if err != nil {
		return err
	}
	defer pool.Close()
	// Fluxbase's migrations install the DDL event trigger the reload
	// measurement needs.
	if err := migrations.Apply(ctx, pool, nil); err != nil {
		return err
	}
	fmt.Printf("\nschema cache: creating %d tables...\n", tables)
	if _, err := pool.Exec(ctx, fmt.Sprintf(wideSQL, tables)); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "analyze"); err != nil {
		return err
	}

	const runs = 15
	svc := schema.New(pool, []string{"wide"}, nil)
	var loads, trivial []time.Duration
	for range runs {
		t0 := time.Now()
		if err := svc.Reload(ctx); err != nil {
			return err
		}
		loads = append(loads, time.Since(t0))
		t0 = time.Now()
		rows, err := pool.Query(ctx, trivialCatalogSQL)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if rows.Err() != nil {
			return rows.Err()
		}
		trivial = append(trivial, time.Since(t0))
	}
	c := svc.Current()
	nrel, nfn := 0, 0
	for _, r := range c.Relations {
		nrel += len(r)
	}
	for _, f := range c.FunctionsByName {
		nfn += len(f)
	}
	ml, mt := median(loads), median(trivial)
	fmt.Printf("schema cache load, %d relations (%d tables + views), %d relationships, %d functions; median of %d:\n",
		len(c.Tables), tables, nrel, nfn, runs)
	fmt.Printf("  schema cache load      %8s  (min %s, max %s)\n", fmtDur(ml), fmtDur(slices.Min(loads)), fmtDur(slices.Max(loads)))
	fmt.Printf("  baseline: one catalog query listing the columns  %s\n", fmtDur(mt))
	fmt.Printf("  ratio                  %.1f× the baseline query\n", float64(ml)/float64(mt))

	return measureReload(ctx, pool, svc)
}

// measureReload times how long a table created with SQL takes to appear
// in the cache of a running service, on the large schema.
func measureReload(ctx context.Context, pool *pgxpool.Pool, svc *schema.Service) error {
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(rctx) })
	defer func() { cancel(); wg.Wait() }()
	updates, unsubscribe := svc.Subscribe()
	defer unsubscribe()
	// Let Run connect and settle (it may reload once on connecting).
	time.Sleep(500 * time.Millisecond)
	for len(updates) > 0 {
		<-updates
	}

	const runs = 10
	var took []time.Duration
	for i := range runs {
		name := fmt.Sprintf("fresh_%d", i)
		t0 := time.Now()
		if _, err := pool.Exec(ctx, "create table "+pgx.Identifier{"wide", name}.Sanitize()+" (id int primary key)"); err != nil {
			return err
		}
		for svc.Current().Table("wide", name) == nil {
			if time.Since(t0) > 10*time.Second {
				return fmt.Errorf("table %s not visible after 10s", name)
			}
			time.Sleep(time.Millisecond)
		}
		took = append(took, time.Since(t0))
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("  CREATE TABLE visible in the running cache: median %s, max %s (of %d; target < 1s)\n",
		fmtDur(median(took)), fmtDur(slices.Max(took)), runs)
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
