package testutil

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sys/unix"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/migrations"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// EnvPGDir, when set, is the directory of the shared test cluster instead
// of $TMPDIR/fluxbase-test-<uid>. Its parents must be searchable by the
// postgres OS user when tests run as root.
const EnvPGDir = "FLUXBASE_TEST_PG_DIR"

const (
	templatePrefix = "fluxbase_tmpl_"
	clonePrefix    = "t_"
	controlLock    = "control.lock"
	usersLock      = "users.lock"
	// controlWait bounds the wait for another test process that holds the
	// control lock while it starts the server or builds the template.
	controlWait = 5 * time.Minute
)

// TestDB is a fresh database cloned from the migrated template, dropped
// when the test ends.
type TestDB struct {
	// Name of the database.
	Name string
	// AdminDSN logs in to it as the cluster's superuser.
	AdminDSN string
	// DB has both pools open: Admin as the superuser, API as the
	// authenticator role (the stored secret is the template's).
	DB *pg.DB
}

// shared is process-wide because `go test` gives each package one process
// and NewDB has no other way to reach the cluster that Main set up.
var shared harness

// harness owns this process's use of the shared cluster.
type harness struct {
	mu       sync.Mutex
	inMain   bool
	started  bool
	err      error // first start failure, reported to every later NewDB
	dir      string
	users    *os.File // held LOCK_SH while this process uses the cluster
	server   *pg.Embedded
	admin    *pgxpool.Pool // maintenance connections, for CREATE/DROP DATABASE
	template string
	log      *slog.Logger
}

// Main runs the package's tests and then lets go of the shared PostgreSQL,
// stopping it when no other test process still uses it. Every package that
// calls NewDB needs:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
func Main(m *testing.M) {
	os.Exit(shared.main(m))
}

func (h *harness) main(m *testing.M) int {
	h.mu.Lock()
	h.inMain = true
	h.mu.Unlock()

	// An interrupted run (Ctrl-C reaches every test process) must not leave
	// the server running when this process was its last user.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case sig := <-sigs:
			_ = h.release()
			fmt.Fprintf(os.Stderr, "testutil: interrupted by %v\n", sig)
			os.Exit(130)
		case <-done:
		}
	}()

	code := m.Run()

	signal.Stop(sigs)
	close(done)
	wg.Wait()
	if err := h.release(); err != nil {
		fmt.Fprintf(os.Stderr, "testutil: releasing the shared PostgreSQL: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// NewDB returns a database of its own for the test, cloned from a template
// on which Fluxbase's migrations have run, with pools open. Safe for
// parallel tests. The first call in a process starts (or joins) the shared
// PostgreSQL server.
func NewDB(t testing.TB) *TestDB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h := &shared
	if err := h.ensure(ctx); err != nil {
		t.Fatalf("testutil: shared PostgreSQL: %v", err)
	}

	name := clonePrefix + randomHex(8)
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() +
		" TEMPLATE " + pgx.Identifier{h.template}.Sanitize() + " STRATEGY FILE_COPY"
	if _, err := h.admin.Exec(ctx, create); err != nil {
		t.Fatalf("testutil: clone template: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := dropDatabase(ctx, h.admin, name); err != nil {
			t.Errorf("testutil: drop test database %s: %v", name, err)
		}
	})

	dsn := h.server.DatabaseDSN(name)
	db, err := pg.Connect(ctx, testDatabaseConfig(), dsn, h.log)
	if err != nil {
		t.Fatalf("testutil: connect to test database: %v", err)
	}
	t.Cleanup(db.Close)
	if err := db.ConnectAPI(ctx); err != nil {
		t.Fatalf("testutil: open API pool: %v", err)
	}
	return &TestDB{Name: name, AdminDSN: dsn, DB: db}
}

// testDatabaseConfig keeps each test database's pools small: many run at
// once on one server.
func testDatabaseConfig() config.DatabaseConfig {
	return config.DatabaseConfig{
		AuthenticatorRole: pg.DefaultAuthenticatorRole,
		MaxConns:          6,
		ConnectTimeout:    30 * time.Second,
	}
}

