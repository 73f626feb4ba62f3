package pg_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// roundTrips counts what a connection sends: batches (one pipeline each)
// and statements sent on their own.
type roundTrips struct {
	mu               sync.Mutex
	batches, queries int
	sql              []string
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	r.queries++
	r.sql = append(r.sql, d.SQL)
	r.mu.Unlock()
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	r.batches++
	r.mu.Unlock()
	return ctx
}
func (r *roundTrips) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.mu.Lock()
	r.sql = append(r.sql, d.SQL)
	r.mu.Unlock()
}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *roundTrips) take() (batches, queries int, sql []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	batches, queries, sql = r.batches, r.queries, r.sql
	r.batches, r.queries, r.sql = 0, 0, nil
	return
}

// tracedDB returns db with its API pool replaced by a traced copy of one
// connection, so that consecutive requests reuse the same connection.
func tracedDB(t *testing.T, db *pg.DB) (*pg.DB, *roundTrips) {
	t.Helper()
	rt := &roundTrips{}
	cfg := db.API.Config().Copy()
	cfg.ConnConfig.Tracer = rt
	cfg.MaxConns, cfg.MinConns = 1, 0
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c := *db
	c.API = pool
	return &c, rt
}

func scanOne[T any](dst *T) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		if !rows.Next() {
			return errors.New("no row")
		}
		return rows.Scan(dst)
	}
}

func TestQueryInRequestTxReadIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	base, _ := newDB(t)
	db, rt := tracedDB(t, base)
	ctx := context.Background()
	req := pg.Request{Role: "authenticated", Claims: claims(userA, "authenticated", "a@example.com"),
		Method: "GET", Path: "/rest/v1/x", ReadOnly: true, StatementTimeout: 1500 * time.Millisecond}
	const q = `select json_build_object('user', current_user, 'uid', auth.uid(), 'ro', current_setting('transaction_read_only'),
		'timeout', current_setting('statement_timeout'), 'arg', $1::text)::text`
	for i := range 2 {
		var got string
		if err := db.QueryInRequestTx(ctx, req, q, []any{"v"}, scanOne(&got)); err != nil {
			t.Fatal(err)
		}
		want := `{"user" : "authenticated", "uid" : "` + userA + `", "ro" : "on", "timeout" : "1500ms", "arg" : "v"}`
		if got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		batches, queries, sql := rt.take()
		if i == 1 && (batches != 1 || queries != 0 || len(sql) != 2) {
			t.Fatalf("a read sent %d batches and %d lone statements, want one batch of two (settings, statement): %q", batches, queries, sql)
		}
		if first := sql[0]; i == 1 && (!strings.HasPrefix(first, "select set_config('role'") || !strings.Contains(first, "'transaction_read_only', 'on'")) {
			t.Fatalf("the batch starts with %q, want the settings making the transaction read-only: %q (%d, %d)", first, sql, batches, queries)
		}
	}
	// The connection went back idle, without the request's settings.
	var role string
	if err := db.API.QueryRow(ctx, `select current_user::text || ' ' || current_setting('request.jwt.claims', true)`).Scan(&role); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(role) != "authenticator" {
		t.Fatalf("after the request the connection is %q", role)
	}
}

