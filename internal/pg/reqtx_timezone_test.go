package pg_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// TestRequestTimeZone checks that Request.TimeZone is the transaction's
// TimeZone on both paths (a pipelined read and a write), with or without a
// statement timeout, and does not outlive the transaction.
func TestRequestTimeZone(t *testing.T) {
	t.Parallel()
	_, dsn := newDB(t)
	ctx := context.Background()
	db := connectAPI(t, config.DatabaseConfig{}, dsn, nil)
	defer db.Close()
	// The requests run one after another and so mostly reuse a connection,
	// where a zone leaking into the next transaction would show.
	zone := func(req pg.Request) string {
		t.Helper()
		return queryText(t, db, req, `select current_setting('TimeZone') || ' ' || to_char(timestamptz '2024-01-01 12:00:00+00', 'HH24')`)
	}
	base := zone(pg.Request{Role: "anon", ReadOnly: true})
	for _, req := range []pg.Request{
		{Role: "anon", ReadOnly: true, TimeZone: "Asia/Tokyo"},
		{Role: "anon", TimeZone: "Asia/Tokyo"},
		{Role: "anon", ReadOnly: true, TimeZone: "Asia/Tokyo", StatementTimeout: 5e9},
		{Role: "authenticated", Claims: []byte(`{"sub":{"nested":1}}`), TimeZone: "Asia/Tokyo"},
	} {
		if got := zone(req); got != "Asia/Tokyo 21" {
			t.Errorf("%+v: %q, want Asia/Tokyo 21", req, got)
		}
		if got := zone(pg.Request{Role: "anon", ReadOnly: true}); got != base {
			t.Errorf("the zone outlived its transaction: %q, want %q", got, base)
		}
	}
	err := db.QueryInRequestTx(ctx, pg.Request{Role: "anon", ReadOnly: true, TimeZone: "Not/AZone"}, `select 1`, nil, func(pgx.Rows) error { return nil })
	if err == nil {
		t.Error("an unknown zone was accepted")
	}
}

// TestRequestSearchPath checks that Request.SearchPath is the transaction's
// search_path on both paths, alone and with a TimeZone (both are added to
// the settings statement), and does not outlive the transaction.
func TestRequestSearchPath(t *testing.T) {
	t.Parallel()
	_, dsn := newDB(t)
	db := connectAPI(t, config.DatabaseConfig{LegacyClaimSettings: true}, dsn, nil)
	defer db.Close()
	settings := func(req pg.Request) string {
		t.Helper()
		return queryText(t, db, req, `select current_setting('search_path') || ' | ' || current_setting('TimeZone') || ' | ' || current_setting('request.jwt.claim.sub')`)
	}
	base := settings(pg.Request{Role: "anon", ReadOnly: true})
	for _, c := range []struct {
		req  pg.Request
		want string
	}{
		{pg.Request{Role: "anon", ReadOnly: true, SearchPath: `"auth", public`}, `"auth", public | `},
		{pg.Request{Role: "anon", SearchPath: `"auth", public`}, `"auth", public | `},
		{pg.Request{Role: "anon", Claims: []byte(`{"sub":"u1"}`), ReadOnly: true, SearchPath: `"auth", public`, TimeZone: "Asia/Tokyo", StatementTimeout: 5e9},
			`"auth", public | Asia/Tokyo | u1`},
		{pg.Request{Role: "anon", Claims: []byte(`{"sub":{"n":1}}`), SearchPath: `"auth", public`, TimeZone: "Asia/Tokyo"},
			`"auth", public | Asia/Tokyo | {"n": 1}`},
	} {
		got := settings(c.req)
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("%+v: %q, want %q", c.req, got, c.want)
		}
		if got := settings(pg.Request{Role: "anon", ReadOnly: true}); got != base {
			t.Errorf("the settings outlived their transaction: %q, want %q", got, base)
		}
	}
}

// queryText runs sql, which returns one text, in req's transaction.
func queryText(t *testing.T, db *pg.DB, req pg.Request, sql string) string {
	t.Helper()
	var s string
	err := db.QueryInRequestTx(context.Background(), req, sql, nil, func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&s); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatalf("%+v: %v", req, err)
	}
	return s
}