// Dir is where the shared test cluster lives: one per user and source
// checkout. Roles are cluster-wide, so two checkouts whose migrations
// differ (two branches, say) would otherwise keep resetting each other's
// authenticator password.
func Dir() string {
	if d := os.Getenv(EnvPGDir); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("fluxbase-test-%d-%s", os.Geteuid(), checkoutID()))
}

// checkoutID is a short hash of the module's root directory.
func checkoutID() string {
	dir, err := os.Getwd()
	if err != nil {
		return "0"
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			dir = d
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	sum := sha256.Sum256([]byte(dir))
	return hex.EncodeToString(sum[:4])
}

func serverOptions(dir string) pg.EmbeddedOptions {
	return pg.EmbeddedOptions{
		DataDir: filepath.Join(dir, "pg"),
		Port:    0,
		Settings: map[string]string{
			// Test data is disposable: durability only costs time.
			"fsync":              "off",
			"synchronous_commit": "off",
			"full_page_writes":   "off",
			"max_connections":    "300",
		},
		StartTimeout: 2 * time.Minute,
		Detached:     true,
	}
}

// attachOptions bound the wait for a running server: one that does not
// answer within it is restarted rather than waited for.
func attachOptions(dir string) pg.EmbeddedOptions {
	o := serverOptions(dir)
	o.StartTimeout = 30 * time.Second
	return o
}

// ensure joins the shared cluster on first use: under the control lock it
// takes the users lock shared, adopts the running server or starts one
// detached (it outlives this process), and builds the template if this
// schema has none yet.
func (h *harness) ensure(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.inMain {
		return errors.New("NewDB needs testutil.Main: add `func TestMain(m *testing.M) { testutil.Main(m) }` to this package's tests")
	}
	if h.started || h.err != nil {
		return h.err
	}
	h.err = h.join(ctx)
	h.started = h.err == nil
	return h.err
}

func (h *harness) join(ctx context.Context) error {
	h.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h.dir = Dir()
	if err := prepareDir(h.dir); err != nil {
		return err
	}
	control, err := lockFile(ctx, filepath.Join(h.dir, controlLock), unix.LOCK_EX, controlWait)
	if err != nil {
		return err
	}
	defer control.Close()

	// From here on release() owns the users lock, even if the rest fails.
	h.users, err = lockFile(ctx, filepath.Join(h.dir, usersLock), unix.LOCK_SH, 10*time.Second)
	if err != nil {
		return err
	}
	h.server, err = pg.AttachEmbedded(ctx, attachOptions(h.dir), h.log)
	if err != nil {
		if !errors.Is(err, pg.ErrNotRunning) {
			h.log.Warn("the running test PostgreSQL is unusable; restarting it", "err", err)
		}
		// StartEmbedded shuts down whatever still runs on the directory.
		if h.server, err = pg.StartEmbedded(ctx, serverOptions(h.dir), h.log); err != nil {
			return err
		}
	}
	h.admin, err = pgxpool.New(ctx, h.server.DSN()+"&pool_max_conns=4")
	if err != nil {
		return err
	}
	h.template, err = ensureTemplate(ctx, h.server, h.admin, h.log)
	return err
}

func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	// Someone else's directory in a shared /tmp must not be trusted.
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, not to this user; remove it or set %s", dir, st.Uid, EnvPGDir)
	}
	// 0755 whatever the umask: when tests run as root the server runs as
	// the postgres OS user, who must traverse this directory.
	return os.Chmod(dir, 0o755)
}