func TestQueryInRequestTxWriteCommitsOrRollsBack(t *testing.T) {
	t.Parallel()
	base, _ := newDB(t)
	db, rt := tracedDB(t, base)
	ctx := context.Background()
	mustExec(t, base, `create table qw (v text); grant insert, select on qw to service_role`)
	req := pg.Request{Role: "service_role"}
	insert := `insert into qw values ($1) returning v`
	count := func() int {
		var n int
		if err := base.Admin.QueryRow(ctx, `select count(*) from qw`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range 2 {
		var got string
		if err := db.QueryInRequestTx(ctx, req, insert, []any{"kept"}, scanOne(&got)); err != nil || got != "kept" {
			t.Fatalf("insert: %q, %v", got, err)
		}
		batches, queries, sql := rt.take()
		if i == 1 && (batches != 1 || queries != 1 || sql[len(sql)-1] != "commit") {
			t.Fatalf("a write sent %d batches and %d lone statements (%q), want the pipeline and then commit", batches, queries, sql)
		}
	}
	if n := count(); n != 2 {
		t.Fatalf("%d rows after two committed inserts", n)
	}
	veto := errors.New("veto")
	err := db.QueryInRequestTx(ctx, req, insert, []any{"dropped"}, func(rows pgx.Rows) error {
		if !rows.Next() {
			return errors.New("no row")
		}
		return veto
	})
	if !errors.Is(err, veto) {
		t.Fatalf("got %v, want fn's error", err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d rows: the vetoed insert was committed", n)
	}
	// A write in a read-only request fails, whatever fn does.
	err = db.QueryInRequestTx(ctx, pg.Request{Role: "service_role", ReadOnly: true}, insert, []any{"ro"},
		func(pgx.Rows) error { return nil })
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "25006" {
		t.Fatalf("write in a read-only request: got %v, want 25006", err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d rows after the read-only insert", n)
	}
}

func TestQueryInRequestTxStatementErrors(t *testing.T) {
	t.Parallel()
	base, _ := newDB(t)
	db, _ := tracedDB(t, base)
	ctx := context.Background()
	for _, ro := range []bool{true, false} {
		for range 2 { // the second time the statement is prepared already
			err := db.QueryInRequestTx(ctx, pg.Request{Role: "anon", ReadOnly: ro}, `select 1/$1::int`, []any{"0"},
				func(rows pgx.Rows) error {
					for rows.Next() {
					}
					return rows.Err()
				})
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "22012" {
				t.Fatalf("read-only %v: got %v, want division by zero", ro, err)
			}
			// Unknown relations fail when the statement is prepared.
			err = db.QueryInRequestTx(ctx, pg.Request{Role: "anon", ReadOnly: ro}, `select * from no_such_table`, nil,
				func(pgx.Rows) error { return nil })
			if !errors.As(err, &pe) || pe.Code != "42P01" {
				t.Fatalf("read-only %v: got %v, want 42P01", ro, err)
			}
		}
	}
	// The one connection is healthy and idle afterwards.
	var one int
	if err := db.QueryInRequestTx(ctx, pg.Request{Role: "anon", ReadOnly: true}, `select 1`, nil, scanOne(&one)); err != nil || one != 1 {
		t.Fatalf("after errors: %d, %v", one, err)
	}
	// A role that does not exist is the caller's fault: 401.
	err := db.QueryInRequestTx(ctx, pg.Request{Role: "no_such_role_q", ReadOnly: true}, `select 1`, nil, scanOne(&one))
	var he *httpx.Error
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("unknown role: got %v, want a 401", err)
	}
}

// TestQueryInRequestTxParsesUnderTheRequestRole uses a schema that only
// anon may use: the statement must not be parsed as the authenticator.
func TestQueryInRequestTxParsesUnderTheRequestRole(t *testing.T) {
	t.Parallel()
	base, _ := newDB(t)
	db, rt := tracedDB(t, base)
	ctx := context.Background()
	mustExec(t, base, `create schema anon_only; create table anon_only.t (v int); insert into anon_only.t values (7);
		grant usage on schema anon_only to anon; grant select on anon_only.t to anon`)
	for i := range 3 {
		var v int
		err := db.QueryInRequestTx(ctx, pg.Request{Role: "anon", ReadOnly: true}, `select v from anon_only.t where v > $1`, []any{1}, scanOne(&v))
		if err != nil || v != 7 {
			t.Fatalf("request %d: %d, %v", i, v, err)
		}
		batches, queries, sql := rt.take()
		if i == 0 && (batches != 2 || queries != 2) {
			// Preparing ahead as the authenticator fails; the statement
			// then runs in the transaction, after the role switch.
			t.Fatalf("first request sent %d batches and %d lone statements, want the fallback (2 and 2): %q", batches, queries, sql)
		}
		if i > 0 && (batches != 1 || queries != 0) {
			t.Fatalf("request %d sent %d batches and %d lone statements once prepared: %q", i, batches, queries, sql)
		}
	}
	// Another role still may not use the schema.
	err := db.QueryInRequestTx(ctx, pg.Request{Role: "authenticated", ReadOnly: true}, `select v from anon_only.t where v > $1`, []any{1},
		func(pgx.Rows) error { return nil })
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Fatalf("authenticated: got %v, want 42501", err)
	}
}

func TestQueryInRequestTxStatementTimeouts(t *testing.T) {
	t.Parallel()
	_, dsn := newDB(t)
	ctx := context.Background()
	db := connectAPI(t, config.DatabaseConfig{StatementTimeout: 100 * time.Millisecond}, dsn, nil)
	defer db.Close()
	drain := func(rows pgx.Rows) error {
		for rows.Next() {
		}
		return rows.Err()
	}
	start := time.Now()
	err := db.QueryInRequestTx(ctx, pg.Request{Role: "anon", ReadOnly: true}, `select pg_sleep(2)`, nil, drain)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("pool timeout: got %v, want 57014", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("the pool's statement timeout did not apply")
	}
	// A request's own timeout replaces the pool's, longer or shorter.
	if err := db.QueryInRequestTx(ctx, pg.Request{Role: "anon", ReadOnly: true, StatementTimeout: 5 * time.Second},
		`select pg_sleep(0.3)`, nil, drain); err != nil {
		t.Fatalf("a 5s request timeout: %v", err)
	}
	if err := db.QueryInRequestTx(ctx, pg.Request{Role: "anon", StatementTimeout: -1},
		`select pg_sleep(0.3)`, nil, drain); err != nil {
		t.Fatalf("no request timeout: %v", err)
	}
	err = db.InRequestTx(ctx, pg.Request{Role: "anon", StatementTimeout: 50 * time.Millisecond}, func(ctx context.Context, tx pg.Tx) error {
		_, err := tx.Exec(ctx, `select pg_sleep(0.3)`)
		return err
	})
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("InRequestTx with a 50ms request timeout: got %v, want 57014", err)
	}
}

// TestLegacyClaimSettings checks that request.jwt.claim.sub, .role and
// .email are exactly what claims->>'x' gives (empty for null), whether Go
// extracts them (plain strings) or PostgreSQL does (anything else), when
// database.legacy_claim_settings asks for them.
func TestLegacyClaimSettings(t *testing.T) {
	t.Parallel()
	db := newLegacyDB(t)
	ctx := context.Background()
	for _, c := range []string{
		`{"sub":"u1","role":"authenticated","email":"a@example.com"}`,
		`{"sub":"quote \" \\ \u00e9 \ud83d\ude00","role":"anon"}`,
		`{"sub":null,"email":""}`,
		`{}`,
		`{"SUB":"upper","Email":"x"}`,
		`{"sub":123,"role":"anon","email":{"a":[1, 2]}}`,
		`{"sub":"first","sub":"last"}`,
		`{"role":true}`,
	} {
		for _, ro := range []bool{false, true} {
			req := pg.Request{Role: "anon", Claims: []byte(c), ReadOnly: ro}
			var same bool
			var got string
			err := db.QueryInRequestTx(ctx, req, `select
				current_setting('request.jwt.claim.sub') = coalesce(current_setting('request.jwt.claims')::jsonb->>'sub', '')
				and current_setting('request.jwt.claim.role') = coalesce(current_setting('request.jwt.claims')::jsonb->>'role', '')
				and current_setting('request.jwt.claim.email') = coalesce(current_setting('request.jwt.claims')::jsonb->>'email', ''),
				current_setting('request.jwt.claim.sub') || '|' || current_setting('request.jwt.claim.role') || '|' || current_setting('request.jwt.claim.email')`,
				nil, func(rows pgx.Rows) error {
					if !rows.Next() {
						return errors.New("no row")
					}
					return rows.Scan(&same, &got)
				})
			if err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			if !same {
				t.Errorf("claims %s: legacy settings %q differ from claims->>", c, got)
			}
		}
	}
	if err := db.QueryInRequestTx(ctx, pg.Request{Role: "anon", Claims: []byte(`{"sub":`)}, `select 1`, nil,
		func(pgx.Rows) error { return nil }); err == nil {
		t.Fatal("invalid claims JSON was accepted")
	}
}
