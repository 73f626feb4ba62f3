package pg

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sys/unix"
)

const (
	// EmbeddedSuperuser is the superuser initdb creates in the embedded
	// cluster. It is "postgres", as on Supabase, and deliberately not
	// "fluxbase": the default search_path "$user", public would otherwise
	// put the superuser's unqualified tables into Fluxbase's private schema.
	EmbeddedSuperuser = "postgres"
	// EmbeddedDatabase is the database Fluxbase uses in the embedded cluster.
	EmbeddedDatabase = "fluxbase"

	// minEmbeddedMajor is the oldest PostgreSQL the embedded launcher runs;
	// the rest of Fluxbase relies on features of 15.
	minEmbeddedMajor = 15

	defaultOSUser   = "postgres"
	fallbackOSUser  = "fluxbase-pg"
	pidFileName     = "postmaster.pid"
	maxSocketPath   = 100
	initDirInfix    = ".init-"
	maxLogBytes     = 64 << 20
	passwordBytes   = 32
	readyPoll       = 25 * time.Millisecond
	fastStopTimeout = 30 * time.Second
	quitStopTimeout = 5 * time.Second
	killStopTimeout = 5 * time.Second
	orphanTimeout   = 10 * time.Second
	minRestartDelay = 250 * time.Millisecond
	maxRestartDelay = 30 * time.Second
	// stableRunTime is how long a restarted server must stay up before a
	// later crash is treated as new rather than as part of a crash loop.
	stableRunTime = time.Minute
)

// ErrNoServerBinaries is matched (errors.Is) when no PostgreSQL server
// binaries can be found.
var ErrNoServerBinaries = errors.New("PostgreSQL server binaries not found: install them " +
	"(Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; macOS: brew install postgresql) " +
	"or set DATABASE_URL to use an external PostgreSQL server")

// ErrNotRunning is returned by AttachEmbedded when no server runs on the
// data directory.
var ErrNotRunning = errors.New("no PostgreSQL server is running on this data directory")

// EmbeddedOptions configures the embedded PostgreSQL server.
type EmbeddedOptions struct {
	// DataDir is the cluster directory. Required.
	DataDir string
	// BinDir holds initdb and postgres; empty means: pg_config --bindir,
	// else the newest /usr/lib/postgresql/*/bin, else PATH.
	BinDir string
	// Port on 127.0.0.1; 0 picks a free port at every start (kept across
	// restarts after a crash, since DSNs have been handed out).
	Port int
	// OSUser runs PostgreSQL when this process is root, because PostgreSQL
	// refuses to run as root. Empty or "postgres" falls back to a dedicated
	// system user "fluxbase-pg" (created on demand) when "postgres" does not
	// exist.
	OSUser string
	// PasswordFile holds the generated superuser password (mode 0600).
	// Default: DataDir + ".password".
	PasswordFile string
	// Settings are extra server settings (postgresql.conf names); they
	// override Fluxbase's defaults except for the listening address, port
	// and socket directory, which the launcher owns.
	Settings map[string]string
	// LogFile receives the server's stdout and stderr (appended).
	// Default: DataDir + ".log".
	LogFile string
	// StartTimeout bounds how long a start waits for the server to accept
	// connections. Default 60s.
	StartTimeout time.Duration
	// Detached starts the server in its own session and does not supervise
	// it: it outlives this process, and any process may later take it over
	// with AttachEmbedded. The test harness shares one server across test
	// processes this way. Fluxbase itself never detaches.
	Detached bool
}

// Embedded is a PostgreSQL server run by this process (or, for a handle
// from AttachEmbedded, by an earlier one).
type Embedded struct {
	log          *slog.Logger
	bin          string
	dataDir      string // absolute, symlinks resolved
	runDir       string
	socketDir    string
	logFile      string
	passwordFile string
	settings     map[string]string
	port         int
	password     string
	as           *osUser
	detached     bool
	startTimeout time.Duration

	// ctx is cancelled by Stop; it bounds the supervisor and its restarts.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the supervisor returns; nil if unsupervised

	mu       sync.Mutex
	stopping bool
	proc     *process // current child, when started (not attached) by this process
	pid      int      // postmaster pid, for a detached or attached server

	stopOnce sync.Once
	stopErr  error
}

// process is one run of the postmaster as a child of this process.
type process struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{} // closed after Wait returned
	err     error         // Wait's result, valid after exited is closed
}

// osUser is the unprivileged account PostgreSQL runs as under root.
type osUser struct {
	name   string
	uid    int
	gid    int
	groups []int
}