// ensureTemplate returns the name of the template for the embedded
// migrations, creating it when missing. The caller holds the control lock,
// so no other process builds it at the same time; a template half built by
// a killed process is not marked as one and is rebuilt.
func ensureTemplate(ctx context.Context, server *pg.Embedded, admin *pgxpool.Pool, log *slog.Logger) (string, error) {
	fp := migrations.Fingerprint()
	if len(fp) > 12 {
		fp = fp[:12]
	}
	name := templatePrefix + fp
	ident := pgx.Identifier{name}.Sanitize()

	var isTemplate bool
	err := admin.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", name).Scan(&isTemplate)
	switch {
	case err == nil && isTemplate:
		return name, nil
	case err == nil:
		if _, err := admin.Exec(ctx, "DROP DATABASE "+ident+" WITH (FORCE)"); err != nil {
			return "", fmt.Errorf("drop incomplete template %s: %w", name, err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return "", fmt.Errorf("look up template %s: %w", name, err)
	}

	begin := time.Now()
	// The first template on a cluster sets the authenticator's password,
	// which the pool reports as a warning meant for production clusters.
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", fmt.Errorf("create template %s: %w", name, err)
	}
	db, err := pg.Connect(ctx, testDatabaseConfig(), server.DatabaseDSN(name), quiet)
	if err != nil {
		return "", fmt.Errorf("connect to template %s: %w", name, err)
	}
	err = migrations.Apply(ctx, db.Admin, quiet)
	if err == nil {
		// Creates the authenticator's secret once, so that every clone
		// shares it and none has to reset the cluster-wide role password.
		err = db.ConnectAPI(ctx)
	}
	db.Close()
	if err != nil {
		return "", fmt.Errorf("prepare template %s: %w", name, err)
	}
	// No connections: CREATE DATABASE ... TEMPLATE fails while anyone is
	// connected to the template.
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return "", fmt.Errorf("mark %s as template: %w", name, err)
	}
	log.Debug("built test template", "name", name, "duration_ms", time.Since(begin).Milliseconds())
	return name, nil
}

// release lets go of the cluster: under the control lock, if taking the
// users lock exclusively succeeds, no other process uses the server, so
// this one drops what killed processes left behind and stops it.
func (h *harness) release() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.users == nil {
		return nil
	}
	users := h.users
	h.users = nil
	h.started = false
	h.err = errors.New("the shared PostgreSQL has been released")
	if h.admin != nil {
		h.admin.Close()
		h.admin = nil
	}
	defer users.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	control, err := lockFile(ctx, filepath.Join(h.dir, controlLock), unix.LOCK_EX, controlWait)
	if err != nil {
		return err
	}
	defer control.Close()
	// Converting a shared flock to an exclusive one may drop it first; that
	// is harmless here since the control lock keeps newcomers out.
	if err := unix.Flock(int(users.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil
		}
		return fmt.Errorf("lock %s: %w", usersLock, err)
	}
	// A fresh handle: the server may have been restarted by another process
	// since this one joined.
	server, err := pg.AttachEmbedded(ctx, attachOptions(h.dir), h.log)
	if errors.Is(err, pg.ErrNotRunning) {
		return nil
	}
	if err != nil {
		h.log.Warn("the test PostgreSQL does not answer; stopping it", "err", err)
		server = h.server
	} else {
		h.dropLeftovers(ctx, server)
	}
	if server == nil {
		return err
	}
	return server.Stop(ctx)
}

// dropLeftovers drops clones of test processes that were killed before
// their cleanup ran, and templates of other schema versions. Only safe
// while no other process uses the cluster.
func (h *harness) dropLeftovers(ctx context.Context, server *pg.Embedded) {
	conn, err := pgx.Connect(ctx, server.DSN())
	if err != nil {
		h.log.Warn("cannot clean up the test cluster", "err", err)
		return
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database
		WHERE starts_with(datname, $1) OR (starts_with(datname, $2) AND datname <> $3)`,
		clonePrefix, templatePrefix, h.template)
	if err != nil {
		h.log.Warn("cannot clean up the test cluster", "err", err)
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		h.log.Warn("cannot clean up the test cluster", "err", err)
		return
	}
	for _, name := range names {
		ident := pgx.Identifier{name}.Sanitize()
		_, err := conn.Exec(ctx, "ALTER DATABASE "+ident+" WITH IS_TEMPLATE false")
		if err == nil {
			_, err = conn.Exec(ctx, "DROP DATABASE "+ident+" WITH (FORCE)")
		}
		if err != nil {
			h.log.Warn("cannot drop leftover test database", "name", name, "err", err)
		}
	}
}

// lockFile opens path and flocks it, polling so that the wait is bounded.
func lockFile(ctx context.Context, path string, how int, wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: still held by another test process after %s", path, wait)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// dropDatabase drops a test database. A temporary replication slot (a
// realtime change stream) is dropped by its server process after the
// client disconnects, asynchronously, so a slot still in use is waited for.
func dropDatabase(ctx context.Context, admin *pgxpool.Pool, name string) error {
	for {
		_, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
