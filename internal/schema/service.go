package schema

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fluxbase/fluxbase/internal/config"
)

// Channel is the NOTIFY channel the DDL event trigger (migration 0005)
// and `fluxbase schema reload` signal.
const Channel = "fluxbase_schema"

// PostgRESTChannel is PostgREST's channel: NOTIFY pgrst, 'reload schema'
// (or an empty payload) reloads the cache, as it does for PostgREST.
const PostgRESTChannel = "pgrst"

// ListenerApplicationName is the application_name of the LISTEN
// connection, so that operators can tell it apart in pg_stat_activity.
const ListenerApplicationName = "fluxbase schema listener"

// Tuning of the reload loop. Debounce lets a migration's burst of DDL
// commands cause one reload; MaxDelay bounds how long a steady stream of
// DDL can postpone it, so a new table is visible within a second.
const (
	defaultDebounce     = 50 * time.Millisecond
	defaultMaxDelay     = 300 * time.Millisecond
	defaultPollInterval = 2 * time.Second
	maxBackoff          = 5 * time.Second
)

// Service keeps the current Cache and replaces it when the catalog changes.
type Service struct {
	pool    *pgxpool.Pool
	schemas []string
	log     *slog.Logger

	debounce, maxDelay, pollInterval time.Duration

	cur atomic.Pointer[Cache]
	// reloadMu serialises reloads so that snapshots replace each other in
	// the order they were read.
	reloadMu    sync.Mutex
	fingerprint atomic.Pointer[string]

	subMu  sync.Mutex
	subs   map[int]chan struct{}
	nextID int

	warnedPolling atomic.Bool
	// sessions counts LISTEN sessions that reached their wait loop.
	sessions atomic.Int64

	// configRole is the role whose pgrst.* settings each load reads (see
	// ReadRoleConfig); empty reads none.
	configRole string
}

// ReadRoleConfig has every load read PostgREST's in-database configuration
// from role's settings (ALTER ROLE authenticator SET pgrst.db_pre_request =
// ..., global or for this database), as PostgREST does for its
// authenticator: today pgrst.db_pre_request, into Cache.PreRequest. NOTIFY
// pgrst, 'reload config' reloads it. Call it before Load.
func (s *Service) ReadRoleConfig(role string) { s.configRole = role }

// New returns a service for the exposed schemas, reading the catalog
// through admin. Call Load before Current, and Run to follow changes.
// Fluxbase's own schemas and PostgreSQL's are never exposed, even when
// listed (configuration validation rejects them; this is the last line).
func New(admin *pgxpool.Pool, schemas []string, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var exposed []string
	for _, s := range schemas {
		if !slices.Contains(config.ReservedSchemas, s) && !strings.HasPrefix(s, "pg_") && !slices.Contains(exposed, s) {
			exposed = append(exposed, s)
		}
	}
	return &Service{
		pool:         admin,
		schemas:      exposed,
		log:          log,
		debounce:     defaultDebounce,
		maxDelay:     defaultMaxDelay,
		pollInterval: defaultPollInterval,
		subs:         map[int]chan struct{}{},
	}
}

// Load reads the catalog for the first time.
func (s *Service) Load(ctx context.Context) error { return s.reload(ctx, "start") }

// Current returns the current snapshot; nil before the first Load.
func (s *Service) Current() *Cache { return s.cur.Load() }

// Reload reads the catalog now and, once the new snapshot is in place,
// asks every other Fluxbase instance on the database to do the same.
func (s *Service) Reload(ctx context.Context) error {
	if err := s.reload(ctx, "request"); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, "select pg_notify($1, 'reload')", Channel); err != nil {
		return fmt.Errorf("schema cache: notifying other instances: %w", err)
	}
	return nil
}

// Subscribe returns a channel that receives a value after each reload
// (coalesced: a slow reader sees one pending signal), and a function that
// ends the subscription.
func (s *Service) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.subMu.Lock()
	id := s.nextID
	s.nextID++
	s.subs[id] = ch
	s.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.subMu.Lock()
			delete(s.subs, id)
			s.subMu.Unlock()
		})
	}
}

func (s *Service) reload(ctx context.Context, reason string) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	c, fp, err := loadCatalog(ctx, s.pool, s.schemas)
	if err != nil {
		return err
	}
	if s.configRole != "" {
		pre, err := s.preRequestOf(ctx)
		if err != nil {
			return err
		}
		c.PreRequest = pre
	}
	s.cur.Store(c)
	s.fingerprint.Store(&fp)
	// The first load is reported by whoever calls Load; reloads are worth
	// an info line, since they change what the API serves.
	level := slog.LevelInfo
	if reason == "start" {
		level = slog.LevelDebug
	}
	s.log.Log(ctx, level, "schema cache loaded", "reason", reason, "relations", len(c.Tables),
		"functions", len(c.FunctionsByName), "duration_ms", float64(c.LoadDuration.Microseconds())/1000)
	s.subMu.Lock()
	for _, ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	s.subMu.Unlock()
	return nil
}

