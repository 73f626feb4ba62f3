package pg_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/migrations"
	"github.com/fluxbase/fluxbase/internal/pg"
	"github.com/fluxbase/fluxbase/internal/testutil/syncbuf"
	"github.com/fluxbase/fluxbase/internal/testutil/tempdir"
)

// burst runs n concurrent read-only requests and returns their errors.
func burst(db *pg.DB, n int) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			errs[i] = db.InRequestTx(ctx, pg.Request{Role: "anon", ReadOnly: true}, func(ctx context.Context, tx pg.Tx) error {
				var one int
				return tx.QueryRow(ctx, "select 1 from pg_sleep(0.02)").Scan(&one)
			})
		}()
	}
	wg.Wait()
	return errs
}

// TestRequestsRecoverFromKilledConnections terminates every API session of
// a pool and immediately sends requests: pgxpool does not ping connections
// idle for less than a second, so the requests meet dead connections and
// must retry by themselves.
func TestRequestsRecoverFromKilledConnections(t *testing.T) {
	t.Parallel()
	_, dsn := newDB(t)
	ctx := context.Background()
	log, logs := syncbuf.Logger(t)
	db := connectAPI(t, config.DatabaseConfig{MaxConns: 12}, dsn, log)
	defer db.Close()
	requireNoErrors(t, "warm-up", burst(db, 8))
	var pids []uint32
	for _, c := range db.API.AcquireAllIdle(ctx) {
		pids = append(pids, c.Conn().PgConn().PID())
		c.Release()
	}
	if len(pids) < 2 {
		t.Fatalf("expected several idle API connections, got %d", len(pids))
	}
	if _, err := db.Admin.Exec(ctx, `select pg_terminate_backend(pid::int) from unnest($1::int8[]) as pid`, pids); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the terminations land
	requireNoErrors(t, "right after the sessions were killed", burst(db, 8))
	if !strings.Contains(logs.String(), "retrying the start of a request transaction") {
		t.Fatalf("no request met a dead connection; the test did not exercise the retry. Logs:\n%s", logs)
	}
}

// TestRequestsRecoverAfterPostgresRestart restarts a private PostgreSQL
// under a running pool: requests during the outage fail fast with 503, and
// the first requests after it succeed.
func TestRequestsRecoverAfterPostgresRestart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts its own PostgreSQL")
	}
	ctx := context.Background()
	opts := pg.EmbeddedOptions{DataDir: filepath.Join(tempdir.Traversable(t), "pg"), Port: freePort(t)}
	log, _ := syncbuf.Logger(t)
	emb, err := pg.StartEmbedded(ctx, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emb.Stop(context.Background()) })

	db, err := pg.Connect(ctx, config.DatabaseConfig{MaxConns: 12}, emb.DSN(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrations.Apply(ctx, db.Admin, log); err != nil {
		t.Fatal(err)
	}
	if err := db.ConnectAPI(ctx); err != nil {
		t.Fatal(err)
	}
	requireNoErrors(t, "before the restart", burst(db, 8))

	if err := emb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	errs := burst(db, 4)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("requests during the outage took %s; they must fail fast", d)
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("a request succeeded while PostgreSQL was down")
		}
		if he := pg.ErrorFrom(err); he.Status != 503 || he.Code != pg.CodeDatabaseUnavailable {
			t.Fatalf("outage maps to %d %s (%v), want 503 %s", he.Status, he.Code, err, pg.CodeDatabaseUnavailable)
		}
	}

	emb2, err := pg.StartEmbedded(ctx, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emb2.Stop(context.Background()) })
	requireNoErrors(t, "first requests after the restart", burst(db, 8))
	if _, err := db.Ping(ctx); err != nil {
		t.Fatalf("admin pool after the restart: %v", err)
	}
}