// StartEmbedded starts (creating on first use) a PostgreSQL cluster in
// opts.DataDir and returns once it accepts connections and the "fluxbase"
// database exists. The caller must hold the instance lock (LockDir) of the
// data directory: a postmaster found running on DataDir is therefore a
// leftover of a process that was killed, and is shut down first.
//
// Unless opts.Detached, the server is supervised: if it exits without Stop
// having been called it is restarted, with backoff, on the same port.
func StartEmbedded(ctx context.Context, opts EmbeddedOptions, log *slog.Logger) (*Embedded, error) {
	e, err := prepare(opts, log)
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	rotateLog(e.logFile)
	if err := e.recoverLeftover(ctx); err != nil {
		return nil, err
	}
	created, err := e.ensureCluster(ctx)
	if err != nil {
		return nil, err
	}
	if err := e.prepareRunDir(); err != nil {
		return nil, err
	}

	// A port picked here may be taken by someone else before the postmaster
	// binds it; only then is another one worth trying.
	attempts := 1
	if opts.Port == 0 {
		attempts = 3
	}
	var p *process
	for i := 0; ; i++ {
		e.port = opts.Port
		if e.port == 0 {
			if e.port, err = freePort(); err != nil {
				return nil, err
			}
		}
		e.setSocketDir()
		p, err = e.spawn()
		if err != nil {
			return nil, err
		}
		err = e.waitReady(ctx, p, 0)
		if err == nil {
			break
		}
		early := exitedEarly(p)
		_ = e.terminateChild(context.Background(), p)
		if !early || i+1 >= attempts || ctx.Err() != nil {
			return nil, err
		}
		e.log.Warn("embedded PostgreSQL could not start, retrying on another port", "port", e.port, "err", err)
	}
	if err := e.ensureDatabase(ctx); err != nil {
		_ = e.terminateChild(context.Background(), p)
		return nil, err
	}

	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.proc = p
	if opts.Detached {
		e.pid = p.cmd.Process.Pid
	} else {
		e.done = make(chan struct{})
		go e.supervise(p)
		owned.add(e)
	}
	e.log.Info("embedded PostgreSQL ready",
		"data_dir", e.dataDir, "port", e.port, "pid", p.cmd.Process.Pid,
		"initdb", created, "duration_ms", time.Since(begin).Milliseconds(), "log_file", e.logFile)
	return e, nil
}

// AttachEmbedded returns a handle on a server that another StartEmbedded,
// usually in another process, runs on opts.DataDir, once it accepts
// connections: a detached one, or the one of a running Fluxbase whose
// database a command wants to use. It fails with ErrNotRunning when there
// is none. The handle does not supervise the server; its Stop shuts the
// server down, so only call it on a server nobody else owns.
func AttachEmbedded(ctx context.Context, opts EmbeddedOptions, log *slog.Logger) (*Embedded, error) {
	e, err := prepare(opts, log)
	if err != nil {
		return nil, err
	}
	pf, err := readPIDFile(e.dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotRunning
	}
	if err != nil {
		return nil, err
	}
	if !isPostmasterOf(pf.pid, e.dataDir) {
		return nil, ErrNotRunning
	}
	if pf.status == "stopping" {
		return nil, fmt.Errorf("embedded PostgreSQL (pid %d) is shutting down", pf.pid)
	}
	if pf.port == 0 {
		return nil, fmt.Errorf("embedded PostgreSQL (pid %d) has not recorded its port yet", pf.pid)
	}
	pw, err := os.ReadFile(e.passwordFile)
	if err != nil {
		return nil, fmt.Errorf("read superuser password: %w", err)
	}
	e.password = strings.TrimSpace(string(pw))
	e.port = pf.port
	e.pid = pf.pid
	e.detached = true
	if err := e.waitReady(ctx, nil, pf.pid); err != nil {
		return nil, err
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

// DSN is the superuser connection string for the "fluxbase" database over
// TCP loopback.
func (e *Embedded) DSN() string { return e.DatabaseDSN(EmbeddedDatabase) }

// DatabaseDSN is the superuser connection string for database name.
func (e *Embedded) DatabaseDSN(name string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(EmbeddedSuperuser, e.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(e.port)),
		Path:     "/" + name,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port is the TCP port the server listens on at 127.0.0.1.
func (e *Embedded) Port() int { return e.port }

// DataDir is the absolute path of the cluster directory.
func (e *Embedded) DataDir() string { return e.dataDir }

// LogFile is where the server's output goes.
func (e *Embedded) LogFile() string { return e.logFile }

// PID is the process id of the current postmaster.
func (e *Embedded) PID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.proc != nil && !e.detached {
		return e.proc.cmd.Process.Pid
	}
	return e.pid
}

// Stop shuts the server down: a fast shutdown (SIGINT), escalated to an
// immediate shutdown (SIGQUIT) and then SIGKILL when it takes too long or
// ctx ends. When Stop returns no process of the cluster is left. Calling it
// again returns the first result.
func (e *Embedded) Stop(ctx context.Context) error {
	e.stopOnce.Do(func() { e.stopErr = e.stop(ctx) })
	return e.stopErr
}

func (e *Embedded) stop(ctx context.Context) error {
	defer owned.remove(e)
	e.mu.Lock()
	e.stopping = true
	p, pid := e.proc, e.pid
	e.mu.Unlock()
	e.cancel()
	if e.done != nil {
		// The supervisor may be between a crash and a restart; after it
		// returns no new child can appear.
		<-e.done
		e.mu.Lock()
		p = e.proc
		e.mu.Unlock()
	}

	var err error
	switch {
	case p != nil && !e.detached:
		err = e.terminateChild(ctx, p)
	case pid > 0:
		err = terminate(ctx, func(sig unix.Signal) error { return unix.Kill(pid, sig) },
			func(ctx context.Context) bool { return waitPIDExit(ctx, pid) })
	}
	if gerr := e.waitOrphans(ctx); gerr != nil && err == nil {
		err = gerr
	}
	if err == nil {
		// A server that crashed just before Stop leaves its pid file.
		if pf, perr := readPIDFile(e.dataDir); perr == nil && !isPostmasterOf(pf.pid, e.dataDir) {
			_ = os.Remove(filepath.Join(e.dataDir, pidFileName))
		}
		e.log.Info("embedded PostgreSQL stopped", "data_dir", e.dataDir)
	}
	return err
}

// owned are the supervised servers this process started and has not
// stopped, for StopOwnedNow.
var owned ownedServers

type ownedServers struct {
	mu      sync.Mutex
	servers map[*Embedded]struct{}
}

func (o *ownedServers) add(e *Embedded) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.servers == nil {
		o.servers = map[*Embedded]struct{}{}
	}
	o.servers[e] = struct{}{}
}

func (o *ownedServers) remove(e *Embedded) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.servers, e)
}

