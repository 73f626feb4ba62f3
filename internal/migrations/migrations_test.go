package migrations_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/migrations"
	"github.com/fluxbase/fluxbase/internal/testutil/syncbuf"
)

func TestEmbeddedMigrationsAreWellFormed(t *testing.T) {
	t.Parallel()
	ms, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 3 || ms[0].Version != 1 || ms[1].Version != 2 || ms[2].Version != 3 {
		t.Fatalf("expected 0001..0003 first, got %+v", ms)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].Version <= ms[i-1].Version {
			t.Fatalf("versions out of order: %d after %d", ms[i].Version, ms[i-1].Version)
		}
	}
	for _, m := range ms {
		if strings.TrimSpace(m.SQL) == "" || len(m.Checksum) != 64 {
			t.Errorf("%s: empty or bad checksum", m.File)
		}
	}
	fp := migrations.Fingerprint()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(fp) || fp != migrations.Fingerprint() {
		t.Fatalf("fingerprint %q is not a stable sha256", fp)
	}
}

// TestApplyConcurrentlyOnAFreshDatabase starts three "instances" (separate
// pools) at once on an empty database: every migration must be applied
// exactly once and none of them may fail.
func TestApplyConcurrentlyOnAFreshDatabase(t *testing.T) {
	t.Parallel()
	dsn := emptyDB(t)
	ctx := context.Background()
	ms, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	log, logs := syncbuf.Logger(t)
	pools := []*pgxpool.Pool{openPool(t, dsn), openPool(t, dsn), openPool(t, dsn)}
	var wg sync.WaitGroup
	errs := make([]error, len(pools))
	start := make(chan struct{})
	for i, p := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = migrations.Apply(ctx, p, log)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	if n := strings.Count(logs.String(), `msg="applied migration"`); n != len(ms) {
		t.Fatalf("%d migrations applied across three instances, want %d (each exactly once)", n, len(ms))
	}
	rows, err := pools[0].Query(ctx, `select version, checksum from fluxbase.schema_migrations order by version`)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		Version  int
		Checksum string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[rec])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ms) {
		t.Fatalf("%d rows in schema_migrations, want %d", len(got), len(ms))
	}
	for i, m := range ms {
		if got[i].Version != m.Version || got[i].Checksum != m.Checksum {
			t.Errorf("row %d = %+v, want version %d checksum %s", i, got[i], m.Version, m.Checksum)
		}
	}

	// A later start has nothing to do.
	if err := migrations.Apply(ctx, pools[1], log); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), `msg="applied migration"`); n != len(ms) {
		t.Fatalf("a second Apply re-ran migrations (%d applied in total)", n)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := emptyPool(t)
	ms, _ := migrations.All()

	st := status(t, pool)
	if len(st) != len(ms) {
		t.Fatalf("%d status rows, want %d", len(st), len(ms))
	}
	for _, r := range st {
		if r.State() != "pending" {
			t.Fatalf("fresh database: %+v", r)
		}
	}
	var created bool
	if err := pool.QueryRow(ctx, `select to_regnamespace('fluxbase') is not null`).Scan(&created); err != nil || created {
		t.Fatalf("Status must not create anything (schema fluxbase exists: %v, %v)", created, err)
	}

	if err := migrations.Apply(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	for i, r := range status(t, pool) {
		if r.State() != "applied" || r.AppliedAt.IsZero() || r.Version != ms[i].Version || r.Name != ms[i].Name {
			t.Fatalf("after Apply: %+v", r)
		}
	}
}

func TestApplyRefusesAChangedMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := appliedDB(t)
	// As if the shipped 0002 had been edited after this database ran it.
	if _, err := pool.Exec(ctx, `update fluxbase.schema_migrations set checksum = 'edited' where version = 2`); err != nil {
		t.Fatal(err)
	}
	err := migrations.Apply(ctx, pool, nil)
	var ce *migrations.ChecksumError
	if !errors.As(err, &ce) || ce.File != "0002_auth_helpers.sql" {
		t.Fatalf("got %v, want a ChecksumError for 0002_auth_helpers.sql", err)
	}
	if st := status(t, pool); st[1].State() != "changed" {
		t.Fatalf("status of 0002: %s", st[1].State())
	}
}

func TestApplyToleratesNewerMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := appliedDB(t)
	if _, err := pool.Exec(ctx, `insert into fluxbase.schema_migrations (version, name, checksum) values (9999, 'from_the_future', 'x')`); err != nil {
		t.Fatal(err)
	}
	log, logs := syncbuf.Logger(t)
	if err := migrations.Apply(ctx, pool, log); err != nil {
		t.Fatalf("a newer schema must not stop an older binary: %v", err)
	}
	if strings.Count(logs.String(), "does not know") != 1 {
		t.Fatal("the unknown migration was not reported")
	}
	st := status(t, pool)
	if last := st[len(st)-1]; last.Version != 9999 || last.State() != "unknown" {
		t.Fatalf("last status row: %+v", last)
	}
}

