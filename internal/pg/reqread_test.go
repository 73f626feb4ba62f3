package pg_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fluxbase/fluxbase/internal/pg"
)

// preparedReads counts the statements the read path has prepared on the
// only connection of db's API pool.
func preparedReads(t *testing.T, db *pg.DB) int {
	t.Helper()
	var n int
	err := db.API.QueryRow(context.Background(),
		`select count(*)::int from pg_prepared_statements where name like 'fluxbase_read_%'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Every request shape prepares a statement on the connection that serves
// it; clients choose the shapes, so what a connection keeps is bounded and
// the least recently used statements are deallocated on the server too.
func TestReadStatementsPerConnectionAreBounded(t *testing.T) {
	t.Parallel()
	base, _ := newDB(t)
	db, _ := tracedDB(t, base)
	ctx := context.Background()
	req := pg.Request{Role: "anon", ReadOnly: true}
	const shapes = 300
	for i := range shapes {
		var got string
		q := `select $1::text || '-` + strconv.Itoa(i) + `'`
		if err := db.QueryInRequestTx(ctx, req, q, []any{"shape"}, scanOne(&got)); err != nil {
			t.Fatalf("shape %d: %v", i, err)
		}
		if want := "shape-" + strconv.Itoa(i); got != want {
			t.Fatalf("shape %d: got %q, want %q", i, got, want)
		}
	}
	n := preparedReads(t, db)
	if n == 0 || n >= shapes {
		t.Fatalf("%d statements prepared after %d shapes (plus the settings): want some, and fewer than the shapes", n, shapes)
	}
	// An evicted shape is prepared again and still answers correctly.
	var got string
	if err := db.QueryInRequestTx(ctx, req, `select $1::text || '-0'`, []any{"again"}, scanOne(&got)); err != nil || got != "again-0" {
		t.Fatalf("evicted shape: %q, %v", got, err)
	}
	if m := preparedReads(t, db); m != n {
		t.Fatalf("%d statements prepared after re-preparing an evicted one, want %d", m, n)
	}
}

// A prepared read whose table changed type under it fails at most once and
// is then prepared again, as pgx's own statement cache behaves.
func TestReadStatementPreparedAgainAfterTableChange(t *testing.T) {
	t.Parallel()
	base, _ := newDB(t)
	db, _ := tracedDB(t, base)
	ctx := context.Background()
	mustExec(t, base, `create table public.changing (v int); insert into public.changing values (1);
		grant select on public.changing to anon`)
	req := pg.Request{Role: "anon", ReadOnly: true}
	const q = `select count(*)::int from public.changing where v = $1`
	var n int
	if err := db.QueryInRequestTx(ctx, req, q, []any{"1"}, scanOne(&n)); err != nil || n != 1 {
		t.Fatalf("before the change: %d, %v", n, err)
	}
	mustExec(t, base, `alter table public.changing alter column v type text`)
	err := db.QueryInRequestTx(ctx, req, q, []any{"1"}, scanOne(&n))
	var pe *pgconn.PgError
	if err != nil && !errors.As(err, &pe) {
		t.Fatalf("first read after the change: %v, want success or a PostgreSQL error", err)
	}
	n = 0
	if err := db.QueryInRequestTx(ctx, req, q, []any{"1"}, scanOne(&n)); err != nil || n != 1 {
		t.Fatalf("second read after the change: %d, %v", n, err)
	}
}

// A statement that fails on the data does not cost its prepared statement,
// and an error inside fn leaves the connection usable.
func TestReadErrorsKeepTheConnectionUsable(t *testing.T) {
	t.Parallel()
	base, _ := newDB(t)
	db, _ := tracedDB(t, base)
	ctx := context.Background()
	req := pg.Request{Role: "anon", ReadOnly: true}
	const q = `select $1::int`
	var v int
	if err := db.QueryInRequestTx(ctx, req, q, []any{"7"}, scanOne(&v)); err != nil || v != 7 {
		t.Fatalf("valid: %d, %v", v, err)
	}
	before := preparedReads(t, db)
	err := db.QueryInRequestTx(ctx, req, q, []any{"x"}, scanOne(&v))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "22P02" {
		t.Fatalf("invalid input: %v, want 22P02", err)
	}
	if after := preparedReads(t, db); after != before {
		t.Fatalf("a data error changed the prepared statements: %d → %d", before, after)
	}
	boom := errors.New("boom")
	if err := db.QueryInRequestTx(ctx, req, q, []any{"8"}, func(pgx.Rows) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("fn's error: got %v", err)
	}
	if err := db.QueryInRequestTx(ctx, req, q, []any{"9"}, scanOne(&v)); err != nil || v != 9 {
		t.Fatalf("after fn failed: %d, %v", v, err)
	}
}

// A panic in fn goes to the caller and does not keep the connection: the
// pool of one serves the next request.
func TestReadPanicReleasesTheConnection(t *testing.T) {
	t.Parallel()
	base, _ := newDB(t)
	db, _ := tracedDB(t, base)
	req := pg.Request{Role: "anon", ReadOnly: true}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		_ = db.QueryInRequestTx(context.Background(), req, `select $1::int`, []any{"1"}, func(pgx.Rows) error { panic("boom") })
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var v int
	if err := db.QueryInRequestTx(ctx, req, `select $1::int`, []any{"2"}, scanOne(&v)); err != nil || v != 2 {
		t.Fatalf("after the panic: %d, %v", v, err)
	}
}
