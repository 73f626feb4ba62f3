package pg_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/httpx"
	"github.com/fluxbase/fluxbase/internal/pg"
)

const (
	userA = "5b0c8a4e-4c1a-4a7e-9d3f-1f2e3d4c5b6a"
	userB = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4"
)

func claims(sub, role, email string) []byte {
	return fmt.Appendf(nil, `{"sub":%q,"role":%q,"email":%q,"aal":"aal1"}`, sub, role, email)
}

func TestInRequestTxSwitchesRoleAndPublishesRequest(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	legacyDB := newLegacyDB(t)
	req := pg.Request{
		Role:    "authenticated",
		Claims:  claims(userA, "authenticated", "a@example.com"),
		Method:  "PATCH",
		Path:    "/rest/v1/notes",
		Headers: []byte(`{"x-test":"yes","user-agent":"go"}`),
		Cookies: []byte(`{"session":"s1"}`),
	}
	// The same, with the legacy claims and the headers' validity given by
	// the caller (as identity.PGRequest does).
	given := req
	given.LegacyClaims = pg.LegacyClaims{Sub: userA, Role: "authenticated", Email: "a@example.com", Known: true}
	given.HeadersValid = true
	for _, req := range []pg.Request{req, given} {
		checkRequestSettings(t, db, req, false)
		checkRequestSettings(t, legacyDB, req, true)
	}
}

