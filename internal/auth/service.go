package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fluxbase/fluxbase/internal/config"
	"github.com/fluxbase/fluxbase/internal/identity"
	"github.com/fluxbase/fluxbase/internal/pg"
)

// Service is the auth server. It is safe for concurrent use.
type Service struct {
	db  *pg.DB
	ids *identity.Service
	cfg config.AuthConfig
	// publicURL is where clients reach this server, without a trailing slash.
	publicURL string
	log       *slog.Logger
	crypt     *Crypter
	now       func() time.Time

	// dummyHash is compared against when an account does not exist, so
	// that sign-in takes as long for unknown addresses as for known ones.
	dummyHash string

	// lastUsed throttles last_used_at writes of API keys to one a minute
	// per key and process.
	lastUsedMu sync.Mutex
	lastUsed   map[string]time.Time

	flows flowHooks
}

// New builds the auth server over the database and the identity spine, and
// registers itself with the spine as the resolver of API keys.
func New(ctx context.Context, db *pg.DB, ids *identity.Service, cfg *config.Config, log *slog.Logger) (*Service, error) {
	if db == nil || db.Admin == nil || ids == nil || cfg == nil {
		return nil, errors.New("auth: database, identity service and configuration are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	crypt, err := loadCrypter(ctx, db.Admin, cfg.Auth.EncryptionKey)
	if err != nil {
		return nil, err
	}
	dummy, err := hashPassword(randomToken(16), cfg.Auth.Password.BcryptCost)
	if err != nil {
		return nil, err
	}
	public := strings.TrimRight(cfg.PublicURL, "/")
	if public == "" {
		public = "http://" + cfg.HTTP.Addr
	}
	s := &Service{
		db:        db,
		ids:       ids,
		cfg:       cfg.Auth,
		publicURL: public,
		log:       log.With("component", "auth"),
		crypt:     crypt,
		now:       time.Now,
		dummyHash: dummy,
		lastUsed:  map[string]time.Time{},
	}
	if err := s.initFlows(); err != nil {
		return nil, err
	}
	ids.SetAPIKeyResolver(s)
	return s, nil
}

// SiteURL is auth.site_url, or the public URL when it is not set.
func (s *Service) SiteURL() string {
	if s.cfg.SiteURL != "" {
		return strings.TrimRight(s.cfg.SiteURL, "/")
	}
	return s.publicURL
}

// Run does the periodic housekeeping until ctx is cancelled: expired
// one-time tokens, flow state and rate-limit windows go, and audit entries
// older than auth.audit.retention. Several replicas may run it at once;
// every statement is idempotent.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if err := s.Housekeeping(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("auth housekeeping failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Housekeeping deletes what has expired.
func (s *Service) Housekeeping(ctx context.Context) error {
	window := s.cfg.RateLimit.Window
	stmts := []struct {
		sql  string
		args []any
	}{
		{`delete from auth.one_time_tokens where expires_at < now()`, nil},
		{`delete from auth.flow_state where expires_at < now()`, nil},
		{`delete from auth.rate_limits where window_start < now() - $1::interval`, []any{(2 * maxDuration(window, time.Hour)).String()}},
		{`delete from auth.sessions where not_after is not null and not_after < now()`, nil},
		{`delete from auth.sign_in_failures where last_failure < now() - $1::interval and (locked_until is null or locked_until < now())`,
			[]any{(2 * s.cfg.RateLimit.FailedSignInMaxBackoff).String()}},
	}
	if r := s.cfg.Audit.Retention; r > 0 {
		stmts = append(stmts, struct {
			sql  string
			args []any
		}{`delete from auth.audit_log where created_at < now() - $1::interval`, []any{r.String()}})
	}
	for _, st := range stmts {
		if _, err := s.db.Admin.Exec(ctx, st.sql, st.args...); err != nil {
			return fmt.Errorf("auth housekeeping: %w", err)
		}
	}
	return nil
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// family is a route family: the two render errors differently.
type family int

const (
	familyGoTrue family = iota
	familyNative
)

// handler is an endpoint; the error it returns is rendered by its family.
type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Service) wrap(f family, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			if f == familyGoTrue {
				writeGoTrueError(w, r, err)
			} else {
				writeNativeError(w, r, err)
			}
		}
	}
}