// StopOwnedNow ends every embedded server this process started and has
// not stopped, at once: an immediate shutdown (SIGQUIT; PostgreSQL then
// recovers from its WAL at the next start, as after a power cut, and no
// committed transaction is lost), then SIGKILL for one that still runs
// after timeout. It is for a process about to exit without its clean
// shutdown (a second signal), so that no postmaster outlives it.
func StopOwnedNow(timeout time.Duration) {
	owned.mu.Lock()
	servers := make([]*Embedded, 0, len(owned.servers))
	for e := range owned.servers {
		servers = append(servers, e)
	}
	owned.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range servers {
		wg.Go(func() { e.stopNow(timeout) })
	}
	wg.Wait()
}

// stopNow is StopOwnedNow for e. Marked as stopping first, e's supervisor
// starts no new postmaster, so the one signalled is the last.
func (e *Embedded) stopNow(timeout time.Duration) {
	e.mu.Lock()
	e.stopping = true
	p := e.proc
	e.mu.Unlock()
	e.cancel()
	if p != nil {
		_ = escalate(context.Background(), []stopStep{{unix.SIGQUIT, timeout}, {unix.SIGKILL, killStopTimeout}}, p.signal, p.waitExit)
	}
}

// prepare validates the options and resolves everything a start needs
// without touching the cluster.
func prepare(opts EmbeddedOptions, log *slog.Logger) (*Embedded, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.DataDir == "" {
		return nil, errors.New("embedded PostgreSQL: no data directory given")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	bin, err := findBinDir(opts.BinDir, binSearch{})
	if err != nil {
		return nil, err
	}
	e := &Embedded{
		log:          log.With("component", "embedded-postgres"),
		bin:          bin,
		dataDir:      dataDir,
		passwordFile: opts.PasswordFile,
		logFile:      opts.LogFile,
		settings:     opts.Settings,
		detached:     opts.Detached,
		startTimeout: opts.StartTimeout,
	}
	if e.passwordFile == "" {
		e.passwordFile = dataDir + ".password"
	}
	if e.logFile == "" {
		e.logFile = dataDir + ".log"
	}
	if e.startTimeout <= 0 {
		e.startTimeout = 60 * time.Second
	}
	parent := filepath.Dir(dataDir)
	e.runDir = filepath.Join(parent, "run")

	if os.Geteuid() == 0 {
		if e.as, err = resolveOSUser(opts.OSUser, e.log); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create directory for the embedded PostgreSQL cluster: %w", err)
	}
	if e.as != nil {
		if err := checkTraversable(parent, e.as); err != nil {
			return nil, err
		}
	}
	// Resolve symlinks so that the cluster's processes, whose working
	// directory is the real path, can be recognised in /proc.
	if real, err := filepath.EvalSymlinks(parent); err == nil {
		e.dataDir = filepath.Join(real, filepath.Base(dataDir))
	}
	if fi, err := os.Lstat(e.dataDir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if real, err := filepath.EvalSymlinks(e.dataDir); err == nil {
			e.dataDir = real
		}
	}
	if err := os.MkdirAll(filepath.Dir(e.logFile), 0o755); err != nil {
		return nil, fmt.Errorf("create directory for the PostgreSQL log: %w", err)
	}
	return e, nil
}

// binSearch holds the places binaries are looked for; zero values mean the
// system's.
type binSearch struct {
	pgConfig string   // pg_config executable ("" = from PATH)
	globs    []string // versioned install directories
	path     string   // PATH to search ("" = the environment's)
	noPath   bool
}

func findBinDir(explicit string, s binSearch) (string, error) {
	if explicit != "" {
		if hasServerBinaries(explicit) {
			return explicit, nil
		}
		return "", fmt.Errorf("embedded PostgreSQL: bin_dir %s does not contain initdb and postgres: %w", explicit, ErrNoServerBinaries)
	}
	pgConfig := s.pgConfig
	if pgConfig == "" {
		pgConfig, _ = exec.LookPath("pg_config")
	}
	if pgConfig != "" {
		// pg_config may come from a client-only package whose bindir has no
		// server, so its answer is only a candidate.
		if out, err := exec.Command(pgConfig, "--bindir").Output(); err == nil {
			if dir := strings.TrimSpace(string(out)); hasServerBinaries(dir) {
				return dir, nil
			}
		}
	}
	globs := s.globs
	if globs == nil {
		globs = []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin"}
	}
	for _, g := range globs {
		matches, _ := filepath.Glob(g)
		sort.Slice(matches, func(i, j int) bool { return versionLess(matches[j], matches[i]) })
		for _, m := range matches {
			if hasServerBinaries(m) {
				return m, nil
			}
		}
	}
	if !s.noPath {
		path := s.path
		if path == "" {
			path = os.Getenv("PATH")
		}
		for _, dir := range filepath.SplitList(path) {
			if dir != "" && hasServerBinaries(dir) {
				return dir, nil
			}
		}
	}
	return "", ErrNoServerBinaries
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"postgres", "initdb"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// versionLess orders paths by the numbers in them, so that .../9.6/bin
// sorts before .../15/bin.
func versionLess(a, b string) bool {
	na, nb := numbersIn(a), numbersIn(b)
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			return na[i] < nb[i]
		}
	}
	if len(na) != len(nb) {
		return len(na) < len(nb)
	}
	return a < b
}

