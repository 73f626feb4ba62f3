package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/migrations"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func strs(t *testing.T, pool *pgxpool.Pool, q string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func relationExists(t *testing.T, pool *pgxpool.Pool, name string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(context.Background(), `select to_regclass($1) is not null`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestApplyUserRunsFilesInOrderOnce(t *testing.T) {
	t.Parallel()
	pool := migratedDB(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"0010_c.sql": `insert into steps (v) values ('c');`,
		"0002_b.sql": `insert into steps (v) values ('b1'); insert into steps (v) values ('b2');`,
		"0001_a.sql": "create table steps (n serial primary key, v text not null);\n-- several statements, one transaction\ncreate index on steps (v);\n",
		// Not migrations:
		"README.md":          "notes",
		".0000_hidden.sql":   "this is not sql",
		"archive/0003_x.sql": "this is not sql either",
	})

	applied, err := migrations.ApplyUser(ctx, pool, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(applied); got != "[0001_a.sql 0002_b.sql 0010_c.sql]" {
		t.Fatalf("applied %s", got)
	}
	if got := fmt.Sprint(strs(t, pool, `select v from steps order by n`)); got != "[b1 b2 c]" {
		t.Fatalf("rows %s: files ran out of order", got)
	}

	applied, err = migrations.ApplyUser(ctx, pool, dir, nil)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second run applied %v (%v), want nothing", applied, err)
	}
	if got := fmt.Sprint(strs(t, pool, `select v from steps order by n`)); got != "[b1 b2 c]" {
		t.Fatalf("rows after a second run %s", got)
	}

	writeFiles(t, dir, map[string]string{"0011_d.sql": `insert into steps (v) values ('d');`})
	st, err := migrations.UserStatus(ctx, pool, dir)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, r := range st {
		states = append(states, r.Name+"="+r.State())
	}
	if got := strings.Join(states, " "); got != "0001_a.sql=applied 0002_b.sql=applied 0010_c.sql=applied 0011_d.sql=pending" {
		t.Fatalf("status: %s", got)
	}
	applied, err = migrations.ApplyUser(ctx, pool, dir, nil)
	if err != nil || fmt.Sprint(applied) != "[0011_d.sql]" {
		t.Fatalf("applied %v (%v), want [0011_d.sql]", applied, err)
	}
}

func TestApplyUserStopsAtAFailingFile(t *testing.T) {
	t.Parallel()
	pool := migratedDB(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"20240101000000_ok.sql": `create table first_ok (id int);`,
		// The error is on line 4; the comment before it has multi-byte
		// characters, which PostgreSQL counts as one position each.
		"20240102000000_broken.sql": "create table half_done (id int);\n" +
			"-- données, 日本語\n" +
			"insert into half_done values (1);\n" +
			"select id from  missing_table;\n",
		"20240103000000_after.sql": `create table never_created (id int);`,
	})
	applied, err := migrations.ApplyUser(ctx, pool, dir, nil)
	if fmt.Sprint(applied) != "[20240101000000_ok.sql]" {
		t.Fatalf("applied %v, want only the file before the failure", applied)
	}
	var me *migrations.UserMigrationError
	if !errors.As(err, &me) {
		t.Fatalf("got %v, want a *UserMigrationError", err)
	}
	wantFile := filepath.Join(dir, "20240102000000_broken.sql")
	if me.File != wantFile || me.Line != 4 || me.Column != 17 {
		t.Fatalf("error at %s:%d:%d, want %s:4:17", me.File, me.Line, me.Column, wantFile)
	}
	msg := err.Error()
	for _, want := range []string{wantFile + ":4:17", `relation "missing_table" does not exist`, "42P01"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P01" {
		t.Errorf("the PostgreSQL error is not reachable: %v", err)
	}
	if relationExists(t, pool, "half_done") || relationExists(t, pool, "never_created") || !relationExists(t, pool, "first_ok") {
		t.Fatal("the failing file must roll back entirely and later files must not run")
	}

	// Detail and hint are part of the message.
	dir2 := t.TempDir()
	writeFiles(t, dir2, map[string]string{"0001_raise.sql": `do $$ begin raise exception 'nope' using detail = 'the detail', hint = 'the hint'; end $$;`})
	_, err = migrations.ApplyUser(ctx, pool, dir2, nil)
	if err == nil || !strings.Contains(err.Error(), "0001_raise.sql") || !strings.Contains(err.Error(), "nope") ||
		!strings.Contains(err.Error(), "detail: the detail") || !strings.Contains(err.Error(), "hint: the hint") {
		t.Fatalf("got %v", err)
	}

	// A file that commits by itself breaks the one-transaction guarantee:
	// refused, and not recorded as applied.
	dir3 := t.TempDir()
	writeFiles(t, dir3, map[string]string{"0001_commits.sql": "create table c1 (id int);\ncommit;\ncreate table c2 (id int);\n"})
	_, err = migrations.ApplyUser(ctx, pool, dir3, nil)
	if err == nil || !strings.Contains(err.Error(), "0001_commits.sql") || !strings.Contains(err.Error(), "COMMIT") {
		t.Fatalf("got %v", err)
	}
	var recorded bool
	if err := pool.QueryRow(ctx, `select exists (select 1 from fluxbase.user_migrations where name = '0001_commits.sql')`).Scan(&recorded); err != nil || recorded {
		t.Fatalf("recorded=%v err=%v", recorded, err)
	}
}

