package pg_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// freePort returns a loopback port nothing listens on (at the moment).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// withHostPort rewrites the host and port of a URL DSN.
func withHostPort(t *testing.T, dsn string, port int) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return u.String()
}

func serverAddr(t *testing.T, dsn string) string {
	t.Helper()
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
}

// proxy forwards connections on port to target until the test ends.
func proxy(t *testing.T, port int, target string) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(s, c); done <- struct{}{} }()
				go func() { io.Copy(c, s); done <- struct{}{} }()
				<-done
			}()
		}
	}()
}

// TestConnectWaitsForTheServer starts Connect before anything listens and
// the server "comes up" half a second later.
func TestConnectWaitsForTheServer(t *testing.T) {
	t.Parallel()
	_, dsn := newDB(t)
	port := freePort(t)
	late := withHostPort(t, dsn, port)

	type result struct {
		db  *pg.DB
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		db, err := pg.Connect(context.Background(), config.DatabaseConfig{URL: late, ConnectTimeout: 10 * time.Second}, late, nil)
		done <- result{db, err}
	}()
	time.Sleep(600 * time.Millisecond)
	proxy(t, port, serverAddr(t, dsn))
	r := <-done
	if r.err != nil {
		t.Fatalf("Connect gave up although the server came up: %v", r.err)
	}
	defer r.db.Close()
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("Connect returned after %s, before the server was up", d)
	}
	if _, err := r.db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConnectGivesUpWithOneClearLine(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	dsn := "postgres://fb_user:hunter2secret@127.0.0.1:" + strconv.Itoa(port) + "/appdb"
	start := time.Now()
	_, err := pg.Connect(context.Background(), config.DatabaseConfig{URL: dsn, ConnectTimeout: time.Second}, dsn, nil)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	msg := err.Error()
	want := `cannot reach PostgreSQL at 127.0.0.1:` + strconv.Itoa(port) + ` (database "appdb", user "fb_user") within 1s: connection refused; check the host and port in DATABASE_URL`
	if !strings.HasPrefix(msg, want) {
		t.Errorf("message:\n %s\nwant prefix:\n %s", msg, want)
	}
	if strings.Contains(msg, "hunter2secret") || strings.Contains(msg, "\n") {
		t.Errorf("message must be one line without the password: %q", msg)
	}
	if elapsed < 800*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("gave up after %s with a 1s timeout", elapsed)
	}
}

func TestConnectFailsAtOnceOnPermanentErrors(t *testing.T) {
	t.Parallel()
	_, dsn := newDB(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	badPassword := *u
	badPassword.User = url.UserPassword(u.User.Username(), "definitely-wrong")
	noDB := *u
	noDB.Path = "/no_such_database_fb"
	for _, c := range []struct {
		name, dsn, want string
	}{
		{"wrong password", badPassword.String(), `rejected the password of user "` + u.User.Username() + `"`},
		{"missing database", noDB.String(), `database "no_such_database_fb" does not exist`},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := pg.Connect(context.Background(), config.DatabaseConfig{URL: c.dsn, ConnectTimeout: 10 * time.Second}, c.dsn, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "definitely-wrong") {
				t.Fatalf("error leaks the password: %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %s: permanent errors must not be retried", d)
			}
		})
	}
}

// TestConnectAPIReplicasAgree opens three instances on one database at once:
// all must log in with the same stored secret.
func TestConnectAPIReplicasAgree(t *testing.T) {
	t.Parallel()
	_, dsn := newDB(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := pg.Connect(ctx, config.DatabaseConfig{}, dsn, nil)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			if err := db.ConnectAPI(ctx); err != nil {
				errs[i] = err
				return
			}
			errs[i] = db.InRequestTx(ctx, pg.Request{Role: "anon", ReadOnly: true},
				func(ctx context.Context, tx pg.Tx) error { _, err := tx.Exec(ctx, "select 1"); return err })
		}()
	}
	wg.Wait()
	requireNoErrors(t, "an instance", errs)
}