func numbersIn(s string) []int {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

// serverMajor runs postgres -V; it answers before PostgreSQL's root check.
func serverMajor(bin string) (int, string, error) {
	out, err := exec.Command(filepath.Join(bin, "postgres"), "-V").Output()
	if err != nil {
		return 0, "", fmt.Errorf("run %s -V: %w", filepath.Join(bin, "postgres"), err)
	}
	s := strings.TrimSpace(string(out))
	i := strings.Index(s, ")")
	if i < 0 {
		return 0, s, fmt.Errorf("unexpected output of postgres -V: %q", s)
	}
	v := strings.TrimSpace(s[i+1:])
	if j := strings.IndexAny(v, ". "); j >= 0 {
		v = v[:j]
	}
	major, err := strconv.Atoi(strings.TrimRightFunc(v, func(r rune) bool { return r < '0' || r > '9' }))
	if err != nil {
		return 0, s, fmt.Errorf("unexpected output of postgres -V: %q", s)
	}
	return major, s, nil
}

func resolveOSUser(name string, log *slog.Logger) (*osUser, error) {
	requested := name
	if requested == "" {
		requested = defaultOSUser
	}
	u, err := lookupOSUser(requested)
	if err == nil {
		return u, nil
	}
	var unknown user.UnknownUserError
	if !errors.As(err, &unknown) {
		return nil, fmt.Errorf("look up OS user %q for PostgreSQL: %w", requested, err)
	}
	if requested != defaultOSUser {
		return nil, fmt.Errorf("embedded PostgreSQL: OS user %q does not exist; create it or set database.embedded.os_user to an existing unprivileged user", requested)
	}
	if u, err := lookupOSUser(fallbackOSUser); err == nil {
		log.Info("OS user postgres does not exist; running PostgreSQL as " + fallbackOSUser)
		return u, nil
	}
	log.Warn("OS user postgres does not exist; creating system user "+fallbackOSUser+" to run PostgreSQL, which refuses to run as root", "user", fallbackOSUser)
	out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", fallbackOSUser).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL cannot run as root and OS user postgres does not exist; creating system user %s failed (%v: %s): create an unprivileged user and set database.embedded.os_user, or run Fluxbase as a non-root user",
			fallbackOSUser, err, strings.TrimSpace(string(out)))
	}
	return lookupOSUser(fallbackOSUser)
}

func lookupOSUser(name string) (*osUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("OS user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("OS user %s: gid %q: %w", name, u.Gid, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("OS user %s is root; PostgreSQL needs an unprivileged user", name)
	}
	ou := &osUser{name: name, uid: uid, gid: gid, groups: []int{gid}}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.Atoi(s); err == nil && !slices.Contains(ou.groups, g) {
				ou.groups = append(ou.groups, g)
			}
		}
	}
	return ou, nil
}

func (u *osUser) credential() *syscall.Credential {
	groups := make([]uint32, len(u.groups))
	for i, g := range u.groups {
		groups[i] = uint32(g)
	}
	return &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: groups}
}

