package rest_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/rest"
	"github.com/fluxbase/fluxbase/internal/schema"
	"github.com/fluxbase/fluxbase/internal/testutil"
	"github.com/fluxbase/fluxbase/internal/testutil/fixtures"
)

// statementLog records every statement sent on the API pool, and how:
// alone (a round trip each) or in a pipelined batch.
type statementLog struct {
	mu      sync.Mutex
	sql     []string
	batches int
	alone   int
}

func (l *statementLog) add(sql string) {
	l.mu.Lock()
	l.sql = append(l.sql, sql)
	l.mu.Unlock()
}

func (l *statementLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	l.mu.Lock()
	l.alone++
	l.mu.Unlock()
	l.add(d.SQL)
	return ctx
}
func (l *statementLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (l *statementLog) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	l.mu.Lock()
	l.batches++
	l.mu.Unlock()
	return ctx
}
func (l *statementLog) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	l.add(d.SQL)
}
func (l *statementLog) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (l *statementLog) reset() []string {
	out, _, _ := l.take()
	return out
}

func (l *statementLog) take() (sql []string, batches, alone int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sql, batches, alone = l.sql, l.batches, l.alone
	l.sql, l.batches, l.alone = nil, 0, 0
	return sql, batches, alone
}

// requestStatements drops the statements of the request transaction's
// frame (BEGIN, the one statement setting role, claims and the role's
// statement timeout, COMMIT/ROLLBACK), leaving what the engine ran.
func requestStatements(all []string) []string {
	var out []string
	for _, s := range all {
		l := strings.ToLower(strings.TrimSpace(s))
		switch {
		case strings.HasPrefix(l, "begin"), l == "commit", l == "rollback",
			strings.HasPrefix(l, "select set_config('role'"):
			continue
		}
		out = append(out, s)
	}
	return out
}

