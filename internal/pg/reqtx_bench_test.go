package pg_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/pg"
	"github.com/fluxbase/fluxbase/internal/testutil"
)

// BenchmarkRequestTx measures what a request transaction costs over the same
// read done with raw pgx: the role switch and the claims, method, path and
// headers published in one extra round trip. The two are interleaved in one
// loop so that the noise of a shared machine hits both alike; the figure to
// compare across runs is the ratio.
//
//	go test -run '^$' -bench RequestTx ./internal/pg/
func BenchmarkRequestTx(b *testing.B) {
	ctx := context.Background()
	db := testutil.NewDB(b).DB
	if _, err := db.Admin.Exec(ctx, `
		create table bench_items (id int primary key, owner uuid, title text);
		insert into bench_items select g, gen_random_uuid(), 'item ' || g from generate_series(1, 100) g;
		grant select on bench_items to authenticated`); err != nil {
		b.Fatal(err)
	}
	const query = `select count(*) from bench_items where id <= $1`
	req := pg.Request{
		Role:     "authenticated",
		Claims:   []byte(`{"sub":"7c1e0b9a-3f43-4c1e-9a8e-4b7a1f2f9c11","role":"authenticated","email":"a@example.com","aud":"authenticated","exp":4102444800}`),
		Method:   "GET",
		Path:     "/rest/v1/bench_items",
		Headers:  []byte(`{"accept":"application/json","user-agent":"bench","x-request-id":"0192"}`),
		ReadOnly: true,
	}
	read := func(ctx context.Context, tx pg.Tx) error {
		var n int
		return tx.QueryRow(ctx, query, 50).Scan(&n)
	}

	var raw, request time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := pgx.BeginTxFunc(ctx, db.Admin, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error { return read(ctx, tx) }); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := db.InRequestTx(ctx, req, read); err != nil {
			b.Fatal(err)
		}
		raw += t1.Sub(t0)
		request += time.Since(t1)
	}
	b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(request.Nanoseconds())/float64(b.N), "request-ns/op")
	b.ReportMetric(float64(request)/float64(raw), "ratio")
}