// checkTraversable fails with an actionable message when the OS user cannot
// reach dir; otherwise initdb would fail later with an obscure error.
func checkTraversable(dir string, u *osUser) error {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil {
			st, ok := fi.Sys().(*syscall.Stat_t)
			if ok && !canSearch(fi.Mode().Perm(), int(st.Uid), int(st.Gid), u) {
				return fmt.Errorf("embedded PostgreSQL runs as OS user %s (PostgreSQL refuses to run as root), which cannot enter directory %s (mode %04o, owner uid %d): "+
					"choose a data directory elsewhere (for example under /var/lib/fluxbase) or make it searchable with: chmod o+x %s",
					u.name, p, fi.Mode().Perm(), st.Uid, p)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("inspect %s: %w", p, err)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func canSearch(mode fs.FileMode, uid, gid int, u *osUser) bool {
	switch {
	case uid == u.uid:
		return mode&0o100 != 0
	case slices.Contains(u.groups, gid):
		return mode&0o010 != 0
	default:
		return mode&0o001 != 0
	}
}

func (e *Embedded) chown(path string) error {
	if e.as == nil {
		return nil
	}
	return os.Lchown(path, e.as.uid, e.as.gid)
}

// chownTree gives the cluster to the OS user when it belongs to someone
// else, as after a change of os_user: PostgreSQL refuses a data directory
// it does not own.
func (e *Embedded) chownTree(dir string) error {
	if e.as == nil {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == e.as.uid {
		return nil
	}
	e.log.Info("giving the PostgreSQL cluster to its OS user", "user", e.as.name, "data_dir", dir)
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, e.as.uid, e.as.gid)
	})
}

// recoverLeftover clears what a killed predecessor left: a postmaster that
// still runs (shut down), backends orphaned by a killed postmaster (they
// keep its shared memory and block a new postmaster) and a postmaster.pid
// whose pid now belongs to an unrelated process (PostgreSQL would refuse
// to start over it).
func (e *Embedded) recoverLeftover(ctx context.Context) error {
	pf, err := readPIDFile(e.dataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		e.log.Warn("unreadable postmaster.pid; removing it", "err", err)
		_ = os.Remove(filepath.Join(e.dataDir, pidFileName))
	case isPostmasterOf(pf.pid, e.dataDir):
		e.log.Warn("a PostgreSQL server left by a previous run is still running on the data directory; shutting it down", "pid", pf.pid)
		err := terminate(ctx, func(sig unix.Signal) error { return unix.Kill(pf.pid, sig) },
			func(ctx context.Context) bool { return waitPIDExit(ctx, pf.pid) })
		if err != nil {
			return fmt.Errorf("stop leftover PostgreSQL (pid %d): %w", pf.pid, err)
		}
	default:
		e.log.Info("removing stale postmaster.pid of a server that no longer runs", "pid", pf.pid)
		if err := os.Remove(filepath.Join(e.dataDir, pidFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale postmaster.pid: %w", err)
		}
	}
	return e.waitOrphans(ctx)
}

// waitOrphans waits for every remaining process of the cluster to exit,
// killing them once orphanTimeout has passed.
func (e *Embedded) waitOrphans(ctx context.Context) error {
	deadline := time.Now().Add(orphanTimeout)
	killed := false
	for {
		pids := clusterProcesses(e.dataDir)
		if len(pids) == 0 {
			return nil
		}
		if !killed && (time.Now().After(deadline) || ctx.Err() != nil) {
			e.log.Warn("killing PostgreSQL processes that outlived their postmaster", "pids", pids)
			for _, pid := range pids {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
			killed = true
			deadline = time.Now().Add(killStopTimeout)
		} else if killed && time.Now().After(deadline) {
			return fmt.Errorf("PostgreSQL processes %v of %s do not exit", pids, e.dataDir)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// interruptedRemoveTimeout bounds how long removeInterrupted keeps trying.
const interruptedRemoveTimeout = 10 * time.Second

// removeInterrupted removes the directory of an initdb that a killed
// Fluxbase left behind. The PostgreSQL process that initdb was feeding may
// still be writing into it for a moment after initdb died (it stops at the
// end of its input), so a removal that finds the directory refilled is
// tried again.
func removeInterrupted(ctx context.Context, dir string) error {
	deadline := time.Now().Add(interruptedRemoveTimeout)
	for {
		err := os.RemoveAll(dir)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ensureCluster creates the cluster on first use and checks an existing
// one; it reports whether initdb ran.
func (e *Embedded) ensureCluster(ctx context.Context) (bool, error) {
	major, version, err := serverMajor(e.bin)
	if err != nil {
		return false, err
	}
	if major < minEmbeddedMajor {
		return false, fmt.Errorf("embedded PostgreSQL: %s in %s is too old; Fluxbase needs PostgreSQL %d or later (set database.embedded.bin_dir or install a newer version)",
			version, e.bin, minEmbeddedMajor)
	}
	parent, base := filepath.Split(e.dataDir)
	stale, _ := filepath.Glob(filepath.Join(parent, "."+base+initDirInfix+"*"))
	for _, d := range stale {
		e.log.Info("removing an interrupted initdb", "dir", d)
		if err := removeInterrupted(ctx, d); err != nil {
			return false, fmt.Errorf("remove interrupted initdb %s: %w", d, err)
		}
	}

	v, err := os.ReadFile(filepath.Join(e.dataDir, "PG_VERSION"))
	if err == nil {
		clusterMajor, _ := strconv.Atoi(strings.TrimSpace(string(v)))
		if clusterMajor != major {
			return false, fmt.Errorf("embedded PostgreSQL: the cluster in %s was created by PostgreSQL %s but the binaries in %s are %s; point database.embedded.bin_dir at PostgreSQL %s binaries or upgrade the cluster with pg_upgrade",
				e.dataDir, strings.TrimSpace(string(v)), e.bin, version, strings.TrimSpace(string(v)))
		}
		if fi, err := os.Stat(e.passwordFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			e.log.Warn("superuser password file was readable by others; restricting it to its owner", "file", e.passwordFile)
			_ = os.Chmod(e.passwordFile, 0o600)
		}
		pw, err := os.ReadFile(e.passwordFile)
		if errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("embedded PostgreSQL: the cluster in %s exists but its superuser password file %s is missing; restore the file, or remove the cluster directory to create a new, empty one", e.dataDir, e.passwordFile)
		}
		if err != nil {
			return false, fmt.Errorf("read superuser password: %w", err)
		}
		e.password = strings.TrimSpace(string(pw))
		if e.password == "" {
			return false, fmt.Errorf("embedded PostgreSQL: superuser password file %s is empty", e.passwordFile)
		}
		return false, e.chownTree(e.dataDir)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("inspect cluster: %w", err)
	}
	if entries, err := os.ReadDir(e.dataDir); err == nil && len(entries) > 0 {
		return false, fmt.Errorf("embedded PostgreSQL: %s is not empty and is not a PostgreSQL cluster; choose another data directory or empty it", e.dataDir)
	}
	return true, e.initCluster(ctx, major)
}

// initCluster runs initdb in a temporary sibling directory and renames the
// result into place, so that an interrupted initdb never leaves a partial
// cluster where later starts look.
func (e *Embedded) initCluster(ctx context.Context, major int) error {
	begin := time.Now()
	pw := make([]byte, passwordBytes)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	e.password = base64.RawURLEncoding.EncodeToString(pw)
	if err := writeFileAtomic(e.passwordFile, []byte(e.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write superuser password file: %w", err)
	}

	parent, base := filepath.Split(e.dataDir)
	work, err := os.MkdirTemp(parent, "."+base+initDirInfix)
	if err != nil {
		return fmt.Errorf("create initdb directory: %w", err)
	}
	defer os.RemoveAll(work)
	if err := e.chown(work); err != nil {
		return err
	}
	target := filepath.Join(work, "data")
	if err := os.Mkdir(target, 0o700); err != nil {
		return err
	}
	if err := e.chown(target); err != nil {
		return err
	}
	// initdb runs as the OS user, who cannot read the root-owned password
	// file: it gets its own copy, removed with work.
	pwfile := filepath.Join(work, "pwfile")
	if err := os.WriteFile(pwfile, []byte(e.password+"\n"), 0o600); err != nil {
		return err
	}
	if err := e.chown(pwfile); err != nil {
		return err
	}

	args := []string{
		"-D", target,
		"-U", EmbeddedSuperuser,
		"--pwfile=" + pwfile,
		"--auth=scram-sha-256",
		"-E", "UTF8",
		"--locale=C",
	}
	if off(e.settings["fsync"]) {
		// Whoever turned fsync off has chosen speed over durability (tests).
		args = append(args, "--no-sync")
	}
	lf, err := openLog(e.logFile)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "initdb"), args...)
	cmd.Dir = "/"
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if e.as != nil {
		cmd.SysProcAttr.Credential = e.as.credential()
	}
	// initdb runs in a process group of its own, so a kill -9 of Fluxbase
	// would leave it writing into work while the next start removes it.
	// It dies with the thread that starts it, which stays locked to this
	// goroutine until initdb has exited.
	dieWithParent(cmd.SysProcAttr)
	e.log.Info("creating the embedded PostgreSQL cluster (initdb)", "data_dir", e.dataDir, "bin_dir", e.bin, "os_user", e.osUserName())
	runtime.LockOSThread()
	err = cmd.Run()
	runtime.UnlockOSThread()
	_ = lf.Close()
	if err != nil {
		return fmt.Errorf("initdb failed (%v); %s ends with:\n%s", err, e.logFile, logTail(e.logFile))
	}
	hba := filepath.Join(target, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte(pgHBA), 0o600); err != nil {
		return err
	}
	if err := e.chown(hba); err != nil {
		return err
	}
	if err := os.Rename(target, e.dataDir); err != nil {
		return fmt.Errorf("move the new cluster into %s: %w", e.dataDir, err)
	}
	syncDir(parent)
	e.log.Info("embedded PostgreSQL cluster created", "major", major, "duration_ms", time.Since(begin).Milliseconds())
	return nil
}

// pgHBA admits password (SCRAM) logins only, from loopback and the private
// socket directory; replication entries serve logical decoding.
const pgHBA = `# Written by Fluxbase. Only SCRAM password logins over loopback or the
# private socket directory are accepted.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 scram-sha-256
host    all          all   127.0.0.1/32  scram-sha-256
host    all          all   ::1/128       scram-sha-256
local   replication  all                 scram-sha-256
host    replication  all   127.0.0.1/32  scram-sha-256
host    replication  all   ::1/128       scram-sha-256
`

func (e *Embedded) osUserName() string {
	if e.as == nil {
		return ""
	}
	return e.as.name
}

func (e *Embedded) prepareRunDir() error {
	if err := os.MkdirAll(e.runDir, 0o700); err != nil {
		return fmt.Errorf("create PostgreSQL socket directory: %w", err)
	}
	return e.chown(e.runDir)
}

// setSocketDir enables the Unix socket only when its path fits in
// sun_path; TCP loopback always works.
func (e *Embedded) setSocketDir() {
	e.socketDir = ""
	if len(e.runDir)+len("/.s.PGSQL.")+len(strconv.Itoa(e.port)) <= maxSocketPath {
		e.socketDir = e.runDir
	}
}

// serverSettings are passed as -c flags at every start, so a changed port
// or setting never needs postgresql.conf rewritten.
func (e *Embedded) serverSettings() map[string]string {
	s := map[string]string{
		"wal_level":             "logical",
		"max_replication_slots": "20",
		"max_wal_senders":       "20",
		// A replication slot that falls this far behind (a stalled
		// realtime stream) is invalidated rather than filling the disk.
		"max_slot_wal_keep_size": "1GB",
		"max_connections":        "200",
		"shared_buffers":         "128MB",
	}
	for k, v := range e.settings {
		s[k] = v
	}
	s["listen_addresses"] = "127.0.0.1"
	s["port"] = strconv.Itoa(e.port)
	s["unix_socket_directories"] = e.socketDir
	return s
}

func (e *Embedded) spawn() (*process, error) {
	settings := e.serverSettings()
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"-D", e.dataDir}
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	lf, err := openLog(e.logFile)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(filepath.Join(e.bin, "postgres"), args...)
	cmd.Dir = "/"
	cmd.Env = childEnv()
	// The child writes straight into the file, so its output needs no
	// goroutine here and survives this process when detached.
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if e.detached {
		cmd.SysProcAttr.Setsid = true
	} else {
		// Its own process group keeps a terminal's Ctrl-C away from it:
		// Fluxbase shuts it down after draining its own work.
		cmd.SysProcAttr.Setpgid = true
	}
	if e.as != nil {
		cmd.SysProcAttr.Credential = e.as.credential()
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p := &process{cmd: cmd, started: time.Now(), exited: make(chan struct{})}
	// Reaps the child; it ends when the child does.
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls until the server accepts a login. p (a child) or pid (an
// attached server) lets it give up as soon as the server has exited.
func (e *Embedded) waitReady(ctx context.Context, p *process, pid int) error {
	ctx, cancel := context.WithTimeout(ctx, e.startTimeout)
	defer cancel()
	dsn := e.DatabaseDSN("postgres")
	var lastErr error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, dsn)
		ccancel()
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		lastErr = err
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
			return fmt.Errorf("embedded PostgreSQL rejects the superuser password in %s (%s); restore the password file that belongs to this cluster", e.passwordFile, pgErr.Message)
		}
		if p != nil {
			select {
			case <-p.exited:
				return fmt.Errorf("embedded PostgreSQL exited during start-up (%v); %s ends with:\n%s", p.err, e.logFile, logTail(e.logFile))
			default:
			}
		} else if !processAlive(pid) {
			return ErrNotRunning
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded PostgreSQL did not accept connections within %s (last error: %v); %s ends with:\n%s",
				e.startTimeout, lastErr, e.logFile, logTail(e.logFile))
		case <-time.After(readyPoll):
		}
	}
}

func exitedEarly(p *process) bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

func (e *Embedded) ensureDatabase(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, e.DatabaseDSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect to embedded PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(cctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", EmbeddedDatabase).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", EmbeddedDatabase, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{EmbeddedDatabase}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", EmbeddedDatabase, err)
	}
	return nil
}

// supervise restarts the server whenever it exits without Stop, so that
// Fluxbase survives a PostgreSQL crash; the pools reconnect by themselves.
func (e *Embedded) supervise(p *process) {
	defer close(e.done)
	delay := minRestartDelay
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-p.exited:
		}
		if e.ctx.Err() != nil {
			return
		}
		if time.Since(p.started) > stableRunTime {
			delay = minRestartDelay
		}
		e.log.Error("embedded PostgreSQL exited unexpectedly; restarting it",
			"pid", p.cmd.Process.Pid, "err", p.err, "restart_in", delay, "log_file", e.logFile)
		for {
			select {
			case <-e.ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, maxRestartDelay)
			np, err := e.restart()
			if err == nil {
				p = np
				e.log.Info("embedded PostgreSQL restarted", "pid", np.cmd.Process.Pid, "port", e.port)
				break
			}
			if e.ctx.Err() != nil {
				return
			}
			e.log.Error("embedded PostgreSQL restart failed", "err", err, "retry_in", delay)
		}
	}
}

func (e *Embedded) restart() (*process, error) {
	// A postmaster that was killed leaves backends that still hold its
	// shared memory; a new postmaster refuses to start until they are gone.
	if err := e.waitOrphans(e.ctx); err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		return nil, context.Canceled
	}
	np, err := e.spawn()
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	e.proc = np
	e.mu.Unlock()
	if err := e.waitReady(e.ctx, np, 0); err != nil {
		_ = e.terminateChild(context.Background(), np)
		return nil, err
	}
	return np, nil
}

func (e *Embedded) terminateChild(ctx context.Context, p *process) error {
	return terminate(ctx, p.signal, p.waitExit)
}

func (p *process) signal(sig unix.Signal) error { return p.cmd.Process.Signal(sig) }

// waitExit reports whether p exited before ctx ended.
func (p *process) waitExit(ctx context.Context) bool {
	select {
	case <-p.exited:
		return true
	case <-ctx.Done():
		return false
	}
}

// stopStep is one signal of a shutdown and how long it is given.
type stopStep struct {
	sig  unix.Signal
	wait time.Duration
}

// terminate escalates from a fast shutdown (SIGINT: abort transactions,
// checkpoint) to an immediate one (SIGQUIT: crash recovery at next start)
// to SIGKILL. An ended ctx skips the waiting, not the final kill.
func terminate(ctx context.Context, signal func(unix.Signal) error, exited func(context.Context) bool) error {
	return escalate(ctx, []stopStep{{unix.SIGINT, fastStopTimeout}, {unix.SIGQUIT, quitStopTimeout}, {unix.SIGKILL, killStopTimeout}}, signal, exited)
}

// escalate sends each step's signal in turn until the process exits.
func escalate(ctx context.Context, steps []stopStep, signal func(unix.Signal) error, exited func(context.Context) bool) error {
	for _, s := range steps {
		if err := signal(s.sig); err != nil {
			if errors.Is(err, unix.ESRCH) || errors.Is(err, os.ErrProcessDone) {
				return nil
			}
			return fmt.Errorf("signal postgres: %w", err)
		}
		parent := ctx
		if s.sig == unix.SIGKILL {
			parent = context.Background()
		}
		sctx, cancel := context.WithTimeout(parent, s.wait)
		ok := exited(sctx)
		cancel()
		if ok {
			return nil
		}
	}
	return errors.New("postgres did not exit after SIGKILL")
}

func waitPIDExit(ctx context.Context, pid int) bool {
	for {
		if !processAlive(pid) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// processAlive reports whether pid runs; a zombie (exited, not yet reaped
// by its parent) does not count.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}

// isPostmasterOf reports whether pid is a PostgreSQL server process whose
// working directory is dataDir: every process of a cluster runs there, and
// no other PostgreSQL does, so a reused pid is never mistaken for one.
func isPostmasterOf(pid int, dataDir string) bool {
	return processAlive(pid) && isClusterProcess(pid, dataDir)
}

func isClusterProcess(pid int, dataDir string) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	cwd, err := os.Readlink(dir + "/cwd")
	if err != nil || cwd != dataDir {
		return false
	}
	exe, err := os.Readlink(dir + "/exe")
	if err != nil {
		return false
	}
	base := filepath.Base(strings.TrimSuffix(exe, " (deleted)"))
	return base == "postgres" || base == "postmaster"
}

// clusterProcesses lists the live processes of the cluster in dataDir.
func clusterProcesses(dataDir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	for _, de := range entries {
		pid, err := strconv.Atoi(de.Name())
		if err != nil || pid == self {
			continue
		}
		if isClusterProcess(pid, dataDir) && processAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

type pidFile struct {
	pid     int
	dataDir string
	port    int
	status  string
}

// readPIDFile parses postmaster.pid: pid, data directory, start time, port,
// socket directory, listen address, shared memory key, status.
func readPIDFile(dataDir string) (*pidFile, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, pidFileName))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	pf := &pidFile{}
	if pf.pid, err = strconv.Atoi(strings.TrimSpace(lines[0])); err != nil {
		return nil, fmt.Errorf("postmaster.pid: bad pid %q", lines[0])
	}
	if len(lines) > 1 {
		pf.dataDir = strings.TrimSpace(lines[1])
	}
	if len(lines) > 3 {
		pf.port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	}
	if len(lines) > 7 {
		pf.status = strings.TrimSpace(lines[7])
	}
	return pf, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port for PostgreSQL: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// childEnv keeps the environment minus libpq's PG* variables, which would
// redirect initdb or postgres, and pins the C locale.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL log: %w", err)
	}
	return f, nil
}

// rotateLog keeps the server log from growing without bound across
// starts: past maxLogBytes it becomes <log>.1, replacing the previous one.
func rotateLog(path string) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogBytes {
		_ = os.Rename(path, path+".1")
	}
}

// logTail returns the last lines of the PostgreSQL log for error messages.
func logTail(path string) string {
	const maxBytes, maxLines = 8192, 20
	f, err := os.Open(path)
	if err != nil {
		return "(log unavailable: " + err.Error() + ")"
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxBytes {
		_, _ = f.Seek(fi.Size()-maxBytes, io.SeekStart)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}

func off(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "off", "false", "no", "0":
		return true
	}
	return false
}

func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