// TestOneStatementPerRequest counts, with a tracer on the API pool, the
// statements each kind of request runs: exactly one. It also counts round
// trips: once the connection has prepared the statement, a read is one
// pipelined batch of two statements (the settings, making the implicit
// transaction read-only, and the statement), and a write is a batch of
// BEGIN, settings and statement plus the COMMIT or ROLLBACK decided from its
// result.
func TestOneStatementPerRequest(t *testing.T) {
	ctx := context.Background()
	tdb := testutil.NewDB(t)
	if _, err := tdb.DB.Admin.Exec(ctx, fixtures.ShopSQL); err != nil {
		t.Fatalf("loading the shop fixture: %v", err)
	}
	// A second API pool, identical but traced, replaces the first.
	log := &statementLog{}
	pcfg := tdb.DB.API.Config().Copy()
	pcfg.ConnConfig.Tracer = log
	// One connection, so that repeating a request finds its statement
	// prepared.
	pcfg.MaxConns, pcfg.MinConns = 1, 0
	traced, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(traced.Close)
	db := *tdb.DB
	db.API = traced

	logger := slog.New(slog.DiscardHandler)
	sc := schema.New(db.Admin, []string{"public", "inventory"}, logger)
	if err := sc.Load(ctx); err != nil {
		t.Fatal(err)
	}
	ids, err := identity.New(ctx, db.Admin, config.Default().Auth, logger)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().REST
	// A per-role statement timeout travels in the setup statement.
	cfg.StatementTimeouts = []string{"service_role=7s"}
	h := rest.New(rest.Options{DB: &db, Schema: sc, Config: cfg, Logger: logger})
	mux := http.NewServeMux()
	mux.HandleFunc("/rest/v1/rpc/{function}", h.ServeRPC)
	mux.HandleFunc("/rest/v1/{table}", h.ServeTable)
	mux.HandleFunc("/api/v1/tables/{table}/{id}", h.ServeNativeRow)
	srv := httptest.NewServer(ids.Middleware(mux))
	t.Cleanup(srv.Close)

	svc := "Bearer " + ids.ServiceRoleKey()
	cases := []struct {
		method, path, body string
		headers            map[string]string
		status             int
	}{
		{"GET", "/rest/v1/products?select=id,name&price=gt.10&order=price.desc&limit=5", "", nil, 200},
		{"GET", "/rest/v1/products?select=id,categories(name),tags(name),reviews(rating)&id=lt.5", "", nil, 200},
		{"GET", "/rest/v1/categories?select=name,products!inner(id)&products.price=gt.100", "", map[string]string{"Prefer": "count=exact"}, 200},
		{"GET", "/rest/v1/products?select=id", "", map[string]string{"Prefer": "count=planned"}, 0},
		{"GET", "/rest/v1/products?select=category_id,price.sum(),count()", "", nil, 200},
		{"HEAD", "/rest/v1/products?select=id", "", map[string]string{"Prefer": "count=exact"}, 200},
		{"GET", "/rest/v1/products?select=id&id=eq.1", "", map[string]string{"Accept": "application/vnd.pgrst.object+json"}, 200},
		{"GET", "/rest/v1/products?select=id&id=eq.1", "", map[string]string{"Accept": "text/csv"}, 200},
		{"POST", "/rest/v1/tags?select=id,name,product_tags(product_id)", `[{"name":"one-stmt-a"},{"name":"one-stmt-b"}]`,
			map[string]string{"Prefer": "return=representation"}, 201},
		{"POST", "/rest/v1/tags", `{"name":"one-stmt-c"}`, map[string]string{"Prefer": "return=headers-only"}, 201},
		{"PATCH", "/rest/v1/tags?name=eq.one-stmt-c&select=name", `{"name":"one-stmt-d"}`, map[string]string{"Prefer": "return=representation"}, 200},
		{"DELETE", "/rest/v1/tags?name=like.one-stmt-*", "", nil, 204},
		{"GET", "/rest/v1/rpc/add_numbers?a=1&b=2", "", nil, 200},
		{"POST", "/rest/v1/rpc/products_in_category?select=id,name,categories(name)&order=id&limit=2", `{"category":3}`, nil, 200},
		{"POST", "/rest/v1/rpc/fib", `{"n":5}`, nil, 200},
		{"GET", "/rest/v1/tags?id=lt.3", "", map[string]string{"Accept": "text/tab-separated-values"}, 200},
		{"GET", "/rest/v1/rpc/welcome_page?name=x", "", map[string]string{"Accept": "text/html"}, 200},
		{"GET", "/rest/v1/categories?select=name,parent_category(name),subcategories(name)", "", nil, 200},
	}
	for _, c := range cases {
		// Reads run twice: the second time shows the round trips once
		// the statement is prepared on the connection.
		runs := 1
		if c.method == "GET" || c.method == "HEAD" {
			runs = 2
		}
		for run := range runs {
			req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", svc)
			if c.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			for k, v := range c.headers {
				req.Header.Set(k, v)
			}
			log.reset()
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if c.status != 0 && res.StatusCode != c.status {
				t.Errorf("%s %s: status %d, want %d", c.method, c.path, res.StatusCode, c.status)
			}
			// The request is complete once the response is read.
			deadline := time.Now().Add(time.Second)
			var all []string
			var batches, alone int
			for {
				sql, b, a := log.take()
				all, batches, alone = append(all, sql...), batches+b, alone+a
				if len(requestStatements(all)) > 0 || time.Now().After(deadline) {
					break
				}
			}
			stmts := requestStatements(all)
			if len(stmts) != 1 {
				t.Errorf("%s %s ran %d statements, want 1: %q", c.method, c.path, len(stmts), stmts)
			}
			for _, s := range all {
				if strings.HasPrefix(strings.ToLower(s), "select set_config('role'") && !strings.Contains(s, "'statement_timeout'") {
					t.Errorf("%s %s: the setup statement does not set the role's statement timeout: %q", c.method, c.path, s)
				}
			}
			if run == 1 && (batches != 1 || alone != 0 || len(all) != 2) {
				t.Errorf("%s %s (prepared): %d batches and %d lone statements (%q), want one batch of two", c.method, c.path, batches, alone, all)
			}
		}
	}
}