// TestConnectAPICreatesAndRepairsItsRole uses a role of its own (roles are
// cluster-wide; other tests keep using the default one).
func TestConnectAPICreatesAndRepairsItsRole(t *testing.T) {
	t.Parallel()
	base, dsn := newDB(t)
	ctx := context.Background()
	role := tempRole(t, base.Admin, "fb_auth_")
	cfg := config.DatabaseConfig{AuthenticatorRole: role}

	whoami := func(db *pg.DB) string {
		t.Helper()
		var user string
		err := db.InRequestTx(ctx, pg.Request{Role: "authenticated"}, func(ctx context.Context, tx pg.Tx) error {
			return tx.QueryRow(ctx, "select session_user || '/' || current_user").Scan(&user)
		})
		if err != nil {
			t.Fatal(err)
		}
		return user
	}

	db1 := connectAPI(t, cfg, dsn, nil)
	if got := whoami(db1); got != role+"/authenticated" {
		t.Fatalf("session/current user %q", got)
	}
	var canLogin, inherit bool
	if err := base.Admin.QueryRow(ctx, `select rolcanlogin, rolinherit from pg_roles where rolname = $1`, role).Scan(&canLogin, &inherit); err != nil {
		t.Fatal(err)
	}
	if !canLogin || inherit {
		t.Fatalf("created role: login=%v inherit=%v, want LOGIN NOINHERIT", canLogin, inherit)
	}
	db1.Close()

	// Someone changes the password behind Fluxbase's back: the next start
	// puts the stored one back.
	if _, err := base.Admin.Exec(ctx, "alter role "+role+" password 'changed-elsewhere'"); err != nil {
		t.Fatal(err)
	}
	db2 := connectAPI(t, cfg, dsn, nil)
	defer db2.Close()
	if got := whoami(db2); got != role+"/authenticated" {
		t.Fatalf("after repair: %q", got)
	}
}

func TestConnectAPIRefusesPrivilegedRoles(t *testing.T) {
	t.Parallel()
	base, dsn := newDB(t)
	ctx := context.Background()
	admin := base.Admin.Config().ConnConfig.User
	for _, role := range []string{admin, "service_role"} {
		db, err := pg.Connect(ctx, config.DatabaseConfig{AuthenticatorRole: role}, dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.ConnectAPI(ctx)
		db.Close()
		if err == nil || !strings.Contains(err.Error(), "authenticator_role") {
			t.Errorf("authenticator_role %q: got %v, want a refusal", role, err)
		}
	}
	// And the admin's password still works.
	if _, err := base.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := pg.Connect(ctx, config.DatabaseConfig{}, dsn, nil)
	if err != nil {
		t.Fatalf("the admin can no longer log in: %v", err)
	}
	db.Close()
}

func TestPingStatsClose(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	d, err := db.Ping(ctx)
	if err != nil || d <= 0 {
		t.Fatalf("Ping = %s, %v", d, err)
	}
	s := db.Stats()
	if s.Admin == nil || s.API == nil || s.Admin.MaxConns() < 2 || s.API.MaxConns() < 2 {
		t.Fatalf("stats: %+v", s)
	}
	var app, path string
	if err := db.Admin.QueryRow(ctx, `select current_setting('application_name'), current_setting('search_path')`).Scan(&app, &path); err != nil {
		t.Fatal(err)
	}
	// Unqualified names mean public even for a login role named like one of
	// Fluxbase's schemas.
	if app != "fluxbase" || path != "public" {
		t.Fatalf("application_name = %q, search_path = %q", app, path)
	}
	db.Close()
	if _, err := db.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	} else if he := pg.ErrorFrom(err); he.Status != 503 {
		t.Fatalf("a closed pool maps to %d, want 503", he.Status)
	}
	// A closed pool will not come back: no retrying.
	start := time.Now()
	err = db.InRequestTx(ctx, pg.Request{Role: "anon"}, func(ctx context.Context, tx pg.Tx) error { return nil })
	if he := pg.ErrorFrom(err); err == nil || he.Status != 503 || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("request on a closed pool: %v after %s", err, time.Since(start))
	}
}

// TestAPISearchPath: the API pool's connections start with the search_path
// SetAPISearchPath gives, unless the DSN sets one; the admin pool keeps
// public.
func TestAPISearchPath(t *testing.T) {
	t.Parallel()
	_, dsn := newDB(t)
	ctx := context.Background()
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for i, c := range []struct{ dsn, api, admin string }{
		{dsn, `"public", "extensions", "Odd"`, "public"},
		{dsn + sep + "search_path=app", "app", "app"},
	} {
		db, err := pg.Connect(ctx, config.DatabaseConfig{}, c.dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.SetAPISearchPath([]string{"public", "extensions", "Odd"})
		if err := db.ConnectAPI(ctx); err != nil {
			db.Close()
			t.Fatal(err)
		}
		var api, admin string
		if err := db.API.QueryRow(ctx, "select current_setting('search_path')").Scan(&api); err != nil {
			t.Fatal(err)
		}
		if err := db.Admin.QueryRow(ctx, "select current_setting('search_path')").Scan(&admin); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if api != c.api || admin != c.admin {
			t.Errorf("case %d: API search_path %q, admin %q; want %q and %q", i, api, admin, c.api, c.admin)
		}
	}
}