func TestApplyUserRefusesChangedFiles(t *testing.T) {
	t.Parallel()
	pool := migratedDB(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"0001_a.sql": `create table a (id int);`})
	if _, err := migrations.ApplyUser(ctx, pool, dir, nil); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"0001_a.sql": `create table a (id bigint);`,
		"0002_b.sql": `create table b (id int);`,
	})
	applied, err := migrations.ApplyUser(ctx, pool, dir, nil)
	var ce *migrations.ChecksumError
	if !errors.As(err, &ce) || ce.File != filepath.Join(dir, "0001_a.sql") {
		t.Fatalf("got %v, want a ChecksumError naming 0001_a.sql", err)
	}
	if len(applied) != 0 || relationExists(t, pool, "b") {
		t.Fatal("nothing may run once an applied file has changed")
	}
	st, err := migrations.UserStatus(ctx, pool, dir)
	if err != nil {
		t.Fatal(err)
	}
	if st[0].State() != "changed" || st[1].State() != "pending" {
		t.Fatalf("status %+v", st)
	}

	// A file removed after it was applied shows as missing.
	if err := os.Remove(filepath.Join(dir, "0001_a.sql")); err != nil {
		t.Fatal(err)
	}
	st, err = migrations.UserStatus(ctx, pool, dir)
	if err != nil || st[0].Name != "0001_a.sql" || st[0].State() != "missing" {
		t.Fatalf("status %+v (%v)", st, err)
	}
}

func TestApplyUserDirectoryErrors(t *testing.T) {
	t.Parallel()
	pool := migratedDB(t)
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := migrations.ApplyUser(ctx, pool, missing, nil)
	if !errors.Is(err, migrations.ErrNoMigrationsDir) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing dir: %v", err)
	}
	if _, err := migrations.UserStatus(ctx, pool, missing); !errors.Is(err, migrations.ErrNoMigrationsDir) {
		t.Fatalf("status of a missing dir: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file.sql")
	writeFiles(t, filepath.Dir(file), map[string]string{"file.sql": "select 1"})
	if _, err := migrations.ApplyUser(ctx, pool, file, nil); err == nil || errors.Is(err, migrations.ErrNoMigrationsDir) {
		t.Fatalf("a file as dir: %v", err)
	}
	empty := t.TempDir()
	if applied, err := migrations.ApplyUser(ctx, pool, empty, nil); err != nil || len(applied) != 0 {
		t.Fatalf("empty dir: %v %v", applied, err)
	}
}

func TestApplyUserConcurrently(t *testing.T) {
	t.Parallel()
	dsn := migratedDSN(t)
	ctx := context.Background()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"0001_counter.sql": `create table runs (file text);`,
		"0002_once.sql":    `insert into runs values ('0002');`,
		"0003_once.sql":    `insert into runs values ('0003');`,
	})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		p := openPool(t, dsn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = migrations.ApplyUser(ctx, p, dir, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	if got := fmt.Sprint(strs(t, openPool(t, dsn), `select file from runs order by file`)); got != "[0002 0003]" {
		t.Fatalf("runs %s, want each file exactly once", got)
	}
}