// Run follows catalog changes until ctx ends: it LISTENs on a dedicated
// connection and reloads (debounced) after each DDL notification, after
// NOTIFY pgrst, 'reload schema', and after reconnecting (notifications
// sent while disconnected are lost, so it compares the catalog's
// fingerprint); NOTIFY pgrst, 'reload config' re-reads only the role's
// configuration (see ReadRoleConfig). Without the event trigger it
// checks the fingerprint periodically instead. It returns nil when ctx
// ends.
func (s *Service) Run(ctx context.Context) error {
	backoff := 250 * time.Millisecond
	for {
		started := time.Now()
		err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > time.Minute {
			backoff = 250 * time.Millisecond
		}
		s.log.Warn("schema cache: lost the notification connection; reconnecting", "error", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// session runs one LISTEN connection until it fails or ctx ends.
func (s *Service) session(ctx context.Context) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = ListenerApplicationName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "listen "+Channel+"; listen "+PostgRESTChannel); err != nil {
		return err
	}
	var triggers bool
	if err := conn.QueryRow(ctx, `select count(*) = 2 from pg_event_trigger
		where evtname in ('fluxbase_schema_ddl', 'fluxbase_schema_drop') and evtenabled <> 'D'`).Scan(&triggers); err != nil {
		return err
	}
	if !triggers && !s.warnedPolling.Swap(true) {
		s.log.Warn("schema cache: the DDL event trigger is not installed (it needs a superuser), so schema changes are detected by checking the catalog every " +
			s.pollInterval.String() + "; run `fluxbase schema reload` or NOTIFY pgrst, 'reload schema' to apply one at once")
	}

	// Changes made before LISTEN took effect (or while disconnected) were
	// not notified.
	if err := s.reloadIfChanged(ctx, conn); err != nil {
		return err
	}

	s.sessions.Add(1)
	var pending bool
	var first, due time.Time
	nextPoll := time.Now().Add(s.pollInterval)
	for {
		var deadline time.Time
		switch {
		case pending:
			deadline = due
		case !triggers:
			deadline = nextPoll
		}
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if !deadline.IsZero() {
			wctx, cancel = context.WithDeadline(ctx, deadline)
		}
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed() {
				return err
			}
			switch {
			case pending:
				pending = false
				if err := s.reload(ctx, "ddl"); err != nil {
					s.log.Error("schema cache: reload failed; keeping the previous snapshot", "error", err)
				}
			case !triggers:
				nextPoll = time.Now().Add(s.pollInterval)
				if err := s.reloadIfChanged(ctx, conn); err != nil {
					return err
				}
			}
			continue
		}
		if n.Channel == PostgRESTChannel && n.Payload == "reload config" {
			if err := s.reloadConfig(ctx); err != nil {
				s.log.Error("schema cache: reading the role's configuration failed; keeping the previous one", "error", err)
			}
			continue
		}
		if n.Channel == PostgRESTChannel && n.Payload != "" && n.Payload != "reload schema" {
			continue
		}
		now := time.Now()
		if !pending {
			pending, first = true, now
		}
		due = now.Add(s.debounce)
		if limit := first.Add(s.maxDelay); limit.Before(due) {
			due = limit
		}
	}
}

// reloadIfChanged reloads when the catalog's fingerprint differs from the
// one the current snapshot was read with.
func (s *Service) reloadIfChanged(ctx context.Context, conn *pgx.Conn) error {
	var fp string
	if err := conn.QueryRow(ctx, fingerprintSQL).Scan(&fp); err != nil {
		return err
	}
	if cur := s.fingerprint.Load(); cur != nil && *cur == fp {
		return nil
	}
	if err := s.reload(ctx, "catalog changed"); err != nil {
		s.log.Error("schema cache: reload failed; keeping the previous snapshot", "error", err)
	}
	return nil
}

// fingerprintSQL summarises the catalogs the cache reads: each row's xmin
// changes when it is written, and counts change when rows go away. In-place
// updates (VACUUM, ANALYZE statistics) change neither, so they do not
// cause reloads.
const fingerprintSQL = `select concat_ws(',',
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_namespace),
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_class),
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_attribute),
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_attrdef),
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_type),
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_enum),
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_index),
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_constraint),
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_rewrite),
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_trigger),
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_proc),
 (select count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) from pg_catalog.pg_description))`
