package schema

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/testutil"
)

// wideSchemaSQL creates 1000 tables, each with a key, a unique key, an enum
// column, defaults and a foreign key to the previous one.
const wideSchemaSQL = `
create schema wide;
create type wide.state as enum ('new', 'open', 'closed');
do $$
begin
  for i in 1..1000 loop
    execute format('create table wide.t%s (
        id bigint generated always as identity primary key,
        prev_id bigint %s,
        code text not null unique,
        state wide.state not null default ''new'',
        amount numeric(12,2),
        created_at timestamptz not null default now())',
      i, case when i > 1 then format('references wide.t%s (id)', i - 1) else '' end);
  end loop;
end $$`

// BenchmarkLoad measures a full load of a 1000-table schema and reports it
// as a ratio to one plain catalog query listing the same columns, timed in
// the same run.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	tdb := testutil.NewDB(b)
	pool := tdb.DB.Admin
	if _, err := pool.Exec(ctx, wideSchemaSQL); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "analyze"); err != nil {
		b.Fatal(err)
	}
	trivial := func() time.Duration {
		t0 := time.Now()
		rows, err := pool.Query(ctx, `select c.relname, a.attname, a.atttypid from pg_attribute a
			join pg_class c on c.oid = a.attrelid
			where c.relnamespace = 'wide'::regnamespace and a.attnum > 0 and not a.attisdropped`)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
		return time.Since(t0)
	}
	var base time.Duration
	n := 0
	// b.Loop runs the set-up above once, however many iterations it takes.
	for b.Loop() {
		n++
		c, _, err := loadCatalog(ctx, pool, []string{"wide"})
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Tables) != 1000 {
			b.Fatal(fmt.Sprint("loaded ", len(c.Tables), " tables"))
		}
		b.StopTimer()
		base += trivial()
		b.StartTimer()
	}
	perLoad := b.Elapsed() / time.Duration(n)
	perBase := base / time.Duration(n)
	b.ReportMetric(float64(perBase.Microseconds())/1000, "baseline-ms/op")
	b.ReportMetric(float64(perLoad)/float64(perBase), "x-baseline")
}