// checkRequestSettings checks what req's transaction sees; legacy says
// whether db sets the request.jwt.claim.* settings.
func checkRequestSettings(t *testing.T, db *pg.DB, req pg.Request, legacy bool) {
	t.Helper()
	ctx := context.Background()
	err := db.InRequestTx(ctx, req, func(ctx context.Context, tx pg.Tx) error {
		var (
			currentUser, sessionUser, uid, role, email, jwtSub, method, path, header, cookie string
			legacySub, legacyRole, legacyEmail, readOnly, iso                                string
		)
		err := tx.QueryRow(ctx, `select current_user, session_user, auth.uid()::text, auth.role(), auth.email(),
			auth.jwt()->>'sub', current_setting('request.method'), current_setting('request.path'),
			current_setting('request.headers')::jsonb->>'x-test',
			current_setting('request.cookies')::jsonb->>'session',
			coalesce(current_setting('request.jwt.claim.sub', true), ''),
			coalesce(current_setting('request.jwt.claim.role', true), ''),
			coalesce(current_setting('request.jwt.claim.email', true), ''),
			current_setting('transaction_read_only'), current_setting('transaction_isolation')`).
			Scan(&currentUser, &sessionUser, &uid, &role, &email, &jwtSub, &method, &path, &header, &cookie,
				&legacySub, &legacyRole, &legacyEmail, &readOnly, &iso)
		if err != nil {
			return err
		}
		check := func(name, got, want string) {
			t.Helper()
			if got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		check("current_user", currentUser, "authenticated")
		check("session_user", sessionUser, pg.DefaultAuthenticatorRole)
		check("auth.uid()", uid, userA)
		check("auth.role()", role, "authenticated")
		check("auth.email()", email, "a@example.com")
		check("auth.jwt()->>'sub'", jwtSub, userA)
		check("request.method", method, "PATCH")
		check("request.path", path, "/rest/v1/notes")
		check("request.headers x-test", header, "yes")
		check("request.cookies session", cookie, "s1")
		if legacy {
			check("request.jwt.claim.sub", legacySub, userA)
			check("request.jwt.claim.role", legacyRole, "authenticated")
			check("request.jwt.claim.email", legacyEmail, "a@example.com")
		} else {
			check("request.jwt.claim.sub (not set)", legacySub, "")
			check("request.jwt.claim.role (not set)", legacyRole, "")
			check("request.jwt.claim.email (not set)", legacyEmail, "")
		}
		check("transaction_read_only", readOnly, "off")
		check("transaction_isolation", iso, "read committed")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInRequestTxAnonymousWithoutClaims(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	err := db.InRequestTx(context.Background(), pg.Request{Role: "anon", Method: "GET", Path: "/", ReadOnly: true},
		func(ctx context.Context, tx pg.Tx) error {
			var user string
			var uid, role, email *string
			var jwt, headers, cookies string
			err := tx.QueryRow(ctx, `select current_user, auth.uid()::text, auth.role(), auth.email(), auth.jwt()::text,
				current_setting('request.headers'), current_setting('request.cookies')`).Scan(&user, &uid, &role, &email, &jwt, &headers, &cookies)
			if err != nil {
				return err
			}
			if user != "anon" || uid != nil || role != nil || email != nil || jwt != "{}" || headers != "{}" || cookies != "{}" {
				t.Errorf("anon without claims: user=%s uid=%v role=%v email=%v jwt=%s headers=%s cookies=%s", user, uid, role, email, jwt, headers, cookies)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInRequestTxReadOnlyRejectsWrites(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	mustExec(t, db, `create table ro_target (id int)`)
	err := db.InRequestTx(ctx, pg.Request{Role: "service_role", ReadOnly: true},
		func(ctx context.Context, tx pg.Tx) error {
			_, err := tx.Exec(ctx, `insert into ro_target values (1)`)
			return err
		})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "25006" {
		t.Fatalf("write in a read-only request: got %v, want SQLSTATE 25006", err)
	}
	if he := pg.ErrorFrom(err); he.Status != http.StatusMethodNotAllowed {
		t.Fatalf("25006 maps to %d, want 405", he.Status)
	}
	// The same write succeeds when the request is not read-only.
	err = db.InRequestTx(ctx, pg.Request{Role: "service_role"}, func(ctx context.Context, tx pg.Tx) error {
		_, err := tx.Exec(ctx, `insert into ro_target values (1)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestInRequestTxSettingsDoNotLeak runs requests and then inspects every
// idle API connection: none may keep the role or claims of a request.
func TestInRequestTxSettingsDoNotLeak(t *testing.T) {
	t.Parallel()
	db := newLegacyDB(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		err := db.InRequestTx(ctx, pg.Request{Role: "authenticated", Claims: claims(userA, "authenticated", "a@example.com"),
			Method: "POST", Path: "/x", Headers: []byte(`{"a":"b"}`)},
			func(ctx context.Context, tx pg.Tx) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	conns := db.API.AcquireAllIdle(ctx)
	if len(conns) == 0 {
		t.Fatal("no idle API connection to inspect")
	}
	for _, c := range conns {
		var user, claimsSetting, method, sub string
		err := c.QueryRow(ctx, `select current_user, current_setting('request.jwt.claims', true),
			current_setting('request.method', true), current_setting('request.jwt.claim.sub', true)`).
			Scan(&user, &claimsSetting, &method, &sub)
		c.Release()
		if err != nil {
			t.Fatal(err)
		}
		if user != pg.DefaultAuthenticatorRole || claimsSetting != "" || method != "" || sub != "" {
			t.Fatalf("settings leaked past the transaction: user=%s claims=%q method=%q sub=%q",
				user, claimsSetting, method, sub)
		}
	}
}

func TestRLSPoliciesSeeTheCallersClaims(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	mustExec(t, db, `create table notes (id serial primary key, owner uuid not null, body text not null);
		alter table notes enable row level security;
		create policy notes_owner on notes using (owner = auth.uid()) with check (owner = auth.uid())`)
	mustExec(t, db, `insert into notes (owner, body) values ($1, 'a1'), ($1, 'a2'), ($2, 'b1')`, userA, userB)

	bodies := func(req pg.Request) []string {
		t.Helper()
		var out []string
		err := db.InRequestTx(ctx, req, func(ctx context.Context, tx pg.Tx) error {
			rows, err := tx.Query(ctx, `select body from notes order by body`)
			if err != nil {
				return err
			}
			out, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", req.Role, err)
		}
		return out
	}
	asA := pg.Request{Role: "authenticated", Claims: claims(userA, "authenticated", "a@example.com"), ReadOnly: true}
	asB := pg.Request{Role: "authenticated", Claims: claims(userB, "authenticated", "b@example.com"), ReadOnly: true}
	for _, c := range []struct {
		name string
		req  pg.Request
		want string
	}{
		{"user A", asA, "[a1 a2]"},
		{"user B", asB, "[b1]"},
		{"anon", pg.Request{Role: "anon", ReadOnly: true}, "[]"},
		{"service_role bypasses RLS", pg.Request{Role: "service_role", Claims: []byte(`{"role":"service_role"}`), ReadOnly: true}, "[a1 a2 b1]"},
	} {
		if got := fmt.Sprint(bodies(c.req)); got != c.want {
			t.Errorf("%s sees %s, want %s", c.name, got, c.want)
		}
	}

	// The policy's WITH CHECK stops A from writing a row as B.
	err := db.InRequestTx(ctx, pg.Request{Role: "authenticated", Claims: claims(userA, "authenticated", "")},
		func(ctx context.Context, tx pg.Tx) error {
			_, err := tx.Exec(ctx, `insert into notes (owner, body) values ($1, 'forged')`, userB)
			return err
		})
	if he := pg.ErrorFromRole(err, "authenticated"); he == nil || he.Status != http.StatusForbidden || he.Code != "42501" {
		t.Fatalf("forged insert: got %v, want 403 42501", err)
	}
}

func TestInRequestTxRollsBackOnErrorAndPanic(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	mustExec(t, db, `create table rb (v text)`)
	insert := func(ctx context.Context, tx pg.Tx) {
		if _, err := tx.Exec(ctx, `insert into rb values ('x')`); err != nil {
			t.Fatal(err)
		}
	}
	sentinel := errors.New("handler failed")
	err := db.InRequestTx(ctx, pg.Request{Role: "service_role"}, func(ctx context.Context, tx pg.Tx) error {
		insert(ctx, tx)
		return sentinel
	})
	if err != sentinel {
		t.Fatalf("fn's error must be returned as is, got %v", err)
	}

	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("the panic must propagate unchanged, got %v", p)
			}
		}()
		_ = db.InRequestTx(ctx, pg.Request{Role: "service_role"}, func(ctx context.Context, tx pg.Tx) error {
			insert(ctx, tx)
			panic("boom")
		})
	}()

	var n int
	if err := db.Admin.QueryRow(ctx, `select count(*) from rb`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d rows survived a failed request", n)
	}
	// The pool is healthy after both: a committed request goes through.
	if err := db.InRequestTx(ctx, pg.Request{Role: "service_role"}, func(ctx context.Context, tx pg.Tx) error {
		insert(ctx, tx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Admin.QueryRow(ctx, `select count(*) from rb`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("commit: n=%d err=%v", n, err)
	}
}

// TestInRequestTxAbortedCommitIsAnError: when fn swallows a failed
// statement and returns nil, PostgreSQL turns the COMMIT into a ROLLBACK;
// InRequestTx must report that instead of pretending the writes landed.
func TestInRequestTxAbortedCommitIsAnError(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	mustExec(t, db, `create table ac (v int primary key)`)
	err := db.InRequestTx(ctx, pg.Request{Role: "service_role"}, func(ctx context.Context, tx pg.Tx) error {
		if _, err := tx.Exec(ctx, `insert into ac values (1)`); err != nil {
			return err
		}
		_, _ = tx.Exec(ctx, `insert into ac values (1)`) // duplicate key, ignored
		return nil
	})
	if !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("err = %v, want pgx.ErrTxCommitRollback", err)
	}
	var n int
	if err := db.Admin.QueryRow(ctx, `select count(*) from ac`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows after a rolled-back commit: n=%d err=%v", n, err)
	}
}

func TestInRequestTxRejectsBadRoles(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	noop := func(ctx context.Context, tx pg.Tx) error { return nil }
	cases := []struct {
		role       string
		wantStatus int
		wantCode   string
	}{
		{"", 401, "invalid_role"},
		{`anon"; drop table x; --`, 401, "invalid_role"},
		{"no_such_role_fb", 401, "22023"},
		// Exists, but the authenticator is not a member: cannot switch.
		{"pg_read_all_data", 403, "42501"},
	}
	for _, c := range cases {
		err := db.InRequestTx(ctx, pg.Request{Role: c.role}, noop)
		var he *httpx.Error
		if !errors.As(err, &he) || he.Status != c.wantStatus || he.Code != c.wantCode {
			t.Errorf("role %q: got %v, want %d %s", c.role, err, c.wantStatus, c.wantCode)
		}
		if he != nil && pg.ErrorFrom(err) != he {
			t.Errorf("role %q: ErrorFrom must keep the *httpx.Error", c.role)
		}
	}
	if err := db.InRequestTx(ctx, pg.Request{Role: "anon", Claims: []byte(`{"sub":`)}, noop); err == nil {
		t.Error("malformed claims must be refused")
	}
}

// TestAuthenticatorHasNoPrivilegesOfItsOwn logs in as the authenticator
// without switching role: it must not read user tables nor Fluxbase's
// secrets, so a request that skipped the switch would fail closed.
func TestAuthenticatorHasNoPrivilegesOfItsOwn(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	mustExec(t, db, `create table private_stuff (v text); insert into private_stuff values ('secret')`)
	conn, err := db.API.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var user string
	if err := conn.QueryRow(ctx, `select current_user`).Scan(&user); err != nil || user != pg.DefaultAuthenticatorRole {
		t.Fatalf("API pool logs in as %q (%v)", user, err)
	}
	for _, q := range []string{`select * from private_stuff`, `select * from fluxbase.secrets`, `insert into private_stuff values ('x')`} {
		_, err := conn.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s as the authenticator: got %v, want permission denied (42501)", q, err)
		}
	}
}

func TestInRequestTxStatementTimeout(t *testing.T) {
	t.Parallel()
	_, dsn := newDB(t)
	ctx := context.Background()
	db, err := pg.Connect(ctx, config.DatabaseConfig{StatementTimeout: 100 * time.Millisecond}, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.ConnectAPI(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = db.InRequestTx(ctx, pg.Request{Role: "anon", ReadOnly: true}, func(ctx context.Context, tx pg.Tx) error {
		_, err := tx.Exec(ctx, `select pg_sleep(2)`)
		return err
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("got %v, want a statement timeout (57014)", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the statement ran %s despite a 100ms timeout", d)
	}
}

func mustExec(t *testing.T, db *pg.DB, sql string, args ...any) {
	t.Helper()
	if _, err := db.Admin.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}