func TestRolesSchemasAndPrivileges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := appliedDB(t)
	type role struct {
		login, inherit, bypass bool
	}
	want := map[string]role{
		"anon":          {false, false, false},
		"authenticated": {false, false, false},
		"service_role":  {false, false, true},
		"authenticator": {true, false, false},
	}
	for name, w := range want {
		var got role
		err := pool.QueryRow(ctx, `select rolcanlogin, rolinherit, rolbypassrls from pg_roles where rolname = $1`, name).
			Scan(&got.login, &got.inherit, &got.bypass)
		if err != nil {
			t.Fatalf("role %s: %v", name, err)
		}
		if got != w {
			t.Errorf("role %s = %+v, want %+v", name, got, w)
		}
	}

	checks := []struct {
		query string
		want  bool
	}{
		{`select pg_has_role('authenticator', 'anon', 'MEMBER')`, true},
		{`select pg_has_role('authenticator', 'authenticated', 'MEMBER')`, true},
		{`select pg_has_role('authenticator', 'service_role', 'MEMBER')`, true},
		// NOINHERIT: membership gives the right to switch, not privileges.
		{`select pg_has_role('authenticator', 'service_role', 'USAGE')`, false},
		{`select count(*) = 4 from pg_namespace where nspname in ('auth', 'storage', 'realtime', 'fluxbase')`, true},
		{`select has_schema_privilege('anon', 'auth', 'USAGE')`, true},
		{`select has_schema_privilege('authenticated', 'storage', 'USAGE')`, true},
		{`select has_schema_privilege('service_role', 'realtime', 'USAGE')`, true},
		// The request roles may use the fluxbase schema only to call the
		// functions granted to them (the REST engine's planned count); its
		// tables and every other function stay the owner's.
		{`select has_schema_privilege('anon', 'fluxbase', 'USAGE')`, true},
		{`select has_function_privilege('anon', 'fluxbase.rest_planned_count(text, text[])', 'EXECUTE')`, true},
		{`select count(*) = 0 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
		   where n.nspname = 'fluxbase' and p.proname <> 'rest_planned_count'
		     and (has_function_privilege('anon', p.oid, 'EXECUTE') or has_function_privilege('authenticated', p.oid, 'EXECUTE'))`, true},
		{`select count(*) = 0 from pg_class c join pg_namespace n on n.oid = c.relnamespace
		   where n.nspname = 'fluxbase' and c.relkind in ('r', 'p', 'v', 'm', 'S')
		     and (has_table_privilege('anon', c.oid, 'SELECT') or has_table_privilege('service_role', c.oid, 'SELECT'))`, true},
		{`select has_table_privilege('service_role', 'fluxbase.secrets', 'SELECT')`, false},
		{`select has_table_privilege('authenticator', 'fluxbase.secrets', 'SELECT')`, false},
		{`select has_schema_privilege('anon', 'public', 'USAGE')`, true},
		{`select has_function_privilege('anon', 'auth.uid()', 'EXECUTE')`, true},
	}
	for _, c := range checks {
		var got bool
		if err := pool.QueryRow(ctx, c.query).Scan(&got); err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		if got != c.want {
			t.Errorf("%s = %v, want %v", c.query, got, c.want)
		}
	}

	// Supabase's model: what the owner creates in public is usable by the
	// API roles, and row level security decides which rows.
	if _, err := pool.Exec(ctx, `create table public.todos (id bigserial primary key, title text)`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`select has_table_privilege('anon', 'public.todos', 'SELECT')`,
		`select has_table_privilege('authenticated', 'public.todos', 'INSERT')`,
		`select has_sequence_privilege('authenticated', 'public.todos_id_seq', 'USAGE')`,
	} {
		var ok bool
		if err := pool.QueryRow(ctx, q).Scan(&ok); err != nil || !ok {
			t.Errorf("%s = %v (%v), want true", q, ok, err)
		}
	}
}

func TestAuthHelpers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := appliedDB(t)
	const uid = "0b6f7c3e-1c8e-4a55-9a63-3f0e7b6a2c11"
	cases := []struct {
		name     string
		settings map[string]string
		want     [4]string // uid, role, email, jwt ("<null>" for NULL)
	}{
		{"nothing set", nil, [4]string{"<null>", "<null>", "<null>", "<null>"}},
		{"empty claims", map[string]string{"request.jwt.claims": ""}, [4]string{"<null>", "<null>", "<null>", "<null>"}},
		{"claims", map[string]string{"request.jwt.claims": `{"sub":"` + uid + `","role":"authenticated","email":"a@b.c"}`},
			[4]string{uid, "authenticated", "a@b.c", `{"sub": "` + uid + `", "role": "authenticated", "email": "a@b.c"}`}},
		{"legacy settings", map[string]string{"request.jwt.claim.sub": uid, "request.jwt.claim.role": "anon", "request.jwt.claim.email": "x@y.z"},
			[4]string{uid, "anon", "x@y.z", "<null>"}},
		{"legacy whole claim", map[string]string{"request.jwt.claim": `{"role":"anon"}`}, [4]string{"<null>", "<null>", "<null>", `{"role": "anon"}`}},
		{"claims win over legacy", map[string]string{"request.jwt.claims": `{"role":"authenticated"}`, "request.jwt.claim.role": "anon"},
			[4]string{"<null>", "authenticated", "<null>", `{"role": "authenticated"}`}},
		{"sub that is not a uuid", map[string]string{"request.jwt.claims": `{"sub":"service-account-7"}`},
			[4]string{"<null>", "<null>", "<null>", `{"sub": "service-account-7"}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			for k, v := range c.settings {
				if _, err := tx.Exec(ctx, `select set_config($1, $2, true)`, k, v); err != nil {
					t.Fatal(err)
				}
			}
			var got [4]string
			err = tx.QueryRow(ctx, `select coalesce(auth.uid()::text, '<null>'), coalesce(auth.role(), '<null>'),
				coalesce(auth.email(), '<null>'), coalesce(auth.jwt()::text, '<null>')`).Scan(&got[0], &got[1], &got[2], &got[3])
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}
